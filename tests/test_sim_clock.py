"""Bench time: a 60 s gate costs no wall time on the virtual clock and about 60/N s on an N x clock."""

from __future__ import annotations

import time

import pytest
from test_sim_accuracy import bench_dict, meter, settings

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config
from instruments.clock import RealClock, ScaledClock, VirtualClock, clock_for_speed
from instruments.interfaces import wait_until

# 2S FL is 7200 W: 120 pulses of 1 Wh take 60 s
GATE_PULSES, KT = 120, 1.0


def gate_wall_seconds(speed: float) -> tuple[float, float]:
    d = bench_dict([meter(1, kt=KT)], three_phase=False)
    with open_bench(parse_bench_config(d), speed=speed) as bench:
        bench.source.apply(settings("2S", 240.0, 30.0, 0.0, False), 60.0)
        bench.source.output_on()
        calc = bench.calculators[1]
        calc.configure(KT, GATE_PULSES)
        t = time.monotonic()
        calc.start()
        wait_until(bench.clock, lambda: calc.poll()[0] == "finished", 600.0, 2.0, "gate")
        wall = time.monotonic() - t
        return wall, calc.result().gate_seconds


def test_virtual_time_gate_of_a_minute_takes_no_wall_time():
    wall, gate = gate_wall_seconds(0)
    assert gate == pytest.approx(60.0, rel=1e-3)
    assert wall < 0.5


def test_scaled_clock_runs_about_n_times_real_time():
    wall, gate = gate_wall_seconds(600)
    assert gate == pytest.approx(60.0, rel=0.02)
    assert 0.08 <= wall <= 0.6  # 60 s / 600 = 0.1 s, plus up to one 2 s poll (3.3 ms) and I/O


def test_clocks():
    v = VirtualClock()
    v.sleep(12.5)
    assert v.now() == 12.5
    with pytest.raises(ValueError):
        v.sleep(-1)
    s = ScaledClock(1000)
    t = time.monotonic()
    s.sleep(5.0)
    assert 0.004 <= time.monotonic() - t < 0.2 and s.now() >= 5.0
    assert isinstance(clock_for_speed(0), VirtualClock)
    assert isinstance(clock_for_speed(None), RealClock)
    assert isinstance(clock_for_speed(10), ScaledClock)
