"""Replay: the driver reads replies that real ZERA software produced (tests/data/zera, sources in its
README) and must turn them into the right volts, amperes, angles (MeterBench convention: rms, lagging
positive, UL1 at 0 deg) and watts."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from instruments.clock import VirtualClock
from instruments.drivers import DriverContext
from instruments.drivers.zera_com5003 import ZeraCOM5003, parse_measurement
from instruments.errors import InstrumentTimeout, UnparseableReply
from instruments.interfaces import Calibration
from procedures.errors import InputError

DATA = Path(__file__).resolve().parent / "data" / "zera"
CAL = Calibration("C-1", "Lab", date(2026, 1, 1), date(2027, 1, 1), 0.01, 2.0, "to NMI")


def load(name: str) -> dict[str, str]:
    """QUERY -> REPLY, queries upper-cased (the unit is case-insensitive: the capture sends lower case)."""
    pairs = {}
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        query, _, reply = line.partition("\t")
        pairs[query.upper()] = reply
    return pairs


class ReplayResource:
    """A test double of the unit: queries are answered from captured replies; a setting ``X v;`` is
    remembered so that ``X?`` answers ``v`` (the read-back the driver does after every setting).
    A query the capture does not hold gets no reply, as an unknown header on the real unit."""

    def __init__(self, *captures: dict[str, str]) -> None:
        self.replies: dict[str, str] = {}
        for c in captures:
            self.replies |= c
        self.sent: list[str] = []
        self.timeout = 2000
        self._pending: list[str] = []

    def write(self, command: str) -> None:
        self.sent.append(command)
        if command.endswith("?"):
            reply = self.replies.get(command.upper())
            if reply is not None:
                self._pending.append(reply)
            return
        header, _, value = command.partition(" ")
        assert value.endswith(";"), f"a setting without ';' would be refused by the unit: {command!r}"
        self.replies[header.upper() + "?"] = value[:-1]

    def read(self) -> str:
        if not self._pending:
            import pyvisa

            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
        return self._pending.pop(0)

    def close(self) -> None:
        pass


def meter(*captures: dict[str, str]) -> tuple[ZeraCOM5003, ReplayResource]:
    res = ReplayResource(*captures)
    return ZeraCOM5003(DriverContext(res, "com5003 replay", VirtualClock(), {})), res


# the capture holds only measurements; the common replies come from ZERA's dump of the same SCPI server
COMMON = {k: v for k, v in load("mt310s2-dump.tsv").items() if k in ("*OPC?", "SYSTEM:ERROR?")}


def test_the_real_com5003_capture_reads_as_230_v_abc_at_50_hz():
    com, res = meter(COMMON, load("com5003-istwertabfrage.tsv"))
    r = com.read()
    for p in "ABC":
        assert r.phases[p].voltage_v == pytest.approx(229.69, abs=0.01)  # RMS1, not DFT peak 324.83
    assert r.phases["A"].voltage_lag_deg == pytest.approx(0.0, abs=1e-9)
    assert r.phases["B"].voltage_lag_deg == pytest.approx(120.0, abs=0.01)  # lags by 120: ABC
    assert r.phases["C"].voltage_lag_deg == pytest.approx(240.0, abs=0.01)
    assert r.phases["A"].current_a == pytest.approx(9.570453585183714e-07)  # no load: noise
    assert r.frequency_hz == pytest.approx(49.9920539855957)
    assert r.watts == pytest.approx(5.26006733707618e-05)  # POW1:PS
    assert r.vars == pytest.approx(6.349116119963583e-06)  # POW2:QS
    assert r.va == pytest.approx(6.012786935016834e-10)  # POW3:SS
    assert r.phases["A"].watts == pytest.approx(-6.735205533914268e-05)
    # the driver asked exactly these measurement queries (MEASURE: fresh values, never FETCH)
    asked = [c for c in res.sent if c.startswith("MEASURE")]
    assert asked == ["MEASURE:RMS1?", "MEASURE:DFT1?", "MEASURE:POW1?", "MEASURE:POW2?", "MEASURE:POW3?",
                     "MEASURE:RNG1:F?"]  # fmt: skip


def test_the_capture_dft_is_peak_and_lag_positive_which_the_conversion_turns_into_rms_and_lag():
    items = parse_measurement("c", "measure:dft1?", load("com5003-istwertabfrage.tsv")["MEASURE:DFT1?"])
    from instruments.drivers.zera_com5003 import dft_to_meterbench

    rms, lag = dft_to_meterbench(*items["DFT1:UL1"][1])
    assert rms == pytest.approx(324.83111572265625 / math.sqrt(2)) and lag == 0.0
    rms2, lag2 = dft_to_meterbench(*items["DFT1:UL2"][1])
    assert rms2 == pytest.approx(229.69, abs=0.01) and lag2 == pytest.approx(120.0, abs=0.01)
    _, lag12 = dft_to_meterbench(*items["DFT1:UL1-UL2"][1])
    assert lag12 == pytest.approx(330.0, abs=0.01)  # UL1-UL2 leads UL1 by 30 deg in ABC
    assert items["DFT1:RFIELD"] == ("", [123.0])


def test_the_zera_dump_reads_as_its_module_test_doubles_say():
    com, _ = meter(load("mt310s2-dump.tsv"))
    r = com.read()
    for p, lag in zip("ABC", (0.0, 120.0, 240.0), strict=True):
        ph = r.phases[p]
        assert ph.voltage_v == 230.0 and ph.current_a == 10.0
        assert ph.voltage_lag_deg == pytest.approx(lag, abs=1e-4)
        assert ph.current_lag_deg == pytest.approx(lag, abs=1e-4)
        assert (ph.watts, ph.vars, ph.va) == (2300.0, 2300.0, 2300.0)  # the doubles' synthetic values
    assert (r.watts, r.vars, r.va, r.frequency_hz) == (6900.0, 6900.0, 6900.0, 50.0)


def test_every_measurement_reply_in_the_dump_parses_and_every_fetch_of_a_fresh_connection_is_refused():
    parsed = fetched = 0
    for query, reply in load("mt310s2-dump.tsv").items():
        verb = query.split(":", 1)[0]
        if verb not in ("MEASURE", "READ", "FETCH") or not reply:
            continue
        if verb == "FETCH":
            with pytest.raises(UnparseableReply, match="no value measured yet"):
                parse_measurement("dump", query, reply)
            fetched += 1
            continue
        items = parse_measurement("dump", query, reply)
        module = query.split(":")[1].rstrip("?")
        assert all(key.startswith(module + ":") for key in items), query
        parsed += 1
    assert parsed > 150 and fetched > 60


def test_the_dump_reference_constant_is_read_from_the_unit_and_a_bench_file_that_disagrees_is_refused():
    com, _ = meter(load("mt310s2-dump.tsv"))
    com.as_reference(2e-6, CAL)  # 1000 / 5e+08 imp/kWh
    assert com.kr_wh == pytest.approx(2e-6)
    com2, _ = meter(load("mt310s2-dump.tsv"))
    with pytest.raises(InputError, match=r"REFCONSTANT\? = 5e\+08 imp/kWh") as exc:
        com2.as_reference(1e-6, CAL)
    assert "\n" not in str(exc.value)


def test_the_dump_error_calculator_is_idle_with_nothing_to_report():
    com, _ = meter(load("mt310s2-dump.tsv"))
    com.as_reference(2e-6, CAL)
    (calc,) = com.calculators((1,)).values()
    assert calc.poll() == ("idle", 0.0)  # STATUS? -> 0
    assert com.confirm_safe() == []
    with pytest.raises(UnparseableReply, match="no finished gate"):
        calc.result()


def test_a_query_the_unit_does_not_know_is_silence_and_a_timeout_names_it():
    com, _ = meter(COMMON)  # no measurement replies at all
    com._prepared = True
    with pytest.raises(InstrumentTimeout) as exc:
        com.read()
    assert exc.value.command == "MEASURE:RMS1?"
