"""SQLite's per-commit statements sent straight to the driver: each compiled once by SQLAlchemy (its SQL text,
parameter order and bind processors, so values are stored exactly as SQLAlchemy would store them), then
executed on the transaction's own DBAPI cursor.

Why: a single-commit reading runs three statements (the reading, the audit head, the audit entry); through
SQLAlchemy's execution machinery each costs ~0.1 ms of Python, more than SQLite's own work, and the engine
commits a reading every few seconds on every position (issue #14). The transaction, its BEGIN IMMEDIATE and
its commit stay SQLAlchemy's. A driver error is re-raised as the SQLAlchemy exception the statement would
have raised (``IntegrityError``, ``OperationalError``), so callers see no difference. PostgreSQL, and any
statement whose compiled form needs SQLAlchemy at execution time (Python-side defaults), take the ordinary path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

# the SQL text and, per parameter in order: its name, the bind processor (None: none), and _GIVEN when the
# call gives its value, else the statement's own value (a LIMIT), already processed
_Compiled = tuple[str, tuple[tuple[str, Callable | None, Any], ...]] | None
_GIVEN = object()
_cache: dict[tuple[int, Any], _Compiled] = {}


_remembered: dict[tuple[str, str], Callable] = {}


def _remembering(process: Callable | None, type_: Any, dialect: sa.Dialect) -> Callable | None:
    """A time column's processor that remembers its last value and result, shared by every statement with a
    column of that type: a transaction stamps its rows and their audit entries with one time, so a
    single-commit reading formats it once, not twice. By identity (a datetime never changes), and the pair
    is replaced whole, so threads cannot pair one time with another's text."""
    base = type_.impl_instance if isinstance(type_, sa.TypeDecorator) else type_
    if process is None or not isinstance(base, sa.DateTime):
        return process
    key = (dialect.name, repr(type_))  # the type with its arguments (a timezone flag changes the text)
    if key in _remembered:
        return _remembered[key]
    last: tuple[Any, Any] = (None, None)

    def remembered(value: Any) -> Any:
        nonlocal last
        seen, result = last
        if value is seen and value is not None:
            return result
        result = process(value)
        last = (value, result)
        return result

    return _remembered.setdefault(key, remembered)


def _compile(stmt: sa.Executable, dialect: sa.Dialect, keys: tuple[str, ...]) -> _Compiled:
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    if (
        getattr(compiled, "insert_prefetch", None)
        or getattr(compiled, "update_prefetch", None)
        or getattr(compiled, "postfetch", None)
        or compiled.positiontup is None
    ):
        return None  # SQLAlchemy computes something at execution time: leave it to SQLAlchemy
    processors = {  # what SQLAlchemy would apply: the type's own conversion, then the dialect's
        name: _remembering(bind.type.dialect_impl(dialect).bind_processor(dialect), bind.type, dialect)
        for name, bind in compiled.binds.items()
    }
    fixed = {}  # parameters the statement itself holds (a LIMIT), not given by this call
    for name in set(compiled.positiontup) - set(keys):
        bind = compiled.binds.get(name)
        if bind is None or bind.callable is not None or bind.required:
            return None
        value = bind.effective_value
        fixed[name] = value if processors.get(name) is None else processors[name](value)
    params = tuple(
        (name, None, fixed[name]) if name in fixed else (name, processors.get(name), _GIVEN)
        for name in compiled.positiontup
    )
    return compiled.string, params


def execute(conn: sa.Connection, stmt: sa.Executable, values: Mapping[str, Any] | None = None) -> Any:
    """Run ``stmt`` with ``values`` and return the DBAPI cursor (SQLite), or SQLAlchemy's result
    (other backends, or a statement this cannot run directly). Both answer ``fetchone()``."""
    values = values or {}
    if conn.dialect.name != "sqlite":
        return conn.execute(stmt, values)
    keys = tuple(values)
    cache_key = (id(stmt), keys)
    try:
        plan = _cache[cache_key]
    except KeyError:
        plan = _cache[cache_key] = _compile(stmt, conn.dialect, keys)
        _cache[(id(stmt), "stmt")] = stmt  # keeps the statement alive, so its id is not reused
    if plan is None:
        return conn.execute(stmt, values)
    sql, params = plan
    # a list comprehension, not a generator: this runs for every statement of every committed reading
    given = _GIVEN
    args = [(values[n] if p is None else p(values[n])) if f is given else f for n, p, f in params]
    cursor = _driver(conn).cursor()
    try:
        cursor.execute(sql, args)
    except sqlite3.Error as err:
        raise sa.exc.DBAPIError.instance(sql, args, err, sqlite3.Error) from err
    return cursor


_last_driver: tuple[Any, Any] = (None, None)  # (SQLAlchemy connection, its sqlite3 connection), one pair


def _driver(conn: sa.Connection) -> Any:
    """The sqlite3 connection under ``conn``. Four SQLAlchemy properties lead there; a write's statements
    all run on one connection, so the last pair answers. A connection is used for one transaction (pooled)
    or given back on the first error (held, bench.records.held), so it never changes driver while in use."""
    global _last_driver
    last, driver = _last_driver
    if last is not conn:
        driver = conn.connection.driver_connection
        _last_driver = (conn, driver)
    return driver
