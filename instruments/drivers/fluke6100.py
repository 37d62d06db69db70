"""Fluke 6100B / 6105A electrical power standard: the three-phase source, the reference (its readings are
its own settings) and, only with the shop's opt-in, the energy test of one position, over SCPI.

Provenance of every command is in :data:`COMMANDS` (instruments.md, Fluke section; the simulator's
docstring lists the sources): **C** = in the Fluke *6100B/6105A Users Manual* chapter 5 (FM) or in a
public driver of a real unit (PD); **U** = in no public source: sent only with ``unconfirmed=True``, so a
bench without ``allow_unconfirmed = true`` raises :class:`~instruments.errors.UnconfirmedCommand` before
anything is sent.

Wire conventions (see :mod:`instruments.sim.fluke6100`): angles in degrees, leading positive; a voltage's
angle is against the common reference (phase-A voltage at 0 here), a current's angle is against its own
phase's voltage (FM 7-4, PD). MeterBench's lagging-positive convention is converted here and nowhere else.

Order of a load point (PD, FM 5-36/5-43): ranges, then the multi-harmonic waveform state, then
``UNIT:MHAR:VOLT|CURR ABS``, then the fundamentals (``HARM1``), then channel states and frequency; then
``SYST:ERR?``. After the output comes on (and after a change while it is on) the driver waits the
option ``settle_s`` (PD wait 30 s, "necessary settling time"; default 0: the plan's settle times govern,
because the readings, being settings, cannot show settling to the engine).

The reference role: the 6105A is a source, not a meter; it has no measurement readback (any ``MEAS:…``
is [U]). A reading is its settings read back (``…:MHAR:HARM1?``, FM 5-36) and its own power
(``…:POW:WATT?``, ``…:POW:VA?``), zero while the output is off; the driver cross-checks the instrument's
watts against the angle convention above, so a wrong convention cannot go unnoticed. The frequency is the
one this driver set (the query form ``SOUR:FREQ?`` is not confirmed).

The energy test's own commands (start, status, result, counting) stay [U]: the manual's pages that define
them (FM 5-54, 5-56, 5-57) were not found. What the pages that were read (FM 5-55, 5-58, 4-34, 4-37, as
published at easymanua.ls/fluke/6105a/manual?p=159, 162, 100, 103) say against the assumed forms: status is
read through the STATus system ("warm up active", "test active", "input gate trigger pending", "energy
timer/counter active", FM 5-55), not as IDLE/RUN/DONE with a progress; a test's data query has fields whose
meaning depends on a PRESentation setting (COUNts, PREGistration); no ``ENERgy:TEST`` node appears, and
the only documented ways to end a test, ``ENERgy:ABORt`` and ``OUTPut OFF``, both drop the source
(FM 5-58). A shop must not opt in on a real unit until those pages are read; the assumed forms are what
MeterBench's simulator answers, nothing more. No back-to-back (continuous) test mode is documented (Gated
and Packet modes are, FM 4-37).

Errors: ``SYST:ERR?`` answers ``<code>,"<text>"``; a negative (SCPI) code is a refused command
(:class:`CommandRefused`), a positive (device-specific) one a fault such as an overload
(:class:`InstrumentFault`).
"""

from __future__ import annotations

import math

from instruments.drivers import (
    AllInOneRoles,
    DriverContext,
    Link,
    Transport,
    check_phases,
    parse_numbers,
    read_options,
)
from instruments.errors import (
    CommandRefused,
    InstrumentError,
    InstrumentFault,
    UnconfirmedCommand,
    UnparseableReply,
)
from instruments.interfaces import (
    PHASES,
    Calibration,
    Capabilities,
    GateResult,
    PhaseReading,
    PhaseSetting,
    ReferenceReading,
    wait_until,
)
from instruments.registry import DriverSpec
from procedures.errors import InputError
from procedures.phasors import phasor, power, wrap180

# name -> (SCPI template, provenance)
COMMANDS = {
    "identify": ("*IDN?", "C"),  # IEEE 488.2
    "options?": ("*OPT?", "C"),  # FM 5-64: 8 bit-weighted values, bit 2 energy option
    "clear": ("*CLS", "C"),
    "error": ("SYST:ERR?", "C"),
    "fitted": ("SOUR:PHAS{n}:FITT?", "C"),
    "voltage_range": ("SOUR:PHAS{n}:VOLT:RANG 0,{hi:g}", "C"),  # PD: "0,<hi>"
    "current_range": ("SOUR:PHAS{n}:CURR:RANG {lo:g},{hi:g}", "C"),  # FM 5-43
    "voltage_waveform": ("SOUR:PHAS{n}:VOLT:MHAR:STAT 1", "C"),
    "current_waveform": ("SOUR:PHAS{n}:CURR:MHAR:STAT 1", "C"),
    "voltage_clear": ("SOUR:PHAS{n}:VOLT:MHAR:CLE", "C"),  # FM 5-36: all harmonics but the fundamental
    "current_clear": ("SOUR:PHAS{n}:CURR:MHAR:CLE", "C"),
    "voltage_units": ("UNIT:MHAR:VOLT ABS", "C"),
    "current_units": ("UNIT:MHAR:CURR ABS", "C"),
    "voltage": ("SOUR:PHAS{n}:VOLT:MHAR:HARM1 {amp:.7g},{angle:.4f}", "C"),
    "current": ("SOUR:PHAS{n}:CURR:MHAR:HARM1 {amp:.7g},{angle:.4f}", "C"),
    # a harmonic of the multi-harmonic waveform, y = 0...100, amplitude absolute (UNIT:MHAR ABS), FM 5-36
    "voltage_harmonic": ("SOUR:PHAS{n}:VOLT:MHAR:HARM{k:d} {amp:.7g},{angle:.4f}", "C"),
    "current_harmonic": ("SOUR:PHAS{n}:CURR:MHAR:HARM{k:d} {amp:.7g},{angle:.4f}", "C"),
    "voltage?": ("SOUR:PHAS{n}:VOLT:MHAR:HARM1?", "C"),  # FM 5-36 -> <amplitude>,<angle>
    "current?": ("SOUR:PHAS{n}:CURR:MHAR:HARM1?", "C"),
    "voltage_state": ("SOUR:PHAS{n}:VOLT:STAT {on:d}", "C"),
    "current_state": ("SOUR:PHAS{n}:CURR:STAT {on:d}", "C"),
    "frequency": ("SOUR:FREQ {hz:.6g}", "C"),
    "output_on": ("OUTP:STAT ON", "C"),
    "output_off": ("OUTP:STAT OFF", "C"),
    "output?": ("OUTP:STAT?", "C"),  # PD: 0/1
    "ramp": ("OUTP:RAMP:TIME {s:.6g}", "C"),
    "watts?": ("SOUR:PHAS{n}:POW:WATT?", "C"),
    "va?": ("SOUR:PHAS{n}:POW:VA?", "C"),
    "abort": ("ENER:ABOR", "C"),  # FM 5-58: aborts the test AND drops the source: safe state only
    "mut_unit": ("ENER:MUT:CONS:UNIT WHPI", "C"),  # FM 5-59
    "mut_constant": ("ENER:MUT:CONS {kt:.9g}", "C"),
    "mut_source": ("ENER:MUT:SOUR {input}", "C"),
    "ref_source": ("ENER:REF:SOUR MAIN", "C"),  # FM 5-60: the equivalent pulses of the power outputs
    "output_constant_unit": ("ENER:OUTP:CONS:UNIT IPWH", "C"),  # FM 5-61
    "output_constant": ("ENER:OUTP:CONS {per_wh:.9g}", "C"),  # FM 5-60: MAIN counts with this constant
    # FM 5-58 names "MUT:TEST:PSOUrce" {CH1...CH6|SUM456|MEAN456|MEAN56|EMUT|MAIN}, sent after MUT:SOURce and
    # REFerence:SOURce (as configure() does); only the ENERgy: root is inferred
    "pulse_source": ("ENER:MUT:TEST:PSOU CH1", "U"),
    "test_pulses": ("ENER:MUT:TEST:PULS {n:d}", "U"),
    "test_start": ("ENER:TEST:STAR", "U"),
    "test_stop": ("ENER:TEST:STOP", "U"),
    "test_status?": ("ENER:TEST:STAT?", "U"),  # -> IDLE|RUN|DONE,<progress 0..1>
    "test_result?": ("ENER:TEST:RES?", "U"),  # -> <error %|NAN>,<MUT pulses>,<reference pulses>,<seconds>
    "count_start": ("ENER:COUN:STAR", "U"),
    "count?": ("ENER:COUN?", "U"),  # -> <MUT pulses>,<seconds>
}
#: the [U] commands the calculator role needs (Capabilities.unconfirmed)
ENERGY_UNCONFIRMED = tuple(COMMANDS[k][0].split(" ")[0] for k, (_, prov) in COMMANDS.items() if prov == "U")

#: voltage range upper limits (PD); the driver selects the narrowest that holds the amplitude
VOLTAGE_RANGES = (23.0, 45.0, 90.0, 180.0, 360.0, 650.0, 1008.0)
#: current ranges (lower, upper limit), FM 5-43; 50 A / 80 A need the options *OPT? reports
CURRENT_RANGES = (
    (0.05, 0.25), (0.05, 0.5), (0.1, 1.0), (0.2, 2.0), (0.5, 5.0), (1.0, 10.0), (2.0, 21.0),
    (5.0, 50.0), (8.0, 80.0),
)  # fmt: skip
FREQUENCY_HZ = (16.0, 850.0)  # FM ch. 1 specifications: the fundamental 16 Hz – 850 Hz
MUT_INPUTS = ("CH1", "CH1TO2", "CH1TO3", "CH1TO4", "CH1TO5", "CH1TO6", "SUM123")  # FM 5-59 (no CH2, CH3)
OPT_80A, OPT_ENERGY, OPT_ENERGY_II, OPT_50A = 1, 4, 16, 64  # FM 5-64 bit weights

#: the documented session: SCPI, LF-terminated both ways (IEEE 488.2 NL); serial settings are not
#: documented publicly, so an RS-232 bench gives them in its transport table
TRANSPORT = Transport(read_termination="\n", write_termination="\n", timeout_ms=2000)

OPTIONS = {
    "timeout_ms": (int, 0, lambda v: v == 0 or 50 <= v <= 60000, "50..60000 ms (0: the transport's)"),
    "settle_timeout_s": (float, 15.0, lambda v: 0 < v <= 600, "0..600 s"),
    # public drivers wait 30 s after switching on; 0 here because the engine's plan settle times govern and
    # a wait hidden in the driver is energy the engine's register accounting does not see
    "settle_s": (float, 0.0, lambda v: 0 <= v <= 600, "0..600 s (public drivers wait 30 s)"),
    "poll_s": (float, 0.2, lambda v: 0 < v <= 10, "0..10 s"),
    "ramp_time_s": (float, 0.0, lambda v: 0 <= v <= 60, "0..60 s"),
    "mut_input": (str, "CH1", lambda v: v in MUT_INPUTS, ", ".join(MUT_INPUTS)),
    # simulation only (a real bench ignores them): what the simulated unit has fitted
    "max_current_a": (
        float,
        0.0,
        lambda v: v >= 0,
        ">= 0 A (simulation: the current it cannot regulate above)",
    ),
    "sim_energy_option": (bool, True, lambda v: True, "true or false (simulation: energy option fitted)"),
    "sim_current_option_a": (float, 80.0, lambda v: v in (21.0, 50.0, 80.0), "21, 50 or 80 (simulation)"),
    "sim_phases": (int, 3, lambda v: 1 <= v <= 3, "1..3 (simulation: phases fitted)"),
}
STATUS_WORDS = {"IDLE": "idle", "RUN": "running", "DONE": "finished"}


def cmd(name: str, **values) -> str:
    return COMMANDS[name][0].format(**values)


def _confirmed(name: str) -> bool:
    return COMMANDS[name][1] == "C"


class Fluke6100(AllInOneRoles):
    """One 6100B/6105A: Source, ReferenceStandard and (for one position, opt-in) ErrorCalculator."""

    ONE_CALCULATOR = "a 6100B/6105A has one meter pulse input"

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.clock = ctx.clock
        extra = {"timeout_ms": self.opts["timeout_ms"]} if self.opts["timeout_ms"] else {}
        self.link = Link.from_context(ctx, TRANSPORT, **extra)
        self.position = 1
        self.kr_wh = 0.0
        self.calibration: Calibration | None = None
        self._want_on = False
        self._fitted: tuple[int, ...] | None = None
        self._options: list[int] | None = None
        self._cleared = False
        self._frequency_hz = 0.0
        self._enabled: dict[int, tuple[bool, bool]] = {}  # phase -> (voltage on, current on) as last set
        self._energy_setup: tuple | None = None  # the energy-test settings last sent and found accepted
        self._unchecked: list[str] = []  # energy-test settings sent since the error queue was last read

    # ---- shared ---------------------------------------------------------------------------------
    def identify(self) -> str:
        return self.link.query(cmd("identify"))

    def _send(self, name: str, **values) -> str:
        c = cmd(name, **values)
        self.link.write(c, unconfirmed=not _confirmed(name))
        return c

    def _ask(self, name: str, **values) -> tuple[str, str]:
        c = cmd(name, **values)
        return c, self.link.query(c, unconfirmed=not _confirmed(name))

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
                c, reply = self._ask("fitted", n=n)
                if reply not in ("0", "1"):
                    raise UnparseableReply(self.name, c, reply, "expected 0 or 1")
                if reply == "1":
                    found.append(n)
            self._fitted = tuple(found)
        return self._fitted

    def options(self) -> list[int]:
        """``*OPT?``: one bit-weighted value per channel (P1V, P1I, P2V, P2I, P3V, P3I, NV, NI)."""
        if self._options is None:
            c, reply = self._ask("options?")
            try:
                values = [int(v) for v in reply.split(",")]
            except ValueError:
                values = []
            if len(values) != 8 or any(v < 0 for v in values):
                raise UnparseableReply(self.name, c, reply, "expected 8 comma-separated option values")
            self._options = values
        return self._options

    def energy_option(self) -> bool:
        """The energy timer/counter option (bit 2, or bit 4 = its version II) on any channel (FM 5-64)."""
        return any(v & (OPT_ENERGY | OPT_ENERGY_II) for v in self.options())

    def max_current_a(self, n: int) -> float:
        value = self.options()[2 * n - 1]
        return 80.0 if value & OPT_80A else 50.0 if value & OPT_50A else 21.0

    def capabilities(self) -> Capabilities:
        allowed = self.link.allow_unconfirmed
        energy = self.energy_option() and allowed
        return Capabilities(
            phases=len(self.fitted()),
            per_element=True,
            frequency_hz=FREQUENCY_HZ,
            harmonics=True,
            # the unit's energy test can count Wh, VAh or VARh (FM 4-34, Budeanu for var with MAIN as the
            # reference), but the remote command that selects the type is on an unread page: this driver
            # gates Wh only
            quantities=frozenset({"active"}),
            energy_test=energy,
            positions=1,
            continuous_gating=False,
            pulse_count=energy,
            unconfirmed=ENERGY_UNCONFIRMED,
        )

    def safe_state(self) -> None:
        """Output off; then, when the energy option is fitted, the test sequence aborted (``ENER:ABOR``
        also drops the source, FM 5-58: here only as part of the safe state). Harmless when off."""
        self._want_on = False
        self._energy_setup = None  # after ENER:ABOR the test is set up afresh
        self.link.write(cmd("output_off"))
        try:
            fitted = self.energy_option()
        except InstrumentError:
            fitted = True  # cannot tell: abort anyway, an error it queues is better than a running test
        if fitted:
            self.link.write(cmd("abort"))

    def confirm_safe(self) -> list[str]:
        """After the ramp time: the output reads OFF and the error queue is empty. Problems in words."""
        problems: list[str] = []
        self.clock.sleep(self.opts["ramp_time_s"])
        try:
            if self._output_state():
                problems.append(
                    f"{self.name}: the output still reads ON (OUTP:STAT? = 1) after switching off"
                )
            errs = self.errors()
            if errs:
                problems.append(f"{self.name}: the instrument reports: {'; '.join(errs)}")
        except InstrumentError as exc:
            problems.append(f"{self.name}: could not confirm the safe state: {exc}")
        return problems

    def close(self) -> None:
        self.link.close()

    # ---- Source ----------------------------------------------------------------------------------
    def _current_range(self, n: int, amps: float) -> tuple[float, float]:
        top = self.max_current_a(n)
        for lo, hi in CURRENT_RANGES:
            if hi <= top and amps <= hi:
                return lo, hi
        raise InputError(f"phases.{PHASES[n - 1]}.current_a", "above the largest current range fitted",
                         found=amps, allowed=f"<= {top:g} A")  # fmt: skip

    @staticmethod
    def _voltage_range(n: int, volts: float) -> float:
        for hi in VOLTAGE_RANGES:
            if volts <= hi:
                return hi
        raise InputError(f"phases.{PHASES[n - 1]}.voltage_v", "above the largest voltage range",
                         found=volts, allowed=f"<= {VOLTAGE_RANGES[-1]:g} V")  # fmt: skip

    def apply(self, phases: dict[str, PhaseSetting], frequency_hz: float) -> None:
        check_phases(phases)
        if not FREQUENCY_HZ[0] <= frequency_hz <= FREQUENCY_HZ[1]:
            raise InputError("frequency_hz", "outside the source's range", found=frequency_hz,
                             allowed=f"{FREQUENCY_HZ[0]:g}..{FREQUENCY_HZ[1]:g} Hz")  # fmt: skip
        fitted = self.fitted()
        off = PhaseSetting(0.0, 0.0, 0.0, 0.0)
        plan: dict[int, PhaseSetting] = {}
        for n, p in zip((1, 2, 3), PHASES, strict=True):
            s = phases.get(p)
            if n not in fitted:
                if s and (s.voltage_v or s.current_a):
                    raise CommandRefused(self.name, None, None, f"phase {p} is not fitted on this instrument")
                continue
            plan[n] = s or off
        # everything is worked out (and bad input refused) before the first command is sent
        # A phase to be off gets only its two output states (STAT 0): its range, waveform and amplitude
        # source nothing while its outputs are off, and a later point that uses it sets them all before
        # switching it on. A third of the messages of a single-phase point on a three-phase unit.
        live = {n: s for n, s in plan.items() if s.voltage_v or s.current_a}
        ranges = {
            n: (self._voltage_range(n, s.voltage_v), self._current_range(n, s.current_a))
            for n, s in live.items()
        }
        steps: list[tuple[str, dict]] = []
        for n, (v_hi, (i_lo, i_hi)) in ranges.items():
            steps += [
                ("voltage_range", {"n": n, "hi": v_hi}),
                ("current_range", {"n": n, "lo": i_lo, "hi": i_hi}),
            ]
        for n in plan:
            if n in live:
                steps += [("voltage_waveform", {"n": n}), ("current_waveform", {"n": n})]
            if not self._cleared:
                steps += [("voltage_clear", {"n": n}), ("current_clear", {"n": n})]
        steps += [("voltage_units", {}), ("current_units", {})]
        for n, s in live.items():
            v_wire = wrap180(-s.voltage_lag_deg) + 0.0  # (+ 0.0: no "-0.0000" on the wire)
            i_wire = wrap180(s.voltage_lag_deg - s.current_lag_deg) + 0.0  # against its own phase's voltage
            steps += [("voltage", {"n": n, "amp": s.voltage_v, "angle": v_wire}),
                      ("current", {"n": n, "amp": s.current_a, "angle": i_wire})]  # fmt: skip
        for n, s in plan.items():
            steps += [("voltage_state", {"n": n, "on": int(s.voltage_v > 0)}),
                      ("current_state", {"n": n, "on": int(s.current_a > 0)})]  # fmt: skip
        steps.append(("frequency", {"hz": frequency_hz}))
        if self.opts["ramp_time_s"]:
            steps.append(("ramp", {"s": self.opts["ramp_time_s"]}))
        sent = [self._send(name, **values) for name, values in steps]
        self._enabled = {n: (s.voltage_v > 0, s.current_a > 0) for n, s in plan.items()}
        self._frequency_hz = frequency_hz
        self._cleared = True
        self.check("; ".join(sent))
        if self._want_on:  # a change while the output is on settles like switching on
            self.clock.sleep(self.opts["settle_s"])

    def set_harmonics(self, phases: dict[str, PhaseSetting], harmonics) -> None:
        """Add ``harmonics`` ((order, % of the fundamental on the voltage, % on the current), ...) to the
        waveform :meth:`apply` set up, or with none clear every harmonic but the fundamental (FM 5-36
        ``MHAR:CLE``). Each harmonic is in phase with its fundamental: angle = order x the fundamental's."""
        steps: list[tuple[str, dict]] = []
        for n, p in zip((1, 2, 3), PHASES, strict=True):
            s = phases.get(p)
            if n not in self.fitted() or s is None:
                continue
            steps += [("voltage_clear", {"n": n}), ("current_clear", {"n": n})]
            v_wire = wrap180(-s.voltage_lag_deg)
            i_wire = wrap180(s.voltage_lag_deg - s.current_lag_deg)
            for order, v_pct, i_pct in harmonics:
                if not 2 <= int(order) <= 100:
                    raise InputError("harmonics", "orders 2 ... 100 (FM 5-36 HARM0...HARM100)", found=order)
                if s.voltage_v and v_pct:
                    steps.append(("voltage_harmonic", {"n": n, "k": int(order), "amp": s.voltage_v * v_pct / 100.0,
                                                       "angle": wrap180(order * v_wire) + 0.0}))  # fmt: skip
                if s.current_a and i_pct:
                    steps.append(("current_harmonic", {"n": n, "k": int(order), "amp": s.current_a * i_pct / 100.0,
                                                       "angle": wrap180(order * i_wire) + 0.0}))  # fmt: skip
        sent = [self._send(name, **values) for name, values in steps]
        self.check("; ".join(sent))
        if self._want_on:
            self.clock.sleep(self.opts["settle_s"])

    def _output_state(self) -> bool:
        c, reply = self._ask("output?")
        if reply not in ("0", "1", "ON", "OFF"):
            raise UnparseableReply(self.name, c, reply, "expected 0/1")
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
        self.clock.sleep(self.opts["settle_s"])  # PD: 30 s "necessary settling time"
        if self._want_on:  # not switched off meanwhile (an abort): a trip while settling raises here
            self.output_is_on()

    def output_off(self) -> None:
        self._want_on = False
        self.link.write(cmd("output_off"))
        wait_until(
            self.clock,
            lambda: not self._output_state(),
            self.opts["settle_timeout_s"] + self.opts["ramp_time_s"],
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
        """The unit's own settings and powers (a source has no measurement readback), zero when off."""
        on = self._output_state()
        phases = {}
        for n in self.fitted():
            p = PHASES[n - 1]
            # a phase whose outputs this driver switched off (STAT 0) sources nothing, and the unit's
            # "readings" are its settings: it reads zero without four queries
            if not on or not any(self._enabled.get(n, (True, True))):
                phases[p] = PhaseReading(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                continue
            vq, v_reply = self._ask("voltage?", n=n)
            iq, i_reply = self._ask("current?", n=n)
            wq, w_reply = self._ask("watts?", n=n)
            sq, s_reply = self._ask("va?", n=n)
            v_amp, v_ang = parse_numbers(self.name, vq, v_reply, 2)
            i_amp, i_ang = parse_numbers(self.name, iq, i_reply, 2)
            (watts,) = parse_numbers(self.name, wq, w_reply, 1)
            (va,) = parse_numbers(self.name, sq, s_reply, 1)
            v_on, i_on = self._enabled.get(n, (True, True))
            v_rms, i_rms = (v_amp if v_on else 0.0), (i_amp if i_on else 0.0)
            v_lag, i_lag = (-v_ang) % 360.0, (-(v_ang + i_ang)) % 360.0
            s = power(phasor(v_rms, v_lag), phasor(i_rms, i_lag))
            if abs(watts - s.real) > 1e-3 * max(abs(s), va, 1e-6) + 1e-6:
                raise UnparseableReply(
                    self.name, wq, w_reply,
                    f"the instrument's power disagrees with its settings ({s.real:.6g} W expected from {vq} "
                    f"{v_reply!r} and {iq} {i_reply!r}): the angle convention assumed by the driver is wrong",
                )  # fmt: skip
            phases[p] = PhaseReading(
                v_rms, v_lag, i_rms, i_lag, watts, s.imag, va, watts / va if va > 0 else 0.0
            )
        return ReferenceReading(
            phases=phases,
            watts=sum(r.watts for r in phases.values()),
            vars=sum(r.vars for r in phases.values()),
            va=sum(r.va for r in phases.values()),
            frequency_hz=self._frequency_hz,
        )

    # ---- ErrorCalculator (its MUT pulse input, one position; needs [U] commands) ------------------
    def _energy_path(self, first: str) -> None:
        """Refuse before sending anything: the energy test needs [U] commands and the option fitted."""
        if not self.link.allow_unconfirmed:
            raise UnconfirmedCommand(
                self.name, first, None,
                "the 6100B/6105A energy test needs commands found in no public source [U] "
                f"({', '.join(ENERGY_UNCONFIRMED)}); nothing was sent. Set allow_unconfirmed = true for this "
                "instrument in the bench file to use them, or use a separate error calculator",
            )  # fmt: skip
        if not self.energy_option():
            raise CommandRefused(self.name, cmd("options?"), ",".join(map(str, self.options())),
                                 "the energy timer/counter option is not fitted (*OPT? bit 2)")  # fmt: skip

    def configure(self, kt_wh: float, meter_pulses: int) -> None:
        if not (kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if meter_pulses < 1:
            raise InputError("meter_pulses", "must be >= 1", found=meter_pulses)
        if not (self.kr_wh > 0 and math.isfinite(self.kr_wh)):
            raise InputError("reference.kr_wh", "must be > 0 Wh per pulse", found=self.kr_wh)
        self._energy_path(cmd("test_pulses", n=meter_pulses))
        setup = (kt_wh, meter_pulses, self.kr_wh, self.opts["mut_input"])
        if setup == self._energy_setup:  # the next reading of a point: the unit holds these settings
            return
        # FM 5-58/5-59: the MUT source first, then the reference source, then the test pulse source
        steps = [
            ("mut_unit", {}),
            ("mut_constant", {"kt": kt_wh}),
            ("mut_source", {"input": self.opts["mut_input"]}),
            ("output_constant_unit", {}),
            ("output_constant", {"per_wh": 1.0 / self.kr_wh}),
            ("ref_source", {}),
            ("pulse_source", {}),
            ("test_pulses", {"n": meter_pulses}),
        ]
        self._energy_setup = None
        self._unchecked += [self._send(name, **values) for name, values in steps]
        self._energy_setup = setup  # accepted once the error queue read after the start is empty

    def _settings_checked(self) -> None:
        """The error queue, once for the energy-test settings (and start) sent since it was last read."""
        if self._unchecked:
            after, self._unchecked = "; ".join(self._unchecked), []
            try:
                self.check(after)
            except InstrumentError:
                self._energy_setup = None  # refused or faulted: send the whole setup again next time
                raise

    def start(self) -> None:
        self._energy_path(cmd("test_start"))
        self._unchecked.append(self._send("test_start"))
        self._settings_checked()

    def poll(self) -> tuple[str, float]:
        self._energy_path(cmd("test_status?"))
        q, reply = self._ask("test_status?")
        word, _, progress = reply.partition(",")
        if word not in STATUS_WORDS:
            raise UnparseableReply(self.name, q, reply, "expected IDLE|RUN|DONE,<progress>")
        (value,) = parse_numbers(self.name, q, progress, 1)
        return STATUS_WORDS[word], min(max(value, 0.0), 1.0)

    def result(self) -> GateResult:
        self._energy_path(cmd("test_result?"))
        q, reply = self._ask("test_result?")
        err, meter, ref, secs = parse_numbers(self.name, q, reply, 4)
        if meter != int(meter) or meter < 1 or ref < 0 or secs < 0:
            raise UnparseableReply(self.name, q, reply, "no finished gate (pulse counts missing)")
        return GateResult(int(meter), ref, self.kr_wh, secs, None if math.isnan(err) else err)

    def count_start(self) -> None:
        self._energy_path(cmd("count_start"))
        self._unchecked.append(self._send("count_start"))
        self._settings_checked()

    def count_read(self) -> tuple[int, float]:
        self._energy_path(cmd("count?"))
        q, reply = self._ask("count?")
        pulses, secs = parse_numbers(self.name, q, reply, 2)
        return int(pulses), secs

    def stop(self) -> None:
        """End a gate or a count, meant to leave the source on (never ``ENER:ABOR``: it drops the source,
        FM 5-58). [U] twice over: no documented command ends a test and keeps the source on."""
        self._energy_path(cmd("test_stop"))
        self._send("test_stop")


def _sim_instrument(physics, positions: tuple[int, ...], options):
    from instruments.sim.fluke6100 import Fluke6100Sim

    def opt(key):
        return options.get(key, OPTIONS[key][1])

    current_option = float(opt("sim_current_option_a"))
    physics.max_current_a = float(opt("max_current_a")) or current_option
    return Fluke6100Sim(
        physics,
        positions[0] if positions else None,
        energy_option=bool(opt("sim_energy_option")),
        phases_fitted=int(opt("sim_phases")),
        current_option_a=current_option,
    )


def _open(ctx: DriverContext) -> Fluke6100:
    return Fluke6100(ctx)


DRIVER = DriverSpec(
    name="fluke6100",
    aliases=("fluke6105a", "fluke6100b"),
    roles=frozenset({"source", "reference", "calculators"}),
    open=_open,
    description="Fluke 6100B/6105A electrical power standard (SCPI): source, reference (its settings), "
    "one pulse input ([U] energy test, opt-in)",
    max_positions=1,
    sim_instrument=_sim_instrument,
    transport=TRANSPORT,
)
