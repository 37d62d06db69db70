"""The Fluke 6100B/6105A driver's exact command exchange, checked without hardware: a fake VISA
resource records every write and answers from a script."""

from __future__ import annotations

from datetime import date

import pytest

from instruments.clock import VirtualClock
from instruments.drivers import DriverContext
from instruments.drivers.fluke6100 import COMMANDS, Fluke6100
from instruments.errors import CommandRefused, InstrumentFault, InstrumentTimeout, UnparseableReply
from instruments.interfaces import Calibration, PhaseSetting
from procedures.errors import InputError

CAL = Calibration("C-1", "Lab", date(2026, 1, 1), date(2027, 1, 1), 0.02, 2.0, "to NMI")


class FakeResource:
    """Records writes; each query's reply comes from ``replies[command]`` (a list is consumed in order)."""

    def __init__(self, replies: dict[str, object] | None = None) -> None:
        self.replies = {"SYST:ERR?": '0,"No error"', "*IDN?": "FLUKE,6105A,123,2.1"} | dict(replies or {})
        self.writes: list[str] = []
        self.timeout = 2000
        self._pending: list[str] = []

    def write(self, command: str) -> None:
        self.writes.append(command)
        if command.endswith("?"):
            reply = self.replies[command]
            if isinstance(reply, list):
                reply = reply.pop(0) if len(reply) > 1 else reply[0]
            self._pending.append(reply)

    def read(self) -> str:
        return self._pending.pop(0)

    def close(self) -> None:
        pass


def fluke(replies=None, **options) -> tuple[Fluke6100, FakeResource]:
    res = FakeResource(
        {"SOUR:PHAS1:FITT?": "1", "SOUR:PHAS2:FITT?": "1", "SOUR:PHAS3:FITT?": "1"} | (replies or {})
    )
    f = Fluke6100(DriverContext(res, "fluke test", VirtualClock(), options))
    f.as_reference(1e-5, CAL)
    return f, res


def test_identify_sends_idn():
    f, res = fluke()
    assert f.identify() == "FLUKE,6105A,123,2.1"
    assert res.writes == ["*IDN?"]


def test_apply_sets_each_phase_in_the_wire_angle_convention_then_checks_errors():
    f, res = fluke()
    f.apply(
        {
            "A": PhaseSetting(120, 0, 5, 60),
            "B": PhaseSetting(120, 120, 5, 180),
            "C": PhaseSetting(120, 240, 0, 0),
        },
        60.0,
    )
    assert res.writes == [
        "SOUR:PHAS1:FITT?", "SOUR:PHAS2:FITT?", "SOUR:PHAS3:FITT?",
        # lagging 60 deg goes out as -60 (leading positive on the wire), 240 lag as +120
        "SOUR:PHAS1:VOLT:MHAR:HARM1 120,0.0000", "SOUR:PHAS1:CURR:MHAR:HARM1 5,-60.0000",
        "SOUR:PHAS1:VOLT:STAT 1", "SOUR:PHAS1:CURR:STAT 1",
        "SOUR:PHAS2:VOLT:MHAR:HARM1 120,-120.0000", "SOUR:PHAS2:CURR:MHAR:HARM1 5,180.0000",
        "SOUR:PHAS2:VOLT:STAT 1", "SOUR:PHAS2:CURR:STAT 1",
        "SOUR:PHAS3:VOLT:MHAR:HARM1 120,120.0000", "SOUR:PHAS3:CURR:MHAR:HARM1 0,0.0000",
        "SOUR:PHAS3:VOLT:STAT 1", "SOUR:PHAS3:CURR:STAT 0",
        "SOUR:FREQ 60",
        "SYST:ERR?",
    ]  # fmt: skip


def test_apply_single_phase_switches_unused_phases_off():
    f, res = fluke()
    f.apply({"A": PhaseSetting(240, 0, 30, 0)}, 60.0)
    assert "SOUR:PHAS2:VOLT:STAT 0" in res.writes and "SOUR:PHAS3:CURR:STAT 0" in res.writes
    assert not any(w.startswith("SOUR:PHAS2:VOLT:MHAR") for w in res.writes)


def test_apply_refused_setting_raises_command_refused_naming_the_commands():
    f, res = fluke({"SYST:ERR?": ['-222,"Data out of range"', '0,"No error"']})
    with pytest.raises(CommandRefused) as err:
        f.apply({"A": PhaseSetting(240, 0, 30, 0)}, 60.0)
    assert "SOUR:FREQ 60" in str(err.value) and "Data out of range" in str(err.value)


def test_apply_on_an_unfitted_phase_is_refused():
    f, _ = fluke({"SOUR:PHAS2:FITT?": "0", "SOUR:PHAS3:FITT?": "0"})
    with pytest.raises(CommandRefused, match="phase B is not fitted"):
        f.apply({"A": PhaseSetting(120, 0, 5, 0), "B": PhaseSetting(120, 120, 5, 120)}, 60.0)


def test_output_on_polls_state_then_checks_errors():
    f, res = fluke({"OUTP:STAT?": ["0", "1"]})
    f.output_on()
    assert res.writes == ["OUTP:STAT ON", "OUTP:STAT?", "SYST:ERR?", "OUTP:STAT?", "SYST:ERR?"]


def test_output_on_overload_is_an_instrument_fault():
    f, _ = fluke({"OUTP:STAT?": "0", "SYST:ERR?": ['301,"Current amplifier overload"', '0,"No error"']})
    with pytest.raises(InstrumentFault, match="overload"):
        f.output_on()


def test_output_on_that_never_comes_on_times_out_on_the_bench_clock():
    f, _ = fluke({"OUTP:STAT?": "0"}, settle_timeout_s=5.0, poll_s=1.0)
    with pytest.raises(InstrumentTimeout, match="source output on"):
        f.output_on()
    assert 5.0 <= f.clock.now() <= 6.0


def test_output_off_and_safe_state():
    f, res = fluke({"OUTP:STAT?": "0"})
    f.output_off()
    assert res.writes == ["OUTP:STAT OFF", "OUTP:STAT?"]
    res.writes.clear()
    f.safe_state()
    assert res.writes == ["OUTP:STAT OFF", "ENER:ABOR"]


def test_output_is_on_reports_a_trip_as_fault():
    f, _ = fluke({"OUTP:STAT?": ["1", "0"], "SYST:ERR?": ['0,"No error"', '301,"overload"', '0,"No error"']})
    f.output_on()
    with pytest.raises(InstrumentFault):
        f.output_is_on()


def test_read_reference_per_phase():
    replies = {"SOUR:FREQ?": "60"}
    for n in (1, 2, 3):
        replies |= {
            f"MEAS:PHAS{n}:VOLT?": "120,0",
            f"MEAS:PHAS{n}:CURR?": "5,-60",
            f"SOUR:PHAS{n}:POW:WATT?": "300",
            f"SOUR:PHAS{n}:POW:VA?": "600",
        }
    f, res = fluke(replies)
    r = f.read()
    assert res.writes[3:7] == [
        "MEAS:PHAS1:VOLT?",
        "MEAS:PHAS1:CURR?",
        "SOUR:PHAS1:POW:WATT?",
        "SOUR:PHAS1:POW:VA?",
    ]
    a = r.phases["A"]
    assert a.current_lag_deg == pytest.approx(60.0) and a.pf == pytest.approx(0.5)
    assert a.vars == pytest.approx(600 * 0.866025, rel=1e-5)  # lagging = inductive = positive vars
    assert r.watts == pytest.approx(900) and r.frequency_hz == 60


def test_read_garbage_is_unparseable():
    f, _ = fluke({"MEAS:PHAS1:VOLT?": "12O,0"})
    with pytest.raises(UnparseableReply, match="MEAS:PHAS1:VOLT"):
        f.read()


def test_pulse_test_configure_start_poll_result():
    f, res = fluke(
        {"ENER:TEST:STAT?": ["RUN,0.500", "DONE,1.000"], "ENER:TEST:RES?": "-0.10000,12,720720,3.6"}
    )
    f.configure(0.6, 12)
    assert res.writes == [
        "ENER:MUT:CONS:UNIT WHPI", "ENER:MUT:CONS 0.6", "ENER:MUT:SOUR CH1", "ENER:MUT:TEST:PULS 12", "SYST:ERR?"
    ]  # fmt: skip
    res.writes.clear()
    f.start()
    assert f.poll() == ("running", 0.5)
    assert f.poll() == ("finished", 1.0)
    r = f.result()
    assert res.writes == [
        "ENER:TEST:STAR",
        "SYST:ERR?",
        "ENER:TEST:STAT?",
        "ENER:TEST:STAT?",
        "ENER:TEST:RES?",
    ]
    assert (r.meter_pulses, r.ref_pulses, r.kr_wh, r.gate_seconds, r.instrument_error_percent) == (
        12, 720720, 1e-5, 3.6, -0.1
    )  # fmt: skip


def test_result_without_finished_gate_is_unparseable():
    f, _ = fluke({"ENER:TEST:RES?": "NAN,0,0,0"})
    with pytest.raises(UnparseableReply, match="no finished gate"):
        f.result()


def test_count_start_read_and_stop():
    f, res = fluke({"ENER:COUN?": "2,3600.0"})
    f.count_start()
    assert f.count_read() == (2, 3600.0)
    f.stop()
    assert res.writes == ["ENER:COUN:STAR", "SYST:ERR?", "ENER:COUN?", "ENER:ABOR"]


def test_configure_rejects_bad_constants_before_sending():
    f, res = fluke()
    with pytest.raises(InputError, match="kt_wh"):
        f.configure(0, 10)
    assert res.writes == []


def test_bad_option_names_the_option():
    with pytest.raises(InputError, match=r"instruments.options.timeout_ms"):
        fluke(timeout_ms=5)


def test_every_command_is_marked_confirmed_or_unconfirmed():
    assert {prov for _, prov in COMMANDS.values()} <= {"C", "U"}
    assert COMMANDS["test_start"][1] == "U" and COMMANDS["test_result?"][1] == "U"
