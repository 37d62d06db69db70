"""PDF/A-2b conversion and checking with pikepdf, and the identity the certificate carries in XMP.

reportlab has no PDF/A switch, so the plain PDF (fonts already embedded, see :mod:`reports.fonts`) is
opened with pikepdf, the empty ``/Trans`` reportlab writes on every page is removed, XMP metadata is added
(title, certificate number as ``dc:identifier``, content hash in ``pdf:Keywords``) with an sRGB output
intent, and pikepdf's PDF/A preparation declares PDF/A-2b before it is written with PDF/A save settings
that keep reportlab's compressed streams as they are (:func:`_save_kwargs`). The written file
is not re-validated each time (that re-opened and re-walked every certificate, a fifth of its cost);
conformance is checked per template in the tests and, in a batch, on its first certificate.

pikepdf's check is an allowlist validator, not an authority (no veraPDF is available here): a pass means
every construct it saw is known to conform.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import pikepdf
import pikepdf.pdfa

from procedures.errors import InputError
from reports.layout import LAYOUT_REVISION

FLAVOUR = "2b"
_KEYWORD = re.compile(r"content-sha256:([0-9a-f]{64})")
_NUMBER = re.compile(r"meterbench-certificate:(\S+)")
_AUDIT = re.compile(r"audit-head:([0-9]+:[0-9a-f]{64})")
_DCC = re.compile(r"dcc-sha256:([0-9a-f]{64})")
_LAYOUT = re.compile(r"(?:^| )layout:([0-9A-Za-z.]+)")


@dataclass(frozen=True)
class PdfaStatus:
    """Outcome of a PDF/A-2b check: passed, and the findings in words when not."""

    ok: bool
    messages: tuple[str, ...]


def _keywords(number: str, sha256: str, audit_head: str | None = None, dcc_sha256: str | None = None) -> str:
    return (
        f"meterbench-certificate:{number} content-sha256:{sha256} layout:{LAYOUT_REVISION}"
        + (f" audit-head:{audit_head}" if audit_head else "")
        + (f" dcc-sha256:{dcc_sha256}" if dcc_sha256 else "")
    )


def _identity(title: str, number: str, sha256: str, author: str, subject: str, audit_head=None,
              dcc_sha256=None) -> dict[str, str]:  # fmt: skip
    """The XMP properties (and their DocInfo twins) a certificate carries."""
    return {
        "dc:title": title,
        "dc:creator": author,
        "dc:description": f"{subject}. Content SHA-256 {sha256}.",
        "dc:identifier": number,
        "pdf:Keywords": _keywords(number, sha256, audit_head, dcc_sha256),
        "pdf:Producer": PRODUCER,
        "xmp:CreatorTool": "MeterBench",
    }


PRODUCER = "MeterBench (reportlab, pikepdf)"
_XMP_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}
#: the packet pikepdf's metadata editor writes for :func:`_identity`'s properties, as one template
_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" ' + " ".join(f'xmlns:{k}="{v}"' for k, v in _XMP_NS.items()) + ">"
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{dc:title}</rdf:li></rdf:Alt></dc:title>'
    "<dc:creator><rdf:Seq><rdf:li>{dc:creator}</rdf:li></rdf:Seq></dc:creator>"
    '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{dc:description}</rdf:li></rdf:Alt></dc:description>'
    "<dc:identifier>{dc:identifier}</dc:identifier><pdf:Keywords>{pdf:Keywords}</pdf:Keywords>"
    "<pdf:Producer>{pdf:Producer}</pdf:Producer><xmp:CreatorTool>{xmp:CreatorTool}</xmp:CreatorTool>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
    '<?xpacket end="w"?>'
)
_FIELD = re.compile(r"\{(\w+:\w+)\}")
#: DocInfo entries and the XMP property each mirrors (ISO 32000-1 §14.3.3; PDF/A requires them to agree)
_DOCINFO = {
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Producer": "pdf:Producer",
    "/Creator": "xmp:CreatorTool",
}
#: text XML 1.0 can carry (a value with anything else goes through pikepdf's metadata editor)
_XML_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _tag(pdf: pikepdf.Pdf, **identity) -> None:
    """Drop reportlab's empty /Trans dicts and write the certificate's identity (:func:`_identity`) to the
    XMP packet and the DocInfo dictionary.

    The packet is filled in from a template (:data:`_XMP`, escaped) rather than built by pikepdf's
    metadata editor, which parsed and re-serialised it, only for :func:`pikepdf.pdfa.prepare` to read and
    write it again (the XMP was written twice per certificate); ``prepare`` now writes it once. A value
    that XML cannot carry as it is goes through the editor as before.
    """
    for page in pdf.pages:
        # reportlab writes an empty /Trans (page transition) dict on every page; PDF/A checks flag it
        if "/Trans" in page.obj:
            del page.obj["/Trans"]
    props = _identity(**identity)
    if any(_XML_UNSAFE.search(v) for v in props.values()):
        _tag_with_editor(pdf, props)
        return
    escaped = {key: escape(value) for key, value in props.items()}
    packet = _FIELD.sub(lambda m: escaped[m[1]], _XMP)  # one pass: a value is never searched for fields
    pdf.Root.Metadata = pdf.make_stream(
        packet.encode("utf-8"), {"/Type": pikepdf.Name.Metadata, "/Subtype": pikepdf.Name.XML}
    )
    info = pdf.docinfo
    for key in ("/CreationDate", "/ModDate"):  # as the editor left DocInfo: no dates the XMP lacks
        if key in info:
            del info[key]
    for key, prop in _DOCINFO.items():
        info[key] = props[prop]


def _tag_with_editor(pdf: pikepdf.Pdf, props: dict[str, str]) -> None:
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        for key, value in props.items():
            meta[key] = [value] if key == "dc:creator" else value


def tag_plain(plain: bytes, **identity) -> bytes:
    """The plain PDF with the same XMP identity (:func:`_tag`'s keywords) but no PDF/A conversion
    (``pdfa=False`` issue)."""
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        _tag(pdf, **identity)
        out = io.BytesIO()
        # reportlab's streams written as they are (see _save_kwargs): qpdf would inflate and deflate each
        pdf.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
        return out.getvalue()


def to_pdfa(plain: bytes, out_path: str | Path, *, check: bool = False, **identity) -> PdfaStatus:
    """Convert reportlab output to PDF/A-2b at ``out_path``, tagged with :func:`_tag`'s keywords (title,
    number, sha256, author, subject, audit_head, dcc_sha256).

    The document is prepared (sRGB output intent, PDF/A declaration in XMP, annotation flags) and written
    with PDF/A-2b save settings (:func:`_save_kwargs`), but the written file is not re-opened and
    re-walked: every certificate comes from the same templates, and the tests check a fresh certificate
    of each template (:func:`check_pdfa`). ``check=True`` validates the bytes as they will be written
    (``pikepdf.pdfa.validate_written``) and raises ``pikepdf.pdfa.PdfaError`` without writing anything
    when they do not pass; the batch issue does that for its first certificate of each page size.
    """
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        _tag(pdf, **identity)
        _add_output_intent(pdf)
        done = pikepdf.pdfa.prepare(pdf, FLAVOUR, output_intent=None)  # the intent added above is kept
        if done.xmp_unreadable or done.xmp_dropped:
            raise InputError(
                "certificate metadata",
                "could not be written as PDF/A XMP, so the certificate was not issued",
                found=str(done.xmp_problem or ", ".join(done.xmp_dropped)),
            )
        kw = _save_kwargs()
        if check:
            # the bytes as written, validated before anything is written: the save settings below keep
            # each stream's bytes as reportlab made them, which the in-memory check cannot model
            buf = io.BytesIO()
            pdf.save(buf, **kw)
            report = pikepdf.pdfa.validate_written(io.BytesIO(buf.getvalue()), FLAVOUR)
            if not report.passed:
                raise pikepdf.pdfa.PdfaError(report)
            Path(out_path).write_bytes(buf.getvalue())
            return PdfaStatus(True, (report.summary(),))
        pdf.save(Path(out_path), **kw)
    return PdfaStatus(True, ("written from a checked template; not re-validated",))


@cache
def _save_kwargs() -> dict:
    """PDF/A-2b save settings (``pikepdf.pdfa.resolve_save_kwargs``) that write each stream as it is.

    PDF/A-2b allows object streams but does not need them; without them the file is 5 % larger and
    pyHanko, which reads the file again to sign it, need not decompress and parse them (7 % less work
    converting and signing). Every stream reportlab writes is Flate-compressed already; pikepdf's PDF/A
    settings (streams decoded at the "generalized" level and compressed) make qpdf inflate each one and
    deflate it again, to the same bytes (zlib's default level, as reportlab's), at a tenth of a
    certificate's CPU. Written as they are instead (no decoding, no compressing), the stream data are
    those same bytes; only ``/Filter /FlateDecode`` keeps reportlab's spelling, ``[ /FlateDecode ]``. The
    one stream not compressed is the XMP packet, which PDF/A readers want in the clear anyway; the ICC
    profile is compressed here (:func:`_add_output_intent`). Because pikepdf's in-memory check assumes
    its own settings, a checked certificate is validated as written (:func:`to_pdfa`).
    """
    return dict(
        pikepdf.pdfa.resolve_save_kwargs(FLAVOUR),
        object_stream_mode=pikepdf.ObjectStreamMode.disable,
        compress_streams=False,
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
    )


@cache
def _srgb() -> tuple[bytes, int, str, str]:
    """pikepdf's sRGB output intent (as ``prepare(output_intent="sRGB")`` installs it): the profile
    Flate-compressed once per process, its component count, identifier and info."""
    from pikepdf.pdfa._output_intent import srgb_output_intent

    spec = srgb_output_intent()
    return zlib.compress(spec.icc, 9), spec.n, spec.identifier, spec.info


def _add_output_intent(pdf: pikepdf.Pdf) -> None:
    """The sRGB PDF/A output intent ``prepare`` would install (``replace_output_intents``), its profile
    compressed (pikepdf would read it from its package data for each certificate and qpdf compress it)."""
    icc, n, identifier, info = _srgb()
    profile = pdf.make_stream(icc, {"/N": n, "/Filter": pikepdf.Name.FlateDecode})
    intent = pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent,
        S=pikepdf.Name("/GTS_PDFA1"),
        OutputConditionIdentifier=pikepdf.String(identifier),
        Info=pikepdf.String(info),
        DestOutputProfile=profile,
    )
    pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(intent)])


def _signature_field_problems(pdf: pikepdf.Pdf) -> list[str]:
    """PDF/A-2b rules for the signature field pikepdf's validator does not cover (it stops at /AcroForm)."""
    problems = []
    form = pdf.Root.AcroForm
    if form.get("/NeedAppearances") is True:
        problems.append("/AcroForm /NeedAppearances true is not allowed")
    for fld in form.get("/Fields", []):
        if fld.get("/FT") != "/Sig":
            problems.append(f"form field {fld.get('/T')} is not a signature field")
            continue
        flags = int(fld.get("/F", 0))
        if not flags & 4 or flags & (1 | 2 | 32):
            problems.append(
                f"signature widget flags {flags}: Print must be set, Hidden/Invisible/NoView clear"
            )
        rect = [float(x) for x in fld.get("/Rect", [0, 0, 0, 0])]
        if (rect[2] - rect[0]) * (rect[3] - rect[1]) != 0 and "/AP" not in fld:
            problems.append("visible signature widget without an appearance stream")
    # pyHanko declares the ETSI PAdES developer extension (ISO 32000-1 §7.12 developer extensions)
    for name, ext in pdf.Root.get("/Extensions", pikepdf.Dictionary()).items():
        if name not in ("/ESIC", "/ADBE") or str(ext.get("/BaseVersion", "")) not in ("/1.7", "1.7"):
            problems.append(f"catalog developer extension {name} not recognised for PDF/A-2b")
    return problems


def _strip_signature_fields(pdf: pikepdf.Pdf) -> None:
    sig_widgets = {f.objgen for f in pdf.Root.AcroForm.get("/Fields", []) if f.get("/FT") == "/Sig"}
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if annots is not None:
            keep = [a for a in annots if a.objgen not in sig_widgets]
            if keep:
                page.obj.Annots = pikepdf.Array(keep)
            else:
                del page.obj["/Annots"]
    del pdf.Root["/AcroForm"]
    if "/Extensions" in pdf.Root:
        del pdf.Root["/Extensions"]


def check_pdfa(path_or_bytes: str | Path | bytes) -> PdfaStatus:
    """Validate a written file (signed or not) as PDF/A-2b.

    pikepdf's validator reports any ``/AcroForm`` as "unsupported", which every signed PDF has. For a
    signed file the signature field is therefore checked here against the PDF/A-2b annotation rules, and
    the rest of the final revision (including the metadata the signer updated) by ``pikepdf.pdfa.check``
    with the signature field removed in memory.
    """
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else Path(path_or_bytes)
    report = pikepdf.pdfa.validate_written(src, FLAVOUR)
    if report.passed:
        return PdfaStatus(True, (report.summary(),))
    findings = tuple(str(f) for f in report.findings)
    only_form = all(
        f.kind == "unsupported" and ("/AcroForm" in f.where or "/Extensions" in f.where)
        for f in report.findings
    )
    if not only_form:
        return PdfaStatus(False, findings)
    if isinstance(src, io.BytesIO):
        src.seek(0)
    with pikepdf.open(src) as pdf:
        problems = _signature_field_problems(pdf)
        _strip_signature_fields(pdf)
        rest = pikepdf.pdfa.check(pdf, FLAVOUR)
    messages = [
        "pikepdf does not check /AcroForm or /Extensions; signature field and PAdES extension checked by "
        "MeterBench: " + ("; ".join(problems) if problems else "conforms"),
        "rest of the file: " + rest.summary(),
    ]
    return PdfaStatus(rest.passed and not problems, tuple(messages))


def read_identity(pdf: pikepdf.Pdf) -> tuple[str | None, str | None]:
    """(certificate number, content hash) as embedded in the XMP metadata, or None where absent."""
    meta = pdf.open_metadata()
    keywords = str(meta.get("pdf:Keywords", "") or "")
    number = meta.get("dc:identifier")
    m_hash = _KEYWORD.search(keywords)
    m_no = _NUMBER.search(keywords)
    number = str(number) if number else (m_no.group(1) if m_no else None)
    return number, (m_hash.group(1) if m_hash else None)


def read_audit_head(pdf: pikepdf.Pdf) -> str | None:
    """The records' audit chain head at issue (``"<seq>:<hash>"``) as embedded in the XMP, or None."""
    found = _AUDIT.search(str(pdf.open_metadata().get("pdf:Keywords", "") or ""))
    return found.group(1) if found else None


def read_dcc_hash(pdf: pikepdf.Pdf) -> str | None:
    """The hash of the DCC issued with this PDF (:func:`reports.dcc.dcc_data_hash`), or None."""
    found = _DCC.search(str(pdf.open_metadata().get("pdf:Keywords", "") or ""))
    return found.group(1) if found else None


def read_layout(pdf: pikepdf.Pdf) -> str | None:
    """The certificate layout revision it was printed with, or None (certificates before revision 2)."""
    found = _LAYOUT.search(str(pdf.open_metadata().get("pdf:Keywords", "") or ""))
    return found.group(1) if found else None
