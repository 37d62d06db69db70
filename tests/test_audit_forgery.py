"""A determined forger with write access to the database but not the bench's audit key is caught four ways:
an edit with every hash after it recomputed, a whole run rolled back, a truncated tail, an emptied log.

Each forgery is one an unkeyed SHA-256 chain cannot see (the forger recomputes it, or what is left of the
log is a valid prefix); the keyed chain catches the first, the anchor outside the database the other three.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import datetime

import sqlalchemy as sa
from test_records_helpers import populate, raw_sql

from bench.cli import main
from bench.records import RecordStore, audit
from bench.records import models as m


def _store(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    return url, RecordStore.open(url)


def _entries(conn) -> list:
    return conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq")).all()


def _when(e) -> datetime:
    return e.at if isinstance(e.at, datetime) else datetime.fromisoformat(e.at)


def _rehash_from(conn, first_seq: int, key: bytes | None = None) -> None:
    """Recompute every entry's hash from ``first_seq`` on, the way a forger who knows the algorithm would."""
    prev = conn.execute(sa.text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": first_seq - 1}).scalar()
    prev = prev or audit.GENESIS
    for e in _entries(conn):
        if e.seq < first_seq:
            continue
        prev = audit.entry_hash(prev, seq=e.seq, at=_when(e), table=e.table_name, row_id=e.row_id,
                                action=e.action, row_json=e.row_json, key=key)  # fmt: skip
        conn.execute(sa.text("UPDATE audit_log SET hash = :h WHERE seq = :s"), {"h": prev, "s": e.seq})


def _roll_back_entries(conn, after_seq: int) -> None:
    """Remove the audit entries after ``after_seq`` and put every row they touched back as it was before
    them (deleted if they inserted it): what is left is a consistent, correctly chained prefix."""
    tables = {t.name: t for t in m.AUDITED_TABLES}
    for e in reversed(_entries(conn)):
        if e.seq <= after_seq:
            break
        t = tables[e.table_name]
        if e.action == "insert":
            conn.execute(sa.delete(t).where(t.c.id == e.row_id))
        else:
            before = conn.execute(sa.text("SELECT row_json FROM audit_log WHERE table_name = :t AND "
                                          "row_id = :r AND seq < :s ORDER BY seq DESC LIMIT 1"),
                                  {"t": e.table_name, "r": e.row_id, "s": e.seq}).scalar_one()  # fmt: skip
            values = {k: v for k, v in json.loads(before).items() if k != "id"}
            for col, v in list(values.items()):
                if isinstance(t.c[col].type, m.UTCDateTime) and v is not None:
                    values[col] = datetime.fromisoformat(v.replace("Z", "+00:00"))
            conn.execute(sa.update(t).where(t.c.id == e.row_id).values(**values))
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = :s"), {"s": e.seq})


def _forge(url: str, fn) -> None:
    eng = sa.create_engine(url)  # a plain connection: no foreign keys, no audit, no key
    with eng.begin() as conn:
        fn(conn)
    eng.dispose()


def _caught(url: str, capsys, *words: str) -> str:
    assert main(["audit", "verify", "--db", url]) == 1
    out = capsys.readouterr().out
    assert "intact" not in out.splitlines()[0]
    for w in words:
        assert w in out, out
    return out


def test_the_key_is_created_on_first_write_readable_only_by_its_owner(tmp_path):
    url, store = _store(tmp_path)
    populate(store)
    store.close()
    mode = stat.S_IMODE(os.stat(audit.key_path()).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(audit.key_path().parent).st_mode) & 0o077 == 0


def test_intact_records_verify(tmp_path, capsys):
    url, store = _store(tmp_path)
    populate(store)
    store.close()
    assert main(["audit", "verify", "--db", url]) == 0
    assert "intact" in capsys.readouterr().out


def test_an_edit_with_every_later_hash_recomputed_is_caught(tmp_path, capsys):
    url, store = _store(tmp_path)
    ids = populate(store)
    store.close()
    rid = RecordStore.open(url).run_record(ids["run"])["points"][0]["readings"][1]["id"]

    def forge(conn):
        e = conn.execute(sa.text("SELECT * FROM audit_log WHERE table_name = 'readings' AND row_id = :r"),
                         {"r": rid}).one()  # fmt: skip
        row = json.loads(e.row_json) | {"error_percent": 0.0}
        conn.execute(sa.text("UPDATE audit_log SET row_json = :j WHERE seq = :s"),
                     {"j": audit.dumps(row), "s": e.seq})  # fmt: skip
        conn.execute(sa.text("UPDATE readings SET error_percent = 0.0 WHERE id = :r"), {"r": rid})
        _rehash_from(conn, e.seq)  # the old, unkeyed chain would now verify from end to end

    _forge(url, forge)
    _caught(url, capsys, "does not carry this bench's audit seal")
    # even a forger who guesses a key gets nowhere
    _forge(url, lambda conn: _rehash_from(conn, 1, key=b"0" * 32))
    _caught(url, capsys, "entry seq 1..")


def test_a_whole_run_rolled_back_by_restoring_an_older_copy_is_caught(tmp_path, capsys):
    url, store = _store(tmp_path)
    populate(store)
    path = tmp_path / "records.sqlite"
    older = tmp_path / "before-run-2.sqlite"
    with sqlite3.connect(path) as src, sqlite3.connect(older) as dst:
        src.backup(dst)
    populate(store, serials=("SN-2001",), form="9S", outcome="failed", bench="bench-B")
    store.close()
    with sqlite3.connect(older) as src, sqlite3.connect(path) as dst:  # the failed run never happened
        src.backup(dst)
    out = _caught(url, capsys, "rolled back")
    assert "seal" not in out  # what is left is a genuine, sealed prefix: only the anchor knows better


def test_a_run_rolled_back_row_by_row_is_caught(tmp_path, capsys):
    url, store = _store(tmp_path)
    populate(store)
    with store._read() as conn:
        before = audit.head(conn)[0]
    populate(store, serials=("SN-2001",), form="9S", outcome="failed", bench="bench-B")
    store.close()
    _forge(url, lambda conn: _roll_back_entries(conn, before))
    out = _caught(url, capsys, "anchored entry seq")
    assert "behind the store's back" not in out  # rows and log agree: a perfect rollback, still caught


def test_a_truncated_tail_is_caught(tmp_path, capsys):
    url, store = _store(tmp_path)
    populate(store)
    store.close()
    _forge(url, lambda conn: _roll_back_entries(conn, _entries(conn)[-1].seq - 3))
    _caught(url, capsys, "truncated")


def test_an_emptied_log_is_caught(tmp_path, capsys):
    url, store = _store(tmp_path)
    populate(store)
    store.close()
    raw_sql(url, *[f"DELETE FROM {t.name}" for t in reversed(m.AUDITED_TABLES)], "DELETE FROM audit_log")
    _caught(url, capsys, "EMPTY")


def test_without_the_key_verify_says_it_cannot_check_the_seal(tmp_path, capsys, monkeypatch):
    url, store = _store(tmp_path)
    populate(store)
    store.close()
    monkeypatch.setenv(audit.KEY_FILE_ENV, str(tmp_path / "no-such-key"))
    _caught(url, capsys, "no audit key on this bench")


def test_a_key_readable_by_others_is_refused(tmp_path, capsys, monkeypatch):
    key = tmp_path / "shared.key"
    key.write_text("ab" * 32)
    os.chmod(key, 0o644)
    monkeypatch.setenv(audit.KEY_FILE_ENV, str(key))
    url, store = _store(tmp_path)
    store.close()
    assert main(["audit", "verify", "--db", url]) == 2
    assert "chmod 600" in capsys.readouterr().err


def test_every_certificate_and_dcc_carries_the_audit_chain_head_at_issue(tmp_path):
    from pathlib import Path

    import pdfplumber
    import pikepdf
    from lxml import etree

    from bench.certify import issue_for_run
    from reports.pdfa import read_audit_head

    url = f"sqlite:///{tmp_path / 'records.sqlite'}"
    bench = str(Path(__file__).resolve().parents[1] / "examples" / "2s-board.toml")
    main(["run", "--bench", bench, "--plan", "ansi-c12.20-2s", "--db", url, "--no-certificates"])
    store = RecordStore.open(url)
    head_before = store.audit_head()
    certs = issue_for_run(store, 1, tmp_path / "out")
    store.close()
    assert certs
    seq, _, mac = head_before.partition(":")
    with pikepdf.open(certs[0].pdf_path) as pdf:
        assert read_audit_head(pdf) == head_before
    with pdfplumber.open(certs[0].pdf_path) as doc:
        text = "\n".join(p.extract_text() or "" for p in doc.pages)
    assert f"Records audit chain at issue: entry {seq}, seal {mac[:32]}" in text
    xml = etree.parse(str(certs[0].dcc_path))
    assert f"audit:{head_before}" in xml.xpath("//*[local-name()='value']/text()")
