"""Issuing: the one call the bench makes at the end of a run, per meter and per run.

:func:`issue_certificate` renders the certificate, converts it to PDF/A-2b, signs it (PAdES, incremental
update) when given a signer, and writes the DCC XML beside it with the final PDF embedded. Files are named
``<certificate_number>.pdf`` / ``.xml``. Each file appears only when complete (written to a temporary
name in the same folder and renamed), an existing certificate is never overwritten, and a failure leaves
nothing half-written behind. Every DCC is validated against the DCC 3.3.0 schema before it is written; one
that fails is not issued (nor is its PDF) and the error says why.

:func:`issue_batch` issues many certificates with one signer (its key parsed once) on all cores, with a
progress bar, and falls back to this process where a process pool cannot be had.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from procedures.errors import InputError
from reports.certificate import render_batch_summary, render_certificate
from reports.dcc import build_dcc, dcc_data_hash, with_document
from reports.dccschema import check_dcc
from reports.model import BatchSummary, CertificateData, Laboratory, content_hash
from reports.pdfa import tag_plain, to_pdfa
from reports.signing import sign_pdf


@dataclass(frozen=True)
class IssuedCertificate:
    """What was written, and the hash that ties it to the database record."""

    pdf_path: Path
    dcc_path: Path | None
    content_hash: str
    certificate_number: str
    pdfa: bool
    signed: bool


def _tmp(out_dir: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=".issuing-", suffix=suffix, dir=out_dir)
    os.close(fd)
    # mkstemp makes 0600; a certificate is a public document, so give it the usual umask permissions
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def _write_pdf(
    plain: bytes,
    final: Path,
    *,
    pdfa: bool,
    signer,
    title: str,
    number: str,
    sha: str,
    author: str,
    subject: str,
    location: str,
    audit_head: str | None = None,
    dcc_sha256: str | None = None,
    check_pdfa: bool = False,
) -> None:
    out_dir = final.parent
    temps: list[Path] = []
    try:
        stage = _tmp(out_dir, ".pdf")
        temps.append(stage)
        if pdfa:
            to_pdfa(plain, stage, title=title, number=number, sha256=sha, author=author, subject=subject,
                    audit_head=audit_head, dcc_sha256=dcc_sha256, check=check_pdfa)  # fmt: skip
        else:
            stage.write_bytes(tag_plain(plain, title=title, number=number, sha256=sha, author=author,
                                        subject=subject, audit_head=audit_head, dcc_sha256=dcc_sha256))  # fmt: skip
        if signer is not None:
            signed = _tmp(out_dir, ".pdf")
            temps.append(signed)
            sign_pdf(stage, signed, signer, reason=f"Issue of certificate {number}", location=location)
            stage = signed
        if final.exists():  # checked again: another bench may have issued meanwhile
            raise InputError(
                "certificate_number",
                "a certificate with this number already exists",
                found=str(final),
                allowed="a new, unique certificate number",
            )
        os.replace(stage, final)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)


def _write_atomic(data: bytes, final: Path) -> None:
    tmp = _tmp(final.parent, final.suffix)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def issue_certificate(
    data: CertificateData,
    out_dir: str | Path,
    *,
    signer=None,
    lab: Laboratory | None = None,
    pdfa: bool = True,
    dcc: bool = True,
    page_size: str = "letter",
    embed_pdf_in_dcc: bool = True,
    audit_head: str | None = None,
    check_pdfa: bool = False,
) -> IssuedCertificate:
    """Write ``<number>.pdf`` (PDF/A-2b, signed when ``signer`` is given) and ``<number>.xml`` (DCC).

    ``lab`` replaces ``data.laboratory`` (before hashing, so the hash covers what is printed). ``signer``
    is a pyHanko signer from :func:`reports.signing.load_signer`. A DCC that does not validate against
    the schema raises :class:`InputError` saying why, and neither file is left behind. ``check_pdfa``
    checks the PDF/A-2b conformance of this certificate before writing it (see :func:`reports.pdfa.to_pdfa`).
    ``audit_head`` (``"<seq>:<hash>"``, from ``RecordStore.audit_head()``) is printed, embedded in the
    PDF's metadata and in the DCC, so a signed certificate anchors the records' audit chain:
    ``meterbench verify`` checks it is still there.
    """
    if lab is not None:
        data = replace(data, laboratory=lab)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    number = data.certificate_number
    pdf_path = out_dir / f"{number}.pdf"
    dcc_path = out_dir / f"{number}.xml"
    for path in (pdf_path, dcc_path) if dcc else (pdf_path,):
        if path.exists():
            raise InputError(
                "certificate_number",
                "a certificate with this number already exists; certificates are never overwritten",
                found=str(path),
                allowed="a new, unique certificate number",
            )
    sha = content_hash(data)
    plain = render_certificate(
        data, page_size=page_size, sha256=sha, signed=signer is not None, audit_head=audit_head
    )
    # The DCC's hash goes into the PDF before it is signed; the signed PDF then goes into the DCC.
    # built once: hashed now, and the signed PDF embedded in it afterwards (with_document)
    bare_dcc = build_dcc(data, sha, audit_head=audit_head) if dcc else None
    dcc_sha = issued_dcc_hash(bare_dcc) if bare_dcc is not None else None
    _write_pdf(
        plain,
        pdf_path,
        pdfa=pdfa,
        signer=signer,
        title=f"{data.title} {number}",
        number=number,
        sha=sha,
        author=data.laboratory.name,
        subject=f"Meter {data.meter.serial}, form {data.meter.form}",
        location=data.laboratory.place_of_test,
        audit_head=audit_head,
        dcc_sha256=dcc_sha,
        check_pdfa=check_pdfa,
    )
    written_dcc = None
    if dcc:
        try:
            xml = with_document(bare_dcc, number, pdf_path.read_bytes()) if embed_pdf_in_dcc else bare_dcc
            check_dcc(xml, number)
            _write_atomic(xml, dcc_path)
            written_dcc = dcc_path
        except BaseException:
            pdf_path.unlink(missing_ok=True)  # a certificate is the pair, or nothing
            raise
    return IssuedCertificate(pdf_path, written_dcc, sha, number, pdfa, signer is not None)


#: whether :func:`issued_dcc_hash` has been seen to agree with :func:`dcc_data_hash` in this process
_FAST_DCC_HASH: list[bool] = []


def issued_dcc_hash(xml: bytes) -> str:
    """:func:`reports.dcc.dcc_data_hash` of a DCC this module built, in a fifth of its time.

    ``dcc_data_hash`` canonicalises with C14N 2.0 (lxml does that in Python, about 5 ms a DCC). For a DCC
    as :func:`build_dcc` makes it (no comments, processing instructions, ``xml:space`` or namespaced
    attributes), exclusive C14N 1.0 (libxml2) of the tree with its text stripped is the same bytes. The
    first DCC of each process is hashed both ways and compared; if they ever differ, the slow way is used
    from then on, so the hash in the PDF is always the one ``verify`` recomputes.
    """
    if _FAST_DCC_HASH == [False]:
        return dcc_data_hash(xml)
    fast = exclusive_c14n_hash(xml)
    if not _FAST_DCC_HASH:
        _FAST_DCC_HASH.append(fast == dcc_data_hash(xml))
        if not _FAST_DCC_HASH[0]:
            return dcc_data_hash(xml)
    return fast


def exclusive_c14n_hash(xml: bytes) -> str:
    """SHA-256 of exclusive C14N 1.0 of the DCC without its document, text and tails stripped."""
    import hashlib

    from lxml import etree

    from reports.dcc import _d, parse_dcc

    root = parse_dcc(xml)
    for doc in root.findall(_d("document")):
        root.remove(doc)
    for el in root.iter():
        if el.text is not None:
            el.text = el.text.strip() or None
        if el.tail is not None:
            el.tail = el.tail.strip() or None
    return hashlib.sha256(
        etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    ).hexdigest()


def issue_batch_summary(
    summary: BatchSummary,
    out_dir: str | Path,
    *,
    signer=None,
    lab: Laboratory | None = None,
    pdfa: bool = True,
    page_size: str = "letter",
) -> IssuedCertificate:
    """Write ``<summary_number>.pdf`` for a run (PDF/A-2b, signed when ``signer`` is given)."""
    if lab is not None:
        summary = replace(summary, laboratory=lab)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    number = summary.summary_number
    pdf_path = out_dir / f"{number}.pdf"
    if pdf_path.exists():
        raise InputError("summary_number", "a summary with this number already exists", found=str(pdf_path))
    sha = content_hash(summary)
    plain = render_batch_summary(summary, page_size=page_size, sha256=sha)
    _write_pdf(
        plain,
        pdf_path,
        pdfa=pdfa,
        signer=signer,
        title=f"{summary.title} {number}",
        number=number,
        sha=sha,
        author=summary.laboratory.name,
        subject=f"Run {summary.run_id}",
        location=summary.laboratory.place_of_test,
    )
    return IssuedCertificate(pdf_path, None, sha, number, pdfa, signer is not None)


# --- batches ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A certificate of a batch that was not issued, and why (the one-line error)."""

    certificate_number: str
    reason: str


@dataclass
class BatchResult:
    """What a batch issued (in the order given), what it refused and why, and how it ran."""

    issued: list[IssuedCertificate] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    #: "3 processes", or "1 process (<why no pool>)"
    how: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class _Options:
    out_dir: Path
    signer: object
    lab: Laboratory | None
    pdfa: bool
    dcc: bool
    page_size: str
    audit_head: str | None = None


#: the options of the batch a worker process is issuing (set once per worker, or in this process)
_BATCH: _Options | None = None
#: page sizes whose PDF/A conformance this process has checked in the current batch (the first certificate)
_CHECKED: set[str] = set()


def _start_worker(opts: _Options, checked: frozenset[str] = frozenset()) -> None:
    """Hold the batch's options in this process; ``checked``: page sizes whose PDF/A conformance the
    batch has checked already (in the process that forked this one)."""
    global _BATCH
    _BATCH = opts
    _CHECKED.clear()
    _CHECKED.update(checked)


def _issue_chunk(chunk: Sequence[tuple[int, CertificateData]]) -> list[tuple[int, object]]:
    """Issue a slice of a batch with the worker's options: (index, IssuedCertificate or Refusal)."""
    import pikepdf.pdfa

    opts = _BATCH
    assert opts is not None, "_start_worker was not called"
    out = []
    for index, data in chunk:
        check = opts.pdfa and opts.page_size not in _CHECKED
        try:
            cert = issue_certificate(data, opts.out_dir, signer=opts.signer, lab=opts.lab, pdfa=opts.pdfa,
                                     dcc=opts.dcc, page_size=opts.page_size, check_pdfa=check,
                                     audit_head=opts.audit_head)  # fmt: skip
        except InputError as e:
            out.append((index, Refusal(data.certificate_number, str(e))))
            continue
        except pikepdf.pdfa.PdfaError as e:
            out.append((index, Refusal(data.certificate_number, f"not PDF/A-2b, so not issued: {e}")))
            continue
        if check:
            _CHECKED.add(opts.page_size)
        out.append((index, cert))
    return out


#: a spawned worker imports reportlab, pikepdf and pyHanko first (about as much CPU as 15 certificates), so
#: smaller batches are issued in this process when workers cannot be forked
SPAWN_MIN_BATCH = 50


def _start_method() -> str:
    import multiprocessing as mp

    # fork shares the parsed key and the imported modules with the workers at no cost; it is unsafe in a
    # process with other threads running (the GUI), where spawn starts clean interpreters instead
    return "fork" if "fork" in mp.get_all_start_methods() and threading.active_count() == 1 else "spawn"


def _pool(workers: int, opts: _Options, size: int, method: str):
    """A process pool whose workers hold the batch options, or (None, why not)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if method == "spawn" and size < SPAWN_MIN_BATCH:
        return None, f"{size} certificates are too few to be worth starting interpreters for"
    try:
        if mp.current_process().daemon:
            return None, "this process is itself a pool worker"
        ctx = mp.get_context(method)
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                                   initargs=(opts, frozenset(_CHECKED)))  # fmt: skip
        pool.submit(int).result()  # a pool that cannot start its workers fails here, not mid-batch
    except (OSError, NotImplementedError, ImportError, RuntimeError) as e:
        return None, f"no process pool here: {type(e).__name__}: {e}"
    return pool, method


#: certificates a batch issues in this process before it forks its workers: the first is checked for PDF/A
#: conformance and signed by pyHanko (its signature becomes the signer's template), the second checks the
#: template (:meth:`reports.signing.KeyOnceSigner.async_sign`); the key is parsed by then. Forked workers
#: inherit all of it, where each would otherwise do it again (about 0.35 s of CPU per worker)
FORK_HEAD = 2


def _chunks(items: list, chunk: int, workers: int) -> list[list]:
    """``items`` in slices of ``chunk``, smaller towards the end so the workers finish together: the last
    ``2 x workers`` slices share what is left, at least one certificate each."""
    out, k = [], 0
    while k < len(items):
        left = len(items) - k
        size = chunk if left > 2 * workers * chunk else max(1, min(chunk, -(-left // (2 * workers))))
        out.append(items[k : k + size])
        k += size
    return out


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def issue_batch(
    items: Iterable[CertificateData],
    out_dir: str | Path,
    *,
    signer=None,
    lab: Laboratory | None = None,
    pdfa: bool = True,
    dcc: bool = True,
    page_size: str = "letter",
    workers: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    on_issued: Callable[[IssuedCertificate], None] | None = None,
    chunk: int = 4,
    audit_head: str | None = None,
) -> BatchResult:
    """Issue every certificate of ``items`` as :func:`issue_certificate` would, on ``workers`` processes.

    ``workers`` defaults to every core this process may use; 1, a batch too small to share, or a place
    where no process pool can be started (say, inside a pool worker) issues in this process, and
    ``BatchResult.how`` says which. The signer is the one given (its key parsed once per process). A
    certificate that cannot be issued (its number already exists, its DCC fails the schema, ...) is
    listed in ``refused`` with the reason and the others go on; an unexpected error stops the batch.
    ``progress`` shows a progress bar on the terminal (True), nothing (False), or calls
    ``progress(done, total)``; ``on_issued`` is called in this process for each certificate as it is
    issued (to record it). ``audit_head`` is the records' chain head every certificate of the batch carries.

    Where workers are forked, this process issues the first :data:`FORK_HEAD` certificates itself (the
    batch's PDF/A check, the signer's parsed key and checked signature template) and the workers inherit
    what that did; the rest go to the workers in slices of ``chunk``, smaller towards the end.
    """
    batch = list(enumerate(items))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opts = _Options(out, signer, lab, pdfa, dcc, page_size, audit_head)
    result = BatchResult()
    done: dict[int, object] = {}
    start = time.perf_counter()
    with _Progress(progress, len(batch)) as bar:

        def take(pairs) -> None:
            for index, outcome in pairs:
                done[index] = outcome
                if isinstance(outcome, IssuedCertificate) and on_issued is not None:
                    on_issued(outcome)
            bar.advance(len(pairs))

        workers = max(1, min(workers or default_workers(), (len(batch) + chunk - 1) // chunk or 1))
        method = _start_method() if workers > 1 else ""
        rest, pool, how = batch, None, "one process asked for"
        saved = (_BATCH, set(_CHECKED))
        _start_worker(opts)
        try:
            if method == "fork" and len(batch) > FORK_HEAD:
                take(_issue_chunk(batch[:FORK_HEAD]))
                rest = batch[FORK_HEAD:]
            if workers > 1:
                pool, how = _pool(workers, opts, len(rest), method)  # the workers start from _CHECKED
            if pool is None:
                result.how = f"1 process ({how})" if workers > 1 else "1 process"
                for k in range(0, len(rest), chunk):
                    take(_issue_chunk(rest[k : k + chunk]))
        finally:
            _restore(*saved)
        if pool is not None:
            from concurrent.futures import as_completed

            result.how = f"{workers} processes ({how})"
            with pool:
                futures = [pool.submit(_issue_chunk, part) for part in _chunks(rest, chunk, workers)]
                try:
                    for fut in as_completed(futures):
                        take(fut.result())
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    for index in sorted(done):
        outcome = done[index]
        (result.issued if isinstance(outcome, IssuedCertificate) else result.refused).append(outcome)
    result.seconds = time.perf_counter() - start
    return result


def _restore(batch: _Options | None, checked: set[str]) -> None:
    global _BATCH
    _BATCH = batch
    _CHECKED.clear()
    _CHECKED.update(checked)


class _Progress:
    """A rich progress bar on stderr (only on a terminal), a callback, or nothing."""

    def __init__(self, how: bool | Callable[[int, int], None], total: int):
        self.how, self.total, self.done = how, total, 0
        self._bar = self._task = None

    def __enter__(self):
        if self.how is True:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            console = Console(stderr=True)
            if console.is_terminal:
                self._bar = Progress("Issuing certificates", BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), console=console, transient=True)  # fmt: skip
                self._bar.start()
                self._task = self._bar.add_task("issue", total=self.total)
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        elif callable(self.how):
            self.how(self.done, self.total)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
