"""The ZERA COM5003 driver's exact SCPI exchanges (PyMeasure style: every command sent and every reply),
the simulated unit's behaviour as ZERA's sources describe it (refusals included), and a simulated
Fluke-source + COM5003 bench measuring a meter's error through the driver."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from instruments.bench import open_bench
from instruments.clock import VirtualClock
from instruments.drivers import DriverContext
from instruments.drivers.zera_com5003 import (
    COMMANDS,
    DRIVER,
    TRANSPORT,
    UNCONFIRMED,
    ZeraCOM5003,
    parse_measurement,
)
from instruments.errors import CommandRefused, InstrumentFault, UnparseableReply
from instruments.interfaces import Calibration, PhaseSetting
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/zera-com5003.toml"
CAL = Calibration("C-1", "Lab", date(2026, 1, 1), date(2027, 1, 1), 0.01, 2.0, "to NMI")
EC = "CALCULATE:EC01:0001"
OK = [("*OPC?", "+1"), ("SYSTEM:ERROR?", "+0,No error")]


class Script:
    """A test double that expects exactly ``exchanges`` = [(command, reply or None), ...] in order."""

    def __init__(self, exchanges: list[tuple[str, str | None]]) -> None:
        self.exchanges = list(exchanges)
        self.timeout = 2000
        self._pending: list[str] = []

    def write(self, command: str) -> None:
        assert self.exchanges, f"unexpected command {command!r}"
        want, reply = self.exchanges.pop(0)
        assert command == want, f"sent {command!r}, expected {want!r}"
        if reply is not None:
            self._pending.append(reply)

    def read(self) -> str:
        return self._pending.pop(0)

    def close(self) -> None:
        pass

    def done(self) -> None:
        assert not self.exchanges, f"not sent: {self.exchanges}"


def setting(command: str, query: str, back: str) -> list[tuple[str, str | None]]:
    return [(command, None), *OK, (query, back)]


PREPARE = [
    *setting("CONFIGURATION:POW1:MMODE 4LW;", "CONFIGURATION:POW1:MMODE?", "4LW"),
    *setting("CONFIGURATION:RNG1:RNGAUTO 1;", "CONFIGURATION:RNG1:RNGAUTO?", "1"),
]


def com(exchanges, options=None) -> tuple[ZeraCOM5003, Script]:
    res = Script(exchanges)
    return ZeraCOM5003(DriverContext(res, "com test", VirtualClock(), options or {})), res


def opened(exchanges, options=None):
    """A driver past as_reference + calculators (REFCONSTANT read twice: once per role)."""
    head = [(f"{EC}:REFCONSTANT?", "1e+09"), (f"{EC}:REFCONSTANT?", "1e+09")]
    meter, res = com(head + list(exchanges), options)
    meter.as_reference(1e-6, CAL)
    (calc,) = meter.calculators((1,)).values()
    return meter, calc, res


# ---- the command table --------------------------------------------------------------------------------
def test_every_setting_ends_its_parameter_with_a_semicolon_and_every_command_cites_its_source():
    for name, (template, provenance, source) in COMMANDS.items():
        assert provenance in ("C", "U") and source, name
        if " " in template:  # a command with a parameter
            assert template.endswith(";"), f"{name}: {template!r} lacks the ';' the unit requires"
    assert UNCONFIRMED == ()
    assert DRIVER.max_positions == 1 and DRIVER.transport is TRANSPORT
    assert (TRANSPORT.read_termination, TRANSPORT.write_termination) == ("\n", "\n")
    assert (TRANSPORT.baud_rate, TRANSPORT.data_bits, TRANSPORT.stop_bits) == (9600, 8, 2)


# ---- exact exchanges ---------------------------------------------------------------------------------
def _phase_replies(lags_v, lags_i, v=230.0, i=5.0):
    rms = dft = ""
    for n, lv in enumerate(lags_v, start=1):
        rms += f"RMS1:UL{n}:[V]:{v};"
        dft += f"DFT1:UL{n}:[V]:{v * math.sqrt(2) * math.cos(math.radians(lv)):.6f},"
        dft += f"{v * math.sqrt(2) * math.sin(math.radians(lv)):.6f};"
    for n, li in enumerate(lags_i, start=1):
        rms += f"RMS1:IL{n}:[A]:{i};"
        dft += f"DFT1:IL{n}:[A]:{i * math.sqrt(2) * math.cos(math.radians(li)):.7f},"
        dft += f"{i * math.sqrt(2) * math.sin(math.radians(li)):.7f};"
    return rms, dft


def test_read_sets_mode_and_ranges_once_then_measures_every_module_and_converts_to_meterbench():
    rms, dft = _phase_replies((0, 120, 240), (60, 180, 300))
    pow1 = "POW1:P1:[W]:575;POW1:P2:[W]:575;POW1:P3:[W]:575;POW1:PS:[W]:1725;"
    pow2 = "POW2:Q1:[Var]:995.9;POW2:Q2:[Var]:995.9;POW2:Q3:[Var]:995.9;POW2:QS:[Var]:2987.7;"
    pow3 = "POW3:S1:[VA]:1150;POW3:S2:[VA]:1150;POW3:S3:[VA]:1150;POW3:SS:[VA]:3450;"
    measures = [("MEASURE:RMS1?", rms), ("MEASURE:DFT1?", dft), ("MEASURE:POW1?", pow1),
                ("MEASURE:POW2?", pow2), ("MEASURE:POW3?", pow3), ("MEASURE:RNG1:F?", "RNG1:F:[Hz]:60.002;")]  # fmt: skip
    meter, res = com(PREPARE + measures + measures)
    r = meter.read()
    assert r.phases["A"].voltage_v == 230.0 and r.phases["A"].voltage_lag_deg == pytest.approx(0.0, abs=1e-6)
    assert r.phases["B"].voltage_lag_deg == pytest.approx(120.0)
    assert r.phases["A"].current_lag_deg == pytest.approx(60.0)  # lagging positive, as on the wire
    assert r.phases["C"].current_lag_deg == pytest.approx(300.0)
    assert (r.phases["A"].watts, r.phases["A"].vars, r.phases["A"].va) == (575.0, 995.9, 1150.0)
    assert r.phases["A"].pf == pytest.approx(0.5)
    assert (r.watts, r.vars, r.va, r.frequency_hz) == (1725.0, 2987.7, 3450.0, 60.002)
    meter.read()  # mode and ranges are not set again
    res.done()


def test_explicit_ranges_switch_the_automatic_off_and_set_every_channel():
    exchanges = [
        *setting("CONFIGURATION:POW1:MMODE 3LW;", "CONFIGURATION:POW1:MMODE?", "3LW"),
        *setting("CONFIGURATION:RNG1:RNGAUTO 0;", "CONFIGURATION:RNG1:RNGAUTO?", "0"),
    ]
    for n in (1, 2, 3):
        exchanges += setting(f"SENSE:RNG1:UL{n}:RANGE 240V;", f"SENSE:RNG1:UL{n}:RANGE?", "240V")
        exchanges += setting(f"SENSE:RNG1:IL{n}:RANGE 10A;", f"SENSE:RNG1:IL{n}:RANGE?", "10A")
    meter, res = com(exchanges, {"voltage_range": "240V", "current_range": "10A", "measuring_mode": "3LW"})
    meter.prepare()
    res.done()


def test_half_explicit_ranges_or_an_unknown_range_name_are_input_errors():
    with pytest.raises(InputError, match="voltage_range"):
        com([], {"voltage_range": "240V"})
    with pytest.raises(InputError, match="current_range"):
        com([], {"voltage_range": "240V", "current_range": "7A"})


def test_a_setting_the_unit_refuses_is_command_refused_naming_the_setting():
    meter, _ = com([("CONFIGURATION:POW1:MMODE 4LW;", None), ("*OPC?", "+1"),
                    ("SYSTEM:ERROR?", "-120,Numeric data error"), ("SYSTEM:ERROR?", "+0,No error")])  # fmt: skip
    with pytest.raises(CommandRefused, match="refused the measuring mode") as exc:
        meter.prepare()
    assert "-120,Numeric data error" in str(exc.value)


def test_a_setting_that_reads_back_different_is_refused_and_opc_is_polled_until_plus_1():
    meter, res = com([("CONFIGURATION:POW1:MMODE 4LW;", None), ("*OPC?", "+0"), ("*OPC?", "+0"),
                      *OK, ("CONFIGURATION:POW1:MMODE?", "3LW")])  # fmt: skip
    with pytest.raises(CommandRefused, match="measuring mode reads back '3LW'"):
        meter.prepare()
    res.done()


def test_configure_and_start_send_the_gate_with_semicolons_and_confirm_each_value():
    exchanges = [
        *PREPARE,
        (f"{EC}:REFCONSTANT?", "1e+09"),
        *setting(f"{EC}:DUTSOURCE SC1;", f"{EC}:DUTSOURCE?", "SC1"),
        *setting(f"{EC}:REFSOURCE P;", f"{EC}:REFSOURCE?", "P"),
        *setting(f"{EC}:DCUNIT Wh/I;", f"{EC}:DCUNIT?", "Wh/I"),
        *setting(f"{EC}:DUTCONSTANT 0.15;", f"{EC}:DUTCONSTANT?", "0.15"),
        *setting(f"{EC}:MRATE 40;", f"{EC}:MRATE?", "40"),
        *setting(f"{EC}:CONTINUOUS 0;", f"{EC}:CONTINUOUS?", "0"),
        *setting(f"{EC}:MCOUNT 1;", f"{EC}:MCOUNT?", "1"),
        (f"{EC}:TARGET?", "6000000"),  # floor(40 x 1e9 / (1000 / 0.15))
        (f"{EC}:START 1;", None), *OK, (f"{EC}:STATUS?", "1"),
        # a second gate of the same size sends only what changed (nothing) and starts
        (f"{EC}:REFCONSTANT?", "1e+09"), (f"{EC}:TARGET?", "6000000"),
        (f"{EC}:START 1;", None), *OK, (f"{EC}:STATUS?", "2"),
    ]  # fmt: skip
    _, calc, res = opened(exchanges)
    calc.configure(0.15, 40)
    calc.start()
    calc.configure(0.15, 40)
    calc.start()
    res.done()


def test_a_target_that_does_not_follow_from_the_gate_is_an_instrument_fault():
    exchanges = [
        *PREPARE,
        (f"{EC}:REFCONSTANT?", "1e+09"),
        *setting(f"{EC}:DUTSOURCE SC1;", f"{EC}:DUTSOURCE?", "SC1"),
    ]
    for cmd, q, back in ((f"{EC}:REFSOURCE P;", f"{EC}:REFSOURCE?", "P"),
                         (f"{EC}:DCUNIT Wh/I;", f"{EC}:DCUNIT?", "Wh/I"),
                         (f"{EC}:DUTCONSTANT 0.15;", f"{EC}:DUTCONSTANT?", "0.15"),
                         (f"{EC}:MRATE 40;", f"{EC}:MRATE?", "40"),
                         (f"{EC}:CONTINUOUS 0;", f"{EC}:CONTINUOUS?", "0"),
                         (f"{EC}:MCOUNT 1;", f"{EC}:MCOUNT?", "1")):  # fmt: skip
        exchanges += setting(cmd, q, back)
    exchanges += [(f"{EC}:TARGET?", "5000")]
    _, calc, _ = opened(exchanges)
    with pytest.raises(InstrumentFault, match="TARGET should be 6000000"):
        calc.configure(0.15, 40)


def test_a_gate_longer_than_the_units_32_bit_target_is_refused_before_anything_is_sent():
    _, calc, res = opened([*PREPARE, (f"{EC}:REFCONSTANT?", "1e+09")])
    with pytest.raises(InputError, match="TARGET holds at most 4294967295"):
        calc.configure(1.8, 10_000)  # 1.8e10 reference counts
    res.done()


def test_poll_reads_status_as_a_bit_mask_and_result_takes_enfinal_times_refconstant():
    exchanges = [
        (f"{EC}:STATUS?", "1"),
        (f"{EC}:STATUS?", "2"), (f"{EC}:PROGRESS?", "25"),
        (f"{EC}:STATUS?", "4"),
        (f"{EC}:STATUS?", "4"), (f"{EC}:ENFINAL?", "0.005998713"), (f"{EC}:REFCONSTANT?", "1e+09"),
        (f"{EC}:PULSES?", "41"), (f"{EC}:RESULT?", "0.02144"),
    ]  # fmt: skip
    _, calc, res = opened(exchanges)
    calc._pulses = 40
    assert calc.poll() == ("running", 0.0)  # armed: waits for the first meter pulse
    assert calc.poll() == ("running", 0.25)
    assert calc.poll() == ("finished", 1.0)
    g = calc.result()
    assert (g.meter_pulses, g.ref_pulses, g.kr_wh) == (40, 5998713.0, 1e-6)
    assert g.instrument_error_percent == pytest.approx(0.02144)
    res.done()


def test_a_result_of_nan_is_no_instrument_figure_and_a_wrong_pulse_count_is_a_fault():
    _, calc, _ = opened([(f"{EC}:STATUS?", "4"), (f"{EC}:ENFINAL?", "0.001"), (f"{EC}:REFCONSTANT?", "1e+09"),
                         (f"{EC}:PULSES?", "40"), (f"{EC}:RESULT?", "nan")])  # fmt: skip
    calc._pulses = 40
    assert calc.result().instrument_error_percent is None
    _, calc2, _ = opened([(f"{EC}:STATUS?", "4"), (f"{EC}:ENFINAL?", "0.001"),
                          (f"{EC}:REFCONSTANT?", "1e+09"), (f"{EC}:PULSES?", "17")])  # fmt: skip
    calc2._pulses = 40
    with pytest.raises(InstrumentFault, match="counted 17 meter pulses"):
        calc2.result()


def test_an_aborted_gate_is_an_instrument_fault_and_a_word_status_is_unparseable():
    _, calc, _ = opened([(f"{EC}:STATUS?", "8")])
    with pytest.raises(InstrumentFault, match="aborted"):
        calc.poll()
    _, calc2, _ = opened([(f"{EC}:STATUS?", "RUN")])
    with pytest.raises(UnparseableReply, match="bit mask"):
        calc2.poll()


def test_safe_state_stops_the_gate_and_confirm_safe_asks_the_unit():
    _, calc, res = opened([(f"{EC}:START 0;", None), (f"{EC}:STATUS?", "2"),
                           ("SYSTEM:ERROR?", "-100,Command error"), ("SYSTEM:ERROR?", "+0,No error")])  # fmt: skip
    calc.safe_state()
    problems = calc.meter.confirm_safe()
    assert problems == ["the error calculator EC01:0001 is still started (STATUS 2)",
                        "the COM5003 error queue holds: -100,Command error"]  # fmt: skip
    res.done()


def test_more_than_one_position_is_a_one_line_input_error():
    meter, _ = com([(f"{EC}:REFCONSTANT?", "1e+09")])
    meter.as_reference(1e-6, CAL)
    with pytest.raises(InputError, match="one meter-test error calculator") as exc:
        meter.calculators((1, 2))
    assert "\n" not in str(exc.value)


def test_the_parser_refuses_anything_but_zera_measurement_items_and_shows_the_reply():
    assert parse_measurement("c", "q", "RMS1:UL1:[V]:230;") == {"RMS1:UL1": ("V", [230.0])}
    for bad in ("230", "RMS1:UL1:230;", "RMS1:UL1:[V]:abc;", "RMS1:UL1:[V]:230", ";;;"):
        with pytest.raises(UnparseableReply) as exc:
            parse_measurement("c", "MEASURE:RMS1?", bad)
        assert repr(bad) in str(exc.value)


# ---- the simulated unit, as ZERA's sources describe it ------------------------------------------------
@pytest.fixture
def unit():
    with open_bench(EXAMPLE) as bench:
        yield bench, bench.simulator.devices["reference"].instrument


def ask(sim, conn, text: str) -> str | None:
    reply = sim.receive(text.encode(), conn)
    return None if reply is None else reply.decode().rstrip("\n")


def test_sim_identity_short_and_long_forms_case_insensitive_and_both_terminators(unit):
    _, sim = unit
    conn = sim.connect()
    assert ask(sim, conn, "*IDN?") == "ZERA GmbH Koenigswinter, COM5003, SIM0053, sim-release"
    assert ask(sim, conn, "*OPC?") == "+1"
    for q in ("SYSTEM:ERROR?", "SYST:ERR?", "syst:err?", "System:Error?"):
        assert ask(sim, conn, q) == "+0,No error"
    assert ask(sim, conn, "calc:ec01:0001:mrat?") == "10"  # CALC, MRAT: 4th letters not vowels
    assert ask(sim, conn, "CALC:EC01:0001:ENF?") == "0"  # ENFINAL: the 4th letter is a vowel -> ENF
    assert ask(sim, conn, "CALC:EC01:0001:RES?") == "nan"  # RESULT and RESULTUNIT share RES: RESULT first
    assert ask(sim, conn, "CALCULATE:EC01:0001:RESULTUNIT?") == "%"
    assert ask(sim, conn, "MEAS:RNG1:F?").startswith("RNG1:F:[Hz]:")
    assert sim.split(bytearray(b"*OPC?\r*IDN?\n")) == [b"*OPC?", b"*IDN?"]


def test_sim_bar_separates_commands_and_a_parameter_needs_its_semicolon(unit):
    _, sim = unit
    conn = sim.connect()
    assert ask(sim, conn, f"{EC}:MRATE 20;|{EC}:MRATE?") == "20"
    sim.expect_refusal(f"{EC}:MRATE 30")
    assert ask(sim, conn, f"{EC}:MRATE 30") is None  # no ';': nothing set, no reply
    assert ask(sim, conn, "SYST:ERR?") == "-100,Command error"
    assert ask(sim, conn, f"{EC}:MRATE?") == "20"
    assert ask(sim, conn, "SYST:ERR?") == "+0,No error"


@pytest.mark.refusals_ok
def test_sim_unknown_headers_and_ec02_get_silence_and_a_queued_error_per_client(unit):
    _, sim = unit
    a, b = sim.connect(), sim.connect()
    assert ask(sim, a, "FOO:BAR?") is None
    assert ask(sim, a, "CALCULATE:EC02:0001:STATUS?") is None  # a COM5003 has EC01 only
    assert ask(sim, a, "MEASURE:RNG1:FREQ?") is None  # the frequency is RNG1:F
    assert ask(sim, a, "MEASU:RMS1?") is None  # neither the short (MEAS) nor the long form
    assert ask(sim, b, "SYST:ERR:COUNT?") == "0"  # no cross-talk between clients
    assert ask(sim, a, "SYST:ERR:COUNT?") == "4"
    assert ask(sim, a, "SYST:ERR?") == "-100,Command error"
    assert ask(sim, a, "*CLS") is None and ask(sim, a, "SYST:ERR?") == "+0,No error"
    assert ask(sim, a, "*CLS?") is None and ask(sim, a, "SYST:ERR?") == "-400,Query error"
    assert ask(sim, a, f"{EC}:MRATE ten;") is None and ask(sim, a, "SYST:ERR?") == "-120,Numeric data error"
    assert ask(sim, a, f"{EC}:STATUS 1;") is None and ask(sim, a, "SYST:ERR?") == "-100,Command error"
    assert ask(sim, a, f"{EC}:DCUNIT I/kVarh;") is None  # not a unit of the active-power reference
    assert ask(sim, a, "SYST:ERR?") == "-120,Numeric data error"
    assert all(not e.accepted for e in sim.log if e.message.startswith(("FOO", "CALCULATE:EC02")))


def test_sim_fetch_is_empty_on_a_fresh_connection_until_this_client_measured(unit):
    bench, sim = unit
    a, b = sim.connect(), sim.connect()
    assert ask(sim, a, "FETCH:RMS1:UL1?") == ";"
    assert ask(sim, a, "FETCH:POW1?") == ";;;;"
    measured = ask(sim, a, "MEASURE:RMS1:UL1?")
    assert measured == "RMS1:UL1:[V]:0;"
    assert ask(sim, a, "FETCH:RMS1:UL1?") == measured
    assert ask(sim, b, "FETCH:RMS1:UL1?") == ";"  # per connection


def test_sim_dft_is_peak_lag_positive_turned_to_ul1_and_powers_are_p_q_s(unit):
    bench, sim = unit
    settings = {
        p: PhaseSetting(120.0, lag, 2.5, lag + 60) for p, lag in zip("ABC", (0, 120, 240), strict=True)
    }
    bench.source.apply(settings, 60.0)
    bench.source.output_on()
    conn = sim.connect()
    dft = parse_measurement("sim", "MEASURE:DFT1?", ask(sim, conn, "MEASURE:DFT1?"))
    re1, im1 = dft["DFT1:UL1"][1]
    assert math.hypot(re1, im1) == pytest.approx(120.0 * math.sqrt(2), rel=1e-3) and im1 == 0.0
    re2, im2 = dft["DFT1:UL2"][1]
    assert math.degrees(math.atan2(im2, re2)) == pytest.approx(120.0, abs=0.05)  # lagging: positive
    rei, imi = dft["DFT1:IL1"][1]
    assert math.degrees(math.atan2(imi, rei)) == pytest.approx(60.0, abs=0.05)
    assert dft["DFT1:RFIELD"][1] == [123.0]
    p = parse_measurement("sim", "q", ask(sim, conn, "MEASURE:POW1?"))
    q = parse_measurement("sim", "q", ask(sim, conn, "MEASURE:POW2?"))
    s = parse_measurement("sim", "q", ask(sim, conn, "MEASURE:POW3?"))
    assert p["POW1:PS"][1][0] == pytest.approx(450.0, rel=1e-3)  # 3 x 120 x 2.5 x cos 60
    assert q["POW2:QS"][1][0] == pytest.approx(779.4, rel=1e-3)  # inductive: positive
    assert s["POW3:SS"][1][0] == pytest.approx(900.0, rel=1e-3)
    assert q["POW2:Q1"][0] == "Var" and s["POW3:S1"][0] == "VA"


def test_sim_refconstant_follows_the_physics_and_a_gate_reports_status_bits_pulses_and_energy(unit):
    bench, sim = unit
    conn = sim.connect()
    assert ask(sim, conn, f"{EC}:REFCONSTANT?") == "1e+09"  # 1000 / kr_wh 1e-6
    for c in ("DCUNIT Wh/I;", "DUTCONSTANT 0.15;", "MRATE 20;", "START 1;"):
        assert ask(sim, conn, f"{EC}:{c}") is None
    assert ask(sim, conn, f"{EC}:STATUS?") == "1"  # armed: no meter pulse yet
    assert ask(sim, conn, f"{EC}:RESULT?") == "nan"
    settings = {p: PhaseSetting(120.0, lag, 2.5, lag) for p, lag in zip("ABC", (0, 120, 240), strict=True)}
    bench.source.apply(settings, 60.0)
    bench.source.output_on()
    bench.clock.sleep(2.0)
    assert ask(sim, conn, f"{EC}:STATUS?") == "2"
    bench.clock.sleep(20.0)
    assert ask(sim, conn, f"{EC}:STATUS?") == "4"
    assert ask(sim, conn, f"{EC}:PULSES?") == "21"  # the opening edge and 20 more
    assert ask(sim, conn, f"{EC}:START?") == "0"
    counts = float(ask(sim, conn, f"{EC}:ENFINAL?")) * 1e9
    assert counts == pytest.approx(round(counts), abs=1e-6)
    target = float(ask(sim, conn, f"{EC}:TARGET?"))
    assert target == math.floor(20 * 1e9 / (1000 / 0.15))
    result = float(ask(sim, conn, f"{EC}:RESULT?"))
    assert result == pytest.approx((target - round(counts)) * 100 / round(counts))
    assert result == pytest.approx(0.02, abs=0.03)  # position 1's meter: +0.02 % at FL unity
    assert ask(sim, conn, f"{EC}:RATING?") == "1"


def test_sim_stopping_or_a_range_change_aborts_a_running_gate(unit):
    _, sim = unit
    conn = sim.connect()
    ask(sim, conn, f"{EC}:START 1;")
    ask(sim, conn, f"{EC}:START 0;")
    assert ask(sim, conn, f"{EC}:STATUS?") == "8"
    ask(sim, conn, f"{EC}:START 1;")
    assert ask(sim, conn, f"{EC}:STATUS?") == "1"
    assert ask(sim, conn, "SENSE:RNG1:IL1:RANGE 10A;") is None
    assert ask(sim, conn, f"{EC}:STATUS?") == "8"
    assert ask(sim, conn, "SENS:RNG1:IL1:RANG?") == "10A"


# ---- the simulated bench, measured through the driver ------------------------------------------------
def test_fluke_source_with_com5003_reference_measures_the_positions_error():
    """Injected: +0.02 % at FL unity on 9S CL20 (TA 2.5 A), 120 V, position 1."""
    with open_bench(EXAMPLE) as bench:
        assert bench.reference.kr_wh == pytest.approx(1e-6)  # 1000 / REFCONSTANT?
        assert list(bench.calculators) == [1]
        settings = {
            p: PhaseSetting(120.0, lag, 2.5, lag) for p, lag in zip("ABC", (0, 120, 240), strict=True)
        }
        bench.source.apply(settings, 60.0)
        bench.source.output_on()
        ref = bench.reference.read()
        assert ref.watts == pytest.approx(900.0, rel=1e-3)
        assert ref.phases["B"].current_lag_deg == pytest.approx(120.0, abs=0.05)
        assert ref.phases["A"].voltage_v == pytest.approx(120.0, rel=1e-3)
        calc = bench.calculators[1]
        calc.configure(0.15, 20)
        calc.start()
        while calc.poll()[0] != "finished":
            bench.clock.sleep(0.5)
        g = calc.result()
        err = 100.0 * (g.meter_pulses * 0.15 / (g.ref_pulses * g.kr_wh)) - 100.0
        assert err == pytest.approx(0.02, abs=0.03)
        assert err == pytest.approx(g.instrument_error_percent, abs=1e-3)
        bench.safe_state()
        assert bench.reference.confirm_safe() == []


def test_a_bench_file_with_three_com5003_positions_is_refused(tmp_path):
    text = (
        EXAMPLE.read_text()
        .replace("positions = [1]", "positions = [1, 2, 3]")
        .replace("positions = 1\n", "positions = 3\n", 1)
    )
    path = tmp_path / "three.toml"
    path.write_text(text)
    with pytest.raises(InputError, match="at most 1 position"):
        open_bench(path)


def test_a_bench_file_kr_wh_that_disagrees_with_the_units_refconstant_is_refused(unit):
    bench, sim = unit
    sim.ec["REFCONSTANT"] = 5e8  # the shop's unit pulses at 5e8 imp/kWh, the bench file says 1e-6 Wh
    with pytest.raises(InputError, match=r"REFCONSTANT\? = 5e\+08 imp/kWh") as exc:
        bench.reference.as_reference(1e-6, CAL)
    assert exc.value.field == "instruments.reference.kr_wh" and "\n" not in str(exc.value)


def test_the_driver_reads_the_simulated_unit_over_a_real_serial_line_at_9600_8n2():
    from instruments.sim.transport import attach_real_transport

    with open_bench(EXAMPLE) as bench:
        attach_real_transport(bench, "reference", kind="serial", timeout_ms=1000)
        assert bench.reference.link.transport.baud_rate == 9600
        assert bench.reference.link.transport.stop_bits == 2
        assert bench.reference.identify().startswith("ZERA GmbH Koenigswinter, COM5003")
        settings = {
            p: PhaseSetting(120.0, lag, 2.5, lag) for p, lag in zip("ABC", (0, 120, 240), strict=True)
        }
        bench.source.apply(settings, 60.0)
        bench.source.output_on()
        assert bench.reference.read().watts == pytest.approx(900.0, rel=1e-3)


def test_a_command_marked_unconfirmed_is_not_sent_unless_the_bench_file_opts_in(monkeypatch):
    from instruments.drivers import zera_com5003
    from instruments.errors import UnconfirmedCommand

    monkeypatch.setitem(zera_com5003.COMMANDS, "identify", ("*IDN?", "U", "test: pretend it is unconfirmed"))
    meter, res = com([])
    with pytest.raises(UnconfirmedCommand):
        meter.identify()
    res.done()  # nothing was sent
    res2 = Script([("*IDN?", "ZERA GmbH Koenigswinter, COM5003, 1, r")])
    opted = ZeraCOM5003(DriverContext(res2, "com test", VirtualClock(), {}, allow_unconfirmed=True))
    assert opted.identify().startswith("ZERA") and opted.link.unconfirmed_sent == {"*IDN?"}


def test_an_injected_refusal_is_reported_as_the_unit_does_it_naming_the_setting(unit):
    bench, _ = unit
    bench.simulator.inject("calculators", "refused", f"{EC}:MRATE")
    with pytest.raises(CommandRefused, match=r"refused the meter pulses \(MRATE\)") as exc:
        bench.calculators[1].configure(0.15, 20)
    assert "-120,Numeric data error" in str(exc.value)


def test_a_whole_9s_plan_runs_on_the_com5003_bench_and_measures_the_injected_errors(tmp_path):
    """The engine through the driver and the simulated unit; any command the unit would refuse fails the
    test (conftest). Position 1's meter: +0.02 % at FL unity, -0.04 % at PF 0.5 lag (error curve)."""
    from bench.kernel import KernelSettings as EngineSettings
    from bench.kernel import RunKernel as Engine
    from bench.records import RecordStore
    from bench.session import meters_from_bench
    from procedures.plans import load_plan

    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    events = []
    with open_bench(EXAMPLE) as bench:
        engine = Engine(bench, store, load_plan("ansi-c12.20-9s"), meters_from_bench(bench.config),
                        operator="test", settings=EngineSettings(), listeners=[events.append])  # fmt: skip
        out = engine.run()
        assert out.outcome == "passed", out.message
        assert not bench.simulator.physics.output_on
        assert bench.reference.confirm_safe() == []
    store.close()
    errors = {ev.point_id: ev.data["error_percent"] for ev in events if ev.kind == "point_done"}
    assert errors["FL"] == pytest.approx(0.02, abs=0.03)
    assert errors["PF"] == pytest.approx(-0.04, abs=0.03)
    assert any(ev.kind == "creep" for ev in events) and any(ev.kind == "starting" for ev in events)
