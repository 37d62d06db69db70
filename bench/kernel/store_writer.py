"""The records store as a subscriber of the record stream: the one writer of a run's data.

It turns each record into the store's calls and remembers which row each (position, point, pass) got,
so a kind never holds a row id. The context publishes the records of one moment (one gate on every
position, one point's results) inside one :meth:`RecordStore.batch`: committed together, before any
display hears of them. A store that fails ends the run (nothing may be measured that is not recorded).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from datetime import date, datetime

from bench.kernel import records as r

log = logging.getLogger(__name__)


def plain(obj):
    """Dataclasses, dates and tuples as JSON-able plain values (for the records)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, date | datetime):
        return obj.isoformat()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


def limits(point) -> tuple[float | None, float | None]:
    """A point's (low, high) limit in percent, or (None, None) when it has none."""
    lim = point.limit_percent
    if lim is None:
        return None, None
    if isinstance(lim, tuple):
        return float(lim[0]), float(lim[1])
    return -float(lim), float(lim)


class StoreWriter:
    """Writes a run's records to a :class:`bench.records.RecordStore`."""

    def __init__(self, store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.rows: dict[tuple[int, str, str], int] = {}
        self._handlers = {
            r.PointOpened: self._opened,
            r.Reading: self._reading,
            r.PointResult: self._result,
            r.CountResult: self._count,
            r.WiringResult: self._wiring,
            r.RegisterResult: self._register,
            r.Average: self._average,
            r.PositionStopped: self._outcome,
            r.PositionOutcome: self._outcome,
            r.RunFinished: self._finished,
        }
        self.handles = frozenset(self._handlers)

    def batch(self):
        return self.store.batch()

    def __call__(self, rec: r.Record) -> None:
        handler = self._handlers.get(type(rec))
        if handler is not None:
            handler(rec)

    def _opened(self, rec: r.PointOpened) -> None:
        p = rec.point
        lo, hi = limits(p)
        prov = p.limit_provenance
        self.rows[(rec.position, p.id, rec.test_pass)] = self.store.add_point(
            self.run_id,
            position=rec.position,
            point_id=p.id,
            label=p.label,
            element=p.element,
            test_pass=rec.test_pass,
            kind=p.kind,
            voltage_v=p.voltage_v,
            current_a=p.current_a,
            lag_deg=p.lag_deg,
            limit_lo=lo,
            limit_hi=hi,
            limit_provenance=plain(prov) if prov else {},
            planned=rec.planned,
            quantity=getattr(p, "quantity", "active"),
            direction=getattr(p, "direction", "delivered"),
        )

    def _row(self, position: int, point_id: str, test_pass: str) -> int:
        return self.rows[(position, point_id, test_pass)]

    def _reading(self, rec: r.Reading) -> None:
        if not rec.stored:
            return
        self.store.add_reading(
            self._row(rec.position, rec.point_id, rec.test_pass),
            index=rec.index,
            meter_pulses=rec.meter_pulses,
            ref_pulses=rec.ref_pulses,
            kr_wh=rec.kr_wh,
            kt_wh=rec.kt_wh,
            gate_seconds=rec.gate_seconds,
            error_percent=rec.error_percent,
            instrument_error_percent=rec.instrument_error_percent,
            reference=rec.reference,
        )

    def _result(self, rec: r.PointResult) -> None:
        dof = rec.dof if rec.dof is not None and math.isfinite(rec.dof) else None
        self.store.finish_point(
            self._row(rec.position, rec.point_id, rec.test_pass),
            status=rec.status,
            error_percent=rec.error_percent,
            expanded_percent=rec.expanded_percent,
            coverage_factor=rec.k,
            dof=dof,
            budget=[plain(c) for c in rec.budget],
            verdict=rec.verdict,
            decision_rule=rec.decision_rule,
            message=rec.message,
        )

    def _count(self, rec: r.CountResult) -> None:
        self.store.finish_point(
            self._row(rec.position, rec.point_id, rec.test_pass),
            status="done",
            error_percent=None,
            expanded_percent=None,
            coverage_factor=None,
            dof=None,
            budget=[],
            verdict=rec.verdict,
            decision_rule="count",
            message=rec.message,
        )
        add = self.store.add_creep if rec.test_kind == "creep" else self.store.add_starting
        add(self.run_id, position=rec.position, pulses=rec.pulses, seconds=rec.seconds, verdict=rec.verdict)

    def _wiring(self, rec: r.WiringResult) -> None:
        self.store.add_wiring_check(
            self.run_id,
            position=rec.position,
            rotation=rec.rotation,
            findings=list(rec.findings),
            phasors=rec.phases,
            registration_percent=rec.registration_percent,
            override_reason=rec.override,
        )

    def _register(self, rec: r.RegisterResult) -> None:
        # the constant row first: a recorded register row means the whole point is recorded (resume)
        for reading, result in ((rec.constant_reading, rec.constant), (rec.register_reading, rec.register)):
            self._reading(reading)
            self._result(result)

    def _average(self, rec: r.Average) -> None:
        self.store.add_average(
            self.run_id,
            position=rec.position,
            test_pass=rec.test_pass,
            rule=rec.rule,
            value_percent=rec.value_percent,
            verdict=rec.verdict,
        )

    def _outcome(self, rec: r.PositionStopped | r.PositionOutcome) -> None:
        self.store.set_position_outcome(self.run_id, rec.position, rec.state, rec.message)

    def _finished(self, rec: r.RunFinished) -> None:
        if rec.outcome not in ("error", "aborted"):
            return
        try:  # points the end cut short are closed, saying why (the bench is already safe)
            self.store.close_open_points(self.run_id, f"run ended ({rec.outcome}): {rec.message}"[:500])
        except Exception:  # noqa: BLE001 - a store that failed is what ended the run; its end stands
            log.exception("closing the points the run's end cut short")
