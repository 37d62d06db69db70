"""ZERA MT7xx portable / movable meter test system (MT786, MT793 ...): source, reference and the error
calculator of one position, over its line-based ASCII protocol (serial, or serial bridged to TCP).

Protocol [C, from ZERA's own open-source device simulator and drivers, see instruments.md]: one command per
line; the instrument answers zero or more data lines and then one acknowledgement line, ``<CMD>ACK`` for
``A…`` commands (``AMEACK``, ``AESACK``) or ``SOK<xx>`` for ``S…`` source commands (``SOKUP``); a line
ending in ``NAK`` means the command was refused (:class:`CommandRefused`). The exact NAK spelling is [U]:
any line ending in ``NAK`` is taken as a refusal.

Angle convention on the wire [C]: DIN, i.e. the negated IEC angle, rotated so the first switched-on voltage
is at 0 deg; written ``AAA.AA`` in 0..359.99. A phase-B voltage lagging 120 deg (MeterBench: lag 120)
goes on the wire as ``240.00``, a current lagging 60 deg as ``300.00``. MeterBench's convention (lagging
positive, phase-A voltage 0) is converted in :func:`to_wire` / :func:`from_wire` and nowhere else. The
``AME`` actual values use the same DIN angles.

Output: the MT has no output on/off separate from its phase switches: ``SUI`` switches each voltage (E/A)
and current (P/A) on or off; ``SUIAAAAAAAAA`` (all off) is the safe state. No output-state query is
known, so :meth:`ZeraMT7xx.output_is_on` *measures* it (``AME``: any voltage or current present), which
also catches a tripped amplifier.

Error calculator [C command names, U details]: ``AEP`` sets the meter constant (imp/kWh) and the gate's
meter pulses, each as ``mantissa;exponent`` with at most 6 mantissa digits (the constant is sent x 1e5);
``AEB0`` starts one gate (it opens on the next meter pulse), ``AES1`` answers the state (``0x``: 0 idle,
1 armed, 2 running, 3 finished), the error in % (``--.--`` until done), and ``<progress %>;<energy>``;
``AEE`` aborts. [U]: the energy unit (taken as Wh of reference energy counted in the gate) and that the
progress is the percentage of the gate's meter pulses counted. The engine's %R is computed from the
gate's meter pulses and that reference energy (``ref_pulses = energy / Kr``); the MT's own error is kept
as the cross-check.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

from instruments.drivers import AllInOneRoles, DriverContext, Link, check_phases, read_options
from instruments.errors import (
    CommandRefused,
    ConnectionLost,
    InstrumentError,
    InstrumentFault,
    UnparseableReply,
)
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
from procedures.phasors import phasor, power

SIM_DIR = Path(__file__).resolve().parents[1] / "sim"

# name -> (template, acknowledgement, provenance)
COMMANDS = {
    "identify": ("AAV", "AAVACK", "C"),  # -> e.g. MT793V05.52
    "voltages": ("SUPAE{fields}", "SOKUP", "C"),  # A = U-Absch, E = U-Dos [C]; fields R…S…T…
    "currents": ("SIPAA{fields}", "SOKIP", "C"),  # A = I-Off, A = amperes [C]
    "frequency": ("SFR{hz:05.2f}", "SOKFR", "C"),  # 00.00 = synchronous with mains
    "switch": ("SUI{states}", "SOKUI", "C"),  # U1-3 E/A, I1-3 P/A, then H1, H2, R (A)
    "actual_values": ("AME", "AMEACK", "C"),  # -> lines <index>;<value>
    "error_setup": ("AEP{kc};{kc_exp:02d};{n};{n_exp:d}", "AEPACK", "C"),
    "error_start": ("AEB0", "AEBACK", "C"),
    "error_status": ("AES1", "AESACK", "C"),  # -> 0<state>, <error %|--.--|oo.oo>, <progress>;<energy>
    "error_abort": ("AEE", "AEEACK", "C"),
}
ALL_OFF = "AAAAAAAAA"
MAX_LINES = 200  # a data reply longer than this is garbage, not an answer

# AME actual-value indices [C: ZERA's open-source MT reference-meter driver]
AME_VOLTAGE = (0, 1, 2)
AME_CURRENT = (3, 4, 5)
AME_VOLTAGE_ANGLE = (6, 7, 8)
AME_CURRENT_ANGLE = (9, 10, 11)
AME_WATTS = (15, 16, 17)
AME_VA = (21, 22, 23)
AME_FREQUENCY = 28

OPTIONS = {
    "timeout_ms": (int, 2000, lambda v: 50 <= v <= 60000, "50..60000 ms"),
    "settle_timeout_s": (float, 15.0, lambda v: 0 < v <= 600, "0..600 s"),
    "poll_s": (float, 0.2, lambda v: 0 < v <= 10, "0..10 s"),
    "count_gate_pulses": (int, 100, lambda v: 10 <= v <= 999999, "10..999999 meter pulses"),
    "max_current_a": (
        float,
        120.0,
        lambda v: v > 0,
        "> 0 A (simulation: the current it cannot regulate above)",
    ),
}
STATES = {"0": "idle", "1": "running", "2": "running", "3": "finished"}


def cmd(name: str, **values) -> str:
    return COMMANDS[name][0].format(**values)


def ack(name: str) -> str:
    return COMMANDS[name][1]


def to_wire(lag_deg: float) -> float:
    """MeterBench lagging degrees -> the MT's DIN wire angle in [0, 360) (the negated IEC angle)."""
    angle = round((-lag_deg) % 360.0, 2)
    return 0.0 if angle >= 360.0 else angle


def from_wire(angle: float) -> float:
    """The MT's DIN wire angle -> MeterBench lagging degrees in [0, 360)."""
    return (-angle) % 360.0


def clip_to_protocol(value: float, what: str) -> tuple[str, int, float]:
    """``value`` as (mantissa of at most 6 digits, power of ten, the value really sent) [C: ZERA]."""
    number = round(value)
    if number <= 0:
        raise InputError(what, "must be > 0 after scaling to the MT protocol", found=value)
    digits = str(number)
    power = max(len(digits) - 6, 0)
    mantissa = round(number / 10**power)
    if mantissa >= 10**6:  # rounding up to a seventh digit
        mantissa, power = round(mantissa / 10), power + 1
    return str(mantissa), power, float(mantissa * 10**power)


def _field(amount: float, angle: float, what: str) -> str:
    if not (0 <= amount <= 999.999) or not math.isfinite(amount):
        raise InputError(what, "outside the MT's setting range", found=amount, allowed="0..999.999")
    return f"{amount:07.3f}{angle if amount > 0 else 0.0:06.2f}"  # a phase at zero is sent at 0 deg


class ZeraMT7xx(AllInOneRoles):
    """One MT7xx: Source, ReferenceStandard and (for one position) ErrorCalculator at once."""

    ONE_CALCULATOR = "an MT7xx has one error calculator"

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.clock = ctx.clock
        self.link = Link(ctx.resource, ctx.name, timeout_ms=self.opts["timeout_ms"])
        self.position = 1
        self.kr_wh = 0.0
        self.calibration: Calibration | None = None
        self._states = ALL_OFF  # the phase switches the last apply() asked for
        self._want_on = False
        self._gate_pulses = 0
        self._t_start = 0.0
        self._t_done: float | None = None
        self._counting = False

    # ---- the line protocol ----------------------------------------------------------------------
    def _line(self, command: str) -> str:
        try:
            reply = self.link.resource.read()
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self.link._translate(exc, command) from exc
        reply = reply.strip("\r\n ")
        if not reply or any(not (32 <= ord(ch) < 127) for ch in reply):
            raise UnparseableReply(self.name, command, reply, "reply line is empty or not printable ASCII")
        return reply

    def transact(self, name: str, **values) -> list[str]:
        """Send one command; return its data lines once the acknowledgement line arrives."""
        command, expected = cmd(name, **values), ack(name)
        self.link.write(command)
        lines: list[str] = []
        for _ in range(MAX_LINES):
            line = self._line(command)
            if line == expected:
                return lines
            if line.endswith("NAK"):
                raise CommandRefused(self.name, command, line, "the instrument refused the command (NAK)")
            lines.append(line)
        raise UnparseableReply(
            self.name, command, "; ".join(lines[-3:]), f"no {expected} after {MAX_LINES} lines"
        )

    # ---- shared ---------------------------------------------------------------------------------
    def identify(self) -> str:
        lines = self.transact("identify")
        if len(lines) != 1:
            raise UnparseableReply(self.name, cmd("identify"), "; ".join(lines), "expected one version line")
        return lines[0]

    def safe_state(self) -> None:
        """All phases off (first), then the gate aborted. If the link dropped, reconnect once and retry:
        a real MT keeps its output on when only the cable to the PC is gone."""
        self._want_on = False
        self._counting = False
        first: Exception | None = None
        for step in ("switch", "error_abort"):
            try:
                self._safe_step(step)
            except Exception as exc:  # noqa: BLE001 - try the abort too, then raise the first
                first = first or exc
        if first is not None:
            raise first

    def _safe_step(self, step: str) -> None:
        values = {"states": ALL_OFF} if step == "switch" else {}
        try:
            self.transact(step, **values)
        except (ConnectionLost, InstrumentError) as exc:
            if isinstance(exc, CommandRefused):
                raise
            self._reconnect()
            self.transact(step, **values)

    def _reconnect(self) -> None:
        resource = self.link.resource
        with contextlib.suppress(Exception):  # the old session is dead already
            resource.close()
        try:
            resource.open()
            self.link = Link(resource, self.name, timeout_ms=self.opts["timeout_ms"])
            with contextlib.suppress(Exception):
                resource.clear()
        except Exception as exc:  # noqa: BLE001 - translated
            raise ConnectionLost(self.name, None, None, f"cannot reconnect: {exc}") from exc

    def close(self) -> None:
        self.link.close()

    # ---- role views ------------------------------------------------------------------------------

    # ---- Source ----------------------------------------------------------------------------------
    def apply(self, phases: dict[str, PhaseSetting], frequency_hz: float) -> None:
        check_phases(phases)
        if not (0 < frequency_hz < 100):
            raise InputError(
                "frequency_hz", "outside the MT's SFR range", found=frequency_hz, allowed="0..99.99 Hz"
            )
        settings = [phases.get(p) or PhaseSetting(0.0, 0.0, 0.0, 0.0) for p in PHASES]
        v_on = [s.voltage_v > 0 for s in settings]
        # [C] the MT refers every angle to the first switched-on voltage: rotate exactly as it would
        offset = next((s.voltage_lag_deg for s, on in zip(settings, v_on, strict=True) if on), 0.0)
        v_fields, i_fields = [], []
        for letter, p, s in zip("RST", PHASES, settings, strict=True):
            v_fields.append(
                letter + _field(s.voltage_v, to_wire(s.voltage_lag_deg - offset), f"phases.{p}.voltage_v")
            )
            i_fields.append(
                letter + _field(s.current_a, to_wire(s.current_lag_deg - offset), f"phases.{p}.current_a")
            )
        states = "".join("E" if on else "A" for on in v_on)
        states += "".join("P" if s.current_a > 0 else "A" for s in settings) + "AAA"
        self.transact("frequency", hz=frequency_hz)
        self.transact("voltages", fields="".join(v_fields))
        self.transact("currents", fields="".join(i_fields))
        self._states = states
        if self._want_on:  # already on: switch the phases this setting needs
            self.transact("switch", states=states)

    def output_on(self) -> None:
        self._want_on = True
        self.transact("switch", states=self._states)
        wait_until(
            self.clock,
            self._measured_on,
            self.opts["settle_timeout_s"],
            self.opts["poll_s"],
            "source output on",
            instrument=self.name,
            command=cmd("actual_values"),
        )

    def output_off(self) -> None:
        self._want_on = False
        self.transact("switch", states=ALL_OFF)
        wait_until(
            self.clock,
            lambda: not self._measured_on(),
            self.opts["settle_timeout_s"],
            self.opts["poll_s"],
            "source output off",
            instrument=self.name,
            command=cmd("actual_values"),
        )

    def _measured_on(self) -> bool:
        values = self._actual_values()
        return any(values.get(k, 0.0) > 0.5 for k in AME_VOLTAGE) or any(
            values.get(k, 0.0) > 1e-3 for k in AME_CURRENT
        )

    def output_is_on(self) -> bool:
        """Measured (AME); InstrumentFault if it is off while it should be on (a tripped amplifier)."""
        on = self._measured_on()
        if self._want_on and not on and self._states != ALL_OFF:
            self._want_on = False
            raise InstrumentFault(
                self.name,
                cmd("actual_values"),
                None,
                "the output is off although it was switched on (tripped?)",
            )
        return on

    # ---- ReferenceStandard -----------------------------------------------------------------------
    def _actual_values(self) -> dict[int, float]:
        command = cmd("actual_values")
        values: dict[int, float] = {}
        for line in self.transact("actual_values"):
            index, sep, text = line.partition(";")
            if not sep or not index.isdigit():
                raise UnparseableReply(self.name, command, line, "expected <index>;<value>")
            if int(index) == 27:  # phase order, text
                continue
            try:
                values[int(index)] = float(text)
            except ValueError:
                raise UnparseableReply(self.name, command, line, "value is not a number") from None
        missing = [k for k in (*AME_VOLTAGE, *AME_CURRENT, AME_FREQUENCY) if k not in values]
        if missing:
            raise UnparseableReply(self.name, command, None, f"actual values {missing} missing")
        return values

    def read(self) -> ReferenceReading:
        values = self._actual_values()
        phases = {}
        for n, p in enumerate(PHASES):
            v, i = values[AME_VOLTAGE[n]], values[AME_CURRENT[n]]
            v_lag = from_wire(values.get(AME_VOLTAGE_ANGLE[n], 0.0)) if v > 0 else 0.0
            i_lag = from_wire(values.get(AME_CURRENT_ANGLE[n], 0.0)) if i > 0 else 0.0
            s = power(phasor(v, v_lag), phasor(i, i_lag))
            watts = values.get(AME_WATTS[n], s.real)
            va = values.get(AME_VA[n], abs(s))
            phases[p] = PhaseReading(v, v_lag, i, i_lag, watts, s.imag, va, watts / va if va > 0 else 0.0)
        return ReferenceReading(
            phases=phases,
            watts=sum(r.watts for r in phases.values()),
            vars=sum(r.vars for r in phases.values()),
            va=sum(r.va for r in phases.values()),
            frequency_hz=values[AME_FREQUENCY],
        )

    # ---- ErrorCalculator ------------------------------------------------------------------------
    def configure(self, kt_wh: float, meter_pulses: int) -> None:
        if not (kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if meter_pulses < 1:
            raise InputError("meter_pulses", "must be >= 1", found=meter_pulses)
        kc, kc_exp, _ = clip_to_protocol(1000.0 / kt_wh * 1e5, "kt_wh")
        n, n_exp, sent = clip_to_protocol(meter_pulses, "meter_pulses")
        if kc_exp > 10 or n_exp > 5:
            raise InputError(
                "kt_wh/meter_pulses", "too large for the MT's AEP command", found=(kt_wh, meter_pulses)
            )
        self.transact("error_setup", kc=kc, kc_exp=kc_exp, n=n, n_exp=n_exp)
        self._gate_pulses = int(sent)

    def start(self) -> None:
        self.transact("error_start")
        self._t_start, self._t_done = self.clock.now(), None

    def _status(self) -> tuple[str, str, float, float]:
        """(state digit, error text, progress %, energy) from AES1."""
        command = cmd("error_status")
        lines = self.transact("error_status")
        if len(lines) != 3 or len(lines[0]) != 2 or lines[0][0] not in "01" or lines[0][1] not in "0123":
            raise UnparseableReply(
                self.name, command, "; ".join(lines), "expected 0<state>, <error>, <progress>;<energy>"
            )
        progress, sep, energy = lines[2].partition(";")
        try:
            p, e = float(progress), float(energy)
        except ValueError:
            p = e = math.nan
        if not sep or not (math.isfinite(p) and math.isfinite(e)):
            raise UnparseableReply(self.name, command, lines[2], "expected <progress>;<energy>")
        return lines[0][1], lines[1], p, e

    def poll(self) -> tuple[str, float]:
        state, _, progress, _ = self._status()
        word = STATES[state]
        if word == "finished" and self._t_done is None:
            self._t_done = self.clock.now()
        return word, 1.0 if word == "finished" else min(max(progress / 100.0, 0.0), 1.0)

    def result(self) -> GateResult:
        state, err_text, _, energy = self._status()
        command = cmd("error_status")
        if state != "3" or energy <= 0 or self._gate_pulses < 1:
            raise UnparseableReply(self.name, command, f"0{state}; {err_text}; {energy}", "no finished gate")
        try:
            err = float(err_text)
        except ValueError:
            raise UnparseableReply(self.name, command, err_text, "error is not a number") from None
        done = self._t_done if self._t_done is not None else self.clock.now()
        return GateResult(
            self._gate_pulses, energy / self.kr_wh, self.kr_wh, max(done - self._t_start, 0.0), err
        )

    def count_start(self) -> None:
        """Creep / starting: a gate of ``count_gate_pulses`` counts meter pulses (progress = share done)."""
        self.configure(1.0, self.opts["count_gate_pulses"])
        self.start()
        self._counting = True

    def count_read(self) -> tuple[int, float]:
        state, _, progress, _ = self._status()
        seconds = self.clock.now() - self._t_start
        if not self._counting or state in ("0", "1"):
            return 0, seconds
        # the first pulse opens the gate; progress counts the pulses after it [U]
        return 1 + round(progress / 100.0 * self._gate_pulses), seconds

    def stop(self) -> None:
        self._counting = False
        self.transact("error_abort")


def _sim_hooks(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.zera_mt7xx import ZeraMT7xxSim

    physics.max_current_a = float(options.get("max_current_a", OPTIONS["max_current_a"][1]))
    return ZeraMT7xxSim(physics, positions[0] if positions else None)


DRIVER = DriverSpec(
    name="zera_mt7xx",
    aliases=("zera-mt7xx", "mt7xx", "mt786", "mt793"),
    roles=frozenset({"source", "reference", "calculators"}),
    open=ZeraMT7xx,
    description="ZERA MT7xx meter test system (ASCII ACK/NAK protocol): source, reference, one error calculator",
    max_positions=1,
    sim_yaml=SIM_DIR / "zera_mt7xx.yaml",
    sim_hooks=_sim_hooks,
)
