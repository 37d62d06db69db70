"""`meterbench verify` checks what a reader sees: a certificate whose page was changed (a FAIL made a PASS)
and re-signed with the bench's own key is caught against the records; a DCC edited after issue is caught
even without them; an unsigned certificate is "not signed"; and verify says what it could not check."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from bench.certify import build_certificate_data, ephemeral_demo_signer, issue_for_run
from bench.cli import main
from bench.records import RecordStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify")
    db = f"sqlite:///{tmp / 'records.sqlite'}"
    assert main(["run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--db", db,
                 "--no-certificates"]) == 1  # position 3 fails its starting test  # fmt: skip
    store = RecordStore.open(db)
    signer, cert = ephemeral_demo_signer(tmp / "signer")
    head = store.audit_head()
    certs = {c.certificate_number[-3:]: c for c in issue_for_run(store, 1, tmp / "out", signer=signer)}
    record = store.run_record(1)
    unsigned = issue_for_run(store, 1, tmp / "unsigned", positions=[1])[0]
    store.close()
    return {"db": db, "cert": cert, "signer": signer, "certs": certs, "record": record, "head": head,
            "unsigned": unsigned, "tmp": tmp}  # fmt: skip


def _forge_pass(issued, out: Path) -> Path:
    """What a forger holding the bench's signing key does: render position 3's certificate with its
    failed starting test shown as passed, keep the genuine number and content hash in the metadata, sign."""
    from reports.certificate import render_certificate
    from reports.issue import _write_pdf

    genuine = issued["certs"]["P03"]
    data = build_certificate_data(issued["record"], 3, revision=0)
    assert data.overall_verdict == "fail"
    forged = dataclasses.replace(
        data,
        overall_verdict="pass",
        conformity_statement=data.conformity_statement.replace("DOES NOT CONFORM", "CONFORMS"),
        functional_tests=tuple(dataclasses.replace(f, verdict="pass") for f in data.functional_tests),
    )
    plain = render_certificate(forged, sha256=genuine.content_hash, signed=True, audit_head=issued["head"])
    _write_pdf(plain, out, pdfa=True, signer=issued["signer"], title=f"{data.title} {data.certificate_number}",
               number=data.certificate_number, sha=genuine.content_hash, author=data.laboratory.name,
               subject=f"Meter {data.meter.serial}, form {data.meter.form}", location="forger's desk",
               audit_head=issued["head"])  # fmt: skip
    return out


def test_genuine_certificate_and_dcc_verify_with_pages_and_values_checked(issued, capsys):
    c = issued["certs"]["P03"]
    assert main(["verify", str(c.pdf_path), "--trust", str(issued["cert"]), "--db", issued["db"]]) == 0
    out = capsys.readouterr().out
    assert "every page reads as rendered from the records" in out
    assert "present and unchanged" in out and out.rstrip().endswith("VERIFIED")
    assert main(["verify", str(c.dcc_path), "--trust", str(issued["cert"]), "--db", issued["db"]]) == 0
    out = capsys.readouterr().out
    assert "DCC values       equal the records" in out and "DCC XML          intact" in out


def test_a_page_changed_to_pass_and_resigned_with_the_bench_key_is_caught(issued, tmp_path, capsys):
    forged = _forge_pass(issued, tmp_path / f"{issued['certs']['P03'].certificate_number}.pdf")
    # the signature itself is flawless: that is what a bench key guarantees, and all it guarantees
    assert main(["verify", str(forged), "--trust", str(issued["cert"]), "--no-db"]) == 0
    out = capsys.readouterr().out
    assert "Not checked:" in out and "printed values" in out  # and it says so plainly
    assert main(["verify", str(forged), "--trust", str(issued["cert"]), "--db", issued["db"]]) == 1
    out = capsys.readouterr().out
    assert "PRINTED VALUES DIFFER FROM THE RECORDS" in out
    assert "page 1 prints 'Overall result: PASS" in out and "the records give 'Overall result: FAIL" in out
    assert "page 2 prints 'PASS' where the records give 'FAIL'" in out  # the starting test's verdict
    assert out.rstrip().endswith("NOT VERIFIED")


def test_an_unsigned_certificate_is_not_signed_not_broken(issued, capsys):
    pdf = issued["unsigned"].pdf_path
    assert main(["verify", str(pdf), "--db", issued["db"]]) == 1
    out = capsys.readouterr().out
    assert "Signature        not signed" in out and "BROKEN" not in out
    assert "every page reads as rendered from the records" in out
    assert "an unsigned file can be checked only against the records" in out


def test_a_dcc_edited_after_issue_is_caught_without_the_records(issued, tmp_path, capsys):
    c = issued["certs"]["P01"]
    xml = c.dcc_path.read_text(encoding="utf-8")
    err = f"{issued['record']['points'][-1]['result']['error_percent']}"
    target = next(v for v in xml.split("<si:value>")[1:] if v.split("<")[0].startswith(("-", "0", "1")))
    value = target.split("<")[0]
    edited = xml.replace(f"<si:value>{value}<", "<si:value>0.0001<", 1)
    assert edited != xml, err
    bad = tmp_path / c.dcc_path.name
    bad.write_text(edited, encoding="utf-8")
    assert main(["verify", str(bad), "--trust", str(issued["cert"]), "--no-db"]) == 1
    out = capsys.readouterr().out
    assert "the XML was changed after issue" in out and "NOT AUTHENTICATED" in out
    assert main(["verify", str(bad), "--trust", str(issued["cert"]), "--db", issued["db"]]) == 1
    assert "DIFFER FROM THE RECORDS" in capsys.readouterr().out


def test_a_dcc_carrying_a_forged_pdf_is_caught(issued, tmp_path, capsys):
    """Swap the DCC's embedded PDF for the forged one: the XML's hash is not in the forged PDF."""
    c = issued["certs"]["P03"]
    forged = _forge_pass(issued, tmp_path / "forged.pdf").read_bytes()
    xml = c.dcc_path.read_text(encoding="utf-8")
    start = xml.index("<dcc:dataBase64>") + len("<dcc:dataBase64>")
    end = xml.index("</dcc:dataBase64>")
    bad = tmp_path / c.dcc_path.name
    bad.write_text(xml[:start] + base64.b64encode(forged).decode() + xml[end:], encoding="utf-8")
    assert main(["verify", str(bad), "--trust", str(issued["cert"]), "--no-db"]) == 1
    assert "no hash of the XML" in capsys.readouterr().out


def test_records_rolled_back_after_issue_are_named_by_the_certificate(issued, tmp_path, capsys):
    import shutil
    import sqlite3

    src = Path(issued["db"].removeprefix("sqlite:///"))
    copy = tmp_path / "copy.sqlite"
    shutil.copy(src, copy)
    seq = int(issued["head"].split(":")[0])
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE audit_log SET hash = ? WHERE seq = ?", ("0" * 64, seq))
    c = issued["certs"]["P01"]
    assert main(["verify", str(c.pdf_path), "--trust", str(issued["cert"]), "--db", f"sqlite:///{copy}"]) == 1
    assert "ENTRY RECORDED AT ISSUE CHANGED" in capsys.readouterr().out


def test_an_unsigned_dcc_is_said_to_match_its_pdf_but_not_authenticated(issued, capsys):
    xml = issued["unsigned"].dcc_path
    assert main(["verify", str(xml), "--no-db"]) == 1
    out = capsys.readouterr().out
    assert "hashes to the value its PDF carries, but that PDF is not signed" in out


def test_a_certificate_of_an_earlier_layout_is_not_called_tampered(issued, tmp_path, capsys):
    """Pages printed by an earlier version of the layout read differently from today's rendering of the
    same records; verify says it did not compare them, rather than 'PRINTED VALUES DIFFER'."""
    import pikepdf

    old = tmp_path / issued["unsigned"].pdf_path.name
    with pikepdf.open(issued["unsigned"].pdf_path) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            keywords = str(meta["pdf:Keywords"])
            assert " layout:" in keywords
            meta["pdf:Keywords"] = " ".join(k for k in keywords.split() if not k.startswith("layout:"))
        pdf.save(old)
    main(["verify", str(old), "--db", issued["db"]])
    out = capsys.readouterr().out
    assert "Pages            not compared: printed with a layout before revision 2" in out
    assert "PRINTED VALUES DIFFER" not in out and "earlier certificate layout" in out
    assert "Records          content matches run 1" in out
