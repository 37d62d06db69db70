"""From a recorded run to a signed certificate and back: every number on the PDF is the database's, the
content hash recomputed from the records matches, and one changed byte fails `meterbench verify`."""

from __future__ import annotations

from pathlib import Path

import pdfplumber
import pytest

from bench.certify import build_certificate_data, ephemeral_demo_signer, issue_for_run
from bench.cli import main
from bench.records import RecordStore
from reports.model import content_hash

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("certs")
    db = f"sqlite:///{tmp / 'records.sqlite'}"
    assert main(["run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--db", db,
                 "--no-certificates"]) == 1  # position 3 fails its starting test  # fmt: skip
    store = RecordStore.open(db)
    signer, cert = ephemeral_demo_signer(tmp / "signer")
    certs = issue_for_run(store, 1, tmp / "out", signer=signer)
    record = store.run_record(1)
    store.close()
    return db, cert, certs, record


def test_pdf_numbers_equal_database(issued):
    _db, _cert, certs, record = issued
    pdf = next(c for c in certs if c.certificate_number.endswith("P01")).pdf_path
    with pdfplumber.open(pdf) as doc:
        text = "\n".join(page.extract_text() or "" for page in doc.pages)
    for p in record["points"]:
        if p["position"] != 1 or p["kind"] != "accuracy":
            continue
        r = p["result"]
        assert f"{r['error_percent']:+.3f}" in text, (p["label"], r["error_percent"])
        assert f"{r['expanded_percent']:.3f}" in text
    for needle in (
        "SIM2S-0001",
        "ansi-c12.20-2s",
        "SIM-6105A-2026-0412",
        "simple",
        "Page 1 of",
        "End of certificate",
    ):
        assert needle.lower() in text.lower(), needle


def test_hash_from_records_matches_and_verify_passes(issued, capsys):
    db, cert, certs, record = issued
    c = certs[0]
    assert content_hash(build_certificate_data(record, 1, revision=0)) == c.content_hash
    assert main(["verify", str(c.pdf_path), "--trust", str(cert), "--db", db]) == 0
    assert "VERIFIED" in capsys.readouterr().out


def test_one_changed_byte_fails_verify(issued, tmp_path, capsys):
    db, cert, certs, _record = issued
    data = bytearray(certs[0].pdf_path.read_bytes())
    data[len(data) // 3] ^= 0x01
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(data))
    assert main(["verify", str(bad), "--trust", str(cert), "--db", db]) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_dcc_written_beside_each_pdf(issued):
    _db, _cert, certs, _record = issued
    assert len(certs) == 3
    for c in certs:
        assert c.dcc_path and Path(c.dcc_path).exists() and c.pdf_path.exists()
        assert c.signed and c.pdfa


def test_run_names_the_shops_laboratory_and_a_bad_lab_file_stops_before_the_run(tmp_path, capsys):
    from pypdf import PdfReader

    from bench.cli import main
    from bench.records import RecordStore

    root = Path(__file__).resolve().parents[1]
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    bad = tmp_path / "bad.toml"
    bad.write_text('[laboratory]\nname = "X"\n')
    args = [
        "run",
        "--bench",
        str(root / "examples" / "2s-board.toml"),
        "--plan",
        "ansi-c12.20-2s",
        "--db",
        db,
    ]
    assert main([*args, "--lab", str(bad)]) != 0
    assert "laboratory.address" in capsys.readouterr().err
    with RecordStore.open(db) as store:
        assert store.list_runs() == []  # nothing half-written
    main(
        [
            *args,
            "--lab",
            str(root / "examples" / "lab" / "laboratory.toml"),
            "--certificates",
            str(tmp_path / "c"),
        ]
    )
    text = " ".join(PdfReader(next((tmp_path / "c").glob("*-P01.pdf"))).pages[0].extract_text().split())
    assert "Example Electric Co-op Meter Shop" in text and "DEMONSTRATION" not in text.upper()


def test_a_certificate_whose_dcc_fails_is_named_and_the_others_are_recorded(issued, tmp_path, monkeypatch):
    """One meter's DCC fails the schema: the run's other certificates are issued and recorded, and the
    error names the one that was not and why."""
    from lxml import etree

    from procedures.errors import InputError
    from reports import issue

    db, _cert, _certs, _record = issued
    real = issue.build_dcc

    def broken_for_p02(data, *a, **k):
        xml = real(data, *a, **k)
        if not data.certificate_number.endswith("P02-R1"):
            return xml
        root = etree.fromstring(xml)
        root.append(etree.Element("{https://ptb.de/dcc}notInTheSchema"))
        return etree.tostring(root)

    monkeypatch.setattr(issue, "build_dcc", broken_for_p02)
    store = RecordStore.open(db)
    try:
        with pytest.raises(InputError, match=r"1 of 3 not issued: certificate MB-\S+-P02-R1: DCC: does not"):
            issue_for_run(store, 1, tmp_path)
        numbers = [c["number"] for c in store.run_record(1)["certificates"]]
    finally:
        store.close()
    assert sum(n.endswith("-R1") for n in numbers) == 2 and not any(n.endswith("P02-R1") for n in numbers)
    assert not list(tmp_path.glob("*P02-R1*"))
