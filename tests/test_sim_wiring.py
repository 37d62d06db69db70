"""Wiring faults injected in the simulator show in the phasors at the socket as standards.md §4 says, and the
meter registers what the table says (measured through the drivers).

The bench's reference here is a Fluke 6105A, a source whose "readings" are its own settings: it cannot see
a socket, so the phasors at the socket are read through the meter's port (its site diagnostics)."""

from __future__ import annotations

import pytest
from test_sim_accuracy import bench_dict, measure, meter, settings

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config


def reference_angles(wiring: list[str], lag: float = 0.0, rotation: str = "ABC"):
    """``rotation`` is the board's supply (``[simulation] rotation``: the source's B and C reach the board
    swapped). The source is set for its ordinary ABC output, as a bench that does not know its cabling is
    reversed would set it, so a CBA board presents a correct CBA service to the socket. (Before rotation
    was physical, this test set the source itself to CBA on an ignored key: the same service at the socket;
    on today's CBA board that would undo the swap and give ABC.)"""
    m = meter(1, "9S", 120.0, "CL20", 0.15, wiring=wiring)
    cfg = parse_bench_config(bench_dict([m], three_phase=True, reference_position=1, rotation=rotation))
    with open_bench(cfg) as bench:
        bench.source.apply(settings("9S", 120.0, 2.5, lag, True), 60.0)
        bench.source.output_on()
        r = bench.read_position_phasors(1)
        bench.source.output_off()
    v = tuple(round(r.phases[p].voltage_lag_deg) % 360 for p in "ABC")
    i = tuple(round(r.phases[p].current_lag_deg) % 360 for p in "ABC")
    signs = tuple("+" if r.phases[p].watts > 1 else "-" if r.phases[p].watts < -1 else "0" for p in "ABC")
    return v, i, signs


@pytest.mark.parametrize(
    "wiring,lag,rotation,v,i,signs",
    [
        ([], 0.0, "ABC", (0, 120, 240), (0, 120, 240), ("+", "+", "+")),
        ([], 0.0, "CBA", (0, 240, 120), (0, 240, 120), ("+", "+", "+")),
        ([], 60.0, "ABC", (0, 120, 240), (60, 180, 300), ("+", "+", "+")),
        (["ct_reversed:B"], 0.0, "ABC", (0, 120, 240), (0, 300, 240), ("+", "-", "+")),
        (["vt_reversed:B"], 0.0, "ABC", (0, 300, 240), (0, 120, 240), ("+", "-", "+")),
        (["currents_crossed:B-C"], 0.0, "ABC", (0, 120, 240), (0, 240, 120), ("+", "-", "-")),
    ],
    ids=["correct-ABC", "correct-CBA", "PF0.5", "CT-B-reversed", "VT-B-reversed", "B-C-crossed"],
)
def test_reference_phasors_follow_the_table(wiring, lag, rotation, v, i, signs):
    assert reference_angles(wiring, lag, rotation) == (v, i, signs)


@pytest.mark.parametrize(
    "wiring,registration", [([], 100.0), (["ct_reversed:B"], 33.33), (["vt_reversed:B"], 33.33)]
)
def test_miswired_meter_registers_a_third(wiring, registration):
    cfg = parse_bench_config(
        bench_dict([meter(1, "9S", 120.0, "CL20", 0.15, wiring=wiring)], three_phase=True)
    )
    with open_bench(cfg) as bench:
        r = measure(bench, 1, settings("9S", 120.0, 2.5, 0.0, True), 0.15, 4)
    assert 100.0 * r.meter_pulses * 0.15 / (r.ref_pulses * r.kr_wh) == pytest.approx(registration, abs=0.05)


def test_crossed_currents_register_nothing():
    cfg = parse_bench_config(
        bench_dict([meter(1, "9S", 120.0, "CL20", 0.15, wiring=["currents_crossed:B-C"])], three_phase=True)
    )
    with open_bench(cfg) as bench:
        bench.source.apply(settings("9S", 120.0, 2.5, 0.0, True), 60.0)
        bench.source.output_on()
        calc = bench.calculators[1]
        calc.count_start()
        bench.clock.sleep(600.0)  # 10 min at 900 W would be 150 Wh = 1000 pulses if wired right
        assert calc.count_read() == (0, pytest.approx(600.0))


def test_example_9s_bench_shows_the_reversed_ct_at_its_socket():
    with open_bench("examples/9s-reversed-ct.toml") as bench:
        bench.source.apply(settings("9S", 120.0, 2.5, 0.0, True), 60.0)
        bench.source.output_on()
        r = bench.read_position_phasors(2)  # the meter's own site diagnostics at the faulted socket
        supply = bench.reference.read()
    assert round(supply.phases["B"].current_lag_deg) == 120  # the supply itself is right
    assert round(r.phases["B"].current_lag_deg) == 300
    assert r.watts == pytest.approx(300.0, rel=1e-3)  # + - + of 300 W each
