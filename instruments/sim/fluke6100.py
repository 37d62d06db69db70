"""Physics hooks for the simulated Fluke 6100B/6105A (``fluke6100.yaml``): source, reference and the
energy (pulse-error) test of one position.

Wire conventions assumed here and in the driver [U, check the manual]: phase angles on the wire are in
degrees, leading positive (a current lagging its voltage by 60 deg is sent as -60), all referred to the
phase-1 voltage; ``MEAS:PHAS<n>:VOLT?``/``CURR?`` answer ``<rms>,<angle>``.
"""

from __future__ import annotations

import math

from instruments.sim.library import DeviceHooks
from instruments.sim.physics import PHASES, BenchPhysics
from procedures.phasors import lag_deg, wrap180

# [U] device-specific error reported when the current amplifier cannot regulate (SCPI: positive codes
# are the instrument's own); the driver maps positive codes to InstrumentFault.
OVERLOAD_ERROR = '301,"Current amplifier overload: cannot regulate phase current"'
UNIT_TO_WH = {
    "WHPI": lambda c: c,
    "KWHPI": lambda c: c * 1e3,
    "MWHPI": lambda c: c * 1e6,
    "IPWH": lambda c: 1.0 / c,
    "IPKWH": lambda c: 1e3 / c,
    "IPMWH": lambda c: 1e6 / c,
}


def wire_angle(lag: float) -> float:
    """Lagging degrees -> the Fluke's (assumed) leading-positive wire angle in (-180, 180]."""
    return wrap180(-lag)


def lag_from_wire(angle: float) -> float:
    return (-angle) % 360.0


class Fluke6100Sim(DeviceHooks):
    """The 6105A's YAML properties read from and written to the bench physics."""

    def __init__(self, physics: BenchPhysics, position: int | None = 1) -> None:
        self.physics = physics
        self.position = position  # the bench position its MUT pulse input is wired to (None: unused)
        self.mut_constant, self.mut_unit, self.test_pulses = 1.0, "WHPI", 10
        self.ramp_time = 0.0
        physics.on_trip.append(self._tripped)

    def _tripped(self, why: str) -> None:
        self.device.push_error(OVERLOAD_ERROR)

    @staticmethod
    def _phase(channel: int) -> str:
        return PHASES[int(channel) - 1]

    def kt_wh(self) -> float:
        return UNIT_TO_WH[self.mut_unit](self.mut_constant)

    def get(self, prop: str, channel):
        p = self.physics
        p.advance()
        if channel is None:
            if prop == "output":
                return "1" if p.output_on else "0"
            if prop == "frequency":
                return f"{p.frequency_hz:g}"
            if prop == "mut_constant":
                return f"{self.mut_constant:g}"
            if prop == "mut_constant_unit":
                return self.mut_unit
            if prop == "test_pulses":
                return str(self.test_pulses)
            if prop == "ref_constant":
                return f"{p.kr_wh:.6g}"
            if prop == "test_status":
                state, progress = p.gate_status(self.position) if self.position else ("idle", 0.0)
                word = {"idle": "IDLE", "running": "RUN", "finished": "DONE"}[state]
                return f"{word},{progress:.3f}"
            if prop == "test_result":
                res = p.gate_result(self.position) if self.position else None
                if res is None:
                    return "NAN,0,0,0"
                meter, ref, secs, err = res
                return f"{'NAN' if err is None else format(err, '.5f')},{meter},{ref},{secs:.6f}"
            if prop == "count":
                pulses, secs = p.count_read(self.position) if self.position else (0, 0.0)
                return f"{pulses},{secs:.3f}"
            raise KeyError(prop)
        phase = self._phase(channel)
        out = p.phases[phase]
        if prop == "fitted":
            return "1"
        if prop == "voltage_state":
            return str(int(out.voltage_enabled))
        if prop == "current_state":
            return str(int(out.current_enabled))
        if prop == "voltage_harmonic1":
            return f"{out.voltage_v:g},{wire_angle(out.voltage_lag_deg):g}"
        if prop == "current_harmonic1":
            return f"{out.current_a:g},{wire_angle(out.current_lag_deg):g}"
        v, i = p.reference_phasors().get(phase, (0j, 0j))
        if prop == "watts":
            return f"{(v * i.conjugate()).real:.6f}"
        if prop == "va":
            return f"{abs(v) * abs(i):.6f}"
        if prop == "measured_voltage":
            return f"{abs(v):.5f},{wire_angle(lag_deg(v)) if abs(v) > 0 else 0.0:.4f}"
        if prop == "measured_current":
            return f"{abs(i):.6f},{wire_angle(lag_deg(i)) if abs(i) > 0 else 0.0:.4f}"
        raise KeyError(prop)

    def set(self, prop: str, channel, value) -> None:
        p = self.physics
        if channel is None:
            if prop == "output":
                p.set_output(value in ("ON", "1"))
            elif prop == "frequency":
                p.set_frequency(float(value))
            elif prop == "ramp_time":
                self.ramp_time = float(value)
            elif prop == "mut_constant":
                if value <= 0:
                    self.device.push_error('-222,"Data out of range"')
                    return
                self.mut_constant = float(value)
            elif prop == "mut_constant_unit":
                self.mut_unit = value
            elif prop == "test_pulses":
                self.test_pulses = int(value)
            elif prop in ("mut_source", "mut_debounce"):
                pass  # wiring of the pulse input: nothing to simulate
            else:
                raise KeyError(prop)
            return
        phase = self._phase(channel)
        if prop == "voltage_state":
            p.set_phase(phase, voltage_enabled=bool(value))
        elif prop == "current_state":
            p.set_phase(phase, current_enabled=bool(value))
        elif prop in ("voltage_harmonic1", "current_harmonic1"):
            amp, angle = _pair(value)
            if amp < 0:
                self.device.push_error('-222,"Data out of range"')
                return
            if prop == "voltage_harmonic1":
                p.set_phase(phase, voltage_v=amp, voltage_lag_deg=lag_from_wire(angle))
            else:
                p.set_phase(phase, current_a=amp, current_lag_deg=lag_from_wire(angle))
        elif prop in ("voltage_range", "current_range"):
            _pair(value)
        else:
            raise KeyError(prop)

    def command(self, query: str) -> None:
        p = self.physics
        if query == "*RST":
            p.set_output(False)
            for phase in PHASES:
                p.set_phase(phase, voltage_enabled=False, current_enabled=False, voltage_v=0.0, current_a=0.0)
        elif query == "*CLS":
            self.device.clear_errors()
        elif query == "ENER:ABOR" and self.position:
            p.gate_abort(self.position)
        elif query == "ENER:TEST:STAR" and self.position:
            p.gate_configure(self.position, self.kt_wh(), self.test_pulses)
            p.gate_start(self.position)
        elif query == "ENER:COUN:STAR" and self.position:
            p.count_start(self.position)


def _pair(text: str) -> tuple[float, float]:
    parts = str(text).split(",")
    if len(parts) != 2:
        raise ValueError(f"expected two numbers, got {text!r}")
    a, b = float(parts[0]), float(parts[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"not finite: {text!r}")
    return a, b
