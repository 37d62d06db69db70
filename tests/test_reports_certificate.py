"""Issued certificates read back: every table value, every ISO/IEC 17025 §7.8 element, fonts, PDF/A."""

import re

import pdfplumber
import pikepdf
import pytest
from pypdf import PdfReader

from reports.certificate import BATCH_HEADERS, POINT_HEADERS, batch_row, point_row
from reports.issue import issue_batch_summary, issue_certificate
from reports.pdfa import check_pdfa
from reports.samples import sample_batch_summary, sample_certificate_data
from reports.signing import load_signer, make_demo_identity

PASS = b"test-passphrase"


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """Both samples issued as signed PDF/A-2b with DCC, plus the batch summary (done once: signing is slow)."""
    root = tmp_path_factory.mktemp("certs")
    ident = make_demo_identity(root / "keys", passphrase=PASS)
    signer = load_signer(ident.p12_path, passphrase=PASS)
    out = {}
    for form in ("2S", "9S"):
        data = sample_certificate_data(form)
        out[form] = (data, issue_certificate(data, root / "out", signer=signer))
    summary = sample_batch_summary()
    out["batch"] = (summary, issue_batch_summary(summary, root / "out", signer=signer))
    out["ident"] = ident
    return out


def _text_pages(path):
    return [p.extract_text() for p in PdfReader(path).pages]


def _norm(cell: str | None) -> str:
    return " ".join((cell or "").split())


def _tables(path):
    with pdfplumber.open(path) as pdf:
        return [[[_norm(c) for c in row] for row in t] for page in pdf.pages for t in page.extract_tables()]


@pytest.mark.parametrize("form", ["2S", "9S"])
def test_results_tables_match_the_data_cell_by_cell(issued, form):
    data, cert = issued[form]
    headers = [_norm(h) for h in POINT_HEADERS]
    tables = [t for t in _tables(cert.pdf_path) if t and t[0] == headers]
    assert len(tables) == len(data.stages)
    for stage, table in zip(data.stages, tables, strict=True):
        expected = [[_norm(c) for c in point_row(p)] for p in data.points_of(stage)]
        assert table[1:] == expected
    # and the printed numbers really are the data (not just the same formatting of something else)
    first = tables[-1][1]
    p = data.points_of(data.stages[-1])[0]
    assert float(first[5]) == pytest.approx(p.error_pct, abs=5e-4)
    assert float(first[6]) == pytest.approx(p.expanded_u_pct, abs=5e-4)
    assert first[9] == p.verdict.upper()


def test_weighted_average_and_functional_tables(issued):
    data, cert = issued["2S"]
    tables = _tables(cert.pdf_path)
    wa = next(t for t in tables if t[0][:3] == ["Stage", "Rule", "Formula"])
    for row, w in zip(wa[1:], data.weighted_averages, strict=True):
        assert row[:4] == [w.stage, w.rule, w.formula, f"{w.registration_pct:.3f}"]
        assert row[-1] == w.verdict.upper()
    ft = next(t for t in tables if t[0][:2] == ["Test", "Stage"])
    assert [r[0] for r in ft[1:]] == ["Starting load", "No-load (creep)"]
    assert [r[-1] for r in ft[1:]] == ["PASS", "PASS"]


def test_nameplate_and_conditions_are_printed(issued):
    data, cert = issued["9S"]
    tables = _tables(cert.pdf_path)
    item = next(t for t in tables if t[0][0] == "Manufacturer")
    cells = {row[i]: row[i + 1] for row in item for i in (0, 2) if row[i]}
    assert cells["Serial number"] == data.meter.serial
    assert cells["Form"] == "9S" and cells["Accuracy class"] == "0.2"
    assert cells["Kh"] == "1.8 Wh/rev"
    cond = next(t for t in tables if t[0][0] == "Temperature")
    assert cond[1] == ["22.8 °C", "38 %", "120.0 V", "60.00 Hz", "35 min"]
    wiring = next(t for t in tables if t[0][0] == "Phase")
    assert [r[0] for r in wiring[1:]] == ["A", "B", "C"]
    assert wiring[2][2] == "120.1°"


@pytest.mark.parametrize("form", ["2S", "9S"])
def test_every_17025_element_is_present(issued, form):
    data, cert = issued[form]
    pages = _text_pages(cert.pdf_path)
    text = " ".join(" ".join(pages).split())
    n = len(pages)
    assert n >= 2
    for k, page in enumerate(pages, start=1):
        assert f"Certificate No. {data.certificate_number}" in page, f"number missing on page {k}"
        assert f"Page {k} of {n}" in page, f"page x of y missing on page {k}"
    assert f"End of certificate {data.certificate_number}" in " ".join(pages[-1].split())
    required = [
        data.title,
        data.laboratory.name,
        data.laboratory.address[0],
        data.laboratory.accreditation,
        "Place of test",
        data.customer.name,
        data.method.plan_id,
        data.method.standard,
        data.meter.serial,
        data.meter.condition_as_received,
        f"Received {data.dates.receipt}",
        f"Tested {data.dates.test}",
        f"Issued {data.dates.issue}",
        "Error (%)",
        "U (%)",
        "Voltage (V)",
        "Test conditions",
        data.reference_standards[0].traceability,
        data.decision_rule.name,
        data.conformity_statement,
        "relate only to the item tested",
        f"Approved (authorised) by {data.approved_by.name}",
        data.tested_by.name,
        cert.content_hash,
        "Percent registration %R = 100 x",
        "Deviations from the method",
    ]
    missing = [r for r in required if " ".join(r.split()) not in text]
    assert not missing
    if data.has_unconfirmed_limits:
        assert "UNCONFIRMED" in text


def test_as_found_and_as_left_are_both_labelled(issued):
    text = " ".join(" ".join(_text_pages(issued["2S"][1].pdf_path)).split())
    assert "As found (before adjustment)" in text and "As left (after adjustment" in text


def _fonts(pdf):
    for page in pdf.pages:
        for _name, font in page.obj.Resources.get("/Font", {}).items():
            yield font
            yield from font.get("/DescendantFonts", [])


@pytest.mark.parametrize("key", ["2S", "9S", "batch"])
def test_every_font_is_embedded_and_pdfa_passes(issued, key):
    _data, cert = issued[key]
    with pikepdf.open(cert.pdf_path) as pdf:
        fonts = list(_fonts(pdf))
        assert fonts
        for font in fonts:
            if font.get("/Subtype") == "/Type0":
                continue
            desc = font.get("/FontDescriptor")
            assert desc is not None and any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")), (
                f"font {font.get('/BaseFont')} not embedded"
            )
        assert all("Helvetica" not in str(f.get("/BaseFont")) for f in fonts)
        assert pdf.pdf_version < "2.0"
    status = check_pdfa(cert.pdf_path)
    assert status.ok, status.messages


def test_batch_summary_lists_every_meter(issued):
    summary, cert = issued["batch"]
    tables = _tables(cert.pdf_path)
    table = next(t for t in tables if t[0] == [_norm(h) for h in BATCH_HEADERS])
    assert table[1:] == [[_norm(c) for c in batch_row(r)] for r in summary.rows]
    text = " ".join(" ".join(_text_pages(cert.pdf_path)).split())
    assert "2 tested: 2 PASS, 0 FAIL" in text and "this summary is not a certificate" in text


def test_a4_is_available_and_unknown_paper_is_an_input_error(tmp_path):
    from procedures.errors import InputError

    cert = issue_certificate(sample_certificate_data("2S"), tmp_path, page_size="a4", dcc=False)
    width, height = (float(x) for x in PdfReader(cert.pdf_path).pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)
    with pytest.raises(InputError, match="page_size"):
        issue_certificate(sample_certificate_data("9S"), tmp_path / "x", page_size="legal")
    assert not list((tmp_path / "x").glob("*.pdf"))


def test_certificates_are_never_overwritten(tmp_path):
    from procedures.errors import InputError

    data = sample_certificate_data("2S")
    first = issue_certificate(data, tmp_path, pdfa=False)
    before = first.pdf_path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        issue_certificate(data, tmp_path, pdfa=False)
    assert first.pdf_path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".issuing-")]


def test_qr_payload_and_metadata_carry_number_and_hash(issued):
    data, cert = issued["9S"]
    with pikepdf.open(cert.pdf_path) as pdf:
        meta = pdf.open_metadata()
        assert meta["dc:identifier"] == data.certificate_number
        assert re.search(rf"content-sha256:{cert.content_hash}", str(meta["pdf:Keywords"]))


def test_the_page_says_whether_the_certificate_is_signed(issued, tmp_path):
    """An unsigned certificate must not claim a signature it does not carry."""
    signed = " ".join(" ".join(_text_pages(issued["2S"][1].pdf_path)).split())
    assert "protected by a digital signature (PAdES)" in signed
    plain = issue_certificate(sample_certificate_data("2S"), tmp_path, signer=None)
    text = " ".join(" ".join(_text_pages(plain.pdf_path)).split())
    assert "WITHOUT a digital signature" in text and "protected by a digital signature" not in text
