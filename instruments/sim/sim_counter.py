"""Physics hooks for MeterBench's simulated 48-position pulse counter (``sim_counter.yaml``; no real
instrument speaks it)."""

from __future__ import annotations

from instruments.sim.library import DeviceHooks
from instruments.sim.physics import BenchPhysics

NOT_SERVED = '-241,"Hardware missing: position not fitted"'
QUANTITY = {"W": "active", "VAR": "reactive", "VA": "apparent"}  # POS<n>:QUAN -> the physics' gate quantity


class SimCounterSim(DeviceHooks):
    """Each YAML position channel is one bench position's error calculator in the physics."""

    def __init__(self, physics: BenchPhysics, positions: tuple[int, ...]) -> None:
        self.physics = physics
        self.positions = set(positions)
        self.config = {p: (1.0, 10) for p in positions}
        self.quantity = dict.fromkeys(positions, "W")  # POS<n>:QUAN: which reference pulses a gate counts

    def _served(self, pos) -> bool:
        if pos in self.positions:
            return True
        self.device.push_error(NOT_SERVED)
        return False

    def get(self, prop: str, channel):
        p = self.physics
        if channel is None:
            if prop == "positions":
                return str(max(self.positions))
            if prop == "ref_constant":
                return f"{p.kr_wh:.6g}"
            raise KeyError(prop)
        if channel not in self.positions:
            return "NAN,0,0,0" if prop == "result" else "IDLE,0.000,-1" if prop == "status" else "0,0"
        if prop == "config":
            kt, n = self.config[channel]
            return f"{kt:g},{n}"
        if prop == "quantity":
            return self.quantity[channel]
        if prop == "status":
            state, progress = p.gate_status(channel)
            opened = p.gate_opened(channel)
            word = {"idle": "IDLE", "running": "RUN", "finished": "DONE"}[state]
            return f"{word},{progress:.3f},{-1 if opened is None else round(p.t - opened, 3):g}"
        if prop == "result":
            res = p.gate_result(channel)
            return "NAN,0,0,0" if res is None else _result_text(res)
        if prop == "results":
            done = p.gate_results(channel)
            return ";".join([str(len(done)), *(_result_text(r) for r in done)])
        if prop == "count":
            pulses, secs = p.count_read(channel)
            return f"{pulses},{secs:.3f}"
        raise KeyError(prop)

    def set(self, prop: str, channel, value) -> None:
        p = self.physics
        if not self._served(channel):
            return
        if prop == "config":
            parts = str(value).split(",")
            try:
                kt, n = float(parts[0]), int(parts[1])
                if len(parts) != 2 or kt <= 0 or n < 1:
                    raise ValueError
            except (ValueError, IndexError):
                self.device.push_error('-222,"Data out of range"')
                return
            self.config[channel] = (kt, n)
            p.gate_configure(channel, kt, n, QUANTITY[self.quantity[channel]])
        elif prop == "gate":
            if value == "START":
                kt, n = self.config[channel]
                p.gate_configure(channel, kt, n, QUANTITY[self.quantity[channel]])
                p.gate_start(channel)
            else:
                p.gate_abort(channel)
        elif prop == "series":
            try:
                k = int(str(value))
                if not 1 <= k <= 1000:
                    raise ValueError
            except ValueError:
                self.device.push_error('-222,"Data out of range"')
                return
            kt, n = self.config[channel]
            p.gate_configure(channel, kt, n, QUANTITY[self.quantity[channel]])
            p.gate_start(channel, series=k)
        elif prop == "quantity":
            self.quantity[channel] = str(value)  # the YAML's specs admit W, VAR, VA only
        elif prop == "count":
            if value == "START":
                p.count_start(channel)
            else:
                p.gate_abort(channel)
        else:
            raise KeyError(prop)

    def command(self, query: str) -> None:
        if query == "*CLS":
            self.device.clear_errors()
        elif query == "*RST":
            for pos in self.positions:
                self.physics.gate_abort(pos)


def _result_text(res: tuple[int, int, float, float | None]) -> str:
    meter, ref, secs, err = res
    return f"{'NAN' if err is None else format(err, '.5f')},{meter},{ref},{secs:.6f}"
