"""Verify an issued certificate PDF: signature, PDF/A status and the identity it carries.

:func:`verify_pdf` answers a regulator's questions about a file: is it signed, is the signature intact
(nothing changed since signing), is it valid and trusted (trust anchors are configurable; a self-signed
demo identity is trusted only when its certificate is passed in ``trust_roots``), does the whole file
fall under the signature, is it PDF/A-2b, and which certificate number and content hash does it carry.
The caller (``meterbench verify``) compares that hash with one recomputed from the records by
:func:`reports.model.content_hash`.

A single changed byte anywhere must fail: bytes inside the signed ranges break the digest; bytes in the
signature blob break the CMS parse or its padding check below; the byte range itself is checked to
cover the entire file.
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

from reports.pdfa import check_pdfa, read_identity


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

    @property
    def ok(self) -> bool:
        return self.signature_intact and self.signature_valid and self.pdfa_ok and not self.problems


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


def verify_pdf(path: str | Path, trust_roots=None) -> VerifyReport:
    """Check a certificate PDF; never raises for a bad file, reports problems in words instead.

    ``trust_roots`` is an iterable of certificate files (PEM or DER) or certificate objects.
    """
    path = Path(path)
    problems: list[str] = []
    intact = valid = False
    signer = signed_at = None
    number = sha = None
    try:
        data = path.read_bytes()
    except OSError as exc:
        return VerifyReport(False, False, None, None, False, (), None, None, [f"cannot read {path}: {exc}"])

    try:
        import pikepdf

        with pikepdf.open(io.BytesIO(data)) as pdf:
            number, sha = read_identity(pdf)
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
        if not sigs:
            problems.append("the file carries no digital signature")
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
        intact, valid, signer, signed_at, pdfa_ok, tuple(pdfa_messages), number, sha, problems
    )
