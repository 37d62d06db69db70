"""Instrument faults in the middle of a test (issue 12): a source overload is reported as an overload of the
source, not as a meter that gives no pulses; the points open when an instrument error ends the run are closed
in the records, saying why; the source is off first, as always."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.kernel import records as r
from bench.records import RecordStore
from bench.service import RunService
from bench.session import RunRequest

ROOT = Path(__file__).resolve().parent.parent


def _run_with(db: str, bench: str, plan: str, fault) -> tuple:
    """Run ``plan`` and call ``fault(simulation)`` at the first reading taken; (outcome, kernel)."""
    box: dict = {}

    def at_first_reading(rec):
        if type(rec) is r.Reading and not box.get("done"):
            box["done"] = True
            fault(box["kernel"].bench.simulator)

    service = RunService(db_url=db)
    outcome = service.run(
        RunRequest(bench_file=str(ROOT / "examples" / bench), plan=plan, db_url=db),
        [at_first_reading],
        on_kernel=lambda k: box.update(kernel=k),
    )
    service.store.close()
    return outcome, box["kernel"]


def test_a_source_overload_mid_test_is_an_overload_of_the_source_not_no_pulses(tmp_path):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    outcome, kernel = _run_with(
        db, "2s-board.toml", "ansi-c12.20-2s", lambda sim: sim.inject("source", "overload")
    )
    assert outcome.outcome == "error"
    assert "overload" in outcome.message and "source" in outcome.message, outcome.message
    assert "no pulses" not in outcome.message and "pickup" not in outcome.message
    physics = kernel.bench.simulator.physics
    assert physics.output_on is False  # off, whatever else
    with RecordStore.open(db) as store:
        record = store.run_record(outcome.run_id)
        assert record["run"]["outcome"] == "error"
        assert not [p for p in record["points"] if p["status"] == "running"], "a point was left running"
        cut = [p for p in record["points"] if p["status"] == "failed"]
        assert cut and all("overload" in p["message"] for p in cut)
        assert not any("no pulses" in (p["message"] or "") for p in record["points"])
        # no meter is blamed: each position tested when the source tripped ends in the run's error
        assert {p["outcome"] for p in record["positions"]} <= {"error", "failed"}
        assert store.verify_audit() == []


def test_the_cli_says_overload_and_exits_as_an_instrument_error(tmp_path, capsys, monkeypatch):
    from instruments import bench as bench_module

    real_open = bench_module.open_bench

    def open_and_arm(*a, **kw):  # the source trips as soon as it carries current at the first accuracy point
        b = real_open(*a, **kw)
        b.simulator.physics.max_current_a = 2.0  # below the LL point's 3 A: the amplifier cannot regulate
        return b

    monkeypatch.setattr(bench_module, "open_bench", open_and_arm)
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    code = main(["run", "--bench", str(ROOT / "examples" / "2s-board.toml"), "--plan", "ansi-c12.20-2s",
                 "--db", db, "--no-certificates"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 3, out
    assert "overload" in out and "no pulses" not in out


@pytest.mark.refusals_ok
def test_points_open_when_an_instrument_stops_answering_are_closed(tmp_path):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"

    def mute(sim):
        for _ in range(50):
            sim.inject("calculators", "no_reply")

    outcome, kernel = _run_with(db, "2s-board.toml", "ansi-c12.20-2s", mute)
    assert outcome.outcome == "error", outcome.message
    assert kernel.bench.simulator.physics.output_on is False
    with RecordStore.open(db) as store:
        record = store.run_record(outcome.run_id)
        assert not [p for p in record["points"] if p["status"] == "running"], "a point was left running"
        closed = [p for p in record["points"] if p["status"] == "failed"]
        assert closed and all(p["message"].startswith("run ended (error)") for p in closed)
        assert store.verify_audit() == []


def test_a_source_that_drops_its_output_in_the_creep_window_stops_the_run_within_seconds_not_at_its_end(
    tmp_path,
):
    """The creep window is 600 s with no pulses to read; the source is asked every health_check_s (10 s)
    whether it still holds its output, so an output that goes off 0 s into the window ends the run about
    10 s later, as an error of the source, not a creep result."""
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    box: dict = {}

    def trip_at_creep(rec):
        if type(rec) is r.Waiting and rec.what == "creep" and not box.get("at"):
            box["at"] = box["kernel"].bench.clock.now()
            box["kernel"].bench.simulator.physics.set_output(
                False
            )  # STBY pressed at the unit: it queues nothing

    service = RunService(db_url=db)
    outcome = service.run(
        RunRequest(bench_file=str(ROOT / "examples" / "2s-board.toml"), plan="ansi-c12.20-2s", db_url=db),
        [trip_at_creep],
        on_kernel=lambda k: box.update(kernel=k),
    )
    service.store.close()
    stopped = box["kernel"].bench.clock.now()
    assert outcome.outcome == "error" and "output went off" in outcome.message, outcome.message
    assert stopped - box["at"] < 12.0, f"noticed {stopped - box['at']:.0f} s into the 600 s window"
    assert box["kernel"].bench.simulator.physics.output_on is False
