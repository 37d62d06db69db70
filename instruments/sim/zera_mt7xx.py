"""Physics hooks for the simulated ZERA MT7xx (``zera_mt7xx.yaml``): source, reference (``AME``) and the
error calculator of one position (``AEP``/``AEB0``/``AES1``/``AEE``).

Wire conventions as in :mod:`instruments.drivers.zera_mt7xx`: DIN angles (negated IEC, 0..359.99)
referred to the first switched-on voltage; the actual values answer the same way. Replies are whole
multi-line responses ending in the acknowledgement token.
"""

from __future__ import annotations

import math
import re

from instruments.sim.library import DeviceHooks
from instruments.sim.physics import PHASES, BenchPhysics
from procedures.phasors import lag_deg

_FIELD = r"(\d{3}\.\d{3})(\d{3}\.\d{2})"
SUP = re.compile(rf"^AER{_FIELD}S{_FIELD}T{_FIELD}$")
SIP = re.compile(rf"^AAR{_FIELD}S{_FIELD}T{_FIELD}$")
SFR = re.compile(r"^\d{2}\.\d{2}$")
SUI = re.compile(r"^([AE])([AE])([AE])([AP])([AP])([AP])([AE])([AE])([AE])$")
AEP = re.compile(r"^(\d{1,6});((?:0\d)|10);(\d{1,6});([0-5])$")
STATE_DIGIT = {"idle": "0", "armed": "1", "running": "2", "finished": "3"}


def wire_angle(lag: float) -> float:
    a = round((-lag) % 360.0, 2)
    return 0.0 if a >= 360.0 else a


def lag_from_wire(angle: float) -> float:
    return (-angle) % 360.0


class ZeraMT7xxSim(DeviceHooks):
    """The MT's YAML properties read from and written to the bench physics."""

    refused_reply = b"NAK"

    def __init__(self, physics: BenchPhysics, position: int | None = 1) -> None:
        self.physics = physics
        self.position = position
        self.kt_wh, self.pulses = 1.0, 10

    def get(self, prop: str, channel):
        p = self.physics
        p.advance()
        if prop == "actual_values":
            return self._actual_values()
        if prop == "error_status":
            return self._error_status()
        raise KeyError(prop)

    def _actual_values(self) -> str:
        p = self.physics
        seen = p.reference_phasors()
        pairs = [seen.get(ph, (0j, 0j)) for ph in PHASES]
        first_v = next((v for v, _ in pairs if abs(v) > 0), None)
        offset = lag_deg(first_v) if first_v is not None else 0.0
        values: dict[int, float | str] = {}
        for n, (v, i) in enumerate(pairs):
            s = v * i.conjugate()
            values[n] = abs(v)
            values[3 + n] = abs(i)
            values[6 + n] = wire_angle(lag_deg(v) - offset) if abs(v) > 0 else 0.0
            values[9 + n] = wire_angle(lag_deg(i) - offset) if abs(i) > 0 else 0.0
            values[12 + n] = s.real / abs(s) if abs(s) > 0 else 0.0
            values[15 + n], values[18 + n], values[21 + n] = s.real, s.imag, abs(s)
        values[24] = sum(float(values[15 + n]) for n in range(3))
        values[25] = sum(float(values[18 + n]) for n in range(3))
        values[26] = sum(float(values[21 + n]) for n in range(3))
        values[27] = "123"
        values[28] = p.frequency_hz
        lines = [f"{k};{v}" if isinstance(v, str) else f"{k};{v:.7E}" for k, v in values.items()]
        return "\n".join([*lines, "AMEACK"])

    def _error_status(self) -> str:
        p = self.physics
        if not self.position:
            return "00\noo.oo\n0.000000;0.000000\nAESACK"
        gate = p.gates[self.position]
        state = STATE_DIGIT[gate.state]
        if gate.state == "finished" and gate.result is not None:
            meter, ref, _secs, err = gate.result
            error = "--.--" if err is None else f"{err:.4f}"
            progress, energy = 100.0, ref * p.kr_wh
        elif gate.state in ("armed", "running"):
            error = "--.--"
            progress = 100.0 * gate.edges / gate.pulses if gate.pulses else 0.0
            energy = max(p.ref_energy_wh - gate.ref_start, 0.0) if gate.state == "running" else 0.0
        else:
            error, progress, energy = "oo.oo", 0.0, 0.0
        return f"0{state}\n{error}\n{progress:.6f};{energy:.9g}\nAESACK"

    def set(self, prop: str, channel, value) -> None:
        p = self.physics
        text = str(value)
        if prop in ("voltages", "currents"):
            m = (SUP if prop == "voltages" else SIP).match(text)
            if not m:
                raise ValueError(f"bad {prop} fields {text!r}")  # -> NAK
            nums = [float(x) for x in m.groups()]
            for n, phase in enumerate(PHASES):
                amount, angle = nums[2 * n], nums[2 * n + 1]
                if angle >= 360.0:
                    raise ValueError("angle out of range")
                if prop == "voltages":
                    p.set_phase(phase, voltage_v=amount, voltage_lag_deg=lag_from_wire(angle))
                else:
                    p.set_phase(phase, current_a=amount, current_lag_deg=lag_from_wire(angle))
        elif prop == "frequency":
            if not SFR.match(text):
                raise ValueError("bad frequency")
            hz = float(text)
            p.set_frequency(hz if hz > 0 else 60.0)  # 00.00 = synchronous with the (simulated 60 Hz) mains
        elif prop == "switch":
            m = SUI.match(text)
            if not m:
                raise ValueError("bad switch states")
            s = m.groups()
            for n, phase in enumerate(PHASES):
                p.set_phase(phase, voltage_enabled=s[n] == "E", current_enabled=s[3 + n] == "P")
            p.set_output(any(x in ("E", "P") for x in s[:6]))
        elif prop == "error_setup":
            m = AEP.match(text)
            if not m:
                raise ValueError("bad error setup")
            kc = int(m[1]) * 10 ** int(m[2]) / 1e5  # imp/kWh
            pulses = int(m[3]) * 10 ** int(m[4])
            if kc <= 0 or pulses < 1 or not math.isfinite(kc):
                raise ValueError("meter constant and pulses must be > 0")
            self.kt_wh, self.pulses = 1000.0 / kc, pulses
        else:
            raise KeyError(prop)

    def command(self, query: str) -> None:
        p = self.physics
        if not self.position:
            return
        if query == "AEB0":
            p.gate_configure(self.position, self.kt_wh, self.pulses)
            p.gate_start(self.position)
        elif query == "AEE":
            p.gate_abort(self.position)
