"""Records store throughput: committed readings per second, bulk load of 1 million readings, and how
long one meter's history and a full audit verification take at that size. Prints numbers; no asserts.

    .venv/bin/python benchmarks/bench_records.py [--db URL] [--readings 1000000] [--single 5000]
                                                 [--meters 200] [--no-verify]

Without --db a fresh SQLite file in a temporary folder is used (removed afterwards). The engine writes
one reading per committed transaction (``add_reading``); the bulk load uses ``add_readings_bulk`` in
batches, which the engine does not, so the 1 M figure is a capacity figure, not the engine's pace.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.records import RecordStore

POINTS_PER_RUN = 10
BATCH = 1000


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
    try:
        bench_id = store.upsert_bench("bench-benchmark", "lab", {})

        run, points = _run_for(store, bench_id, "SINGLE-0")
        t = time.perf_counter()
        for i in range(args.single):
            store.add_reading(points[i % len(points)], **_reading(i))
        dt = time.perf_counter() - t
        print(
            f"add_reading, one committed transaction each: {args.single} in {dt:.2f} s = "
            f"{args.single / dt:,.0f} readings/s ({dt / args.single * 1000:.2f} ms each)"
        )
        _finish(store, run, points)

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
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
