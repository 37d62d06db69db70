"""``meterbench runs`` as a technician uses it: find runs, show one, and clear errors for bad options."""

from __future__ import annotations

import json

import pytest
from test_records_helpers import db_url, pg_schemas, shared_db, store

from bench.cli import main

FIXTURES = (db_url, pg_schemas, shared_db, store)


def test_runs_lists_and_filters(shared_db, capsys):
    db_url, a, b = shared_db
    assert main(["runs", "--db", db_url, "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [b["run"], a["run"]]
    assert main(["runs", "--serial", "SN-2001", "--db", db_url, "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [b["run"]]
    assert (
        main(
            ["runs", "--outcome", "passed", "--since", "2020-01-01", "--until", "2999-12-31", "--db", db_url]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "SN-1001" in out and "SN-2001" not in out and "passed" in out


def test_runs_show_is_a_report_naming_what_failed(shared_db, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    db_url, ids, _ = shared_db
    assert main(["runs", "show", str(ids["run"]), "--db", db_url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    flat = " ".join(out.split())
    assert "{'" not in out and "calibration CAL-2026-117, due 2027-03-01, U ±0.01 %" in flat
    assert "operator J. Rivera" in flat
    pos1 = out.index("Position 1  SN-1001")
    pos2 = out.index("Position 2  SN-1002")
    fl1 = next(line for line in lines[out[:pos2].count("\n") :] if "Full load" in line)
    assert "+0.021 ± 0.021 %  ±0.2 %" in fl1 and fl1.rstrip().endswith("PASS")
    assert "PASSED" in out[pos1:pos2] and "FAILED" in out[pos2:]
    # the position's headline names the failing test and the point, with its error and limit
    assert (
        "failed: accuracy point Power factor (PF) (as-found, 240 V 30 A 60° lag element ABC): "
        "+0.350 ± 0.021 % against ±0.2 % - FAIL"
    ) in " ".join(out[pos2:].split())
    assert "0 pulse(s) in 600 s" in out[pos1:pos2] and "registration 100.0 %" in " ".join(
        out[pos1:pos2].split()
    )
    assert main(["runs", "show", str(ids["run"]), "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["id"] == ids["run"]


LONG = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-12345"  # 32 characters, the longest serial a barcode may carry


@pytest.fixture
def long_serial_db(tmp_path):
    from test_records_helpers import populate

    from bench.records import RecordStore

    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    s = RecordStore.open(url)
    try:
        ids = populate(s, serials=(LONG, LONG[:-1] + "6", "SN-3"))
    finally:
        s.close()
    return url, ids


@pytest.mark.parametrize("columns", ["80", "60"])
def test_narrow_terminal_never_truncates_a_serial_or_an_error(long_serial_db, capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    url, ids = long_serial_db
    for argv in (["runs"], ["runs", "show", str(ids["run"])]):
        assert main([*argv, "--db", url]) == 0
        out = capsys.readouterr().out
        assert "…" not in out.replace("sha256 abababababab…", "")
        assert max(len(line.rstrip()) for line in out.splitlines()) <= int(columns)
        words = out.split()
        assert LONG in words and LONG[:-1] + "6" in words, argv
    assert "+0.350 ± 0.021" in out and "+0.037 ± 0.021" in out  # errors whole


def test_runs_list_names_failed_meters_of_a_full_board(tmp_path, capsys, monkeypatch):
    from test_records_helpers import populate

    from bench.records import RecordStore

    monkeypatch.setenv("COLUMNS", "80")
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    s = RecordStore.open(url)
    try:
        populate(s, serials=tuple(f"SN-{n:04d}" for n in range(1, 25)))
    finally:
        s.close()
    assert main(["runs", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "24 meters:" in out and "2 SN-0002 2S failed" in out and "SN-0003" not in out
    assert "(all: runs show 1)" in " ".join(out.split())


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["runs", "--since", "21/11/2026"], "--since"),
        (["runs", "--until", "yesterday"], "--until"),
        (["runs", "--outcome", "good"], "--outcome"),
        (["runs", "--since", "2026-02-01", "--until", "2026-01-01"], "--until"),
        (["runs", "show", "abc"], "ID"),
        (["runs", "show", "999"], "ID"),
    ],
)
def test_bad_options_name_the_option_and_what_is_allowed(shared_db, capsys, argv, named):
    db_url = shared_db[0]
    assert main([*argv, "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert named in err and "allowed" in err


def test_runs_never_creates_a_database_at_a_mistyped_path(tmp_path, capsys):
    path = tmp_path / "typo.sqlite"
    assert main(["runs", "--db", f"sqlite:///{path}"]) == 2
    assert "no records database" in capsys.readouterr().err and not path.exists()


def test_db_comes_from_the_environment_when_not_given(shared_db, capsys, monkeypatch):
    db_url, _, b = shared_db
    monkeypatch.setenv("MB_DB_URL", db_url)
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == b["run"]


def test_failures_in_words_for_the_summary_and_the_gui(shared_db):
    from bench.records import RecordStore
    from bench.resultwords import failures

    db_url, ids, _ = shared_db
    s = RecordStore.open(db_url)
    try:
        record = s.run_record(ids["run"])
    finally:
        s.close()
    assert failures(record, 1) == []
    assert failures(record, 2) == [
        "accuracy point Power factor (PF) (as-found, 240 V 30 A 60° lag element ABC): "
        "+0.350 ± 0.021 % against ±0.2 % - FAIL"
    ]
