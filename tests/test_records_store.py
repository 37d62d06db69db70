"""The records store on every backend: migrations, the engine's write path, read-back, resume, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from test_records_helpers import db_url, pg_schemas, populate, store

from bench.records import RecordStore
from bench.records import models as m
from bench.records.store import POINT_ROW_COLUMNS
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = (db_url, pg_schemas, store)  # shared fixtures, imported by name for pytest


def test_migrates_empty_database_to_head_and_matches_models(db_url):
    s = RecordStore.open(db_url)
    s.close()
    s = RecordStore.open(db_url)  # a second open is a no-op, not a second CREATE TABLE
    engine = s._engine
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        assert {t.name for t in m.metadata.sorted_tables} <= names
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "0003"
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), m.metadata)
    s.close()
    assert diffs == [], f"models.py and the migrations disagree: {diffs}"


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    s = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    with s._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    s.close()


def test_full_write_path_round_trips_through_run_record(store):
    ids = populate(store)
    rec = store.run_record(ids["run"])
    json.dumps(rec)  # plain JSON-able, no datetimes or Decimals
    run = rec["run"]
    assert run["status"] == "finished" and run["outcome"] == "passed"
    assert run["environment"] == {"temperature_c": 23.1, "humidity_pct": 41}
    assert run["bench_seconds"] == 1234.5 and run["pid"] == os.getpid()
    assert datetime.fromisoformat(run["started_at"]).tzinfo is not None
    assert rec["bench"]["name"] == "bench-A"
    roles = {i["role"]: i for i in rec["instruments"]}
    assert roles["reference"]["calibration"]["data"]["certificate"] == "CAL-2026-117"
    assert roles["source"]["calibration"] is None
    assert [(p["position"], p["meter"]["serial"], p["outcome"]) for p in rec["positions"]] == [
        (1, "SN-1001", "passed"),
        (2, "SN-1002", "failed"),
    ]
    assert len(rec["points"]) == 6
    pf2 = next(p for p in rec["points"] if p["position"] == 2 and p["point_id"] == "PF")
    assert (
        pf2["status"] == "failed"
        and pf2["result"]["verdict"] == "fail"
        and pf2["result"]["error_percent"] == 0.35
    )
    assert pf2["result"]["budget"][1] == {"name": "repeatability", "u": 0.003, "dof": 1}
    assert pf2["limit_provenance"]["clause"] == "5.5.4"
    fl1 = next(p for p in rec["points"] if p["position"] == 1 and p["point_id"] == "FL")
    assert [r["error_percent"] for r in fl1["readings"]] == [0.01, 0.012]
    assert fl1["readings"][0]["reference"]["v"] == [240.0, 240.1, 239.9]
    assert {len(rec[k]) for k in ("averages", "creep", "starting")} == {1}
    assert [w["position"] for w in rec["wiring_checks"]] == [None, 1]
    assert rec["certificates"][0]["number"] == f"MB-{ids['run']:05d}-1"
    assert store.verify_audit() == []


def test_meter_snapshot_keeps_the_nameplate_as_tested(store):
    ids = populate(store)
    store.upsert_meter(
        "SN-1001",
        manufacturer="Itron",
        model="CENTRON",
        form="2S",
        accuracy_class="0.2",
        current_class="CL200",
        voltage_v=240,
        ta_a=30,
        kh=7.2,
        kt=7.2,
        firmware="2.0.0",
    )
    rec = store.run_record(ids["run"])
    assert rec["positions"][0]["meter"]["firmware"] == "1.4.2"
    assert (
        store.upsert_bench("bench-A", "Meter shop bay 2", {"positions": 2, "supply": "3ph"}) == ids["bench"]
    )
    assert store.verify_audit() == []


def test_completed_points_are_done_failed_or_skipped(store):
    """What a resumed run must not repeat; a point still running when the process died is repeated."""
    ids = populate(store, finish=False)
    extra = store.add_point(
        ids["run"],
        position=1,
        point_id="LL",
        label="Light load",
        element="ABC",
        test_pass="as-left",
        kind="accuracy",
        voltage_v=240,
        current_a=3,
        lag_deg=0,
        limit_lo=-0.2,
        limit_hi=0.2,
        limit_provenance={},
        planned={},
    )
    skipped = store.add_point(
        ids["run"],
        position=2,
        point_id="LL",
        label="Light load",
        element="ABC",
        test_pass="as-left",
        kind="accuracy",
        voltage_v=240,
        current_a=3,
        lag_deg=0,
        limit_lo=None,
        limit_hi=None,
        limit_provenance={},
        planned={},
    )
    store.finish_point(
        skipped,
        status="skipped",
        error_percent=None,
        expanded_percent=None,
        coverage_factor=None,
        dof=None,
        budget=[],
        verdict=None,
        decision_rule=None,
        message="operator skipped",
    )
    done = store.completed_points(ids["run"])
    assert (2, "PF", "as-found") in done and (1, "FL", "as-found") in done
    assert len(done) == 7
    assert (1, "LL", "as-left") not in done and (2, "LL", "as-left") in done
    assert extra


def test_bad_values_are_refused_whole(store):
    ids = populate(store, finish=False)
    prow = ids["points"][(1, "FL")]
    before = len(store.run_record(ids["run"])["points"][0]["readings"])
    with pytest.raises(InputError, match="readings.error_percent"):
        store.add_reading(
            prow,
            index=9,
            meter_pulses=10,
            ref_pulses=10.0,
            kr_wh=1,
            kt_wh=1,
            gate_seconds=1,
            error_percent=float("nan"),
            instrument_error_percent=None,
            reference={},
        )
    with pytest.raises(InputError, match="test_pass") as err:
        store.add_point(
            ids["run"],
            position=1,
            point_id="X",
            label="",
            element="A",
            test_pass="as found",
            kind="accuracy",
            voltage_v=1,
            current_a=1,
            lag_deg=0,
            limit_lo=None,
            limit_hi=None,
            limit_provenance={},
            planned={},
        )
    assert "as-found, as-left" in str(err.value)
    with pytest.raises(InputError, match="position"):
        store.add_average(
            ids["run"], position=7, test_pass="as-found", rule="r", value_percent=0.1, verdict="pass"
        )
    with pytest.raises(InputError, match="already done"):
        store.finish_point(
            prow,
            status="done",
            error_percent=0.0,
            expanded_percent=0.02,
            coverage_factor=2,
            dof=10,
            budget=[],
            verdict="pass",
            decision_rule="simple",
        )
    with pytest.raises(InputError, match="outcome"):
        store.finish_run(ids["run"], "ok", bench_seconds=1, wall_seconds=1)
    assert len(store.run_record(ids["run"])["points"][0]["readings"]) == before
    assert store.verify_audit() == []


def test_list_runs_filters_and_meter_history(store):
    a = populate(store)
    b = populate(store, serials=("SN-2001",), form="9S", outcome="failed", bench="bench-B")
    assert [r["id"] for r in store.list_runs()] == [b["run"], a["run"]]
    assert [r["id"] for r in store.list_runs(serial="SN-2001")] == [b["run"]]
    assert [r["id"] for r in store.list_runs(form="2S")] == [a["run"]]
    assert [r["id"] for r in store.list_runs(outcome="failed")] == [b["run"]]
    assert [r["id"] for r in store.list_runs(bench="bench-A")] == [a["run"]]
    future = datetime.now(UTC) + timedelta(days=1)
    assert store.list_runs(since=future) == []
    assert len(store.list_runs(until=future)) == 2
    assert store.list_runs(limit=1)[0]["positions"] == [
        {"position": 1, "serial": "SN-2001", "form": "9S", "outcome": "passed"}
    ]
    c = populate(store)  # SN-1001 tested again
    hist = store.meter_history("SN-1001")
    assert [h["run_id"] for h in hist] == [a["run"], c["run"]]
    assert [p["point_id"] for p in hist[0]["points"]] == ["FL", "LL", "PF"]
    assert hist[0]["points"][0]["readings"] == 2 and hist[0]["points"][0]["verdict"] == "pass"
    assert store.meter_history("nope") == []
    rows = store.point_rows(serial="SN-1002")
    assert len(rows) == 6 and set(rows[0]) == set(POINT_ROW_COLUMNS)


def test_certificates_are_found_and_unique(store):
    ids = populate(store)
    cert = store.find_certificate(f"MB-{ids['run']:05d}-1")
    assert (
        cert["serial"] == "SN-1001"
        and cert["dcc_path"] == "/certs/a.xml"
        and cert["position_outcome"] == "passed"
    )
    assert store.find_certificate("MB-99999-9") is None
    with pytest.raises(InputError, match="already recorded"):
        store.record_certificate(
            ids["run"], 1, number=cert["number"], content_hash="x", pdf_path="b", dcc_path=None
        )


def test_recover_other_host_by_stale_heartbeat_then_resume(store, monkeypatch):
    ids = populate(store, finish=False)
    own = populate(store, finish=False)  # this process, alive: never "interrupted"
    monkeypatch.setattr("bench.records.store.socket.gethostname", lambda: "bench-pc-7")
    other = populate(store, finish=False)
    monkeypatch.undo()
    assert store.recover_interrupted(stale_after_s=3600) == []
    store.heartbeat(ids["run"])
    assert store.recover_interrupted(stale_after_s=0) == [other["run"]]
    assert store.run_record(other["run"])["run"]["status"] == "interrupted"
    store.mark_resumed(other["run"])
    run = store.run_record(other["run"])["run"]
    assert run["status"] == "running" and run["resumes"] == 1 and run["pid"] == os.getpid()
    with pytest.raises(InputError, match="only an interrupted run"):
        store.mark_resumed(own["run"])
    assert store.verify_audit() == []


_WRITER = """
import sys, time
from bench.records import RecordStore
s = RecordStore.open(sys.argv[1])
b = s.upsert_bench("bench-kill", "lab", {})
mt = s.upsert_meter("SN-K", form="2S", accuracy_class="0.2", current_class="CL200", voltage_v=240, ta_a=30, kh=7.2, kt=7.2)
run = s.start_run(plan_id="p", plan_version="1", plan_sha256="0"*64, bench_id=b, operator="ci", environment={}, settings={}, positions={1: mt})
p = s.add_point(run, position=1, point_id="FL", label="Full load", element="ABC", test_pass="as-found", kind="accuracy", voltage_v=240, current_a=30, lag_deg=0, limit_lo=-0.2, limit_hi=0.2, limit_provenance={}, planned={})
print("run", run, flush=True)
i = 0
while True:
    rid = s.add_reading(p, index=i, meter_pulses=10, ref_pulses=10.001, kr_wh=0.0012, kt_wh=7.2, gate_seconds=1.0, error_percent=-0.01, instrument_error_percent=None, reference={"i": i})
    print("reading", rid, flush=True)
    i += 1
"""


@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_sigkill_mid_run_leaves_every_committed_reading_and_an_intact_chain(db_url):
    RecordStore.open(db_url).close()  # migrate first so the child starts writing at once
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, db_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    run_id, committed = None, []
    deadline = time.monotonic() + 30
    while len(committed) < 40 and time.monotonic() < deadline:
        kind, value = proc.stdout.readline().split()
        if kind == "run":
            run_id = int(value)
        else:
            committed.append(int(value))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and len(committed) >= 40
    s = RecordStore.open(db_url)
    try:
        assert s.recover_interrupted() == [run_id]
        rec = s.run_record(run_id)
        assert rec["run"]["status"] == "interrupted"
        assert rec["points"][0]["status"] == "interrupted"
        stored = {r["id"] for r in rec["points"][0]["readings"]}
        assert set(committed) <= stored  # every reading add_reading returned for is there
        assert s.verify_audit() == []
        assert s.completed_points(run_id) == set()
    finally:
        s.close()


_CONCURRENT = """
import sys
from bench.records import RecordStore
s = RecordStore.open(sys.argv[1])
p = int(sys.argv[2])
for i in range(40):
    s.add_reading(p, index=i, meter_pulses=1, ref_pulses=1.0, kr_wh=1.0, kt_wh=1.0, gate_seconds=1.0, error_percent=0.0, instrument_error_percent=None, reference={"w": sys.argv[3]})
"""


def test_two_processes_writing_at_once_keep_one_unforked_chain(db_url, store):
    ids = populate(store, finish=False)
    p = ids["points"][(1, "FL")]
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT, db_url, str(p), w], cwd=ROOT) for w in "ab"]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    readings = next(x for x in store.run_record(ids["run"])["points"] if x["id"] == p)["readings"]
    assert len(readings) == 2 + 80
    assert store.verify_audit() == []


def test_bad_urls_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="--db"):
        RecordStore.open("mysql://x/y")
    with pytest.raises(InputError, match="no records database"):
        RecordStore.open(f"sqlite:///{tmp_path / 'missing.sqlite'}", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(InputError, match="in-memory"):
        RecordStore.open("sqlite://")


def test_default_url_is_the_per_user_data_file(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    s = RecordStore.open()
    assert s.url == f"sqlite:///{tmp_path / 'meterbench' / 'meterbench.sqlite'}"
    s.close()
    assert (tmp_path / "meterbench" / "meterbench.sqlite").exists()


def _point(store, run_id, point_id):
    return store.add_point(
        run_id, position=1, point_id=point_id, label=point_id, element="series", test_pass="as-found",
        kind="accuracy", voltage_v=240.0, current_a=30.0, lag_deg=0.0, limit_lo=-0.5, limit_hi=0.5,
        limit_provenance={}, planned={},
    )  # fmt: skip


def _reading(store, row, index):
    return store.add_reading(
        row, index=index, meter_pulses=10, ref_pulses=1000.0, kr_wh=0.0072, kt_wh=0.72, gate_seconds=1.0,
        error_percent=0.01, instrument_error_percent=None, reference={},
    )  # fmt: skip


def test_a_batch_commits_all_its_writes_or_none(store):
    """One gate's readings on every position go in one transaction: a failure part-way stores none of
    them (no half-written gate), a completed batch stores all of them, audited."""
    ids = populate(store, finish=False)
    row = _point(store, ids["run"], "RETRY")
    with pytest.raises(InputError), store.batch():
        _reading(store, row, 0)
        _reading(store, row, 1)
        store.add_point(ids["run"], position=99, point_id="X", label="X", element="series",
                        test_pass="as-found", kind="accuracy", voltage_v=1.0, current_a=1.0, lag_deg=0.0,
                        limit_lo=None, limit_hi=None, limit_provenance={}, planned={})  # fmt: skip
    point = next(p for p in store.run_record(ids["run"])["points"] if p["id"] == row)
    assert point["readings"] == []
    with store.batch():
        for i in range(3):
            _reading(store, row, i)
    point = next(p for p in store.run_record(ids["run"])["points"] if p["id"] == row)
    assert [r["idx"] for r in point["readings"]] == [0, 1, 2]
    assert store.verify_audit() == []
