"""The ZERA COM5003 driver's exact SCPI exchange (reference readings, error calculators EC0n), checked
without hardware; then the simulated Fluke-source + COM5003 bench measures meter errors through it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from instruments.bench import open_bench
from instruments.clock import VirtualClock
from instruments.drivers import DriverContext
from instruments.drivers.zera_com5003 import ZeraCOM5003
from instruments.errors import CommandRefused, UnparseableReply
from instruments.interfaces import Calibration, PhaseSetting
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CAL = Calibration("C-1", "Lab", date(2026, 1, 1), date(2027, 1, 1), 0.01, 2.0, "to NMI")


class FakeResource:
    """Records writes; each query's reply comes from ``replies[command]`` (a list is consumed in order)."""

    def __init__(self, replies: dict[str, object] | None = None) -> None:
        self.replies = {"SYST:ERR?": '0,"No error"', "*IDN?": "ZERA,COM5003,1,V3"} | dict(replies or {})
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


def com(replies=None, positions=(1, 2)):
    res = FakeResource(replies)
    meter = ZeraCOM5003(DriverContext(res, "com test", VirtualClock(), {}))
    meter.as_reference(1e-6, CAL)
    return meter, meter.calculators(positions), res


def test_read_queries_rms_dft_and_power_per_phase_and_converts_the_dft_angle():
    replies = {}
    for n, (lag_v, lag_i) in enumerate([(0, 60), (120, 180), (240, 300)], start=1):
        import cmath
        import math

        v = cmath.rect(120.0, -math.radians(lag_v))
        i = cmath.rect(5.0, -math.radians(lag_i))
        replies |= {
            f"FETCH:RMS1:UL{n}?": "120.0",
            f"FETCH:RMS1:IL{n}?": "5.0",
            f"FETCH:DFT1:UL{n}?": f"{v.real},{v.imag}",
            f"FETCH:DFT1:IL{n}?": f"{i.real},{i.imag}",
            f"FETCH:POW1:P{n}?": "300.0",
        }
    meter, _, res = com(replies | {"FETCH:RNG1:FREQ?": "60.002"})
    r = meter.read()
    assert res.writes[:5] == [
        "FETCH:RMS1:UL1?", "FETCH:RMS1:IL1?", "FETCH:DFT1:UL1?", "FETCH:DFT1:IL1?", "FETCH:POW1:P1?",
    ]  # fmt: skip
    assert res.writes[-1] == "FETCH:RNG1:FREQ?"
    assert r.phases["B"].voltage_lag_deg == pytest.approx(120.0)
    assert r.phases["C"].current_lag_deg == pytest.approx(300.0)
    assert r.watts == pytest.approx(900.0) and r.frequency_hz == pytest.approx(60.002)
    assert r.phases["A"].vars == pytest.approx(600 * 0.8660254, rel=1e-6)  # lagging: inductive, positive


def test_configure_and_start_address_the_positions_own_error_calculator():
    _, calcs, res = com()
    calcs[2].configure(0.15, 40)
    calcs[2].start()
    assert res.writes == [
        "CALCULATE:EC02:0001:DCUNIT I/kWh",
        "CALCULATE:EC02:0001:DUTCONSTANT 6666.66667",
        "CALCULATE:EC02:0001:MRATE 40",
        "SYST:ERR?",
        "CALCULATE:EC02:0001:START 1",
        "SYST:ERR?",
    ]


def test_poll_and_result_read_status_progress_pulses_and_result():
    replies = {
        "CALCULATE:EC01:0001:STATUS?": ["1", "2", "4", "4"],
        "CALCULATE:EC01:0001:PROGRESS?": ["0", "25.0"],
        "CALCULATE:EC01:0001:PULSES?": "599123",
        "CALCULATE:EC01:0001:RESULT?": "0.0214",
    }
    _, calcs, res = com(replies)
    c = calcs[1]
    c.configure(0.15, 40)
    res.writes.clear()
    assert c.poll() == ("running", 0.0)
    assert c.poll() == ("running", 0.25)
    assert c.poll() == ("finished", 1.0)
    g = c.result()
    assert g.meter_pulses == 40 and g.ref_pulses == 599123 and g.kr_wh == 1e-6
    assert g.instrument_error_percent == pytest.approx(0.0214)
    assert res.writes[-3:] == [
        "CALCULATE:EC01:0001:STATUS?", "CALCULATE:EC01:0001:PULSES?", "CALCULATE:EC01:0001:RESULT?",
    ]  # fmt: skip


def test_a_negative_scpi_error_is_command_refused():
    _, calcs, _ = com({"SYST:ERR?": ['-222,"Data out of range"', '0,"No error"']})
    with pytest.raises(CommandRefused, match="Data out of range"):
        calcs[1].configure(0.15, 40)


def test_bad_status_is_unparseable_and_stop_is_start_0():
    _, calcs, res = com({"CALCULATE:EC01:0001:STATUS?": "RUN"})
    with pytest.raises(UnparseableReply):
        calcs[1].poll()
    calcs[1].safe_state()
    assert res.writes[-1] == "CALCULATE:EC01:0001:START 0"


def test_positions_beyond_its_error_calculators_are_an_input_error():
    meter, _, _ = com()
    with pytest.raises(InputError, match="EC01..EC04"):
        meter.calculators((1, 5))


def test_fluke_source_with_com5003_reference_measures_each_positions_error():
    """Injected: +0.02 % (pos 1) and -0.03 % (pos 2) at FL unity on 9S CL20 (TA 2.5 A), 120 V."""
    with open_bench(ROOT / "examples/zera-com5003.toml") as bench:
        settings = {
            p: PhaseSetting(120.0, lag, 2.5, lag) for p, lag in zip("ABC", (0, 120, 240), strict=True)
        }
        bench.source.apply(settings, 60.0)
        bench.source.output_on()
        ref = bench.reference.read()
        assert ref.watts == pytest.approx(900.0, rel=1e-3)
        assert ref.phases["B"].current_lag_deg == pytest.approx(120.0, abs=0.05)
        for pos in (1, 2):
            bench.calculators[pos].configure(0.15, 20)
            bench.calculators[pos].start()
        while any(bench.calculators[p].poll()[0] != "finished" for p in (1, 2)):
            bench.clock.sleep(0.5)
        for pos, injected in ((1, 0.02), (2, -0.03)):
            g = bench.calculators[pos].result()
            err = 100.0 * (g.meter_pulses * 0.15 / (g.ref_pulses * g.kr_wh)) - 100.0
            assert err == pytest.approx(injected, abs=0.03)
            assert err == pytest.approx(g.instrument_error_percent, abs=1e-3)
