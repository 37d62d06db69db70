"""Issuing many certificates: one signer for the batch, every core, the DCC checked before it is issued,
each template's PDF/A conformance checked, and a batch that refuses a bad certificate says why."""

import filecmp
import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest
from lxml import etree
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from procedures.errors import InputError
from reports import dccschema, issue
from reports.certificate import qr_payload
from reports.dcc import DCC_NS, build_dcc
from reports.graphics import QrCode
from reports.issue import issue_batch, issue_certificate
from reports.model import content_hash
from reports.pdfa import check_pdfa, to_pdfa
from reports.samples import sample_certificate_data
from reports.signing import load_signer, make_demo_identity
from reports.verify import verify_pdf

PASS = b"batch-passphrase"
NS = {"dcc": DCC_NS}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return make_demo_identity(tmp_path_factory.mktemp("keys"), "Batch Signer", passphrase=PASS)


def _batch(n: int, prefix: str = "B"):
    forms = ("2S", "9S")
    return [
        sample_certificate_data(forms[k % 2], certificate_number=f"{prefix}-{k:03d}", serial=f"SN{k:06d}")
        for k in range(n)
    ]


# --- DCC schema check in production -------------------------------------------------------------------


def test_package_schema_is_the_tests_schema():
    """The copy the production check loads is byte for byte the set the tests validate with."""
    pkg, tests = ROOT / "reports" / "data" / "dcc-3.3.0", ROOT / "tests" / "data" / "dcc-3.3.0"
    xsds = sorted(p.relative_to(pkg) for p in pkg.rglob("*.xsd"))
    assert xsds == sorted(p.relative_to(tests) for p in tests.rglob("*.xsd"))
    for rel in xsds:
        assert filecmp.cmp(pkg / rel, tests / rel, shallow=False), rel


def _broken_dccs():
    data = sample_certificate_data("2S")
    good = build_dcc(data, content_hash(data), pdf_bytes=b"%PDF-1.7\n")
    out = {}
    root = etree.fromstring(good)
    uid = root.find(".//dcc:coreData/dcc:uniqueIdentifier", NS)
    uid.getparent().remove(uid)
    out["no unique identifier"] = etree.tostring(root)
    root = etree.fromstring(good)
    etree.SubElement(root.find(".//dcc:coreData", NS), f"{{{DCC_NS}}}notInTheSchema").text = "x"
    out["unknown element"] = etree.tostring(root)
    root = etree.fromstring(good)
    root.find(".//dcc:coreData/dcc:beginPerformanceDate", NS).text = "first of May"
    out["date that is not a date"] = etree.tostring(root)
    return good, out


def test_production_check_agrees_with_xmlschema(dcc_schema):
    good, broken = _broken_dccs()
    assert dccschema.dcc_problems(good) == []
    assert not list(dcc_schema.iter_errors(etree.fromstring(good)))
    for what, xml in broken.items():
        assert dccschema.dcc_problems(xml), what
        assert list(dcc_schema.iter_errors(etree.fromstring(xml))), what


def test_schema_is_loaded_once_per_process():
    assert dccschema.dcc_schema() is dccschema.dcc_schema()


def test_a_dcc_failing_the_schema_is_not_issued_and_says_why(tmp_path, monkeypatch):
    _good, broken = _broken_dccs()
    monkeypatch.setattr(issue, "build_dcc", lambda *a, **k: broken["no unique identifier"])
    data = sample_certificate_data("2S")
    with pytest.raises(InputError, match=r"DCC: does not conform to the DCC 3.3.0 schema.*uniqueIdentifier"):
        issue_certificate(data, tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the DCC nor its PDF


# --- PDF/A, once per template ---------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "page"), [("2S", "a4"), ("9S", "letter")])
def test_unsigned_certificate_of_each_template_conforms(tmp_path, form, page):
    cert = issue_certificate(sample_certificate_data(form), tmp_path, page_size=page, dcc=False)
    status = check_pdfa(cert.pdf_path)
    assert status.ok, status.messages


def test_the_pdfa_check_refuses_a_file_that_does_not_conform(tmp_path):
    """The check a batch runs on its first certificate: a page in unembedded Helvetica is not written."""
    buf = io.BytesIO()
    c = Canvas(buf, initialFontName="Helvetica")
    c.drawString(72, 720, "Helvetica is not embedded")
    c.showPage()
    c.save()
    out = tmp_path / "bad.pdf"
    with pytest.raises(pikepdf.pdfa.PdfaError):
        to_pdfa(
            buf.getvalue(), out, title="t", number="N", sha256="0" * 64, author="a", subject="s", check=True
        )
    assert not out.exists()


# --- QR code, encoded once ---------------------------------------------------------------------------


PAYLOADS = [
    qr_payload("MB-20260101-00001-ABCD-P01", "ab" * 32),
    qr_payload("MB-20261231-99999-FFFF-P48-R12", "0123456789abcdef" * 4),
    "x",
    "MBCERT:1;" + "Z" * 150,
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("level", ["L", "M", "H"])
def test_qr_code_is_the_symbol_reportlab_encodes(payload, level):
    """Same modules, so the same mask chosen by the same penalty score, as reportlab's own encoder."""
    qr = QrCode(payload, 30 * mm, level=level)
    widget = QrCodeWidget(payload, barLevel=level)
    widget.qr.make()
    assert qr.modules == [[bool(m) for m in row] for row in widget.qr.modules]


def test_qr_code_draws_every_dark_module_once():
    qr = QrCode(PAYLOADS[0], 30 * mm, level="M")
    drawn = [[False] * len(qr.modules) for _ in qr.modules]
    for r, c, n in qr.dark_runs():
        for k in range(c, c + n):
            drawn[r][k] = True
    assert drawn == qr.modules
    assert qr.wrap(500, 500) == (30 * mm, 30 * mm)


# --- reportlab in production -------------------------------------------------------------------------


def test_reportlab_attribute_checking_is_off_in_production():
    code = (
        "import reports.certificate\n"
        "from reportlab import rl_config\n"
        "from reportlab.graphics.shapes import Shape\n"
        "print(rl_config.shapeChecking, '__setattr__' in Shape.__dict__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MB_REPORTLAB_CHECKS"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.stdout.split() == ["0", "False"], run.stderr
    env["MB_REPORTLAB_CHECKS"] = "1"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.stdout.split() == ["1", "True"], run.stderr


# --- batches -------------------------------------------------------------------------------------------


def test_batch_on_two_processes_issues_every_certificate_signed_and_valid(identity, tmp_path):
    signer = load_signer(identity.p12_path, passphrase=PASS)
    batch = _batch(9)
    seen, progress = [], []
    result = issue_batch(
        batch,
        tmp_path,
        signer=signer,
        workers=2,
        chunk=2,
        on_issued=seen.append,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert result.how.startswith("2 processes"), result.how
    assert not result.refused
    assert [c.certificate_number for c in result.issued] == [d.certificate_number for d in batch]
    assert sorted(c.certificate_number for c in seen) == sorted(d.certificate_number for d in batch)
    assert progress[-1] == (9, 9) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    for data, cert in zip(batch, result.issued, strict=True):
        assert cert.signed and cert.pdfa and cert.dcc_path.exists()
        assert cert.content_hash == content_hash(data)
    for cert in (result.issued[0], result.issued[-1]):
        rep = verify_pdf(cert.pdf_path, trust_roots=[identity.cert_path])
        assert rep.ok, rep.problems
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_batch_refuses_a_bad_certificate_says_why_and_issues_the_rest(tmp_path):
    batch = _batch(4)
    issue_certificate(batch[2], tmp_path, pdfa=False)  # its number is taken
    result = issue_batch(batch, tmp_path, pdfa=False, workers=1)
    assert result.how == "1 process"
    assert [c.certificate_number for c in result.issued] == [batch[k].certificate_number for k in (0, 1, 3)]
    assert len(result.refused) == 1
    assert result.refused[0].certificate_number == batch[2].certificate_number
    assert "already exists" in result.refused[0].reason


def test_batch_falls_back_to_one_process_where_no_pool_can_start(identity, tmp_path, monkeypatch):
    import concurrent.futures

    def no_pool(*a, **k):
        raise OSError("no semaphores here")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    signer = load_signer(identity.p12_path, passphrase=PASS)
    result = issue_batch(_batch(3), tmp_path, signer=signer, workers=2, chunk=1, progress=False)
    assert result.how.startswith("1 process (no process pool here: OSError: no semaphores here")
    assert len(result.issued) == 3 and all(c.signed for c in result.issued)


def test_batch_in_spawned_workers_signs_with_the_given_identity(identity, tmp_path, monkeypatch):
    """Where fork is not safe (a GUI's threads), workers are spawned and get the signer by pickling."""
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 3)
    signer = load_signer(identity.p12_path, passphrase=PASS)
    signer.private_key()  # parsed here; the parsed key itself is not sent to the workers
    few = issue_batch(_batch(2, "FEW"), tmp_path, pdfa=False, dcc=False, workers=2, chunk=1, progress=False)
    assert few.how == "1 process (2 certificates are too few to be worth starting interpreters for)"
    monkeypatch.setattr(issue, "SPAWN_MIN_BATCH", 2)
    result = issue_batch(_batch(2), tmp_path, signer=signer, workers=2, chunk=1, progress=False)
    assert result.how == "2 processes (spawn)", result.how
    rep = verify_pdf(result.issued[1].pdf_path, trust_roots=[identity.cert_path])
    assert rep.ok and "Batch Signer" in rep.signer


def test_batch_validates_each_dcc(tmp_path, monkeypatch):
    _good, broken = _broken_dccs()
    real = issue.build_dcc

    def sometimes_broken(data, *a, **k):
        return broken["unknown element"] if data.certificate_number.endswith("1") else real(data, *a, **k)

    monkeypatch.setattr(issue, "build_dcc", sometimes_broken)
    batch = [replace(d) for d in _batch(3)]
    result = issue_batch(batch, tmp_path, pdfa=False, workers=1, progress=False)
    assert [r.certificate_number for r in result.refused] == ["B-001"]
    assert "notInTheSchema" in result.refused[0].reason
    assert not (tmp_path / "B-001.pdf").exists() and not (tmp_path / "B-001.xml").exists()
    assert len(result.issued) == 2


def test_batch_shows_a_progress_bar_on_a_terminal(tmp_path, monkeypatch, capsys):
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    result = issue_batch(_batch(2), tmp_path, pdfa=False, dcc=False, workers=1, chunk=1)
    assert len(result.issued) == 2
    assert "Issuing certificates" in capsys.readouterr().err
