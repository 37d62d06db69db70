"""The audit chain catches what an auditor must not miss: rows and audit entries changed behind the store."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from test_records_helpers import db_url, pg_schemas, populate, raw_sql, store

from bench.cli import main
from bench.records import audit

FIXTURES = (db_url, pg_schemas, store)


def _reading_id(store, ids) -> int:
    rec = store.run_record(ids["run"])
    return rec["points"][0]["readings"][1]["id"]


def test_intact_chain_verifies_and_heartbeats_do_not_count(store, db_url, capsys):
    ids = populate(store, finish=False)
    store.heartbeat(ids["run"])
    assert store.verify_audit() == []
    assert main(["audit", "verify", "--db", db_url]) == 0
    assert "intact" in capsys.readouterr().out


def test_update_behind_the_stores_back_is_named(store, db_url, capsys):
    ids = populate(store)
    rid = _reading_id(store, ids)
    raw_sql(db_url, f"UPDATE readings SET error_percent = 0.0 WHERE id = {rid}")
    problems = store.verify_audit()
    assert len(problems) == 1
    assert f"readings row {rid}: edited" in problems[0] and "error_percent" in problems[0]
    assert main(["audit", "verify", "--db", db_url]) == 1
    assert f"readings row {rid}: edited" in capsys.readouterr().out


def test_result_verdict_flipped_behind_the_stores_back_is_named(store, db_url):
    ids = populate(store)
    raw_sql(db_url, "UPDATE results SET verdict = 'pass' WHERE verdict = 'fail'")
    problems = store.verify_audit()
    assert (
        len(problems) == 1
        and "results row" in problems[0]
        and "verdict audited 'fail' now 'pass'" in problems[0]
    )
    assert ids


def test_delete_behind_the_stores_back_is_named(store, db_url):
    ids = populate(store)
    rid = _reading_id(store, ids)
    raw_sql(db_url, f"DELETE FROM readings WHERE id = {rid}")
    problems = store.verify_audit()
    assert problems == [problems[0]] and f"readings row {rid}: deleted" in problems[0]


def test_insert_behind_the_stores_back_is_named(store, db_url):
    ids = populate(store)
    p = ids["points"][(1, "FL")]
    raw_sql(
        db_url,
        "INSERT INTO readings (id, point_id, idx, meter_pulses, ref_pulses, kr_wh, kt_wh, gate_seconds, "
        f"error_percent, reference, taken_at) VALUES (9999, {p}, 5, 10, 10.0, 1.0, 1.0, 1.0, 0.0, '{{}}', "
        "'2026-01-01 00:00:00')",
    )
    problems = store.verify_audit()
    assert problems == ["readings row 9999: not in the audit log (written behind the store's back)"]


def test_edited_audit_entry_is_named(store, db_url):
    populate(store)
    raw_sql(db_url, "UPDATE audit_log SET row_json = row_json || ' ' WHERE seq = 20")
    problems = store.verify_audit()
    assert problems == [problems[0]] and "audit_log: entry seq 20" in problems[0] and "edited" in problems[0]


def test_audit_entry_rewritten_with_a_recomputed_hash_still_breaks_the_chain(store, db_url):
    """A tamperer who knows the algorithm but not the audit key edits a reading and its audit entry and
    re-hashes that entry: its seal fails, and so does the next entry's (chained on the forged hash)."""
    ids = populate(store)
    rid = _reading_id(store, ids)
    eng = sa.create_engine(db_url)
    with eng.begin() as conn:
        e = conn.execute(
            sa.text("SELECT * FROM audit_log WHERE table_name = 'readings' AND row_id = :r"), {"r": rid}
        ).one()
        prev = conn.execute(
            sa.text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": e.seq - 1}
        ).scalar_one()
        row = json.loads(e.row_json) | {"error_percent": 0.0}
        row_json = audit.dumps(row)
        at = e.at if isinstance(e.at, datetime) else datetime.fromisoformat(e.at)
        new_hash = audit.entry_hash(
            prev, seq=e.seq, at=at, table="readings", row_id=rid, action=e.action, row_json=row_json
        )
        conn.execute(
            sa.text("UPDATE audit_log SET row_json = :j, hash = :h WHERE seq = :s"),
            {"j": row_json, "h": new_hash, "s": e.seq},
        )
        conn.execute(sa.text("UPDATE readings SET error_percent = 0.0 WHERE id = :r"), {"r": rid})
    eng.dispose()
    problems = store.verify_audit()
    assert problems == [
        f"audit_log: entry seq {e.seq}..{e.seq + 1} does not carry this bench's audit seal: edited, or "
        "re-hashed by someone without the audit key (or written by a bench with another key)"
    ]


def test_deleted_audit_entry_is_named(store, db_url):
    populate(store)
    raw_sql(db_url, "DELETE FROM audit_log WHERE seq = 15")
    problems = store.verify_audit()
    assert any("audit_log: entry seq 15 deleted" in p for p in problems)


def test_audit_verify_on_missing_database_is_bad_input(tmp_path, capsys):
    assert main(["audit", "verify", "--db", f"sqlite:///{tmp_path / 'nope.sqlite'}"]) == 2
    assert "--db" in capsys.readouterr().err


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_text_in_a_number_column_is_reported_not_crashed_on(store, db_url):
    ids = populate(store)
    rid = _reading_id(store, ids)
    raw_sql(db_url, f"UPDATE readings SET error_percent = 'oops' WHERE id = {rid}")  # SQLite lets this in
    problems = store.verify_audit()
    assert len(problems) == 1 and f"readings row {rid}: edited" in problems[0]
