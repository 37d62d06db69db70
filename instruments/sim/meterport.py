"""A simulated meter optical port (the MeterPort role): the meter's nameplate identity and its own energy
register, as a C12.18/C12.19 or IEC 62056-21 read-out would give them. The register holds what the
simulated meter *registered* (its error included), never the reference's truth. No wire protocol is
emulated yet: optical-port drivers (C12.18, IEC 62056-21) are future work.

``phasors()`` is the meter's site diagnostics (:class:`instruments.interfaces.PhasorPort`): what its
elements see at the socket terminals, wiring faults included (``physics.meter_service``), referred to
the meter's own phase-A voltage.

The register shows whole digits of the bench file's ``register_resolution_kwh`` (a display truncates) and
advances ``register_scale`` times the test output's energy (1 = a correctly programmed meter); a port in
state "dead" does not answer and one in state "no-registers" reads identity only. A bidirectional
meter (``bidirectional = true``) also shows ``kWh_received``: the received energy it registered."""

from __future__ import annotations

import math

from instruments.errors import InstrumentTimeout
from instruments.interfaces import PhaseReading, ReferenceReading
from instruments.sim.physics import PHASES, BenchPhysics
from procedures.phasors import lag_deg


def registered_kwh(
    physics: BenchPhysics, position: int, start_kwh: float = 0.0, received: bool = False
) -> float:
    """What the meter's delivered (or ``received``) register shows: what it registered (its error included,
    ``register_scale`` times the active energy), truncated to the display's digit. Shared by every
    simulated port."""
    physics.advance()
    meter = physics.meters[position]
    spec = meter.spec
    kwh = (
        start_kwh + spec.register_scale * (meter.energy_received_wh if received else meter.energy_wh) / 1000.0
    )
    digit = spec.register_resolution_kwh
    if digit > 0:
        shown = math.floor(kwh / digit + 1e-9)
        kwh = round(shown * digit, max(0, -math.floor(math.log10(digit))) + 3)
    return kwh


class SimMeterPort:
    def __init__(self, physics: BenchPhysics, position: int, start_kwh: float = 0.0) -> None:
        self.physics, self.position, self.start_kwh = physics, position, start_kwh

    def identity(self) -> dict[str, str]:
        m = self.physics.meters[self.position].spec
        return {
            "serial": m.serial,
            "manufacturer": m.manufacturer,
            "model": m.model,
            "firmware": m.firmware,
            "form": m.form,
            "accuracy_class": m.accuracy_class,
            "kh": f"{m.kh:g}",
            "kt": f"{m.kt:g}",
        }

    def registers(self) -> dict[str, float]:
        self.physics.advance()
        meter = self.physics.meters[self.position]
        spec = meter.spec
        if spec.meter_port == "dead":
            raise InstrumentTimeout(
                f"meter port {self.position}", "registers", None, "the optical port does not answer"
            )
        if spec.meter_port == "no-registers":
            return {}
        out = {"kWh_delivered": registered_kwh(self.physics, self.position, self.start_kwh)}
        if spec.bidirectional:
            out["kWh_received"] = registered_kwh(self.physics, self.position, received=True)
        return out

    def phasors(self) -> ReferenceReading:
        """The meter's own per-phase V/I magnitudes and lagging angles (its phase-A voltage at 0 deg)."""
        p = self.physics
        p.advance()
        volts, amps = p.meter_service(self.position)
        va_ref = volts.get("A", 0j)
        turn = complex(abs(va_ref) / va_ref) if abs(va_ref) > 0 else 1 + 0j  # rotate V(A) onto 0 deg
        phases = {}
        for ph in PHASES:
            v, i = volts.get(ph, 0j) * turn, amps.get(ph, 0j) * turn
            s = v * i.conjugate()
            phases[ph] = PhaseReading(
                voltage_v=abs(v),
                voltage_lag_deg=lag_deg(v) if abs(v) > 0 else 0.0,
                current_a=abs(i),
                current_lag_deg=lag_deg(i) if abs(i) > 0 else 0.0,
                watts=s.real,
                vars=s.imag,
                va=abs(s),
                pf=s.real / abs(s) if abs(s) > 0 else 0.0,
            )
        return ReferenceReading(
            phases=phases,
            watts=sum(r.watts for r in phases.values()),
            vars=sum(r.vars for r in phases.values()),
            va=sum(r.va for r in phases.values()),
            frequency_hz=p.frequency_hz,
        )
