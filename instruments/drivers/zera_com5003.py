"""ZERA COM5003 (and MT310s2) reference meter with error calculators, over SCPI on TCP port 6320: the
reference standard and the error calculators of a bench whose source is another instrument (e.g. a
Fluke 6100B as source only).

Provenance (instruments.md): command *names* [C] (ZERA's generated SCPI tree: ``FETCH:RMS1:UL1?``,
``FETCH:DFT1:IL1?``, ``FETCH:POW1:P1?``, ``CALCULATE:EC01:0001:DUTCONSTANT`` …); every *reply format* is
[U], designed here to be plausible: check against the COM5003 SCPI documentation and change only
:data:`COMMANDS` and the parsers below. Designed [U]:

- ``FETCH:RMS1:<ch>?`` -> ``<rms>``; ``FETCH:POW1:P<n>?`` / ``PS?`` -> ``<watts>``;
- ``FETCH:DFT1:<ch>?`` -> ``<re>,<im>`` of the fundamental (rms), mathematical (counter-clockwise,
  leading positive) angle referred to UL1, so MeterBench's lag is ``-atan2(im, re)``;
- ``FETCH:RNG1:FREQ?`` -> ``<Hz>`` (the frequency query itself is [U]);
- position n is error-calculator module ``EC0n`` (``CALCULATE:EC0n:0001:…``) [U mapping];
  ``STATUS?`` -> bits ``0`` idle, ``1`` armed (waits for the first meter pulse), ``2`` running,
  ``4`` ready, ``8`` aborted; ``PROGRESS?`` -> % of MRATE meter pulses counted; ``RESULT?`` -> error %;
  ``PULSES?`` -> reference pulses counted in the gate; ``ENERGY?`` -> reference energy in the gate, Wh;
- ``SYST:ERR?`` -> ``<code>,"<text>"`` (SCPI-99 style error queue) [U for this instrument].

The engine's %R comes from MRATE meter pulses and ``PULSES?`` reference pulses; ``RESULT?`` is kept as
the instrument's own figure for the cross-check.
"""

from __future__ import annotations

import math
from pathlib import Path

from instruments.drivers import DriverContext, Link, parse_numbers, read_options
from instruments.errors import CommandRefused, InstrumentFault, UnparseableReply
from instruments.interfaces import PHASES, Calibration, GateResult, PhaseReading, ReferenceReading
from instruments.registry import DriverSpec
from procedures.errors import InputError
from procedures.phasors import lag_deg, phasor, power

SIM_DIR = Path(__file__).resolve().parents[1] / "sim"
EC = "CALCULATE:EC{ec:02d}:0001"

# name -> (SCPI template, provenance of the command; every reply format is U)
COMMANDS = {
    "identify": ("*IDN?", "U"),
    "error": ("SYST:ERR?", "U"),
    "rms?": ("FETCH:RMS1:{ch}?", "C"),
    "dft?": ("FETCH:DFT1:{ch}?", "C"),
    "watts?": ("FETCH:POW1:P{n}?", "C"),
    "watts_sum?": ("FETCH:POW1:PS?", "C"),
    "frequency?": ("FETCH:RNG1:FREQ?", "U"),
    "dut_unit": (EC + ":DCUNIT I/kWh", "C"),  # the unit's spelling is U
    "dut_constant": (EC + ":DUTCONSTANT {value:.9g}", "C"),
    "mrate": (EC + ":MRATE {n:d}", "C"),
    "start": (EC + ":START 1", "C"),
    "stop": (EC + ":START 0", "U"),
    "status?": (EC + ":STATUS?", "C"),
    "progress?": (EC + ":PROGRESS?", "C"),
    "result?": (EC + ":RESULT?", "C"),
    "pulses?": (EC + ":PULSES?", "C"),
    "energy?": (EC + ":ENERGY?", "C"),
}
OPTIONS = {
    "timeout_ms": (int, 2000, lambda v: 50 <= v <= 60000, "50..60000 ms"),
    "count_gate_pulses": (int, 100, lambda v: 10 <= v <= 10**7, "10..10000000 meter pulses"),
}
MAX_CALCULATORS = 4
STATUS_BITS = {0: "idle", 1: "running", 2: "running", 4: "finished", 8: "idle"}


def cmd(name: str, **values) -> str:
    return COMMANDS[name][0].format(**values)


class ZeraCOM5003:
    """The reference meter: identity, readings, error queue; one :class:`ECPosition` per position."""

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.clock = ctx.clock
        self.link = Link(ctx.resource, ctx.name, timeout_ms=self.opts["timeout_ms"])
        self.kr_wh = 0.0
        self.calibration: Calibration | None = None
        self.positions: tuple[int, ...] = ()

    def identify(self) -> str:
        return self.link.query(cmd("identify"))

    def check(self, after: str) -> None:
        errs = []
        for _ in range(20):
            reply = self.link.query(cmd("error"))
            try:
                code = int(reply.split(",", 1)[0])
            except ValueError:
                raise UnparseableReply(self.name, cmd("error"), reply, 'expected <code>,"<text>"') from None
            if code == 0:
                break
            errs.append((code, reply))
        if errs:
            text = "; ".join(r for _, r in errs)
            kind = InstrumentFault if errs[0][0] > 0 else CommandRefused
            raise kind(self.name, after, text, "the COM5003 reports an error")

    def number(self, command: str) -> float:
        (value,) = parse_numbers(self.name, command, self.link.query(command), 1)
        return value

    # ---- role views ------------------------------------------------------------------------------
    def as_reference(self, kr_wh: float, calibration: Calibration) -> ZeraCOM5003:
        self.kr_wh, self.calibration = kr_wh, calibration
        return self

    def calculators(self, positions: tuple[int, ...]) -> dict[int, ECPosition]:
        bad = [p for p in positions if not 1 <= p <= MAX_CALCULATORS]
        if bad:
            raise InputError(
                "positions",
                f"a COM5003 has error calculators EC01..EC{MAX_CALCULATORS:02d}: positions 1..{MAX_CALCULATORS}",
                found=list(positions),
            )
        self.positions = positions
        return {p: ECPosition(self, p) for p in positions}

    def safe_state(self) -> None:
        """Stop every error calculator (a reference meter has no output to switch off)."""
        for p in self.positions:
            self.link.write(cmd("stop", ec=p))

    def close(self) -> None:
        self.link.close()

    # ---- ReferenceStandard -----------------------------------------------------------------------
    def _phasor(self, ch: str) -> tuple[float, float]:
        q = cmd("dft?", ch=ch)
        re_, im = parse_numbers(self.name, q, self.link.query(q), 2)
        z = complex(re_, im)
        return abs(z), lag_deg(z) if abs(z) > 0 else 0.0

    def read(self) -> ReferenceReading:
        phases = {}
        for n, p in enumerate(PHASES, start=1):
            v_rms = self.number(cmd("rms?", ch=f"UL{n}"))
            i_rms = self.number(cmd("rms?", ch=f"IL{n}"))
            _, v_lag = self._phasor(f"UL{n}")
            _, i_lag = self._phasor(f"IL{n}")
            watts = self.number(cmd("watts?", n=n))
            if v_rms <= 0:
                v_lag = 0.0
            if i_rms <= 0:
                i_lag = 0.0
            s = power(phasor(v_rms, v_lag), phasor(i_rms, i_lag))
            va = v_rms * i_rms
            phases[p] = PhaseReading(
                v_rms, v_lag, i_rms, i_lag, watts, s.imag, va, watts / va if va > 0 else 0.0
            )
        hz = self.number(cmd("frequency?"))
        return ReferenceReading(
            phases=phases,
            watts=sum(r.watts for r in phases.values()),
            vars=sum(r.vars for r in phases.values()),
            va=sum(r.va for r in phases.values()),
            frequency_hz=hz,
        )


class ECPosition:
    """Error calculator ``EC0n`` counting position n's meter pulses (the ErrorCalculator role)."""

    def __init__(self, meter: ZeraCOM5003, position: int) -> None:
        self.meter, self.position = meter, position
        self.rack = meter  # the physical instrument (what `bench check` identifies), as for the PC-48
        self.name = f"{meter.name} EC{position:02d}"
        self._pulses = 0
        self._t_start = 0.0
        self._t_done: float | None = None
        self._counting = False

    def _c(self, key: str, **kw) -> str:
        return cmd(key, ec=self.position, **kw)

    def _send(self, *commands: str) -> None:
        for c in commands:
            self.meter.link.write(c)
        self.meter.check("; ".join(commands))

    def configure(self, kt_wh: float, meter_pulses: int) -> None:
        if not (kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if meter_pulses < 1:
            raise InputError("meter_pulses", "must be >= 1", found=meter_pulses)
        self._send(
            self._c("dut_unit"),
            self._c("dut_constant", value=1000.0 / kt_wh),
            self._c("mrate", n=meter_pulses),
        )
        self._pulses = meter_pulses

    def start(self) -> None:
        self._send(self._c("start"))
        self._t_start, self._t_done = self.meter.clock.now(), None

    def _status(self) -> int:
        q = self._c("status?")
        reply = self.meter.link.query(q)
        if not reply.isdigit() or int(reply) not in STATUS_BITS:
            raise UnparseableReply(self.name, q, reply, "expected a status of 0, 1, 2, 4 or 8")
        return int(reply)

    def _progress(self) -> float:
        return self.meter.number(self._c("progress?"))

    def poll(self) -> tuple[str, float]:
        word = STATUS_BITS[self._status()]
        if word == "finished":
            if self._t_done is None:
                self._t_done = self.meter.clock.now()
            return word, 1.0
        return word, min(max(self._progress() / 100.0, 0.0), 1.0) if word == "running" else 0.0

    def result(self) -> GateResult:
        status = self._status()
        if STATUS_BITS[status] != "finished" or self._pulses < 1:
            raise UnparseableReply(self.name, self._c("status?"), str(status), "no finished gate")
        ref = self.meter.number(self._c("pulses?"))
        if ref < 0:
            raise UnparseableReply(
                self.name, self._c("pulses?"), f"{ref:g}", "negative reference pulse count"
            )
        err = self.meter.number(self._c("result?"))
        done = self._t_done if self._t_done is not None else self.meter.clock.now()
        return GateResult(self._pulses, ref, self.meter.kr_wh, max(done - self._t_start, 0.0), err)

    def count_start(self) -> None:
        """Creep / starting: a gate of ``count_gate_pulses`` counts meter pulses (progress = share done)."""
        self.configure(1.0, self.meter.opts["count_gate_pulses"])
        self.start()
        self._counting = True

    def count_read(self) -> tuple[int, float]:
        status = self._status()
        seconds = self.meter.clock.now() - self._t_start
        if not self._counting or status in (0, 1, 8):
            return 0, seconds
        # the first pulse opens the gate; progress counts the pulses after it [U]
        return 1 + round(self._progress() / 100.0 * self._pulses), seconds

    def stop(self) -> None:
        self._counting = False
        self.meter.link.write(self._c("stop"))

    def safe_state(self) -> None:
        self.stop()


def _sim_hooks(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.zera_com5003 import ZeraCOM5003Sim

    return ZeraCOM5003Sim(physics, positions)


DRIVER = DriverSpec(
    name="zera_com5003",
    aliases=("zera-com5003", "com5003", "mt310s2"),
    roles=frozenset({"reference", "calculators"}),
    open=ZeraCOM5003,
    description="ZERA COM5003 / MT310s2 reference meter with error calculators (SCPI, TCP port 6320)",
    max_positions=MAX_CALCULATORS,
    sim_yaml=SIM_DIR / "zera_com5003.yaml",
    sim_hooks=_sim_hooks,
)
