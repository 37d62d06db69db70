"""Retest a single point of a finished run: the new result replaces the old one, the old one stays on the
record (superseded, with the reason), outcomes follow, and the source is off afterwards."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.errors import InputError
from procedures.plans import load_plan

ROOT = Path(__file__).resolve().parents[1]
PLAN = "ansi-c12.20-2s"


@pytest.fixture
def board(tmp_path):
    """examples/2s-board.toml with socket 2 reading -1.5 % at FL (outside the limit; a disturbed gate)."""
    text = (ROOT / "examples" / "2s-board.toml").read_text()
    text = text.replace(
        "error_curve = [[1.0, 0.0, 0.05]]",
        "error_curve = [[0.1, 0.0, 0.05], [1.0, 0.0, -1.5], [1.0, 60.0, 0.05]]",
    )
    assert "-1.5" in text
    path = tmp_path / "2s.toml"
    path.write_text(text)
    bench = open_bench(path, speed=0)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    first = RunKernel(bench, store, load_plan(PLAN), meters_from_bench(bench.config)).run()
    yield bench, store, first
    bench.close()
    store.close()


def _engine(bench, store, events=None):
    return RunKernel(bench, store, load_plan(PLAN), meters_from_bench(bench.config), settings=KernelSettings(),
                  listeners=[events.append] if events is not None else [])  # fmt: skip


def _fl(record, pos):
    return next(p for p in record["points"] if p["position"] == pos and p["point_id"] == "FL")


def test_retest_replaces_the_result_keeps_the_old_one_and_recomputes_the_outcome(board):
    bench, store, first = board
    assert first.positions[2] == "failed"
    before = store.run_record(first.run_id)
    old_fl = _fl(before, 2)
    assert old_fl["result"]["verdict"] == "fail"

    # the technician reseats the meter: it now reads +0.05 % at FL
    state = bench.simulator.physics.meters[2]
    state.spec = dataclasses.replace(
        state.spec, error_curve=((0.1, 0.0, 0.05), (1.0, 0.0, 0.05), (1.0, 60.0, 0.05))
    )
    events = []
    out = _engine(bench, store, events).retest(first.run_id, "FL", positions=[2], reason="meter not seated")
    assert not bench.simulator.physics.output_on

    record = store.run_record(first.run_id)
    new_fl = _fl(record, 2)
    assert new_fl["id"] != old_fl["id"] and new_fl["result"]["verdict"] == "pass"
    assert abs(new_fl["result"]["error_percent"] - 0.05) < 3 * new_fl["result"]["expanded_percent"]
    assert new_fl["planned"]["retest_of"] == old_fl["id"]
    assert new_fl["planned"]["retest_reason"] == "meter not seated"
    old = [p for p in record["superseded"]["points"] if p["id"] == old_fl["id"]]
    assert old and old[0]["superseded_by"] == new_fl["id"] and old[0]["result"]["verdict"] == "fail"
    # only socket 2's FL was measured again; socket 1 keeps its single FL
    assert [p["position"] for p in record["superseded"]["points"]] == [2]
    assert sum(1 for e in events if e.kind == "point_done") == 1
    outcomes = {p["position"]: p["outcome"] for p in record["positions"]}
    assert outcomes[2] == "passed" and out.positions[2] == "passed"
    assert outcomes[3] == before["positions"][2]["outcome"] == "failed"  # socket 3 creeps: still failed
    assert (
        record["run"]["outcome"] == "failed"
        and record["run"]["bench_seconds"] > before["run"]["bench_seconds"]
    )
    assert store.verify_audit() == []


def test_a_retest_that_fails_again_leaves_the_position_failed(board):
    bench, store, first = board
    out = _engine(bench, store).retest(first.run_id, "FL", positions=[2], reason="check")
    assert out.positions[2] == "failed"
    assert _fl(store.run_record(first.run_id), 2)["result"]["verdict"] == "fail"


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"point_id": "FL", "reason": " "}, "reason", "needs a reason"),
        ({"point_id": "XX", "reason": "r"}, "--point", "FL"),
        ({"point_id": "creep", "reason": "r"}, "--point", "run the plan again"),
        ({"point_id": "FL", "reason": "r", "positions": [9]}, "--position", "1, 2, 3"),
        ({"point_id": "FL", "reason": "r", "test_pass": "as-left"}, "--pass", "as-found"),
    ],
)
def test_bad_retest_requests_name_the_field_and_write_nothing(board, kwargs, field, words):
    bench, store, first = board
    before = store.run_record(first.run_id)
    with pytest.raises(InputError) as err:
        kwargs = dict(kwargs)
        _engine(bench, store).retest(first.run_id, kwargs.pop("point_id"), **kwargs)
    assert err.value.field == field and words in str(err.value)
    after = store.run_record(first.run_id)
    assert re.sub(r'"heartbeat_at": "[^"]*"', "", str(after)) == re.sub(
        r'"heartbeat_at": "[^"]*"', "", str(before)
    )


def test_retest_from_the_command_line(tmp_path, capsys):
    from bench.cli import main

    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    bench = str(ROOT / "examples" / "2s-board.toml")
    certs = tmp_path / "certs"
    main(["run", "--bench", bench, "--plan", PLAN, "--db", db, "--certificates", str(certs)])
    first = sorted(certs.glob("*-P02.pdf"))
    capsys.readouterr()
    code = main(["retest", "1", "--point", "FL", "--position", "2", "--reason", "board knocked", "--db", db,
                 "--certificates", str(certs), "--json", str(tmp_path / "r.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1  # socket 3 still fails its starting test: the run stays failed
    assert "Retested" in out and "board knocked" in out
    again = sorted(certs.glob("*-P02-R1.pdf"))
    assert len(first) == 1 and len(again) == 1  # issued again under a revision number, never overwritten
    assert sorted(certs.glob("*.pdf")) == sorted([*certs.glob("*-P0[13].pdf"), *first, *again])
    main(["verify", str(first[0]), "--db", db])
    assert f"SUPERSEDED by certificate {again[0].stem}" in capsys.readouterr().out
    main(["verify", str(again[0]), "--db", db])
    assert "content matches run 1" in capsys.readouterr().out
    retests = json.loads((tmp_path / "r.json").read_text())["retests"]
    assert [(r["position"], r["point_id"], r["reason"]) for r in retests] == [(2, "FL", "board knocked")]
    assert retests[0]["superseded"]["verdict"] == "pass" and retests[0]["current"]["verdict"] == "pass"
    assert retests[0]["superseded"]["point_row"] < retests[0]["current"]["point_row"]
    code = main(["retest", "1", "--point", "NOPE", "--reason", "x", "--db", db])
    err = capsys.readouterr().err
    assert code != 0 and "--point" in err and "FL" in err


def test_the_certificate_states_the_retest_and_the_superseded_result(board):
    from bench.certify import build_certificate_data

    bench, store, first = board
    _engine(bench, store).retest(first.run_id, "FL", positions=[2], reason="board knocked during the FL gate")
    data = build_certificate_data(store.run_record(first.run_id), 2)
    text = [d for d in data.deviations if "measured again" in d]
    assert (
        len(text) == 1
        and "board knocked during the FL gate" in text[0]
        and "-1.4" in text[0]
        and "FAIL" in text[0]
    )
    assert [p.label for p in data.points].count("FL") == 1  # the current FL only
    other = build_certificate_data(store.run_record(first.run_id), 1)
    assert not [d for d in other.deviations if "measured again" in d]


def test_a_wiring_fault_is_not_retested_away(tmp_path):
    """A position stopped by its wiring check keeps that diagnosis: a retest of FL would measure a
    mis-wired meter and blame the meter."""
    bench = open_bench(ROOT / "examples" / "9s-reversed-ct.toml", speed=0)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        plan = load_plan("ansi-c12.20-9s")
        first = RunKernel(bench, store, plan, meters_from_bench(bench.config)).run()
        assert first.positions[2] == "wiring fault" and first.positions[3] == "no pulses"
        with pytest.raises(InputError, match="wiring check") as err:
            RunKernel(bench, store, plan, meters_from_bench(bench.config)).retest(
                first.run_id, "FL", positions=[2], reason="fixed the CT"
            )
        assert err.value.field == "--position"
        out = RunKernel(bench, store, plan, meters_from_bench(bench.config)).retest(
            first.run_id, "FL", reason="again"
        )
        assert out.positions[2] == "wiring fault"  # not chosen by default
        assert out.positions[3] == "no pulses"  # still dead: the diagnosis stays
        assert not bench.simulator.physics.output_on
    finally:
        bench.close()
        store.close()


def test_export_marks_the_superseded_result(board):
    bench, store, first = board
    _engine(bench, store).retest(first.run_id, "FL", positions=[2], reason="again")
    rows = [r for r in store.point_rows(run_id=first.run_id) if r["point_id"] == "FL" and r["position"] == 2]
    assert len(rows) == 2
    old, new = sorted(rows, key=lambda r: r["point_row"])
    assert old["superseded_by"] == new["point_row"] and new["superseded_by"] is None
