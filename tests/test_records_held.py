"""SQLite's write connection is held between writes (bench.records.held, issue #14). What a user would notice
if that went wrong, and what these tests check does not happen: a reading that is not yet visible to
another process when add_reading returns (an open transaction left on the held connection), a store that
stops writing after one refused value or a Ctrl-C mid-write, two threads' writes that deadlock or fork the
audit chain, and a closed store that leaves its connection open."""

from __future__ import annotations

import math
import sqlite3
import threading

import pytest
import sqlalchemy as sa
from test_records_write_path import _board, _reading

from bench.records import RecordStore, audit
from procedures.errors import InputError


def _run(store: RecordStore) -> int:
    return _board(store, positions=1)[1][1]


def _others_see(path, sql: str) -> list[tuple]:
    """What another process sees: a plain read-only connection of its own."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _nothing_left_open(path) -> None:
    """No transaction is left open on the held connection: another process takes the write lock at once."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
    finally:
        con.close()


@pytest.fixture
def sqlite_store(tmp_path):
    path = tmp_path / "records.sqlite"
    store = RecordStore.open(f"sqlite:///{path}")
    yield store, path
    store.close()


def test_a_reading_is_visible_to_another_process_the_moment_add_reading_returns(sqlite_store):
    store, path = sqlite_store
    point = _run(store)
    driver = store._held._driver  # the held connection keeps the engine's durability settings
    assert driver.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert driver.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL: a commit survives power loss
    for i in range(3):
        _reading(store, point, i)
        assert _others_see(path, "SELECT idx FROM readings ORDER BY id DESC LIMIT 1") == [(i,)]
        seq = int(store.audit_head().split(":")[0])
        assert _others_see(path, "SELECT max(seq) FROM audit_log") == [(seq,)]
    _nothing_left_open(path)


def test_a_refused_value_or_a_ctrl_c_mid_write_leaves_the_store_writing(sqlite_store, monkeypatch):
    store, path = sqlite_store
    point = _run(store)
    _reading(store, point, 0)
    head = store.audit_head()
    with pytest.raises(InputError, match="error_percent"):
        store.add_reading(point, index=1, meter_pulses=3, ref_pulses=3.0, kr_wh=1e-5, kt_wh=0.6, gate_seconds=1.0,
                          error_percent=math.nan, instrument_error_percent=None, reference={})  # fmt: skip
    real_append = audit.append

    def interrupted(*a, **kw):  # Ctrl-C after the reading's row was written, before its audit entry
        raise KeyboardInterrupt

    monkeypatch.setattr(audit, "append", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _reading(store, point, 2)
    monkeypatch.setattr(audit, "append", real_append)
    assert store.audit_head() == head
    assert _others_see(path, f"SELECT idx FROM readings WHERE point_id = {point}") == [(0,)]
    _reading(store, point, 3)
    assert _others_see(path, f"SELECT idx FROM readings WHERE point_id = {point} ORDER BY id") == [(0,), (3,)]
    assert store.verify_audit() == []


def test_two_threads_writing_at_once_both_commit_on_one_chain(sqlite_store):
    store, path = sqlite_store
    point = _run(store)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(offset: int) -> None:
        try:
            start.wait()
            for i in range(offset, offset + 40):
                _reading(store, point, i)
        except BaseException as err:  # noqa: BLE001 - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(k * 100,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with store.batch():  # this thread's batch holds the connection; the other thread's write goes round it
        _reading(store, point, 500)
        done = threading.Event()
        threading.Thread(target=lambda: (_reading(store, point, 501), done.set()), daemon=True).start()
        assert not done.wait(0.3)  # it waits for the batch's write lock, as two processes would
    assert done.wait(30)
    assert _others_see(path, f"SELECT count(*) FROM readings WHERE point_id = {point}") == [(82,)]
    assert store.verify_audit() == []


def test_closing_the_store_gives_its_write_connection_back(tmp_path):
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    _reading(store, _run(store), 0)
    pool = store._engine.pool
    assert pool.checkedout() == 1  # the held write connection
    store.close()
    assert pool.checkedout() == 0


def test_a_store_dropped_without_close_gives_its_connection_back(tmp_path):
    import gc

    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    _reading(store, _run(store), 0)
    pool = store._engine.pool
    del store
    gc.collect()
    assert pool.checkedout() == 0


def test_a_write_mixing_direct_and_sqlalchemy_statements_is_one_transaction(sqlite_store):
    """The held connection's transaction is the driver's; a statement sent through SQLAlchemy joins it, and
    a failure anywhere in the write takes back everything the write did."""
    from bench.records import models as m

    store, path = sqlite_store
    with store._write() as tx:
        bench = tx.insert(m.benches, {"name": "mixed", "location": "lab", "config": {}, "created_at": tx.at,
                                      "updated_at": tx.at})  # fmt: skip
        tx.conn.execute(sa.update(m.benches).where(m.benches.c.id == bench).values(location="lab"))
    assert _others_see(path, "SELECT name FROM benches") == [("mixed",)]
    head = store.audit_head()
    with pytest.raises(InputError, match="--db"), store._write() as tx:
        tx.insert(m.benches, {"name": "lost", "location": "lab", "config": {}, "created_at": tx.at,
                              "updated_at": tx.at})  # fmt: skip
        tx.conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert _others_see(path, "SELECT name FROM benches") == [("mixed",)]
    assert store.audit_head() == head
    store.heartbeat(_run(store))  # through SQLAlchemy alone
    _nothing_left_open(path)
    assert store.verify_audit() == []
