"""A simulated meter optical port (the MeterPort role): the meter's nameplate identity and its own energy
register, as a C12.18/C12.19 or IEC 62056-21 read-out would give them. The register holds what the
simulated meter *registered* (its error included), never the reference's truth. No wire protocol is
emulated yet: optical-port drivers (C12.18, IEC 62056-21) are future work."""

from __future__ import annotations

from instruments.sim.physics import BenchPhysics


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
        return {"kWh_delivered": self.start_kwh + meter.energy_wh / 1000.0}
