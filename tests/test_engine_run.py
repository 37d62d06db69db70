"""Runs through the engine on simulated benches: what a technician and a regulator would check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.records import RecordStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(tmp_path, bench, plan, *extra):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    out = tmp_path / "run.json"
    code = main(["run", "--bench", str(bench), "--plan", plan, "--db", db, "--json", str(out),
                 "--no-certificates", *extra])  # fmt: skip
    return code, json.loads(out.read_text()) if out.exists() else None, db


def test_2s_board_recovers_injected_errors_within_u(tmp_path):
    """Position 1 carries a known curve: +0.30 % at LL, -0.10 % at FL, -0.40 % at PF 0.5 lag."""
    code, doc, _db = _run(tmp_path, EXAMPLES / "2s-board.toml", "ansi-c12.20-2s")
    injected = {"LL": 0.30, "FL": -0.10, "PF": -0.40}
    pts = {p["label"]: p for p in doc["points"] if p["position"] == 1}
    for label, truth in injected.items():
        p = pts[label]
        assert abs(p["error_percent"] - truth) <= p["expanded_uncertainty_percent"], (label, p)
        assert 0 < p["expanded_uncertainty_percent"] < 0.1
        assert p["coverage_factor"] > 1.9 and p["decision_rule"] == "simple" and p["verdict"] == "pass"
    # position 3 never starts at the starting current: it alone fails, and the run says so
    starting = {s["position"]: s["verdict"] for s in doc["starting"]}
    assert starting == {1: "pass", 2: "pass", 3: "fail"}
    assert doc["run"]["outcome"] == "failed" and code == 1


def test_json_contract(tmp_path):
    _code, doc, _db = _run(tmp_path, EXAMPLES / "2s-board.toml", "ansi-c12.20-2s")
    assert set(doc) >= {"run", "meters", "points", "averages", "wiring", "creep", "starting"}
    assert set(doc["run"]) >= {"id", "plan", "bench", "started", "finished", "outcome", "bench_seconds",
                               "wall_seconds"}  # fmt: skip
    assert doc["run"]["bench_seconds"] > 10 * doc["run"]["wall_seconds"]  # virtual time
    for m in doc["meters"]:
        assert set(m) >= {"position", "serial", "form", "accuracy_class", "ta_a", "kh", "kt"}
    for p in doc["points"]:
        assert set(p) >= {"position", "point_id", "label", "element", "voltage_v", "current_a", "lag_deg",
                          "readings", "pulses", "gate_seconds", "error_percent", "expanded_uncertainty_percent",
                          "coverage_factor", "limit_percent", "verdict", "decision_rule"}  # fmt: skip
        assert p["element"] in ("series", "A", "B", "C")
    for c in doc["creep"] + doc["starting"]:
        assert set(c) >= {"position", "pulses", "seconds", "verdict"}


def test_dead_meter_fails_only_its_position(tmp_path):
    text = (
        (EXAMPLES / "2s-board.toml")
        .read_text()
        .replace('serial = "SIM2S-0002"', 'serial = "SIM2S-0002"\ndead = true')
    )
    bench = tmp_path / "dead.toml"
    bench.write_text(text)
    _code, doc, _db = _run(tmp_path, bench, "ansi-c12.20-2s")
    by_pos = {p["position"]: p["outcome"] for p in doc["positions"]}
    assert by_pos[2] == "no pulses"
    assert by_pos[1] == "passed"
    pos1 = [p for p in doc["points"] if p["position"] == 1]
    assert {p["label"] for p in pos1} >= {"FL", "LL", "PF"} and all(p["verdict"] == "pass" for p in pos1)


def test_wiring_fault_stops_before_accuracy_points(tmp_path):
    """Position 2 has a reversed CT on B (seen in its meter port's phasors), position 3 is dead: each fails
    alone, position 2 before any accuracy point, and position 1 is tested through."""
    code, doc, _db = _run(tmp_path, EXAMPLES / "9s-reversed-ct.toml", "ansi-c12.20-9s")
    by_pos = {w["position"]: [(f["code"], f["phases"]) for f in w["findings"]] for w in doc["wiring"]}
    assert by_pos[2] == [("ct_reversed", ["B"])]
    assert by_pos[1] == [] and by_pos[3] == []
    outcomes = {p["position"]: p["outcome"] for p in doc["positions"]}
    assert outcomes == {1: "passed", 2: "wiring fault", 3: "no pulses"}
    assert not [p for p in doc["points"] if p["position"] == 2]
    assert {p["label"] for p in doc["points"] if p["position"] == 1} >= {"FL", "LL", "PF"}
    assert code == 1


@pytest.mark.parametrize(
    "bench_edit,plan,field",
    [
        (("kh = 7.2", "kh = -7.2"), "ansi-c12.20-2s", "kh"),
        (None, "no-such-plan", "plan"),
        (('form = "2S"', 'form = "7Q"'), "ansi-c12.20-2s", "form"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, capsys, bench_edit, plan, field):
    text = (EXAMPLES / "2s-board.toml").read_text()
    if bench_edit:
        text = text.replace(*bench_edit, 1)
    bench = tmp_path / "bench.toml"
    bench.write_text(text)
    db = tmp_path / "records.sqlite"
    code = main(
        ["run", "--bench", str(bench), "--plan", plan, "--db", f"sqlite:///{db}", "--no-certificates"]
    )
    err = capsys.readouterr().err
    assert code == 2 and field in err and "allowed" in err or "must" in err
    assert not db.exists(), "bad input must not create records"


def test_bad_manifest_names_line_and_field(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("position,serial,form,accuracy_class,current_class,kh,kt\n"
                        "1,SN000001,2S,0.5,CL200,7.2,0.6\n2,SN000002,2S,0.5,CL200,7.2,zero\n")  # fmt: skip
    code = main(["run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--meters",
                 str(manifest), "--db", f"sqlite:///{tmp_path / 'r.sqlite'}", "--no-certificates"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "line 3" in err and "kt" in err
    assert not (tmp_path / "r.sqlite").exists()


def test_kill_mid_run_then_resume_without_repeating(tmp_path):
    """SIGKILL during a real-time (x200) run; the database stays consistent, the run is marked
    interrupted, and `meterbench resume` finishes it without repeating recorded points."""
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan",
         "ansi-c12.20-2s", "--db", db, "--speed", "200", "--no-certificates"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    seen = []
    try:
        for line in proc.stdout:  # wait until accuracy readings are being recorded
            seen.append(line)
            if "LL reading 1" in line:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert "LL reading 1" in "".join(seen), "the run ended before it could be killed:\n" + "".join(seen[-20:])
    store = RecordStore.open(db)
    try:
        assert store.recover_interrupted() == [1]
        before = store.run_record(1)
        done_before = store.completed_points(1)
        assert done_before, "points recorded before the kill are kept"
        assert store.verify_audit() == []
    finally:
        store.close()
    code = main(["resume", "1", "--db", db, "--no-certificates", "--speed", "0"])
    assert code in (0, 1)
    store = RecordStore.open(db)
    try:
        after = store.run_record(1)
        keys = [
            (p["position"], p["point_id"], p["test_pass"]) for p in after["points"] if p["status"] == "done"
        ]
        assert len(keys) == len(set(keys)), "a recorded point was repeated"
        labels = {p["label"] for p in after["points"] if p["status"] == "done"}
        assert {"FL", "LL", "PF", "CREEP", "STARTING"} <= labels
        assert after["run"]["status"] == "finished"
        assert len(before["points"]) < len(after["points"])
        assert store.verify_audit() == []
    finally:
        store.close()
