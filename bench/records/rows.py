"""The records store's row helpers: an audited transaction, rows as JSON-able dicts, current vs superseded rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bench.records import audit
from bench.records import models as m
from procedures.errors import InputError

TEST_PASSES = ("as-found", "as-left")
POINT_STATUSES = ("done", "failed", "skipped")
RUN_OUTCOMES = ("passed", "failed", "aborted", "error")
ROTATIONS = ("ABC", "CBA", "n/a")
QUANTITIES = ("active", "reactive", "apparent")  # a point's energy (Wh, varh, VAh)
DIRECTIONS = ("delivered", "received")


def quantity_of(point: dict) -> tuple[str, str]:
    """A recorded point's (quantity, direction); rows from before migration 0003 hold NULL there and
    all measured active energy delivered."""
    return point.get("quantity") or "active", point.get("direction") or "delivered"


@dataclass
class Tx:
    """One audited write transaction: inserts and updates collect their audit entries here."""

    conn: sa.Connection
    at: datetime
    entries: list[tuple[str, int, str, str]] = field(default_factory=list)

    def insert(self, table: sa.Table, values: Mapping[str, Any]) -> int:
        vals = {k: audit.coerce(table, k, v) for k, v in values.items()}
        # Values as parameters, not baked into the statement: SQLAlchemy then compiles each statement
        # shape once instead of on every row (a large share of the engine's CPU per reading).
        row_id = self.conn.execute(sa.insert(table).returning(table.c.id), vals).scalar_one()
        vals["id"] = row_id
        self.entries.append((table.name, row_id, "insert", audit.dumps(audit.canonical_row(table, vals))))
        return row_id

    def insert_many(self, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
        rows = [{k: audit.coerce(table, k, v) for k, v in r.items()} for r in rows]
        ids = (
            self.conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        for row_id, vals in zip(ids, rows, strict=True):
            vals["id"] = row_id
            self.entries.append((table.name, row_id, "insert", audit.dumps(audit.canonical_row(table, vals))))
        return list(ids)

    def update(self, table: sa.Table, row_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        row = self.conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().one_or_none()
        if row is None:
            raise InputError(f"{table.name} id", "no such row", found=row_id, source="records store")
        vals = {k: audit.coerce(table, k, v) for k, v in changes.items()}
        self.conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("row_id_")), {**vals, "row_id_": row_id}
        )
        merged = {**row, **vals}
        self.entries.append((table.name, row_id, "update", audit.dumps(audit.canonical_row(table, merged))))
        return merged


def current_rows(rows: list[dict], key: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """Split rows (in id order) into the latest per ``key`` and the earlier ones it superseded."""
    latest = {tuple(r[k] for k in key): r["id"] for r in rows}
    current: list[dict] = []
    old: list[dict] = []
    for r in rows:
        newest = latest[tuple(r[k] for k in key)]
        (current.append(r) if newest == r["id"] else old.append(r | {"superseded_by": newest}))
    return current, old


def jsonable(row: Mapping[str, Any], *, drop: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(drop)
    return {k: (audit.iso(v) if isinstance(v, datetime) else v) for k, v in row.items() if k not in skip}


def choice(field_name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(
            field_name, "not a recognised value", allowed=allowed, found=value, source="records store"
        )
    return value


def point_columns() -> list:
    r, p, res, rp, mt = m.runs.c, m.points.c, m.results.c, m.run_positions.c, m.meters.c
    n_readings = (
        sa.select(sa.func.count()).where(m.readings.c.point_id == p.id).correlate(m.points).scalar_subquery()
    )
    later = m.points.alias("later")
    superseded_by = (  # the newest row for the same point: a retest (or a resumed run) replaced this one
        sa.select(sa.func.max(later.c.id))
        .where(
            later.c.run_id == p.run_id,
            later.c.position == p.position,
            later.c.point_id == p.point_id,
            later.c.test_pass == p.test_pass,
            later.c.id > p.id,
        )
        .correlate(m.points)
        .scalar_subquery()
    )
    # Nameplate from the run's snapshot would need JSON paths per backend; the meters row is the same
    # meter (serial is unique) and only firmware/ratings edits could differ.
    return [
        r.id.label("run_id"),
        r.started_at,
        r.plan_id,
        r.plan_version,
        m.benches.c.name.label("bench"),
        r.operator,
        r.status.label("run_status"),
        r.outcome.label("run_outcome"),
        p.position,
        mt.serial,
        mt.manufacturer,
        mt.model,
        mt.form,
        mt.accuracy_class,
        rp.outcome.label("position_outcome"),
        p.test_pass,
        p.point_id,
        p.label,
        p.element,
        p.kind,
        p.voltage_v,
        p.current_a,
        p.lag_deg,
        p.status,
        res.error_percent,
        res.expanded_percent,
        res.coverage_factor,
        res.dof,
        p.limit_lo,
        p.limit_hi,
        res.verdict,
        res.decision_rule,
        n_readings.label("readings"),
        p.id.label("point_row"),
        superseded_by.label("superseded_by"),  # empty for the current result; fleet statistics skip the rest
    ]


#: The keys of every :meth:`RecordStore.point_rows` row, in export column order.
#: Columns taken from the run's snapshot of the meter (what the manifest said): the customer and the shop's
#: record fields (a JSON object, e.g. {"work_order": "WO-1182"}; empty when none).
SNAPSHOT_COLUMNS = ("customer", "record_fields")
POINT_ROW_COLUMNS: tuple[str, ...] = tuple(c.key for c in point_columns()) + SNAPSHOT_COLUMNS
