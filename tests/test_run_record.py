"""The run record is what a certificate states: the laboratory it was issued under, the plan's title and
standard as the run had them, the in-service verdict; so `verify` recomputes exactly what was issued and a
revision after a retest is issued under the run's laboratory and names the certificate it replaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.certify import build_certificate_data
from bench.cli import main
from bench.records import RecordStore
from procedures.metrology.averages import get_rule, in_service_verdict

ROOT = Path(__file__).resolve().parents[1]
BENCH = str(ROOT / "examples" / "2s-board.toml")
LAB = str(ROOT / "examples" / "lab" / "laboratory.toml")
SHOP = "Example Electric Co-op Meter Shop"


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    db = f"sqlite:///{tmp / 'r.sqlite'}"
    certs = tmp / "certs"
    main(["run", "--bench", BENCH, "--plan", "ansi-c12.20-2s", "--db", db, "--certificates", str(certs),
          "--lab", LAB])  # fmt: skip
    return tmp, db, certs


def test_a_certificate_issued_with_lab_verifies_against_the_records(lab_run, capsys, monkeypatch):
    _tmp, db, certs = lab_run
    monkeypatch.delenv("MB_LABORATORY", raising=False)
    pdf = sorted(certs.glob("*-P01.pdf"))[0]
    capsys.readouterr()
    main(["verify", str(pdf), "--db", db])
    out = capsys.readouterr().out
    assert "content matches run 1" in out, out
    assert "SUPERSEDED" not in out


def test_a_retest_revision_is_issued_under_the_runs_lab_and_names_the_one_it_replaces(lab_run, capsys):
    tmp, db, certs = lab_run
    main(
        [
            "retest",
            "1",
            "--point",
            "FL",
            "--position",
            "1",
            "--reason",
            "reseated",
            "--db",
            db,
            "--certificates",
            str(certs),
        ]
    )  # fmt: skip  (no --lab: the run's laboratory)
    revised = sorted(certs.glob("*-P01-R1.pdf"))
    assert len(revised) == 1
    store = RecordStore.open(db)
    record = store.run_record(1)
    store.close()
    first = next(c["number"] for c in record["certificates"] if c["position"] == 1)
    data = build_certificate_data(record, 1, revision=1)
    assert data.laboratory.name == SHOP
    assert any(f"replaces certificate {first}" in d for d in data.deviations)
    capsys.readouterr()
    main(["verify", str(revised[0]), "--db", db])
    assert "content matches run 1" in capsys.readouterr().out


def test_a_shop_plan_file_puts_its_standard_on_the_certificate(tmp_path):
    text = (ROOT / "procedures" / "data" / "plans" / "ansi-c12.20-2s.toml").read_text(encoding="utf-8")
    text = text.replace('id = "ansi-c12.20-2s"', 'id = "coop-2s-shop"', 1)
    text = text.replace('standard = "ANSI C12.20"', 'standard = "Co-op meter practice 4.2 (ANSI C12.20)"', 1)
    plan = tmp_path / "coop.toml"
    plan.write_text(text, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    main(["run", "--bench", BENCH, "--plan", str(plan), "--db", db, "--no-certificates"])
    plan.unlink()  # the plan file is gone by the time the certificate is made: the record has what it said
    store = RecordStore.open(db)
    data = build_certificate_data(store.run_record(1), 1)
    store.close()
    assert data.method.standard == "Co-op meter practice 4.2 (ANSI C12.20)"
    assert data.method.plan_id == "coop-2s-shop"


def test_an_in_service_run_reports_the_weighted_average_and_the_verdict(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = tmp_path / "run.json"
    main(["run", "--bench", BENCH, "--plan", "ansi-c12.1-inservice", "--db", db, "--no-certificates",
          "--json", str(out)])  # fmt: skip
    assert "in-service verdict (as-found)" in capsys.readouterr().out  # the CLI's summary says it too
    doc = json.loads(out.read_text())
    positions = {m["position"] for m in doc["meters"]}
    averaged = {a["position"] for a in doc["averages"] if a["rule"] == "method-1"}
    verdicts = {v["position"]: v for v in doc["in_service"]}
    creeps = {c["position"]: c["verdict"] == "pass" for c in doc["creep"]}
    assert averaged == set(verdicts) and averaged, doc["averages"]
    for pos, v in verdicts.items():
        regs = {p["label"]: 100 + p["error_percent"] for p in doc["points"]
                if p["position"] == pos and p["error_percent"] is not None}  # fmt: skip
        want = in_service_verdict(regs, get_rule("method-1"), creep_ok=creeps.get(pos, True))
        word = "reject" if not want.acceptable else ("adjust" if want.adjust else "accept")
        assert v["verdict"] == word and v["average_percent"] == pytest.approx(want.average)
        outcome = next(p["outcome"] for p in doc["positions"] if p["position"] == pos)
        assert (outcome == "failed") == (word == "reject" or not creeps.get(pos, True))
    assert positions >= set(verdicts)
    store = RecordStore.open(db)
    pos = min(verdicts)
    data = build_certificate_data(store.run_record(1), pos)
    store.close()
    assert (
        f"In-service verdict (as-found, ANSI C12.1): {verdicts[pos]['verdict'].upper()}"
        in data.conformity_statement
    )
    assert data.weighted_averages and data.weighted_averages[0].registration_pct == pytest.approx(
        verdicts[pos]["average_percent"]
    )
