"""Physics hooks for the simulated ZERA COM5003 (``zera_com5003.yaml``): readings of the bench physics'
reference phasors and one error calculator (``EC0n``) per bench position.

Reply formats as designed [U] in :mod:`instruments.drivers.zera_com5003`: DFT phasors as ``<re>,<im>`` in
the mathematical convention (MeterBench stores phasors as ``mag*exp(-j*lag)``, which is that already).
"""

from __future__ import annotations

from instruments.sim.library import DeviceHooks
from instruments.sim.physics import PHASES, BenchPhysics

NOT_SERVED = '-241,"Hardware missing: error calculator not connected to a position"'
STATUS = {"idle": 0, "armed": 1, "running": 2, "finished": 4}
UNIT_TO_WH = {
    "I/kWh": lambda c: 1000.0 / c,
    "I/Wh": lambda c: 1.0 / c,
    "Wh/I": lambda c: c,
    "kWh/I": lambda c: c * 1e3,
}


class ZeraCOM5003Sim(DeviceHooks):
    def __init__(self, physics: BenchPhysics, positions: tuple[int, ...]) -> None:
        self.physics = physics
        self.positions = set(positions)
        self.unit = {p: "I/kWh" for p in positions}
        self.constant = {p: 1000.0 for p in positions}
        self.mrate = {p: 10 for p in positions}

    def get(self, prop: str, channel):
        p = self.physics
        p.advance()
        if channel is None:
            if prop == "watts_sum":
                return f"{p.reference_watts():.6f}"
            if prop == "frequency":
                return f"{p.frequency_hz:.4f}"
            raise KeyError(prop)
        if prop in ("urms", "irms", "udft", "idft", "watts"):
            v, i = p.reference_phasors().get(PHASES[channel - 1], (0j, 0j))
            if prop == "urms":
                return f"{abs(v):.5f}"
            if prop == "irms":
                return f"{abs(i):.6f}"
            if prop == "udft":
                return f"{v.real:.6f},{v.imag:.6f}"
            if prop == "idft":
                return f"{i.real:.7f},{i.imag:.7f}"
            return f"{(v * i.conjugate()).real:.6f}"
        if channel not in self.positions:
            return {"status": "0", "result": "NAN"}.get(prop, "0")
        gate = p.gates[channel]
        if prop == "status":
            return str(STATUS[gate.state])
        if prop == "progress":
            return f"{100.0 * gate.edges / gate.pulses if gate.pulses else 0.0:.6f}"
        res = gate.result if gate.state == "finished" else None
        if prop == "result":
            return "NAN" if res is None or res[3] is None else f"{res[3]:.5f}"
        if prop == "pulses":
            return "0" if res is None else str(res[1])
        if prop == "energy":
            return "0" if res is None else f"{res[1] * p.kr_wh:.9g}"
        raise KeyError(prop)

    def set(self, prop: str, channel, value) -> None:
        p = self.physics
        if channel not in self.positions:
            self.device.push_error(NOT_SERVED)
            return
        if prop == "dut_unit":
            self.unit[channel] = value
        elif prop == "dut_constant":
            if value <= 0:
                self.device.push_error('-222,"Data out of range"')
                return
            self.constant[channel] = float(value)
        elif prop == "mrate":
            self.mrate[channel] = int(value)
        elif prop == "start":
            if int(value) == 1:
                kt = UNIT_TO_WH[self.unit[channel]](self.constant[channel])
                p.gate_configure(channel, kt, self.mrate[channel])
                p.gate_start(channel)
            else:
                p.gate_abort(channel)
        else:
            raise KeyError(prop)

    def command(self, query: str) -> None:
        if query == "*CLS":
            self.device.clear_errors()
