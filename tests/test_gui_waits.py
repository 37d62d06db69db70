"""Time remaining on a run's long waits, in the window: warm-up, creep and starting windows, long gates."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from test_gui_window import RUN_TIMEOUT_MS, windows  # noqa: E402

from bench.gui import waits  # noqa: E402
from bench.gui.waits import WaitBar, clock_text  # noqa: E402
from bench.kernel import records as r  # noqa: E402


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def stamped(rec, bench_time: float):
    object.__setattr__(rec, "bench_time", bench_time)
    return rec


def test_a_creep_window_counts_down_on_the_bench_clock_and_a_pause_freezes_it(qtbot, monkeypatch):
    bar = WaitBar()
    qtbot.addWidget(bar)
    bar.rate = 1.0  # a real bench: one bench second per second
    wall = [1000.0]
    monkeypatch.setattr(waits.time, "monotonic", lambda: wall[0])
    bar.on_event(stamped(r.Waiting(what="creep", seconds=600.0), 100.0))
    assert not bar.isHidden() and bar.label.text() == "CREEP window: 10:00 left of 10:00"
    wall[0] += 30.0
    bar.tick()
    assert bar.label.text() == "CREEP window: 9:30 left of 10:00" and bar.bar.value() == 50
    bar.on_event(stamped(r.Paused(), 130.0))
    wall[0] += 300.0  # paused: the window does not run on
    bar.tick()
    assert bar.label.text() == "CREEP window: 9:30 left of 10:00 — PAUSED"
    bar.on_event(stamped(r.CountResult(position=1, test_kind="creep"), 700.0))
    assert bar.isHidden() and bar.what == ""


def test_a_long_gate_names_its_point_and_a_reading_ends_it(qtbot, monkeypatch):
    bar = WaitBar()
    qtbot.addWidget(bar)
    bar.rate = 10.0  # a simulation at 10 x real time
    wall = [50.0]
    monkeypatch.setattr(waits.time, "monotonic", lambda: wall[0])
    bar.on_event(stamped(r.Waiting(what="gate", seconds=90.0), 20.0), "LL")
    wall[0] += 3.0
    bar.tick()
    assert bar.label.text() == "GATE LL: 1:00 left of 1:30"
    bar.on_event(stamped(r.Reading(position=1, point_id="LL"), 110.0))
    assert bar.isHidden()
    assert clock_text(3725.2) == "1:02:06" and clock_text(0.2) == "0:01"


def test_the_window_shows_the_warm_up_and_the_creep_window_with_time_remaining(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    w.warmup_spin.setValue(60)
    held, release = [], threading.Event()
    seen = {}

    def hold(ev):  # in the engine's thread: hold the run at the start of each long wait
        if ev.kind in ("warmup", "waiting") and len(held) < 2:
            held.append(ev.kind if ev.kind == "warmup" else ev.data["what"])
            release.wait(10)

    w.worker.listeners.append(hold)
    assert w.start_run()
    try:
        for want in ("warmup", "creep"):
            qtbot.waitUntil(lambda want=want: bool(held) and held[-1] == want, timeout=RUN_TIMEOUT_MS)
            # the bar is still up from the warm-up when the creep record is held: wait for it to say creep
            prefix = {"warmup": "WARM-UP", "creep": "CREEP"}[want]
            qtbot.waitUntil(
                lambda prefix=prefix: w.wait_bar.isVisible() and w.wait_bar.label.text().startswith(prefix),
                timeout=5000,
            )
            seen[want] = w.wait_bar.label.text()
            release.set()
            release.clear()
    except BaseException:
        w.abort_run()  # a failed wait must not leave the run going (closing would ask)
        raise
    finally:
        release.set()
        qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert seen["warmup"] == "WARM-UP: 1:00 left of 1:00"
    assert seen["creep"] == "CREEP window: 10:00 left of 10:00"
    assert not w.wait_bar.isVisible()  # the run has ended: no wait shown


def test_the_kernel_announces_its_long_waits_with_their_planned_length(tmp_path):
    from test_gui_window import ROOT

    from bench.kernel import RunKernel
    from bench.records import RecordStore
    from bench.session import meters_from_bench
    from instruments.bench import open_bench
    from procedures.plans import load_plan

    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    bench = open_bench(ROOT / "examples" / "2s-board.toml", speed=0)
    waited = []

    def listen(ev) -> None:
        if ev.kind == "waiting":
            waited.append((ev.data["what"], ev.data["seconds"]))

    try:
        meters = meters_from_bench(bench.config)
        RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters, listeners=[listen]).run()
    finally:
        bench.close()
        store.close()
    assert ("creep", 600.0) in waited and ("starting", 600.0) in waited
    assert all(s >= r.LONG_WAIT_S for _, s in waited)
