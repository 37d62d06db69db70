"""Site wiring analysis: is a meter wired so that it registers the energy that flows?

Given the voltage and current phasors a reference standard (or a meter's own site diagnostics) reports,
:func:`analyse` says the phase rotation, what each element registers, what share of the true energy the
meter registers, and what is wrong in plain language a technician can act on. :func:`apply_faults` injects
the same faults into a correct service, so the bench simulator and the tests obey one wiring model.

Conventions
-----------
Angles are degrees, *lagging positive* (``convention="leading"`` negates the input angles on the way in),
phase-A voltage is normally the 0 deg reference (any common reference works: the analysis only uses
angles relative to each other). Voltages are line-to-neutral per phase. For a delta meter (5S) give all
three phases against any common point; a reference that measures against phase B (corner reference) gives
``B`` as ``[0, 0]``. Registration is ``100 x registered watts / watts a correctly wired meter would
register at the same load`` (the true value in the denominator, as in standards.md §1).

Input formats
-------------
JSON, only the phases the form uses (extra phases are ignored)::

    {"voltages": {"A": [120.0, 0], "B": [120.0, 120], "C": [120.0, 240]},
     "currents": {"A": [5.0, 0], "B": [5.0, 300], "C": [5.0, 240]}}

Each value is ``[magnitude, angle_deg]``: volts or amps (>= 0) and the angle in degrees.

CSV, one row per phasor, a header row, ``#`` comments and blank lines allowed::

    quantity,phase,magnitude,angle_deg
    V,A,120,0
    V,B,120,120
    V,C,120,240
    I,A,5,0
    I,B,5,300
    I,C,5,240

``quantity`` is ``V`` or ``I``; ``phase`` is ``A``, ``B`` or ``C``.

Method
------
The analysis explains the phasors by the *fewest* wiring faults. It tries every combination of supply
rotation (ABC, CBA), reversed potential per element, reversed current per coil and permutation of the
currents among the coils (crossed or rolled CTs). For each it places the expected phasors: element
voltages rotated by a common reference angle (the median of the voltage offsets) and currents further
rotated by a common load angle (the median of the current offsets, which must fall in (-90, 90], i.e.
energy flows from the supply to the load). It scores ``60 deg x number of faults + sum of angular misfits``
and keeps the lowest score: a fault is only claimed when it explains away more than 60 deg of misfit.
Explanations that fit equally well with at most one more fault are reported in the finding's message,
so the report never claims a certainty the phasors do not give (with one element a reversed CT and a
reversed VT look the same).

The load angle for "registration relative to correct wiring at the same load" is that median current
offset, taken after undoing the chosen faults: the correct-wiring watts are computed from the measured
phasors with each claimed reversal or crossing undone, and a missing voltage or current is replaced by the
mean magnitude of the present ones at its expected angle (a balanced-load assumption). With no fault the
two are identical, so a correctly wired meter comes out at exactly 100 % even on an unbalanced load.

The checks follow the order of commercial meters' site diagnostics (standards.md §4): (1) polarity,
cross-phase and energy flow (plus the rotation), (2) each voltage within +-x % of phase A, (3) a current
missing while others flow, (4) each current within +-y deg of where the load angle puts it, checked only
when (1) found nothing. Commercial meters measure (4) from the unity-PF angle; here it is measured from
the estimated common load angle so that a correctly wired site at PF 0.5 lag is not flagged.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from procedures.errors import InputError
from procedures.forms import Element, MeterForm, correct_service, element_phasors
from procedures.phasors import lag_deg, phasor, power, wrap180

PHASES = ("A", "B", "C")
CONVENTIONS = ("lagging", "leading")
HOOKUPS = ("service", "series")
FAULT_KINDS = (
    "ct_reversed",
    "vt_reversed",
    "currents_crossed",
    "voltage_missing",
    "current_missing",
    "voltages_crossed",
    "ct_ratio",
    "vt_ratio",
)
FAULT_FORMS = (
    "ct_reversed:<phase>",
    "vt_reversed:<phase>",
    "currents_crossed:<phase>-<phase>",
    "voltage_missing:<phase>",
    "current_missing:<phase>",
    "voltages_crossed:<phase>-<phase>",
    "ct_ratio:<phase>=<factor>",
    "vt_ratio:<phase>=<factor>",
)
RATIO_CODES = ("ct_ratio", "vt_ratio")  # the factor the meter's current / element voltage is scaled by
POLARITY_CODES = ("ct_reversed", "vt_reversed", "currents_crossed")
CSV_HEADER = ("quantity", "phase", "magnitude", "angle_deg")

_FAULT_COST_DEG = 60.0  # a fault must explain away more misfit than this to be claimed
_TIE_DEG = 2.0  # explanations whose misfit differs by less than this are equally good
_VOLTAGE_MISSING_FRACTION = 0.2  # a voltage below 20 % of the largest is missing, not merely low
_CURRENT_FLOWING_FRACTION = 0.05  # default: a current below 5 % of the largest counts as missing
_SIGN_FRACTION = 0.005  # |watts| below 0.5 % of the largest element VA counts as zero


# --------------------------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Phasors:
    """Per-phase voltage (volts, angle_deg) and current (amps, angle_deg), as a reference reports them.

    Angles are as given (lagging or leading per the caller's convention); ``source`` names the file or
    stream for error messages.
    """

    voltages: Mapping[str, tuple[float, float]]
    currents: Mapping[str, tuple[float, float]]
    source: str = ""

    @classmethod
    def from_json(cls, obj: object, source: str = "phasors") -> Phasors:
        """Parse the JSON form (a parsed object or the JSON text); InputError names the bad field."""
        if isinstance(obj, str | bytes):
            try:
                obj = json.loads(obj)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError("phasors", f"is not valid JSON: {exc}", source=source) from exc
            except RecursionError:
                raise InputError(
                    "phasors", "is nested too deeply to be a phasor file", source=source
                ) from None
            except ValueError as exc:  # an integer of thousands of digits (int max str digits)
                raise InputError(
                    "phasors", f"holds a number too long to read ({str(exc)[:60]})", source=source
                ) from None
        if not isinstance(obj, dict):
            raise InputError(
                "phasors",
                "must be a JSON object",
                allowed='{"voltages": {"A": [volts, angle_deg], ...}, "currents": {"A": [amps, angle_deg], ...}}',
                source=source,
                found=_short(obj),
            )
        unknown = sorted(set(obj) - {"voltages", "currents"})
        if unknown:
            raise InputError(unknown[0], "unknown key", allowed="voltages, currents", source=source)
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for group in ("voltages", "currents"):
            if group not in obj:
                raise InputError(
                    group, "is missing", allowed="an object of phase: [magnitude, angle_deg]", source=source
                )
            raw = obj[group]
            if not isinstance(raw, dict):
                raise InputError(
                    group,
                    "must be an object of phase: [magnitude, angle_deg]",
                    source=source,
                    found=_short(raw),
                )
            parsed = {}
            for phase, pair in raw.items():
                where = f"{group}.{phase}"
                if phase not in PHASES:
                    raise InputError(where, "unknown phase", allowed=PHASES, source=source, found=phase)
                if not isinstance(pair, list) or len(pair) != 2:
                    raise InputError(
                        where, "must be a list [magnitude, angle_deg]", source=source, found=_short(pair)
                    )
                parsed[phase] = (
                    _number(pair[0], f"{where}[0]", source, group, minimum=0.0),
                    _number(pair[1], f"{where}[1]", source, "angle_deg"),
                )
            out[group] = parsed
        return cls(out["voltages"], out["currents"], source)

    @classmethod
    def from_csv(cls, text: str, source: str = "phasors.csv") -> Phasors:
        """Parse the CSV form (header ``quantity,phase,magnitude,angle_deg``); errors name line and column."""
        rows = []
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            for row in reader:
                if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#"):
                    rows.append((reader.line_num, row))
        except csv.Error as exc:
            raise InputError(
                "row", f"is not valid CSV: {exc}", source=f"{source} line {reader.line_num}"
            ) from exc
        if not rows:
            raise InputError("header", "the file is empty", allowed=",".join(CSV_HEADER), source=source)
        n0, header = rows[0]
        if tuple(c.strip().lower() for c in header) != CSV_HEADER:
            raise InputError(
                "header",
                "unexpected columns",
                allowed=",".join(CSV_HEADER),
                source=f"{source} line {n0}",
                found=",".join(header),
            )
        groups: dict[str, dict[str, tuple[float, float]]] = {"voltages": {}, "currents": {}}
        for n, row in rows[1:]:
            where = f"{source} line {n}"
            if len(row) != len(CSV_HEADER):
                raise InputError(
                    "row",
                    f"needs {len(CSV_HEADER)} columns",
                    allowed=",".join(CSV_HEADER),
                    source=where,
                    found=",".join(row),
                )
            quantity, phase, mag, ang = (c.strip() for c in row)
            group = {"V": "voltages", "I": "currents"}.get(quantity.upper())
            if group is None:
                raise InputError("quantity", "unknown quantity", allowed="V, I", source=where, found=quantity)
            phase = phase.upper()
            if phase not in PHASES:
                raise InputError("phase", "unknown phase", allowed=PHASES, source=where, found=row[1].strip())
            if phase in groups[group]:
                raise InputError("phase", f"{quantity.upper()} on {phase} is given twice", source=where)
            groups[group][phase] = (
                _number(_float_text(mag), "magnitude", where, group, minimum=0.0, text=mag),
                _number(_float_text(ang), "angle_deg", where, "angle_deg", text=ang),
            )
        return cls(groups["voltages"], groups["currents"], source)

    @classmethod
    def from_complex(
        cls,
        voltages: Mapping[str, complex],
        currents: Mapping[str, complex],
        source: str = "simulation",
        *,
        reference_a: bool = True,
    ) -> Phasors:
        """Phasors from complex values (lagging convention), e.g. a simulated service.

        With ``reference_a`` the angles are turned so that the phase-A voltage the meter sees reads 0 deg,
        as a reference standard shows them (also when that voltage is reversed).
        """
        ref = lag_deg(voltages["A"]) if reference_a and abs(voltages.get("A", 0j)) > 0 else 0.0
        return cls(
            {p: (abs(z), (lag_deg(z) - ref) % 360.0 if z else 0.0) for p, z in voltages.items()},
            {p: (abs(z), (lag_deg(z) - ref) % 360.0 if z else 0.0) for p, z in currents.items()},
            source,
        )

    def to_dict(self) -> dict:
        """The JSON input form of these phasors."""
        return {
            "voltages": {p: [m, a] for p, (m, a) in sorted(self.voltages.items())},
            "currents": {p: [m, a] for p, (m, a) in sorted(self.currents.items())},
        }


def _short(obj: object) -> object:
    text = repr(obj)
    return obj if len(text) <= 60 else text[:57] + "..."


def _float_text(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def _number(
    value: object,
    where: str,
    source: str,
    what: str,
    *,
    minimum: float | None = None,
    text: str | None = None,
) -> float:
    unit = {"voltages": "volts", "currents": "amps"}.get(what, "degrees")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            where, f"must be a number ({unit})", source=source, found=text if text is not None else value
        )
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        finite = False
    if not finite:
        raise InputError(where, f"must be a finite number ({unit})", source=source, found=_short(value))
    if minimum is not None and value < minimum:
        raise InputError(
            where, f"must not be negative ({unit})", allowed=f">= {minimum:g}", source=source, found=value
        )
    return float(value)


# -------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One wiring fault: its kind and the phase (or the two phases of a crossing) it concerns."""

    kind: str
    phases: tuple[str, ...]
    factor: float | None = None  # ct_ratio / vt_ratio: what the meter sees per unit of the true value

    @property
    def code(self) -> str:
        tail = f"={self.factor:g}" if self.factor is not None else ""
        return f"{self.kind}:{'-'.join(self.phases)}{tail}"


def _delta(form: MeterForm) -> bool:
    """A 3-wire delta: voltages are only meaningful between lines, so checks use element voltages."""
    return form.service.startswith("3-phase 3-wire")


def _vt_phases(form: MeterForm) -> tuple[str, ...]:
    return tuple(e.voltage[0] for e in form.elements)


def parse_fault(code: str, form: MeterForm | None = None) -> Fault:
    """A fault from its code ("ct_reversed:B", "currents_crossed:B-C" ...), checked against ``form``."""
    if not isinstance(code, str) or ":" not in code:
        raise InputError("fault", "unknown fault code", allowed=FAULT_FORMS, found=code)
    kind, _, rest = code.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise InputError("fault", "unknown fault code", allowed=FAULT_FORMS, found=code)
    factor = None
    if kind in RATIO_CODES:
        rest, _, raw = rest.partition("=")
        try:
            factor = float(raw)
        except ValueError:
            factor = math.nan
        if not (math.isfinite(factor) and 0 < factor <= 100):
            raise InputError(
                "fault", f"{kind} needs a factor > 0 (e.g. {kind}:B=2.0)", allowed=FAULT_FORMS, found=code
            )
    phases = tuple(p.strip().upper() for p in rest.split("-"))
    want = 2 if kind in ("currents_crossed", "voltages_crossed") else 1
    if len(phases) != want or len(set(phases)) != want:
        raise InputError("fault", f"{kind} needs {want} different phase(s)", allowed=FAULT_FORMS, found=code)
    if form is None:
        allowed = PHASES
    elif kind in ("vt_reversed", "vt_ratio"):
        allowed = _vt_phases(form)
    elif kind == "voltages_crossed":
        allowed = form.voltage_phases
    elif kind == "voltage_missing":
        allowed = _vt_phases(form) if _delta(form) else form.voltage_phases
    else:
        allowed = form.current_phases
    for p in phases:
        if p not in allowed:
            where = f" on form {form.name}" if form is not None else ""
            raise InputError("fault", f"{kind}{where} has no phase {p!r}", allowed=allowed, found=code)
    return Fault(kind, phases, factor)


def apply_faults(
    form: MeterForm, voltages: Mapping[str, complex], currents: Mapping[str, complex], faults: Iterable[str]
) -> tuple[dict[str, complex], dict[str, complex]]:
    """The per-phase voltages and currents the meter (and a reference at the meter) sees with ``faults``.

    A reversed VT reverses the voltage its element sees: on a wye phase the phase voltage is negated; on a
    delta element (A-B of 5S) the phase voltage is reflected about the common phase; on a single coil
    across two lines (2S) the two lines' voltages are swapped. Crossed voltages swap the two phases' potential
    leads at the meter. A CT ratio fault scales the phase's current by its factor (a CT of the wrong ratio:
    ``ct_ratio:B=2.0`` = the meter sees twice B's current); a VT ratio fault scales the voltage across the
    element fed from the phase (to neutral on a wye, to the common phase on a delta). Faults apply in order.
    """
    v = dict(voltages)
    i = dict(currents)
    for code in faults:
        f = parse_fault(code, form)
        p = f.phases[0]
        if f.kind == "ct_reversed":
            i[p] = -i.get(p, 0j)
        elif f.kind == "current_missing":
            i[p] = 0j
        elif f.kind == "currents_crossed":
            q = f.phases[1]
            i[p], i[q] = i.get(q, 0j), i.get(p, 0j)
        elif f.kind == "voltages_crossed":
            q = f.phases[1]
            v[p], v[q] = v.get(q, 0j), v.get(p, 0j)
        elif f.kind == "ct_ratio":
            i[p] = f.factor * i.get(p, 0j)
        elif f.kind == "vt_ratio":
            to = next((e.voltage[1] for e in form.elements if e.voltage[0] == p), "N")
            base = 0j if to == "N" else v.get(to, 0j)  # the element's other end stays where it is
            v[p] = base + f.factor * (v.get(p, 0j) - base)
        elif f.kind == "voltage_missing":
            # the potential coil fed from p sees nothing: on a wye p drops to the neutral, on a delta to
            # the common phase its element is referred to
            to = next((e.voltage[1] for e in form.elements if e.voltage[0] == p), "N")
            v[p] = 0j if to == "N" or not _delta(form) else v.get(to, 0j)
        else:  # vt_reversed
            element = next(e for e in form.elements if e.voltage[0] == p)
            to = element.voltage[1]
            shared = sum(to in e.voltage for e in form.elements) > 1
            if to == "N":
                v[p] = -v.get(p, 0j)
            elif shared:
                v[p] = 2 * v.get(to, 0j) - v.get(p, 0j)
            else:
                v[p], v[to] = v.get(to, 0j), v.get(p, 0j)
    return v, i


# -------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ElementPower:
    """What one element registers: ``phase`` is its socket position (A left, B centre, C right)."""

    phase: str
    watts: float
    sign: str  # "+", "-" or "0"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the wiring, with what a technician should check."""

    code: str
    phases: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class WiringReport:
    """The outcome of :func:`analyse`; ``to_dict`` is the JSON contract of ``meterbench diagnose``."""

    form: str
    rotation: str  # "ABC", "CBA" or "unknown"
    elements: tuple[ElementPower, ...]
    registration_percent: float | None
    findings: tuple[Finding, ...]
    load_angle_deg: float | None = None
    codes: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        reg = self.registration_percent
        return {
            "rotation": self.rotation,
            "elements": [
                {"phase": e.phase, "watts": round(e.watts, 3) + 0.0, "sign": e.sign} for e in self.elements
            ],
            "registration_percent": None if reg is None else round(reg, 2) + 0.0,  # + 0.0: no "-0.0"
            "findings": [
                {"code": f.code, "phases": list(f.phases), "message": f.message} for f in self.findings
            ],
        }


# ------------------------------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class _Fit:
    rotation: str
    vt: tuple[int, ...]  # per element: -1 where its potential is reversed
    ct: tuple[int, ...]  # per current coil position: -1 where its current is reversed
    perm: tuple[int, ...]  # position k carries the line current of position perm[k]
    theta0: float  # common reference rotation of the expected phasors, lagging degrees
    phi: float  # common load angle, lagging degrees
    misfit: float  # sum of angular misfits, degrees
    faults: frozenset[Fault]

    @property
    def moved(self) -> int:
        return sum(1 for k, j in enumerate(self.perm) if k != j)

    @property
    def n_faults(self) -> int:
        # two crossed currents are one mistake; rolling three takes three misplaced leads
        moved = self.moved
        crossing = 1 if moved == 2 else moved
        return sum(s < 0 for s in self.vt) + sum(s < 0 for s in self.ct) + crossing

    @property
    def score(self) -> float:
        return _FAULT_COST_DEG * self.n_faults + self.misfit


def _median_angle(angles: list[float]) -> float:
    """A circular median: the mean of two angles, otherwise the one nearest all others (L1)."""
    if not angles:
        return 0.0
    if len(angles) == 2:
        return wrap180(angles[0] + wrap180(angles[1] - angles[0]) / 2)
    return min(angles, key=lambda c: sum(abs(wrap180(a - c)) for a in angles))


def _series_parallel_unit(form: MeterForm) -> tuple[dict[str, complex], dict[str, complex]]:
    """Phase voltages and line currents of a single-phase series-parallel hook-up: one voltage across
    every potential coil, one current through every current coil in its designed polarity."""
    pot: dict[str, complex] = {"N": 0j} if any("N" in e.voltage for e in form.elements) else {}
    pending = [e.voltage for e in form.elements]
    while pending:
        progressed = False
        for a, b in list(pending):
            if a in pot or b in pot:
                pot.setdefault(b, pot.get(a, 0j) - 1.0)
                pot.setdefault(a, pot[b] + 1.0)
                pending.remove((a, b))
                progressed = True
        if not progressed:  # nothing anchored yet (2S: A-B only): centre the coil on zero
            a, b = pending[0]
            pot[a], pot[b] = 0.5 + 0j, -0.5 + 0j
    amps = {c.phase: complex(c.polarity) for e in form.elements for c in e.coils}
    return {p: pot.get(p, 0j) for p in form.voltage_phases}, amps


def _unit_directions(form: MeterForm, rotation: str):
    """Lagging angles of each element voltage, each line current and each phase voltage, correct wiring.

    ``rotation`` is "ABC", "CBA" or "series" (a single-phase series-parallel bench hook-up).
    """
    if rotation == "series":
        volts, amps = _series_parallel_unit(form)
    else:
        volts, amps = correct_service(form, form.nominal_voltages[0], 1.0, 0.0, rotation)
    elements = [lag_deg(ve) for _, ve, _ in element_phasors(form, volts, amps)]
    return elements, {p: lag_deg(z) for p, z in amps.items()}, {p: lag_deg(z) for p, z in volts.items()}


def analyse(
    form: MeterForm,
    phasors: Phasors,
    *,
    convention: str = "lagging",
    voltage_tolerance_pct: float = 10.0,
    angle_envelope_deg: float = 45.0,
    min_current_a: float | None = None,
    hookup: str = "service",
    supply: Phasors | None = None,
    ratio_tolerance_pct: float = 2.0,
) -> WiringReport:
    """Diagnose the wiring of ``form`` from measured ``phasors`` (see the module docstring for the method).

    ``voltage_tolerance_pct``: each voltage must be within this percentage of phase A's.
    ``angle_envelope_deg``: each current must sit within this many degrees of where the load angle puts it.
    ``min_current_a``: a current below this is missing (default: below 5 % of the largest current).
    ``hookup``: "service" for a polyphase service or three-phase bench source; "series" for a single-phase
    series-parallel bench, where every element should see the same voltage and current (rotation is then
    "unknown" and crossed currents cannot be seen).
    ``supply``: the phasors the reference measures at the board (same form, same convention), when
    ``phasors`` are one socket's. Then (5) the socket is compared with its supply: a socket whose rotation
    differs from the supply's has two potential leads crossed (``voltages_crossed``, instead of a rotation
    finding: seen from the socket alone it reads as a CBA service with crossed currents), and an element
    voltage or a current whose magnitude differs from the supply's by more than ``ratio_tolerance_pct``
    is a VT or CT of the wrong ratio (``vt_ratio`` / ``ct_ratio``, the factor in the message).
    """
    src = phasors.source or None
    if hookup not in HOOKUPS:
        raise InputError("hookup", "unknown hook-up", allowed=HOOKUPS, found=hookup)
    if convention not in CONVENTIONS:
        raise InputError("convention", "unknown angle convention", allowed=CONVENTIONS, found=convention)
    if not (isinstance(voltage_tolerance_pct, int | float) and 0 < voltage_tolerance_pct < 100):
        raise InputError(
            "voltage tolerance", "must be a percentage", allowed="0 < pct < 100", found=voltage_tolerance_pct
        )
    if not (isinstance(angle_envelope_deg, int | float) and 0 < angle_envelope_deg < 180):
        raise InputError(
            "angle envelope", "must be in degrees", allowed="0 < deg < 180", found=angle_envelope_deg
        )
    if min_current_a is not None and not (isinstance(min_current_a, int | float) and min_current_a >= 0):
        raise InputError("minimum current", "must be amps", allowed=">= 0", found=min_current_a)
    sgn = 1.0 if convention == "lagging" else -1.0
    for group, phases in (("voltages", form.voltage_phases), ("currents", form.current_phases)):
        given = getattr(phasors, group)
        for p in phases:
            if p not in given:
                raise InputError(
                    f"{group}.{p}",
                    f"is missing: form {form.name} needs {group} on {', '.join(phases)}",
                    source=src,
                )
    vin = {p: phasor(*_lagging(phasors.voltages[p], sgn)) for p in form.voltage_phases}
    positions = form.current_phases
    iin = {p: phasor(*_lagging(phasors.currents[p], sgn)) for p in positions}

    def shown(lag: float) -> str:  # an angle as the technician's reference shows it
        return f"{(sgn * lag) % 360.0:.0f} deg"

    measured = element_phasors(form, vin, iin)
    e_volts = [ve for _, ve, _ in measured]
    elem_va = [abs(ve) * abs(ie) for _, ve, ie in measured]
    watts = [power(ve, ie).real for _, ve, ie in measured]
    va_max = max(elem_va, default=0.0)
    elements = tuple(
        ElementPower(
            e.name, w, "0" if va_max == 0 or abs(w) <= _SIGN_FRACTION * va_max else ("+" if w > 0 else "-")
        )
        for (e, _, _), w in zip(measured, watts, strict=True)
    )

    # presence of voltages (per phase, or per element on a delta) and currents
    delta = _delta(form)
    points = {e.voltage[0]: abs(ve) for e, ve, _ in measured} if delta else {p: abs(vin[p]) for p in vin}
    v_max = max(points.values(), default=0.0)
    v_missing = [p for p, m in points.items() if m == 0 or m < _VOLTAGE_MISSING_FRACTION * v_max]
    i_max = max((abs(z) for z in iin.values()), default=0.0)
    threshold = min_current_a if min_current_a is not None else _CURRENT_FLOWING_FRACTION * i_max
    flowing = [k for k, p in enumerate(positions) if abs(iin[p]) > 0 and abs(iin[p]) >= threshold]
    e_max = max((abs(v) for v in e_volts), default=0.0)
    fit_elements = [
        k for k, v in enumerate(e_volts) if abs(v) > 0 and abs(v) >= _VOLTAGE_MISSING_FRACTION * e_max
    ]

    if hookup == "series":
        single_phase, rotations = True, ("series",)
    else:
        single_phase = _unit_directions(form, "ABC")[:2] == _unit_directions(form, "CBA")[:2]
        rotations = ("ABC",) if single_phase else ("ABC", "CBA")
    fits = _fits(form, e_volts, [iin[p] for p in positions], fit_elements, flowing, rotations)
    best = fits[0] if fits else None
    alternatives = [
        f
        for f in fits[1:]
        if best is not None
        and f.misfit <= best.misfit + _TIE_DEG
        and f.n_faults <= best.n_faults + 1
        and f.faults != best.faults
    ]
    undecided = best is None or any(
        f.rotation != best.rotation and f.n_faults <= best.n_faults for f in alternatives
    )
    rotation = "unknown" if undecided or single_phase or not (fit_elements or flowing) else best.rotation

    findings: list[Finding] = []
    words = _Words(form)
    # (1) polarity, cross-phase, energy flow
    if best is not None and best.faults:
        units = _unit_directions(form, best.rotation)
        all_negative = all(e.sign == "-" for e in elements)
        alt_text = _alternatives_text(words, form, best, alternatives)
        export_said = False
        for fault in sorted(best.faults, key=lambda f: (POLARITY_CODES.index(f.kind), f.phases)):
            msg = words.describe(fault, best, e_volts, iin, positions, units, shown, rotation)
            if fault.kind == "ct_reversed" and all_negative and not export_said:
                msg += " If this site exports energy (generation), reversed flow on every element can be genuine."
                export_said = True
            findings.append(Finding(fault.kind, fault.phases, msg + alt_text))
    supply_report = None
    if supply is not None:
        supply_report = analyse(form, supply, convention=convention, hookup=hookup)
    crossed_here = (
        supply_report is not None
        and "unknown" not in (rotation, supply_report.rotation)
        and rotation != supply_report.rotation
    )
    if crossed_here:
        findings.append(
            Finding(
                "voltages_crossed",
                (),
                f"The voltages at this meter run {rotation} while the supply at the board runs "
                f"{supply_report.rotation}: two potential leads to this socket are crossed (the currents then "
                "look crossed too). Check the potential leads from the test switch to the meter.",
            )
        )
    elif rotation == "CBA":
        b_or_c = "B" if "B" in form.voltage_phases else "C"
        findings.append(
            Finding(
                "rotation_cba",
                (),
                f"Phase rotation is CBA (3-2-1): the {b_or_c} voltage sits where ABC would put "
                f"{'C' if b_or_c == 'B' else 'B'}. A Blondel meter registers correctly either way; confirm the "
                "service is meant to be CBA (utility records) and that the phase labels at the meter match the "
                "service's.",
            )
        )
    # (2) voltages
    for p in sorted(v_missing):
        others = [m for q, m in points.items() if q not in v_missing]
        typical = f"; the others read about {sum(others) / len(others):.1f} V" if others else ""
        findings.append(
            Finding(
                "voltage_missing",
                (p,),
                f"No voltage on {p} (reads {points[p]:.1f} V{typical}). Check the {words.vt} fuse on {p}, the "
                f"potential test switch and the potential lead from {p} to the meter.",
            )
        )
    present = [p for p in points if p not in v_missing]
    if len(present) > 1:
        ref = "A" if "A" in present else present[0]
        for p in present:
            if p == ref:
                continue
            dev = 100.0 * (points[p] / points[ref] - 1.0)
            if abs(dev) > voltage_tolerance_pct:
                findings.append(
                    Finding(
                        "voltage_out_of_tolerance",
                        (p,),
                        f"Voltage on {p} is {points[p]:.1f} V, {abs(dev):.1f} % {'above' if dev > 0 else 'below'} "
                        f"{ref} ({points[ref]:.1f} V); allowed +-{voltage_tolerance_pct:g} %. Check the {words.vt} "
                        f"on {p} (ratio, fuse), a loose potential connection, or a heavily unbalanced service.",
                    )
                )
    # (3) currents
    if not flowing:
        findings.append(
            Finding(
                "no_load",
                (),
                "No current flows (no load), so polarity and registration cannot be checked. Apply load, "
                "or check that the CT shorting switches are open.",
            )
        )
    else:
        typical = sum(abs(iin[positions[k]]) for k in flowing) / len(flowing)
        for k, p in enumerate(positions):
            if k not in flowing:
                findings.append(
                    Finding(
                        "current_missing",
                        (p,),
                        f"No current on {p} ({abs(iin[p]):.3f} A) while the others carry about {typical:.3g} A. "
                        f"Check that the shorting switch for {p} is open, the {words.ct} secondary leads on {p} "
                        f"and that {p} carries load.",
                    )
                )
    # (4) angles, only when (1) found no polarity or cross-phase fault
    if best is not None and not best.faults and flowing:
        units = _unit_directions(form, best.rotation)
        for k in flowing:
            p = positions[k]
            expected = units[1][p] + best.theta0 + best.phi
            off = wrap180(lag_deg(iin[p]) - expected)
            if abs(off) > angle_envelope_deg:
                findings.append(
                    Finding(
                        "angle_out_of_envelope",
                        (p,),
                        f"Current on {p} sits at {shown(lag_deg(iin[p]))}, {abs(off):.0f} deg from where the load "
                        f"angle of the other phases puts it ({shown(expected)}); allowed +-{angle_envelope_deg:g} "
                        f"deg. Check that the {words.ct} on {p} is on phase {p}'s conductor and not another "
                        f"circuit's, and whether the load on {p} is unusual.",
                    )
                )

    # (5) against the supply: magnitudes of element voltages and currents
    if supply is not None:
        findings += _ratio_findings(form, measured, iin, supply, sgn, ratio_tolerance_pct, words)

    registration = _registration(form, best, measured, vin, iin, positions, flowing, v_missing, delta, watts)
    return WiringReport(
        form=form.name,
        rotation=rotation,
        elements=elements,
        registration_percent=registration,
        findings=tuple(findings),
        load_angle_deg=(round(best.phi, 6) + 0.0 if best is not None and flowing else None),
        codes=tuple(f.code for f in findings),
    )


def _ratio_findings(
    form, measured, iin, supply: Phasors, sgn: float, tolerance_pct: float, words
) -> list[Finding]:
    """VT / CT ratio faults: an element voltage or a current at the socket against the supply's."""
    s_volts = {p: phasor(*_lagging(supply.voltages[p], sgn)) for p in form.voltage_phases}
    s_amps = {p: phasor(*_lagging(supply.currents[p], sgn)) for p in form.current_phases}
    out = []
    pairs = [("vt_ratio", e.voltage[0], abs(ve), abs(se)) for (e, ve, _), (_, se, _) in
             zip(measured, element_phasors(form, s_volts, s_amps), strict=True)]  # fmt: skip
    pairs += [("ct_ratio", p, abs(iin[p]), abs(s_amps[p])) for p in form.current_phases]
    for kind, p, here, there in pairs:
        if there <= 0 or here <= 0:
            continue  # missing: findings (2) and (3) say so
        factor = here / there
        if abs(factor - 1.0) * 100.0 > tolerance_pct:
            what = f"the {words.vt} on {p}" if kind == "vt_ratio" else f"the {words.ct} on {p}"
            quantity = "voltage" if kind == "vt_ratio" else "current"
            out.append(
                Finding(
                    kind,
                    (p,),
                    f"The meter sees {factor:.3g} x the supply's {quantity} on {p} ({here:.4g} against "
                    f"{there:.4g}): check the ratio of {what} (nameplate, tap, multiplier).",
                )
            )
    return out


def _lagging(pair: tuple[float, float], sgn: float) -> tuple[float, float]:
    return pair[0], sgn * pair[1]


def _fits(
    form: MeterForm,
    e_volts: list[complex],
    currents: list[complex],
    fit_elements: list[int],
    flowing: list[int],
    rotations: tuple[str, ...],
) -> list[_Fit]:
    """Every explanation of the phasors, best (fewest faults, then smallest misfit) first."""
    positions = form.current_phases
    vt_phase = _vt_phases(form)
    e_lag = [lag_deg(v) for v in e_volts]
    i_lag = [lag_deg(i) for i in currents]
    out = []
    for rotation in rotations:
        u_elem, u_line, _ = _unit_directions(form, rotation)
        for vt in _signs(len(e_volts), fit_elements):
            offsets = [wrap180(e_lag[k] - u_elem[k] - (180.0 if vt[k] < 0 else 0.0)) for k in fit_elements]
            theta0 = _median_angle(offsets)
            v_misfit = sum(abs(wrap180(o - theta0)) for o in offsets)
            for ct in _signs(len(positions), flowing):
                perms = itertools.permutations(range(len(positions)))
                if rotation == "series":  # every coil carries the same current: a crossing is invisible
                    perms = [tuple(range(len(positions)))]
                for perm in perms:
                    offs = [
                        wrap180(
                            i_lag[k] - u_line[positions[perm[k]]] - (180.0 if ct[k] < 0 else 0.0) - theta0
                        )
                        for k in flowing
                    ]
                    phi = _median_angle(offs)
                    if not -90.0 < phi <= 90.0:
                        continue  # energy would flow from the meter's load side: not a correct-wiring fit
                    misfit = v_misfit + sum(abs(wrap180(o - phi)) for o in offs)
                    faults = {Fault("vt_reversed", (vt_phase[k],)) for k in range(len(vt)) if vt[k] < 0}
                    faults |= {Fault("ct_reversed", (positions[k],)) for k in range(len(ct)) if ct[k] < 0}
                    faults |= _crossings(perm, positions)
                    out.append(_Fit(rotation, vt, ct, perm, theta0, phi, misfit, frozenset(faults)))
    out.sort(key=lambda f: f.score)
    if out:
        # among equally good explanations prefer reversals to crossings, CTs to VTs (the commoner field
        # faults) and a load angle nearer unity, lagging before leading (crossing two currents and turning
        # the load angle by 120 deg can look the same); the others are named in the finding's message
        ties = [f for f in out if f.score <= out[0].score + _TIE_DEG / 4]
        first = min(
            ties,
            key=lambda f: (
                f.moved,
                sum(s < 0 for s in f.vt),
                round(f.phi if f.phi >= 0 else -1.5 * f.phi),
                f.rotation != "ABC",
                f.score,
            ),
        )
        out.remove(first)
        out.insert(0, first)
    return out


def _signs(n: int, free: list[int]):
    """Every +-1 assignment to the ``free`` positions of ``n`` (the others stay +1)."""
    for combo in itertools.product((1, -1), repeat=len(free)):
        signs = [1] * n
        for k, s in zip(free, combo, strict=True):
            signs[k] = s
        yield tuple(signs)


def _crossings(perm: tuple[int, ...], positions: tuple[str, ...]) -> set[Fault]:
    out, seen = set(), set()
    for start in range(len(perm)):
        if start in seen or perm[start] == start:
            continue
        cycle, k = [], start
        while k not in seen:
            seen.add(k)
            cycle.append(positions[k])
            k = perm[k]
        out.add(Fault("currents_crossed", tuple(sorted(cycle))))
    return out


def _registration(
    form: MeterForm,
    best: _Fit | None,
    measured: list[tuple[Element, complex, complex]],
    vin: dict[str, complex],
    iin: dict[str, complex],
    positions: tuple[str, ...],
    flowing: list[int],
    v_missing: list[str],
    delta: bool,
    watts: list[float],
) -> float | None:
    """Registered watts over what correct wiring would register at the same load, in percent."""
    if best is None or not flowing or len(v_missing) == len(measured if delta else vin):
        return None
    u_elem, u_line, u_phase = _unit_directions(form, best.rotation)
    rot_v = phasor(1.0, best.theta0)
    rot_i = phasor(1.0, best.theta0 + best.phi)
    if delta:
        present = [abs(ve) for e, ve, _ in measured if e.voltage[0] not in v_missing]
        mean_v = sum(present) / len(present)
        e_true = [
            best.vt[k] * ve if e.voltage[0] not in v_missing else mean_v * phasor(1.0, u_elem[k]) * rot_v
            for k, (e, ve, _) in enumerate(measured)
        ]
    else:
        present = [abs(z) for p, z in vin.items() if p not in v_missing]
        mean_v = sum(present) / len(present)
        v_true = {
            p: z if p not in v_missing else mean_v * phasor(1.0, u_phase[p]) * rot_v for p, z in vin.items()
        }
        e_true = [best.vt[k] * ve for k, (_, ve, _) in enumerate(element_phasors(form, v_true, {}))]
    i_true: dict[str, complex] = {}
    for k in flowing:
        i_true[positions[best.perm[k]]] = best.ct[k] * iin[positions[k]]
    mean_i = sum(abs(iin[positions[k]]) for k in flowing) / len(flowing)
    for p in positions:
        i_true.setdefault(p, mean_i * phasor(1.0, u_line[p]) * rot_i)
    correct = 0.0
    for (e, _, _), ve in zip(measured, e_true, strict=True):
        ie = sum((c.polarity * c.share * i_true[c.phase] for c in e.coils), 0j)
        correct += power(ve, ie).real
    scale = sum(abs(v) * abs(i) for _, v, i in measured) or 1.0
    if abs(correct) < 1e-9 * scale:
        return None
    return 100.0 * sum(watts) / correct


def _angle_words(phi: float) -> str:
    return "in phase" if round(phi) == 0 else f"{abs(phi):.0f} deg {'lagging' if phi > 0 else 'leading'}"


def _and(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class _Words:
    """Plain-language names for what a technician checks on this form."""

    def __init__(self, form: MeterForm) -> None:
        self.form = form
        self.ct = "CT" if form.transformer_rated else "current lead"
        self.vt = "VT" if form.transformer_rated else "potential lead"

    def short(self, fault: Fault) -> str:
        p = fault.phases
        if fault.kind == "ct_reversed":
            return f"the {self.ct} on {p[0]} is reversed"
        if fault.kind == "vt_reversed":
            return f"the {self.vt} on {p[0]} is reversed"
        return f"the currents of {_and(p)} are {'crossed' if len(p) == 2 else 'rolled'}"

    def describe(self, fault, best, e_volts, iin, positions, units, shown, rotation) -> str:
        p = fault.phases
        if fault.kind == "ct_reversed":
            k = positions.index(p[0])
            expected = units[1][positions[best.perm[k]]] + best.theta0 + best.phi
            text = (
                f"The current on {p[0]} is reversed: it reads {shown(lag_deg(iin[p[0]]))}, about 180 deg from "
                f"where it belongs ({shown(expected)}), while its voltage is in place. "
            )
            if self.form.transformer_rated:
                return text + (
                    f"Check the CT on {p[0]}: polarity mark (dot) toward the source, and its two secondary leads "
                    "not swapped at the test switch or meter."
                )
            return (
                text
                + f"Check the current connections of {p[0]}: line and load side not swapped at the socket."
            )
        if fault.kind == "vt_reversed":
            k = [e.voltage[0] for e in self.form.elements].index(p[0])
            expected = units[0][k] + best.theta0
            where = f"{rotation} rotation" if rotation != "unknown" else "correct wiring"
            return (
                f"The voltage on {p[0]} is reversed: element {self.form.elements[k].name} sees it at "
                f"{shown(lag_deg(e_volts[k]))} where {where} puts it ({shown(expected)}), "
                "while its current is in place. "
                + (
                    f"Check the VT on {p[0]}: polarity and its two secondary leads at the test switch or meter."
                    if self.form.transformer_rated
                    else f"Check the potential connection of {p[0]}: its two ends not swapped at the socket."
                )
            )
        carried = {positions[k]: positions[best.perm[k]] for k in range(len(positions)) if best.perm[k] != k}
        pairs = ", ".join(f"the {q} coil carries {r}'s current" for q, r in sorted(carried.items()))
        return (
            f"The currents of {_and(p)} are {'crossed' if len(p) == 2 else 'rolled'}: {pairs}. Check "
            f"which {self.ct} feeds which element at the test switch: each phase's {self.ct} must feed the "
            "element whose voltage is that phase's."
        )


def _alternatives_text(words: _Words, form: MeterForm, best: _Fit, alternatives: list[_Fit]) -> str:
    if not alternatives:
        return ""
    options = []
    for alt in alternatives:
        text = _and([words.short(f) for f in sorted(alt.faults, key=lambda f: (f.kind, f.phases))] or [""])
        if not text:
            text = "the wiring is correct"
        if abs(wrap180(alt.phi - best.phi)) > 5.0:
            text += f" with the load current {_angle_words(alt.phi)} instead of {_angle_words(best.phi)}"
        if text not in options:
            options.append(text)
    why = (
        "with one element the phasors cannot tell which"
        if form.n_elements == 1
        else "the phasors cannot tell which"
    )
    return " Or " + "; or ".join(options) + f": {why}."
