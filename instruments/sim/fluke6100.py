"""Simulated Fluke 6100B / 6105A electrical power standard, written from the instrument's published
behaviour (not from our driver), coupled to the bench physics.

Sources, cited beside each behaviour below:

- **FM**: Fluke *6100B/6105A Users Manual*, chapter 5 "Remote Operation" (pages read: 5-36 multi-harmonic
  commands, 5-43 current ranges, 5-58…5-61 energy option, 5-64 ``*OPT?``) and chapter 7 p. 7-4 (phase
  angles); chapter 1 specification tables (16 Hz – 850 Hz fundamental rows).
- **PD**: two public drivers that drive a real unit (a Python ``sourcebase`` driver and a watt-bridge
  program, both on GitHub): command order (ranges, MHAR state, ``UNIT:MHAR … ABS`` before amplitudes),
  voltage range limits 23/45/90/180/360/650/1008 V, ``OUTP:STAT?`` answering ``0``/``1``, ~30 s settling.
- **SCPI**: SCPI-99 vol. 1 ch. 21 (error/event numbers) and IEEE 488.2 (``*IDN?``, ``*OPT?``, ``*RST``,
  ``*CLS``, program message terminator NL, ``;`` between message units).
- **[U]**: found in no public source. Everything marked [U] is MeterBench's assumption, kept to make the
  simulated bench run; a real unit may differ (the driver sends [U] commands only when the bench file
  says ``allow_unconfirmed = true``).

Framing (IEEE 488.2 §7.5, the manual's "Program Message Terminator"): a message ends with LF (NL); over
GPIB the END (EOI) that pyvisa adds with the terminator is not a separate byte. A CR is not a terminator
and a message that ends in CR only never completes (the unit waits for NL). Replies end with LF. RS-232:
the manual offers the same SCPI command set on its serial port, but its line settings (baud rate, parity,
handshake) were not retrievable: [U]; the simulator therefore checks no serial settings (``serial =
None``) and a bench on RS-232 must state them in its ``transport`` table.

How it refuses (SCPI-99 §21.8): **never with a reply line**. An unknown header queues ``-113,"Undefined
header"``; a header with a numeric suffix out of range ``-114,"Header suffix out of range"``; a missing
parameter ``-109``, one too many ``-108``, a number that is not one ``-104,"Data type error"``; a keyword
not in the list ``-224,"Illegal parameter value"`` (e.g. ``ENER:MUT:SOUR CH2``: FM 5-59 lists no CH2,
no CH3); a value outside what the present range allows ``-222,"Data out of range"``; a setting that
contradicts another ``-221,"Settings conflict"``; hardware not fitted ``-241,"Hardware missing"``. A query
that is refused produces no reply (the client times out). ``SYST:ERR?`` answers ``<code>,"<text>"``,
code first, ``0,"No error"`` when empty; the queue holds 16 entries and then ``-350,"Queue overflow"``.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field

from instruments.sim.physics import PHASES, BenchPhysics
from instruments.sim.protocol import Connection, Reply, SimInstrument

#: voltage range upper limits (V) a public driver selects from (PD); lower limits are 0 [U: the manual's
#: voltage range table was not read; public drivers send ``0,<hi>``]
VOLTAGE_RANGES = (23.0, 45.0, 90.0, 180.0, 360.0, 650.0, 1008.0)
#: current ranges (lower, upper limit in A), FM 5-43; 50 A and 80 A need their options (FM 5-64 bits 6, 0)
CURRENT_RANGES = (
    (0.05, 0.25), (0.05, 0.5), (0.1, 1.0), (0.2, 2.0), (0.5, 5.0), (1.0, 10.0), (2.0, 21.0),
    (5.0, 50.0), (8.0, 80.0),
)  # fmt: skip
FREQUENCY_HZ = (16.0, 850.0)  # FM ch. 1 specification tables: fundamental 16 Hz – 850 Hz
MUT_SOURCES = ("CH1", "CH1TO2", "CH1TO3", "CH1TO4", "CH1TO5", "CH1TO6", "SUM123")  # FM 5-59
REF_SOURCES = ("CH6", "SUM456", "MEAN456", "MEAN56", "MMUT", "MAIN")  # FM 5-60
PULSE_SOURCES = (
    "CH1",
    "CH2",
    "CH3",
    "CH4",
    "CH5",
    "CH6",
    "SUM456",
    "MEAN456",
    "MEAN56",
    "EMUT",
    "MAIN",
)  # 5-58
CONSTANT_UNITS = {  # FM 5-59: "there is no short form of these parameters"; value -> Wh per impulse
    "IPWH": lambda c: 1.0 / c,
    "IPKWH": lambda c: 1e3 / c,
    "IPMWH": lambda c: 1e6 / c,
    "WHPI": lambda c: c,
    "KWHPI": lambda c: c * 1e3,
    "MWHPI": lambda c: c * 1e6,
}
QUEUE_SIZE = 16  # [U] the manual's queue depth was not read; SCPI-99 requires overflow as -350
#: [U] the unit's own (positive, device-specific) code for a current amplifier that cannot regulate
OVERLOAD_CODE = 301
#: *OPT? bit weights (FM 5-64): one value per channel P1V, P1I, P2V, P2I, P3V, P3I, NV, NI
OPT_80A, OPT_ENERGY, OPT_ENERGY_II, OPT_50A = 1, 4, 16, 64
STATUS_WORDS = {"idle": "IDLE", "running": "RUN", "finished": "DONE"}  # [U] ENER:TEST:STAT? words


class ScpiError(Exception):
    """A refused message unit: the SCPI error to queue and, for the log, why."""

    def __init__(self, code: int, text: str, why: str) -> None:
        super().__init__(why)
        self.code, self.text, self.why = code, text, why


def sci(value: float) -> str:
    """The manual's "standard scientific format": 14.4 -> ``1.44E1``, 24300 -> ``2.43E4`` (FM 5-43)."""
    if value == 0 or not math.isfinite(value):
        return "0.0E0" if value == 0 else "NAN"
    mantissa, exponent = f"{value:.9E}".split("E")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}E{int(exponent)}"


@dataclass
class Channel:
    """One voltage or current channel of one phase (what the unit has been told)."""

    range_: tuple[float, float]  # the selected hardware range (lower, upper limit)
    mhar: bool = False  # SOUR:PHASn:<V|I>:MHAR:STAT (multi-harmonic waveform selected)
    on: bool = False  # SOUR:PHASn:<V|I>:STAT
    harmonics: dict[int, tuple[float, float]] = field(default_factory=dict)  # y -> (amplitude, angle)

    @property
    def amplitude(self) -> float:
        return self.harmonics.get(1, (0.0, 0.0))[0]

    @property
    def angle(self) -> float:
        return self.harmonics.get(1, (0.0, 0.0))[1]

    @property
    def live(self) -> bool:
        return self.on and self.mhar


# Header patterns: long-form keywords, the upper-case part is the short form (SCPI-99 §6.2.1), '#' a
# numeric suffix. Both forms are accepted in any letter case.
_KEYWORD = re.compile(r"([A-Z]+)([a-z]*)(#?)")


def _keyword_matches(token: str, keyword: str) -> int | None | bool:
    """True/suffix if ``token`` is ``keyword`` (short or long form), else False."""
    m = _KEYWORD.fullmatch(keyword)
    assert m, keyword
    short, rest, suffixed = m.group(1), m.group(2), m.group(3)
    word, digits = token, ""
    if suffixed:
        t = re.fullmatch(r"([A-Z]+)(\d*)", token)
        if not t:
            return False
        word, digits = t.group(1), t.group(2)
    if word not in (short, (short + rest).upper()):
        return False
    if suffixed:
        return int(digits) if digits else 1  # SCPI: an omitted suffix is 1
    return True


class Fluke6100Sim(SimInstrument):
    """One 6100B/6105A: three phases (``phases_fitted``), the energy option per ``energy_option``."""

    model = "Fluke 6105A"
    terminations = (b"\n",)  # IEEE 488.2 program message terminator NL (see the module docstring)
    reply_termination = b"\n"
    serial = None  # [U] RS-232 line settings not retrievable: not checked (module docstring)

    def __init__(
        self,
        physics: BenchPhysics,
        position: int | None = 1,
        *,
        energy_option: bool = True,
        phases_fitted: int = 3,
        current_option_a: float = 80.0,
        serial_number: str = "SIM6105",
    ) -> None:
        super().__init__()
        self.physics = physics
        self.position = position  # the bench position its MUT pulse input (channel 1) is wired to
        self.energy_option = energy_option
        self.phases_fitted = phases_fitted
        self.current_option_a = current_option_a
        self.serial_number = serial_number
        self.errors: deque[str] = deque()
        physics.on_trip.append(self._tripped)
        self._reset()
        self._commands = self._table()

    # ---- state ---------------------------------------------------------------------------------
    def _reset(self) -> None:
        """Power-on / ``*RST`` state (IEEE 488.2 §10.32). The reset values are [U] (the manual's reset
        table was not read): the narrowest ranges, no waveform selected, channels off, relative harmonic
        units, so a driver that sets amplitudes before ranges, MHAR state and ``UNIT … ABS`` is caught."""
        self.volt = {n: Channel((0.0, VOLTAGE_RANGES[0])) for n in (1, 2, 3)}
        self.curr = {n: Channel(CURRENT_RANGES[0]) for n in (1, 2, 3)}
        self.unit = {"VOLT": "REL", "CURR": "REL"}  # [U] the reset unit and the REL keyword
        self.ramp_s = 0.0
        self.maintain_voltage = False  # ENER:ENER:MVOLT (FM 5-58)
        self.mut = {"constant": 1.0, "unit": "WHPI", "source": "CH1"}
        self.ref = {"constant": 1.0, "unit": "IPWH", "source": "MAIN"}
        self.output_constant = {"constant": 1e5, "unit": "IPWH"}
        self.pulse_source = "MAIN"  # MUT:TEST:PSOU default (FM 5-58 "typically MAIN")
        self.test_pulses = 10  # [U]
        if self.physics.output_on:
            self.physics.set_output(False)
        for n in (1, 2, 3):
            self._sync(n)

    def _sync(self, n: int) -> None:
        """Tell the physics what phase ``n`` puts out. Angles on the wire are leading-positive (PD: phase
        2 voltage at -120); a current's angle is against its own phase's voltage (FM 7-4: set L2's voltage
        angle to zero and its current angle to zero, "now the L1 voltage and the L2 current are in
        phase"; PD send the same current angle on every phase). Physics angles are lagging-positive."""
        if n > min(self.phases_fitted, 3):
            return
        v, i = self.volt[n], self.curr[n]
        # [U] a current harmonic's angle is taken against its own phase's voltage harmonic of the same
        # order, as the fundamental's is against its voltage (FM 7-4); only orders on both channels carry
        # active power
        harmonics = tuple(
            (y, v.harmonics[y][0], i.harmonics[y][0], -i.harmonics[y][1])
            for y in sorted(set(v.harmonics) & set(i.harmonics))
            if y >= 2 and v.harmonics[y][0] > 0 and i.harmonics[y][0] > 0
        )
        self.physics.set_phase(
            PHASES[n - 1],
            voltage_v=v.amplitude,
            voltage_lag_deg=(-v.angle) % 360.0,
            current_a=i.amplitude,
            current_lag_deg=(-(v.angle + i.angle)) % 360.0,
            voltage_enabled=v.live,
            current_enabled=i.live,
            harmonics=harmonics,
        )

    def _tripped(self, why: str) -> None:
        self._queue(OVERLOAD_CODE, why)  # [U] code and wording of the unit's own overload error

    def _queue(self, code: int, text: str) -> None:
        if len(self.errors) >= QUEUE_SIZE:  # SCPI-99 §21.8.3: the last entry becomes the overflow
            self.errors[-1] = '-350,"Queue overflow"'
            return
        self.errors.append(f'{code},"{text}"')

    # ---- framing and dispatch ----------------------------------------------------------------------
    def refuse_injected(self, message: str, conn: Connection) -> Reply:
        self._queue(-221, "Settings conflict")
        return self.silence("refused (injected fault): -221 queued, no reply")

    def handle(self, message: str, conn: Connection) -> Reply:
        self.physics.advance()
        replies: list[str] = []
        for unit in message.split(";"):  # IEEE 488.2 §7.4: message units separated by ';'
            unit = unit.strip()
            if not unit:
                continue
            try:
                out = self._unit(unit.lstrip(":"))
            except ScpiError as err:
                self._queue(err.code, err.text)
                return self.silence(f"{err.why}: {err.code},{err.text!r} queued, no reply")
            if out is not None:
                replies.append(out)
        return self.reply(";".join(replies)) if replies else self.ok()

    def _unit(self, unit: str) -> str | None:
        header, _, rest = unit.partition(" ")
        header = header.upper()
        query = header.endswith("?")
        tokens = header.rstrip("?").split(":")
        params = [p.strip() for p in rest.split(",")] if rest.strip() else []
        for pattern, handler in self._commands:
            suffixes = _match(tokens, pattern)
            if suffixes is not None:
                return handler(suffixes, params, query)
        raise ScpiError(-113, "Undefined header", f"unknown header {header!r}")

    def _table(self):
        return [
            ("*IDN", self._idn),
            ("*OPT", self._opt),
            ("*RST", self._rst),
            ("*CLS", self._cls),
            ("*OPC", self._opc),
            ("SYSTem:ERRor", self._syst_err),
            ("SYSTem:ERRor:NEXT", self._syst_err),
            ("SOURce:PHASe#:FITTed", self._fitted),
            ("SOURce:PHASe#:VOLTage:RANGe", lambda s, p, q: self._range("VOLT", s, p, q)),
            ("SOURce:PHASe#:CURRent:RANGe", lambda s, p, q: self._range("CURR", s, p, q)),
            ("SOURce:PHASe#:VOLTage:MHARmonics:STATe", lambda s, p, q: self._mhar("VOLT", s, p, q)),
            ("SOURce:PHASe#:CURRent:MHARmonics:STATe", lambda s, p, q: self._mhar("CURR", s, p, q)),
            ("SOURce:PHASe#:VOLTage:MHARmonics:CLEar", lambda s, p, q: self._clear("VOLT", s, p, q)),
            ("SOURce:PHASe#:CURRent:MHARmonics:CLEar", lambda s, p, q: self._clear("CURR", s, p, q)),
            ("SOURce:PHASe#:VOLTage:MHARmonics:HARMonic#", lambda s, p, q: self._harm("VOLT", s, p, q)),
            ("SOURce:PHASe#:CURRent:MHARmonics:HARMonic#", lambda s, p, q: self._harm("CURR", s, p, q)),
            ("SOURce:PHASe#:VOLTage:MHARmonics:HARMonic#:AMPLitude", lambda s, p, q: self._harm_part("VOLT", s, p, q, 0)),
            ("SOURce:PHASe#:CURRent:MHARmonics:HARMonic#:AMPLitude", lambda s, p, q: self._harm_part("CURR", s, p, q, 0)),
            ("SOURce:PHASe#:VOLTage:MHARmonics:HARMonic#:PANGle", lambda s, p, q: self._harm_part("VOLT", s, p, q, 1)),
            ("SOURce:PHASe#:CURRent:MHARmonics:HARMonic#:PANGle", lambda s, p, q: self._harm_part("CURR", s, p, q, 1)),
            ("SOURce:PHASe#:VOLTage:STATe", lambda s, p, q: self._stat("VOLT", s, p, q)),
            ("SOURce:PHASe#:CURRent:STATe", lambda s, p, q: self._stat("CURR", s, p, q)),
            ("SOURce:PHASe#:CURRent:AMPLitude", lambda s, p, q: self._amplitude("CURR", s, p, q)),
            ("SOURce:PHASe#:POWer:WATT", lambda s, p, q: self._power(s, p, q, apparent=False)),
            ("SOURce:PHASe#:POWer:VA", lambda s, p, q: self._power(s, p, q, apparent=True)),
            ("UNIT:MHARmonics:VOLTage", lambda s, p, q: self._unit_mhar("VOLT", p, q)),
            ("UNIT:MHARmonics:CURRent", lambda s, p, q: self._unit_mhar("CURR", p, q)),
            ("SOURce:FREQuency", self._frequency),
            ("OUTPut:STATe", self._output),
            ("OUTPut", self._output),
            ("OUTPut:RAMP:TIME", self._ramp),
            ("OUTPut:SENSe", self._sense),
            ("ENERgy:ABORt", self._abort),
            ("ENERgy:ENERgy:MVOLTage", self._mvolt),
            ("ENERgy:MUT:CONStant", lambda s, p, q: self._constant(self.mut, p, q)),
            ("ENERgy:MUT:CONStant:UNIT", lambda s, p, q: self._constant_unit(self.mut, p, q)),
            ("ENERgy:MUT:SOURce", self._mut_source),
            ("ENERgy:MUT:DEBounce", self._accept_bool),
            ("ENERgy:MUT:DEBounce:STATe", self._accept_bool),
            ("ENERgy:MUT:PULLup", lambda s, p, q: self._choice(p, q, ("R150", "R1000"))),
            ("ENERgy:REFerence:CONStant", lambda s, p, q: self._constant(self.ref, p, q)),
            ("ENERgy:REFerence:CONStant:UNIT", lambda s, p, q: self._constant_unit(self.ref, p, q)),
            ("ENERgy:REFerence:SOURce", self._ref_source),
            ("ENERgy:REFerence:PULLup", lambda s, p, q: self._choice(p, q, ("R150", "R1000"))),
            ("ENERgy:OUTPut:CONStant", lambda s, p, q: self._constant(self.output_constant, p, q)),
            ("ENERgy:OUTPut:CONStant:UNIT", lambda s, p, q: self._constant_unit(self.output_constant, p, q)),
            # [U] the full path: the manual names it "MUT:TEST:PSOUrce" relative to ENERgy (FM 5-58)
            ("ENERgy:MUT:TEST:PSOUrce", self._pulse_source),
            # ---- [U] ASSUMED energy-test commands: in no public source (FM 5-55…5-57 not retrievable).
            # MeterBench's guess at their shape, so a simulated Fluke can gate position 1.
            ("ENERgy:MUT:TEST:PULSes", self._u_test_pulses),
            ("ENERgy:TEST:STARt", self._u_test_start),
            ("ENERgy:TEST:STOP", self._u_test_stop),
            ("ENERgy:TEST:STATus", self._u_test_status),
            ("ENERgy:TEST:RESult", self._u_test_result),
            ("ENERgy:COUNt:STARt", self._u_count_start),
            ("ENERgy:COUNt", self._u_count),
        ]  # fmt: skip

    # ---- parameter helpers ---------------------------------------------------------------------------
    @staticmethod
    def _params(params: list[str], count: int, what: str) -> list[str]:
        if len(params) < count:
            raise ScpiError(-109, "Missing parameter", f"{what} needs {count} parameter(s)")
        if len(params) > count:
            raise ScpiError(-108, "Parameter not allowed", f"{what} takes {count} parameter(s)")
        return params

    @staticmethod
    def _number(text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ScpiError(-104, "Data type error", f"{what}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ScpiError(-104, "Data type error", f"{what}: {text!r} is not a finite number")
        return value

    @staticmethod
    def _bool(text: str, what: str) -> bool:
        t = text.upper()
        if t in ("1", "ON"):
            return True
        if t in ("0", "OFF"):
            return False
        raise ScpiError(-224, "Illegal parameter value", f"{what}: {text!r} is not ON|OFF|1|0")

    def _enum(self, params: list[str], what: str, allowed) -> str:
        """One keyword parameter from ``allowed`` (upper-cased), else -224 (SCPI-99 §21.8.5)."""
        (value,) = self._params(params, 1, what)
        value = value.upper()
        if value not in allowed:
            raise ScpiError(-224, "Illegal parameter value", f"{what} {value}: {'|'.join(allowed)}")
        return value

    @staticmethod
    def _no_query(query: bool, what: str) -> None:
        if query:
            raise ScpiError(-113, "Undefined header", f"{what} has no query form")

    def _phase(self, suffixes: list[int], what: str, *, fitted_only: bool = True) -> int:
        n = suffixes[0]
        if not 1 <= n <= 3:
            raise ScpiError(-114, "Header suffix out of range", f"{what}: there is no phase {n}")
        if fitted_only and n > self.phases_fitted:
            raise ScpiError(-241, "Hardware missing", f"{what}: phase {n} is not fitted")
        return n

    def _channel(self, kind: str, n: int) -> Channel:
        return (self.volt if kind == "VOLT" else self.curr)[n]

    def _energy(self, what: str) -> None:
        if not self.energy_option:
            raise ScpiError(
                -241, "Hardware missing", f"{what}: the energy timer/counter option is not fitted"
            )

    # ---- common commands -----------------------------------------------------------------------------
    def _idn(self, s, p, query):
        if not query:
            raise ScpiError(-113, "Undefined header", "*IDN is a query")
        return f"FLUKE,6105A,{self.serial_number},1.0"  # IEEE 488.2 four fields [U: the exact version text]

    def _opt(self, s, p, query):
        """FM 5-64: eight comma-separated bit-weighted values, one per channel P1V, P1I, … NV, NI."""
        if not query:
            raise ScpiError(-113, "Undefined header", "*OPT is a query")
        amps = OPT_80A if self.current_option_a >= 80 else OPT_50A if self.current_option_a >= 50 else 0
        values = [0] * 8
        for n in range(1, self.phases_fitted + 1):
            values[2 * n - 1] = amps
        if self.energy_option:
            values[0] |= OPT_ENERGY  # [U] which channel's value carries the energy bit
        return ",".join(str(v) for v in values)

    def _rst(self, s, p, query):
        self._no_query(query, "*RST")
        self._abort_gate()
        self._reset()

    def _cls(self, s, p, query):
        self._no_query(query, "*CLS")
        self.errors.clear()  # FM 5-61: *CLS clears the event registers and queues except the output queue

    def _opc(self, s, p, query):
        return "1" if query else None  # FM 5-64: *OPC? is always 1

    def _syst_err(self, s, p, query):
        if not query:
            raise ScpiError(-113, "Undefined header", "SYST:ERR is a query")
        return self.errors.popleft() if self.errors else '0,"No error"'

    # ---- source ----------------------------------------------------------------------------------------
    def _fitted(self, s, p, query):
        n = self._phase(s, "FITT?", fitted_only=False)
        if not query:
            raise ScpiError(-113, "Undefined header", "FITT is a query")
        return "1" if n <= self.phases_fitted else "0"

    def _range(self, kind, s, params, query):
        """``RANG <lower>,<upper>``: "the instrument determines the narrowest amplitude range that
        encompasses the limits" (FM 5-43); no range covers them -> -222. The query answers the selected
        range's limits, optionally only ``LOW`` or ``HIGH`` (FM 5-43)."""
        n = self._phase(s, f"{kind}:RANG")
        ch = self._channel(kind, n)
        if query:
            if params and params[0].upper() in ("LOW", "HIGH"):
                return sci(ch.range_[0] if params[0].upper() == "LOW" else ch.range_[1])
            return f"{sci(ch.range_[0])},{sci(ch.range_[1])}"
        lo, hi = (self._number(x, f"{kind}:RANG") for x in self._params(params, 2, f"{kind}:RANG"))
        if lo < 0 or hi < lo:
            raise ScpiError(-222, "Data out of range", f"{kind}:RANG {lo:g},{hi:g}: limits out of order")
        if kind == "VOLT":
            chosen = next(((0.0, r) for r in VOLTAGE_RANGES if hi <= r), None)
        else:
            chosen = next((r for r in self._current_ranges() if r[0] <= lo and hi <= r[1]), None)
        if chosen is None:
            raise ScpiError(
                -222, "Data out of range", f"{kind}:RANG {lo:g},{hi:g}: no range covers these limits"
            )
        # [U] a range that no longer covers the present amplitude is accepted: the amplitude that follows
        # (PD always send range then amplitude) must fit, and OUTP:STAT ON refuses a mismatch (below)
        ch.range_ = chosen

    def _current_ranges(self) -> list[tuple[float, float]]:
        return [r for r in CURRENT_RANGES if r[1] <= 21.0 or r[1] <= self.current_option_a]

    def _mhar(self, kind, s, params, query):
        """``…:MHAR:STAT``: the multi-harmonic waveform on/off; the query answers 1/0 (FM 5-36)."""
        n = self._phase(s, f"{kind}:MHAR:STAT")
        ch = self._channel(kind, n)
        if query:
            return str(int(ch.mhar))
        (value,) = self._params(params, 1, f"{kind}:MHAR:STAT")
        ch.mhar = self._bool(value, f"{kind}:MHAR:STAT")
        self._sync(n)

    def _clear(self, kind, s, params, query):
        """``…:MHAR:CLE`` clears every harmonic except the fundamental; no query form (FM 5-36)."""
        self._no_query(query, f"{kind}:MHAR:CLE")
        n = self._phase(s, f"{kind}:MHAR:CLE")
        ch = self._channel(kind, n)
        ch.harmonics = {y: v for y, v in ch.harmonics.items() if y == 1}
        self._sync(n)

    def _harm(self, kind, s, params, query):
        """``…:MHAR:HARMy <amplitude>,<angle>`` (y 0…100, the DC angle must be 0), amplitude "in the
        presently selected amplitude units"; the query answers both or one of ``AMPL|PANG`` (FM 5-36)."""
        n = self._phase(s, f"{kind}:MHAR:HARM")
        y = s[1]
        if not 0 <= y <= 100:
            raise ScpiError(-114, "Header suffix out of range", f"harmonic {y}: 0…100 only")
        ch = self._channel(kind, n)
        if query:
            amp, angle = ch.harmonics.get(y, (0.0, 0.0))
            if params:
                which = params[0].upper()
                if which in ("AMPL", "AMPLITUDE"):
                    return sci(amp)
                if which in ("PANG", "PANGLE"):
                    return sci(angle)
                raise ScpiError(-224, "Illegal parameter value", f"HARM{y}? {params[0]!r}: AMPL or PANG")
            return f"{sci(amp)},{sci(angle)}"
        amp, angle = (self._number(x, f"HARM{y}") for x in self._params(params, 2, f"{kind}:MHAR:HARM{y}"))
        if not ch.mhar:
            # [U] reading of FM 5-36: HARMy defines the multi-harmonic waveform, so it must be selected
            # first; PD do so. Refused so a driver that forgets is caught.
            raise ScpiError(
                -221, "Settings conflict", f"{kind} HARM{y} before {kind}:MHAR:STAT 1 on phase {n}"
            )
        if self.unit[kind] != "ABS":
            # [U] the reset unit; in relative units an amplitude is a percentage, which a driver that sent
            # volts or amps did not mean: refused rather than misread
            raise ScpiError(-221, "Settings conflict", f"{kind} HARM{y} before UNIT:MHAR:{kind} ABS")
        if amp < 0:
            raise ScpiError(-222, "Data out of range", f"HARM{y}: negative amplitude {amp:g}")
        if amp > ch.range_[1]:
            raise ScpiError(
                -222, "Data out of range",
                f"{kind} HARM{y} {amp:g} above the selected range (upper limit {ch.range_[1]:g})",
            )  # fmt: skip
        if y == 0 and angle != 0:
            raise ScpiError(-222, "Data out of range", "HARM0 (DC): the phase angle must be zero")
        if not -360.0 <= angle <= 360.0:
            raise ScpiError(-222, "Data out of range", f"HARM{y}: angle {angle:g} outside ±360")
        ch.harmonics[y] = (amp, angle)
        self._sync(n)

    def _harm_part(self, kind, s, params, query, index):
        """``…:HARMy:AMPL?`` / ``…:HARMy:PANG?``: query-only forms (FM 5-36)."""
        if not query:
            raise ScpiError(-113, "Undefined header", "AMPL/PANG after HARMy are query-only")
        n = self._phase(s, f"{kind}:MHAR:HARM")
        return sci(self._channel(kind, n).harmonics.get(s[1], (0.0, 0.0))[index])

    def _stat(self, kind, s, params, query):
        n = self._phase(s, f"{kind}:STAT")
        ch = self._channel(kind, n)
        if query:
            return str(int(ch.on))  # [U] the query form (a SCPI boolean setting answers 0/1)
        (value,) = self._params(params, 1, f"{kind}:STAT")
        ch.on = self._bool(value, f"{kind}:STAT")
        self._sync(n)

    def _amplitude(self, kind, s, params, query):
        """``…:CURR:AMPL?``: query-only, the RMS amplitude in scientific format (FM 5-43)."""
        if not query:
            raise ScpiError(-113, "Undefined header", "CURR:AMPL is query-only")
        n = self._phase(s, f"{kind}:AMPL?")
        return sci(self._channel(kind, n).amplitude)

    def _power(self, s, params, query, *, apparent):
        """``POW:WATT?`` / ``POW:VA?``: the unit computes them from its settings, scientific format.
        [U] a channel switched off contributes nothing; the answer does not depend on OUTP:STAT."""
        if not query:
            raise ScpiError(-113, "Undefined header", "POW:WATT/VA are queries")
        n = self._phase(s, "POW")
        v, i = self.volt[n], self.curr[n]
        if not (v.live and i.live):
            return sci(0.0)
        va = v.amplitude * i.amplitude
        return sci(va if apparent else va * math.cos(math.radians(i.angle)))

    def _unit_mhar(self, kind, params, query):
        if query:
            return self.unit[kind]
        # ABS (PD); REL is [U]: the other keyword's spelling
        value = self._enum(params, f"UNIT:MHAR:{kind}", ("ABS", "ABSOLUTE", "REL", "RELATIVE"))
        self.unit[kind] = value[:3]

    def _frequency(self, s, params, query):
        if query:  # [U] the query form of SOUR:FREQ
            return sci(self.physics.frequency_hz)
        (value,) = self._params(params, 1, "SOUR:FREQ")
        hz = self._number(value, "SOUR:FREQ")
        if not FREQUENCY_HZ[0] <= hz <= FREQUENCY_HZ[1]:
            raise ScpiError(-222, "Data out of range", f"SOUR:FREQ {hz:g}: 16…850 Hz")
        self.physics.set_frequency(hz)

    def _output(self, s, params, query):
        """``OUTP:STAT ON|OFF``; ``OUTP:STAT?`` answers 0/1 (PD compare the reply with "0")."""
        if query:
            return "1" if self.physics.output_on else "0"
        (value,) = self._params(params, 1, "OUTP:STAT")
        on = self._bool(value, "OUTP:STAT")
        if not on:
            self._abort_gate()  # FM 5-58: OUTP OFF also stops an energy test sequence
            self.physics.set_output(False)
            return
        for n in range(1, self.phases_fitted + 1):
            for kind, ch in (("VOLT", self.volt[n]), ("CURR", self.curr[n])):
                if ch.on and not ch.mhar:
                    raise ScpiError(
                        -221,
                        "Settings conflict",
                        f"OUTP ON: phase {n} {kind} on without a waveform (MHAR:STAT 0)",
                    )
                if ch.on and ch.amplitude > ch.range_[1]:
                    raise ScpiError(-221, "Settings conflict", f"OUTP ON: phase {n} {kind} {ch.amplitude:g} above its range {ch.range_[1]:g}")  # fmt: skip
        self.physics.set_output(True)

    def _ramp(self, s, params, query):
        if query:
            return sci(self.ramp_s)
        (value,) = self._params(params, 1, "OUTP:RAMP:TIME")
        seconds = self._number(value, "OUTP:RAMP:TIME")
        if not 0 <= seconds <= 60:  # [U] the settable range
            raise ScpiError(-222, "Data out of range", f"OUTP:RAMP:TIME {seconds:g}")
        self.ramp_s = seconds

    def _sense(self, s, params, query):
        if query:
            return "0"
        self._params(params, 1, "OUTP:SENS")  # PD send OUTP:SENS 0 at initialisation

    # ---- energy option (FM 5-58…5-61) --------------------------------------------------------------------
    def _abort(self, s, params, query):
        """``ENER:ABOR``: aborts the test sequence and acts like STBY / ``OUTP OFF``, except that with
        Maintain Voltage the voltage channels stay on (FM 5-58)."""
        self._no_query(query, "ENER:ABOR")
        self._energy("ENER:ABOR")
        self._abort_gate()
        if not self.maintain_voltage:
            self.physics.set_output(False)
            return
        for n in range(1, self.phases_fitted + 1):
            self.curr[n].on = False
            self._sync(n)

    def _abort_gate(self) -> None:
        if self.position and self.position in self.physics.gates:
            self.physics.gate_abort(self.position)

    def _mvolt(self, s, params, query):
        self._energy("ENER:ENER:MVOLT")
        if query:
            return str(int(self.maintain_voltage))
        (value,) = self._params(params, 1, "ENER:ENER:MVOLT")
        self.maintain_voltage = self._bool(value, "ENER:ENER:MVOLT")

    def _constant(self, target: dict, params, query):
        self._energy("ENER:…:CONS")
        if query:
            return sci(target["constant"])
        (value,) = self._params(params, 1, "ENER:…:CONS")
        c = self._number(value, "ENER:…:CONS")
        if c <= 0:
            raise ScpiError(-222, "Data out of range", f"meter constant {c:g} must be > 0")
        target["constant"] = c

    def _constant_unit(self, target: dict, params, query):
        self._energy("ENER:…:CONS:UNIT")
        if query:
            return target["unit"]
        target["unit"] = self._enum(params, "ENER:…:CONS:UNIT", tuple(CONSTANT_UNITS))

    def _mut_source(self, s, params, query):
        """FM 5-59: ``{CH1|CH1TO2|…|CH1TO6|SUM123}``: no CH2, no CH3. A clash with the reference source
        sets the reference to MAIN; changing a source resets the test pulse source to MAIN (FM 5-58)."""
        self._energy("ENER:MUT:SOUR")
        if query:
            return self.mut["source"]
        value = self.mut["source"] = self._enum(params, "ENER:MUT:SOUR", MUT_SOURCES)
        if self._clash(value, self.ref["source"]):
            self.ref["source"] = "MAIN"
        self.pulse_source = "MAIN"

    def _ref_source(self, s, params, query):
        """FM 5-60: a reference source already used by the MUT definition is an error."""
        self._energy("ENER:REF:SOUR")
        if query:
            return self.ref["source"]
        value = self._enum(params, "ENER:REF:SOUR", REF_SOURCES)
        if self._clash(self.mut["source"], value):
            raise ScpiError(-221, "Settings conflict", f"ENER:REF:SOUR {value} is in use by the MUT source")
        self.ref["source"] = value
        self.pulse_source = "MAIN"

    @staticmethod
    def _clash(mut: str, ref: str) -> bool:
        used = (
            set(range(1, int(mut[-1]) + 1)) if mut.startswith("CH1TO") else {1} if mut == "CH1" else {1, 2, 3}
        )
        wanted = (
            {6}
            if ref == "CH6"
            else {4, 5, 6}
            if ref in ("SUM456", "MEAN456")
            else {5, 6}
            if ref == "MEAN56"
            else set()
        )
        return bool(used & wanted)

    def _pulse_source(self, s, params, query):
        self._energy("ENER:MUT:TEST:PSOU")
        if query:
            return self.pulse_source
        self.pulse_source = self._enum(params, "MUT:TEST:PSOU", PULSE_SOURCES)

    def _accept_bool(self, s, params, query):
        self._energy("ENER:MUT:DEB")
        if not query:
            (value,) = self._params(params, 1, "ENER:MUT:DEB")
            self._bool(value, "ENER:MUT:DEB")
        return "0" if query else None

    def _choice(self, params, query, allowed):
        self._energy("ENER:…:PULL")
        if query:
            return allowed[0]
        self._enum(params, "ENER:…:PULL", allowed)

    # ---- [U] ASSUMED energy test (no public source; MeterBench's guess) ------------------------------------
    def _u_gate(self, what: str) -> int:
        self._energy(what)
        if not self.position or self.position not in self.physics.gates:
            raise ScpiError(-221, "Settings conflict", f"{what}: the MUT input is not wired to a position")
        return self.position

    def _u_test_pulses(self, s, params, query):
        """[U] ``ENER:MUT:TEST:PULS <n>``: the test lasts n MUT pulses (assumed)."""
        self._energy("ENER:MUT:TEST:PULS")
        if query:
            return str(self.test_pulses)
        (value,) = self._params(params, 1, "ENER:MUT:TEST:PULS")
        n = self._number(value, "ENER:MUT:TEST:PULS")
        if n != int(n) or n < 1:
            raise ScpiError(-222, "Data out of range", f"ENER:MUT:TEST:PULS {value}: an integer >= 1")
        self.test_pulses = int(n)

    def _u_test_start(self, s, params, query):
        """[U] ``ENER:TEST:STAR``: arm the test; it opens on the next MUT edge (assumed). Needs the MUT
        source to include channel 1 and the pulse source to be the MUT (assumed)."""
        self._no_query(query, "ENER:TEST:STAR")
        pos = self._u_gate("ENER:TEST:STAR")
        if self.pulse_source not in ("CH1", "EMUT"):
            raise ScpiError(
                -221, "Settings conflict", f"ENER:TEST:STAR with MUT:TEST:PSOU {self.pulse_source}"
            )
        kt = CONSTANT_UNITS[self.mut["unit"]](self.mut["constant"])
        self.physics.gate_configure(pos, kt, self.test_pulses)
        self.physics.gate_start(pos)

    def _u_test_stop(self, s, params, query):
        """[U] ``ENER:TEST:STOP``: end the test without touching the outputs (assumed)."""
        self._no_query(query, "ENER:TEST:STOP")
        self._u_gate("ENER:TEST:STOP")
        self._abort_gate()

    def _u_test_status(self, s, params, query):
        """[U] ``ENER:TEST:STAT?`` -> ``IDLE|RUN|DONE,<progress 0..1>`` (assumed)."""
        if not query:
            raise ScpiError(-113, "Undefined header", "ENER:TEST:STAT is a query")
        state, progress = self.physics.gate_status(self._u_gate("ENER:TEST:STAT?"))
        return f"{STATUS_WORDS[state]},{progress:.3f}"

    def _u_test_result(self, s, params, query):
        """[U] ``ENER:TEST:RES?`` -> ``<error %|NAN>,<MUT pulses>,<reference pulses>,<seconds>`` (assumed)."""
        if not query:
            raise ScpiError(-113, "Undefined header", "ENER:TEST:RES is a query")
        res = self.physics.gate_result(self._u_gate("ENER:TEST:RES?"))
        if res is None:
            return "NAN,0,0,0"
        meter, ref, secs, err = res
        return f"{'NAN' if err is None else format(err, '.5f')},{meter},{ref},{secs:.6f}"

    def _u_count_start(self, s, params, query):
        """[U] ``ENER:COUN:STAR``: count MUT pulses without a test (assumed)."""
        self._no_query(query, "ENER:COUN:STAR")
        self.physics.count_start(self._u_gate("ENER:COUN:STAR"))

    def _u_count(self, s, params, query):
        """[U] ``ENER:COUN?`` -> ``<MUT pulses>,<seconds>`` (assumed)."""
        if not query:
            raise ScpiError(-113, "Undefined header", "ENER:COUN is a query")
        pulses, secs = self.physics.count_read(self._u_gate("ENER:COUN?"))
        return f"{pulses},{secs:.3f}"


def _match(tokens: list[str], pattern: str) -> list[int] | None:
    """The numeric suffixes if ``tokens`` spell ``pattern`` (SCPI short or long forms), else None."""
    if pattern.startswith("*"):
        return [] if tokens == [pattern] else None
    keywords = pattern.split(":")
    if len(tokens) != len(keywords):
        return None
    suffixes = []
    for token, keyword in zip(tokens, keywords, strict=True):
        got = _keyword_matches(token, keyword)
        if got is False:
            return None
        if got is not True:
            suffixes.append(got)
    return suffixes
