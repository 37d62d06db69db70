"""A full 48-position board runs in parallel: a dead meter and a fast meter fail only their own positions,
every other position gets every result, and the source is off at the end."""

from __future__ import annotations

import re
from pathlib import Path

from bench.kernel import RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.plans import load_plan

ROOT = Path(__file__).resolve().parents[1]
DEAD, FAST = 17, 40


def _board(tmp_path: Path) -> Path:
    head = (ROOT / "examples" / "2s-board.toml").read_text().split("[[simulation.meter]]")[0]
    head = re.sub(r"(?m)^positions\s*=\s*3$", "positions = 48", head)
    head = re.sub(r"(?m)^positions\s*=\s*\[1, 2, 3\]$", f"positions = {list(range(1, 49))}", head)
    meters = ""
    for k in range(1, 49):
        curve = "[[1.0, 0.0, 1.2]]" if k == FAST else "[[1.0, 0.0, 0.05]]"
        meters += (f'\n[[simulation.meter]]\nposition = {k}\nserial = "B48-{k:04d}"\nform = "2S"\n'
                   f'accuracy_class = "0.5"\ncurrent_class = "CL200"\nvoltage = 240.0\nkh = 7.2\nkt = 0.6\n'
                   f"error_curve = {curve}\nnoise_percent = 0.01\n" + ("dead = true\n" if k == DEAD else ""))  # fmt: skip
    path = tmp_path / "board48.toml"
    path.write_text(head + meters)
    return path


def test_48_positions_in_parallel_each_fails_alone(tmp_path):
    bench = open_bench(_board(tmp_path), speed=0)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        out = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config)).run()
        record = store.run_record(out.run_id)
        assert not bench.simulator.physics.output_on
    finally:
        bench.close()
        store.close()
    assert len(out.positions) == 48
    assert out.positions[DEAD] == "no pulses"
    assert out.positions[FAST] == "failed"
    assert {p: s for p, s in out.positions.items() if p not in (DEAD, FAST)} == {
        p: "passed" for p in range(1, 49) if p not in (DEAD, FAST)
    }
    accuracy = [p for p in record["points"] if p["kind"] == "accuracy" and p["status"] == "done"]
    per_position = {pos: sum(1 for p in accuracy if p["position"] == pos) for pos in range(1, 49)}
    assert per_position[DEAD] == 0 and len({n for p, n in per_position.items() if p != DEAD}) == 1
    fast_fl = next(p for p in accuracy if p["position"] == FAST and p["point_id"] == "FL")
    assert abs(fast_fl["result"]["error_percent"] - 1.2) < 0.1 and fast_fl["result"]["verdict"] == "fail"
