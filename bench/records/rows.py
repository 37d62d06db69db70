"""The records store's row helpers: an audited transaction, rows as JSON-able dicts, current vs superseded rows."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bench.records import audit, encoding, rawsql
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


#: Tables whose rows a store remembers as written (their canonical texts), so updating one needs no read-back.
REMEMBERED = frozenset({"points"})


@functools.cache
def _insert_stmt(table: sa.Table, many: bool) -> sa.Insert:
    # One statement object per table, values as parameters: SQLAlchemy compiles each shape once, and a list
    # of rows goes to the database as one multi-row INSERT ... RETURNING (its "insertmanyvalues").
    return sa.insert(table).returning(table.c.id, sort_by_parameter_order=many)


@functools.cache
def _sqlite_many(table: sa.Table) -> tuple[sa.Select, sa.Insert, sa.Select]:
    """SQLite's multi-row insert: the table's highest id, the plain INSERT (executemany), and the rows
    written from a given id on (count, lowest id, highest id)."""
    return (
        sa.select(sa.func.max(table.c.id)),
        sa.insert(table),
        sa.select(sa.func.count(), sa.func.min(table.c.id), sa.func.max(table.c.id)).where(
            table.c.id >= sa.bindparam("first_")
        ),
    )


@functools.cache
def _entry_name(table: sa.Table) -> str:
    # a plain str: SQLAlchemy's name is a str subclass (quoted_name), which costs the driver an adapter lookup
    # and the audit entry a json.dumps, on every committed row
    return str.__str__(table.name)


@functools.cache
def _update_stmt(table: sa.Table, where: tuple[str, ...] = ()) -> sa.Update:
    conds = [table.c.id == sa.bindparam("row_id_")]
    conds += [table.c[col] == sa.bindparam(f"was_{col}") for col in where]
    return sa.update(table).where(*conds)


@dataclass
class Tx:
    """One audited write transaction: inserts and updates collect their audit entries here.

    ``insert(..., defer=True)`` queues a row (checked and encoded at once) to go with the other queued rows
    of its table in one multi-row INSERT when the transaction is flushed, before its audit entries are sealed.
    ``remembered`` holds the canonical texts of the REMEMBERED rows this transaction wrote; the store keeps
    them once it has committed.
    """

    conn: sa.Connection
    at: datetime
    batch: bool = False  # the transaction of RecordStore.batch(): single rows may wait for the flush
    entries: list[tuple[str, int, str, str]] = field(default_factory=list)
    pending: dict[sa.Table, list[tuple[dict, dict]]] = field(default_factory=dict)
    remembered: dict[int, dict[str, str]] = field(default_factory=dict)

    def insert(self, table: sa.Table, values: Mapping[str, Any], *, defer: bool = False) -> int | None:
        encoded = encoding.encode_row(table, values)
        if defer:
            self.pending.setdefault(table, []).append(encoded)
            return None
        row_id = rawsql.execute(self.conn, _insert_stmt(table, False), encoded[0]).fetchone()[0]
        self._inserted(table, row_id, encoded[1])
        return row_id

    def insert_many(self, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
        return self._insert_encoded(table, [encoding.encode_row(table, r) for r in rows])

    def flush(self) -> None:
        """Write the queued rows: one INSERT per table."""
        pending, self.pending = self.pending, {}
        for table, encoded in pending.items():
            self._insert_encoded(table, encoded)

    def _insert_encoded(self, table: sa.Table, encoded: list[tuple[dict, dict]]) -> list[int]:
        if len(encoded) == 1:
            ids = [self.conn.execute(_insert_stmt(table, False), encoded[0][0]).scalar_one()]
        elif self.conn.dialect.name != "sqlite":  # PostgreSQL: ids in parameter order (implicit sentinel)
            ids = self.conn.execute(_insert_stmt(table, True), [b for b, _ in encoded]).scalars().all()
        else:
            # SQLite: SQLAlchemy would send a RETURNING insert row by row, so the rows go as one prepared
            # INSERT stepped once per row (executemany); under our write lock each row gets the next id
            # (SQLite gives max(id) + 1), which is checked before the ids are used
            stmts = _sqlite_many(table)
            first = (self.conn.execute(stmts[0]).scalar() or 0) + 1
            self.conn.execute(stmts[1], [b for b, _ in encoded])
            ids = list(range(first, first + len(encoded)))
            span = tuple(self.conn.execute(stmts[2], {"first_": first}).one())
            if span != (len(ids), ids[0], ids[-1]):
                raise RuntimeError(f"records store: {table.name} rows did not get consecutive ids {span}")
        for row_id, (_, texts) in zip(ids, encoded, strict=True):
            self._inserted(table, row_id, texts)
        return list(ids)

    def _inserted(self, table: sa.Table, row_id: int, texts: dict[str, str]) -> None:
        texts["id"] = int.__repr__(row_id)
        self.entries.append((_entry_name(table), row_id, "insert", encoding.row_json(table, texts)))
        if table.name in REMEMBERED:
            self.remembered[row_id] = texts

    def update(self, table: sa.Table, row_id: int, changes: Mapping[str, Any]) -> None:
        """Update a row this store does not remember: read it for its audit entry, then write the changes."""
        row = self.conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().one_or_none()
        if row is None:
            raise InputError(f"{table.name} id", "no such row", found=row_id, source="records store")
        self.update_known(table, row_id, encoding.encode_row(table, row)[1], changes)

    def update_known(
        self,
        table: sa.Table,
        row_id: int,
        known: Mapping[str, str],
        changes: Mapping[str, Any],
        *,
        where: Mapping[str, Any] | None = None,
    ) -> dict[str, str] | None:
        """Update a row whose canonical texts are ``known`` (no read-back). With ``where`` (column -> value)
        the row changes only if it still holds those values; None when it did not (nothing written)."""
        bind, texts = encoding.encode_row(table, changes)
        params = {**bind, "row_id_": row_id}
        cols = tuple(sorted(where or ()))
        for col in cols:
            params[f"was_{col}"] = where[col]
        if self.conn.execute(_update_stmt(table, cols), params).rowcount != 1:
            if where is None:
                raise InputError(f"{table.name} id", "no such row", found=row_id, source="records store")
            return None
        merged = {**known, **texts}
        self.entries.append((_entry_name(table), row_id, "update", encoding.row_json(table, merged)))
        if table.name in REMEMBERED:
            self.remembered[row_id] = merged
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
