"""SQLite's write connection, held open between writes instead of checked out of the pool for each one.

Why (issue #14): a single-commit reading spent about a quarter of its Python in the pool's checkout and
check-in (events, the reset-on-return rollback, a new Connection object), for the one connection a store
writes through anyway, and more in SQLAlchemy's transaction objects. Each write is still its own
transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, the engine's pragmas unchanged), now sent to the driver
directly; a statement sent through SQLAlchemy joins it (``opening.sqlite_engine``'s begin hook sees the
driver already in a transaction) and then SQLAlchemy's commit ends it. Holding the connection changes what
Python runs per commit, not what SQLite makes durable.

The rules that keep it as safe as the pool:

- One writer at a time. A write that finds the held connection busy (another thread mid-write, or this
  thread's own open batch) takes a pooled connection exactly as before, so SQLite's write lock and busy
  timeout still decide who waits, and nothing new can deadlock.
- A write that raises anything (a refused value, a disk error, Ctrl-C) hands the connection back to the
  pool, whose reset rolls back whatever the failure left behind; the next write holds a fresh one.
- PostgreSQL is not held (see :class:`bench.records.store.RecordStore`): its pool checks that the server is
  alive at every checkout, which a held connection would skip.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref

import sqlalchemy as sa


class HeldConnection:
    """The write connection of one SQLite store, kept between its writes."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._conn: sa.Connection | None = None
        self._driver = None  # the sqlite3 connection under _conn
        self._finalizer: weakref.finalize | None = None

    def begin(self) -> HeldConnection | contextlib.AbstractContextManager[sa.Connection]:
        """One write transaction, for a ``with`` statement at once: on the held connection (this object,
        whose lock it now holds until the block ends), or on a pooled one while the held one is busy. A
        class rather than a generator: it wraps every committed reading."""
        if not self._lock.acquire(blocking=False):
            return self._engine.begin()
        return self

    def __enter__(self) -> sa.Connection:
        try:
            conn = self._conn
            if conn is None:
                conn = self._conn = self._engine.connect()
                self._driver = conn.connection.driver_connection
                # a store dropped without close() still gives its connection back to the pool
                self._finalizer = weakref.finalize(self, conn.close)
            # the transaction is the driver's own: SQLAlchemy's begin and commit cost more Python than the
            # statements (a statement sent through SQLAlchemy joins it, see opening.sqlite_engine's begin hook)
            _send(self._driver, "BEGIN IMMEDIATE")
        except BaseException:
            self._drop()
            self._lock.release()
            raise
        return conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is None:
                try:
                    if self._conn.in_transaction():
                        self._conn.commit()
                    else:
                        _send(self._driver, "COMMIT")
                    return
                except BaseException:
                    self._drop()
                    raise
            self._drop()  # the pool's reset rolls back whatever the failure left
        finally:
            self._lock.release()

    def close(self) -> None:
        """Give the connection back to the pool (before the engine is disposed). One in use by another
        thread at this moment is left to it; it goes back when the store is collected."""
        if self._lock.acquire(timeout=5):
            try:
                self._drop()
            finally:
                self._lock.release()

    def _drop(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _send(driver, sql: str) -> None:
    """``sql`` on the sqlite3 connection; a driver error raised as SQLAlchemy's, as SQLAlchemy would."""
    try:
        driver.execute(sql)
    except sqlite3.Error as err:
        raise sa.exc.DBAPIError.instance(sql, (), err, sqlite3.Error) from err
