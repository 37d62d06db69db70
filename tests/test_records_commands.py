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


def test_runs_show_prints_positions_by_points(shared_db, capsys):
    db_url, ids, _ = shared_db
    assert main(["runs", "show", str(ids["run"]), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "SN-1001" in out and "SN-1002" in out
    fl1 = next(line for line in out.splitlines() if "Full load" in line)
    assert "+0.011 ±0.021 pass" in fl1 and "+0.021 ±0.021 pass" in fl1  # pos 1 and pos 2 side by side
    pf = next(line for line in out.splitlines() if "Power factor" in line)
    assert "+0.350 ±0.021 fail" in pf
    assert "creep pos 1: 0 pulses" in out and "RD-33-21 #4411" in out
    assert main(["runs", "show", str(ids["run"]), "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["id"] == ids["run"]


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
