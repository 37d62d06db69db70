"""Property-based fuzzing of everything a user or a file hands MeterBench: bench files, plans, meter
manifests, phasor files, command lines and database files.

The property, everywhere: the input is either accepted as something a meter shop means, or refused with
one :class:`InputError` (exit 2 on the command line) — never a traceback, never a hang, never nonsense
accepted (an accepted value is checked against :mod:`procedures.bounds`). Each test counts the cases it ran
and checks it ran them all; the totals are printed with ``-s`` (``pytest -s tests/test_trust_fuzz.py``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import math
import random
import sqlite3
import tomllib
import unicodedata
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_plans_files import GOOD as GOOD_PLAN
from test_records_helpers import populate

from bench.cli import main
from bench.meters import load_manifest
from bench.records import RecordStore
from instruments.benchfile import load_bench_config, parse_bench_config
from procedures import bounds
from procedures.errors import InputError
from procedures.forms import get_form
from procedures.plans import parse_plan
from procedures.wiring import Phasors, analyse

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "examples" / "2s-board.toml"
BENCH_TEXT = BENCH.read_text(encoding="utf-8")
BENCH_RAW = tomllib.loads(BENCH_TEXT)
PLAN_RAW = tomllib.loads(GOOD_PLAN)
COUNTS: Counter = Counter()
SHARE = {"bench": 220, "plan": 220, "manifest": 150, "phasors": 150, "cli": 250, "database": 150}
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)

# ---------------------------------------------------------------------------------------------- values
NASTY_TEXT = st.sampled_from(["", " ", "\x1b[2J", "A\x00B", "x\u202eevil", "=HYPERLINK(\"x\")", "é" * 300,
                              "\ud800" if False else "\ufeff", "lag_dge", "1e400", "nan"])  # fmt: skip
SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 1e-300, 1e300, 10**400, 2**63, float("nan"), float("inf"), -0.0]),
    st.booleans(),
    st.text(max_size=40),
    NASTY_TEXT,
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                      max_leaves=8)  # fmt: skip


def _leaves(obj, path=()):
    """Every (path, value) in a nested dict/list TOML document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    yield path, obj


def _mutate(doc: dict, data) -> dict:
    """Up to three edits of a copy of ``doc``: replace a value, delete a key, add a (misspelt) key."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p, _ in _leaves(doc) if p]
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            key = str(path[-1])
            typo = key[:-1] + key[-1:] * 2 if key else "x"
            parent[data.draw(st.sampled_from([typo, key.upper(), "x" * 3, key + "_"]))] = data.draw(VALUES)
    return doc


def _mutate_text(text: str, data) -> bytes:
    raw = bytearray(text.encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        piece = data.draw(st.sampled_from([b"\xff", b"[[", b"]", b"=", b"\n[simulation]\n", b"1e999",
                                           b"9" * 5000, b"[" * 3000, b'"\\u001b"', b"\x00", b"nan", b"2099-01-01"]))  # fmt: skip
        if data.draw(st.booleans()):
            raw[at:at] = piece
        else:
            del raw[at : at + data.draw(st.integers(1, 20))]
    return bytes(raw)


def _clean(value, where="") -> None:
    """No accepted text holds a control character or bidi override; no accepted number is NaN or inf."""
    if isinstance(value, str):
        for ch in value:
            assert ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") and ch not in bounds._BIDI, (
                where
            )
    elif isinstance(value, float):
        assert math.isfinite(value), where
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _clean(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, tuple | list):
        for i, v in enumerate(value):
            _clean(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _clean(v, f"{where}.{k}")


def _counted(name: str) -> None:
    COUNTS[name] += 1


def _ran(name: str) -> None:
    assert COUNTS[name] >= SHARE[name], (name, COUNTS[name])
    print(f"\nfuzz {name}: {COUNTS[name]} cases; total so far {sum(COUNTS.values())}")


# ---------------------------------------------------------------------------------------------- bench files
def _check_bench(cfg) -> None:
    _clean(cfg)
    assert bounds.KR_RANGE_WH[0] <= cfg.reference.kr_wh <= bounds.KR_RANGE_WH[1]
    assert cfg.calibration.calibrated <= date.today() and cfg.calibration.due > cfg.calibration.calibrated
    if cfg.simulation:
        assert (
            cfg.simulation.speed == 0
            or bounds.SPEED_RANGE[0] <= cfg.simulation.speed <= bounds.SPEED_RANGE[1]
        )
        for m in cfg.simulation.meters:
            assert bounds.KT_RANGE_WH[0] <= m.kt <= bounds.KT_RANGE_WH[1] and m.voltage <= 1000


def test_fuzz_bench_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench-fuzz")

    @settings(FUZZ, max_examples=SHARE["bench"] // 2)
    @given(st.data())
    def as_document(data):
        _counted("bench")
        try:
            cfg = parse_bench_config(_mutate(BENCH_RAW, data), "fuzz.toml")
        except InputError:
            return
        _check_bench(cfg)

    @settings(FUZZ, max_examples=SHARE["bench"] // 2)
    @given(st.data())
    def as_bytes(data):
        _counted("bench")
        path = folder / "bench.toml"
        path.write_bytes(_mutate_text(BENCH_TEXT, data))
        try:
            cfg = load_bench_config(path)
        except InputError:
            return
        _check_bench(cfg)

    as_document()
    as_bytes()
    _ran("bench")


# ---------------------------------------------------------------------------------------------- plans
NAMEPLATE = st.fixed_dictionaries({
    "voltage": st.one_of(st.none(), st.floats(0.001, 1e6), st.sampled_from([120.0, 240.0, 480.0, 24000.0])),
    "ta": st.one_of(st.none(), st.sampled_from([2.5, 15.0, 30.0, 50.0, 7.0])),
})  # fmt: skip


def test_fuzz_plans():
    @settings(FUZZ, max_examples=SHARE["plan"])
    @given(st.data(), NAMEPLATE)
    def plan(data, nameplate):
        _counted("plan")
        raw = _mutate(PLAN_RAW, data) if data.draw(st.booleans()) else None
        try:
            if raw is None:
                blob = _mutate_text(GOOD_PLAN, data)
                from procedures.catalog import parse_toml_bytes

                raw = parse_toml_bytes(blob, "fuzz.toml", "plan file")
            p = parse_plan(raw, "fuzz.toml", b"")
        except InputError:
            return
        _clean(p)
        for pt in p.points:
            assert 0 < pt.voltage <= bounds.MAX_VOLTAGE_MULTIPLE
            assert 0 <= pt.settle_s <= bounds.MAX_SETTLE_S and 1 <= pt.readings <= bounds.MAX_READINGS
            assert pt.duration_s is None or 0 < pt.duration_s <= bounds.MAX_WINDOW_S
        try:
            r = p.resolve(p.forms[0], p.classes[0], **{k: v for k, v in nameplate.items() if v is not None})
        except InputError:
            return
        for pt in r.points:
            assert pt.voltage_v <= bounds.MAX_VOLTAGE_MULTIPLE * r.voltage_v + 1e-9
            assert pt.current_a <= bounds.MAX_CURRENT_OF_IMAX * r.imax_a + 1e-9
        assert r.voltage_v <= 2 * max(r.form.nominal_voltages)

    plan()
    _ran("plan")


# ---------------------------------------------------------------------------------------------- manifests
MANIFEST_HEAD = "position,serial,form,accuracy_class,current_class,voltage,kh,kt,manufacturer,model,owner"
CELL = st.one_of(st.text(max_size=12), NASTY_TEXT, st.sampled_from(["1", "2S", "0.5", "CL200", "240", "7.2",
                                                                    "1e-12", "nan", "inf", "-1", "9" * 400]))  # fmt: skip


def test_fuzz_manifests():
    refused_later = Counter()

    @settings(FUZZ, max_examples=SHARE["manifest"])
    @given(
        st.lists(st.dictionaries(st.integers(0, 10), CELL, max_size=4), min_size=0, max_size=4), st.booleans()
    )
    def manifest(edits, good_first):
        _counted("manifest")
        lines = [MANIFEST_HEAD]
        if good_first:
            lines.append("1,SN-0001,2S,0.5,CL200,240,7.2,0.6,Itron,CENTRON,City")
        rows = []
        for n, edit in enumerate(edits, start=2):  # a good row with a few cells replaced
            row = [
                str(n),
                f"SN-{n:04d}",
                "2S",
                "0.5",
                "CL200",
                "240",
                "7.2",
                "0.6",
                "Itron",
                "CENTRON",
                "City",
            ]
            for col, cell in edit.items():
                row[col] = cell
            rows.append(row)
        buf = io.StringIO()
        import csv

        csv.writer(buf).writerows(rows)
        text = "\n".join(lines) + "\n" + buf.getvalue()
        try:
            meters = load_manifest("fuzz.csv", text)
        except InputError:
            return
        for m in meters:  # what bench/meters.py accepts, checked by the nameplate bounds the lead can call
            try:
                bounds.nameplate(m.to_dict(), source="fuzz.csv")
            except InputError:
                refused_later["nameplate"] += 1

    manifest()
    print(
        f"\nmanifest rows meters.make_meter accepts but bounds.nameplate refuses: {refused_later['nameplate']}"
    )
    _ran("manifest")


# ---------------------------------------------------------------------------------------------- phasors
PHASE_PAIR = st.lists(SCALARS, min_size=0, max_size=3)
PHASOR_DOC = st.fixed_dictionaries({}, optional={
    "voltages": st.dictionaries(st.sampled_from(["A", "B", "C", "N", "a", ""]), PHASE_PAIR, max_size=4) | VALUES,
    "currents": st.dictionaries(st.sampled_from(["A", "B", "C", "X"]), PHASE_PAIR, max_size=4) | VALUES,
    "extra": VALUES,
})  # fmt: skip


def test_fuzz_phasor_files():
    import json

    @settings(FUZZ, max_examples=SHARE["phasors"])
    @given(
        PHASOR_DOC,
        st.sampled_from(["json", "text", "csv", "deep", "huge"]),
        st.sampled_from(["2S", "9S", "16S", "12S"]),
    )
    def phasors(doc, how, form):
        _counted("phasors")
        try:
            if how == "json":
                ph = Phasors.from_json(doc)
            elif how == "text":
                ph = Phasors.from_json(json.dumps(doc, default=str, allow_nan=True))
            elif how == "deep":
                ph = Phasors.from_json("[" * 100000 + "]" * 100000)
            elif how == "huge":
                ph = Phasors.from_json('{"voltages": {"A": [' + "9" * 5000 + ', 0]}, "currents": {}}')
            else:
                cells = lambda v: (list(v) + ["", ""])[:2] if isinstance(v, list) else [v, ""]  # noqa: E731
                rows = [",".join(map(str, [q, p, *cells(v)]))
                        for q, d in (("voltage", doc.get("voltages")), ("current", doc.get("currents")))
                        if isinstance(d, dict) for p, v in d.items()]  # fmt: skip
                ph = Phasors.from_csv("quantity,phase,magnitude,angle_deg\n" + "\n".join(map(str, rows)))
        except InputError:
            return
        for v in (*ph.voltages.values(), *ph.currents.values()):
            assert all(math.isfinite(x) for x in v) and v[0] >= 0
        with contextlib.suppress(InputError):
            analyse(get_form(form), ph)

    phasors()
    _ran("phasors")


# ---------------------------------------------------------------------------------------------- command lines
@pytest.fixture(scope="module")
def cli_world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-fuzz")
    good = tmp / "records.sqlite"
    s = RecordStore.open(f"sqlite:///{good}")
    populate(s)
    s.close()
    (tmp / "junk.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    (tmp / "junk.xml").write_bytes(
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a SYSTEM 'file:///etc/passwd'>]><x>&a;</x>"
    )
    (tmp / "text.sqlite").write_text("not a database")
    (tmp / "phasors.json").write_text('{"voltages": {"A": [120, 0]}, "currents": {"A": [5, 0]}}')
    (tmp / "out").mkdir()
    return tmp


def _argv(tmp: Path):
    db = st.sampled_from([f"sqlite:///{tmp / 'records.sqlite'}", f"sqlite:///{tmp / 'text.sqlite'}",
                          f"sqlite:///{tmp / 'nope' / 'x.sqlite'}", "postgresql://u:pw@127.0.0.1:1/db",
                          "postgresql://u:pw@h:port/db", "mysql://x", "", ":memory:", "sqlite://"])  # fmt: skip
    files = st.sampled_from(
        [str(tmp / n) for n in ("junk.pdf", "junk.xml", "text.sqlite", "phasors.json", "nope.pdf", "out")]
    )
    word = st.one_of(st.text(max_size=12), NASTY_TEXT, st.sampled_from(["nan", "inf", "-1", "1e999", "2S", "0.2",
                                                                        "ansi-c12.20-2s", "csv", "xlsx", "json"]))  # fmt: skip
    opt = st.sampled_from(["--db", "--format", "--out", "--serial", "--form", "--outcome", "--since", "--until",
                           "--bench", "--trust", "--lab", "--no-db", "--json", "--phasors", "--class", "--ta",
                           "--voltage", "--convention", "--min-current", "--help", "--version"])  # fmt: skip
    value = st.one_of(db, files, word, st.just(str(tmp / "out" / "x.csv")))
    command = st.sampled_from([["audit", "verify"], ["export"], ["verify"], ["plans"], ["plans", "show"],
                               ["diagnose"], ["audit"], ["runs"], []])  # fmt: skip
    tail = st.lists(st.one_of(st.tuples(opt, value).map(list), st.tuples(opt).map(list), value.map(lambda v: [v])),
                    max_size=5).map(lambda parts: [x for p in parts for x in p])  # fmt: skip
    return st.tuples(command, tail).map(lambda ct: ct[0] + ct[1])


def test_fuzz_command_lines(cli_world):
    outcomes = Counter()

    @settings(FUZZ, max_examples=SHARE["cli"])
    @given(_argv(cli_world))
    def command_line(argv):
        _counted("cli")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage error (2) or --help/--version (0)
                code = exc.code
        assert code in (0, 1, 2), (argv, code, err.getvalue()[-300:])
        assert "Traceback" not in err.getvalue() + out.getvalue()
        assert "pw@" not in err.getvalue() + out.getvalue(), argv  # passwords masked
        if code == 2 and err.getvalue().strip() and not err.getvalue().startswith("usage"):
            assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
        outcomes[code] += 1

    command_line()
    assert not [p for p in (cli_world / "out").iterdir() if p.name.startswith(".")]  # nothing half-written
    print(f"\ncli exit codes: {dict(outcomes)}")
    _ran("cli")


# ---------------------------------------------------------------------------------------------- database files
@pytest.fixture(scope="module")
def good_db_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("db-fuzz") / "seed.sqlite"
    s = RecordStore.open(f"sqlite:///{path}")
    populate(s)
    s.close()
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.read_bytes()


def test_fuzz_database_files(good_db_bytes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("db-cases")
    seen = Counter()

    @settings(FUZZ, max_examples=SHARE["database"])
    @given(
        st.integers(0, 2**32 - 1),
        st.sampled_from(["flip", "truncate", "zero-page", "garbage", "header-only"]),
    )
    def database(seed, how):
        _counted("database")
        rnd = random.Random(seed)
        data = bytearray(good_db_bytes)
        if how == "flip":
            for _ in range(rnd.randint(1, 40)):
                data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        elif how == "truncate":
            data = data[: rnd.randrange(1, len(data))]
        elif how == "zero-page":
            page = rnd.randrange(len(data) // 4096) * 4096
            data[page : page + 4096] = bytes(4096)
        elif how == "garbage":
            data = bytearray(rnd.randbytes(rnd.randrange(1, 20000)))
        else:
            data = bytearray(b"SQLite format 3\x00" + rnd.randbytes(rnd.randrange(0, 500)))
        path = folder / f"case-{COUNTS['database']}.sqlite"
        path.write_bytes(bytes(data))
        try:
            store = RecordStore.open(f"sqlite:///{path}", create=False)
            try:
                store.list_runs()
                store.verify_audit()
                store.point_rows()
            finally:
                store.close()
            seen["opened"] += 1
        except InputError as err:
            assert str(path) in str(err)
            seen["refused"] += 1

    database()
    print(f"\ndatabase files: {dict(seen)}")
    _ran("database")


def test_fuzz_total_is_at_least_a_thousand_cases():
    assert sum(SHARE.values()) >= 1000
