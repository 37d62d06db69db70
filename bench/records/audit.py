"""The append-only, sealed audit log: what was written, and proof it has not been changed since.

Every insert or update the store makes appends one ``audit_log`` row in the *same* transaction:
``seq`` (1, 2, 3, ... with no gaps), ``at``, ``table_name``, ``row_id``, ``action`` and ``row_json``
— the canonical JSON of the whole row as written — and ``hash = HMAC-SHA256(key, previous hash +
canonical JSON of the entry)``, the entry being ``{seq, at, table, row_id, action, row}``. The first
entry's previous hash is 64 zeros.

Why a keyed chain plus an anchor, and not signed checkpoints: a plain SHA-256 chain can be recomputed by
anyone who can write the database (edit a row, re-hash every entry after it, and the chain "verifies").
A secret the database does not hold stops that. The laboratory's signing key would do, but it is
passphrase-protected and not present at every bench write (a run writes a reading every few seconds,
unattended), so checkpoints would be rare and the unsealed tail long. An HMAC key is used on every write
without a person: it is created on first use at ``<user config dir>/meterbench/audit/key`` (directory
0700, file 0600; ``$MB_AUDIT_DIR`` moves the directory, ``$MB_AUDIT_KEY_FILE`` names a key shared by
the benches writing one PostgreSQL database). A MAC alone cannot see the log *shortened* (a truncated
tail, a whole run rolled back by restoring an older copy, an emptied table: what is left still verifies),
so after every commit the store also writes the chain head (``seq`` and MAC) to an *anchor* file beside
the key, one per database; :func:`verify` requires the anchored entry to be present and unchanged. Every
certificate also carries the chain head at issue (signed with the PDF), a second anchor that survives the
bench.

:func:`verify` recomputes the chain and compares every audited table row with the last audit entry for
it, so it finds: an edited or deleted audit entry, entries re-hashed without the key, a table row edited
or deleted behind the store's back, a row inserted without going through the store, and a log shorter
than the anchor. What it cannot find: an attacker who holds the key file *and* the anchor (the bench
user's account, or root) and rewrites both; an edit made through the store itself (that is a write,
recorded as such); records written and then lost before the anchor file was updated (a crash between
the commit and the anchor write leaves the anchor one write behind, which verifies).

Canonical JSON is computed from values coerced by *column type* (a Float column's 5 is 5.0), so the
value written and the value read back later canonicalise identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.records import models as m
from bench.records import rawsql
from procedures.errors import InputError

GENESIS = "0" * 64
#: Columns that are liveness, not record, and change without an audit entry.
UNAUDITED: dict[str, frozenset[str]] = {"runs": frozenset({"heartbeat_at"})}


# built once: json.dumps with these options builds a new encoder on every call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, ASCII only, no NaN/Infinity."""
    return _CANONICAL.encode(value)


_last_iso: tuple[datetime | None, str] = (None, "")  # the last time formatted (one pair, replaced whole)


def iso(value: datetime) -> str:
    """A UTC time as fixed-width ISO 8601 with microseconds and 'Z'."""
    global _last_iso
    last = _last_iso
    if value is last[0]:  # a transaction stamps its rows and its audit entries with one time
        return last[1]
    utc = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    if utc.year >= 1000:  # isoformat is the same text (ending +00:00) at a fraction of strftime's cost
        text = utc.isoformat(timespec="microseconds")[:-6] + "Z"
    else:  # strftime does not pad a year below 1000: keep its text
        text = utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _last_iso = (value, text)
    return text


def _json(value: Any) -> str:
    """``dumps(value)`` for the texts and whole numbers an audit entry holds, without the encoder's set-up."""
    t = type(value)
    if t is str:
        return _quote(value)
    if t is int:
        return int.__repr__(value)
    return dumps(value)


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
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    table: str,
    row_id: int,
    action: str,
    row_json: str,
    key: bytes | None = None,
) -> str:
    """The entry's seal: HMAC-SHA256 with ``key``; ``key`` None gives the unkeyed SHA-256 (what anyone
    without the key can compute, and what :func:`verify` refuses)."""
    entry = (
        '{"action":'
        + _json(action)
        + ',"at":'
        + _json(iso(at))
        + ',"row":'
        + row_json
        + ',"row_id":'
        + _json(row_id)
        + ',"seq":'
        + _json(seq)
        + ',"table":'
        + _json(table)
        + "}"
    )
    message = (prev_hash + entry).encode("ascii")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.digest(key, message, "sha256").hex()  # HMAC-SHA256 in one call (hmac.new's object costs more)


# ---------------------------------------------------------------------- the key and the anchors
AUDIT_DIR_ENV = "MB_AUDIT_DIR"
KEY_FILE_ENV = "MB_AUDIT_KEY_FILE"


def audit_dir() -> Path:
    """Where the audit key and the anchors live: ``$MB_AUDIT_DIR``, else ``<user config>/meterbench/audit``."""
    env = os.environ.get(AUDIT_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_config_path("meterbench") / "audit"


def key_path() -> Path:
    env = os.environ.get(KEY_FILE_ENV)
    return Path(env).expanduser() if env else audit_dir() / "key"


def load_key(*, create: bool) -> bytes | None:
    """The bench's audit key; created (0600) on first use when ``create``; None when absent."""
    path = key_path()
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            return None
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return load_key(create=False)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        return load_key(create=False)
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            "audit key",
            f"cannot be read: {err}",
            source=str(path),
            allowed=f"a readable key file, or set {KEY_FILE_ENV}",
        ) from None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise InputError(
            "audit key",
            "is readable or writable by other users; anyone who can read it can rewrite the audit log",
            source=str(path),
            allowed=f"chmod 600 {path}",
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise InputError(
            "audit key", "is not a key this software wrote (hex text of 32 bytes)", source=str(path)
        )
    return key


def key_fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"meterbench-audit-key:" + key).hexdigest()[:16]


def _anchor_path(identity: str) -> Path:
    return _anchor_path_for(identity, os.environ.get(AUDIT_DIR_ENV))


@functools.lru_cache(maxsize=64)
def _anchor_path_for(identity: str, _env: str | None) -> Path:
    # cached per $MB_AUDIT_DIR value: platformdirs costs more than the write it names
    return audit_dir() / "anchors" / (hashlib.sha256(identity.encode("utf-8")).hexdigest()[:24] + ".json")


ANCHOR_BYTES = 256  # one fixed-size record, rewritten in place: one sector, so one write lands whole
# the open anchor files of this process, path -> (fd, (inode, device) of that file): an open + rename per
# commit cost ~0.4 ms, so the file stays open, and one stat per commit sees it replaced or removed
_ANCHOR_FDS: dict[str, tuple[int, tuple[int, int]]] = {}


@functools.lru_cache(maxsize=64)
def _anchor_prefix(identity: str) -> str:
    return '{"database":' + dumps(identity) + ',"seq":'


def anchor_file(identity: str) -> str:
    """The anchor file of database ``identity`` (under ``$MB_AUDIT_DIR`` as it is now)."""
    return str(_anchor_path(identity))


def write_anchor(identity: str, seq: int, mac: str, *, path: str | None = None) -> None:
    """Remember the chain head of database ``identity`` outside it. One ``pwrite`` of a fixed-size record at
    offset 0 of a file kept open (no rename, no fsync): a crash may leave the anchor one write behind,
    which still verifies; it never runs ahead of the database, whose commit came first. ``path``: the
    :func:`anchor_file` the caller already looked up."""
    path = path or anchor_file(identity)
    record = (_anchor_prefix(identity) + int.__repr__(int(seq)) + ',"hash":"' + mac + '"}').encode()
    try:
        fd, ident = _ANCHOR_FDS.get(path) or (None, None)
        if fd is not None:
            try:
                st = os.stat(path)
                same = (st.st_ino, st.st_dev) == ident
            except OSError:
                same = False
            if not same:  # replaced or removed behind our back: reopen
                _ANCHOR_FDS.pop(path, None)
                with contextlib.suppress(OSError):
                    os.close(fd)
                fd = None
        if fd is None:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            st = os.fstat(fd)
            _ANCHOR_FDS[path] = (fd, (st.st_ino, st.st_dev))
        os.pwrite(fd, record.ljust(max(ANCHOR_BYTES, len(record))), 0)
    except OSError:  # the record is committed; a missing anchor is reported by verify, not fatal here
        fd = (_ANCHOR_FDS.pop(path, None) or (None,))[0]
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def read_anchor(identity: str) -> dict | None:
    try:
        data = json.loads(_anchor_path(identity).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("seq"), int)
        or not isinstance(data.get("hash"), str)
    ):
        return None
    return data


def head(conn: sa.Connection) -> tuple[int, str] | None:
    """(seq, hash) of the newest audit entry, or None for an empty log."""
    row = rawsql.execute(conn, _statements()[0]).fetchone()
    return (row[0], row[1]) if row else None


@functools.cache
def _statements() -> tuple[sa.Select, sa.Insert]:
    # built once: SQLAlchemy then reuses the compiled form without re-deriving its cache key per commit
    a = m.audit_log
    return sa.select(a.c.seq, a.c.hash).order_by(a.c.seq.desc()).limit(1), sa.insert(a)


def append(
    conn: sa.Connection, entries: list[tuple[str, int, str, str]], at: datetime, key: bytes | None = None
) -> tuple[int, str] | None:
    """Append ``(table, row_id, action, row_json)`` entries after the current chain head.

    The caller holds the database's write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL advisory
    lock), so reading the head and appending cannot interleave with another writer. Returns the new head.
    """
    if not entries:
        return None
    seq, prev = head(conn) or (0, GENESIS)
    rows = []
    for table, row_id, action, row_json in entries:
        seq += 1
        prev = entry_hash(
            prev, seq=seq, at=at, table=table, row_id=row_id, action=action, row_json=row_json, key=key
        )
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
    if len(rows) == 1:
        rawsql.execute(conn, _statements()[1], rows[0])
    else:
        conn.execute(_statements()[1], rows)
    return seq, prev


def _stream(conn: sa.Connection, stmt: sa.Select) -> Iterator[sa.Row]:
    yield from conn.execution_options(yield_per=5000).execute(stmt)


def verify(conn: sa.Connection, key: bytes | None, anchor: dict | None = None) -> list[str]:
    """Every problem found in the chain and in the audited tables; ``[]`` when all is intact.

    ``key`` is the audit key (None: this bench has none, and the seal cannot be checked); ``anchor`` the
    chain head this bench recorded for the database (:func:`read_anchor`).
    """
    problems: list[str] = []
    a = m.audit_log.c
    expected_seq, prev = 1, GENESIS
    unsealed: list[int] = []  # a run of consecutive entries whose MAC fails, reported as one range
    anchored = None
    last_seq = 0

    def flush() -> None:
        if unsealed:
            span = f"seq {unsealed[0]}" if len(unsealed) == 1 else f"seq {unsealed[0]}..{unsealed[-1]}"
            problems.append(
                f"audit_log: entry {span} does not carry this bench's audit seal: edited, or re-hashed by "
                "someone without the audit key (or written by a bench with another key)"
            )
            unsealed.clear()

    for e in _stream(conn, sa.select(m.audit_log).order_by(a.seq)):
        last_seq = e.seq
        if anchor and e.seq == anchor["seq"]:
            anchored = e.hash
        if e.seq != expected_seq:
            flush()
            if e.seq > expected_seq:
                missing = f"{expected_seq}" if e.seq == expected_seq + 1 else f"{expected_seq}..{e.seq - 1}"
                problems.append(f"audit_log: entry seq {missing} deleted (chain jumps to seq {e.seq})")
            else:
                problems.append(f"audit_log: seq {e.seq} out of order (expected {expected_seq})")
        elif key is not None:
            want = entry_hash(
                prev,
                seq=e.seq,
                at=e.at,
                table=e.table_name,
                row_id=e.row_id,
                action=e.action,
                row_json=e.row_json,
                key=key,
            )
            if not hmac.compare_digest(want, e.hash):
                unsealed.append(e.seq)
            else:
                flush()
        expected_seq, prev = e.seq + 1, e.hash
    flush()
    if key is None and last_seq:
        problems.append(
            f"no audit key on this bench ({key_path()}): the seal of the {last_seq} entries cannot be checked "
            f"(copy the key of the bench that wrote them, or set {KEY_FILE_ENV})"
        )
    if anchor:
        n, h = anchor["seq"], anchor["hash"]
        if last_seq == 0:
            problems.append(
                f"audit_log is EMPTY, but this bench anchored entry seq {n}: the log was emptied or the "
                "database replaced"
            )
        elif last_seq < n:
            problems.append(
                f"audit_log ends at seq {last_seq}, but this bench anchored entry seq {n}: the tail was "
                "truncated or the records rolled back (an older copy restored)"
            )
        elif anchored is not None and not hmac.compare_digest(anchored, h):
            problems.append(
                f"audit_log entry seq {n} is not the one this bench anchored: the log was rewritten or "
                "rolled back and written again"
            )
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
            try:
                was = json.loads(aud.row_json)
            except ValueError:
                yield f"audit_log: entry seq {aud.seq} ({table.name} row {aud.row_id}) is unreadable (damaged)"
                aud, cur = next(audited, None), next(current, None)
                continue
            # a column added by a later migration (NULL on rows written before it) is absent from their
            # audited JSON: a missing key compares as NULL, so those rows verify as they were written
            changed = sorted(k for k in now.keys() | was.keys() if now.get(k) != was.get(k))
            if changed:
                detail = ", ".join(f"{k} audited {was.get(k)!r} now {now.get(k)!r}" for k in changed[:4])
                yield f"{table.name} row {cur.id}: edited behind the store's back ({detail})"
            aud, cur = next(audited, None), next(current, None)
