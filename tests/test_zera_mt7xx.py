"""The ZERA MT7xx driver's exact command exchange (line protocol, ACK/NAK, DIN angles), checked without
hardware: a fake resource records every line sent and answers scripted reply lines. Then the simulated
MT7xx bench runs the 16S plan's gates through the driver."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from instruments.bench import open_bench
from instruments.clock import VirtualClock
from instruments.drivers import DriverContext
from instruments.drivers.zera_mt7xx import ZeraMT7xx, clip_to_protocol, from_wire, to_wire
from instruments.errors import CommandRefused, InstrumentFault, InstrumentTimeout, UnparseableReply
from instruments.interfaces import Calibration, PhaseSetting
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CAL = Calibration("C-1", "Lab", date(2026, 1, 1), date(2027, 1, 1), 0.02, 2.0, "to NMI")
OK = {"SUP": ["SOKUP"], "SIP": ["SOKIP"], "SFR": ["SOKFR"], "SUI": ["SOKUI"], "AEP": ["AEPACK"]}
OK |= {"AEB0": ["AEBACK"], "AEE": ["AEEACK"], "AAV": ["MT793V05.52", "AAVACK"]}


def ame(v=(120.0, 120.0, 120.0), i=(5.0, 5.0, 5.0), va=(0.0, 240.0, 120.0), ia=(300.0, 180.0, 60.0)):
    lines = [f"{k};{x:.7E}" for k, x in enumerate([*v, *i, *va, *ia])]
    watts = [300.0, 300.0, 300.0]
    lines += [f"{15 + k};{w:.7E}" for k, w in enumerate(watts)]
    lines += [f"{21 + k};{600.0:.7E}" for k in range(3)]
    return [*lines, "27;123", "28;6.0000000E+01", "AMEACK"]


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
            import pyvisa

            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
        return self.lines.pop(0)

    def close(self) -> None:
        pass


def mt(script=None, **options) -> tuple[ZeraMT7xx, FakeLineResource]:
    res = FakeLineResource(script)
    m = ZeraMT7xx(DriverContext(res, "mt test", VirtualClock(), options))
    m.as_reference(1e-5, CAL)
    m.calculators((1,))
    return m, res


BALANCED = {
    "A": PhaseSetting(120, 0, 5, 60),
    "B": PhaseSetting(120, 120, 5, 180),
    "C": PhaseSetting(120, 240, 0, 0),
}


def test_identify_reads_the_version_line_before_aavack():
    m, res = mt()
    assert m.identify() == "MT793V05.52"
    assert res.writes == ["AAV"]


def test_din_angles_are_the_negated_lagging_angle():
    assert to_wire(0) == 0.0 and to_wire(120) == 240.0 and to_wire(60) == 300.0 and to_wire(240) == 120.0
    assert to_wire(359.999) == 0.0  # rounds onto the wire's 0..359.99
    for lag in (0.0, 30.0, 120.0, 300.0):
        assert from_wire(to_wire(lag)) == pytest.approx(lag % 360)


def test_apply_sends_frequency_voltages_currents_in_the_documented_fields():
    m, res = mt()
    m.apply(BALANCED, 60.0)
    assert res.writes == [
        "SFR60.00",
        # RRR.RRRAAA.AA per phase; phase B lagging 120 goes out as 240.00 (DIN)
        "SUPAER120.000000.00S120.000240.00T120.000120.00",
        # currents lagging 60 / 180 deg: 300.00 / 180.00; phase C no current
        "SIPAAR005.000300.00S005.000180.00T000.000000.00",
    ]  # fmt: skip


def test_apply_rotates_to_the_first_switched_on_voltage_like_the_mt():
    m, res = mt()
    m.apply({"B": PhaseSetting(120, 120, 5, 150)}, 50.0)
    assert res.writes[1] == "SUPAER000.000000.00S120.000000.00T000.000000.00"
    assert res.writes[2] == "SIPAAR000.000000.00S005.000330.00T000.000000.00"  # 30 deg lag of V(B)


def test_output_on_switches_the_applied_phases_and_confirms_by_measuring():
    m, res = mt()
    m.apply(BALANCED, 60.0)
    res.writes.clear()
    m.output_on()
    assert res.writes == ["SUIEEEPPAAAA", "AME"]
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


def test_nak_is_command_refused_naming_command_and_reply():
    m, _ = mt({"SFR": ["SFRNAK"]})
    with pytest.raises(CommandRefused) as exc:
        m.apply(BALANCED, 60.0)
    assert exc.value.command == "SFR60.00" and exc.value.reply == "SFRNAK"


def test_unknown_reply_line_before_the_ack_is_unparseable_for_a_data_command():
    m, _ = mt({"AES1": ["07", "--.--", "1;2", "AESACK"]})
    with pytest.raises(UnparseableReply):
        m.poll()


def test_no_reply_is_a_timeout():
    m, _ = mt({"AAV": []})
    with pytest.raises(InstrumentTimeout):
        m.identify()


def test_settings_outside_the_wire_fields_are_input_errors_before_anything_is_sent():
    m, res = mt()
    with pytest.raises(InputError, match="voltage_v"):
        m.apply({"A": PhaseSetting(1200, 0, 5, 0)}, 60.0)
    with pytest.raises(InputError, match="frequency"):
        m.apply(BALANCED, 400.0)
    assert res.writes == []


def test_read_parses_ame_into_lagging_angles_and_powers():
    m, res = mt()
    r = m.read()
    assert res.writes == ["AME"]
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


def test_gate_start_poll_result_exchange():
    status = [
        ["01", "--.--", "0.000000;0.000000", "AESACK"],
        ["02", "--.--", "50.000000;0.6", "AESACK"],
        ["03", "0.1234", "100.000000;5.9926", "AESACK"],
    ]
    m, res = mt({"AES1": status})
    m.configure(0.15, 40)
    m.start()
    assert m.poll() == ("running", 0.0)
    assert m.poll() == ("running", 0.5)
    assert m.poll() == ("finished", 1.0)
    r = m.result()
    assert res.writes == ["AEP666667;03;40;0", "AEB0", "AES1", "AES1", "AES1", "AES1"]
    assert r.meter_pulses == 40 and r.ref_pulses == pytest.approx(5.9926 / 1e-5)
    assert r.instrument_error_percent == pytest.approx(0.1234)
    m.stop()
    assert res.writes[-1] == "AEE"


def test_result_without_a_finished_gate_is_unparseable():
    m, _ = mt({"AES1": ["02", "--.--", "10;0.1", "AESACK"]})
    m.configure(0.15, 40)
    with pytest.raises(UnparseableReply, match="no finished gate"):
        m.result()


def test_count_uses_a_gate_and_its_progress():
    status = [["01", "--.--", "0;0", "AESACK"], ["02", "--.--", "4.000000;0.1", "AESACK"]]
    m, res = mt({"AES1": status})
    m.count_start()
    assert res.writes == ["AEP100000;03;100;0", "AEB0"]
    assert m.count_read()[0] == 0  # armed: no pulse yet
    assert m.count_read()[0] == 5  # the opening pulse + 4 % of 100


def test_simulated_mt_bench_measures_the_meter_error_through_the_driver():
    """Injected curve: +0.10 % at FL unity (16S CL200, TA 30 A); the gate reads it back within 0.05 %."""
    with open_bench(ROOT / "examples/zera-mt7xx.toml") as bench:
        src, calc = bench.source, bench.calculators[1]
        settings = {
            p: PhaseSetting(277.0, lag, 30.0, lag) for p, lag in zip("ABC", (0, 120, 240), strict=True)
        }
        src.apply(settings, 60.0)
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
        assert err == pytest.approx(g.instrument_error_percent, abs=1e-3)
        bench.safe_state()
        assert not bench.simulator.physics.output_on
