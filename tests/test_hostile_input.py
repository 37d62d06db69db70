"""Hostile or careless input is refused up front, in one line naming what is wrong: damaged or foreign
database files, mistyped --db paths, passwords in URLs, formula cells in exports, plan and bench-file
values no meter shop means (100 x nominal voltage, a day-long creep window, Kr = 1e300, NaN), future
calibration dates, control characters in printed text, non-UTF-8, deeply nested and huge-number files."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from test_instruments_benchfile import edited
from test_plans_files import GOOD as GOOD_PLAN
from test_records_helpers import populate, raw_sql

from bench.cli import main
from bench.records import RecordStore
from instruments.benchfile import load_bench_config
from procedures import bounds
from procedures.errors import InputError
from procedures.plans import load_plan, load_plan_file

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "examples" / "2s-board.toml"
RECORD_COMMANDS = (["audit", "verify"], ["runs"], ["export", "--format", "csv"], ["runs", "show", "1"])


def _one_line_error(capsys, *needles: str) -> str:
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "Traceback" not in cap.err + cap.out
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


def _files(tmp_path) -> dict[str, Path]:
    text = tmp_path / "notes.sqlite"
    text.write_text("shopping list: meters, seals, coffee\n")
    rnd = tmp_path / "random.sqlite"
    rnd.write_bytes(hashlib.sha512(b"x").digest() * 200)
    other = tmp_path / "crm.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    damaged = tmp_path / "damaged.sqlite"
    url = f"sqlite:///{damaged}"
    s = RecordStore.open(url)
    populate(s)
    s.close()
    with sqlite3.connect(damaged) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(damaged.read_bytes())
    for off in range(4096 * 2, len(data), 4096 * 3):
        data[off : off + 4096] = b"\xa5" * 4096
    damaged.write_bytes(bytes(data))
    for p in damaged.parent.glob("damaged.sqlite-*"):
        p.unlink()
    return {"text": text, "random": rnd, "other": other, "damaged": damaged}


@pytest.mark.parametrize("command", RECORD_COMMANDS, ids=lambda c: "-".join(c))
def test_a_damaged_or_foreign_database_file_is_one_line_naming_it(tmp_path, capsys, command):
    for kind, path in _files(tmp_path).items():
        before = path.read_bytes()
        code = main([*command, "--db", f"sqlite:///{path}"])
        assert code == 2, kind
        _one_line_error(capsys, str(path), "--db")
        assert path.read_bytes() == before, f"{kind} file was changed"
    with sqlite3.connect(tmp_path / "crm.sqlite") as c:  # nothing of ours was added to another app's file
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["customers"]


def test_a_mistyped_db_path_creates_nothing(tmp_path, capsys):
    ghost = tmp_path / "nonexistent" / "dir"
    url = f"sqlite:///{ghost / 'x.sqlite'}"
    for command in (*RECORD_COMMANDS, ["run", "--bench", str(BENCH), "--plan", "ansi-c12.20-2s"]):
        assert main([*command, "--db", url]) == 2
        _one_line_error(capsys, str(ghost))
    assert not (tmp_path / "nonexistent").exists()


def test_passwords_are_masked_wherever_a_url_is_printed(capsys):
    for url in (
        "postgresql://bob:s3cr3t-pw@127.0.0.1:1/records",
        "postgresql://bob:s3cr3t-pw@host:notaport/db",
    ):
        assert main(["audit", "verify", "--db", url]) == 2
        err = _one_line_error(capsys, "bob:***@")
        assert "s3cr3t-pw" not in err


def test_verify_and_run_read_mb_db_url(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    monkeypatch.setenv("MB_DB_URL", url)
    assert main(["run", "--bench", str(BENCH), "--plan", "ansi-c12.20-2s", "--no-certificates"]) == 1
    capsys.readouterr()
    s = RecordStore.open(url, create=False)
    assert s.list_runs()
    s.close()
    assert main(["audit", "verify"]) == 0
    monkeypatch.setenv("MB_DB_URL", f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    assert main(["verify", str(pdf)]) == 2  # verify looks where MB_DB_URL points, and says so
    _one_line_error(capsys, "elsewhere.sqlite")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_neutralise_formula_cells(tmp_path, capsys, fmt):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    s = RecordStore.open(url)
    populate(s)
    s.close()
    raw_sql(url, "UPDATE meters SET manufacturer = '=HYPERLINK(\"http://evil\",\"x\")', model = '@SUM(A1)'",
            "UPDATE points SET label = '+cmd|calc' WHERE id = 1")  # fmt: skip
    out = tmp_path / f"points.{fmt}"
    assert main(["export", "--format", fmt, "--out", str(out), "--db", url]) == 0
    if fmt == "csv":
        text = out.read_text()
        assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and "'+cmd|calc" in text
        assert ",=HYPERLINK" not in text and ",-0." in text or ",0." in text  # numbers keep their sign
    else:
        import openpyxl

        ws = openpyxl.load_workbook(out).active
        cells = [c for row in ws.iter_rows() for c in row]
        assert not [c for c in cells if c.data_type == "f"]  # no live formula anywhere
        assert any(c.value == '\'=HYPERLINK("http://evil","x")' for c in cells)


# ------------------------------------------------------------------ plans
def _plan(tmp_path, old: str, new: str) -> Path:
    assert old in GOOD_PLAN
    p = tmp_path / "plan.toml"
    p.write_text(GOOD_PLAN.replace(old, new, 1), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("lag_deg = 0.0", "lag_dge = 60", ("lag_dge", "did you mean 'lag_deg'")),
        ("settle_s = 5", "setle_s = 5", ("did you mean 'settle_s'",)),
        ('limits = "ansi', 'limts = "x"\nlimits = "ansi', ("did you mean 'limits'",)),
        ("lag_deg = 0.0", "lag_deg = 0.0\nvoltage = 100", ("voltage", "at most 1.5", "not volts")),
        ("current = 0.05", "current = 1e9", ("current", "at most 20 x TA")),
        ("settle_s = 5", "settle_s = 1e12", ("settle_s", "at most 3600")),
        ("settle_s = 5", "settle_s = nan", ("settle_s",)),
        ("settle_s = 5", "settle_s = inf", ("settle_s",)),
        ("settle_s = 5", "settle_s = 5\nduration_s = 1e12", ("duration_s", "at most 86400")),
        ("readings = 2", "readings = 10000000", ("readings",)),
        ("settle_s = 5", "settle_s = " + "9" * 400, ("settle_s", "far too large")),
        ("readings = 2", "readings = " + "9" * 5000, ("too long",)),
        ('title = "Shop 2S"', 'title = "Shop \\u001b[2J 2S"', ("title", "U+001B")),
        ('title = "Shop 2S"', 'title = "Shop \\u202e2S"', ("title", "U+202E")),
        ('label = "LL"', 'label = "LL\\u0000"', ("label", "U+0000")),
        ('title = "Shop 2S"', f'title = "{"x" * 5000}"', ("title", "at most 200 characters")),
    ],
)
def test_plan_nonsense_is_refused_naming_the_field(tmp_path, old, new, needles):
    with pytest.raises(InputError) as exc:
        load_plan_file(_plan(tmp_path, old, new))
    for n in needles:
        assert n in str(exc.value), str(exc.value)


def test_plan_files_that_are_not_text_or_too_deep_are_one_line(tmp_path, capsys):
    bad = {"binary.toml": b"\xff\xfe\x00id = 1", "deep.toml": b"a = " + b"[" * 20000 + b"]" * 20000}
    for name, data in bad.items():
        p = tmp_path / name
        p.write_bytes(data)
        assert main(["plans", "show", str(p), "--form", "2S", "--class", "0.2"]) == 2
        _one_line_error(capsys, name)


def test_resolve_refuses_a_nameplate_voltage_far_above_the_forms(tmp_path):
    plan = load_plan("ansi-c12.20-2s")
    with pytest.raises(InputError, match="not a plausible nominal voltage"):
        plan.resolve("2S", "0.5", voltage=24000.0)
    resolved = plan.resolve("2S", "0.5", voltage=240.0)
    assert max(p.voltage_v for p in resolved.points) <= 1.5 * 240


# ------------------------------------------------------------------ bench files
@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("kr_wh = 1e-5", "kr_wh = 1e300", ("kr_wh", "at most 1000 Wh/pulse")),
        ("kt = 0.6", "kt = 1e-12", ("kt", "at least 1e-06")),
        ("speed = 0 ", "speed = nan ", ("speed",)),
        ("speed = 0 ", "speed = 1e12 ", ("speed",)),
        ("calibrated = 2026-04-12", "calibrated = 2099-01-01", ("calibrated", "future")),
        (
            'manufacturer = "Simulated"',
            'manufacturer = "Sim\\u001b]8;;evil\\u0007"',
            ("manufacturer", "U+001B"),
        ),
        ('model = "SIM-2S"', f'model = "{"M" * 1_000_000}"', ("model", "at most 200 characters")),
        ('name = "2S board"', 'name = "2S \\u202eboard"', ("name", "U+202E")),
        ("kh = 7.2", "kh = " + "9" * 400, ("kh", "far too large")),
    ],
)
def test_bench_file_nonsense_is_refused_naming_the_key(tmp_path, old, new, needles):
    if "2099" in new:
        assert date(2099, 1, 1) > date.today()
    with pytest.raises(InputError) as exc:
        load_bench_config(edited(tmp_path, old, new))
    for n in needles:
        assert n in str(exc.value), str(exc.value)


def test_bench_files_not_utf8_or_too_deep_are_one_line(tmp_path, capsys):
    for name, data in {"latin1.toml": 'name = "Bänk"\n'.encode("latin-1"),
                       "deep.toml": b"x = " + b"[" * 20000 + b"]" * 20000}.items():  # fmt: skip
        p = tmp_path / name
        p.write_bytes(data)
        assert main(["bench", "check", str(p)]) == 2
        _one_line_error(capsys, name)


# ------------------------------------------------------------------ values the run command takes
def test_run_settings_bounds_for_the_lead_to_call():
    """`--speed nan` used to pass the `< 0` check and `--warmup 1e12` ran energised without end."""
    for bad in (math.nan, math.inf, -1.0, 1e12, 0.001):
        with pytest.raises(InputError, match="--speed"):
            bounds.speed(bad)
    assert bounds.speed(0) == 0 and bounds.speed(10) == 10
    for bad in (math.nan, -1.0, 1e12):
        with pytest.raises(InputError, match="--warmup"):
            bounds.warmup_s(bad)
    with pytest.raises(InputError, match="future"):
        bounds.past_date("calibrated", date.today() + timedelta(days=1))
    for bad in ("Bob\x1b[31m", "\x00", "Al\u202eice", "x" * 201, "two\nlines"):
        with pytest.raises(InputError, match="--operator"):
            bounds.text("--operator", bad)
    assert bounds.text("--operator", "  Zoë O'Brien ") == "Zoë O'Brien"


def test_mask_url_hides_a_password_holding_at_signs():
    from bench.records.store import mask_url

    assert mask_url("postgresql://u:p@ss@host/db") == "postgresql://u:***@host/db"
    assert (
        mask_url("postgresql+psycopg://bob:s%40c@h:5432/d?options=x")
        == "postgresql+psycopg://bob:***@h:5432/d?options=x"
    )
    assert mask_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


def test_a_file_error_mid_command_is_one_line_naming_the_file(monkeypatch, capsys):
    """A disk that fills or a folder that vanishes while a command writes: one line, exit 2, no traceback."""
    import errno

    import bench.commands.plans as plans_cmd
    from bench.cli import main as cli_main

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/var/shop/certificates/MB-1.pdf")

    monkeypatch.setattr(plans_cmd, "run", full_disk)
    assert cli_main(["plans"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "meterbench plans: error: /var/shop/certificates/MB-1.pdf: No space left on device"
