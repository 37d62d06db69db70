"""The record stream: what happens in a run, as frozen dataclasses, published by the run context.

The records store is one subscriber (:class:`bench.kernel.store_writer.StoreWriter`, the only writer of
run data); the CLI's progress view, the GUI and anything else are display subscribers. A record whose
``kind`` is set is shown to display subscribers under that name (the names are the event names the CLI
and the GUI have always read: ``point_started``, ``reading``, ``point_done``...); ``data`` gives the
same fields as a plain dict for displays that read them by name. A record with ``kind`` None is for the
store only (a point row opened, a position's final outcome).

Every measured result carries the energy quantity (active, reactive, apparent) and its direction
(delivered, received) it was measured for; today's kinds measure active energy delivered.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar


class Quantity(enum.Enum):
    ACTIVE = "active"
    REACTIVE = "reactive"
    APPARENT = "apparent"


class Direction(enum.Enum):
    DELIVERED = "delivered"
    RECEIVED = "received"


@dataclass(frozen=True)
class Record:
    """Stamped by the context when published: the run and the bench time since the run started."""

    run_id: int = 0
    bench_time: float = 0.0
    kind: ClassVar[str | None] = None
    position: ClassVar[int | None] = None
    point_id: ClassVar[str | None] = None
    _NOT_SHOWN: ClassVar[tuple[str, ...]] = ()

    @property
    def data(self) -> dict[str, Any]:
        """The record's own fields by name (what displays read), without the stamp and the address."""
        skip = {"run_id", "bench_time", "position", "point_id", *self._NOT_SHOWN}
        out = {}
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, enum.Enum) else value
        return out


def _addressed(cls):
    """Positions and point ids are fields on these records (ClassVar None on the others)."""
    return dataclass(frozen=True)(cls)


@_addressed
class RunStarted(Record):
    kind: ClassVar[str] = "run_started"
    plan: str = ""
    positions: tuple[int, ...] = ()


@_addressed
class PreCheck(Record):
    kind: ClassVar[str] = "precheck"
    identity: dict = field(default_factory=dict)
    calibration_due: str = ""


@_addressed
class WarmUp(Record):
    kind: ClassVar[str] = "warmup"
    seconds: float = 0.0


@_addressed
class Waiting(Record):
    """A long wait begins: a creep or starting window, or a gate (or a point's gates back to back), with
    how long it should last in bench seconds, so a display can show the time remaining. Display only
    (not stored); published only for waits of at least :data:`LONG_WAIT_S`."""

    kind: ClassVar[str] = "waiting"
    point_id: str | None = None
    what: str = ""  # "creep", "starting", "gate"
    seconds: float = 0.0


LONG_WAIT_S = 10.0


@_addressed
class RetestStarted(Record):
    kind: ClassVar[str] = "retest"
    point_id: str | None = None
    positions: tuple[int, ...] = ()
    test_pass: str = ""
    reason: str = ""

    @property
    def data(self) -> dict[str, Any]:
        return {"positions": list(self.positions), "pass": self.test_pass, "reason": self.reason}


@_addressed
class PointStarted(Record):
    kind: ClassVar[str] = "point_started"
    point_id: str | None = None
    label: str = ""
    test_kind: str = ""
    element: str = "series"
    test_pass: str = "as-found"
    voltage_v: float = 0.0
    current_a: float = 0.0
    lag_deg: float = 0.0
    positions: tuple[int, ...] = ()

    @classmethod
    def of(
        cls, point, test_kind: str, test_pass: str, positions, *, element: str | None = None
    ) -> PointStarted:
        """The start of a plan point (a procedures.plans.ResolvedPoint) on these positions."""
        return cls(
            point_id=point.id,
            label=point.label,
            test_kind=test_kind,
            element=point.element if element is None else element,
            test_pass=test_pass,
            voltage_v=point.voltage_v,
            current_a=point.current_a,
            lag_deg=point.lag_deg,
            positions=tuple(positions),
        )

    @property
    def data(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.test_kind,
            "element": self.element,
            "pass": self.test_pass,
            "voltage_v": self.voltage_v,
            "current_a": self.current_a,
            "lag_deg": self.lag_deg,
            "positions": list(self.positions),
        }


@_addressed
class Stabilised(Record):
    kind: ClassVar[str] = "stabilised"
    point_id: str | None = None
    watts: float = 0.0
    phases: dict | None = None


@_addressed
class PointOpened(Record):
    """A position's row for a point (its plan of gates, the retest it is), before it is measured."""

    position: int | None = None
    point_id: str | None = None
    point: Any = None  # procedures.plans.ResolvedPoint (or one derived from it)
    test_pass: str = "as-found"
    planned: dict = field(default_factory=dict)


@_addressed
class Reading(Record):
    kind: ClassVar[str] = "reading"
    _NOT_SHOWN: ClassVar[tuple[str, ...]] = (
        "test_pass",
        "kr_wh",
        "kt_wh",
        "instrument_error_percent",
        "reference",
        "quantity",
        "direction",
        "stored",
    )
    position: int | None = None
    point_id: str | None = None
    test_pass: str = "as-found"
    index: int = 0
    meter_pulses: int = 0
    ref_pulses: float = 0.0
    kr_wh: float = 0.0
    kt_wh: float = 0.0
    gate_seconds: float = 0.0
    error_percent: float = 0.0
    instrument_error_percent: float | None = None
    reference: dict = field(default_factory=dict)
    label: str = ""
    quantity: Quantity = Quantity.ACTIVE
    direction: Direction = Direction.DELIVERED
    stored: bool = True  # False: shown only (the register result stores its own readings)
    unit: str = "%"  # of error_percent: "%" except a meter-port clock test's "s/day"


@_addressed
class PointResult(Record):
    """A position's result for a point: an error with its expanded uncertainty and verdict, or none
    (wiring, creep and starting rows, a failed or skipped point)."""

    kind: ClassVar[str] = "point_done"
    position: int | None = None
    point_id: str | None = None
    test_pass: str = "as-found"
    status: str = "done"  # done, failed, skipped
    label: str = ""
    element: str = "series"
    error_percent: float | None = None
    expanded_percent: float | None = None
    k: float | None = None
    dof: float | None = None
    budget: tuple = ()
    verdict: str | None = None
    decision_rule: str | None = None
    message: str = ""
    limit_lo: float | None = None
    limit_hi: float | None = None
    quantity: Quantity = Quantity.ACTIVE
    direction: Direction = Direction.DELIVERED
    shown: bool = True
    unit: str = "%"  # of the error, U and limits: "%" except a meter-port clock test's "s/day"

    @classmethod
    def failed(
        cls, point, position: int, test_pass: str, message: str, decision_rule: str, **extra
    ) -> PointResult:
        """A plan point that failed on this position without a result (no pulses, a dead port, a wiring
        fault): status failed, verdict fail, ``message`` saying why; ``extra`` sets any other field."""
        fields = {"element": point.element, **extra}
        return cls(
            position=position,
            point_id=point.id,
            test_pass=test_pass,
            status="failed",
            label=point.label,
            verdict="fail",
            decision_rule=decision_rule,
            message=message,
            **fields,
        )

    @classmethod
    def measured(
        cls, point, position: int, test_pass: str, m, verdict, decision_rule: str, lo, hi, **extra
    ) -> PointResult:
        """A plan point's measured result on this position: ``m`` an ErrorResult (error, U, k, dof, its
        budget), ``verdict`` the decision rule's (None without a limit: "info"), judged against [lo, hi];
        the message is the verdict's reason unless ``extra`` gives one."""
        fields = {"element": point.element, "message": verdict.reason if verdict else "", **extra}
        return cls(
            position=position,
            point_id=point.id,
            test_pass=test_pass,
            label=point.label,
            error_percent=m.error_percent,
            expanded_percent=m.expanded_percent,
            k=m.k,
            dof=m.dof,
            budget=tuple(m.components),
            verdict=verdict.outcome if verdict else "info",
            decision_rule=decision_rule,
            limit_lo=lo,
            limit_hi=hi,
            **fields,
        )

    @property
    def data(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "message": self.message,
            "label": self.label,
            "element": self.element,
            "pass": self.test_pass,
            "error_percent": self.error_percent,
            "expanded_percent": self.expanded_percent,
            "k": self.k,
            "limit_lo": self.limit_lo,
            "limit_hi": self.limit_hi,
            "verdict": self.verdict,
            "quantity": self.quantity.value,  # a display says when a point is not Wh delivered
            "direction": self.direction.value,
        }


@_addressed
class PointSkipped(Record):
    kind: ClassVar[str] = "point_skipped"
    position: int | None = None
    point_id: str | None = None
    test_pass: str = "as-found"
    label: str = ""
    test_kind: str = ""
    message: str = ""

    @property
    def data(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.test_kind, "message": self.message}


@_addressed
class CountResult(Record):
    """Creep (at most one pulse with no current) or starting (the meter starts): pulses in a window."""

    position: int | None = None
    point_id: str | None = None
    test_pass: str = "as-found"
    test_kind: str = "creep"
    pulses: int = 0
    seconds: float = 0.0
    verdict: str = "pass"
    label: str = ""
    message: str = ""
    quantity: Quantity = Quantity.ACTIVE
    direction: Direction = Direction.DELIVERED

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.test_kind

    @property
    def data(self) -> dict[str, Any]:
        return {
            "pulses": self.pulses,
            "seconds": self.seconds,
            "verdict": self.verdict,
            "label": self.label,
            "message": self.message,
        }


@_addressed
class WiringFound(Record):
    """What the wiring check found, shown before anyone is asked about it (not a record yet)."""

    kind: ClassVar[str] = "wiring"
    position: int | None = None
    point_id: str | None = None
    rotation: str = "n/a"
    findings: tuple = ()
    phases: dict = field(default_factory=dict)
    registration_percent: float | None = None
    override: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        return {
            "rotation": self.rotation,
            "findings": list(self.findings),
            "phases": self.phases,
            "registration_percent": self.registration_percent,
            "override": self.override,
        }


@_addressed
class WiringResult(WiringFound):
    """The wiring check as recorded (the board's, position None, or one position's), with any override."""


@_addressed
class RegisterResult(Record):
    """A register test on one position: the register's error and the meter-constant check, each a row
    (the constant's id is ``<point id>-constant``) with its reading."""

    kind: ClassVar[str] = "point_done"
    position: int | None = None
    point_id: str | None = None
    test_pass: str = "as-found"
    register: PointResult | None = None
    constant: PointResult | None = None
    register_reading: Reading | None = None
    constant_reading: Reading | None = None
    start_kwh: float = 0.0
    end_kwh: float = 0.0
    quantity: Quantity = Quantity.ACTIVE
    direction: Direction = Direction.DELIVERED

    @property
    def data(self) -> dict[str, Any]:
        reg, const = self.register, self.constant
        worst = next(
            (v for v in ("fail", "indeterminate", "info", "pass") if v in (reg.verdict, const.verdict)),
            reg.verdict,
        )
        return {
            "label": reg.label,
            "element": reg.element,
            "pass": self.test_pass,
            "kind": "register",
            "error_percent": reg.error_percent,
            "expanded_percent": reg.expanded_percent,
            "k": reg.k,
            "limit_lo": reg.limit_lo,
            "limit_hi": reg.limit_hi,
            "verdict": worst,
            "register_verdict": reg.verdict,
            "constant_error_percent": const.error_percent,
            "constant_expanded_percent": const.expanded_percent,
            "constant_limit": const.limit_hi,
            "constant_verdict": const.verdict,
            "start_kwh": self.start_kwh,
            "end_kwh": self.end_kwh,
        }


@_addressed
class Average(Record):
    """A position's weighted-average registration by the plan's rule, and (an in-service plan) the
    in-service verdict: accept, adjust or reject."""

    kind: ClassVar[str] = "average"
    position: int | None = None
    test_pass: str = "as-found"
    rule: str = ""
    value_percent: float = 0.0
    verdict: str = "pass"
    in_service: str | None = None  # accept, adjust, reject (an in-service plan only)
    reasons: tuple[str, ...] = ()

    @property
    def data(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "value_percent": self.value_percent,
            "verdict": self.verdict,
            "pass": self.test_pass,
            "in_service": self.in_service,
            "reasons": list(self.reasons),
        }


@_addressed
class PositionStopped(Record):
    """The run stops testing a position (no pulses, a wiring fault, a dead meter port)."""

    kind: ClassVar[str] = "position_failed"
    position: int | None = None
    state: str = ""
    message: str = ""


@_addressed
class PositionOutcome(Record):
    """A position's outcome as the run ends (for the store)."""

    position: int | None = None
    state: str = ""
    message: str = ""


@_addressed
class Paused(Record):
    kind: ClassVar[str] = "paused"


@_addressed
class Resumed(Record):
    kind: ClassVar[str] = "resumed"


@_addressed
class RunFinished(Record):
    kind: ClassVar[str] = "run_finished"
    outcome: str = ""
    message: str = ""
    bench_seconds: float = 0.0
    wall_seconds: float = 0.0


# Displays written before the records were typed call the records they receive events.
Event = Record
