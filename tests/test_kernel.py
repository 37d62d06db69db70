"""The run kernel's declared state machine, the capability check before anything is energised, and the
store's heartbeat during a run (a second host opening the database mid-run must not end it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from bench.kernel import IllegalTransition, KernelSettings, RunKernel, RunState
from bench.kernel.states import RUN_TRANSITIONS, StateMachine
from bench.kinds import check_capabilities, get_kind, kinds
from bench.records import RecordStore
from bench.records import models as m
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.errors import InputError
from procedures.plans import load_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_an_illegal_run_transition_raises():
    sm = StateMachine(RUN_TRANSITIONS, RunState.PREPARING)
    sm.to(RunState.PRE_CHECK)
    sm.to(RunState.RUNNING)
    sm.to(RunState.FINISHED)
    with pytest.raises(IllegalTransition, match="finished -> running"):
        sm.to(RunState.RUNNING)
    with pytest.raises(IllegalTransition):
        StateMachine(RUN_TRANSITIONS, RunState.PREPARING).to(RunState.FINISHED)  # a run that never ran


def test_every_end_is_terminal_and_every_live_state_can_stop():
    for state, nxt in RUN_TRANSITIONS.items():
        if state.ended:
            assert not nxt
        else:
            assert {RunState.ABORTED, RunState.INTERRUPTED, RunState.ERROR} <= nxt


def test_every_kind_a_plan_may_name_has_a_plug_in_and_every_plug_in_a_plan_kind():
    from procedures.plans import KINDS

    assert set(KINDS) == set(kinds())  # a new kind: its plan rules in procedures, its module in bench/kinds


def test_the_kinds_are_registered_and_an_unknown_kind_names_them():
    assert set(kinds()) == {"accuracy", "creep", "starting", "wiring", "register", "influence", "demand",
                            "clock", "tou", "identity"}  # fmt: skip
    assert get_kind("accuracy").retestable and not get_kind("creep").retestable
    with pytest.raises(InputError) as exc:
        get_kind("soak", where="points.D.kind")
    assert exc.value.field == "points.D.kind" and "register" in str(exc.value)


def _bench(**kw):
    base = {"name": "sp-bench", "three_phase_source": False, "capabilities": {}, "meter_ports": {}}
    return SimpleNamespace(**{**base, **kw})


def _plan(*points):
    return SimpleNamespace(points=tuple(SimpleNamespace(id=i, kind=k, element=e) for i, k, e in points))


def test_an_element_point_on_a_series_parallel_bench_is_refused_naming_point_and_capability():
    with pytest.raises(InputError) as exc:
        check_capabilities(_bench(), _plan(("FL", "accuracy", "series"), ("FL-A", "accuracy", "A")))
    assert exc.value.field == "points.FL-A" and "single-phase series-parallel" in str(exc.value)
    check_capabilities(_bench(three_phase_source=True), _plan(("FL-A", "accuracy", "A")))


def test_a_register_point_on_a_bench_without_meter_ports_is_refused():
    with pytest.raises(InputError) as exc:
        check_capabilities(_bench(), _plan(("REG", "register", "series")))
    assert exc.value.field == "points.REG" and "meter port" in str(exc.value)


def test_a_declared_capability_refuses_before_anything_is_energised(tmp_path):
    from instruments.interfaces import Capabilities

    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    bench = open_bench(EXAMPLES / "2s-board.toml", speed=0)
    try:
        bench.capabilities = {**bench.capabilities, "calculators": Capabilities(pulse_count=False)}
        kernel = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config))
        with pytest.raises(InputError, match="without a gate"):
            kernel.run()
        assert bench.simulator.physics.output_on is False
        assert store.list_runs() == []  # refused before the run was recorded
    finally:
        bench.close()
        store.close()


def test_a_second_host_opening_the_database_mid_run_leaves_the_run_running(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    store = RecordStore.open(url)
    bench = open_bench(EXAMPLES / "2s-board.toml", speed=0)
    seen = {}

    def listener(ev):
        if ev.kind == "run_started":
            # as if the run had been going for ten minutes since its last sign of life
            with store._engine.begin() as conn:  # noqa: SLF001 - test reaches behind the store on purpose
                old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=600)
                conn.execute(sa.update(m.runs).values(heartbeat_at=old.replace(tzinfo=None)))
        if ev.kind == "point_done" and "recovered" not in seen:
            import time

            time.sleep(0.3)  # a gate in progress: the heartbeat keeps going meanwhile
            other = RecordStore.open(url)
            with monkeypatch.context() as mp:
                mp.setattr("bench.records.store.socket.gethostname", lambda: "another-bench-pc")
                seen["recovered"] = other.recover_interrupted()  # the other host's start-up
            other.close()

    try:
        kernel = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config),
                           settings=KernelSettings(heartbeat_s=0.05), listeners=[listener])  # fmt: skip
        out = kernel.run()
    finally:
        bench.close()
    assert seen["recovered"] == []  # the other host saw a live run
    assert out.outcome in ("passed", "failed")
    assert store.run_record(out.run_id)["run"]["status"] == "finished"
    store.close()


class _Source:
    def __init__(self, on_after_off: bool) -> None:
        self.on, self.stays_on = True, on_after_off

    def output_off(self) -> None:
        self.on = self.stays_on

    def output_is_on(self) -> bool:
        return self.on


class _Bench:
    def __init__(self, problems=None, stays_on=False) -> None:
        self.source = _Source(stays_on)
        self.calls: list[str] = []
        if problems is not None:
            self.confirm_safe = lambda: (self.calls.append("confirm"), problems)[1]

    def safe_state(self):
        self.calls.append("safe")
        self.source.output_off()
        return []


def test_de_energise_asks_the_bench_to_confirm_its_safe_state_after_switching_off():
    from bench.safety import de_energise

    ok = _Bench(problems=[])
    assert de_energise(ok) == [] and ok.calls == ["safe", "confirm"]  # off FIRST, then confirmed
    bad = _Bench(problems=["Fluke 6105A: the output still reads ON (OUTP:STAT? = 1) after switching off"])
    words = [str(e) for e in de_energise(bad)]
    assert any("still reads ON" in w for w in words) and any("emergency stop" in w for w in words)
    # a bench that cannot confirm itself: the source's output state is read back
    assert de_energise(_Bench()) == []
    assert any("emergency stop" in str(e) for e in de_energise(_Bench(stays_on=True)))


def test_a_source_that_will_not_confirm_off_ends_the_run_in_e_stop(tmp_path):
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    bench = open_bench(EXAMPLES / "2s-board.toml", speed=0)
    try:
        bench.confirm_safe = lambda: ["6105A: the output still reads ON after switching off"]
        kernel = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config))
        out = kernel.run()
        assert kernel.state is RunState.E_STOP
        assert out.outcome == "error" and out.message.startswith("E-STOP") and "emergency stop" in out.message
        record = store.run_record(out.run_id)
        assert record["run"]["outcome"] == "error"
        assert record["points"] == []  # a source that cannot confirm off at the start is never energised
    finally:
        del bench.confirm_safe
        bench.close()
        store.close()
