"""Issuing: the one call the bench makes at the end of a run, per meter and per run.

:func:`issue_certificate` renders the certificate, converts it to PDF/A-2b, signs it (PAdES, incremental
update) when given a signer, and writes the DCC XML beside it with the final PDF embedded. Files are named
``<certificate_number>.pdf`` / ``.xml``. Each file appears only when complete (written to a temporary
name in the same folder and renamed), an existing certificate is never overwritten, and a failure leaves
nothing half-written behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from procedures.errors import InputError
from reports.certificate import render_batch_summary, render_certificate
from reports.dcc import build_dcc, dcc_data_hash
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
) -> None:
    out_dir = final.parent
    temps: list[Path] = []
    try:
        stage = _tmp(out_dir, ".pdf")
        temps.append(stage)
        if pdfa:
            to_pdfa(plain, stage, title=title, number=number, sha256=sha, author=author, subject=subject,
                    audit_head=audit_head, dcc_sha256=dcc_sha256)  # fmt: skip
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
) -> IssuedCertificate:
    """Write ``<number>.pdf`` (PDF/A-2b, signed when ``signer`` is given) and ``<number>.xml`` (DCC).

    ``lab`` replaces ``data.laboratory`` (before hashing, so the hash covers what is printed). ``signer``
    is a pyHanko signer from :func:`reports.signing.load_signer`. ``audit_head`` (``"<seq>:<hash>"``,
    from ``RecordStore.audit_head()``) is printed, embedded in the PDF's metadata and in the DCC, so a
    signed certificate anchors the records' audit chain: ``meterbench verify`` checks it is still there.
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
    dcc_sha = dcc_data_hash(build_dcc(data, sha, audit_head=audit_head)) if dcc else None
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
    )
    written_dcc = None
    if dcc:
        try:
            pdf_bytes = pdf_path.read_bytes() if embed_pdf_in_dcc else None
            _write_atomic(build_dcc(data, sha, pdf_bytes=pdf_bytes, audit_head=audit_head), dcc_path)
            written_dcc = dcc_path
        except BaseException:
            pdf_path.unlink(missing_ok=True)  # a certificate is the pair, or nothing
            raise
    return IssuedCertificate(pdf_path, written_dcc, sha, number, pdfa, signer is not None)


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
