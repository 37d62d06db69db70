"""Safety: the simulated source's output is off on every path out of a run, and off *before* the run's
end is recorded. One test per path: normal end, abort, instrument error, timeout (overload: the source
cannot regulate), Ctrl-C, an exception in a listener, a stalled engine (watchdog), and start-up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.plans import load_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class SpyStore:
    """The real store, plus a check that the source is off whenever a run's end is recorded."""

    def __init__(self, store, physics):
        self._store, self._physics = store, physics
        self.output_at_finish: list[bool] = []

    def finish_run(self, *a, **kw):
        self.output_at_finish.append(self._physics.output_on)
        return self._store.finish_run(*a, **kw)

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.fixture
def rig(tmp_path):
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    bench = open_bench(EXAMPLES / "2s-board.toml", speed=0)
    meters = meters_from_bench(bench.config)
    physics = bench.simulator.physics
    spy = SpyStore(store, physics)

    def make(listeners=(), **settings):
        return RunKernel(bench, spy, load_plan("ansi-c12.20-2s"), meters, operator="test",
                      settings=KernelSettings(**settings), listeners=listeners)  # fmt: skip

    yield make, bench, physics, spy
    bench.close()
    store.close()


def _energised_seen(physics):
    seen = []

    def listener(ev):
        if ev.kind == "reading":
            seen.append(physics.output_on)

    return seen, listener


def test_normal_end_leaves_output_off(rig):
    make, _bench, physics, spy = rig
    seen, listener = _energised_seen(physics)
    out = make([listener]).run()
    assert seen and all(seen), "the source was on while readings were taken"
    assert out.outcome in ("passed", "failed")
    assert physics.output_on is False
    assert spy.output_at_finish == [False]


def test_abort_de_energises_immediately(rig):
    make, _bench, physics, spy = rig
    state = {}
    engine = None

    def listener(ev):
        if ev.kind == "stabilised" and ev.point_id == "FL":  # energised, about to open the gate
            assert physics.output_on
            engine.abort("operator pressed Abort")
            state["after_abort"] = physics.output_on  # before the engine's next safe point

    engine = make([listener])
    out = engine.run()
    assert state["after_abort"] is False
    assert out.outcome == "aborted" and "Abort" in out.message
    assert physics.output_on is False and spy.output_at_finish == [False]


def test_instrument_error_mid_run(rig):
    make, bench, physics, spy = rig

    def listener(ev):
        if ev.kind == "reading":
            bench.simulator.inject("reference", "garbage")

    out = make([listener]).run()
    assert out.outcome == "error"
    assert "reference" in out.message.lower() or "fluke" in out.message.lower()
    assert physics.output_on is False and spy.output_at_finish == [False]


def test_source_that_cannot_regulate_times_out_safely(rig):
    make, bench, physics, spy = rig

    def listener(ev):
        if ev.kind == "point_started" and ev.point_id == "FL":
            bench.simulator.inject("source", "overload")

    out = make([listener], stability_timeout_s=5.0).run()
    assert out.outcome == "error"
    assert physics.output_on is False and spy.output_at_finish == [False]


def test_keyboard_interrupt_de_energises_and_propagates(rig):
    make, _bench, physics, _spy = rig

    def listener(ev):
        if ev.kind == "reading":
            assert physics.output_on
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make([listener]).run()
    assert physics.output_on is False


def test_a_failing_display_is_logged_and_the_run_goes_on(rig, caplog):
    make, _bench, physics, spy = rig

    def listener(ev):
        if ev.kind == "reading":
            raise RuntimeError("display crashed")

    out = make([listener]).run()
    assert out.outcome in ("passed", "failed")  # a display's fault is not the bench's
    assert "display crashed" in caplog.text
    assert physics.output_on is False and spy.output_at_finish == [False]


def test_a_failing_store_ends_the_run_with_the_source_off(rig):
    make, _bench, physics, spy = rig
    seen = {}

    def add_reading(*a, **kw):
        seen["on"] = physics.output_on
        raise OSError("disk full")

    spy.add_reading = add_reading
    with pytest.raises(OSError, match="disk full"):  # ... and nothing unrecorded goes on
        make().run()
    assert seen["on"] is True  # it failed mid-gate ...
    assert physics.output_on is False and spy.output_at_finish == [False]
    assert spy.list_runs()[0]["outcome"] == "error"


def test_watchdog_de_energises_a_stalled_engine(rig):
    make, _bench, physics, _spy = rig
    during = {}

    def listener(ev):
        if ev.kind == "stabilised" and "stall" not in during:
            assert physics.output_on
            time.sleep(1.5)  # the engine thread hangs (a stuck driver call, a deadlock)
            during["stall"] = physics.output_on

    out = make([listener], watchdog_s=0.5).run()
    assert during["stall"] is False, "the watchdog did not switch the source off during the stall"
    assert out.outcome == "aborted" and "watchdog" in out.message
    assert physics.output_on is False


def test_start_up_puts_the_bench_in_its_safe_state(rig):
    make, bench, physics, _spy = rig
    bench.source.apply(
        {"A": __import__("instruments.interfaces").interfaces.PhaseSetting(240, 0, 30, 0)}, 60.0
    )
    bench.source.output_on()
    assert physics.output_on
    first = {}

    def listener(ev):
        if ev.kind == "run_started":
            first["on"] = physics.output_on

    make([listener]).run()
    assert first["on"] is False


def test_abort_from_another_thread_mid_gate(tmp_path):
    """A real-time run (100x): Abort from the GUI thread while the creep test's counting window is open."""
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    bench = open_bench(EXAMPLES / "2s-board.toml", speed=100)
    physics = bench.simulator.physics
    try:
        gate_open = threading.Event()

        def listener(ev):
            if ev.kind == "point_started":
                gate_open.set()

        engine = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config),
                        listeners=[listener])  # fmt: skip
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("out", engine.run()))
        t.start()
        assert gate_open.wait(20)
        deadline = time.monotonic() + 10
        while not physics.output_on and time.monotonic() < deadline:
            time.sleep(0.005)
        assert physics.output_on
        time.sleep(0.05)
        engine.abort("Esc pressed")
        assert physics.output_on is False  # off as soon as abort() returns
        t.join(20)
        assert result["out"].outcome == "aborted"
    finally:
        bench.close()
        store.close()


def test_a_technician_taking_longer_than_the_watchdog_is_not_a_stall(rig):
    """Between as-found and as-left the source is off and the engine waits for a person: however long the
    adjustment takes, the watchdog must not abort the run (it still catches a real stall, above)."""
    make, _bench, physics, _spy = rig
    seen = {}

    def adjust():
        seen["off"] = physics.output_on is False
        time.sleep(1.5)  # three watchdog periods
        return True

    out = make(watchdog_s=0.5, passes=("as-found", "as-left"), adjust=adjust).run()
    assert seen["off"] and out.outcome in ("passed", "failed") and "watchdog" not in out.message
    assert physics.output_on is False
