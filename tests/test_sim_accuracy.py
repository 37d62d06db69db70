"""Through the drivers alone (no engine): an error curve injected into a simulated meter is measured back
within a stated expanded uncertainty at FL, LL and PF, for 2S, 9S, 12S and 16S, on both bench modes.

Measured as a meter shop does (standards.md §5): %R = 100 * N_m * Kt / (N_r * Kr * c), error = %R - 100,
c = elements in series when a single-phase reference sees one element.

Expanded uncertainty used here (k = 3, because every comparison must pass with a fixed seed and none may
pass by luck): u^2 = noise^2 (one reading) + (100/N_r)^2/3 (quantisation, rectangular) + 2*ref_sd^2
(the simulated reference's V and I gain errors).
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config
from instruments.interfaces import GateResult, PhaseSetting, wait_until
from instruments.sim.meter import curve_error
from procedures.forms import correct_service, get_form
from procedures.phasors import lag_deg

REF_SD = 0.005  # simulation.reference_error_percent
NOISE = 0.01
CURVE = [[0.1, 0.0, 0.30], [1.0, 0.0, -0.10], [1.0, 60.0, -0.40], [0.1, 60.0, 0.5]]
POINTS = {"FL": (1.0, 0.0, -0.10, 12), "LL": (0.1, 0.0, 0.30, 2), "PF": (1.0, 60.0, -0.40, 12)}


def bench_dict(meters: list[dict], *, three_phase: bool, calc: str = "sim_counter", kr: float = 1e-5, **sim):
    n = max(m["position"] for m in meters)
    calc_table = (
        # the 6105A's energy test uses commands in no public source: a simulated bench opts in
        {"driver": "fluke6100", "resource": "GPIB0::17::INSTR", "positions": [1], "allow_unconfirmed": True}
        if calc == "fluke6100"
        else {"driver": "sim_counter", "resource": "TCPIP0::10.0.0.48::inst0::INSTR"}
    )
    return {
        "name": "test bench",
        "positions": n,
        "three_phase_source": three_phase,
        "instruments": {
            "source": {"driver": "fluke6100", "resource": "GPIB0::17::INSTR"},
            "reference": {
                "driver": "fluke6100",
                "resource": "GPIB0::17::INSTR",
                "kr_wh": kr,
                "calibration": {
                    "certificate": "T-1",
                    "laboratory": "Test lab",
                    "calibrated": date(2026, 4, 1),
                    "due": date(2027, 4, 1),
                    "uncertainty_percent": 0.02,
                    "coverage_factor": 2.0,
                    "traceability": "test",
                },  # fmt: skip
            },
            "calculators": calc_table,
        },
        "simulation": {"speed": 0, "seed": 7, "reference_error_percent": REF_SD, "meter": meters, **sim},
    }


def meter(position=1, form="2S", voltage=240.0, current_class="CL200", kt=0.6, **kw) -> dict:
    return {
        "position": position, "serial": f"S{position}", "form": form, "accuracy_class": "0.5",
        "current_class": current_class, "voltage": voltage, "kh": kt * 12, "kt": kt, **kw,
    }  # fmt: skip


def settings(form_name: str, voltage: float, current: float, lag: float, three_phase: bool, rotation="ABC"):
    if not three_phase:
        return {"A": PhaseSetting(voltage, 0.0, current, lag)}
    volts, amps = correct_service(get_form(form_name), voltage, current, lag, rotation)
    out = {}
    for p in "ABC":
        v, i = volts.get(p, 0j), amps.get(p, 0j)
        out[p] = PhaseSetting(abs(v), lag_deg(v), abs(i), lag_deg(i))
    return out


def measure(bench, position: int, phases, kt: float, pulses: int, hz: float = 60.0) -> GateResult:
    """One test point through the drivers: apply, switch on, settle, gate, result, switch off."""
    bench.source.apply(phases, hz)
    bench.source.output_on()
    bench.clock.sleep(5.0)  # pulse stabilisation (standards.md §5)
    calc = bench.calculators[position]
    calc.configure(kt, pulses)
    calc.start()
    wait_until(bench.clock, lambda: calc.poll()[0] == "finished", 600.0, 0.5, f"gate on position {position}")
    result = calc.result()
    bench.source.output_off()
    return result


def error_percent(r: GateResult, kt: float, c: int) -> float:
    return 100.0 * r.meter_pulses * kt / (r.ref_pulses * r.kr_wh * c) - 100.0


def expanded_u(r: GateResult, noise: float = NOISE) -> float:
    u = math.sqrt(noise**2 + (100.0 / r.ref_pulses) ** 2 / 3 + 2 * REF_SD**2)
    return 3.0 * u


CASES = [  # form, element voltage, class, kt, three-phase source?, elements in series seen by the reference
    ("2S", 240.0, "CL200", 0.6, False, 1),
    ("9S", 120.0, "CL20", 0.15, True, 1),
    ("9S", 120.0, "CL20", 0.15, False, 3),
    ("12S", 120.0, "CL200", 0.6, True, 1),
    ("16S", 277.0, "CL200", 1.8, True, 1),
    ("16S", 277.0, "CL200", 1.8, False, 3),
]


@pytest.mark.parametrize(
    "form,volts,cls,kt,three,c", CASES, ids=[f"{c[0]}-{'3ph' if c[4] else 'series'}" for c in CASES]
)
def test_error_curve_is_measured_back_at_fl_ll_pf(form, volts, cls, kt, three, c):
    cfg = parse_bench_config(
        bench_dict(
            [meter(1, form, volts, cls, kt, error_curve=CURVE, noise_percent=NOISE)], three_phase=three
        )
    )
    ta = {"CL200": 30.0, "CL20": 2.5}[cls]
    with open_bench(cfg) as bench:
        for name, (fraction, lag, expected, pulses) in POINTS.items():
            r = measure(bench, 1, settings(form, volts, fraction * ta, lag, three), kt, pulses)
            err, u = error_percent(r, kt, c), expanded_u(r)
            assert r.meter_pulses == pulses
            assert abs(err - expected) <= u, (
                f"{form} {name}: measured {err:.4f} %, injected {expected} %, U {u:.4f}"
            )
            assert u < 0.05  # the test is sharp enough to see a 0.05 % mistake


def test_fluke_as_its_own_error_calculator_measures_the_curve():
    cfg = parse_bench_config(
        bench_dict(
            [meter(1, "16S", 277.0, "CL200", 1.8, error_curve=CURVE)], three_phase=True, calc="fluke6100"
        )
    )
    with open_bench(cfg) as bench:
        assert bench.calculators[1] is bench.source  # one box, three roles
        r = measure(bench, 1, settings("16S", 277.0, 30.0, 60.0, True), 1.8, 12)
        assert abs(error_percent(r, 1.8, 1) - (-0.40)) <= expanded_u(r, noise=0.0)
        assert r.instrument_error_percent == pytest.approx(error_percent(r, 1.8, 1), abs=1e-4)


def test_quantisation_is_real_integer_counts_and_gate_time_follows_power():
    cfg = parse_bench_config(bench_dict([meter(1)], three_phase=False))
    with open_bench(cfg) as bench:
        r = measure(bench, 1, settings("2S", 240.0, 30.0, 0.0, False), 0.6, 12)
        assert r.ref_pulses == int(r.ref_pulses)
        # standards.md §5 example: 2S FL 7200 W x 12 pulses of 0.6 Wh -> 3.6 s
        assert r.gate_seconds == pytest.approx(3.6, rel=1e-3)


def test_same_seed_same_readings_different_seed_different_noise():
    def run(seed):
        d = bench_dict([meter(1, noise_percent=0.05)], three_phase=False)
        d["simulation"]["seed"] = seed
        with open_bench(parse_bench_config(d)) as bench:
            return measure(bench, 1, settings("2S", 240.0, 30.0, 0.0, False), 0.6, 12).ref_pulses

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_curve_interpolates_linearly_and_holds_the_nearest_row_outside():
    curve = ((0.1, 0.0, 0.3), (1.0, 0.0, -0.1), (1.0, 60.0, -0.4), (0.1, 60.0, 0.5))
    assert curve_error(curve, 0.55, 0.0) == pytest.approx(0.1)  # halfway in current
    assert curve_error(curve, 1.0, 30.0) == pytest.approx(-0.25)  # halfway in angle
    assert curve_error(curve, 2.0, 0.0) == pytest.approx(-0.1)  # above the last current row
    assert curve_error(curve, 0.01, 90.0) == pytest.approx(0.5)  # below and beyond both
    assert curve_error((), 1.0, 0.0) == 0.0
