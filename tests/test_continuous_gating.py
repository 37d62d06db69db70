"""Continuous gating: a calculator that runs a point's gates back to back pays the wait for the first meter
edge once per point, not once per reading; the engine uses it where the calculator offers it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_sim_accuracy import meter
from test_sim_faults import open_fast, running

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from instruments.errors import UnparseableReply
from procedures.plans import load_plan

ROOT = Path(__file__).resolve().parents[1]


def test_sim_counter_runs_a_series_of_gates_back_to_back():
    with open_fast([meter(1, "2S", 240.0, "CL200", 7.2)], three_phase=False, calc="sim_counter") as bench:
        running(bench)
        calc = bench.calculators[1]
        calc.configure(0.6, 2)
        calc.start_series(3)
        bench.clock.sleep(0.5)
        assert len(calc.results()) < 3
        bench.clock.sleep(30.0)
        status, progress = calc.poll()
        results = calc.results()
        assert (status, progress) == ("finished", 1.0)
        assert [r.meter_pulses for r in results] == [2, 2, 2]
        assert all(r.ref_pulses > 0 for r in results)
        sent = bench.simulator.devices["calculators"].log
        assert "POS1:CONF 0.6,2" in sent and "POS1:GATE:SER 3" in sent and "POS1:RES:ALL?" in sent


def test_a_garbled_series_reply_is_an_unparseable_reply():
    with open_fast([meter(1, "2S", 240.0, "CL200", 7.2)], three_phase=False, calc="sim_counter") as bench:
        calc = bench.calculators[1]
        calc.rack.link.query = lambda q: "2;0.1,2,100,0.6"  # says two results, holds one
        with pytest.raises(UnparseableReply, match="RES:ALL"):
            calc.results()


def _clean(tmp_path: Path) -> Path:
    text = (ROOT / "examples" / "9s-reversed-ct.toml").read_text()
    path = tmp_path / "9s.toml"
    path.write_text(re.sub(r"(?m)^(wiring|dead)\s*=.*$", "", text))
    return path


def test_a_one_pulse_point_costs_one_edge_wait_not_one_per_reading(tmp_path):
    """9S LL per element: one meter pulse per gate of 18 s, 3 readings. Gate by gate, each reading waits
    for a fresh edge (up to 18 s more each); back to back, only the first does."""
    bench = open_bench(_clean(tmp_path), speed=0)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    events = []
    try:
        eng = RunKernel(bench, store, load_plan("ansi-c12.20-9s"), meters_from_bench(bench.config),
                     settings=KernelSettings(), listeners=[events.append])  # fmt: skip
        eng.run()
        started = next(e.bench_time for e in events if e.kind == "stabilised" and e.point_id == "LL-A")
        done = max(e.bench_time for e in events if e.kind == "point_done" and e.point_id == "LL-A")
        point = next(p for p in store.run_record(eng.run_id)["points"] if p["point_id"] == "LL-A")
        gate, n = point["planned"]["gate_seconds"], point["planned"]["readings"]
        assert point["planned"]["meter_pulses"] == 1 and n == 3
        settle = next(p.settle_s for p in eng.resolved.points if p.id == "LL-A")
        # settle + the first edge (at most one gate) + n gates + at most a quarter gate of polling
        assert done - started <= settle + (n + 1) * gate + 0.25 * gate + 1.0
        assert len(point["readings"]) == n
    finally:
        bench.close()
        store.close()
