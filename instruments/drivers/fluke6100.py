"""Fluke 6100B / 6105A electrical power standard: source, reference and the pulse-error test of one
position, over SCPI (GPIB, RS-232 or LAN through VISA).

Provenance of every command (instruments.md): [C] seen in a Fluke manual or a working public driver;
[U] NOT confirmed publicly: designed by MeterBench to be plausible, check against the 6100B/6105A
programming manual before using on a real bench (only :data:`COMMANDS` needs to change).

Angle convention on the wire [U]: degrees, leading positive, referred to the phase-1 voltage, so a current
lagging 60 deg is sent as ``-60`` (matches the manual's example ``SOUR:PHAS1:CURR:MHAR:HARM1 5,-60``).
MeterBench's own convention (lagging positive) is converted here and nowhere else.

Errors: after settings the driver reads ``SYST:ERR?`` [C]; a negative (SCPI standard) code means the
command was refused (:class:`CommandRefused`), a positive (instrument-specific) code is a fault of the
instrument such as a current overload (:class:`InstrumentFault`) [U: the code ranges follow SCPI-99].
"""

from __future__ import annotations

import math
from pathlib import Path

from instruments.drivers import AllInOneRoles, DriverContext, Link, check_phases, parse_numbers, read_options
from instruments.errors import CommandRefused, InstrumentFault, UnparseableReply
from instruments.interfaces import (
    PHASES,
    Calibration,
    GateResult,
    PhaseReading,
    PhaseSetting,
    ReferenceReading,
    wait_until,
)
from instruments.registry import DriverSpec
from procedures.errors import InputError
from procedures.phasors import phasor, power, wrap180

SIM_DIR = Path(__file__).resolve().parents[1] / "sim"

# name -> (SCPI template, provenance)
COMMANDS = {
    "identify": ("*IDN?", "C"),
    "clear": ("*CLS", "C"),
    "error": ("SYST:ERR?", "C"),
    "fitted": ("SOUR:PHAS{n}:FITT?", "C"),
    "voltage": ("SOUR:PHAS{n}:VOLT:MHAR:HARM1 {amp:.6g},{angle:.4f}", "C"),
    "current": ("SOUR:PHAS{n}:CURR:MHAR:HARM1 {amp:.6g},{angle:.4f}", "C"),
    "voltage_state": ("SOUR:PHAS{n}:VOLT:STAT {on:d}", "C"),
    "current_state": ("SOUR:PHAS{n}:CURR:STAT {on:d}", "C"),
    "frequency": ("SOUR:FREQ {hz:.6g}", "C"),
    "frequency?": ("SOUR:FREQ?", "U"),  # query form of a [C] setting
    "output_on": ("OUTP:STAT ON", "C"),
    "output_off": ("OUTP:STAT OFF", "C"),
    "output?": ("OUTP:STAT?", "C"),
    "ramp": ("OUTP:RAMP:TIME {s:.6g}", "C"),
    "watts?": ("SOUR:PHAS{n}:POW:WATT?", "C"),
    "va?": ("SOUR:PHAS{n}:POW:VA?", "C"),
    "measured_voltage?": ("MEAS:PHAS{n}:VOLT?", "U"),  # -> <rms>,<angle>
    "measured_current?": ("MEAS:PHAS{n}:CURR?", "U"),  # -> <rms>,<angle>
    "mut_unit": ("ENER:MUT:CONS:UNIT WHPI", "C"),
    "mut_constant": ("ENER:MUT:CONS {kt:.9g}", "C"),
    "mut_source": ("ENER:MUT:SOUR {input}", "C"),
    "test_pulses": ("ENER:MUT:TEST:PULS {n:d}", "U"),
    "test_start": ("ENER:TEST:STAR", "U"),
    "test_status?": ("ENER:TEST:STAT?", "U"),  # -> IDLE|RUN|DONE,<progress 0..1>
    "test_result?": ("ENER:TEST:RES?", "U"),  # -> <error %|NAN>,<MUT pulses>,<reference pulses>,<seconds>
    "count_start": ("ENER:COUN:STAR", "U"),
    "count?": ("ENER:COUN?", "U"),  # -> <MUT pulses>,<seconds>
    "abort": ("ENER:ABOR", "C"),
}

OPTIONS = {
    "timeout_ms": (int, 2000, lambda v: 50 <= v <= 60000, "50..60000 ms"),
    "settle_timeout_s": (float, 15.0, lambda v: 0 < v <= 600, "0..600 s"),
    "poll_s": (float, 0.2, lambda v: 0 < v <= 10, "0..10 s"),
    "ramp_time_s": (float, 0.0, lambda v: 0 <= v <= 60, "0..60 s"),
    "mut_input": (
        str,
        "CH1",
        lambda v: v in ("CH1", "CH2", "CH3", "CH1TO3", "SUM123"),
        "CH1, CH2, CH3, CH1TO3, SUM123",
    ),
    "max_current_a": (
        float,
        120.0,
        lambda v: v > 0,
        "> 0 A (simulation: the current it cannot regulate above)",
    ),
}
STATUS_WORDS = {"IDLE": "idle", "RUN": "running", "DONE": "finished"}


def cmd(name: str, **values) -> str:
    return COMMANDS[name][0].format(**values)


class Fluke6100(AllInOneRoles):
    """One 6100B/6105A: Source, ReferenceStandard and (for one position) ErrorCalculator at once."""

    ONE_CALCULATOR = "a 6100B/6105A has one meter pulse input"

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.clock = ctx.clock
        self.link = Link(ctx.resource, ctx.name, timeout_ms=self.opts["timeout_ms"])
        self.position = 1
        self.kr_wh = 0.0
        self.calibration: Calibration | None = None
        self._want_on = False
        self._fitted: tuple[int, ...] | None = None

    # ---- shared ---------------------------------------------------------------------------------
    def identify(self) -> str:
        return self.link.query(cmd("identify"))

    def errors(self) -> list[str]:
        """Drain the SCPI error queue (at most 20 entries)."""
        found = []
        for _ in range(20):
            reply = self.link.query(cmd("error"))
            code = reply.split(",", 1)[0].strip()
            try:
                number = int(code)
            except ValueError:
                raise UnparseableReply(self.name, cmd("error"), reply, 'expected <code>,"<text>"') from None
            if number == 0:
                break
            found.append(reply)
        return found

    def check(self, after: str) -> None:
        """Raise if the instrument queued an error since the last check (``after`` = the command(s))."""
        errs = self.errors()
        if not errs:
            return
        code = int(errs[0].split(",", 1)[0])
        text = "; ".join(errs)
        if code > 0:
            raise InstrumentFault(self.name, after, text, "the instrument reports a fault")
        raise CommandRefused(self.name, after, text, "the instrument refused the command")

    def fitted(self) -> tuple[int, ...]:
        if self._fitted is None:
            found = []
            for n in (1, 2, 3):
                reply = self.link.query(cmd("fitted", n=n))
                if reply not in ("0", "1"):
                    raise UnparseableReply(self.name, cmd("fitted", n=n), reply, "expected 0 or 1")
                if reply == "1":
                    found.append(n)
            self._fitted = tuple(found)
        return self._fitted

    def safe_state(self) -> None:
        """Output off and the energy test aborted; harmless when already off."""
        self._want_on = False
        self.link.write(cmd("output_off"))
        self.link.write(cmd("abort"))

    def close(self) -> None:
        self.link.close()

    # ---- role views (the instrument object is all three) -----------------------------------------

    # ---- Source ----------------------------------------------------------------------------------
    def apply(self, phases: dict[str, PhaseSetting], frequency_hz: float) -> None:
        check_phases(phases)
        fitted = self.fitted()
        sent = []
        for n, p in zip((1, 2, 3), PHASES, strict=True):
            s = phases.get(p)
            if n not in fitted:
                if s and (s.voltage_v or s.current_a):
                    raise CommandRefused(self.name, None, None, f"phase {p} is not fitted on this instrument")
                continue
            v_on = bool(s and s.voltage_v > 0)
            i_on = bool(s and s.current_a > 0)
            if s:
                sent.append(cmd("voltage", n=n, amp=s.voltage_v, angle=_wire(s.voltage_lag_deg)))
                sent.append(cmd("current", n=n, amp=s.current_a, angle=_wire(s.current_lag_deg)))
            sent.append(cmd("voltage_state", n=n, on=int(v_on)))
            sent.append(cmd("current_state", n=n, on=int(i_on)))
        sent.append(cmd("frequency", hz=frequency_hz))
        if self.opts["ramp_time_s"]:
            sent.append(cmd("ramp", s=self.opts["ramp_time_s"]))
        for c in sent:
            self.link.write(c)
        self.check("; ".join(sent))

    def _output_state(self) -> bool:
        reply = self.link.query(cmd("output?"))
        if reply not in ("0", "1", "ON", "OFF"):
            raise UnparseableReply(self.name, cmd("output?"), reply, "expected 0/1/ON/OFF")
        return reply in ("1", "ON")

    def output_on(self) -> None:
        self.link.write(cmd("output_on"))
        self._want_on = True

        def on() -> bool:
            if self._output_state():
                return True
            self.check(cmd("output_on"))  # tripped or refused: raise what the instrument says
            return False

        wait_until(
            self.clock,
            on,
            self.opts["settle_timeout_s"] + self.opts["ramp_time_s"],
            self.opts["poll_s"],
            "source output on",
            instrument=self.name,
            command=cmd("output?"),
        )
        self.check(cmd("output_on"))

    def output_off(self) -> None:
        self._want_on = False
        self.link.write(cmd("output_off"))
        wait_until(
            self.clock,
            lambda: not self._output_state(),
            self.opts["settle_timeout_s"],
            self.opts["poll_s"],
            "source output off",
            instrument=self.name,
            command=cmd("output?"),
        )

    def output_is_on(self) -> bool:
        """The real output state; raises InstrumentFault if the source tripped while it should be on."""
        on = self._output_state()
        if self._want_on and not on:
            self._want_on = False
            self.check(cmd("output?"))
        return on

    # ---- ReferenceStandard -----------------------------------------------------------------------
    def read(self) -> ReferenceReading:
        phases = {}
        for n in self.fitted():
            p = PHASES[n - 1]
            vq, iq, wq, sq = (
                cmd(k, n=n) for k in ("measured_voltage?", "measured_current?", "watts?", "va?")
            )
            v_rms, v_ang = parse_numbers(self.name, vq, self.link.query(vq), 2)
            i_rms, i_ang = parse_numbers(self.name, iq, self.link.query(iq), 2)
            (watts,) = parse_numbers(self.name, wq, self.link.query(wq), 1)
            (va,) = parse_numbers(self.name, sq, self.link.query(sq), 1)
            v_lag, i_lag = (-v_ang) % 360.0, (-i_ang) % 360.0
            var = power(phasor(v_rms, v_lag), phasor(i_rms, i_lag)).imag
            phases[p] = PhaseReading(
                v_rms, v_lag, i_rms, i_lag, watts, var, va, watts / va if va > 0 else 0.0
            )
        fq = cmd("frequency?")
        (hz,) = parse_numbers(self.name, fq, self.link.query(fq), 1)
        return ReferenceReading(
            phases=phases,
            watts=sum(r.watts for r in phases.values()),
            vars=sum(r.vars for r in phases.values()),
            va=sum(r.va for r in phases.values()),
            frequency_hz=hz,
        )

    # ---- ErrorCalculator (its MUT pulse input, one position) ------------------------------------
    def configure(self, kt_wh: float, meter_pulses: int) -> None:
        if not (kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if meter_pulses < 1:
            raise InputError("meter_pulses", "must be >= 1", found=meter_pulses)
        sent = [
            cmd("mut_unit"),
            cmd("mut_constant", kt=kt_wh),
            cmd("mut_source", input=self.opts["mut_input"]),
            cmd("test_pulses", n=meter_pulses),
        ]
        for c in sent:
            self.link.write(c)
        self.check("; ".join(sent))

    def start(self) -> None:
        self.link.write(cmd("test_start"))
        self.check(cmd("test_start"))

    def poll(self) -> tuple[str, float]:
        q = cmd("test_status?")
        reply = self.link.query(q)
        word, _, progress = reply.partition(",")
        if word not in STATUS_WORDS:
            raise UnparseableReply(self.name, q, reply, "expected IDLE|RUN|DONE,<progress>")
        (value,) = parse_numbers(self.name, q, progress, 1)
        return STATUS_WORDS[word], min(max(value, 0.0), 1.0)

    def result(self) -> GateResult:
        q = cmd("test_result?")
        reply = self.link.query(q)
        err, meter, ref, secs = parse_numbers(self.name, q, reply, 4)
        if meter != int(meter) or meter < 1 or ref < 0 or secs < 0:
            raise UnparseableReply(self.name, q, reply, "no finished gate (pulse counts missing)")
        return GateResult(int(meter), ref, self.kr_wh, secs, None if math.isnan(err) else err)

    def count_start(self) -> None:
        self.link.write(cmd("count_start"))
        self.check(cmd("count_start"))

    def count_read(self) -> tuple[int, float]:
        q = cmd("count?")
        pulses, secs = parse_numbers(self.name, q, self.link.query(q), 2)
        return int(pulses), secs

    def stop(self) -> None:
        self.link.write(cmd("abort"))


def _wire(lag_deg: float) -> float:
    """MeterBench lagging degrees -> the wire's leading-positive angle in (-180, 180] [U]."""
    return wrap180(-lag_deg)


def _sim_hooks(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.fluke6100 import Fluke6100Sim

    physics.max_current_a = float(options.get("max_current_a", OPTIONS["max_current_a"][1]))
    return Fluke6100Sim(physics, positions[0] if positions else None)


def _open(ctx: DriverContext) -> Fluke6100:
    return Fluke6100(ctx)


DRIVER = DriverSpec(
    name="fluke6100",
    aliases=("fluke6105a", "fluke6100b"),
    roles=frozenset({"source", "reference", "calculators"}),
    open=_open,
    description="Fluke 6100B/6105A electrical power standard (SCPI): source, reference, one pulse input",
    max_positions=1,
    sim_yaml=SIM_DIR / "fluke6100.yaml",
    sim_hooks=_sim_hooks,
)
