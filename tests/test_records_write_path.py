"""The records' write path as the engine uses it: a gate's readings on every position go to the database as
one INSERT and are committed together; finishing a point this store opened reads nothing back; each JSON
value is written as the text the audit entry holds; and the audit chain still verifies (issue #14)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_records_helpers import db_url, pg_schemas

from bench.records import RecordStore
from procedures.errors import InputError

FIXTURES = (db_url, pg_schemas)  # shared fixtures, imported by name for pytest


def _statements(store: RecordStore) -> list[str]:
    seen: list[str] = []
    sa.event.listen(store._engine, "before_cursor_execute", lambda c, cur, stmt, *a: seen.append(stmt))
    return seen


def _board(store: RecordStore, positions: int = 4):
    bench = store.upsert_bench("bench-wp", "lab", {"k": 1})
    meters = {
        p: store.upsert_meter(
            f"WP-{p}",
            form="2S",
            accuracy_class="0.5",
            current_class="CL200",
            voltage_v=240,
            ta_a=30,
            kh=7.2,
            kt=0.6,
        )  # fmt: skip
        for p in range(1, positions + 1)
    }
    run = store.start_run(plan_id="p", plan_version="1", plan_sha256="0" * 64, bench_id=bench, operator="t",
                          environment={}, settings={}, positions=meters)  # fmt: skip
    with store.batch():
        rows = {
            p: store.add_point(
                run,
                position=p,
                point_id="FL",
                label="FL",
                element="series",
                test_pass="as-found",
                kind="accuracy",
                voltage_v=240,
                current_a=30,
                lag_deg=0,
                limit_lo=-0.5,
                limit_hi=0.5,
                limit_provenance={"table": "t"},
                planned={"meter_pulses": 3, "split": (1, 2)},
            )  # fmt: skip
            for p in meters
        }
    return run, rows


def _reading(store, row, i):
    store.add_reading(row, index=i, meter_pulses=3, ref_pulses=3.0001, kr_wh=1e-5, kt_wh=0.6, gate_seconds=12.5,
                      error_percent=-0.003, instrument_error_percent=None, reference={"v": [240.0], "n": i})  # fmt: skip


def test_a_gate_on_every_position_is_one_insert_and_one_commit(db_url):
    store = RecordStore.open(db_url)
    try:
        run, rows = _board(store)
        seen = _statements(store)
        with store.batch():
            for row in rows.values():
                _reading(store, row, 0)
        inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO READINGS")]
        assert len(inserts) == 1, inserts
        record = store.run_record(run)
        assert sorted(len(p["readings"]) for p in record["points"]) == [1, 1, 1, 1]
        assert record["points"][0]["readings"][0]["reference"] == {"v": [240.0], "n": 0}
        assert store.verify_audit() == []
    finally:
        store.close()


def test_finishing_a_point_reads_nothing_back_and_is_recorded_once(db_url):
    store = RecordStore.open(db_url)
    try:
        run, rows = _board(store)
        row = rows[1]
        _reading(store, row, 0)
        seen = _statements(store)
        store.finish_point(row, status="done", error_percent=-0.003, expanded_percent=0.02, coverage_factor=2.0,
                           dof=10.0, budget=[{"name": "ref", "u": 0.01}], verdict="pass", decision_rule="simple")  # fmt: skip
        assert not [s for s in seen if s.lstrip().upper().startswith("SELECT") and "points" in s.lower()], (
            seen
        )
        with pytest.raises(InputError, match="already done"):
            store.finish_point(row, status="done", error_percent=0.0, expanded_percent=0.02, coverage_factor=2.0,
                               dof=10.0, budget=[], verdict="pass", decision_rule="simple")  # fmt: skip
        point = next(p for p in store.run_record(run)["points"] if p["position"] == 1)
        assert point["status"] == "done"
        assert (point["limit_lo"], point["limit_hi"]) == (-0.5, 0.5)
        assert point["planned"] == {"meter_pulses": 3, "split": [1, 2]}  # JSON as stored: tuples are lists
        assert store.verify_audit() == []
    finally:
        store.close()


def test_a_point_finished_by_another_store_is_not_finished_twice(db_url):
    first = RecordStore.open(db_url)
    second = RecordStore.open(db_url)
    try:
        _, rows = _board(first)
        second.mark_interrupted(second.recover_interrupted() and 0 or 1)  # run 1: its points interrupted
        with pytest.raises(InputError, match="already interrupted"):
            first.finish_point(rows[2], status="done", error_percent=0.0, expanded_percent=0.02, coverage_factor=2.0,
                               dof=10.0, budget=[], verdict="pass", decision_rule="simple")  # fmt: skip
        assert first.verify_audit() == []
    finally:
        first.close()
        second.close()


def test_a_refused_value_in_a_batch_writes_nothing(db_url):
    store = RecordStore.open(db_url)
    try:
        run, rows = _board(store)
        with pytest.raises(InputError, match="readings.error_percent"), store.batch():
            _reading(store, rows[1], 0)
            store.add_reading(rows[2], index=0, meter_pulses=3, ref_pulses=3.0, kr_wh=1e-5, kt_wh=0.6,
                              gate_seconds=1.0, error_percent=float("nan"), instrument_error_percent=None,
                              reference={})  # fmt: skip
        assert all(not p["readings"] for p in store.run_record(run)["points"])
        assert store.verify_audit() == []
    finally:
        store.close()


def test_single_commit_readings_from_two_stores_interleave_on_one_chain(db_url):
    """Each reading's statements go to the driver directly on SQLite: two stores (two benches' processes on
    one file) interleave, every reading reads back as written, and the chain verifies."""
    first = RecordStore.open(db_url)
    second = RecordStore.open(db_url)
    try:
        run, rows = _board(first)
        for i in range(6):
            _reading(first if i % 2 else second, rows[1 + i % 2], i)
        record = first.run_record(run)
        taken = {p["position"]: p["readings"] for p in record["points"]}
        assert [r["idx"] for r in taken[1]] == [0, 2, 4] and [r["idx"] for r in taken[2]] == [1, 3, 5]
        assert taken[2][1]["reference"] == {"v": [240.0], "n": 3}
        assert all(str(r["taken_at"]).endswith("Z") for r in taken[1]), taken[1]
        assert first.verify_audit() == [] and second.verify_audit() == []
        head = first.audit_head()
        with pytest.raises(sa.exc.IntegrityError):  # no such point: the database refuses it, nothing written
            _reading(first, 10_000, 9)
        assert first.audit_head() == head and first.verify_audit() == []
    finally:
        first.close()
        second.close()
