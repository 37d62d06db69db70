"""Per-position wiring phasors: the meter port's own site diagnostics show a wiring fault at its socket
(the 9S bench with the phase-B CT of position 2 reversed), and a bench without such ports says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from instruments.bench import open_bench
from instruments.interfaces import PhaseSetting, PhasorPort
from procedures.forms import get_form
from procedures.wiring import Phasors, analyse

ROOT = Path(__file__).resolve().parents[1]


def _phasors(reading, form) -> Phasors:
    return Phasors(
        voltages={
            p: (reading.phases[p].voltage_v, reading.phases[p].voltage_lag_deg) for p in form.voltage_phases
        },
        currents={
            p: (reading.phases[p].current_a, reading.phases[p].current_lag_deg) for p in form.current_phases
        },
        source="test",
    )


def _energise(bench) -> None:
    lags = (0.0, 120.0, 240.0)
    bench.source.apply(
        {p: PhaseSetting(120.0, lag, 2.5, lag) for p, lag in zip("ABC", lags, strict=True)}, 60.0
    )
    bench.source.output_on()


def test_only_the_faulted_position_shows_its_reversed_ct():
    form = get_form("9S")
    with open_bench(ROOT / "examples/9s-reversed-ct.toml") as bench:
        _energise(bench)
        assert all(isinstance(port, PhasorPort) for port in bench.meter_ports.values())
        codes = {}
        for pos in (1, 2, 3):
            reading = bench.read_position_phasors(pos)
            assert reading.phases["A"].voltage_lag_deg == pytest.approx(0.0, abs=1e-9)
            report = analyse(form, _phasors(reading, form))
            codes[pos] = [(f.code, f.phases) for f in report.findings]
        assert codes[1] == [] and codes[3] == []
        assert codes[2] == [("ct_reversed", ("B",))]
        # the meter sees I(B) turned by 180 deg: 300 deg instead of 120, and B's watts negative
        b = bench.read_position_phasors(2).phases["B"]
        assert b.current_lag_deg == pytest.approx(300.0, abs=1e-6) and b.watts < 0


def test_phasors_are_what_the_meter_sees_not_the_reference():
    with open_bench(ROOT / "examples/9s-reversed-ct.toml") as bench:
        _energise(bench)
        own = bench.read_position_phasors(1)
        assert own.watts == pytest.approx(900.0, rel=1e-9)  # no reference gain error in the meter's view
        assert own.phases["B"].vars == pytest.approx(0.0, abs=1e-6)


def test_without_phasor_ports_the_method_is_absent_and_one_position_is_not_available():
    with open_bench(ROOT / "examples/9s-reversed-ct.toml") as bench:
        ports = dict(bench.meter_ports)
        bench.meter_ports = {}
        assert getattr(bench, "read_position_phasors", None) is None
        assert not hasattr(bench, "read_position_phasors")

        class Plain:  # identity and registers only
            def identity(self):
                return {}

            def registers(self):
                return {}

        bench.meter_ports = {1: ports[1], 2: Plain()}
        assert bench.read_position_phasors(1).frequency_hz == 60.0
        with pytest.raises(NotImplementedError, match="position 2"):
            bench.read_position_phasors(2)
        bench.meter_ports = ports
