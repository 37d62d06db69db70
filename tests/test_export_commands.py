"""``meterbench export``: one row per point result, in every format, read back with pandas."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from test_records_helpers import db_url, pg_schemas, shared_db, store

from bench.cli import main
from bench.records.store import POINT_ROW_COLUMNS

FIXTURES = (db_url, pg_schemas, shared_db, store)


def test_csv_to_stdout_has_one_row_per_point(shared_db, capsys):
    db_url = shared_db[0]
    assert main(["export", "--format", "csv", "--db", db_url]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(df) == 6 + 3
    assert list(df.columns) == list(POINT_ROW_COLUMNS)
    assert df.started_at.str.endswith("Z").all()
    pf = df[(df.serial == "SN-1002") & (df.point_id == "PF")].iloc[0]
    assert pf.error_percent == pytest.approx(0.35) and pf.verdict == "fail" and pf.expanded_percent == 0.021
    assert pf.readings == 2 and pf.limit_hi == 0.2


def test_filters_apply(shared_db, capsys):
    db_url = shared_db[0]
    assert main(["export", "--format", "json", "--form", "9S", "--db", db_url]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["serial"] for r in rows} == {"SN-2001"} and len(rows) == 3
    assert rows[0]["started_at"].endswith("Z")
    assert (
        main(["export", "--format", "json", "--serial", "SN-1001", "--outcome", "passed", "--db", db_url])
        == 0
    )
    assert {r["serial"] for r in json.loads(capsys.readouterr().out)} == {"SN-1001"}
    assert main(["export", "--format", "json", "--since", "2999-01-01", "--db", db_url]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize("fmt", ["xlsx", "parquet", "csv", "json"])
def test_files_in_every_format_read_back(shared_db, tmp_path, fmt):
    db_url = shared_db[0]
    out = tmp_path / f"points.{fmt}"
    assert main(["export", "--format", fmt, "--out", str(out), "--db", db_url]) == 0
    df = {
        "xlsx": lambda: pd.read_excel(out, sheet_name="points"),
        "parquet": lambda: pd.read_parquet(out),
        "csv": lambda: pd.read_csv(out),
        "json": lambda: pd.read_json(out),
    }[fmt]()
    assert len(df) == 9
    assert sorted(df.serial.unique()) == ["SN-1001", "SN-1002", "SN-2001"]
    assert df[df.verdict == "fail"].point_id.tolist() == ["PF"]
    if fmt == "parquet":
        assert str(df.started_at.dt.tz) == "UTC"
    assert list(tmp_path.iterdir()) == [out]  # no temp files left behind (the database lives elsewhere)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["export", "--format", "xml"], "--format"),
        (["export", "--format", "xlsx"], "--out"),
        (["export", "--format", "csv", "--since", "last week"], "--since"),
        (["export", "--format", "csv", "--out", "/no/such/dir/x.csv"], "--out"),
    ],
)
def test_bad_export_options_are_named(shared_db, capsys, argv, named):
    db_url = shared_db[0]
    assert main([*argv, "--db", db_url]) == 2
    assert named in capsys.readouterr().err


def test_empty_export_still_has_the_columns(store, db_url, capsys):
    assert main(["export", "--format", "csv", "--db", db_url]) == 0
    assert capsys.readouterr().out.strip().split(",")[:3] == ["run_id", "started_at", "plan_id"]
