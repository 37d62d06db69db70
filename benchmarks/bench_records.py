"""Records store throughput: committed readings per second, bulk load of 1 million readings, and how
long one meter's history and a full audit verification take at that size. Prints numbers; no asserts.

    .venv/bin/python benchmarks/bench_records.py [--db URL] [--readings 1000000] [--single 5000]
                                                 [--meters 200] [--no-verify]

Without --db a fresh SQLite file in a temporary folder is used (removed afterwards). The engine writes
one reading per committed transaction (``add_reading``); the bulk load uses ``add_readings_bulk`` in
batches, which the engine does not, so the 1 M figure is a capacity figure, not the engine's pace.

The single-commit readings take turns with a raw driver loop doing the same audited work (sqlite3 on
SQLite; psycopg on PostgreSQL, in a schema of its own that is dropped afterwards), 100 readings each, and
the ratio of the two rates is printed with both CPU times per commit.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# the checkout this script is in, not whichever one the venv has installed (a worktree measures its own code)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.records import RecordStore  # noqa: E402
from bench.records.opening import PG_LOCK_KEY  # noqa: E402

POINTS_PER_RUN = 10
BATCH = 1000
BLOCK = 100  # single-commit readings per turn when the store and the raw loop take turns


def _reading(i: int) -> dict:
    e = ((i * 7919) % 200 - 100) / 1000
    return {
        "index": i,
        "meter_pulses": 10,
        "ref_pulses": 10 * (1 - e / 100),
        "kr_wh": 0.0012,
        "kt_wh": 7.2,
        "gate_seconds": 12.5,
        "error_percent": e,
        "instrument_error_percent": None,
        "reference": {"v": [240.0, 240.1, 239.9], "i": [30.0, 30.0, 30.0]},
    }


def _run_for(store: RecordStore, bench_id: int, serial: str) -> tuple[int, list[int]]:
    meter = store.upsert_meter(
        serial, form="2S", accuracy_class="0.2", current_class="CL200", voltage_v=240, ta_a=30, kh=7.2, kt=7.2
    )
    run = store.start_run(
        plan_id="bench",
        plan_version="1",
        plan_sha256="0" * 64,
        bench_id=bench_id,
        operator="bench",
        environment={},
        settings={},
        positions={1: meter},
    )
    points = [
        store.add_point(
            run,
            position=1,
            point_id=f"P{k}",
            label=f"point {k}",
            element="ABC",
            test_pass="as-found",
            kind="accuracy",
            voltage_v=240,
            current_a=30,
            lag_deg=0,
            limit_lo=-0.2,
            limit_hi=0.2,
            limit_provenance={},
            planned={},
        )
        for k in range(POINTS_PER_RUN)
    ]
    return run, points


class RawAuditedLoop:
    """Readings written by the plain driver doing the store's audited work per commit: on SQLite ``sqlite3``
    with the same pragmas (WAL, synchronous=FULL) and BEGIN IMMEDIATE, on PostgreSQL ``psycopg`` with the
    writers' advisory lock; then the reading row, the chain head read, the canonical JSON of the row, its
    HMAC-SHA256 entry, the audit row, the commit and the anchor pwrite. The floor the store's own
    single-commit writes are compared with. Its connection and anchor file stay open between blocks, as the
    store's do."""

    COLS = ("point_id", "idx", "meter_pulses", "ref_pulses", "kr_wh", "kt_wh", "gate_seconds", "error_percent",
            "instrument_error_percent", "reference", "taken_at")  # fmt: skip

    def __init__(self, conn, anchor: Path, point_rows: list[int], *, pg: bool) -> None:
        self.key = os.urandom(32)
        self.points = point_rows
        self.conn, self.pg = conn, pg
        self.anchor_path = anchor
        self.anchor = os.open(anchor, os.O_WRONLY | os.O_CREAT, 0o600)
        cols, mark = self.COLS, "%s" if pg else "?"
        self.insert = (
            f"INSERT INTO readings ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))}) RETURNING id"
        )
        self.audit = (
            "INSERT INTO audit_log (seq, at, table_name, row_id, action, row_json, hash) "
            f"VALUES ({', '.join([mark] * 7)})"
        )

    @classmethod
    def sqlite(cls, path: Path, point_rows: list[int]) -> RawAuditedLoop:
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
            conn.execute(f"PRAGMA {pragma}")
        return cls(conn, path.with_suffix(".anchor"), point_rows, pg=False)

    @classmethod
    def postgres(cls, url: str, anchor: Path, point_rows: list[int]) -> RawAuditedLoop:
        import psycopg
        import sqlalchemy as sa

        conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(psycopg.connect(conninfo, autocommit=True), anchor, point_rows, pg=True)

    def write(self, start: int, n: int) -> None:
        """Readings ``start`` .. ``start + n - 1``, one committed transaction each."""
        conn, cols, key, pg = self.conn, self.COLS, self.key, self.pg
        for i in range(start, start + n):
            r = _reading(i)
            now = datetime.now(UTC)
            at = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            stamp = now if pg else now.replace(tzinfo=None).isoformat(" ")  # SQLite stores text
            ref = json.dumps(r["reference"], sort_keys=True, separators=(",", ":"))
            vals = (self.points[i % len(self.points)], r["index"], r["meter_pulses"], r["ref_pulses"], r["kr_wh"],
                    r["kt_wh"], r["gate_seconds"], r["error_percent"], r["instrument_error_percent"], ref, stamp)  # fmt: skip
            if pg:
                conn.execute("BEGIN")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
            else:
                conn.execute("BEGIN IMMEDIATE")
            row_id = conn.execute(self.insert, vals).fetchone()[0]
            row = dict(zip(cols, vals, strict=True)) | {
                "id": row_id,
                "reference": r["reference"],
                "taken_at": at,
            }
            row_json = json.dumps(row, sort_keys=True, separators=(",", ":"), allow_nan=False)
            seq, prev = conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone() or (
                0,
                "0" * 64,
            )
            entry = json.dumps({"action": "insert", "at": at, "row": row, "row_id": row_id, "seq": seq + 1,
                                "table": "readings"}, sort_keys=True, separators=(",", ":"))  # fmt: skip
            mac = hmac.new(key, (prev + entry).encode(), hashlib.sha256).hexdigest()
            conn.execute(self.audit, (seq + 1, stamp, "readings", row_id, "insert", row_json, mac))
            conn.execute("COMMIT")
            os.pwrite(self.anchor, f'{{"seq":{seq + 1},"hash":"{mac}"}}'.encode().ljust(256), 0)

    def close(self) -> None:
        os.close(self.anchor)
        self.conn.close()
        if self.pg:  # the anchor's own temporary folder
            shutil.rmtree(Path(self.anchor_path).parent, ignore_errors=True)


def single_commits(
    store: RecordStore, points: list[int], n: int, raw: RawAuditedLoop | None
) -> dict[str, float]:
    """``n`` single-commit readings through the store and, interleaved with them in blocks of ``BLOCK``, ``n``
    through the raw loop: both meet the same disk and the same load from the rest of the machine, which on a
    shared machine drifts more in a few seconds than the difference being measured. Wall and CPU seconds of
    each."""
    took = {"store": 0.0, "store_cpu": 0.0, "raw": 0.0, "raw_cpu": 0.0}
    for start in range(0, n, BLOCK):
        k = min(BLOCK, n - start)
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(start, start + k):
            store.add_reading(points[i % len(points)], **_reading(i))
        took["store"] += time.perf_counter() - t
        took["store_cpu"] += time.process_time() - cpu
        if raw is not None:
            t, cpu = time.perf_counter(), time.process_time()
            raw.write(start, k)
            took["raw"] += time.perf_counter() - t
            took["raw_cpu"] += time.process_time() - cpu
    return took


def _pg_schema(url: str) -> tuple[str, str]:
    """A fresh schema for the raw loop in the PostgreSQL database of ``url``, and a URL whose connections
    use it (the store's tables and audit chain stay apart from the raw loop's)."""
    from urllib.parse import quote

    import sqlalchemy as sa

    schema = f"mb_bench_raw_{os.getpid()}"
    engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    return schema, f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"


def _drop_pg_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def _finish(store: RecordStore, run: int, points: list[int]) -> None:
    for p in points:
        store.finish_point(
            p,
            status="done",
            error_percent=0.01,
            expanded_percent=0.02,
            coverage_factor=2.0,
            dof=50.0,
            budget=[],
            verdict="pass",
            decision_rule="simple",
        )
    store.finish_run(run, "passed", bench_seconds=1.0, wall_seconds=1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db")
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--single", type=int, default=5000)
    ap.add_argument("--meters", type=int, default=200)
    ap.add_argument("--no-verify", action="store_true")
    args = ap.parse_args()
    tmp = None
    url = args.db
    if url is None:
        tmp = Path(tempfile.mkdtemp(prefix="mb-bench-"))
        url = f"sqlite:///{tmp / 'records.sqlite'}"
    print(f"database: {url.split('@')[-1]}")
    t = time.perf_counter()
    store = RecordStore.open(url)
    print(f"open + migrate: {time.perf_counter() - t:.3f} s")
    raw_schema = None  # PostgreSQL: the raw loop's schema, dropped at the end
    try:
        bench_id = store.upsert_bench("bench-benchmark", "lab", {})

        run, points = _run_for(store, bench_id, "SINGLE-0")
        raw = None
        if url.startswith("sqlite:///"):
            raw_path = Path(url[len("sqlite:///") :]).with_name("raw-loop.sqlite")
            raw_store = RecordStore.open(f"sqlite:///{raw_path}")
            _, raw_points = _run_for(raw_store, raw_store.upsert_bench("raw-loop", "lab", {}), "RAW-0")
            raw_store.close()
            raw = RawAuditedLoop.sqlite(raw_path, raw_points)
        elif "options=" not in url:  # PostgreSQL: the raw loop's own tables in a schema of their own
            raw_schema, raw_url = _pg_schema(url)
            raw_store = RecordStore.open(raw_url)
            _, raw_points = _run_for(raw_store, raw_store.upsert_bench("raw-loop", "lab", {}), "RAW-0")
            raw_store.close()
            raw = RawAuditedLoop.postgres(
                raw_url, Path(tempfile.mkdtemp(prefix="mb-bench-")) / "raw.anchor", raw_points
            )
        took = single_commits(store, points, args.single, raw)
        dt, cpu = took["store"], took["store_cpu"]
        print(
            f"add_reading, one committed transaction each: {args.single} in {dt:.2f} s = "
            f"{args.single / dt:,.0f} readings/s ({dt / args.single * 1000:.2f} ms each)"
        )
        _finish(store, run, points)
        if raw is None:  # no raw loop to compare with (a PostgreSQL URL with options): the store's CPU
            print(f"  CPU per committed reading: store {1000 * cpu / args.single:.2f} ms")
        else:
            raw.close()
            raw_dt, raw_cpu = took["raw"], took["raw_cpu"]
            print(
                f"raw {'psycopg' if raw.pg else 'sqlite3'} loop, the same audited work per commit "
                f"(interleaved in blocks of {BLOCK}): "
                f"{args.single / raw_dt:,.0f} readings/s; the store's single-commit readings run at "
                f"{raw_dt / dt:.2f} of it (target >= 0.7)"
            )
            print(
                f"  CPU per committed reading: store {1000 * cpu / args.single:.2f} ms, raw loop "
                f"{1000 * raw_cpu / args.single:.2f} ms (the rest of the time is waiting for the database to "
                "flush each commit)"
            )

        per_meter = max(1, args.readings // args.meters)
        per_point = max(1, per_meter // POINTS_PER_RUN)
        total, setup_s, load_s = 0, 0.0, 0.0
        t_all = time.perf_counter()
        for n in range(args.meters):
            t = time.perf_counter()
            run, points = _run_for(store, bench_id, f"BULK-{n:05d}")
            setup_s += time.perf_counter() - t
            t = time.perf_counter()
            for p in points:
                for start in range(0, per_point, BATCH):
                    total += store.add_readings_bulk(
                        p, (_reading(i) for i in range(start, min(per_point, start + BATCH)))
                    )
            load_s += time.perf_counter() - t
            t = time.perf_counter()
            _finish(store, run, points)
            setup_s += time.perf_counter() - t
            if (n + 1) % max(1, args.meters // 10) == 0:
                print(f"  {total:,} readings after {time.perf_counter() - t_all:.0f} s")
        print(
            f"bulk load: {total:,} readings in batches of {BATCH} in {load_s:.1f} s = {total / load_s:,.0f} readings/s"
            f" (+ {setup_s:.1f} s for {args.meters} runs' {args.meters * (2 * POINTS_PER_RUN + 3)} single-commit"
            " writes: meters, runs, points, results)"
        )

        target = f"BULK-{args.meters // 2:05d}"
        t = time.perf_counter()
        hist = store.meter_history(target)
        dt = time.perf_counter() - t
        n_points = sum(len(h["points"]) for h in hist)
        n_read = sum(p["readings"] for h in hist for p in h["points"])
        print(
            f"meter_history({target}): {len(hist)} run(s), {n_points} points covering {n_read:,} readings "
            f"in {dt * 1000:.1f} ms"
        )
        t = time.perf_counter()
        rec = store.run_record(hist[0]["run_id"])
        print(
            f"run_record of that run ({sum(len(p['readings']) for p in rec['points']):,} readings): "
            f"{(time.perf_counter() - t) * 1000:.0f} ms"
        )
        if not args.no_verify:
            t = time.perf_counter()
            problems = store.verify_audit()
            print(
                f"verify_audit over everything: {len(problems)} problem(s) in {time.perf_counter() - t:.1f} s"
            )
        if tmp is not None:
            size = sum(f.stat().st_size for f in tmp.iterdir())
            print(
                f"SQLite size on disk: {size / 1e6:,.0f} MB ({size / max(total, 1):.0f} bytes per reading incl. audit)"
            )
    finally:
        store.close()
        if raw_schema is not None:
            _drop_pg_schema(url, raw_schema)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
