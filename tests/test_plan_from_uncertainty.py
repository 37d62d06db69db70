"""Issue 14 item 1: plans that choose readings, pulses and settling from the uncertainty target.

A 2S FL/LL/PF board pass on the example 2S board's simulator (faults removed). The plan's fixed pass
(3 readings x 1 pulse, 5 s settle each) runs first and is the bench's history; a pass with
``test_time = "from-uncertainty"`` then pools the bench's repeatability from those readings, takes the
least bench time whose U stays within target_share x limit, and settles on measured stability alone.
Every U here is read back from the records, as the certificate states it.
"""

from __future__ import annotations

import math
import statistics
import tomllib

import pytest

from bench.certify import build_certificate_data
from bench.records import RecordStore
from benchmarks.bench_plan_time import SHIPPED, board_pass_plan, clean_board, point_rows, run_pass
from procedures.errors import InputError
from procedures.metrology import error_budget, plan_from_uncertainty
from procedures.plans import parse_plan

BUDGET_TARGET_S = 12.0


@pytest.fixture
def board(tmp_path):
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    yield clean_board(tmp_path), store
    store.close()


def test_from_uncertainty_pass_meets_u_target_on_every_point_in_less_bench_time(board):
    path, store = board
    fixed_out, fixed = run_pass(path, store, board_pass_plan("fixed"))
    out, planned = run_pass(path, store, board_pass_plan("from-uncertainty"))
    assert fixed_out.outcome == out.outcome == "passed"
    rows = point_rows(planned, 0.25)
    assert len(rows) == 3 * 3  # 3 positions x LL, PF, FL
    for r in rows:
        assert r["u"] <= r["allowed"], r  # U <= limit/4 on every point of every position
        assert r["readings"] == 1 and r["basis"].startswith("from 9 readings pooled over 1 earlier run")
    assert out.bench_seconds <= BUDGET_TARGET_S < fixed_out.bench_seconds
    assert out.bench_seconds < 0.5 * fixed_out.bench_seconds
    # the repeatability component is the bench's pooled one, with its degrees of freedom
    for q in planned["points"]:
        rep = [c for c in q["result"]["budget"] if c["name"].startswith("Repeatability")]
        assert len(rep) == 1 and rep[0]["kind"] == "A" and rep[0]["dof"] == 6
        assert "pooled over 1 earlier run of this bench" in rep[0]["basis"]


def test_pooled_repeatability_is_the_within_point_scatter_of_the_bench_s_earlier_readings(board):
    path, store = board
    _, fixed = run_pass(path, store, board_pass_plan("fixed"))
    _, planned = run_pass(path, store, board_pass_plan("from-uncertainty"))
    ll = [q for q in fixed["points"] if q["label"] == "LL"]
    groups = [[x["error_percent"] for x in q["readings"]] for q in ll]
    ss = sum(sum((v - statistics.fmean(g)) ** 2 for v in g) for g in groups)
    expected = math.sqrt(ss / sum(len(g) - 1 for g in groups))
    rep = next(
        c
        for q in planned["points"]
        if q["label"] == "LL"
        for c in q["result"]["budget"]
        if c["name"].startswith("Repeatability")
    )
    assert rep["u_percent"] == pytest.approx(expected)  # one reading: s_p / sqrt(1)


def test_without_bench_history_the_plan_falls_back_to_its_readings_and_says_so(board):
    path, store = board
    out, record = run_pass(path, store, board_pass_plan("from-uncertainty"))
    assert out.outcome == "passed"
    for q in record["points"]:
        assert len(q["readings"]) == 3  # the plan's readings, as written
        assert q["planned"]["repeatability_basis"].startswith(
            "from this point's own 3 readings (this bench has no history at comparable points"
        )
        rep = [c for c in q["result"]["budget"] if c["name"].startswith("Repeatability")]
        assert rep[0]["name"] == "Repeatability of 3 readings" and rep[0]["dof"] == 2
    fixed_out, _ = run_pass(path, store, board_pass_plan("fixed"))
    assert out.bench_seconds == pytest.approx(fixed_out.bench_seconds, rel=0.1)  # settled as written too


def test_certificate_states_the_basis_of_the_repeatability_component(board):
    path, store = board
    _, fixed = run_pass(path, store, board_pass_plan("fixed"))
    assert not any("uncertainty target" in d for d in build_certificate_data(fixed, 1).deviations)
    _, planned = run_pass(path, store, board_pass_plan("from-uncertainty"))
    (line,) = [d for d in build_certificate_data(planned, 1).deviations if "uncertainty target" in d]
    assert "U <= 0.25 x limit" in line
    assert "LL 1 reading(s) x 1 pulse(s), PF 1 reading(s) x 1 pulse(s), FL 1 reading(s) x 1 pulse(s)" in line
    assert "repeatability from 9 readings pooled over 1 earlier run of this bench, 6 degrees of freedom" in line


def _plan_with(top: dict | None = None, point: dict | None = None):
    raw = tomllib.loads(SHIPPED.read_text())
    raw.update(top or {})
    raw["points"][-1].update(point or {})
    return parse_plan(raw, "test-plan.toml", b"x")


def test_test_time_values_are_checked_and_apply_to_accuracy_points_only():
    with pytest.raises(InputError) as exc:
        _plan_with({"test_time": "auto"})
    assert "test_time" in str(exc.value) and "from-uncertainty" in str(exc.value)
    assert "\n" not in str(exc.value)
    with pytest.raises(InputError) as exc:
        _plan_with(point={"test_time": "quick"})
    assert "points[4](FL).test_time" in str(exc.value)
    raw = tomllib.loads(SHIPPED.read_text())
    raw["points"][0]["test_time"] = "from-uncertainty"  # the creep point
    with pytest.raises(InputError, match="only accuracy points plan theirs"):
        parse_plan(raw, "test-plan.toml", b"x")
    # plan-level: every accuracy point; a point may keep its time as written
    plan = _plan_with({"test_time": "from-uncertainty"}, {"test_time": "fixed"})
    resolved = {p.id: p.test_time for p in plan.resolve("2S", "0.5").points}
    assert resolved == {"creep": "fixed", "starting": "fixed", "LL": "from-uncertainty",
                        "PF": "from-uncertainty", "FL": "fixed"}  # fmt: skip


def _budget(s_percent: float, dof: float):
    def expanded(readings: int, ref_pulses: float) -> float:
        return error_budget(
            [0.0] * readings,
            ref_cal_u_percent=0.01,
            ref_pulses_per_gate=ref_pulses,
            repeatability_pooled=(s_percent, dof, "test"),
        ).expanded_percent

    return expanded


def test_planner_takes_more_readings_or_pulses_only_when_the_target_needs_them():
    # a steady bench: one reading of one pulse (2S FL: 7.2 kW, Kt 0.6 Wh, reference 1e-4 Wh/pulse)
    calm = plan_from_uncertainty(7200.0, 0.6, 1e-4, 0.5, _budget(0.005, 20), max_readings=3)
    assert (calm.readings, calm.meter_pulses) == (1, 1) and calm.expected_u_percent <= 0.125
    # a noisy bench: one reading cannot reach 0.125 %, three can
    noisy = plan_from_uncertainty(7200.0, 0.6, 1e-4, 0.5, _budget(0.08, 20), max_readings=3)
    assert noisy.readings > 1 and noisy.expected_u_percent <= 0.125
    # a coarse reference: more pulses instead
    coarse = plan_from_uncertainty(7200.0, 0.6, 0.01, 0.5, _budget(0.005, 20), max_readings=3)
    assert coarse.readings == 1 and coarse.meter_pulses > 1 and coarse.expected_u_percent <= 0.125
    with pytest.raises(InputError, match="target_share"):
        plan_from_uncertainty(7200.0, 0.6, 1e-4, 0.5, _budget(0.5, 20), max_readings=3)
