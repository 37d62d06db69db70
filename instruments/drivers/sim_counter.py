"""MeterBench's simulated 48-position pulse counter (``sim_counter``; formerly "PC-48").

No real instrument speaks this command set: it is MeterBench's OWN simulated device (defined in
``instruments/sim/sim_counter.yaml``), the error-calculator rack of a simulated bench with up to 48
positions, and is refused on a bench without ``[simulation]`` (``DriverSpec.simulation_only``). The old
names ``pulsecounter``, ``pc48`` and ``mb-pc48`` still load, so existing bench files keep working. A real
multi-position calculator is ``zera_mad`` (ZERA's MAD protocol).
"""

from __future__ import annotations

import math
from pathlib import Path

from instruments.drivers import DriverContext, Link, parse_numbers, read_options
from instruments.errors import CommandRefused, InstrumentFault, UnparseableReply
from instruments.interfaces import Capabilities, GateResult
from instruments.registry import DriverSpec
from procedures.errors import InputError

SIM_DIR = Path(__file__).resolve().parents[1] / "sim"
# all defined by MeterBench for its simulated device ("M")
COMMANDS = {
    "identify": "*IDN?",
    "error": "SYST:ERR?",
    "positions?": "SYST:POS?",
    "configure": "POS{p}:CONF {kt:.9g},{n:d}",
    "quantity": "POS{p}:QUAN {q}",  # which reference pulses the gate counts: W, VAR, VA
    "start": "POS{p}:GATE START",
    "abort": "POS{p}:GATE ABORT",
    "status?": "POS{p}:STAT?",  # -> IDLE|RUN|DONE,<progress>,<s since the gate opened, -1 before>
    "result?": "POS{p}:RES?",  # -> <error %|NAN>,<meter pulses>,<reference pulses>,<seconds>
    "start_series": "POS{p}:GATE:SER {n:d}",  # n gates back to back (continuous gating)
    "results?": "POS{p}:RES:ALL?",  # -> <finished>;<result>;<result>...
    "count_start": "POS{p}:COUN START",
    "count?": "POS{p}:COUN?",  # -> <meter pulses>,<seconds>
}
OPTIONS = {"timeout_ms": (int, 2000, lambda v: 50 <= v <= 60000, "50..60000 ms")}
QUANTITY_WORDS = {"active": "W", "reactive": "VAR", "apparent": "VA"}
STATUS_WORDS = {"IDLE": "idle", "RUN": "running", "DONE": "finished"}


class SimCounter:
    """The rack: identity, error queue, safe state; hands out one calculator per position."""

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.link = Link(ctx.resource, ctx.name, timeout_ms=self.opts["timeout_ms"])
        self.positions: tuple[int, ...] = ()
        self._calculators: dict[int, PositionCalculator] = {}
        self.kr_wh = 0.0
        self._unchecked: list[str] = []  # settings written since the error queue was last read

    def wrote(self, command: str) -> None:
        """A setting was sent; its error-queue check is made once for all the settings of a point."""
        self.link.write(command)
        self._unchecked.append(command)

    def settings_done(self) -> None:
        """Read the error queue once for every setting sent since the last check (a refused configure or
        start raises here, naming the commands); nothing to do when none was sent."""
        if self._unchecked:
            after, self._unchecked = "; ".join(self._unchecked), []
            self.check(after)

    def identify(self) -> str:
        return self.link.query(COMMANDS["identify"])

    def capabilities(self) -> Capabilities:
        return Capabilities(
            quantities=frozenset(QUANTITY_WORDS),  # POS<n>:QUAN W|VAR|VA selects the reference pulses
            energy_test=True,
            positions=48,
            continuous_gating=True,  # POS<n>:GATE:SER
            pulse_count=True,  # POS<n>:COUN
        )

    def check(self, after: str) -> None:
        errs = []
        for _ in range(20):
            reply = self.link.query(COMMANDS["error"])
            try:
                code = int(reply.split(",", 1)[0])
            except ValueError:
                raise UnparseableReply(
                    self.name, COMMANDS["error"], reply, 'expected <code>,"<text>"'
                ) from None
            if code == 0:
                break
            errs.append((code, reply))
        if errs:
            text = "; ".join(r for _, r in errs)
            kind = InstrumentFault if errs[0][0] > 0 else CommandRefused
            raise kind(self.name, after, text, "the simulated pulse counter reports an error")

    def calculators(self, positions: tuple[int, ...]) -> dict[int, PositionCalculator]:
        self.positions = positions
        self._calculators = {p: PositionCalculator(self, p) for p in positions}
        return dict(self._calculators)

    def safe_state(self) -> None:
        for p in self.positions:
            self.link.write(COMMANDS["abort"].format(p=p))
        for calc in self._calculators.values():
            calc._config = None  # after a safe state every gate is set up afresh

    def close(self) -> None:
        self.link.close()


class PositionCalculator:
    """One position's error calculator (the ErrorCalculator role)."""

    def __init__(self, rack: SimCounter, position: int) -> None:
        self.rack, self.position = rack, position
        self.name = f"{rack.name} position {position}"
        self._quantity = "active"  # the device's power-on default (POS<n>:QUAN W)
        self._config: tuple[float, int] | None = None  # the gate last configured (POS<n>:CONF persists)

    def _c(self, key: str, **kw) -> str:
        return COMMANDS[key].format(p=self.position, **kw)

    def configure(self, kt_wh: float, meter_pulses: int, quantity: str = "active") -> None:
        """A gate of ``meter_pulses`` of ``kt_wh`` Wh (varh, VAh) against the reference's W (var, VA) pulses."""
        if quantity not in QUANTITY_WORDS:
            raise InputError(
                "quantity", "is not an energy quantity", allowed=tuple(QUANTITY_WORDS), found=quantity
            )
        if not (kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if meter_pulses < 1:
            raise InputError("meter_pulses", "must be >= 1", found=meter_pulses)
        if quantity != self._quantity:
            self.rack.wrote(self._c("quantity", q=QUANTITY_WORDS[quantity]))
            self._quantity = quantity
        # a setting the device keeps (sim_counter.yaml: an abort stops the gate, not its configuration) is
        # sent again only when it changes, as the quantity is
        if (kt_wh, meter_pulses) != self._config:
            self.rack.wrote(self._c("configure", kt=kt_wh, n=meter_pulses))
            self._config = (kt_wh, meter_pulses)

    def start(self) -> None:
        self.rack.wrote(self._c("start"))

    def settings_done(self) -> None:
        """The error queue, once for the settings of every position sent since the last check."""
        self.rack.settings_done()

    def _status(self) -> tuple[str, float, float | None]:
        self.rack.settings_done()  # nothing is concluded from a gate whose settings were not checked
        q = self._c("status?")
        reply = self.rack.link.query(q)
        word, _, numbers = reply.partition(",")
        if word not in STATUS_WORDS:
            raise UnparseableReply(self.name, q, reply, "expected IDLE|RUN|DONE,<progress>,<opened s>")
        progress, opened = parse_numbers(self.name, q, numbers, 2)
        return STATUS_WORDS[word], min(max(progress, 0.0), 1.0), (None if opened < 0 else opened)

    def poll(self) -> tuple[str, float]:
        state, progress, _ = self._status()
        return state, progress

    def gate_age(self) -> float | None:
        """Seconds since the running gate (of a series: its first gate) opened on a meter edge, None while
        it waits for that edge: with the planned gate length, when each of its gates will end."""
        state, _, opened = self._status()
        return opened if state != "idle" else None

    def result(self) -> GateResult:
        self.rack.settings_done()
        q = self._c("result?")
        return self._gate_result(q, self.rack.link.query(q))

    def _gate_result(self, q: str, reply: str) -> GateResult:
        err, meter, ref, secs = parse_numbers(self.name, q, reply, 4)
        if meter != int(meter) or meter < 1 or ref != int(ref) or ref < 0 or secs < 0:
            raise UnparseableReply(self.name, q, reply, "no finished gate (pulse counts missing)")
        return GateResult(int(meter), ref, self.rack.kr_wh, secs, None if math.isnan(err) else err)

    def start_series(self, gates: int) -> None:
        """Continuous gating: ``gates`` gates back to back, each opened by the edge that closed the last,
        so a point's readings cost one wait for the first meter edge instead of one per reading."""
        if gates < 1:
            raise InputError("gates", "must be >= 1", found=gates)
        self.rack.wrote(self._c("start_series", n=gates))

    def results(self) -> list[GateResult]:
        """Every finished gate of the running series, oldest first."""
        self.rack.settings_done()
        q = self._c("results?")
        reply = self.rack.link.query(q)
        head, *parts = reply.split(";")
        if not head.strip().isdigit() or int(head) != len(parts):
            raise UnparseableReply(self.name, q, reply, "expected <finished>;<result>;...")
        return [self._gate_result(q, part) for part in parts]

    def count_start(self) -> None:
        self.rack.wrote(self._c("count_start"))

    def count_read(self) -> tuple[int, float]:
        self.rack.settings_done()
        q = self._c("count?")
        pulses, secs = parse_numbers(self.name, q, self.rack.link.query(q), 2)
        return int(pulses), secs

    def stop(self) -> None:
        self.rack.link.write(self._c("abort"))

    def safe_state(self) -> None:
        self._config = None  # after a safe state the gate is set up afresh
        self.stop()


def _sim_hooks(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.sim_counter import SimCounterSim

    return SimCounterSim(physics, positions)


DRIVER = DriverSpec(
    name="sim_counter",
    aliases=("pulsecounter", "pc48", "mb-pc48"),
    roles=frozenset({"calculators"}),
    open=SimCounter,
    description="MeterBench's simulated 48-position pulse counter — no real instrument speaks this",
    max_positions=48,
    sim_yaml=SIM_DIR / "sim_counter.yaml",
    sim_hooks=_sim_hooks,
    simulation_only=True,
)
