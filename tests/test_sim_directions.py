"""The simulated meter's error model in every direction and quantity, with influence and per-element axes,
measured back through the drivers (never read from simulator truth), as tests/test_sim_accuracy.py does.

- direction: a bidirectional meter registers and pulses received energy with its own curve; a delivered-only
  meter registers nothing received (detent).
- quantity: a meter's test output set to varh / VAh, counted against the reference's var / VA pulses
  (the sim_counter's ``POS<n>:QUAN VAR|VA``, ZERA COM5003's ``REFSOURCE Q|S``).
- influence: voltage and frequency coefficients; per-element curves; the board's CBA supply.

Expanded uncertainty as in test_sim_accuracy (k = 3): noise, count quantisation, the reference's gains.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sim_accuracy import NOISE, bench_dict, error_percent, expanded_u, meter, settings
from test_sim_accuracy import measure as accuracy_measure

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config
from instruments.interfaces import PhaseSetting
from procedures.errors import InputError
from procedures.forms import get_form
from procedures.wiring import Phasors, analyse

EXAMPLE_COM5003 = Path(__file__).resolve().parent.parent / "examples/zera-com5003.toml"
DELIVERED = [[0.1, 0.0, 0.30], [1.0, 0.0, -0.10], [1.0, 60.0, -0.40]]
RECEIVED = [[1.0, 0.0, 0.25], [1.0, 60.0, 0.60]]  # lag from the reversed current: 240 deg is row 60


def measure(bench, position, phases, kt, pulses, hz=60.0, quantity=None):
    """One test point through the drivers; ``quantity`` sets the sim_counter's reference pulses first."""
    if quantity is not None:
        bench.calculators[position].rack.link.write(f"POS{position}:QUAN {quantity}")
    return accuracy_measure(bench, position, phases, kt, pulses, hz)


def check(r, kt, expected, c=1, pulses=None, what=""):
    err, u = error_percent(r, kt, c), expanded_u(r)
    if pulses is not None:
        assert r.meter_pulses == pulses
    assert abs(err - expected) <= u, f"{what}: measured {err:.4f} %, injected {expected} %, U {u:.4f}"
    assert u < 0.06
    return err, u


# ---------------------------------------------------------------------------------------------- direction


def test_bidirectional_2s_gets_delivered_and_received_errors_measured_back():
    m = meter(
        1, bidirectional=True, error_curve=DELIVERED, error_curve_received=RECEIVED, noise_percent=NOISE
    )
    with open_bench(parse_bench_config(bench_dict([m], three_phase=False))) as bench:
        for lag, expected, what in [
            (0.0, -0.10, "delivered FL"),
            (60.0, -0.40, "delivered PF 0.5"),
            (180.0, 0.25, "received FL"),
            (240.0, 0.60, "received PF 0.5"),
        ]:
            r = measure(bench, 1, settings("2S", 240.0, 30.0, lag, False), 0.6, 12)
            check(r, 0.6, expected, pulses=12, what=what)
        regs = bench.meter_ports[1].registers()
    # both registers advanced: the received one by the two received points
    assert regs["kWh_received"] > 0 and regs["kWh_delivered"] > 0


def test_delivered_only_meter_has_a_detent_for_received_energy():
    m = meter(1, error_curve=DELIVERED)
    with open_bench(parse_bench_config(bench_dict([m], three_phase=False))) as bench:
        bench.source.apply(settings("2S", 240.0, 30.0, 180.0, False), 60.0)
        bench.source.output_on()
        calc = bench.calculators[1]
        calc.count_start()
        bench.clock.sleep(600.0)  # 10 min of 7.2 kW received: 2000 pulses on a bidirectional meter
        assert calc.count_read() == (0, pytest.approx(600.0))
        bench.source.output_off()
        regs = bench.meter_ports[1].registers()
    assert regs == {"kWh_delivered": 0.0}  # no received register, nothing delivered


# ----------------------------------------------------------------------------------------------- quantity


REACTIVE = [[1.0, 90.0, 0.80], [1.0, 30.0, 1.20], [0.1, 90.0, 1.50], [1.0, -90.0, 0.50]]  # class 2 var meter
APPARENT = [[1.0, 0.0, 0.15], [1.0, 60.0, -0.35]]


@pytest.mark.parametrize(
    "lag,fraction,expected", [(90.0, 1.0, 0.80), (30.0, 1.0, 1.20), (90.0, 0.1, 1.50), (270.0, 1.0, 0.50)]
)
def test_reactive_test_output_is_measured_against_the_references_var_pulses(lag, fraction, expected):
    m = meter(1, "9S", 120.0, "CL20", 0.15, test_output="varh", error_curve_reactive=REACTIVE,
              error_curve=DELIVERED, noise_percent=NOISE)  # fmt: skip
    with open_bench(parse_bench_config(bench_dict([m], three_phase=True))) as bench:
        pulses = 12 if fraction == 1.0 else 2
        r = measure(bench, 1, settings("9S", 120.0, 2.5 * fraction, lag, True), 0.15, pulses, quantity="VAR")
        check(r, 0.15, expected, pulses=pulses, what=f"varh at lag {lag}")


def test_a_var_meter_against_watt_pulses_is_far_off_so_the_gate_must_compare_like_with_like():
    m = meter(1, "9S", 120.0, "CL20", 0.15, test_output="varh", error_curve_reactive=REACTIVE)
    with open_bench(parse_bench_config(bench_dict([m], three_phase=True))) as bench:
        r = measure(bench, 1, settings("9S", 120.0, 2.5, 60.0, True), 0.15, 12)  # default: W pulses
    # sin 60 / cos 60 = 1.732: 73 % "fast" against active energy
    assert error_percent(r, 0.15, 1) == pytest.approx(100 * (3**0.5 * 1.012) - 100, abs=0.5)


def test_apparent_test_output_is_measured_against_the_references_va_pulses():
    m = meter(1, "16S", 277.0, "CL200", 1.8, test_output="VAh", error_curve_apparent=APPARENT)
    with open_bench(parse_bench_config(bench_dict([m], three_phase=True))) as bench:
        # a leading current (-60 deg) is beyond the rows: the nearest row angle (0 deg) holds, +0.15 %
        for lag, expected in [(0.0, 0.15), (60.0, -0.35), (-60.0, 0.15)]:
            r = measure(bench, 1, settings("16S", 277.0, 30.0, lag, True), 1.8, 12, quantity="VA")
            check(r, 1.8, expected, pulses=12, what=f"VAh at lag {lag}")


def test_com5003_refsource_q_counts_var_pulses():
    """ZERA COM5003 as reference and error calculator: REFSOURCE Q makes its gate count the POW2 (reactive)
    frequency output, DCUNIT then in Varh/I, as on the unit: the settings a driver sends for a var point."""
    import tomllib

    raw = tomllib.loads(EXAMPLE_COM5003.read_text(encoding="utf-8"))
    raw["simulation"]["meter"][0].update(
        test_output="varh", error_curve_reactive=REACTIVE, noise_percent=0.0, error_curve=[]
    )
    with open_bench(parse_bench_config(raw)) as bench:
        sim = bench.simulator.devices["reference"].instrument
        conn = sim.connect()
        ec = "CALCULATE:EC01:0001"
        for c in ("REFSOURCE Q;", "DCUNIT Varh/I;", "DUTCONSTANT 0.15;", "MRATE 20;", "START 1;"):
            assert sim.receive(f"{ec}:{c}".encode(), conn) is None
        bench.source.apply(settings("9S", 120.0, 2.5, 90.0, True), 60.0)
        bench.source.output_on()
        bench.clock.sleep(30.0)
        result = float(sim.receive(f"{ec}:RESULT?".encode(), conn).decode())
        bench.source.output_off()
    assert result == pytest.approx(0.80, abs=0.03)  # the var curve at sin phi = 1, not the watt error


# ---------------------------------------------------------------------------------------------- influence


def test_voltage_and_frequency_influence_shift_the_error_by_their_coefficients():
    m = meter(1, "16S", 277.0, "CL200", 1.8, error_curve=DELIVERED, frequency=50.0,
              voltage_coefficient_percent_per_percent=0.02, frequency_coefficient_percent_per_hz=-0.05)  # fmt: skip
    with open_bench(parse_bench_config(bench_dict([m], three_phase=True))) as bench:
        ref = check(measure(bench, 1, settings("16S", 277.0, 30.0, 0.0, True), 1.8, 12, hz=50.0), 1.8, -0.10)
        up = check(
            measure(bench, 1, settings("16S", 277.0 * 1.1, 30.0, 0.0, True), 1.8, 12, hz=50.0), 1.8, 0.10
        )
        f = check(measure(bench, 1, settings("16S", 277.0, 30.0, 0.0, True), 1.8, 12, hz=51.0), 1.8, -0.15)
    # the variations from the reference condition, as an influence test judges them
    assert up[0] - ref[0] == pytest.approx(0.20, abs=up[1] + ref[1])
    assert f[0] - ref[0] == pytest.approx(-0.05, abs=f[1] + ref[1])


def test_per_element_curves_show_in_element_tests():
    curves = {"A": [[1.0, 0.0, 0.30]], "B": [[1.0, 0.0, -0.20]], "C": [[1.0, 0.0, 0.05]]}
    m = meter(1, "16S", 277.0, "CL200", 1.8, element_errors=curves, error_curve=DELIVERED)
    with open_bench(parse_bench_config(bench_dict([m], three_phase=True))) as bench:
        for element, expected in [("A", 0.30), ("B", -0.20), ("C", 0.05)]:
            phases = {
                p: PhaseSetting(
                    s.voltage_v, s.voltage_lag_deg, s.current_a if p == element else 0.0, s.current_lag_deg
                )  # fmt: skip
                for p, s in settings("16S", 277.0, 30.0, 0.0, True).items()
            }
            check(measure(bench, 1, phases, 1.8, 4), 1.8, expected, pulses=4, what=f"element {element}")
        # all three together: the power-weighted mean
        check(
            measure(bench, 1, settings("16S", 277.0, 30.0, 0.0, True), 1.8, 12), 1.8, (0.30 - 0.20 + 0.05) / 3
        )


def test_element_errors_name_the_forms_elements():
    m = meter(1, "2S", element_errors={"B": [[1.0, 0.0, 0.3]]})
    with pytest.raises(InputError) as err:
        parse_bench_config(bench_dict([m], three_phase=False))
    assert "element_errors" in err.value.field


# ----------------------------------------------------------------------------------------------- rotation


def as_phasors(r, source: str) -> Phasors:
    return Phasors(
        {p: (r.phases[p].voltage_v, r.phases[p].voltage_lag_deg) for p in "ABC"},
        {p: (r.phases[p].current_a, r.phases[p].current_lag_deg) for p in "ABC"},
        source,
    )


def position_phasors(rotation: str, wiring=(), with_supply=False):
    m = meter(1, "9S", 120.0, "CL20", 0.15, wiring=list(wiring))
    cfg = parse_bench_config(bench_dict([m], three_phase=True, rotation=rotation))
    with open_bench(cfg) as bench:
        bench.source.apply(settings("9S", 120.0, 2.5, 0.0, True), 60.0)
        bench.source.output_on()
        r = bench.read_position_phasors(1)
        supply = bench.reference.read()  # the 6105A reads its own (ABC) output
        bench.source.output_off()
    socket = as_phasors(r, "position 1")
    return (socket, as_phasors(supply, "reference")) if with_supply else socket


def test_a_cba_supply_reaches_the_meter_and_the_analysis_names_the_rotation():
    abc = analyse(get_form("9S"), position_phasors("ABC"))
    cba = analyse(get_form("9S"), position_phasors("CBA"))
    assert abc.rotation == "ABC" and not abc.findings
    assert cba.rotation == "CBA"
    assert [f.code for f in cba.findings] == ["rotation_cba"]


# ------------------------------------------------------------------------------------ faults per position


@pytest.mark.parametrize(
    "wiring,registration",
    [(["voltages_crossed:A-B"], 0.0), (["ct_ratio:B=2.0"], 133.33), (["vt_ratio:A=0.5"], 83.33)],
)
def test_crossed_voltages_and_ratio_faults_register_what_the_phasors_say(wiring, registration):
    m = meter(1, "9S", 120.0, "CL20", 0.15, wiring=wiring)
    with open_bench(parse_bench_config(bench_dict([m], three_phase=True))) as bench:
        bench.source.apply(settings("9S", 120.0, 2.5, 0.0, True), 60.0)
        bench.source.output_on()
        calc = bench.calculators[1]
        calc.count_start()
        bench.clock.sleep(600.0)  # 900 W for 10 min = 150 Wh = 1000 pulses of 0.15 Wh if wired right
        pulses, _ = calc.count_read()
    assert 100.0 * pulses / 1000.0 == pytest.approx(registration, abs=0.2)


@pytest.mark.parametrize(
    "wiring,code,phases",
    [
        (["voltages_crossed:A-B"], "voltages_crossed", ()),
        (["ct_ratio:B=2.0"], "ct_ratio", ("B",)),
        (["vt_ratio:A=0.5"], "vt_ratio", ("A",)),
    ],  # fmt: skip
)
def test_the_analysis_finds_socket_faults_against_the_supply(wiring, code, phases):
    socket, supply = position_phasors("ABC", wiring, with_supply=True)
    report = analyse(get_form("9S"), socket, supply=supply)
    found = {f.code: f for f in report.findings}
    assert code in found and found[code].phases == phases
    assert "rotation_cba" not in found
    if code != "voltages_crossed":
        assert f"{2.0 if code == 'ct_ratio' else 0.5:.3g} x" in found[code].message


def test_a_correct_socket_matches_its_supply():
    socket, supply = position_phasors("ABC", (), with_supply=True)
    assert not analyse(get_form("9S"), socket, supply=supply).findings


def test_ratio_fault_codes_need_a_factor():
    from procedures.wiring import parse_fault

    assert parse_fault("ct_ratio:B=2", get_form("9S")).code == "ct_ratio:B=2"
    for bad in ("ct_ratio:B", "ct_ratio:B=0", "vt_ratio:A=x"):
        with pytest.raises(InputError, match="needs a factor"):
            parse_fault(bad, get_form("9S"))


def test_a_reference_at_the_board_sees_the_cba_supply_and_the_analysis_names_it():
    """A COM5003 reference measures the board (not the source's settings): on a CBA board the supply view
    itself gives the rotation finding, the one a run's board check stops on."""
    import tomllib

    raw = tomllib.loads(EXAMPLE_COM5003.read_text(encoding="utf-8"))
    raw["simulation"]["rotation"] = "CBA"
    with open_bench(parse_bench_config(raw)) as bench:
        bench.source.apply(settings("9S", 120.0, 2.5, 0.0, True), 60.0)
        bench.source.output_on()
        supply = bench.reference.read()
        bench.source.output_off()
    assert [round(supply.phases[p].voltage_lag_deg) % 360 for p in "ABC"] == [0, 240, 120]
    report = analyse(get_form("9S"), as_phasors(supply, "reference"))
    assert report.rotation == "CBA" and report.codes == ("rotation_cba",)


def test_the_net_metering_example_measures_received_and_var_errors():
    path = Path(__file__).resolve().parent.parent / "examples/2s-net-metering.toml"
    with open_bench(path) as bench:
        check(
            measure(bench, 1, settings("2S", 240.0, 30.0, 180.0, False), 0.6, 12), 0.6, 0.25, what="received"
        )
        check(measure(bench, 3, settings("2S", 240.0, 30.0, 90.0, False), 0.6, 12, quantity="VAR"), 0.6, 0.80)


@pytest.mark.parametrize("direction,delivered,received", [("delivered", 1000, 0), ("received", 0, 1000)])
def test_a_test_output_programmed_for_one_direction_pulses_only_for_it(direction, delivered, received):
    m = meter(1, bidirectional=True, test_output_direction=direction)
    with open_bench(parse_bench_config(bench_dict([m], three_phase=False))) as bench:
        counts = []
        for lag in (0.0, 180.0):  # 7.2 kW for 300 s = 600 Wh = 1000 pulses of 0.6 Wh, each way
            bench.source.apply(settings("2S", 240.0, 30.0, lag, False), 60.0)
            bench.source.output_on()
            calc = bench.calculators[1]
            calc.count_start()
            bench.clock.sleep(300.0)
            counts.append(calc.count_read()[0])
            bench.source.output_off()
        regs = bench.meter_ports[1].registers()
    assert counts == [delivered, received]
    assert regs["kWh_delivered"] > 0 and regs["kWh_received"] > 0  # the registers follow both ways


def test_test_output_direction_needs_a_bidirectional_meter():
    with pytest.raises(InputError, match="needs bidirectional"):
        parse_bench_config(bench_dict([meter(1, test_output_direction="received")], three_phase=False))


def test_a_bad_element_curve_row_names_its_element_and_row():
    m = meter(1, "16S", 277.0, element_errors={"B": [[1.0, 0.0, 0.3], [1.0, 0.0]]})
    with pytest.raises(InputError) as err:
        parse_bench_config(bench_dict([m], three_phase=True))
    assert err.value.field == "simulation.meter[0].element_errors.B[1]"
