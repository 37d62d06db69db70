"""Test plans as data: what points a test runs, in what order, against which limits.

A plan is a TOML file (the built-in ones are in ``procedures/data/plans``; a shop copies one and edits
it). Points give currents as fractions of TA (ANSI) or of Ib/In/Imax (IEC) and cite a limit entry in a
limit table, so the limit and its provenance come from the tables, never from the plan.
:meth:`Plan.resolve` turns a plan into amperes and volts for one meter (form, class, TA, voltage).

Conventions:
- ``lag_deg`` is the current's lag behind its voltage, lagging positive: PF 0.5 lag = 60, PF 0.8
  capacitive (leading) = -36.87.
- ``limit_percent`` is a symmetric +- limit on the percent error (error = %R - 100, %R = 100 x meter
  energy / reference energy, positive = meter fast). It is None for points whose limit is not a percent
  (starting current, creep pulses, wiring angle): ``limit_value``/``limit_unit`` carry those.
- ``quantity`` is the energy the point measures: "active" (Wh, the default), "reactive" (varh) or "apparent"
  (VAh); the meter's test output and the reference's pulses are set to that quantity. For a reactive point
  ``lag_deg`` is the current's lag as for any point: 90 = sin phi 1 inductive, 30 = sin phi 0.5 inductive,
  -30 = sin phi 0.5 capacitive.
- ``direction`` is "delivered" (energy to the customer, the default) or "received" (energy from the
  customer, a net-metering meter's export). A received point's ``lag_deg`` is measured from the REVERSED
  current, so "FL received" is lag 0 like "FL delivered"; the source is asked lag + 180 deg
  (:attr:`ResolvedPoint.source_lag_deg`). Errors keep one sign convention in both directions: %R = 100 x
  energy the meter registered in that direction / the reference's energy, positive = meter fast.
- ``frequency_hz``: the plan's supply frequency (50 or 60; absent = the bench's default), and per point a
  frequency of its own (a frequency influence point). The kernel refuses a frequency the source's declared
  range does not cover before anything is energised.
- ``both_directions = true`` (a plan for bidirectional meters): every accuracy point labelled FL, LL or PF
  is followed by its received twin (id ``<id>-rcv``, label ``<label> rcv``).
- An ``influence`` point measures the error at the reference condition (nominal voltage, the plan's
  frequency, no harmonics) and then with the point's ``voltage``, ``frequency_hz`` or ``harmonics``
  changed, on the same positions back to back; its limit is on the VARIATION of error between the two,
  as IEC influence limits are defined.
- ``test_time`` (plan-level for its accuracy points, or per accuracy point): "fixed" (the default) runs the
  readings and settle_s as written; "from-uncertainty" takes the least bench time whose expanded U stays
  within target_share x limit, on the bench's own repeatability pooled from its records (then ``readings``
  is the most the point may take), settling on measured stability alone; a bench with no history at
  comparable points runs the point as written, and its certificate says which basis was used.
- ``element = "series"`` loads every element; "A"/"B"/"C" loads one element (its pulse count is divided
  by the number of elements: ``pulse_divisor``); "each" in a plan file expands to one point per element
  of a polyphase form and to nothing for a single-element form.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from procedures import bounds
from procedures.catalog import (
    AverageRule,
    Fields,
    Limit,
    LimitTable,
    Provenance,
    accuracy_class,
    average_rule,
    check_ta,
    current_class,
    limit_for,
    limit_table,
    load_limit_table,
    read_toml,
)
from procedures.errors import InputError
from procedures.forms import MeterForm, get_form

KINDS = (
    "accuracy",
    "starting",
    "creep",
    "wiring",
    "register",
    "influence",
    "demand",
    "clock",
    "tou",
    "identity",
)
QUANTITIES = ("active", "reactive", "apparent")
DIRECTIONS = ("delivered", "received")
PLAN_FREQUENCIES = (50.0, 60.0)  # a plan's supply frequency; a point may vary it (influence)
POINT_FREQUENCY_HZ = (40.0, 70.0)  # a plausible point frequency; the source's declared range decides
BOTH_DIRECTIONS_LABELS = ("FL", "LL", "PF")  # the points a both_directions plan repeats received
MAX_HARMONIC_ORDER = 63
MAX_HARMONIC_PERCENT = 100.0
REGISTER_ENTRIES = ("meter-constant", "register-resolution")  # a register point's table must have both
ELEMENTS = ("series", "A", "B", "C", "each")
BASES = ("TA", "Ib", "In", "Imax")
DECISION_RULES = ("simple", "guard-banded")
LIMIT_ROLES = ("accept", "adjust")
#: how an accuracy point's readings, pulses and settling are chosen: "fixed" = as the plan writes them;
#: "from-uncertainty" = the least bench time whose expanded U stays within target_share x limit, on the
#: bench's own pooled repeatability and measured stability (the point's readings are then the most it may
#: take, and what it takes when the bench has no history)
TEST_TIMES = ("fixed", "from-uncertainty")
PLAN_KEYS = ("id", "title", "standard", "version", "notes", "forms", "class_family", "classes",
             "decision_rule", "target_share", "limits", "limit_files", "current_of", "points", "average_rule",
             "shop_option", "frequency_hz", "both_directions", "test_time")  # fmt: skip
POINT_KEYS = ("id", "label", "kind", "element", "current", "current_of", "lag_deg", "voltage", "readings",
              "settle_s", "duration_s", "limit", "limit_role", "quantity", "direction", "frequency_hz",
              "harmonics", "tou_calendar", "test_time")  # fmt: skip
AVERAGE_KEYS = ("name", "weights", "limit")
#: the largest point current as a multiple of its base: Imax is the meter's limit; TA, Ib and In sit well
#: below Imax (CL200: TA 30 A), so a multiple above 20 is a typo; resolve() then checks against Imax.
MAX_CURRENT_MULTIPLE = {"TA": 20.0, "Ib": 20.0, "In": 20.0, "Imax": bounds.MAX_CURRENT_OF_IMAX}


def _only(f: Fields, allowed: tuple[str, ...]) -> None:
    """Refuse a key the plan format does not have, naming the nearest one (``lag_dge`` -> ``lag_deg``)."""
    import difflib

    for key in f.raw:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, 1, 0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise f.error(str(key), f"is not a {f.where.split('[')[0].split('(')[0]} key{hint}",
                          allowed=allowed, found=str(key))  # fmt: skip


def _text(f: Fields, key: str, default: object = ..., *, max_len: int = bounds.TEXT_MAX) -> str:
    """A text field, refused with control characters or bidi overrides, or when longer than ``max_len``."""
    val = f.text(key, default)
    if not isinstance(val, str):
        return val
    return bounds.text(
        f"{f.where}.{key}", val, max_len=max_len, multiline=max_len > bounds.TEXT_MAX, source=f.src
    )


ENERGY_UNITS = {"active": "Wh", "reactive": "varh", "apparent": "VAh"}
CURRENT_UNITS = {"A": None, "fraction-of-TA": "TA", "fraction-of-Ib": "Ib", "fraction-of-In": "In"}


@dataclass(frozen=True)
class LimitRef:
    table: str
    entry: str

    def __str__(self) -> str:
        return f"{self.table}:{self.entry}"


@dataclass(frozen=True)
class PlanPoint:
    """A point as written in the plan file (fractions, not amperes)."""

    id: str
    label: str
    kind: str
    element: str
    current: float | None
    current_of: str
    lag_deg: float
    voltage: float
    readings: int
    settle_s: float
    duration_s: float | None
    limit: LimitRef | None
    limit_role: str
    quantity: str = "active"
    direction: str = "delivered"
    frequency_hz: float | None = None
    harmonics: tuple[tuple[int, float, float], ...] = ()  # (order, % of fundamental on V, on I)
    tou_calendar: tuple[tuple[int, int], ...] = ()  # a TOU point: (minute of day, tier), the meter's program
    test_time: str | None = None  # None: the plan's test_time


@dataclass(frozen=True)
class AverageSpec:
    """The plan's weighted-average rule: a named rule, the limit on the average, custom weights."""

    name: str
    limit: LimitRef
    weights: tuple[tuple[str, float], ...] | None


@dataclass(frozen=True)
class ResolvedPoint:
    """One point for one meter: amperes, volts and the limit with its provenance."""

    id: str
    label: str
    kind: str
    element: str
    voltage_v: float
    current_a: float
    lag_deg: float
    limit_percent: float | None
    limit_provenance: Provenance | None
    readings: int
    settle_s: float
    duration_s: float | None
    limit: Limit | None = None
    limit_role: str = "accept"
    pulse_divisor: int = 1
    quantity: str = "active"
    direction: str = "delivered"
    frequency_hz: float | None = None  # None: the bench's default frequency
    harmonics: tuple[tuple[int, float, float], ...] = ()
    nominal_voltage_v: float | None = None  # an influence point's reference-condition voltage
    reference_frequency_hz: float | None = None  # an influence point's reference-condition frequency
    tou_calendar: tuple[tuple[int, int], ...] = ()  # a TOU point: the calendar the meter should keep
    test_time: str = "fixed"  # see TEST_TIMES

    @property
    def power_factor(self) -> float:
        return math.cos(math.radians(self.lag_deg))

    @property
    def source_lag_deg(self) -> float:
        """The current's lag the source is asked for: a received point's lag is from the reversed current."""
        if self.direction != "received":
            return self.lag_deg
        lag = (self.lag_deg + 180.0) % 360.0
        return lag - 360.0 if lag > 180.0 else lag

    @property
    def unit(self) -> str:
        """The energy unit of this point's quantity (what its meter and reference constants count)."""
        return ENERGY_UNITS[self.quantity]

    @property
    def limit_value(self) -> float | None:
        return self.limit.value if self.limit else None

    @property
    def limit_unit(self) -> str | None:
        return self.limit.unit if self.limit else None


@dataclass(frozen=True)
class ResolvedAverage:
    """The weighted-average rule ready to apply: weights by point label and the +- limit on the average."""

    rule: AverageRule
    limit_percent: float
    limit_provenance: Provenance

    @property
    def name(self) -> str:
        return self.rule.name

    def average(self, registration_by_label: dict[str, float]) -> float:
        return self.rule.average(registration_by_label)

    def metrology_rule(self):
        """The same rule as a ``procedures.metrology.averages.AverageRule`` (for ``in_service_verdict``)."""
        from procedures.metrology.averages import AverageRule as MetrologyRule

        return MetrologyRule(
            self.rule.name, self.rule.title, dict(self.rule.weights), self.rule.provenance.cite()
        )


@dataclass(frozen=True)
class ResolvedPlan:
    """A plan resolved for one meter; what the test-time planner and the engine consume."""

    plan_id: str
    version: str
    sha256: str
    title: str
    standard: str
    decision_rule: str
    target_share: float
    average_rule: ResolvedAverage | None
    form: MeterForm
    accuracy_class: str
    ta_a: float
    voltage_v: float
    points: tuple[ResolvedPoint, ...]
    current_class: str = ""
    class_id: str = ""
    ib_a: float | None = None
    in_a: float | None = None
    imax_a: float | None = None
    source: str = ""
    frequency_hz: float | None = None  # the plan's supply frequency (None: the bench's default)

    def in_service_limits(self) -> dict[str, float]:
        """Keyword arguments for ``procedures.metrology.averages.in_service_verdict`` from this plan's data:
        ``average_limit_percent`` and the adjustment thresholds at PF 1 (``adjust_pf1``) and PF 0.5
        (``adjust_pf05``) taken from its ``limit_role = "adjust"`` points. Empty without an average rule."""
        if self.average_rule is None:
            return {}
        out = {"average_limit_percent": self.average_rule.limit_percent}
        for p in self.points:
            if p.limit_role == "adjust" and p.limit_percent is not None:
                out["adjust_pf1" if abs(p.lag_deg) < 1e-9 else "adjust_pf05"] = p.limit_percent
        return out


@dataclass(frozen=True)
class Plan:
    """A test plan as loaded from its file (validated; not yet tied to a meter)."""

    id: str
    title: str
    standard: str
    version: str
    forms: tuple[str, ...]
    class_family: str
    classes: tuple[str, ...]
    decision_rule: str
    target_share: float
    average_rule: AverageSpec | None
    points: tuple[PlanPoint, ...]
    source: str
    sha256: str
    notes: str = ""
    extra_tables: tuple[LimitTable, ...] = ()
    # a shop option (e.g. the register test) run besides an acceptance plan, never chosen for a form by default
    shop_option: bool = False
    frequency_hz: float | None = None
    both_directions: bool = False
    test_time: str = "fixed"  # the accuracy points' default (TEST_TIMES)

    def _tables(self) -> dict[str, LimitTable]:
        return {t.id: t for t in self.extra_tables}

    def resolve(
        self,
        form: MeterForm | str,
        accuracy_class: str,
        *,
        ta: float | None = None,
        ib: float | None = None,
        in_: float | None = None,
        imax: float | None = None,
        voltage: float | None = None,
        current_class: str | None = None,
        average_rule: str | None = None,
    ) -> ResolvedPlan:
        """The plan in amperes and volts for one meter.

        Defaults: voltage = the form's first nominal voltage; current class = the one whose TA is ``ta``
        (else the form's typical class); TA = that class's TA; Ib = In = TA; Imax = the class current
        (CL200 -> 200 A). ``average_rule`` overrides the plan's rule by name.
        """
        form = get_form(form) if isinstance(form, str) else form
        if form.name not in self.forms:
            raise InputError("form", f"is not claimed by plan {self.id}", allowed=self.forms, found=form.name)
        acc = self._match_class(accuracy_class)
        cc = _pick_current_class(form, ta, current_class)
        ta_a = check_ta(cc.name, ta) if ta is not None else cc.ta_a
        volts = form.nominal_voltages[0] if voltage is None else _positive("voltage", voltage)
        if volts > 2 * max(form.nominal_voltages):
            raise InputError("voltage", f"is not a plausible nominal voltage for form {form.name}",
                             allowed=f"at most {2 * max(form.nominal_voltages):g} V (the form's nominal voltages: "
                             f"{', '.join(f'{v:g}' for v in form.nominal_voltages)} V)", found=voltage)  # fmt: skip
        bases = {
            "TA": ta_a,
            "Ib": ta_a if ib is None else _positive("ib", ib),
            "In": ta_a if in_ is None else _positive("in", in_),
            "Imax": cc.max_a if imax is None else _positive("imax", imax),
        }
        if bases["Imax"] < max(bases["Ib"], bases["In"]):
            raise InputError(
                "imax",
                "must not be below Ib/In",
                allowed=f">= {max(bases['Ib'], bases['In']):g} A",
                found=imax,
            )
        points = []
        for k, p in enumerate(self.points):
            for element in _elements_of(p.element, form):
                point = self._resolve_point(k, p, element, form, acc, cc.name, bases, volts)
                points.append(point)
                if self.both_directions and _twin(p, point):
                    points.append(received_twin(point))
        avg = self._resolve_average(average_rule, tuple(p.label for p in points))
        uses = {p.current_of for p in self.points}
        return ResolvedPlan(
            plan_id=self.id,
            version=self.version,
            sha256=self.sha256,
            title=self.title,
            standard=self.standard,
            decision_rule=self.decision_rule,
            target_share=self.target_share,
            average_rule=avg,
            form=form,
            accuracy_class=acc,
            ta_a=ta_a,
            voltage_v=volts,
            points=tuple(points),
            current_class=cc.name,
            class_id=f"{self.class_family}:{acc}",
            ib_a=bases["Ib"] if "Ib" in uses else None,
            in_a=bases["In"] if "In" in uses else None,
            imax_a=bases["Imax"],
            source=self.source,
            frequency_hz=self.frequency_hz,
        )

    def _match_class(self, name: str) -> str:
        text = str(name).strip()
        fam, sep, bare = text.partition(":")
        if sep and fam != self.class_family:
            text = ""
        elif sep:
            text = bare
        for c in self.classes:
            if c.lower() == text.lower():
                return c
        raise InputError(
            "accuracy_class", f"is not claimed by plan {self.id}", allowed=self.classes, found=name
        )

    def _resolve_point(
        self,
        k: int,
        p: PlanPoint,
        element: str,
        form: MeterForm,
        acc: str,
        cc: str,
        bases: dict,
        volts: float,
    ) -> ResolvedPoint:
        where = f"{self.id}.points[{k}]"
        limit = None
        if p.limit is not None:
            try:
                limit = limit_for(
                    p.limit.table,
                    p.limit.entry,
                    accuracy_class=acc,
                    current_class=cc,
                    extra_tables=self._tables(),
                )
            except InputError as exc:
                raise InputError(
                    f"{where}.limit",
                    f"limit {p.limit} {exc.problem}",
                    allowed=exc.allowed,
                    found=exc.found,
                    source=exc.source or self.source,
                ) from None
        if p.current is not None:
            amps = p.current * bases[p.current_of]
        elif p.kind == "creep" or p.kind in NO_LOAD_KINDS:
            amps = 0.0
        else:  # starting current taken from the limit table (validated at load)
            assert limit is not None
            base = CURRENT_UNITS[limit.unit]
            amps = limit.value * (bases[base] if base else 1.0)
        # against the meter's nameplate: what reaches the source is never above 1.5 x nominal or Imax
        bounds.point_voltage(f"{where}.voltage", p.voltage * volts, volts, source=self.source)
        bounds.point_current(f"{where}.current", amps, bases["Imax"], source=self.source)
        single = element != "series"
        suffix = f"-{element}" if p.element == "each" else ""
        return ResolvedPoint(
            id=p.id + suffix,
            label=p.label + suffix,
            kind=p.kind,
            element=element,
            voltage_v=round(p.voltage * volts, 9),
            current_a=round(amps, 9),
            lag_deg=p.lag_deg,
            limit_percent=limit.value if limit is not None and limit.unit == "percent" else None,
            limit_provenance=limit.provenance if limit is not None else None,
            readings=p.readings,
            settle_s=p.settle_s,
            duration_s=p.duration_s,
            limit=limit,
            limit_role=p.limit_role,
            pulse_divisor=form.n_elements if single and form.polyphase else 1,
            quantity=p.quantity,
            direction=p.direction,
            frequency_hz=p.frequency_hz if p.frequency_hz is not None else self.frequency_hz,
            harmonics=p.harmonics,
            nominal_voltage_v=volts if p.kind == "influence" else None,
            reference_frequency_hz=self.frequency_hz if p.kind == "influence" else None,
            tou_calendar=p.tou_calendar,
            test_time=(p.test_time or self.test_time) if p.kind == "accuracy" else "fixed",
        )

    def _resolve_average(self, override: str | None, labels: tuple[str, ...]) -> ResolvedAverage | None:
        spec = self.average_rule
        if spec is None:
            if override is not None:
                raise InputError("average_rule", f"plan {self.id} has no average rule", found=override)
            return None
        rule = average_rule(override or spec.name, self._tables())
        if rule.name == "custom":
            if not spec.weights:
                raise InputError(
                    "average_rule.weights", "the custom rule needs weights in the plan", source=self.source
                )
            rule = AverageRule(rule.name, rule.title, spec.weights, rule.provenance)
        missing = [lab for lab, _ in rule.weights if lab not in labels]
        if missing:
            raise InputError(
                "average_rule",
                f"rule {rule.name} weighs points this plan does not have: {', '.join(missing)}",
                allowed=labels,
                source=self.source,
            )
        lim = limit_for(spec.limit.table, spec.limit.entry, extra_tables=self._tables())
        return ResolvedAverage(rule, lim.value, lim.provenance)


def _twin(p: PlanPoint, point: ResolvedPoint) -> bool:
    return p.kind == "accuracy" and p.direction == "delivered" and p.label in BOTH_DIRECTIONS_LABELS


def received_twin(point: ResolvedPoint) -> ResolvedPoint:
    """The same point in the received direction (a both_directions plan): same load, limit and settling."""
    from dataclasses import replace

    return replace(point, id=f"{point.id}-rcv", label=f"{point.label} rcv", direction="received")


def _positive(field: str, value: object) -> float:
    try:
        val = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(field, "must be a number", found=value) from None
    if not math.isfinite(val) or val <= 0:
        raise InputError(field, "must be a positive number", found=value)
    return val


def _pick_current_class(form: MeterForm, ta: float | None, name: str | None):
    allowed = ", ".join(f"{current_class(c).ta_a:g} A ({c})" for c in form.current_classes)
    if name is not None:
        cc = current_class(name)
        if cc.name not in form.current_classes:
            raise InputError(
                "current_class",
                f"is not a class of form {form.name}",
                allowed=form.current_classes,
                found=name,
            )
        return cc
    if ta is None:
        return current_class(form.typical_class)
    ta = _positive("ta", ta)
    fits = [c for c in form.current_classes if math.isclose(current_class(c).ta_a, ta, rel_tol=1e-9)]
    if not fits:
        raise InputError(
            "ta", f"is not the TA of any current class of form {form.name}", allowed=allowed, found=ta
        )
    return current_class(form.typical_class if form.typical_class in fits else fits[0])


def _elements_of(element: str, form: MeterForm) -> tuple[str, ...]:
    if element == "each":
        return form.element_names if form.polyphase else ()
    return (element,)


# ---- meter-port kinds (issue 15): demand, clock, TOU, identity --------------------------------------------
NO_LOAD_KINDS = ("clock", "identity")  # read the meter's port; no load current
#: entry unit of each meter-port kind's limit, and the entries its table must also have
METERPORT_LIMITS = {"demand": ("percent", ("demand-resolution",)), "clock": ("s/day", ("clock-timebase",)),
                    "tou": ("kWh", ("tou-energy",))}  # fmt: skip


def _meterport_rules(f: Fields, kind: str, limit: LimitRef | None, tables: dict, current) -> None:
    if kind in NO_LOAD_KINDS and current not in (None, 0.0):
        raise f.error("current", f"a {kind} point reads the meter's port with no load", allowed="0 or omitted",
                      found=current)  # fmt: skip
    if kind not in METERPORT_LIMITS:
        return
    if limit is None:
        raise f.error("limit", f"is missing: a {kind} point needs a limit entry",
                      allowed="e.g. meterport-ansi:" + kind)  # fmt: skip
    unit, also = METERPORT_LIMITS[kind]
    table = limit_table(limit.table, tables)
    if table.entries[limit.entry].unit != unit:
        raise f.error("limit", f"a {kind} point needs a {unit} limit, not {table.entries[limit.entry].unit}",
                      found=str(limit))  # fmt: skip
    lacking = [e for e in also if e not in table.entries]
    if lacking:
        raise f.error("limit", f"limit table {limit.table!r} lacks {', '.join(lacking)} for the {kind} test",
                      allowed=", ".join(also), found=str(limit))  # fmt: skip


def _tou_calendar(f: Fields, kind: str) -> tuple[tuple[int, int], ...]:
    """A TOU point's expected daily tier switches: ``tou_calendar = [["07:00", 2], ["21:00", 1]]``."""
    if "tou_calendar" not in f.raw:
        if kind == "tou":
            raise f.error("tou_calendar", 'is missing: a TOU point states the calendar the meter should keep',
                          allowed='[["hh:mm", tier], ...]')  # fmt: skip
        return ()
    if kind != "tou":
        raise f.error("tou_calendar", "belongs to a TOU point only", found=kind)
    rows = f.get("tou_calendar", list, what='a list of ["hh:mm", tier]')
    out = []
    for j, row in enumerate(rows):  # type: ignore[arg-type]
        ok = isinstance(row, list) and len(row) == 2 and isinstance(row[0], str) and type(row[1]) is int
        hh, _, mm = row[0].partition(":") if ok else ("", "", "")
        if not (ok and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and 1 <= row[1] <= 4):
            raise f.error(f"tou_calendar[{j}]", 'must be ["hh:mm", tier] with tier 1..4', found=row)
        out.append((60 * int(hh) + int(mm), row[1]))
    if len(out) < 2 or len({t for _, t in out}) < 2:
        raise f.error("tou_calendar", "needs at least two switches to different tiers", found=rows)
    return tuple(sorted(out))


# ---- loading --------------------------------------------------------------------------------------------


def _parse_limit_ref(text: str, default_table: str | None, f: Fields, key: str, tables: dict) -> LimitRef:
    table, sep, entry = text.rpartition(":")
    if not sep:
        table, entry = default_table or "", text
    if not table:
        raise f.error(key, "names no limit table; write 'table:entry' or set the plan's 'limits'", found=text)
    try:
        t = limit_table(table, tables)
    except InputError as exc:
        raise f.error(key, "unknown limit table", allowed=exc.allowed, found=text) from None
    if entry not in t.entries:
        raise f.error(key, f"unknown entry of limit table {table}", allowed=sorted(t.entries), found=text)
    return LimitRef(table, entry)


def _parse_point(
    raw: object, k: int, plan: dict, src: str, tables: dict, forms: tuple[MeterForm, ...]
) -> PlanPoint:
    f = Fields(raw, f"points[{k}]", src)
    _only(f, POINT_KEYS)
    pid = _text(f, "id")
    f.where = f"points[{k}]({pid})"
    kind = f.choice("kind", KINDS)
    element = f.choice("element", ELEMENTS)
    if element in ("A", "B", "C"):
        lacking = [fm.name for fm in forms if element not in fm.element_names]
        if lacking:
            raise f.error(
                "element",
                f"forms {', '.join(lacking)} have no element {element}",
                allowed=ELEMENTS,
                found=element,
            )
    current = f.number("current", None, nonneg=True)
    current_of = f.choice("current_of", BASES, plan["current_of"])
    if current is not None and current > MAX_CURRENT_MULTIPLE[current_of]:
        raise f.error("current", f"must be at most {MAX_CURRENT_MULTIPLE[current_of]:g} x {current_of} (a multiple "
                      f"of the meter's {current_of}, not amperes)", found=current)  # fmt: skip
    limit = None
    if "limit" in f.raw:
        limit = _parse_limit_ref(f.text("limit"), plan["limits"], f, "limit", tables)
    elif kind in ("accuracy", "starting", "creep", "register", "influence"):
        raise f.error("limit", f"is missing: a {kind} point needs a limit entry")
    entry = limit_table(limit.table, tables).entries[limit.entry] if limit else None
    if kind == "register":
        # the register test also needs the meter-constant limit and the register's digit from the same
        # table: refuse the plan now rather than end a run as an error at its register point
        lacking = [e for e in REGISTER_ENTRIES if e not in limit_table(limit.table, tables).entries]
        if lacking:
            raise f.error("limit", f"limit table {limit.table!r} lacks {', '.join(lacking)} for the register test",
                          allowed=", ".join(REGISTER_ENTRIES), found=str(limit))  # fmt: skip
    if kind in ("accuracy", "influence") and entry is not None and entry.unit != "percent":
        raise f.error("limit", f"an {kind} point needs a percent limit, not {entry.unit}", found=str(limit))
    if kind == "creep" and current not in (None, 0.0):
        raise f.error(
            "current", "a creep (no-load) point has no current", allowed="0 or omitted", found=current
        )
    _meterport_rules(f, kind, limit, tables, current)
    if current is None and kind not in ("creep", "starting", *NO_LOAD_KINDS):
        raise f.error("current", "is missing")
    if current is None and kind == "starting" and (entry is None or entry.unit not in CURRENT_UNITS):
        raise f.error("current", "is missing and the limit entry gives no starting current", found=str(limit))
    lag = f.number("lag_deg", 0.0)
    if not -180.0 < lag <= 180.0:
        raise f.error("lag_deg", "must be in (-180, 180] degrees, lagging positive", found=lag)
    quantity = f.choice("quantity", QUANTITIES, "active")
    direction = f.choice("direction", DIRECTIONS, "delivered")
    _check_angle(f, kind, quantity, lag)
    frequency = f.number("frequency_hz", None, positive=True)
    if frequency is not None and not POINT_FREQUENCY_HZ[0] <= frequency <= POINT_FREQUENCY_HZ[1]:
        raise f.error("frequency_hz", "is not a plausible supply frequency",
                      allowed=f"{POINT_FREQUENCY_HZ[0]:g} ... {POINT_FREQUENCY_HZ[1]:g} Hz", found=frequency)  # fmt: skip
    harmonics = _parse_harmonics(f, kind)
    readings = f.get("readings", int, what="a whole number")
    if not 1 <= readings <= bounds.MAX_READINGS:  # type: ignore[operator]
        raise f.error("readings", f"must be 1 ... {bounds.MAX_READINGS}", found=readings)
    duration = f.number("duration_s", None, positive=True)
    if duration is not None:
        bounds.window_s(duration, f"{f.where}.duration_s", source=src)
    voltage = f.number("voltage", 1.0, positive=True)
    if voltage > bounds.MAX_VOLTAGE_MULTIPLE:
        raise f.error("voltage", f"must be at most {bounds.MAX_VOLTAGE_MULTIPLE:g} (a multiple of the meter's "
                      "nominal voltage: 1.0 = nominal, 1.1 = 110 %), not volts", found=voltage)  # fmt: skip
    settle = bounds.settle_s(f.number("settle_s", nonneg=True), f"{f.where}.settle_s", source=src)
    if kind == "influence" and voltage == 1.0 and frequency is None and not harmonics:
        raise f.error("kind", "an influence point changes something from the reference condition",
                      allowed="voltage other than 1.0, frequency_hz or harmonics", found=kind)  # fmt: skip
    return PlanPoint(
        id=pid,
        label=_text(f, "label"),
        kind=kind,
        element=element,
        current=current,
        current_of=current_of,
        lag_deg=lag,
        voltage=voltage,
        readings=int(readings),  # type: ignore[arg-type]
        settle_s=settle,
        duration_s=duration,
        limit=limit,
        limit_role=f.choice("limit_role", LIMIT_ROLES, "accept"),
        quantity=quantity,
        direction=direction,
        frequency_hz=frequency,
        harmonics=harmonics,
        tou_calendar=_tou_calendar(f, kind),
        test_time=_test_time(f, kind),
    )


def _test_time(f: Fields, kind: str) -> str | None:
    if "test_time" not in f.raw:
        return None
    value = f.choice("test_time", TEST_TIMES)
    if value != "fixed" and kind != "accuracy":
        raise f.error("test_time", f"a {kind} point's time is as written; only accuracy points plan theirs",
                      allowed="fixed", found=value)  # fmt: skip
    return value


def _check_angle(f: Fields, kind: str, quantity: str, lag: float) -> None:
    """An active point's current is within 90 deg of its voltage (in its direction); a reactive point's
    current is not in phase with it (sin phi 0 gives no var energy to test)."""
    if kind not in ("accuracy", "influence"):
        return
    if quantity == "reactive" and abs(math.sin(math.radians(lag))) < 0.1:
        raise f.error("lag_deg", "a reactive point needs |sin phi| >= 0.1 (lag 90 = sin phi 1 inductive)",
                      allowed="e.g. 90, 30, -30", found=lag)  # fmt: skip
    if quantity == "active" and not -90.0 < lag < 90.0:
        raise f.error("lag_deg", "an active point's current lags its voltage by less than 90 deg; for energy "
                      "from the customer write direction = \"received\" with the lag of the reversed current",
                      allowed="-90 < lag < 90", found=lag)  # fmt: skip


def _parse_harmonics(f: Fields, kind: str) -> tuple[tuple[int, float, float], ...]:
    rows = f.get("harmonics", list, [])
    if rows and kind != "influence":
        raise f.error("harmonics", "only an influence point adds harmonics", allowed="kind = \"influence\"",
                      found=kind)  # fmt: skip
    out = []
    for k, row in enumerate(rows):  # type: ignore[arg-type]
        ok = (
            isinstance(row, list)
            and len(row) == 3
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        )
        if ok:
            order, v_pct, i_pct = row
            ok = (float(order).is_integer() and 2 <= order <= MAX_HARMONIC_ORDER
                  and 0 <= v_pct <= MAX_HARMONIC_PERCENT and 0 <= i_pct <= MAX_HARMONIC_PERCENT)  # fmt: skip
        if not ok:
            raise f.error(f"harmonics[{k}]", "must be [order, % of fundamental on voltage, % on current]",
                          allowed=f"order 2 ... {MAX_HARMONIC_ORDER}, percents 0 ... {MAX_HARMONIC_PERCENT:g}",
                          found=row)  # fmt: skip
        out.append((int(order), float(v_pct), float(i_pct)))
    return tuple(out)


def parse_plan(raw: dict, src: str, data: bytes, base_dir: Path | None = None) -> Plan:
    """Validate a plan's TOML content; every error names the file, the entry and the field."""
    top = Fields(raw, "plan", src)
    _only(top, PLAN_KEYS)
    extra: dict[str, LimitTable] = {}
    for k, rel in enumerate(top.get("limit_files", list, [])):  # type: ignore[arg-type]
        if not isinstance(rel, str):
            raise top.error(f"limit_files[{k}]", "must be a file path", found=rel)
        path = (base_dir / rel) if base_dir else Path(rel)
        if not path.is_file():
            raise top.error(f"limit_files[{k}]", "is not a readable file", found=str(path))
        t = load_limit_table(path)
        extra[t.id] = t
    forms_raw = top.get("forms", list)
    if not forms_raw:
        raise top.error("forms", "must list at least one form")
    forms = []
    for k, name in enumerate(forms_raw):  # type: ignore[arg-type]
        if not isinstance(name, str):
            raise top.error(f"forms[{k}]", "must be a form name such as 2S", found=name)
        try:
            forms.append(get_form(name))
        except InputError as exc:
            raise top.error(f"forms[{k}]", exc.problem, allowed=exc.allowed, found=name) from None
    family = top.text("class_family")
    classes = top.get("classes", list)
    if not classes:
        raise top.error("classes", "must list at least one accuracy class")
    for k, c in enumerate(classes):  # type: ignore[arg-type]
        if not isinstance(c, str):
            raise top.error(f"classes[{k}]", 'must be a class name in quotes, e.g. "0.2"', found=c)
        try:
            accuracy_class(str(c), family)
        except InputError as exc:
            raise top.error(f"classes[{k}]", exc.problem, allowed=exc.allowed, found=c) from None
    share = top.number("target_share", positive=True)
    if share > 1:
        raise top.error("target_share", "is a share of the limit, at most 1 (0.25 = 4:1)", found=share)
    defaults = {"limits": top.text("limits", None), "current_of": top.choice("current_of", BASES, "TA")}
    if defaults["limits"] is not None:
        try:
            limit_table(defaults["limits"], extra)
        except InputError as exc:
            raise top.error(
                "limits", "unknown limit table", allowed=exc.allowed, found=defaults["limits"]
            ) from None
    points_raw = top.get("points", list)
    if not points_raw:
        raise top.error("points", "a plan needs at least one point")
    points = tuple(_parse_point(p, k, defaults, src, extra, tuple(forms)) for k, p in enumerate(points_raw))  # type: ignore[arg-type]
    seen: set[str] = set()
    for k, p in enumerate(points):
        if p.id in seen:
            raise InputError(f"points[{k}].id", "repeats another point's id", source=src, found=p.id)
        seen.add(p.id)
    avg = None
    if "average_rule" in top.raw:
        af = Fields(top.raw["average_rule"], "average_rule", src)
        _only(af, AVERAGE_KEYS)
        name = af.text("name")
        try:
            average_rule(name, extra)
        except InputError as exc:
            raise af.error("name", exc.problem, allowed=exc.allowed, found=name) from None
        weights = af.get("weights", dict, None)
        if weights is not None:
            for lab, w in weights.items():  # type: ignore[union-attr]
                if isinstance(w, bool) or not isinstance(w, int | float) or not 0 < w < 1e6:
                    raise af.error(f"weights.{lab}", "must be a positive number", found=w)
            weights = tuple((k, float(v)) for k, v in weights.items())  # type: ignore[union-attr]
        avg = AverageSpec(
            name, _parse_limit_ref(af.text("limit"), defaults["limits"], af, "limit", extra), weights
        )
    return Plan(
        id=_text(top, "id"),
        title=_text(top, "title"),
        standard=_text(top, "standard"),
        version=_text(top, "version"),
        forms=tuple(fm.name for fm in forms),
        class_family=family,
        classes=tuple(str(c) for c in classes),  # type: ignore[union-attr]
        decision_rule=top.choice("decision_rule", DECISION_RULES),
        target_share=share,
        average_rule=avg,
        points=points,
        source=src,
        sha256=hashlib.sha256(data).hexdigest(),
        notes=_text(top, "notes", "", max_len=bounds.NOTE_MAX),
        extra_tables=tuple(extra.values()),
        shop_option=bool(top.get("shop_option", bool, False)),
        frequency_hz=_plan_frequency(top),
        both_directions=bool(top.get("both_directions", bool, False)),
        test_time=top.choice("test_time", TEST_TIMES, "fixed"),
    )


def _plan_frequency(top: Fields) -> float | None:
    hz = top.number("frequency_hz", None, positive=True)
    if hz is not None and hz not in PLAN_FREQUENCIES:
        raise top.error(
            "frequency_hz", "is not a supply frequency a plan runs at", allowed="50 or 60", found=hz
        )
    return hz


def load_plan_file(path: str | Path) -> Plan:
    raw, src, data = read_toml(path, "", "", "plan file")
    return parse_plan(raw, src, data, Path(path).parent)


@cache
def _shipped() -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for item in sorted(resources.files("procedures.data.plans").iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            raw, src, data = read_toml(None, "procedures.data.plans", item.name, "plan file")
            plan = parse_plan(raw, src, data)
            if plan.id in plans:
                raise InputError("id", "two built-in plans share this id", source=src, found=plan.id)
            plans[plan.id] = plan
    return plans


def list_plans() -> list[Plan]:
    """The built-in plans in file order, acceptance plans before shop options (what a form picks first)."""
    return sorted(_shipped().values(), key=lambda p: p.shop_option)


def load_plan(id_or_path: str | Path) -> Plan:
    """A built-in plan by id, or a shop's own plan file by path."""
    text = str(id_or_path)
    if text in _shipped():
        return _shipped()[text]
    path = Path(text)
    if path.suffix.lower() == ".toml" or path.exists():
        return load_plan_file(path)
    raise InputError("plan", "unknown plan id and not a .toml file", allowed=list(_shipped()), found=text)
