"""The IEC meter-port example as a new user runs it: IEC meters (single-phase two-wire, 230 V 50 Hz, tested
at 50 Hz), their class printed as "class 1", and a TOU test that waits half an hour of bench time for the
meters' first tier change rather than six and a half hours."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from bench.cli import main
from procedures.plans import load_plan

ROOT = Path(__file__).resolve().parents[1]
IEC = ROOT / "examples" / "iec-meterport-62056.toml"


@pytest.fixture(scope="module")
def iec_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("iec")
    db, out = f"sqlite:///{tmp / 'r.sqlite'}", tmp / "run.json"
    code = main(["run", "--bench", str(IEC), "--plan", "iec-meterport", "--db", db, "--json", str(out),
                 "--no-certificates", "--operator", "Test Person"])  # fmt: skip
    return code, json.loads(out.read_text()), db


def test_the_example_meters_are_iec_meters_tested_at_50_hz(iec_run):
    meters = tomllib.loads(IEC.read_text())["simulation"]["meter"]
    assert {m["form"] for m in meters} == {"1S"} and {m["frequency"] for m in meters} == {50.0}
    assert {m["accuracy_class"] for m in meters} == {"iec:1"} and {m["voltage"] for m in meters} == {230.0}
    assert load_plan("iec-meterport").frequency_hz == 50.0
    _code, doc, _db = iec_run
    ib = [p for p in doc["points"] if p["point_id"] == "Ib"]
    assert len(ib) == 3 and all(p["frequency_hz"] == pytest.approx(50.0, abs=0.01) for p in ib), ib


def test_runs_show_prints_the_class_as_class_1(iec_run, capsys, monkeypatch):
    _code, _doc, db = iec_run
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", "show", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "Position 1  SIMIEC-0001  1S class 1 Kh 0.1: FAILED" in out
    assert "iec:1" not in out


def test_the_tou_test_waits_for_the_first_change_near_the_start_and_still_judges_it(iec_run):
    code, doc, _db = iec_run
    assert code == 1  # socket 1's clock and socket 3's TOU program fail
    tou = {r["position"]: r for r in doc["meter_port"] if r["kind"] == "tou"}
    assert tou[1]["verdict"] == tou[2]["verdict"] == "pass" and tou[1]["planned"]["boundary"] == "01:00"
    assert tou[3]["verdict"] == "fail" and "tier 2 advanced 0 kWh" in tou[3]["message"]
    # the whole run: 7 325 s of bench time (28 924 s when the first change was 07:00)
    assert doc["run"]["bench_seconds"] < 8000, doc["run"]["bench_seconds"]
    clock = {r["position"]: r for r in doc["meter_port"] if r["kind"] == "clock"}
    assert clock[1]["verdict"] == "fail" and re.match(r"-2\.\d", f"{clock[1]['value']:.1f}")
