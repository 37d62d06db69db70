"""The simulated bench's back-to-back gates, as the kernel now reads them: their ends foreseen from the
series' opening edge (``POS<n>:STAT?`` says how long ago it opened), and readings that do not depend on
how often the calculator is asked."""

from __future__ import annotations

import pytest
from test_sim_accuracy import bench_dict, meter, settings

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config

FL = settings("2S", 240.0, 30.0, 0.0, False)


def series_errors(poll_every_s: float | None) -> tuple[list[float], float]:
    """Three one-pulse gates back to back on a noisy meter, asked every ``poll_every_s`` (None: once, at
    the end): each gate's error, and how long before the first read the series opened."""
    d = bench_dict([meter(1, noise_percent=0.05)], three_phase=False)
    with open_bench(parse_bench_config(d)) as bench:
        bench.source.apply(FL, 60.0)
        bench.source.output_on()
        calc = bench.calculators[1]
        calc.configure(0.6, 1)
        calc.start_series(3)
        t0 = bench.clock.now()
        bench.clock.sleep(0.3)  # one pulse period at 7.2 kW: the first edge has come
        age = calc.gate_age()
        assert age is not None and 0.0 <= age <= 0.3
        opened = bench.clock.now() - age
        while len(calc.results()) < 3:
            bench.clock.sleep(poll_every_s or 2.0)
        results = calc.results()
        bench.source.output_off()
    assert opened >= t0
    return [100.0 * r.meter_pulses * 0.6 / (r.ref_pulses * r.kr_wh) - 100.0 for r in results], opened - t0


def test_each_gate_of_a_series_has_its_own_noise_however_seldom_it_is_read():
    often, opened_a = series_errors(0.01)
    once, opened_b = series_errors(None)
    assert opened_a == pytest.approx(opened_b)
    assert once == pytest.approx(often, abs=1e-9)  # the meter does not wait to be asked
    assert len(set(round(e, 6) for e in once)) == 3  # three readings, three noise draws


def test_a_gate_still_waiting_for_its_first_edge_has_no_age():
    d = bench_dict([meter(1)], three_phase=False)
    with open_bench(parse_bench_config(d)) as bench:
        calc = bench.calculators[1]
        calc.configure(0.6, 1)
        calc.start_series(2)  # the source is off: no meter edge will open it
        bench.clock.sleep(1.0)
        assert calc.gate_age() is None
        assert calc.poll() == ("running", 0.0)


def messages_sent(monkeypatch) -> list[str]:
    """Every message sent to a simulated instrument from now on, in order."""
    from pyvisa_sim.highlevel import SimVisaLibrary

    sent: list[str] = []
    write = SimVisaLibrary.write

    def noted(self, session, data):
        sent.append(bytes(data).decode().strip())
        return write(self, session, data)

    monkeypatch.setattr(SimVisaLibrary, "write", noted)
    return sent


PLAN = """
id = "one-ll"
title = "LL only"
standard = "ANSI C12.20"
version = "1"
forms = ["2S"]
class_family = "ansi"
classes = ["0.5"]
decision_rule = "simple"
target_share = 0.25
limits = "ansi-c12.20-shop"
current_of = "TA"

[[points]]
id = "LL"
label = "LL"
kind = "accuracy"
element = "series"
current = 0.1
lag_deg = 0.0
voltage = 1.0
readings = 3
settle_s = 0
limit = "accuracy"
"""


def test_a_board_point_ends_with_its_last_gate_and_reads_each_position_once_per_gate(tmp_path, monkeypatch):
    """Three meters on a 3 s one-pulse LL: the point ends within 0.1 s of its slowest meter's third gate
    (it was up to a quarter gate late when polled), asking each position once how long ago its series
    opened and reading its gates once each."""

    from bench.kernel import KernelSettings, RunKernel
    from bench.records import RecordStore
    from bench.session import meters_from_bench
    from procedures.plans import load_plan_file

    sent = messages_sent(monkeypatch)

    plan_file = tmp_path / "ll.toml"
    plan_file.write_text(PLAN, encoding="utf-8")
    d = bench_dict([meter(k, serial=f"SER-{k}", noise_percent=0.01) for k in (1, 2, 3)], three_phase=False)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    ends: list[float] = []
    try:
        with open_bench(parse_bench_config(d)) as bench:
            physics = bench.simulator.physics
            edge = type(physics)._edge

            def on_edge(ph, pos, t):
                edge(ph, pos, t)
                if ph.gates[pos].state == "finished":
                    ends.append(t)

            physics._edge = on_edge.__get__(physics)
            seen: list = []
            kernel = RunKernel(bench, store, load_plan_file(plan_file), meters_from_bench(bench.config),
                               settings=KernelSettings(),
                               listeners=[lambda rec: seen.append((type(rec).__name__, bench.clock.now()))])  # fmt: skip
            del sent[:]
            out = kernel.run()
    finally:
        store.close()
    assert out.outcome == "passed" and len(ends) == 3
    result_at = next(t for name, t in seen if name == "PointResult")
    assert max(ends) <= result_at <= max(ends) + 0.1
    for pos in (1, 2, 3):
        assert sent.count(f"POS{pos}:STAT?") == 1
        assert sent.count(f"POS{pos}:RES:ALL?") <= 3


def test_an_unchanged_gate_configuration_is_not_sent_again_until_a_safe_state(monkeypatch):
    """POS<n>:CONF is a setting the counter keeps: a second point with the same Kt and pulses sends none,
    a changed one sends it, and after the safe state it is sent afresh."""
    sent = messages_sent(monkeypatch)
    d = bench_dict([meter(1)], three_phase=False)
    with open_bench(parse_bench_config(d)) as bench:
        calc = bench.calculators[1]
        for (kt, n), expected in (
            ((0.6, 1), ["POS1:CONF 0.6,1"]),
            ((0.6, 1), []),
            ((0.6, 2), ["POS1:CONF 0.6,2"]),
        ):
            del sent[:]
            calc.configure(kt, n)
            calc.settings_done()
            assert [m for m in sent if ":CONF " in m] == expected
        bench.safe_state()
        del sent[:]
        calc.configure(0.6, 2)
        assert [m for m in sent if ":CONF " in m] == ["POS1:CONF 0.6,2"]
