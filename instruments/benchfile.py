"""Bench files: one TOML file describes a bench (its instruments, the reference's calibration and,
for a simulated bench, the meters in the sockets and the faults to inject).

Everything is validated here, and every mistake is an :class:`InputError` naming file, table and key::

    examples/9s.toml: simulation.meter[2].kh: must be > 0 (found -1)

Layout (see ``examples/*.toml``)::

    name = "Shop bench 1"; location = "..."; positions = 3; three_phase_source = false
    [instruments.source]      driver, resource, [options]
    [instruments.reference]   driver, resource, kr_wh, [options], [calibration]
    [instruments.calculators] driver, resource, positions = [..], [options]   (or [[...]] several)
    [simulation]              speed (0 = virtual time), seed, rotation, reference_position
    [[simulation.meter]]      position, serial, form, ... error_curve, noise_percent, wiring ...,
                              register_resolution_kwh, register_scale, meter_port (register test),
                              bidirectional, test_output, test_output_direction,
                              error_curve_received / _reactive / _apparent,
                              voltage_coefficient_percent_per_percent, frequency_coefficient_percent_per_hz,
                              harmonic_error_percent, element_errors = {A = [...], ...}   (instruments.sim.meter)
    [[simulation.fault]]      instrument (role), kind, command (prefix), delay_s
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from instruments.interfaces import Calibration
from procedures import bounds
from procedures.errors import InputError

ROLES = ("source", "reference", "calculators")
OPTIONAL_ROLES = ("meter_ports",)  # one optical probe per socket (ANSI C12.18, IEC 62056-21)
MAX_POSITIONS = 48

#: no self-contained or transformer-rated meter is rated above this current (CL320 is 320 A)
MAX_AMPS = 1000.0


FAULT_KINDS = ("no_reply", "slow_reply", "garbage", "refused", "overload")
METER_PORT_STATES = (
    "ok",
    "dead",
    "no-registers",
    "none",
)  # "none": a meter without an optical port (registers typed)


@dataclass(frozen=True)
class InstrumentConfig:
    """One role's instrument: which driver, at which VISA resource, with which options."""

    role: str
    driver: str
    resource: str
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    positions: tuple[int, ...] = ()  # calculators only: the positions this instrument serves
    kr_wh: float | None = None  # reference only: Wh per reference pulse
    calibration: Calibration | None = None  # reference only
    where: str = ""  # "instruments.source" (for error messages)
    #: the bench file's [<role>.transport] overrides (keys of :data:`TRANSPORT_KEYS`), already checked
    transport: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    #: send commands found in no public source ([U]) to this instrument: the shop's explicit opt-in
    allow_unconfirmed: bool = False


@dataclass(frozen=True)
class SimMeter:
    """A simulated meter in a socket: what it is and how it (mis)behaves."""

    position: int
    serial: str
    form: str
    accuracy_class: str
    voltage: float
    frequency: float
    kh: float
    kt: float  # Wh per test-output pulse
    current_class: str | None = None  # ANSI
    ta: float | None = None  # test amperes (ANSI)
    ib: float | None = None  # IEC basic current
    in_: float | None = None  # IEC nominal current (transformer-operated)
    imax: float | None = None
    error_curve: tuple[tuple[float, float, float], ...] = ()  # (current/TA or Ib, lag deg, error %)
    noise_percent: float = 0.0
    creep_pulses_per_hour: float = 0.0
    starting_current_a: float = 0.0
    dead: bool = False
    missed_pulse_fraction: float = 0.0  # intermittent pulses: this fraction of pulses never arrives
    wiring: tuple[str, ...] = ()
    # The meter's register as its optical port shows it (register test); faults for that test.
    register_resolution_kwh: float = 0.001  # the display's least significant digit (0 = every digit)
    register_scale: float = 1.0  # fault: the register advances this many times the test output's energy
    meter_port: str = "ok"  # "ok", "dead" (no reply), "no-registers" (identity only), "none" (no port)
    manufacturer: str = "MeterBench"
    model: str = "SIM"
    firmware: str = "1.0"
    # Directions, quantities, influence and elements (instruments.sim.meter says what each one does).
    bidirectional: bool = False  # registers and pulses received energy (else: a detent)
    test_output: str = "Wh"  # "Wh", "varh" or "VAh": what the test output pulses
    test_output_direction: str = "both"  # bidirectional: the output pulses "both", "delivered" or "received"
    error_curve_received: tuple[tuple[float, float, float], ...] = ()  # lag from the reversed current
    error_curve_reactive: tuple[tuple[float, float, float], ...] = ()
    error_curve_apparent: tuple[tuple[float, float, float], ...] = ()
    voltage_coefficient: float = 0.0  # error % per % of voltage from the nameplate voltage
    frequency_coefficient: float = 0.0  # error % per Hz from the nameplate frequency
    harmonic_error_percent: float = 0.0  # the error on harmonic active power (-100: fundamental only)
    element_errors: tuple[tuple[str, tuple[tuple[float, float, float], ...]], ...] = ()  # (element, curve)
    # What the meter's own tables hold (demand, clock, TOU, status, events: instruments.sim.meter_memory).
    demand_interval_min: int = 15  # the demand interval
    demand_subintervals: int = 1  # 1 = block demand; n > 1 = sliding demand over n subintervals
    demand_error_percent: float = 0.0  # fault: the demand register reads this much high
    clock_drift_ppm: float = 0.0  # the meter clock runs fast by this much (s/day = ppm x 0.0864)
    tou_calendar: tuple[tuple[int, int], ...] = ((0, 1),)  # (minute of day, tier from then on), daily
    status_flags: tuple[str, ...] = ()  # ST3 flags set (instruments.protocols.c1219.STATUS_BITS)
    events: tuple[str, ...] = ()  # history-log entries before the test (c1219.HISTORY_CODES words)

    @property
    def simple(self) -> bool:
        """Today's meter: delivered active energy, one curve, no influence (the fast, exact path)."""
        return not (
            self.bidirectional
            or self.test_output != "Wh"
            or self.element_errors
            or self.voltage_coefficient
            or self.frequency_coefficient
            or self.harmonic_error_percent
        )

    @property
    def received_curve(self) -> tuple[tuple[float, float, float], ...]:
        return self.error_curve_received or self.error_curve

    @property
    def rated_current(self) -> float:
        """TA (ANSI) or Ib / In (IEC): the current the error curve's fractions refer to."""
        for value in (self.ta, self.ib, self.in_):
            if value:
                return value
        raise AssertionError("validated bench files always have a rated current")


@dataclass(frozen=True)
class SimFault:
    """A fault injected into a simulated instrument (see instruments.sim.library.Fault)."""

    instrument: str  # role: source, reference, calculators
    kind: str
    command: str = ""  # only commands starting with this text ("" = every command)
    delay_s: float = 0.0  # slow_reply


@dataclass(frozen=True)
class SimulationConfig:
    speed: float = 0.0  # 0 = virtual time (as fast as possible), N = N x real time
    seed: int = 0
    rotation: str = "ABC"
    reference_position: int = 0  # 0 = the reference measures at the source; N = at position N's socket
    reference_error_percent: float = 0.005  # std dev of the simulated reference's own (fixed) gain error
    meters: tuple[SimMeter, ...] = ()
    faults: tuple[SimFault, ...] = ()


@dataclass(frozen=True)
class BenchConfig:
    """A parsed, validated bench file."""

    path: str
    name: str
    location: str
    positions: int
    three_phase_source: bool
    instruments: dict[str, tuple[InstrumentConfig, ...]]  # role -> instruments (several for calculators)
    visa_library: str = "@py"
    simulation: SimulationConfig | None = None

    @property
    def source(self) -> InstrumentConfig:
        return self.instruments["source"][0]

    @property
    def reference(self) -> InstrumentConfig:
        return self.instruments["reference"][0]

    @property
    def calibration(self) -> Calibration:
        cal = self.reference.calibration
        assert cal is not None
        return cal

    @property
    def simulated(self) -> bool:
        return self.simulation is not None


class _Table:
    """Typed access to one TOML table, raising InputError that names file, table and key."""

    def __init__(self, raw: Any, where: str, src: str, allowed: tuple[str, ...]):
        if not isinstance(raw, dict):
            raise InputError(where or "bench file", "must be a table", source=src, found=raw)
        self.raw, self.where, self.src = raw, where, src
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            import difflib

            near = difflib.get_close_matches(str(unknown[0]), [str(a) for a in allowed], 1, 0.6)
            problem = f"unknown key (did you mean {near[0]!r}?)" if near else "unknown key"
            raise InputError(self.field(unknown[0]), problem, allowed=allowed, source=src)

    def field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str, found: object = None, allowed: object = None) -> InputError:
        return InputError(self.field(key), problem, source=self.src, found=found, allowed=allowed)

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str = "") -> Any:
        if key not in self.raw:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        val = self.raw[key]
        ok = isinstance(val, kind) and not (isinstance(val, bool) and bool not in _as_tuple(kind))
        if not ok:
            raise self.fail(key, f"must be {what or _kind_name(kind)}", found=val)
        return val

    def text(self, key: str, default: Any = ...) -> str:
        val = self.get(key, str, default, what="a text string")
        if isinstance(val, str) and not val.strip() and default is ...:
            raise self.fail(key, "must not be empty")
        if isinstance(val, str):  # no control characters or bidi overrides, bounded length (certificate text)
            val = bounds.text(self.field(key), val, source=self.src)
        return val

    def number(
        self,
        key: str,
        default: Any = ...,
        *,
        low: float | None = None,
        low_open: bool = False,
        high: float | None = None,
    ) -> float:
        val = self.get(key, (int, float), default, what="a number")
        if val is None:
            return val
        try:
            val = float(val)
        except OverflowError:
            raise self.fail(key, "is far too large", found=str(val)[:40]) from None
        if not math.isfinite(val):
            raise self.fail(key, "must be a finite number", found=val)
        if low is not None and (val <= low if low_open else val < low):
            raise self.fail(key, f"must be {'>' if low_open else '>='} {low:g}", found=_plain(val))
        if high is not None and val > high:
            raise self.fail(key, f"must be <= {high:g}", found=_plain(val))
        return val

    def integer(
        self, key: str, default: Any = ..., *, low: int | None = None, high: int | None = None
    ) -> int:
        val = self.get(key, int, default, what="a whole number")
        if low is not None and val < low:
            raise self.fail(key, f"must be >= {low}", found=val)
        if high is not None and val > high:
            raise self.fail(key, f"must be <= {high}", found=val)
        return val

    def boolean(self, key: str, default: Any = ...) -> bool:
        return self.get(key, bool, default, what="true or false")

    def day(self, key: str) -> date:
        val = self.get(key, date, what="a date (YYYY-MM-DD, unquoted)")
        if hasattr(val, "hour"):
            raise self.fail(key, "must be a date without a time", found=str(val))
        return val


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _plain(val: float) -> float | int:
    return int(val) if val == int(val) else val


_TOP = ("name", "location", "positions", "three_phase_source", "visa_library", "instruments", "simulation")
_INSTR = (
    "driver",
    "resource",
    "options",
    "positions",
    "kr_wh",
    "calibration",
    "transport",
    "allow_unconfirmed",
)
TERMINATIONS = {"CR": "\r", "LF": "\n", "CRLF": "\r\n", "NONE": ""}
PARITIES = ("none", "even", "odd", "mark", "space")
TRANSPORT_KEYS = (
    "read_termination",
    "write_termination",
    "timeout_ms",
    "baud_rate",
    "data_bits",
    "stop_bits",
    "parity",
)
_CAL = (
    "certificate",
    "laboratory",
    "calibrated",
    "due",
    "uncertainty_percent",
    "coverage_factor",
    "traceability",
)
_SIM = ("speed", "seed", "rotation", "reference_position", "reference_error_percent", "meter", "fault")
METER_MEMORY_KEYS = ("demand_interval_min", "demand_subintervals", "demand_error_percent", "clock_drift_ppm",
                     "clock_drift_s_per_day", "tou_calendar", "status_flags", "events")  # fmt: skip
_METER = (
    "position",
    "serial",
    "form",
    "accuracy_class",
    "current_class",
    "ta",
    "ib",
    "in",
    "imax",
    "voltage",
    "frequency",
    "kh",
    "kt",
    "error_curve",
    "noise_percent",
    "creep_pulses_per_hour",
    "starting_current_a",
    "dead",
    "missed_pulse_fraction",
    "wiring",
    "register_resolution_kwh",
    "register_scale",
    "meter_port",
    "manufacturer",
    "model",
    "firmware",
    "bidirectional",
    "test_output",
    "test_output_direction",
    "error_curve_received",
    "error_curve_reactive",
    "error_curve_apparent",
    "voltage_coefficient_percent_per_percent",
    "frequency_coefficient_percent_per_hz",
    "harmonic_error_percent",
    "element_errors",
    *METER_MEMORY_KEYS,
)
TEST_OUTPUTS = ("Wh", "varh", "VAh")
TEST_OUTPUT_DIRECTIONS = ("both", "delivered", "received")
_FAULT = ("instrument", "kind", "command", "delay_s")


def load_bench_config(path: str | Path) -> BenchConfig:
    """Read and validate a bench file."""
    from procedures.catalog import parse_toml_bytes

    src = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError("bench file", f"cannot be read: {exc.strerror}", source=src) from exc
    return parse_bench_config(parse_toml_bytes(data, src, "bench file"), src)


def parse_bench_config(raw: dict, src: str = "<bench>") -> BenchConfig:
    """Validate an already-parsed bench file (a dict as from tomllib)."""
    top = _Table(raw, "", src, _TOP)
    positions = top.integer("positions", low=1, high=MAX_POSITIONS)
    instr = _Table(top.get("instruments", dict, what="a table"), "instruments", src, ROLES + OPTIONAL_ROLES)
    instruments: dict[str, tuple[InstrumentConfig, ...]] = {}
    for role in ROLES:
        if not instr.has(role):
            raise instr.fail(role, "is missing (a bench needs a source, a reference and calculators)")
        body = instr.raw[role]
        if role == "calculators" and isinstance(body, list):
            if not body:
                raise instr.fail(role, "needs at least one calculator instrument")
            items = [(_Table(b, f"instruments.calculators[{k}]", src, _INSTR)) for k, b in enumerate(body)]
        else:
            items = [_Table(body, f"instruments.{role}", src, _INSTR)]
        instruments[role] = tuple(_instrument(t, role, positions) for t in items)
    _check_calculator_positions(instruments["calculators"], positions, src)
    ports: list[InstrumentConfig] = []
    if instr.has("meter_ports"):
        body = instr.raw["meter_ports"]
        tables = body if isinstance(body, list) else [body]
        for k, b in enumerate(tables):
            where = f"instruments.meter_ports[{k}]" if isinstance(body, list) else "instruments.meter_ports"
            t = _Table(b, where, src, _INSTR)
            if not t.has("positions"):
                raise t.fail("positions", "is missing (the socket this optical probe reads, e.g. [1])")
            ports.append(_instrument(t, "meter_ports", positions))
        _check_calculator_positions(tuple(ports), positions, src, complete=False)
    instruments["meter_ports"] = tuple(ports)
    simulation = None
    if top.has("simulation"):
        simulation = _simulation(_Table(top.raw["simulation"], "simulation", src, _SIM), positions)
    return BenchConfig(
        path=src,
        name=top.text("name"),
        location=top.text("location", ""),
        positions=positions,
        three_phase_source=top.boolean("three_phase_source"),
        instruments=instruments,
        visa_library=top.text("visa_library", "@py"),
        simulation=simulation,
    )


def _instrument(t: _Table, role: str, positions: int) -> InstrumentConfig:
    options = t.get("options", dict, {}, what="a table")
    kr = cal = None
    if role == "reference":
        kr = bounds.kr_wh(t.number("kr_wh", low=0, low_open=True), t.field("kr_wh"), t.src)
        cal = _calibration(
            _Table(t.get("calibration", dict, what="a table"), t.field("calibration"), t.src, _CAL)
        )
    else:
        for key in ("kr_wh", "calibration"):
            if t.has(key):
                raise t.fail(key, f"belongs to instruments.reference, not instruments.{role}")
    pos: tuple[int, ...] = ()
    if role in ("calculators", "meter_ports"):
        raw = t.get("positions", list, list(range(1, positions + 1)), what="a list of position numbers")
        if not raw or not all(
            isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= positions for p in raw
        ):
            raise t.fail("positions", f"must list positions between 1 and {positions}", found=raw)
        if len(set(raw)) != len(raw):
            raise t.fail("positions", "lists a position twice", found=raw)
        pos = tuple(raw)
    elif t.has("positions"):
        raise t.fail("positions", "belongs to instruments.calculators or instruments.meter_ports")
    transport = {}
    if t.has("transport"):
        transport = _transport(
            _Table(t.get("transport", dict, what="a table"), t.field("transport"), t.src, TRANSPORT_KEYS)
        )
    return InstrumentConfig(
        role=role,
        driver=t.text("driver"),
        resource=t.text("resource"),
        options=MappingProxyType(dict(options)),
        positions=pos,
        kr_wh=kr,
        calibration=cal,
        where=t.where,
        transport=MappingProxyType(transport),
        allow_unconfirmed=t.boolean("allow_unconfirmed", False),
    )


def _transport(t: _Table) -> dict:
    """A ``[instruments.<role>.transport]`` table: only what a VISA session can be set to."""
    out: dict = {}
    for key in ("read_termination", "write_termination"):
        if t.has(key):
            word = t.text(key)
            if word.upper() not in TERMINATIONS:
                raise t.fail(key, "unknown line ending", found=word, allowed=sorted(TERMINATIONS))
            out[key] = TERMINATIONS[word.upper()]
    if t.has("timeout_ms"):
        out["timeout_ms"] = t.integer("timeout_ms", low=50, high=600000)
    if t.has("baud_rate"):
        baud = t.integer("baud_rate", low=50, high=4000000)
        if baud not in STANDARD_BAUD:
            raise t.fail(
                "baud_rate", "not a standard serial baud rate", found=baud, allowed=list(STANDARD_BAUD)
            )
        out["baud_rate"] = baud
    if t.has("data_bits"):
        out["data_bits"] = t.integer("data_bits", low=5, high=8)
    if t.has("stop_bits"):
        stop = t.number("stop_bits", low=1, high=2)
        if stop not in (1, 1.5, 2):
            raise t.fail("stop_bits", "must be 1, 1.5 or 2", found=stop, allowed=[1, 1.5, 2])
        out["stop_bits"] = float(stop)
    if t.has("parity"):
        parity = t.text("parity").lower()
        if parity not in PARITIES:
            raise t.fail("parity", "unknown parity", found=parity, allowed=list(PARITIES))
        out["parity"] = parity
    return out


STANDARD_BAUD = (300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def _check_calculator_positions(
    calcs: tuple[InstrumentConfig, ...], positions: int, src: str, *, complete: bool = True
) -> None:
    seen: dict[int, str] = {}
    for c in calcs:
        for p in c.positions:
            if p in seen:
                raise InputError(
                    f"{c.where}.positions",
                    f"position {p} is already served by {seen[p]}",
                    source=src,
                    found=list(c.positions),
                )
            seen[p] = c.where
    missing = [p for p in range(1, positions + 1) if p not in seen]
    if missing and complete:
        raise InputError(
            "instruments.calculators",
            "every position needs an error calculator",
            source=src,
            found=f"positions without one: {missing}",
        )


def _calibration(t: _Table) -> Calibration:
    calibrated, due = t.day("calibrated"), t.day("due")
    bounds.past_date(t.field("calibrated"), calibrated, source=t.src)
    if due <= calibrated:
        raise t.fail("due", f"must be after the calibration date {calibrated}", found=str(due))
    return Calibration(
        certificate=t.text("certificate"),
        laboratory=t.text("laboratory"),
        calibrated=calibrated,
        due=due,
        uncertainty_percent=t.number("uncertainty_percent", low=0, low_open=True, high=10),
        coverage_factor=t.number("coverage_factor", low=1, high=4),
        traceability=t.text("traceability"),
    )


def _simulation(t: _Table, positions: int) -> SimulationConfig:
    rotation = t.text("rotation", "ABC")
    if rotation not in ("ABC", "CBA"):
        raise t.fail("rotation", "unknown phase rotation", found=rotation, allowed="ABC, CBA")
    meters = []
    raw_meters = t.get("meter", list, [], what="an array of [[simulation.meter]] tables")
    seen: set[int] = set()
    for k, body in enumerate(raw_meters):
        m = _meter(_Table(body, f"simulation.meter[{k}]", t.src, _METER), positions)
        if m.position in seen:
            raise InputError(
                f"simulation.meter[{k}].position", "two meters in one socket", source=t.src, found=m.position
            )
        seen.add(m.position)
        meters.append(m)
    faults = []
    for k, body in enumerate(t.get("fault", list, [], what="an array of [[simulation.fault]] tables")):
        ft = _Table(body, f"simulation.fault[{k}]", t.src, _FAULT)
        role = ft.text("instrument")
        if role not in ROLES:
            raise ft.fail("instrument", "unknown role", found=role, allowed=ROLES)
        kind = ft.text("kind")
        if kind not in FAULT_KINDS:
            raise ft.fail("kind", "unknown fault", found=kind, allowed=FAULT_KINDS)
        delay = ft.number("delay_s", 0.0, low=0, high=bounds.MAX_WINDOW_S)
        faults.append(SimFault(role, kind, ft.text("command", ""), delay))
    return SimulationConfig(
        speed=bounds.speed(t.number("speed", 0.0, low=0), t.field("speed")),
        seed=t.integer("seed", 0),
        rotation=rotation,
        reference_position=t.integer("reference_position", 0, low=0, high=positions),
        reference_error_percent=t.number("reference_error_percent", 0.005, low=0, high=1),
        meters=tuple(meters),
        faults=tuple(faults),
    )


def _meter(t: _Table, positions: int) -> SimMeter:
    from procedures.forms import get_form

    form = t.text("form")
    try:
        form = get_form(form).name
    except InputError as err:
        raise t.fail("form", "unknown meter form", found=form, allowed=err.allowed) from None
    current_class = t.text("current_class", None)
    ta = t.number("ta", None, low=0, low_open=True, high=MAX_AMPS)
    if current_class is not None:
        from procedures import catalog  # one table of current classes and TA, with provenance

        try:
            ta = ta or catalog.ta_for(current_class)
        except InputError as err:
            raise t.fail(
                "current_class", "unknown ANSI current class", found=current_class, allowed=err.allowed
            ) from None
    ib = t.number("ib", None, low=0, low_open=True, high=MAX_AMPS)
    in_ = t.number("in", None, low=0, low_open=True, high=MAX_AMPS)
    imax = t.number("imax", None, low=0, low_open=True, high=MAX_AMPS)
    if not (ta or ib or in_):
        raise t.fail("current_class", "a meter needs current_class or ta (ANSI), or ib or in (IEC)")
    curve = _curve(t, "error_curve")
    test_output = t.text("test_output", "Wh")
    if test_output not in TEST_OUTPUTS:
        raise t.fail("test_output", "unknown test-output quantity", found=test_output, allowed=TEST_OUTPUTS)
    direction = t.text("test_output_direction", "both")
    if direction not in TEST_OUTPUT_DIRECTIONS:
        raise t.fail(
            "test_output_direction", "unknown direction", found=direction, allowed=TEST_OUTPUT_DIRECTIONS
        )
    if direction != "both" and not t.boolean("bidirectional", False):
        raise t.fail("test_output_direction", "needs bidirectional = true", found=direction)
    raw_elements = t.get("element_errors", dict, {}, what="a table of element name = error curve")
    names = tuple(e.name for e in get_form(form).elements)  # an unknown element is an unknown key
    sub = _Table(raw_elements, t.field("element_errors"), t.src, names)
    element_errors = [(name, _curve(sub, name)) for name in names if name in raw_elements]
    wiring = t.get("wiring", list, [], what="a list of fault codes")
    from procedures.wiring import parse_fault

    for j, code in enumerate(wiring):
        try:
            parse_fault(code, get_form(form))
        except InputError as err:
            raise t.fail(f"wiring[{j}]", err.problem, found=code, allowed=err.allowed) from None
    return SimMeter(
        position=t.integer("position", low=1, high=positions),
        serial=t.text("serial"),
        form=form,
        accuracy_class=t.text("accuracy_class"),
        voltage=t.number("voltage", low=0, low_open=True, high=1000),
        frequency=t.number("frequency", 60.0, low=40, high=70),
        kh=bounds.kt_wh(t.number("kh", low=0, low_open=True), t.field("kh"), t.src),
        kt=bounds.kt_wh(t.number("kt", low=0, low_open=True), t.field("kt"), t.src),
        current_class=current_class,
        ta=ta,
        ib=ib,
        in_=in_,
        imax=imax,
        error_curve=curve,
        noise_percent=t.number("noise_percent", 0.0, low=0, high=10),
        creep_pulses_per_hour=t.number("creep_pulses_per_hour", 0.0, low=0, high=1e6),
        starting_current_a=t.number("starting_current_a", 0.0, low=0, high=MAX_AMPS),
        dead=t.boolean("dead", False),
        missed_pulse_fraction=t.number("missed_pulse_fraction", 0.0, low=0, high=1),
        wiring=tuple(wiring),
        register_resolution_kwh=t.number("register_resolution_kwh", 0.001, low=0, high=1000),
        register_scale=t.number("register_scale", 1.0, low=0, low_open=True, high=10),
        meter_port=_meter_port(t),
        manufacturer=t.text("manufacturer", "MeterBench"),
        model=t.text("model", "SIM"),
        firmware=t.text("firmware", "1.0"),
        bidirectional=t.boolean("bidirectional", False),
        test_output=test_output,
        test_output_direction=direction,
        error_curve_received=_curve(t, "error_curve_received"),
        error_curve_reactive=_curve(t, "error_curve_reactive"),
        error_curve_apparent=_curve(t, "error_curve_apparent"),
        voltage_coefficient=t.number("voltage_coefficient_percent_per_percent", 0.0, low=-10, high=10),
        frequency_coefficient=t.number("frequency_coefficient_percent_per_hz", 0.0, low=-10, high=10),
        harmonic_error_percent=t.number("harmonic_error_percent", 0.0, low=-100, high=100),
        element_errors=tuple(element_errors),
        **_meter_memory(t),
    )


def _curve(t: _Table, key: str) -> tuple[tuple[float, float, float], ...]:
    """An error curve: rows of [current_fraction, current_lag_deg, error_percent]."""
    curve = []
    for j, row in enumerate(
        t.get(key, list, [], what="a list of [current_fraction, lag_deg, error_percent]")
    ):
        if not (
            isinstance(row, list)
            and len(row) == 3
            and all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in row)
        ):
            raise t.fail(
                f"{key}[{j}]", "must be [current_fraction, current_lag_deg, error_percent]", found=row
            )
        if row[0] < 0:
            raise t.fail(f"{key}[{j}]", "current fraction must be >= 0", found=row)
        if not -180 < row[1] <= 180:
            raise t.fail(f"{key}[{j}]", "lag must be in (-180, 180] degrees", found=row)
        if abs(row[2]) >= 100:
            raise t.fail(f"{key}[{j}]", "error must be within +-100 %", found=row)
        curve.append((float(row[0]), float(row[1]), float(row[2])))
    return tuple(curve)


def _meter_memory(t: _Table) -> dict:
    """The meter's demand, clock, TOU calendar, status flags and event log knobs (issue 15)."""
    from instruments.protocols.c1219 import HISTORY_CODE_BY_NAME, STATUS_BITS

    interval = t.integer("demand_interval_min", 15, low=1, high=60)
    sub = t.integer("demand_subintervals", 1, low=1, high=15)
    if interval % sub:
        raise t.fail("demand_subintervals", "must divide demand_interval_min into whole minutes", found=sub)
    if t.has("clock_drift_ppm") and t.has("clock_drift_s_per_day"):
        raise t.fail("clock_drift_s_per_day", "give clock_drift_ppm or clock_drift_s_per_day, not both")
    ppm = t.number("clock_drift_ppm", 0.0, low=-1000, high=1000)
    if t.has("clock_drift_s_per_day"):
        ppm = t.number("clock_drift_s_per_day", low=-86.4, high=86.4) / 0.0864
    calendar = []
    rows = t.get("tou_calendar", list, [["00:00", 1]], what='a list of ["hh:mm", tier]')
    for j, row in enumerate(rows):
        ok = isinstance(row, list) and len(row) == 2 and isinstance(row[0], str) and type(row[1]) is int
        hh, _, mm = row[0].partition(":") if ok else ("", "", "")
        if not (ok and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and 1 <= row[1] <= 4):
            raise t.fail(f"tou_calendar[{j}]", 'must be ["hh:mm", tier] with tier 1..4', found=row)
        calendar.append((60 * int(hh) + int(mm), row[1]))
    if len({m for m, _ in calendar}) != len(calendar):
        raise t.fail("tou_calendar", "repeats a switch time", found=rows)
    names = {}
    for key, allowed in (("status_flags", STATUS_BITS), ("events", tuple(HISTORY_CODE_BY_NAME))):
        got = t.get(key, list, [], what="a list of names")
        for j, name in enumerate(got):
            if name not in allowed:
                raise t.fail(f"{key}[{j}]", "unknown name", found=name, allowed=allowed)
        names[key] = tuple(got)
    return {
        "demand_interval_min": interval,
        "demand_subintervals": sub,
        "demand_error_percent": t.number("demand_error_percent", 0.0, low=-50, high=50),
        "clock_drift_ppm": ppm,
        "tou_calendar": tuple(sorted(calendar)),
        **names,
    }


def _meter_port(t: _Table) -> str:
    state = t.text("meter_port", "ok")
    if state not in METER_PORT_STATES:
        raise t.fail("meter_port", "unknown meter-port state", found=state, allowed=METER_PORT_STATES)
    return state
