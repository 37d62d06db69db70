"""The append-only, hash-chained audit log: what was written, and proof it has not been changed since.

Every insert or update the store makes appends one ``audit_log`` row in the *same* transaction:
``seq`` (1, 2, 3, ... with no gaps), ``at``, ``table_name``, ``row_id``, ``action`` and ``row_json``
— the canonical JSON of the whole row as written — and ``hash = sha256(previous hash + canonical JSON
of the entry)``, the entry being ``{seq, at, table, row_id, action, row}``. The first entry's previous
hash is 64 zeros.

:func:`verify` recomputes the chain and compares every audited table row with the last audit entry for
it, so it finds: an edited or deleted audit entry, a table row edited or deleted behind the store's
back, and a row inserted without going through the store. What it cannot find on its own: someone who
rewrites the *whole* chain from the edit onwards, or who truncates the tail of the log together with
the rows it covered — anchor the chain head outside the database (e.g. in a signed certificate) for
that.

Canonical JSON is computed from values coerced by *column type* (a Float column's 5 is 5.0), so the
value written and the value read back later canonicalise identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench.records import models as m
from procedures.errors import InputError

GENESIS = "0" * 64
#: Columns that are liveness, not record, and change without an audit entry.
UNAUDITED: dict[str, frozenset[str]] = {"runs": frozenset({"heartbeat_at"})}


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, ASCII only, no NaN/Infinity."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def iso(value: datetime) -> str:
    """A UTC time as fixed-width ISO 8601 with microseconds and 'Z'."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def coerce(table: sa.Table, column: str, value: Any) -> Any:
    """``value`` as the Python type the column stores, so written and read-back values agree.

    Raises :class:`InputError` naming ``table.column`` for a value the column cannot hold (text in a
    number column, NaN, a naive time) rather than letting a backend store something else silently.
    """
    try:
        return _coerce(table, column, value)
    except (TypeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{table.name}.{column}", str(err), source="records store", found=value) from None


def _coerce(table: sa.Table, column: str, value: Any) -> Any:
    if value is None:
        return None
    col_type = table.c[column].type
    if isinstance(col_type, sa.Float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("expected a number")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("not a finite number (NaN and infinity cannot be recorded)")
        return value
    if isinstance(col_type, sa.Integer):
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("expected a whole number")
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected a whole number")
        return value
    if isinstance(col_type, sa.JSON):
        # Round-trip through canonical text: tuples become lists, int keys become strings, NaN is refused.
        return json.loads(dumps(value))
    if isinstance(col_type, m.UTCDateTime):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("expected a timezone-aware datetime")
        return value.astimezone(UTC)
    if isinstance(col_type, sa.String | sa.Text):
        if not isinstance(value, str):
            raise TypeError("expected text")
        return value
    return value


def canonical_row(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as a JSON-able dict of every audited column (times as ISO text)."""
    skip = UNAUDITED.get(table.name, frozenset())
    out: dict[str, Any] = {}
    for col in table.c:
        if col.name in skip:
            continue
        value = coerce(table, col.name, row.get(col.name))
        out[col.name] = iso(value) if isinstance(value, datetime) else value
    return out


def entry_hash(
    prev_hash: str, *, seq: int, at: datetime, table: str, row_id: int, action: str, row_json: str
) -> str:
    entry = (
        '{"action":'
        + dumps(action)
        + ',"at":'
        + dumps(iso(at))
        + ',"row":'
        + row_json
        + ',"row_id":'
        + dumps(row_id)
        + ',"seq":'
        + dumps(seq)
        + ',"table":'
        + dumps(table)
        + "}"
    )
    return hashlib.sha256((prev_hash + entry).encode("ascii")).hexdigest()


def append(conn: sa.Connection, entries: list[tuple[str, int, str, str]], at: datetime) -> None:
    """Append ``(table, row_id, action, row_json)`` entries after the current chain head.

    The caller holds the database's write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL advisory
    lock), so reading the head and appending cannot interleave with another writer.
    """
    if not entries:
        return
    head = conn.execute(
        sa.select(m.audit_log.c.seq, m.audit_log.c.hash).order_by(m.audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for table, row_id, action, row_json in entries:
        seq += 1
        prev = entry_hash(prev, seq=seq, at=at, table=table, row_id=row_id, action=action, row_json=row_json)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "table_name": table,
                "row_id": row_id,
                "action": action,
                "row_json": row_json,
                "hash": prev,
            }
        )
    conn.execute(sa.insert(m.audit_log), rows)


def _stream(conn: sa.Connection, stmt: sa.Select) -> Iterator[sa.Row]:
    yield from conn.execution_options(yield_per=5000).execute(stmt)


def verify(conn: sa.Connection) -> list[str]:
    """Every problem found in the chain and in the audited tables; ``[]`` when all is intact."""
    problems: list[str] = []
    a = m.audit_log.c
    expected_seq, prev = 1, GENESIS
    for e in _stream(conn, sa.select(m.audit_log).order_by(a.seq)):
        if e.seq != expected_seq:
            if e.seq > expected_seq:
                missing = f"{expected_seq}" if e.seq == expected_seq + 1 else f"{expected_seq}..{e.seq - 1}"
                problems.append(f"audit_log: entry seq {missing} deleted (chain jumps to seq {e.seq})")
            else:
                problems.append(f"audit_log: seq {e.seq} out of order (expected {expected_seq})")
        else:
            want = entry_hash(
                prev,
                seq=e.seq,
                at=e.at,
                table=e.table_name,
                row_id=e.row_id,
                action=e.action,
                row_json=e.row_json,
            )
            if want != e.hash:
                problems.append(
                    f"audit_log: entry seq {e.seq} ({e.table_name} row {e.row_id}) edited: "
                    "its hash does not match its content and the entry before it"
                )
        expected_seq, prev = e.seq + 1, e.hash
    for table in m.AUDITED_TABLES:
        problems.extend(_compare_table(conn, table))
    return problems


def _compare_table(conn: sa.Connection, table: sa.Table) -> Iterator[str]:
    """Merge-join the table (by id) with its latest audit entries (by row id), streaming both."""
    a = m.audit_log.c
    latest = (
        sa.select(a.row_id, sa.func.max(a.seq).label("seq"))
        .where(a.table_name == table.name)
        .group_by(a.row_id)
        .subquery()
    )
    audited = _stream(
        conn,
        sa.select(a.row_id, a.seq, a.row_json)
        .join(latest, sa.and_(a.row_id == latest.c.row_id, a.seq == latest.c.seq))
        .where(a.table_name == table.name)
        .order_by(a.row_id),
    )
    current = _stream(conn, sa.select(table).order_by(table.c.id))
    aud, cur = next(audited, None), next(current, None)
    while aud is not None or cur is not None:
        if cur is None or (aud is not None and aud.row_id < cur.id):
            yield f"{table.name} row {aud.row_id}: deleted behind the store's back (audit seq {aud.seq} recorded it)"
            aud = next(audited, None)
        elif aud is None or cur.id < aud.row_id:
            yield f"{table.name} row {cur.id}: not in the audit log (written behind the store's back)"
            cur = next(current, None)
        else:
            try:
                now = canonical_row(table, cur._mapping)
            except InputError as err:
                yield f"{table.name} row {cur.id}: edited behind the store's back ({err.field} {err.problem})"
                aud, cur = next(audited, None), next(current, None)
                continue
            was = json.loads(aud.row_json)
            if now != was:
                changed = sorted(k for k in now.keys() | was.keys() if now.get(k) != was.get(k))
                detail = ", ".join(f"{k} audited {was.get(k)!r} now {now.get(k)!r}" for k in changed[:4])
                yield f"{table.name} row {cur.id}: edited behind the store's back ({detail})"
            aud, cur = next(audited, None), next(current, None)
