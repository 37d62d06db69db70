"""ZERA MT7xx portable meter test system (MT786, MT768, MT3xx): three-phase source, reference meter and the
error calculator of one position, over its line-based ASCII protocol (serial, or serial bridged to TCP).

Every command and reply below is taken from ZERA's own published client (``ZeraGmbH/SourceMock`` @
f03c43a, "SM"; see instruments.md and the COMMANDS table); the MT manual itself is not public.

Protocol [C]: one command per CR-terminated line at 9600 baud 8N2 (SM ``PhysicalPortProxy.cs``,
``TcpPortProxy.cs``); the MT answers zero or more data lines and then one acknowledgement line,
``<CMD>ACK`` for ``A…`` commands or ``SOK<xx>`` for ``S…`` source commands. A line ending in ``NAK`` means
invalid arguments (:class:`CommandRefused`, naming the command); a line containing ``ER-``, ``ERR-`` or
``ERROR`` is an error the MT reports (:class:`InstrumentFault`); a command it does not know gets no
reply at all (:class:`InstrumentTimeout`) (SM ``SerialPortConnection.Request.cs``).

Angle convention on the wire [C]: DIN, i.e. the negated lagging angle, rotated so the first switched-on
voltage is at 0 deg, written ``AAA.AA`` in 0..359.99 (SM ``LoadpointTranslator.cs``,
``MTSourceTests.cs``). A phase-B voltage lagging 120 deg goes out as ``240.00``. Conversion happens in
:func:`to_wire` / :func:`from_wire` and nowhere else; ``AME`` angles are read the same way. (Doubtful: the
static ``AME`` lines in ZERA's device mock show U2 at 119.99 with phase order ``123``, while its client
negates ``AME`` angles exactly as this driver does; check ``AME`` against a real unit's display.)

Output: the MT has no output switch apart from its phase switches: ``SUI`` switches each voltage (E/A)
and current (P/A) on or off; ``SUIAAAAAAAAA`` (all off) is the safe state (SM ``SerialPortMTSource.cs``
``TurnOffAsync``). No output-state query is known, so :meth:`ZeraMT7xx.output_is_on` *measures* it
(``AME``: any voltage or current present), which also catches a tripped amplifier.

Reference: ``ATI01`` (1 s integration) precedes every ``AME``, as ZERA's client does since SM commit
5a86caf3; without it the MT integrates over its own (front-panel) interval. Ranges are explicit: the first
:meth:`apply` sets the measuring mode (``AMT``, option ``measuring_mode``), manual voltage and current
ranges with automatic PLL (``AAMMMA``), reads the ranges the unit lists (``AVI``/``ACI``) and picks, for
each load point, the smallest listed range at or above the point's largest voltage and current (``AVR``/
``ACR``). After a range change the driver waits ``range_settle_s`` (default 1 s; no public source gives
the MT's range-switching time, so this is a chosen margin; the engine's stability check follows anyway)
and reads ``AST``: the reference meter constant is ``1000·3600·60000 / (phases·UB·IB)`` imp/kWh (SM
``SerialPortMTRefMeter.cs``, citing the MT78x manual section 5.6). That constant, not the bench file's
``kr_wh``, is the reference's: :attr:`ZeraMT7xx.kr_wh` follows it, and every disagreement with the bench
file is logged as a warning and kept in :attr:`ZeraMT7xx.kr_notes`.

Error calculator: ``AEP<constant x 1e5 mantissa>;<exp>;<pulses mantissa>;<exp>`` sets the meter constant
(imp/kWh) and the gate's meter pulses [C]; ``AEB0`` starts one gate; ``AES1`` answers the state (``0x``:
0 inactive, 1 active, 2 running, 3 finished), the error in % (``--.--`` / ``oo.oo`` while there is none),
and ``<progress>;<energy>``; ``AEE`` aborts (SM ``SerialPortMTErrorCalculator.ErrorMeasurement.cs``).
**The MT computes the error itself** and the meaning and unit of the ``energy`` field are unknown [U], so
the gate's result is the MT's error: :meth:`ZeraMT7xx.result` reports the gate's meter pulses and derives
the reference pulses from that error, ``ref_pulses = meter_pulses · kt / kr / (1 + error/100)`` with ``kr``
the MT's own constant (from ``AST``) and ``kt`` the constant the MT was really given (``AEP`` rounds it
to 6 digits), so the engine's %R — computed with the meter's exact ``kt`` — is the MT's error corrected for
that rounding (at most 0.0005 %); the error line is also kept as ``instrument_error_percent``. Assumed [U]: the MT's error is (meter − reference)/reference (positive =
meter fast), the usual meter-test convention; its resolution is 0.01 % (the ``oo.oo`` placeholder format).
The ``progress`` field is used only to pace polling.

Creep and starting counts use a gate of one meter pulse and only the [C] state digit: ``01`` no pulse
yet, ``02`` the first pulse opened the gate, ``03`` a second pulse closed it — 0, 1 or "at least 2"
pulses, which is all a creep (at most one) or starting (at least one) verdict needs.

No command this driver sends is [U]; the [U] points are the interpretations above.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re

from instruments.drivers import AllInOneRoles, DriverContext, Link, Transport, check_phases, read_options
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
    Capabilities,
    GateResult,
    PhaseReading,
    PhaseSetting,
    ReferenceReading,
    wait_until,
)
from instruments.registry import DriverSpec
from procedures.errors import InputError
from procedures.phasors import phasor, power

log = logging.getLogger(__name__)

#: the MT's serial line and framing (SM PhysicalPortProxy.cs: 9600 8N2, NewLine "\r"); ZERA's client waits
#: up to 30 s for a line; 5 s covers a 1 s integration (ATI01) plus a 29-line AME at 9600 baud
TRANSPORT = Transport(
    read_termination="\r",
    write_termination="\r",
    timeout_ms=5000,
    baud_rate=9600,
    data_bits=8,
    stop_bits=2,
    parity="none",
)

# name -> (template, acknowledgement, provenance, source)
COMMANDS = {
    "identify": ("AAV", "AAVACK", "C", "SM SerialPortMTRefMeter.cs GetMeterInformationAsync"),
    "mode": ("AMT{mode}", "AMTACK", "C", "SM SerialPortMTRefMeter.MeasureMode.cs"),
    "range_mode": ("AAM{u}{i}{pll}", "AAMACK", "C", "SM SerialPortMTRefMeter.cs SetAutomaticAsync"),
    "voltage_ranges": ("AVI", "AVIACK", "C", "SM SerialPortMTRefMeter.cs GetVoltageRangesAsync"),
    "current_ranges": ("ACI", "ACIACK", "C", "SM SerialPortMTRefMeter.cs GetCurrentRangesAsync"),
    "voltage_range": ("AVR{r}", "AVRACK", "C", "SM SerialPortMTRefMeter.cs SetVoltageRangeAsync"),
    "current_range": ("ACR{r}", "ACRACK", "C", "SM SerialPortMTRefMeter.cs SetCurrentRangeAsync"),
    "status": ("AST", "ASTACK", "C", "SM SerialPortMTRefMeter.cs GetMeterConstantAsync"),
    "frequency": ("SFR{hz:05.2f}", "SOKFR", "C", "SM LoadpointTranslator.cs CreateFrequencyRequests"),
    # A = U-Absch, E = U-Dos; then R, S, T each RRR.RRRAAA.AA
    "voltages": ("SUPAE{fields}", "SOKUP", "C", "SM LoadpointTranslator.cs CreateVoltageRequests"),
    # A = I-Off, A = amperes ("Dimens")
    "currents": ("SIPAA{fields}", "SOKIP", "C", "SM LoadpointTranslator.cs CreateCurrentRequests"),
    # U1-3 E/A, I1-3 P/A, then H1, H2, R (A)
    "switch": ("SUI{states}", "SOKUI", "C", "SM LoadpointTranslator.cs CreatePhaseRequests"),
    "integration": ("ATI01", "ATIACK", "C", "SM SerialPortMTRefMeter.ActualValues.cs"),
    "actual_values": ("AME", "AMEACK", "C", "SM SerialPortMTRefMeter.ActualValues.cs"),
    "error_setup": (
        "AEP{kc};{kc_exp:02d};{n};{n_exp:d}",
        "AEPACK",
        "C",
        "SM SerialPortMTErrorCalculator.ErrorMeasurement.cs SetErrorMeasurementParametersAsync",
    ),
    "error_start": ("AEB0", "AEBACK", "C", "SM ...ErrorMeasurement.cs StartErrorMeasurementAsync"),
    "error_status": ("AES1", "AESACK", "C", "SM ...ErrorMeasurement.cs GetErrorStatusAsync"),
    "error_abort": ("AEE", "AEEACK", "C", "SM ...ErrorMeasurement.cs AbortErrorMeasurementAsync"),
}
ALL_OFF = "AAAAAAAAA"
MAX_LINES = 200  # a data reply longer than this is garbage, not an answer
ERROR_MARKS = ("ER-", "ERR-", "ERROR")  # SM SerialPortConnection.Request.cs

# AME actual-value indices [C: SM SerialPortMTRefMeter.ActualValues.cs]
AME_VOLTAGE = (0, 1, 2)
AME_CURRENT = (3, 4, 5)
AME_VOLTAGE_ANGLE = (6, 7, 8)
AME_CURRENT_ANGLE = (9, 10, 11)
AME_WATTS = (15, 16, 17)
AME_VA = (21, 22, 23)
AME_PHASE_ORDER = 27
AME_FREQUENCY = 28
AME_LINE = re.compile(r"^(\d{1,3});(.+)$")
V_OFF, I_OFF = 0.5, 1e-3  # below these an AME value counts as "nothing present"

# the MT786's source limits (SM SourceApi/Server/Actions/SerialPort/CapabilitiesMap.cs "MT786")
VOLTS = (20.0, 500.0)
AMPS = 120.0
HERTZ = (45.0, 65.0)
MODES = ("4WA", "3WA", "2WA")  # active-energy measuring modes (SM SerialPortMTRefMeter.MeasureMode.cs)

OPTIONS = {
    "timeout_ms": (int, TRANSPORT.timeout_ms, lambda v: 50 <= v <= 60000, "50..60000 ms"),
    "settle_timeout_s": (float, 15.0, lambda v: 0 < v <= 600, "0..600 s"),
    "poll_s": (float, 0.2, lambda v: 0 < v <= 10, "0..10 s"),
    "range_settle_s": (float, 1.0, lambda v: 0 <= v <= 60, "0..60 s (wait after a range change)"),
    "measuring_mode": (str, "4WA", lambda v: v in MODES, " / ".join(MODES)),
    "max_current_a": (
        float,
        AMPS,
        lambda v: v > 0,
        "> 0 A (simulation: the current it cannot regulate above)",
    ),
}
STATES = {"0": "idle", "1": "running", "2": "running", "3": "finished"}
STATE_WORDS = {"0": "inactive", "1": "active (armed)", "2": "running", "3": "finished"}


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
    """``value`` as (mantissa of at most 6 digits, power of ten, the value really sent) [C: SM
    ClipNumberToProtocol]."""
    number = round(value)
    if number <= 0:
        raise InputError(what, "must be > 0 after scaling to the MT protocol", found=value)
    digits = str(number)
    power_ = max(len(digits) - 6, 0)
    mantissa = round(number / 10**power_)
    if mantissa >= 10**6:  # rounding up to a seventh digit
        mantissa, power_ = round(mantissa / 10), power_ + 1
    return str(mantissa), power_, float(mantissa * 10**power_)


def reference_constant(mode: str, u_range: float, i_range: float) -> float:
    """imp/kWh = 1000·3600·60000 / (phases·U_range·I_range); phases 3/2/1 for 4-/3-/2-wire modes
    (SM SerialPortMTRefMeter.cs GetMeterConstantAsync, MT78x manual section 5.6)."""
    phases = {"4": 3, "3": 2, "2": 1}.get(mode[:1])
    if phases is None:
        raise ValueError(f"measuring mode {mode!r}")
    return 1000.0 * 3600.0 * 60000.0 / (phases * u_range * i_range)


def pick_range(ranges: list[str], value: float, what: str) -> str:
    """The smallest listed range at or above ``value`` (the smallest one for 0)."""
    ordered = sorted(ranges, key=float)
    for r in ordered:
        if float(r) >= value * (1 - 1e-9):
            return r
    raise InputError(what, "above the MT's largest range", found=value, allowed=f"<= {ordered[-1]}")


def _field(amount: float, angle: float) -> str:
    return f"{amount:07.3f}{angle if amount > 0 else 0.0:06.2f}"  # a phase at zero is sent at 0 deg


class ZeraMT7xx(AllInOneRoles):
    """One MT7xx: Source, ReferenceStandard and (for one position) ErrorCalculator at once."""

    ONE_CALCULATOR = "an MT7xx has one error calculator"

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.clock = ctx.clock
        # the older ``options.timeout_ms`` still counts, unless the bench file's transport table sets one
        table_sets_it = ctx.transport is not None and ctx.transport.timeout_ms != TRANSPORT.timeout_ms
        given = "timeout_ms" in ctx.options and not table_sets_it
        overrides = {"timeout_ms": self.opts["timeout_ms"]} if given else {}
        self.link = Link.from_context(ctx, TRANSPORT, **overrides)
        self.position = 1
        self.calibration: Calibration | None = None
        self._kr_bench: float | None = None  # the bench file's kr_wh
        self._kr_ast: float | None = None  # Wh per reference pulse from AST (the MT's own)
        self.kr_notes: list[str] = []  # every disagreement between the two, in words
        self._states = ALL_OFF  # the phase switches the last apply() asked for
        self._want_on = False
        self._ranges: tuple[list[str], list[str]] | None = None  # AVI / ACI lists
        self._range = ("", "")  # the voltage and current range last set (AVR / ACR)
        self._kt_wh = 1.0
        self._gate_pulses = 0
        self._t_start = 0.0
        self._t_done: float | None = None
        self._counting = False

    # ---- the reference constant ------------------------------------------------------------------
    @property
    def kr_wh(self) -> float:
        """Wh per reference pulse: the MT's own (from ``AST``) once known, else the bench file's."""
        if self._kr_ast is not None:
            return self._kr_ast
        return self._kr_bench or 0.0

    @kr_wh.setter
    def kr_wh(self, value: float) -> None:  # the bench file's value (open_bench / as_reference)
        self._kr_bench = value

    def _read_constant(self) -> float:
        """``AST`` -> the MT's constant at its present ranges; a disagreement with the bench file is
        logged and kept in :attr:`kr_notes`."""
        command = cmd("status")
        fields = dict(line.split("=", 1) for line in self.transact("status") if "=" in line)
        try:
            u, i, mode = float(fields["UB"]), float(fields["IB"]), fields["M"]
            imp_kwh = reference_constant(mode, u, i)
        except (KeyError, ValueError):
            raise UnparseableReply(
                self.name,
                command,
                "; ".join(f"{k}={v}" for k, v in fields.items()),
                "AST without UB=, IB=, M=",
            ) from None
        kr = 1000.0 / imp_kwh
        self._kr_ast = kr
        bench = self._kr_bench
        if bench and abs(kr / bench - 1.0) > 1e-4:
            note = (
                f"the MT's reference constant is {imp_kwh:.6g} imp/kWh (kr = {kr:.6g} Wh) at UB={fields['UB']} V, "
                f"IB={fields['IB']} A, M={mode}; the bench file says kr_wh = {bench:g}: using the MT's"
            )
            if note not in self.kr_notes:
                self.kr_notes.append(note)
                log.warning("%s: %s", self.name, note)
        return kr

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
        self.link.write(command, unconfirmed=COMMANDS[name][2] == "U")
        lines: list[str] = []
        for _ in range(MAX_LINES):
            line = self._line(command)
            if line == expected:
                return lines
            if line.endswith("NAK"):
                raise CommandRefused(
                    self.name, command, line, f"the MT refused {command} (NAK: invalid arguments)"
                )
            if any(mark in line for mark in ERROR_MARKS):
                raise InstrumentFault(self.name, command, line, f"the MT reported an error for {command}")
            lines.append(line)
        raise UnparseableReply(
            self.name, command, "; ".join(lines[-3:]), f"no {expected} after {MAX_LINES} lines"
        )

    # ---- shared ---------------------------------------------------------------------------------
    def identify(self) -> str:
        """``<model>V<version>``, the line before ``AAVACK`` (e.g. ``MT786V05.52``)."""
        lines = self.transact("identify")
        if not lines or not re.fullmatch(r"(.+)V([^V]+)", lines[-1]):
            raise UnparseableReply(self.name, cmd("identify"), "; ".join(lines), "expected <model>V<version>")
        return lines[-1]

    def capabilities(self) -> Capabilities:
        return Capabilities(
            phases=3,
            per_element=True,
            frequency_hz=HERTZ,
            harmonics=False,
            quantities=frozenset(
                {"active"}
            ),  # no public source says how the MT selects var/VA pulses ([U]): active only
            energy_test=True,
            positions=1,
            continuous_gating=False,  # AEB1 exists, but AES1 shows one error: back-to-back results get lost
            pulse_count=True,  # a one-pulse gate and the AES1 state digit (see the module docstring)
            unconfirmed=tuple(v[0] for v in COMMANDS.values() if v[2] == "U"),
        )

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

    def confirm_safe(self) -> list[str]:
        """Switch everything off (``SUIAAAAAAAAA``), abort the gate (``AEE``), then confirm by measuring:
        no voltage or current in ``AME`` (waiting up to ``settle_timeout_s`` for the amplifiers to ramp
        down) and the calculator inactive in ``AES1``. Returns the problems in words; empty = confirmed."""
        problems: list[str] = []
        self._want_on = self._counting = False
        for step in ("switch", "error_abort"):
            try:
                self._safe_step(step)
            except InstrumentError as exc:
                problems.append(f"{cmd(step, states=ALL_OFF)} was not acknowledged: {exc}")
        present: list[str] = []

        def nothing_present() -> bool:
            values = self._actual_values()
            present.clear()
            for n, p in enumerate(PHASES):
                v, i = values[AME_VOLTAGE[n]], values[AME_CURRENT[n]]
                if v > V_OFF:
                    present.append(f"phase {p} voltage {v:.4g} V")
                if i > I_OFF:
                    present.append(f"phase {p} current {i:.4g} A")
            return not present

        try:
            wait_until(
                self.clock, nothing_present, self.opts["settle_timeout_s"], self.opts["poll_s"], "outputs off"
            )
        except InstrumentError as exc:
            if present:
                problems.append("still present after switching off (AME): " + ", ".join(present))
            else:
                problems.append(f"could not measure that the outputs are off: {exc}")
        try:
            state = self._status()[0]
            if state != "0":
                problems.append(
                    f"the error calculator is {STATE_WORDS[state]} after AEE (AES1 state 0{state})"
                )
        except InstrumentError as exc:
            problems.append(f"could not read the error calculator's state: {exc}")
        return problems

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
        old = self.link
        with contextlib.suppress(Exception):  # the old session is dead already
            old.resource.close()
        try:
            old.resource.open()
            self.link = Link(
                old.resource, self.name, transport=old.transport, allow_unconfirmed=old.allow_unconfirmed
            )
            with contextlib.suppress(Exception):
                old.resource.clear()
        except Exception as exc:  # noqa: BLE001 - translated
            raise ConnectionLost(self.name, None, None, f"cannot reconnect: {exc}") from exc

    def close(self) -> None:
        self.link.close()

    # ---- Source ----------------------------------------------------------------------------------
    def apply(self, phases: dict[str, PhaseSetting], frequency_hz: float) -> None:
        check_phases(phases)
        if not (HERTZ[0] <= frequency_hz <= HERTZ[1]):
            raise InputError(
                "frequency_hz", "outside the MT786's range", found=frequency_hz, allowed="45..65 Hz"
            )
        settings = [phases.get(p) or PhaseSetting(0.0, 0.0, 0.0, 0.0) for p in PHASES]
        for p, s in zip(PHASES, settings, strict=True):
            if not (s.voltage_v == 0 or VOLTS[0] <= s.voltage_v <= VOLTS[1]) or not math.isfinite(
                s.voltage_v
            ):
                raise InputError(f"phases.{p}.voltage_v", "outside the MT786's source range",
                                 found=s.voltage_v, allowed="0 (off) or 20..500 V")  # fmt: skip
            if not (0 <= s.current_a <= AMPS) or not math.isfinite(s.current_a):
                raise InputError(f"phases.{p}.current_a", "outside the MT786's source range",
                                 found=s.current_a, allowed="0..120 A")  # fmt: skip
        v_on = [s.voltage_v > 0 for s in settings]
        # [C] the MT refers every angle to the first switched-on voltage: rotate exactly as ZERA's client
        offset = next((s.voltage_lag_deg for s, on in zip(settings, v_on, strict=True) if on), 0.0)
        v_fields = "".join(
            letter + _field(s.voltage_v, to_wire(s.voltage_lag_deg - offset))
            for letter, s in zip("RST", settings, strict=True)
        )
        i_fields = "".join(
            letter + _field(s.current_a, to_wire(s.current_lag_deg - offset))
            for letter, s in zip("RST", settings, strict=True)
        )
        states = "".join("E" if on else "A" for on in v_on)
        states += "".join("P" if s.current_a > 0 else "A" for s in settings) + "AAA"
        self._prepare_ranges()
        assert self._ranges is not None
        want = (
            pick_range(self._ranges[0], max(s.voltage_v for s in settings), "voltage_v"),
            pick_range(self._ranges[1], max(s.current_a for s in settings), "current_a"),
        )
        changed = want != self._range
        # with the output on, a range that grows is set before the new amplitudes, one that shrinks after
        up, down = self._range_steps(want)
        for step in up:
            step()
        self.transact("frequency", hz=frequency_hz)
        self.transact("voltages", fields=v_fields)
        self.transact("currents", fields=i_fields)
        for step in down:
            step()
        self._states = states
        if self._want_on:  # already on: switch the phases this setting needs
            self.transact("switch", states=states)
        if changed or self._kr_ast is None:
            if changed and self.opts["range_settle_s"] > 0:
                self.clock.sleep(self.opts["range_settle_s"])
            self._read_constant()

    def _prepare_ranges(self) -> None:
        """Once: the measuring mode, manual voltage and current ranges (PLL automatic), the range lists."""
        if self._ranges is not None:
            return
        self.transact("mode", mode=self.opts["measuring_mode"])
        self.transact("range_mode", u="M", i="M", pll="A")
        volts = self.transact("voltage_ranges")
        amps = self.transact("current_ranges")
        for what, found in (("AVI", volts), ("ACI", amps)):
            try:
                if not found or any(float(r) <= 0 for r in found):
                    raise ValueError
            except ValueError:
                raise UnparseableReply(self.name, what, "; ".join(found), "expected range values") from None
        self._ranges = (volts, amps)

    def _range_steps(self, want: tuple[str, str]):
        """(steps before the new amplitudes, steps after) to reach the ``want`` ranges."""
        up, down = [], []
        for k, name in ((0, "voltage_range"), (1, "current_range")):
            old, new = self._range[k], want[k]
            if old == new:
                continue

            def step(name=name, new=new, k=k) -> None:
                self.transact(name, r=new)
                self._range = (new, self._range[1]) if k == 0 else (self._range[0], new)

            rising = not old or float(new) > float(old)
            (up if rising or not self._want_on else down).append(step)
        return up, down

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
        return any(values[k] > V_OFF for k in AME_VOLTAGE) or any(values[k] > I_OFF for k in AME_CURRENT)

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
        """``ATI01`` (1 s integration), then ``AME``: indices 0..28 (others, which some units send, are
        ignored; 27, the phase order, is text)."""
        self.transact("integration")
        command = cmd("actual_values")
        values: dict[int, float] = {}
        for line in self.transact("actual_values"):
            match = AME_LINE.match(line)
            if not match:
                raise UnparseableReply(self.name, command, line, "expected <index>;<value>")
            index = int(match[1])
            if index > AME_FREQUENCY or index == AME_PHASE_ORDER:
                continue
            try:
                values[index] = float(match[2])
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
        self._kt_wh = 1000.0 / (int(kc) * 10**kc_exp / 1e5)  # the constant the MT really has
        self._gate_pulses = int(sent)

    def start(self) -> None:
        self.transact("error_start")
        self._t_start, self._t_done = self.clock.now(), None

    def _status(self) -> tuple[str, str, float]:
        """(state digit, error text, progress %) from AES1 (the energy field is not used: [U])."""
        command = cmd("error_status")
        lines = self.transact("error_status")
        if len(lines) != 3 or not re.fullmatch(r"[01][0-3]", lines[0]):
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
        return lines[0][1], lines[1], p

    def poll(self) -> tuple[str, float]:
        state, _, progress = self._status()
        word = STATES[state]
        if word == "finished" and self._t_done is None:
            self._t_done = self.clock.now()
        return word, 1.0 if word == "finished" else min(max(progress / 100.0, 0.0), 1.0)

    def result(self) -> GateResult:
        """The MT's own error as the gate's result; ``ref_pulses`` derived from it (module docstring)."""
        state, err_text, _ = self._status()
        command = cmd("error_status")
        if state != "3" or self._gate_pulses < 1:
            raise UnparseableReply(self.name, command, f"0{state}; {err_text}", "no finished gate")
        try:
            err = float(err_text)
        except ValueError:
            raise UnparseableReply(
                self.name, command, err_text, "the MT gave no error for the gate"
            ) from None
        if not math.isfinite(err) or err <= -100.0:
            raise UnparseableReply(self.name, command, err_text, "not a meter error in %")
        kr = self._kr_ast if self._kr_ast is not None else self._read_constant()
        done = self._t_done if self._t_done is not None else self.clock.now()
        ref_pulses = self._gate_pulses * self._kt_wh / kr / (1.0 + err / 100.0)
        return GateResult(self._gate_pulses, ref_pulses, kr, max(done - self._t_start, 0.0), err)

    def count_start(self) -> None:
        """Creep / starting: a gate of one meter pulse; its state digit counts 0, 1 or 2 pulses."""
        self.configure(self._kt_wh, 1)
        self.start()
        self._counting = True

    def count_read(self) -> tuple[int, float]:
        """(0, 1 or 2 = "at least two" meter pulses, seconds since count_start)."""
        state = self._status()[0]
        seconds = self.clock.now() - self._t_start
        if not self._counting:
            return 0, seconds
        return {"0": 0, "1": 0, "2": 1, "3": 2}[state], seconds

    def stop(self) -> None:
        self._counting = False
        self.transact("error_abort")


def _sim_instrument(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.zera_mt7xx import build

    return build(physics, positions, options)


DRIVER = DriverSpec(
    name="zera_mt7xx",
    aliases=("zera-mt7xx", "mt7xx", "mt786", "mt768", "mt793"),
    roles=frozenset({"source", "reference", "calculators"}),
    open=ZeraMT7xx,
    description="ZERA MT7xx meter test system (ASCII ACK/NAK lines, CR, 9600 8N2): source, reference, "
    "one error calculator",
    max_positions=1,
    sim_instrument=_sim_instrument,
    transport=TRANSPORT,
)
