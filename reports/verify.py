"""Verify an issued certificate PDF or DCC: signature, PDF/A status, the identity it carries, and what its
pages say.

:func:`verify_pdf` answers a regulator's questions about a file: is it signed, is the signature intact
(nothing changed since signing), is it valid and trusted (trust anchors are configurable; a self-signed
demo identity is trusted only when its certificate is passed in ``trust_roots``), does the whole file
fall under the signature, is it PDF/A-2b, and which certificate number and content hash does it carry.
The caller (``meterbench verify``) compares that hash with one recomputed from the records by
:func:`reports.model.content_hash`.

A single changed byte anywhere must fail: bytes inside the signed ranges break the digest; bytes in the
signature blob break the CMS parse or its padding check below; the byte range itself is checked to
cover the entire file.

A valid signature proves only that someone holding the signing key signed these bytes. A bench's key
signs whatever the bench renders, so an edited certificate re-signed with it is "valid". What a reader
sees is checked against the records instead: :func:`compare_pages` compares the text of every page with
the certificate rendered afresh from the records (every error, U, limit, verdict and the outcome).

The DCC XML is bound to the signed PDF rather than signed itself (no second signature scheme, key or
trust decision; an XML-DSig's canonicalisation and reference handling are their own attack surface):
the PDF's metadata carries :func:`reports.dcc.dcc_data_hash` of the XML, written before the PDF is
signed, and the signed PDF is embedded in the XML. :func:`verify_dcc` checks the embedded PDF's
signature and that the XML still hashes to what it says.
"""

from __future__ import annotations

import io
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from reports.pdfa import check_pdfa, read_audit_head, read_dcc_hash, read_identity, read_layout


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_pdf` found. ``ok`` is the bottom line: signed, intact, valid, trusted, PDF/A."""

    signature_intact: bool
    signature_valid: bool
    signer: str | None
    signed_at: str | None
    pdfa_ok: bool
    pdfa_messages: tuple[str, ...]
    certificate_number: str | None
    content_hash: str | None
    problems: list[str] = field(default_factory=list)
    signed: bool = False
    audit_head: str | None = None
    dcc_sha256: str | None = None
    page_size: str = "letter"
    layout: str | None = None  # the certificate layout revision it was printed with

    @property
    def ok(self) -> bool:
        return (
            self.signed
            and self.signature_intact
            and self.signature_valid
            and self.pdfa_ok
            and not self.problems
        )


def _load_roots(trust_roots) -> list:
    from asn1crypto import pem
    from asn1crypto import x509 as ax509

    out = []
    for root in trust_roots or ():
        if isinstance(root, ax509.Certificate):
            out.append(root)
            continue
        if isinstance(root, cx509.Certificate):
            out.append(ax509.Certificate.load(root.public_bytes(serialization.Encoding.DER)))
            continue
        data = Path(root).read_bytes()
        if pem.detect(data):
            for _, _, der in pem.unarmor(data, multiple=True):
                out.append(ax509.Certificate.load(der))
        else:
            out.append(ax509.Certificate.load(data))
    return out


@contextmanager
def _quiet_pyhanko():
    """pyHanko logs a full traceback for an untrusted signer; the report already says it in words."""
    loggers = [logging.getLogger(n) for n in ("pyhanko", "pyhanko_certvalidator")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


_GAP = re.compile(rb"^<([0-9A-Fa-f]*)>$")


def _contents_padding_ok(data: bytes, byte_range, cms_der_len: int) -> bool:
    """The hole in the byte range must be exactly ``<hex>`` whose bytes after the CMS blob are all zero."""
    start = byte_range[0] + byte_range[1]
    end = byte_range[2]
    m = _GAP.match(data[start:end])
    if not m:
        return False
    text = m.group(1).decode("ascii")
    raw = bytes.fromhex(text)
    # Hex is case-insensitive, so a flipped letter case would leave the signature bytes unchanged; a file
    # as signed is all one case, and any other change of a byte must fail verification.
    if text not in (raw.hex(), raw.hex().upper()):
        return False
    return len(raw) >= cms_der_len and not any(raw[cms_der_len:])


def verify_pdf(path: str | Path | bytes, trust_roots=None) -> VerifyReport:
    """Check a certificate PDF (a file, or its bytes); never raises for a bad file, reports problems in
    words instead. An unsigned file is reported as not signed, not as a broken signature.

    ``trust_roots`` is an iterable of certificate files (PEM or DER) or certificate objects.
    """
    problems: list[str] = []
    intact = valid = signed = False
    signer = signed_at = None
    number = sha = head = dcc_sha = layout = None
    size = "letter"
    if isinstance(path, bytes):
        data = path
    else:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            return VerifyReport(
                False, False, None, None, False, (), None, None, [f"cannot read {path}: {exc}"]
            )

    try:
        import pikepdf

        with pikepdf.open(io.BytesIO(data)) as pdf:
            number, sha = read_identity(pdf)
            head, dcc_sha = read_audit_head(pdf), read_dcc_hash(pdf)
            layout = read_layout(pdf)
            width = float(pdf.pages[0].mediabox[2]) if len(pdf.pages) else 612.0
            size = "a4" if abs(width - 595.3) < 2 else "letter"
    except Exception as exc:  # a damaged file is a finding, not a crash
        problems.append(f"metadata unreadable: {type(exc).__name__}: {exc}")
    if number is None or sha is None:
        problems.append("no certificate number or content hash embedded in the metadata")

    try:
        pdfa = check_pdfa(data)
        pdfa_ok, pdfa_messages = pdfa.ok, pdfa.messages
    except Exception as exc:
        pdfa_ok, pdfa_messages = False, (f"{type(exc).__name__}: {exc}",)
    if not pdfa_ok:
        problems.append("not PDF/A-2b: " + "; ".join(pdfa_messages[:3]))

    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext

        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
        signed = bool(sigs)
        if not sigs:
            problems.append("not signed: the file carries no digital signature")
        elif len(sigs) > 1:
            problems.append(f"expected one signature, found {len(sigs)}")
        if sigs:
            sig = sigs[-1]
            vc = ValidationContext(trust_roots=_load_roots(trust_roots), allow_fetching=False)
            with _quiet_pyhanko():
                status = validate_pdf_signature(sig, signer_validation_context=vc)
            intact = bool(status.intact)
            valid = bool(status.intact and status.valid and status.trusted)
            signer = status.signing_cert.subject.human_friendly
            when = status.signer_reported_dt
            signed_at = when.isoformat() if when else None
            if not status.intact:
                problems.append("signature NOT intact: the signed content was changed after signing")
            elif not status.valid:
                problems.append("signature cryptographically invalid")
            elif not status.trusted:
                problems.append(
                    "signer certificate is not trusted by the given trust roots"
                    + (
                        ""
                        if trust_roots
                        else " (none given: pass the laboratory's certificate as a trust root)"
                    )
                )
            if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
                problems.append(f"signature does not cover the entire file ({status.coverage.name})")
                intact = valid = False
            from asn1crypto import parser

            _cls, _method, _tag, header, contents, _trailer = parser.parse(sig.pkcs7_content)
            der_len = len(header) + len(contents)
            if not _contents_padding_ok(data, list(sig.byte_range), der_len):
                problems.append("signature container was altered (bytes outside the signature blob)")
                intact = valid = False
    except Exception as exc:
        problems.append(f"signature could not be checked: {type(exc).__name__}: {exc}")
        intact = valid = False

    return VerifyReport(
        intact, valid, signer, signed_at, pdfa_ok, tuple(pdfa_messages), number, sha, problems,
        signed=signed, audit_head=head, dcc_sha256=dcc_sha, page_size=size, layout=layout,
    )  # fmt: skip


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page, as a reader's PDF viewer extracts it."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [page.extract_text() or "" for page in reader.pages]


def compare_pages(issued: bytes, expected: bytes, *, limit: int = 6) -> list[str]:
    """Where the pages of ``issued`` say something other than ``expected`` (the certificate rendered from
    the records): one line per difference, quoting both; ``[]`` when every page reads the same."""
    import difflib

    try:
        got = page_texts(issued)
    except Exception as exc:  # a damaged file is a finding
        return [f"the pages cannot be read: {type(exc).__name__}: {exc}"]
    want = page_texts(expected)
    if len(got) != len(want):
        return [f"the certificate has {len(got)} page(s); rendered from the records it has {len(want)}"]
    out: list[str] = []
    for n, (g, w) in enumerate(zip(got, want, strict=True), 1):
        if g == w:
            continue
        gl, wl = g.splitlines(), w.splitlines()
        for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, wl, gl, autojunk=False).get_opcodes():
            if op == "equal":
                continue
            printed = " / ".join(gl[b0:b1]) or "(nothing)"
            records = " / ".join(wl[a0:a1]) or "(nothing)"
            out.append(f"page {n} prints {printed[:120]!r} where the records give {records[:120]!r}")
            if len(out) >= limit:
                return out + ["(further differences not listed)"]
    return out


@dataclass(frozen=True)
class DccReport:
    """What :func:`verify_dcc` found: the XML's identity, its embedded PDF's report, and its integrity."""

    certificate_number: str | None
    content_hash: str | None
    audit_head: str | None
    pdf: bytes | None
    pdf_report: VerifyReport | None
    integrity_ok: bool
    problems: list[str] = field(default_factory=list)
    hash_matches: bool = False  # the XML hashes to the value its embedded PDF carries (signed or not)


def verify_dcc(path: str | Path, trust_roots=None) -> DccReport:
    """Check a DCC XML file: well-formed, a DCC, carrying a signed PDF whose signed metadata holds this
    XML's hash, and naming the same certificate and content hash as that PDF. Never raises for a bad file."""
    from reports.dcc import dcc_data_hash, read_dcc

    path = Path(path)
    try:
        xml = path.read_bytes()
        info = read_dcc(xml)
        actual = dcc_data_hash(xml)
    except (OSError, ValueError) as exc:
        return DccReport(None, None, None, None, None, False, [f"{path.name}: {exc}"])
    problems: list[str] = []
    pdf, report, ok, matches = info["pdf"], None, False, False
    if pdf is None:
        problems.append("the DCC embeds no PDF: its integrity can only be checked against the records")
    elif not pdf:
        problems.append("the DCC's embedded PDF is not valid base64")
    else:
        report = verify_pdf(pdf, trust_roots)
        problems += [f"embedded PDF: {p}" for p in report.problems]
        if report.dcc_sha256 is None:
            problems.append(
                "the embedded PDF carries no hash of the XML: the XML's values cannot be authenticated"
            )
        elif report.dcc_sha256 != actual:
            problems.append(
                "the XML was changed after issue: it no longer hashes to the value its signed PDF carries"
            )
        else:
            matches = True
            ok = report.signed and report.signature_intact
        if report.certificate_number != info["number"] or report.content_hash != info["content_hash"]:
            problems.append("the XML and its embedded PDF name different certificates or content hashes")
            ok = matches = False
    return DccReport(
        info["number"], info["content_hash"], info["audit_head"], pdf or None, report, ok, problems, matches
    )
