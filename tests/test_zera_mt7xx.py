"""The ZERA MT7xx: what the driver sends (exact lines, CR-terminated, 9600 8N2), how the simulated MT refuses
what the real unit refuses (LF lines and a wrong serial line get nothing, malformed arguments a NAK,
unknown commands silence), and a simulated bench measuring a meter through the driver, the MT computing
the error itself from its own reference constant."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import pyvisa

from instruments.bench import open_bench
from instruments.clock import VirtualClock
from instruments.drivers import DriverContext
from instruments.drivers.zera_mt7xx import (
    COMMANDS,
    TRANSPORT,
    ZeraMT7xx,
    clip_to_protocol,
    from_wire,
    reference_constant,
    to_wire,
)
from instruments.errors import CommandRefused, InstrumentFault, InstrumentTimeout, UnparseableReply
from instruments.interfaces import Calibration, PhaseSetting
from instruments.sim.library import CoupledSimLibrary
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/zera-mt7xx.toml"
CAL = Calibration("C-1", "Lab", date(2026, 1, 1), date(2027, 1, 1), 0.02, 2.0, "to NMI")
RANGES_U = ["420", "250", "125", "60", "5", "0.25"]
RANGES_I = ["100", "50", "20", "10", "5", "2", "1", "0.5", "0.2", "0.1", "0.05", "0.02"]
OK = {"SUP": ["SOKUP"], "SIP": ["SOKIP"], "SFR": ["SOKFR"], "SUI": ["SOKUI"], "AEP": ["AEPACK"]}
OK |= {"AEB0": ["AEBACK"], "AEE": ["AEEACK"], "AAV": ["MT786V05.52", "AAVACK"], "ATI01": ["ATIACK"]}
OK |= {"AMT": ["AMTACK"], "AAM": ["AAMACK"], "AVI": [*RANGES_U, "AVIACK"], "ACI": [*RANGES_I, "ACIACK"]}
OK |= {"AVR": ["AVRACK"], "ACR": ["ACRACK"], "AES1": ["00", "oo.oo", "0.000000;0.000000", "AESACK"]}
OK |= {"AST": ["UB=125", "IB=5", "M=4WA", "PLL=U1", "UEB=--", "NIB=0", "RDY=11-", "ASTACK"]}


def ame(v=(120.0, 120.0, 120.0), i=(5.0, 5.0, 5.0), va=(0.0, 240.0, 120.0), ia=(300.0, 180.0, 60.0)):
    lines = [f"{k};{x:.7E}" for k, x in enumerate([*v, *i, *va, *ia])]
    lines += [f"{15 + k};{300.0:.7E}" for k in range(3)]
    lines += [f"{21 + k};{600.0:.7E}" for k in range(3)]
    # 29.., 35, 51..: further lines ZERA's device mock sends; the driver ignores them
    return [*lines, "27;123", "28;60.00", "29;1.5582092E-01", "35;1", "51;1.3298696E+00", "AMEACK"]


class FakeLineResource:
    """Records each line written; ``script[prefix]`` gives the reply lines (a list of lists is consumed)."""

    def __init__(self, script: dict[str, object] | None = None) -> None:
        self.script = OK | {"AME": ame()} | dict(script or {})
        self.writes: list[str] = []
        self.lines: list[str] = []
        self.timeout = 2000

    def write(self, command: str) -> None:
        self.writes.append(command)
        key = next(k for k in sorted(self.script, key=len, reverse=True) if command.startswith(k))
        reply = self.script[key]
        if reply and isinstance(reply[0], list):
            reply = reply.pop(0) if len(reply) > 1 else reply[0]
        self.lines.extend(reply)

    def read(self) -> str:
        if not self.lines:
            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
        return self.lines.pop(0)

    def close(self) -> None:
        pass


def mt(script=None, **options) -> tuple[ZeraMT7xx, FakeLineResource]:
    res = FakeLineResource(script)
    m = ZeraMT7xx(DriverContext(res, "mt test", VirtualClock(), {"range_settle_s": 0.0} | options))
    m.as_reference(1000.0 / reference_constant("4WA", 125, 5), CAL)
    m.calculators((1,))
    return m, res


BALANCED = {
    "A": PhaseSetting(120, 0, 5, 60),
    "B": PhaseSetting(120, 120, 5, 180),
    "C": PhaseSetting(120, 240, 0, 0),
}
FULL_LOAD = {p: PhaseSetting(277.0, lag, 30.0, lag) for p, lag in zip("ABC", (0, 120, 240), strict=True)}
FIRST_APPLY = ["AMT4WA", "AAMMMA", "AVI", "ACI", "AVR125", "ACR5"]


# ---- the driver's exchange --------------------------------------------------------------------------
def test_every_command_carries_provenance_and_a_source():
    for name, (_template, acknowledgement, provenance, source) in COMMANDS.items():
        assert provenance in ("C", "U") and source.startswith("SM "), name
        assert acknowledgement.endswith("ACK") or acknowledgement.startswith("SOK"), name
    assert [n for n, v in COMMANDS.items() if v[2] == "U"] == []  # everything sent is in ZERA's client


def test_transport_defaults_are_the_mts_serial_line():
    assert (TRANSPORT.read_termination, TRANSPORT.write_termination) == ("\r", "\r")
    assert (TRANSPORT.baud_rate, TRANSPORT.data_bits, TRANSPORT.stop_bits, TRANSPORT.parity) == (
        9600, 8, 2, "none",
    )  # fmt: skip


def test_identify_reads_the_version_line_before_aavack():
    m, res = mt()
    assert m.identify() == "MT786V05.52"
    assert res.writes == ["AAV"]


def test_din_angles_are_the_negated_lagging_angle():
    assert to_wire(0) == 0.0 and to_wire(120) == 240.0 and to_wire(60) == 300.0 and to_wire(240) == 120.0
    assert to_wire(359.999) == 0.0  # rounds onto the wire's 0..359.99
    for lag in (0.0, 30.0, 120.0, 300.0):
        assert from_wire(to_wire(lag)) == pytest.approx(lag % 360)


def test_first_load_point_sets_mode_manual_ranges_then_frequency_voltages_currents_and_reads_ast():
    m, res = mt()
    m.apply(BALANCED, 60.0)
    assert res.writes == [
        *FIRST_APPLY,  # 4-wire active, manual U and I ranges (PLL automatic), the ranges for 120 V / 5 A
        "SFR60.00",
        # RRR.RRRAAA.AA per phase; phase B lagging 120 goes out as 240.00 (DIN)
        "SUPAER120.000000.00S120.000240.00T120.000120.00",
        # currents lagging 60 / 180 deg: 300.00 / 180.00; phase C no current
        "SIPAAR005.000300.00S005.000180.00T000.000000.00",
        "AST",  # the reference constant at the new ranges
    ]  # fmt: skip


def test_apply_rotates_to_the_first_switched_on_voltage_like_zeras_client():
    m, res = mt()
    m.apply({"B": PhaseSetting(120, 120, 5, 150)}, 50.0)
    assert res.writes[7] == "SUPAER000.000000.00S120.000000.00T000.000000.00"
    assert res.writes[8] == "SIPAAR000.000000.00S005.000330.00T000.000000.00"  # 30 deg lag of V(B)


def test_a_second_point_changes_only_the_range_that_changes_growing_before_shrinking_after():
    m, res = mt(
        {"AST": [OK["AST"], ["UB=125", "IB=20", "M=4WA", "ASTACK"], ["UB=125", "IB=1", "M=4WA", "ASTACK"]]}
    )
    m.apply(BALANCED, 60.0)
    m.output_on()
    res.writes.clear()
    m.apply({p: replace(s, current_a=15.0) for p, s in BALANCED.items()}, 60.0)
    assert res.writes[0] == "ACR20" and res.writes[-1] == "AST"  # larger range before the larger current
    res.writes.clear()
    m.apply({p: replace(s, current_a=0.5) for p, s in BALANCED.items()}, 60.0)
    # a smaller range only after the smaller current is set (never 5 A flowing on a 0.5 A range)
    assert [w[:3] for w in res.writes[:4]] == ["SFR", "SUP", "SIP", "ACR"] and res.writes[3] == "ACR0.5"
    assert m.kr_wh == pytest.approx(1000.0 / reference_constant("4WA", 125, 1))


def test_output_on_switches_the_applied_phases_and_confirms_by_measuring():
    m, res = mt()
    m.apply(BALANCED, 60.0)
    res.writes.clear()
    m.output_on()
    assert res.writes == ["SUIEEEPPAAAA", "ATI01", "AME"]  # ATI01 always before AME
    assert m.output_is_on()


def test_apply_while_on_resends_the_phase_switches():
    m, res = mt()
    m.apply(BALANCED, 60.0)
    m.output_on()
    res.writes.clear()
    m.apply({"A": PhaseSetting(120, 0, 5, 0)}, 60.0)
    assert res.writes[-1] == "SUIEAAPAAAAA"


def test_output_off_and_safe_state_switch_everything_off_first():
    m, res = mt({"AME": [ame(), ame(v=(0, 0, 0), i=(0, 0, 0))]})
    m.safe_state()
    assert res.writes == ["SUIAAAAAAAAA", "AEE"]
    res.writes.clear()
    m.output_off()
    assert res.writes[0] == "SUIAAAAAAAAA"


def test_a_tripped_output_is_an_instrument_fault():
    m, res = mt({"AME": [ame(), ame(v=(0, 0, 0), i=(0, 0, 0))]})
    m.apply(BALANCED, 60.0)
    m.output_on()
    with pytest.raises(InstrumentFault, match="tripped"):
        m.output_is_on()


def test_nak_is_command_refused_naming_the_command():
    m, _ = mt({"SFR": ["SFRNAK"]})
    with pytest.raises(CommandRefused, match="SFR60.00") as exc:
        m.apply(BALANCED, 60.0)
    assert exc.value.command == "SFR60.00" and exc.value.reply == "SFRNAK"


@pytest.mark.parametrize("line", ["ERROR", "ER-17", "SUP ERR-3"])
def test_error_lines_are_instrument_faults(line):
    m, _ = mt({"SUP": [line]})
    with pytest.raises(InstrumentFault, match="reported an error") as exc:
        m.apply(BALANCED, 60.0)
    assert exc.value.reply == line


def test_unknown_reply_line_before_the_ack_is_unparseable_for_a_data_command():
    m, _ = mt({"AES1": ["07", "--.--", "1;2", "AESACK"]})
    with pytest.raises(UnparseableReply):
        m.poll()


def test_no_reply_is_a_timeout():
    m, _ = mt({"AAV": []})
    with pytest.raises(InstrumentTimeout):
        m.identify()


def test_settings_outside_the_mt786_are_input_errors_before_anything_is_sent():
    m, res = mt()
    with pytest.raises(InputError, match="voltage_v"):
        m.apply({"A": PhaseSetting(600, 0, 5, 0)}, 60.0)
    with pytest.raises(InputError, match="current_a"):
        m.apply({"A": PhaseSetting(120, 0, 150, 0)}, 60.0)
    with pytest.raises(InputError, match="frequency"):
        m.apply(BALANCED, 400.0)
    assert res.writes == []


def test_read_parses_ame_into_lagging_angles_and_powers():
    m, res = mt()
    r = m.read()
    assert res.writes == ["ATI01", "AME"]
    assert r.phases["B"].voltage_lag_deg == pytest.approx(120.0)  # DIN 240 -> lag 120
    assert r.phases["A"].current_lag_deg == pytest.approx(60.0)  # DIN 300 -> lag 60
    assert r.watts == pytest.approx(900.0) and r.frequency_hz == 60.0
    assert r.phases["A"].vars > 0  # lagging current: inductive vars positive


def test_configure_sends_meter_constant_and_pulses_as_mantissa_exponent():
    m, res = mt()
    m.configure(0.15, 40)  # 6666.67 imp/kWh x 1e5 = 666666667 -> 666667;03
    assert res.writes == ["AEP666667;03;40;0"]
    res.writes.clear()
    m.configure(1.8, 1_234_567)  # 555.556 imp/kWh; 1234567 pulses -> 123457;1
    assert res.writes == ["AEP555556;02;123457;1"]
    assert clip_to_protocol(999_999.6, "x") == ("100000", 1, 1_000_000.0)


def test_the_gate_result_is_the_mts_own_error_with_reference_pulses_derived_from_it():
    status = [
        ["01", "--.--", "0.000000;0.000000", "AESACK"],
        ["02", "--.--", "50.000000;0.6", "AESACK"],
        ["03", "0.12", "0.000000;5.9926", "AESACK"],  # the energy field is not used ([U])
    ]
    m, res = mt({"AES1": status})
    m.apply(BALANCED, 60.0)
    res.writes.clear()
    m.configure(0.15, 40)
    m.start()
    assert m.poll() == ("running", 0.0)
    assert m.poll() == ("running", 0.5)
    assert m.poll() == ("finished", 1.0)
    r = m.result()
    assert res.writes == ["AEP666667;03;40;0", "AEB0", "AES1", "AES1", "AES1", "AES1"]
    kr = 1000.0 / reference_constant("4WA", 125, 5)  # from AST: UB=125, IB=5, M=4WA
    assert r.kr_wh == pytest.approx(kr) and r.meter_pulses == 40
    assert r.instrument_error_percent == pytest.approx(0.12)
    kt_sent = 1000.0 / 6666.67  # the constant the MT was given (6 digits)
    assert r.ref_pulses == pytest.approx(40 * kt_sent / kr / 1.0012)
    # the engine's %R from these counts is the MT's error (kt as the engine knows it: 0.15 Wh)
    assert 100 * 40 * 0.15 / (r.ref_pulses * r.kr_wh) - 100 == pytest.approx(0.12, abs=1e-4)
    m.stop()
    assert res.writes[-1] == "AEE"


def test_result_without_a_finished_gate_or_without_an_error_is_unparseable():
    m, _ = mt({"AES1": [["02", "--.--", "10;0.1", "AESACK"], ["03", "--.--", "0;0", "AESACK"]]})
    m.configure(0.15, 40)
    with pytest.raises(UnparseableReply, match="no finished gate"):
        m.result()
    with pytest.raises(UnparseableReply, match="no error"):
        m.result()


def test_count_uses_a_one_pulse_gate_and_its_state_digit():
    status = [
        ["01", "--.--", "0;0", "AESACK"],
        ["02", "--.--", "0;0", "AESACK"],
        ["03", "1.00", "0;1", "AESACK"],
    ]
    m, res = mt({"AES1": status})
    m.count_start()
    assert res.writes == ["AEP100000;03;1;0", "AEB0"]
    assert [m.count_read()[0] for _ in range(3)] == [0, 1, 2]  # armed, opened, closed by a 2nd pulse


def test_capabilities_say_what_the_mt_does():
    caps = mt()[0].capabilities()
    assert (caps.phases, caps.per_element, caps.positions, caps.energy_test) == (3, True, 1, True)
    assert caps.quantities == {"active"} and caps.pulse_count and not caps.continuous_gating
    assert caps.unconfirmed == () and caps.frequency_hz == (45.0, 65.0)


def test_confirm_safe_reports_a_calculator_still_running_and_current_still_flowing():
    m, res = mt({"AES1": ["02", "--.--", "1;1", "AESACK"], "AME": ame(v=(0, 0, 0), i=(0, 2.0, 0))})
    problems = m.confirm_safe()
    assert res.writes[:2] == ["SUIAAAAAAAAA", "AEE"]
    assert any("phase B current 2 A" in p for p in problems)
    assert any("running" in p and "AES1" in p for p in problems)


# ---- the simulated MT, as the real unit behaves -----------------------------------------------------------
def bench_file(tmp_path, transport: str = "", kr_wh: str | None = None) -> Path:
    text = EXAMPLE.read_text()
    if transport:
        text = text.replace(
            "[instruments.reference]",
            f"[instruments.source.transport]\n{transport}\n\n[instruments.reference]",
        )
    if kr_wh is not None:
        text = text.replace("kr_wh = 2.9166667e-4", f"kr_wh = {kr_wh}")
    path = tmp_path / "mt.toml"
    path.write_text(text)
    return path


@pytest.fixture
def raw():
    """A second, raw VISA session to the simulated MT of the example bench (right line settings)."""
    with open_bench(EXAMPLE) as bench:
        inst = bench.simulator.devices["source"].instrument
        lib = CoupledSimLibrary.create()
        lib.attach_instrument("ASRL7::INSTR", inst)
        rm = pyvisa.ResourceManager(lib)
        res = rm.open_resource("ASRL7::INSTR", read_termination="\r", write_termination="\r", timeout=100)
        res.baud_rate, res.data_bits, res.stop_bits = 9600, 8, pyvisa.constants.StopBits.two
        res.parity = pyvisa.constants.Parity.none

        def ask(command: str, n: int = 1) -> list[str]:
            res.write(command)
            return [res.read() for _ in range(n)]

        yield bench, inst, res, ask
        rm.close()


def test_the_driver_sends_cr_terminated_lines_on_a_9600_8n2_session():
    with open_bench(EXAMPLE) as bench:
        device = bench.simulator.devices["source"]
        sent: list[bytes] = []
        write = device.write
        device.write = lambda data: (sent.append(bytes(data)), write(data))[1]
        res = device.session
        attr = pyvisa.constants.ResourceAttribute
        assert res.get_attribute(attr.asrl_baud_rate)[0] == 9600
        assert res.get_attribute(attr.asrl_stop_bits)[0] == pyvisa.constants.StopBits.two
        bench.source.apply(FULL_LOAD, 60.0)
        assert sent == [
            b"AMT4WA\r", b"AAMMMA\r", b"AVI\r", b"ACI\r", b"AVR420\r", b"ACR50\r", b"SFR60.00\r",
            b"SUPAER277.000000.00S277.000240.00T277.000120.00\r",
            b"SIPAAR030.000000.00S030.000240.00T030.000120.00\r", b"AST\r",
        ]  # fmt: skip


def test_lf_terminated_commands_get_no_reply(tmp_path):
    with open_bench(bench_file(tmp_path, 'write_termination = "LF"\ntimeout_ms = 100')) as bench:
        with pytest.raises(InstrumentTimeout, match="AAV"):
            bench.source.identify()
        assert bench.simulator.devices["source"].instrument.log == []  # never a complete line


@pytest.mark.refusals_ok
def test_a_wrong_baud_rate_garbles_the_line(tmp_path):
    with open_bench(bench_file(tmp_path, "baud_rate = 19200\ntimeout_ms = 100")) as bench:
        with pytest.raises(InstrumentTimeout):
            bench.source.identify()
        (e,) = bench.simulator.devices["source"].instrument.refusals()
        assert e.message == "AAV" and "garbled" in e.why and e.reply is None


def test_ame_before_ati01_is_answered_as_zeras_client_relied_on_until_it_added_ati01(raw):
    _, inst, _, ask = raw
    lines = ask("AME", 30)
    assert lines[0].startswith("0;") and lines[27] == "27;123" and lines[28] == "28;60.00"
    assert lines[-1] == "AMEACK" and inst.integration_s is None and inst.refusals() == []
    assert ask("ATI01") == ["ATIACK"] and inst.integration_s == 1


@pytest.mark.refusals_ok
@pytest.mark.parametrize(
    "command, nak",
    [
        ("SUPAER120.00000.00S120.000240.00T120.000120.00", "SUPNAK"),  # RRR.RRR has three decimals
        ("SUPAER120.000400.00S120.000240.00T120.000120.00", "SUPNAK"),  # angle >= 360
        ("SIPAXR005.000000.00S005.000000.00T005.000000.00", "SIPNAK"),
        ("SFR60", "SFRNAK"),
        ("SUIEEEPPPAA", "SUINAK"),
        ("AEP0;00;40;0", "AEPNAK"),
        ("AVR420", "AVRNAK"),  # manual range while the range is automatic
    ],
)
def test_invalid_arguments_get_a_nak_line(raw, command, nak):
    _, inst, _, ask = raw
    assert ask(command) == [nak]
    assert inst.refusals()[-1].message == command


@pytest.mark.refusals_ok
def test_unknown_commands_get_silence(raw):
    _, inst, res, ask = raw
    for command in ("FOO", "aav", "*IDN?"):
        with pytest.raises(pyvisa.errors.VisaIOError):
            ask(command)
    assert [e.reply for e in inst.refusals()] == [None, None, None]
    assert ask("AAV", 2) == ["MT786V05.52", "AAVACK"]  # and the next good line is answered


@pytest.mark.refusals_ok
def test_manual_ranges_only_from_the_list(raw):
    _, _, _, ask = raw
    assert ask("AAMMMA") == ["AAMACK"]
    assert ask("AVR250") == ["AVRACK"] and ask("AVR210") == ["AVRNAK"]
    assert ask("ACR0.2") == ["ACRACK"] and ask("ACR50..01") == ["ACRNAK"]
    assert ask("AST", 8)[:3] == ["UB=250", "IB=0.2", "M=4WA"]


def test_an_injected_refusal_is_a_nak_and_the_driver_names_the_command():
    with open_bench(EXAMPLE) as bench:
        bench.simulator.inject("source", "refused", "SFR")
        with pytest.raises(CommandRefused, match="SFR60.00"):
            bench.source.apply({"A": PhaseSetting(120, 0, 1, 0)}, 60.0)


def test_the_reference_constant_comes_from_ast_and_a_different_bench_file_value_is_said(tmp_path, caplog):
    with open_bench(bench_file(tmp_path, kr_wh="1e-5")) as bench, caplog.at_level(logging.WARNING):
        bench.source.apply(FULL_LOAD, 60.0)
        assert bench.reference.kr_wh == pytest.approx(1000.0 / 3_428_571.43)  # UB=420, IB=50, 4WA
        (note,) = bench.reference.kr_notes
        assert "3.42857e+06 imp/kWh" in note and "kr_wh = 1e-05" in note and note in caplog.text
    with open_bench(EXAMPLE) as bench:  # the example's kr_wh is the MT's constant at these ranges
        bench.source.apply(FULL_LOAD, 60.0)
        assert bench.reference.kr_notes == []


def test_confirm_safe_on_the_simulated_mt_and_a_stuck_output():
    with open_bench(EXAMPLE) as bench:
        bench.source.apply(FULL_LOAD, 60.0)
        bench.source.output_on()
        bench.calculators[1].configure(1.8, 40)
        bench.calculators[1].start()
        assert bench.source.confirm_safe() == []
        assert not bench.simulator.physics.output_on
        bench.source.output_on()
        inst = bench.simulator.devices["source"].instrument
        inst.handlers["SUI"] = lambda m: inst.reply("SOKUI")  # acknowledged, but a contactor is welded shut
        problems = bench.source.confirm_safe()
        assert problems and "phase A voltage 27" in problems[0]


def test_simulated_mt_bench_measures_the_meter_error_through_the_driver():
    """Injected curve: +0.10 % at FL unity (16S CL200, TA 30 A); the MT's own error reads it back."""
    with open_bench(EXAMPLE) as bench:
        src, calc = bench.source, bench.calculators[1]
        src.apply(FULL_LOAD, 60.0)
        src.output_on()
        ref = bench.reference.read()
        assert ref.watts == pytest.approx(3 * 277 * 30, rel=1e-3)
        assert ref.phases["C"].voltage_lag_deg == pytest.approx(240.0, abs=0.05)
        calc.configure(1.8, 40)
        calc.start()
        while calc.poll()[0] != "finished":
            bench.clock.sleep(0.5)
        g = calc.result()
        err = 100.0 * (g.meter_pulses * 1.8 / (g.ref_pulses * g.kr_wh)) - 100.0
        assert err == pytest.approx(0.10, abs=0.05)
        assert err == pytest.approx(g.instrument_error_percent, abs=1e-3)  # within the AEP 6-digit clipping
        sent = [e.message for e in bench.simulator.devices["source"].instrument.log]
        assert all(sent[k - 1] == "ATI01" for k, m in enumerate(sent) if m == "AME")
        bench.safe_state()
        assert not bench.simulator.physics.output_on


def test_a_16s_plan_runs_on_the_simulated_mt(tmp_path):
    from bench.kernel import KernelSettings as EngineSettings
    from bench.kernel import RunKernel as Engine
    from bench.records import RecordStore
    from bench.session import meters_from_bench
    from procedures.plans import load_plan

    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    with open_bench(EXAMPLE) as bench:
        engine = Engine(bench, store, load_plan("ansi-c12.20-16s"), meters_from_bench(bench.config),
                        operator="test", settings=EngineSettings())  # fmt: skip
        out = engine.run()
        assert out.outcome == "passed", out.message
        assert not bench.simulator.physics.output_on
    store.close()
