"""The PDF/A conversion's shortcuts (streams written as reportlab compressed them, the XMP packet filled in
from a template, the ICC profile compressed once) still give a conforming file carrying the identity."""

from __future__ import annotations

import io

import pikepdf
import pytest

from reports.certificate import render_certificate
from reports.pdfa import check_pdfa, read_audit_head, read_dcc_hash, read_identity, to_pdfa
from reports.samples import sample_certificate_data

SHA = "ab" * 32


def _streams(pdf: pikepdf.Pdf) -> list[pikepdf.Stream]:
    return [o for o in pdf.objects if isinstance(o, pikepdf.Stream)]


@pytest.mark.parametrize("check", [False, True])
def test_converted_certificate_keeps_its_compressed_streams_and_conforms(tmp_path, check):
    plain = render_certificate(sample_certificate_data("2S"), sha256=SHA)
    out = tmp_path / "c.pdf"
    status = to_pdfa(plain, out, title="T", number="MB-1", sha256=SHA, author="Lab", subject="S", check=check,
                     audit_head="7:" + "cd" * 32, dcc_sha256="ef" * 32)  # fmt: skip
    assert status.ok and check_pdfa(out).ok, check_pdfa(out).messages
    with pikepdf.open(io.BytesIO(plain)) as src, pikepdf.open(out) as pdf:
        before = {s.read_raw_bytes() for s in _streams(src)}
        after = _streams(pdf)
        # every stream reportlab wrote is there with its compressed bytes unchanged (not inflated)
        assert before <= {s.read_raw_bytes() for s in after}
        clear = [s for s in after if "/Filter" not in s]
        assert [s.get("/Type") for s in clear] == ["/Metadata"]  # only the XMP packet is uncompressed
        profile = pdf.Root.OutputIntents[0].DestOutputProfile
        assert profile.Filter == "/FlateDecode" and profile.read_bytes()[36:40] == b"acsp"  # an ICC profile
        assert read_identity(pdf) == ("MB-1", SHA)
        assert read_audit_head(pdf) == "7:" + "cd" * 32 and read_dcc_hash(pdf) == "ef" * 32
        assert str(pdf.docinfo.Title) == "T" and str(pdf.docinfo.Author) == "Lab"
    assert out.stat().st_size < 1.2 * len(plain)


@pytest.mark.parametrize(
    "title",
    [
        'A & B <Utilities> "quoted" \u00e9\u2014',
        "control \x07 character",
        "]]> and {dc:title} {dc:creator} braces",
    ],
)
def test_identity_with_awkward_characters_is_written_whole(tmp_path, title):
    plain = render_certificate(sample_certificate_data("9S"), sha256=SHA)
    out = tmp_path / "c.pdf"
    to_pdfa(plain, out, title=title, number="MB-2", sha256=SHA, author=title, subject="S")
    assert check_pdfa(out).ok
    with pikepdf.open(out) as pdf:
        meta = pdf.open_metadata()
        assert read_identity(pdf) == ("MB-2", SHA)
        if "\x07" not in title:  # XML cannot carry a BEL; pikepdf's editor drops it
            assert str(meta["dc:title"]) == title and str(pdf.docinfo.Title) == title


def test_a_plain_certificate_keeps_its_compressed_streams_and_identity():
    from reports.pdfa import tag_plain

    plain = render_certificate(sample_certificate_data("9S"), sha256=SHA)
    tagged = tag_plain(plain, title="T", number="MB-3", sha256=SHA, author="Lab", subject="S")
    with pikepdf.open(io.BytesIO(plain)) as src, pikepdf.open(io.BytesIO(tagged)) as pdf:
        assert {s.read_raw_bytes() for s in _streams(src)} <= {s.read_raw_bytes() for s in _streams(pdf)}
        assert read_identity(pdf) == ("MB-3", SHA)
    assert len(tagged) < 1.2 * len(plain)
