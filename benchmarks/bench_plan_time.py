"""Bench time of a 2S FL/LL/PF board pass: the plan's fixed readings and settling against
``test_time = "from-uncertainty"`` (issue 14), on the example 2S board's simulator with its faults removed.

The fixed pass runs first and is the bench's history: its readings (3 per point) are what the planned
pass pools its repeatability from. Printed per point: readings x pulses, bench seconds, U against the
allowed target_share x limit, and what the repeatability rests on. Target: the planned pass <= 12 bench
seconds with U <= limit/4 on every point.

Run:  .venv/bin/python benchmarks/bench_plan_time.py
"""

from __future__ import annotations

import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.kernel import KernelSettings, RunKernel  # noqa: E402
from bench.records import RecordStore  # noqa: E402
from bench.session import meters_from_bench  # noqa: E402
from instruments.bench import open_bench  # noqa: E402
from procedures.plans import parse_plan  # noqa: E402

SHIPPED = ROOT / "procedures" / "data" / "plans" / "ansi-c12.20-2s.toml"


def board_pass_plan(test_time: str = "fixed"):
    """The shipped 2S plan's accuracy points (LL, PF, FL: 3 readings, 5 s settle each) as a plan of
    their own, with the plan-level ``test_time``."""
    raw = tomllib.loads(SHIPPED.read_text())
    raw["points"] = [p for p in raw["points"] if p["kind"] == "accuracy"]
    raw["id"] = f"2s-board-pass-{test_time}"
    raw["test_time"] = test_time
    return parse_plan(raw, f"{raw['id']} (from {SHIPPED.name})", repr(raw).encode())


def clean_board(tmp: Path) -> Path:
    """The example 2S board without its injected faults (a wiring fault, a dead meter, a dirty pickup)."""
    from benchmarks.bench_engine import _clean_bench

    return _clean_bench(ROOT / "examples" / "2s-board.toml", tmp)


def run_pass(bench_path: Path, store: RecordStore, plan):
    """One run of ``plan`` on a freshly opened bench: (outcome, the run's record)."""
    bench = open_bench(bench_path, speed=0)
    try:
        kernel = RunKernel(bench, store, plan, meters_from_bench(bench.config), settings=KernelSettings())
        out = kernel.run()
    finally:
        bench.close()
    return out, store.run_record(out.run_id)


def point_rows(record: dict, share: float) -> list[dict]:
    rows = []
    for q in record["points"]:
        res, planned = q.get("result") or {}, q.get("planned") or {}
        limit = min(abs(q["limit_lo"]), abs(q["limit_hi"]))
        rows.append({"position": q["position"], "label": q["label"], "readings": len(q["readings"]),
                     "pulses": planned.get("meter_pulses"), "u": res.get("expanded_percent"),
                     "allowed": share * limit, "basis": planned.get("repeatability_basis", "")})  # fmt: skip
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        path = clean_board(tmp)
        store = RecordStore.open(f"sqlite:///{tmp / 'records.sqlite'}")
        try:
            print("2S FL/LL/PF board pass (example 2S board, faults removed), bench seconds:")
            for test_time in ("fixed", "from-uncertainty"):
                plan = board_pass_plan(test_time)
                out, record = run_pass(path, store, plan)
                rows = point_rows(record, plan.target_share)
                worst = max(r["u"] / r["allowed"] for r in rows)
                print(f"  test_time = {test_time!r:20} {out.bench_seconds:6.2f} s  ({out.outcome}; "
                      f"largest U / allowed {worst:.2f})")  # fmt: skip
                for r in rows:
                    if r["position"] == rows[0]["position"]:
                        print(f"    {r['label']:>3}: {r['readings']} reading(s) x {r['pulses']} pulse(s), "
                              f"U {r['u']:.4f} % vs allowed {r['allowed']:.4f} %  {r['basis']}")  # fmt: skip
            print("  target: from-uncertainty <= 12 bench seconds with U <= limit/4 on every point")
        finally:
            store.close()


if __name__ == "__main__":
    main()
