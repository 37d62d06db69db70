"""Engine benchmarks (prints numbers; asserts nothing).

1. Bench time as the shop sees it, for the shipped ANSI C12.20 plans of 2S, 9S, 12S and 16S on the
   simulator (faults removed): per form, the accuracy points and the whole plan apart, each as (bench
   seconds - plan slack) / physical floor, and the instrument messages of the run. See :func:`bench_time`
   for what the floor and the slack count. Target: accuracy-point efficiency <= 1.05.
2. Engine overhead: process CPU per position-point on a 24-position 2S board in virtual time, best of 3,
   with the simulator's own share measured beside it and the messages sent per pass. Target <= 2.5 ms.

Run:  .venv/bin/python benchmarks/bench_engine.py
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.kernel import KernelSettings, RunKernel  # noqa: E402
from bench.records import RecordStore  # noqa: E402
from bench.session import meters_from_bench  # noqa: E402
from instruments.bench import open_bench  # noqa: E402
from procedures.plans import load_plan, parse_plan  # noqa: E402

CASES = [("2S", "2s-board.toml", "ansi-c12.20-2s"), ("9S", "9s-reversed-ct.toml", "ansi-c12.20-9s"),
         ("12S", "12s-network.toml", "ansi-c12.20-12s"), ("16S", "16s-fluke6105a.toml", "ansi-c12.20-16s")]  # fmt: skip


def _clean_bench(path: Path, tmp: Path) -> Path:
    """The example bench without its injected faults: a wiring fault ends a position early, a dead meter
    waits out its no-pulse timeout and a dirty pickup stretches its gates, none of which is in the floor.
    The figure is the engine against the physics of a healthy board."""
    text = re.sub(r"(?m)^(wiring|dead|missed_pulse_fraction)\s*=.*$", "", path.read_text())
    out = tmp / path.name
    out.write_text(text)
    return out


class Timeline:
    """A listener noting the bench time of each point's start, its measured stability and its results."""

    def __init__(self, clock) -> None:
        self.clock = clock  # the bench clock, for the physics' own times of the same moments
        self.points: dict[tuple[str, str], dict] = {}
        self._open: tuple[str, str] | None = None

    def __call__(self, rec) -> None:
        kind = type(rec).__name__
        now = self.clock.now()
        if kind == "PointStarted":
            self._open = (rec.point_id, rec.test_pass)
            self.points[self._open] = {"kind": rec.test_kind, "start": rec.bench_time, "end": rec.bench_time,
                                       "abs_start": now, "abs_end": now}  # fmt: skip
        elif self._open is not None and kind == "Stabilised":
            self.points[self._open]["stable"] = rec.bench_time
        elif self._open is not None and kind in ("PointResult", "CountResult", "RegisterResult"):
            self.points[self._open]["end"] = rec.bench_time
            self.points[self._open]["abs_end"] = now


class PhysicsEdges:
    """Benchmark-only: when the simulated bench armed each position's gate and when a meter edge opened
    it, in the physics' own time. The engine never sees these; they make the floor's first-edge wait the
    one each meter really had (its disc or LED phase) instead of an expectation that a fixed seed's meters
    beat or miss by up to a pulse period."""

    def __init__(self) -> None:
        self.arms: dict[int, list[float]] = {}
        self.opens: dict[int, list[float]] = {}
        self._saved: list = []

    def __enter__(self) -> PhysicsEdges:
        from instruments.sim.physics import BenchPhysics

        start, edge, log = BenchPhysics.gate_start, BenchPhysics._edge, self

        def gate_start(ph, pos, series=1):
            start(ph, pos, series)
            log.arms.setdefault(pos, []).append(ph.t)

        def on_edge(ph, pos, t):
            armed = ph.gates[pos].state == "armed"
            edge(ph, pos, t)
            if armed and ph.gates[pos].state == "running":
                log.opens.setdefault(pos, []).append(t)

        self._saved = [(BenchPhysics, "gate_start", start), (BenchPhysics, "_edge", edge)]
        BenchPhysics.gate_start, BenchPhysics._edge = gate_start, on_edge
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in self._saved:
            setattr(owner, name, original)

    def first_wait(self, pos: int, t0: float, t1: float) -> float:
        """From the first arming of ``pos`` in [t0, t1] to the edge that opened that gate."""
        arm = next((a for a in self.arms.get(pos, ()) if t0 <= a <= t1), None)
        opened = None if arm is None else next((o for o in self.opens.get(pos, ()) if o >= arm), None)
        return 0.0 if opened is None or opened > t1 else opened - arm


def _accuracy_floor(rows: list[dict], edges: PhysicsEdges, t0: float, t1: float) -> float:
    """The slowest position's physics: the wait for the edge that opened its first gate (as the meter
    had it) plus the measured length of every gate it took. Back-to-back gating pays the first edge once
    per point; a calculator that gates one reading at a time waits for a fresh edge every reading, which
    is its own cost, not the physics' (the 16S Fluke row)."""
    return max(
        (
            edges.first_wait(q["position"], t0, t1) + sum(x["gate_seconds"] for x in q["readings"])
            for q in rows
        ),
        default=0.0,
    )


def _settled(rows: list[dict]) -> bool:
    """Whether a point slept its plan's settle_s: not when it was planned on the bench's pooled
    repeatability (it settles on measured stability alone, bench/kinds/accuracy.py)."""
    basis = next((b for q in rows if (b := (q.get("planned") or {}).get("repeatability_basis"))), None)
    return basis is None or basis.startswith("from this point's own")


def bench_time(
    form: str, record: dict, timeline: Timeline, plan, bench_seconds: float, edges: PhysicsEdges
) -> dict:
    """Bench seconds against the physics, for the accuracy points and for the whole plan.

    Floor (physics only): the measured length of every gate, the measured stability wait (switch-on to
    stable, as the engine measured it) and one wait for the first meter edge per point, as the simulated
    meter had it (:class:`PhysicsEdges`);
    creep windows at their length; a starting test at the time its slowest meter needed (2 pulses).
    Plan slack (apart): the plan's fixed settle after stability, and the starting test's time beyond its
    slowest meter."""
    settle = {p.id: p.settle_s for p in plan.points}
    acc = {"bench": 0.0, "floor": 0.0, "slack": 0.0}
    whole_floor = whole_slack = 0.0
    for (pid, test_pass), t in timeline.points.items():
        rows = [q for q in record["points"] if (q["point_id"], q["test_pass"]) == (pid, test_pass)]
        took = t["end"] - t["start"]
        slack = settle.get(pid, 0.0) if _settled(rows) else 0.0
        stable = max(0.0, t.get("stable", t["start"]) - slack - t["start"])
        if t["kind"] == "accuracy":
            done = [q for q in rows if q["status"] == "done"]
            floor = stable + _accuracy_floor(done, edges, t["abs_start"], t["abs_end"])
            if "--points" in sys.argv:
                first = max(
                    (edges.first_wait(q["position"], t["abs_start"], t["abs_end"]) for q in done), default=0
                )
                plan_row = (done[0].get("planned") or {}) if done else {}
                print(f"    {pid:>8} {test_pass:>8}: took {took:7.2f} s, slack {slack:4.1f}, floor {floor:7.2f} "
                      f"(stability {stable:.2f}, first edge {first:.2f}), {plan_row.get('readings')} x "
                      f"{plan_row.get('meter_pulses')} pulse(s) of {plan_row.get('gate_seconds', 0):.2f} s, "
                      f"over {took - slack - floor:+.2f} s")  # fmt: skip
            acc["bench"] += took
            acc["floor"] += floor
            acc["slack"] += slack
        elif t["kind"] == "creep":
            floor = stable + max((q.get("planned") or {}).get("duration_s", 0.0) for q in rows)
        elif t["kind"] == "starting":
            needed = max((s["seconds"] for s in record["starting"]), default=0.0)
            floor = stable + needed
            slack += max(0.0, took - slack - floor)
        elif t["kind"] == "register":
            floor = stable + max((q.get("planned") or {}).get("gate_seconds", 0.0) for q in rows)
        else:  # wiring: the time it took (a measurement of phasors, no pulses)
            floor = took - slack
        whole_floor += floor
        whole_slack += slack
    return {
        "form": form,
        "acc_bench": acc["bench"],
        "acc_floor": acc["floor"],
        "acc_slack": acc["slack"],
        "acc_eff": (acc["bench"] - acc["slack"]) / acc["floor"] if acc["floor"] else float("nan"),
        "bench": bench_seconds,
        "floor": whole_floor,
        "slack": whole_slack,
        "eff": (bench_seconds - whole_slack) / whole_floor if whole_floor else float("nan"),
    }


def shipped_plan(plan_id: str, test_time: str):
    """A shipped plan as written, or with its accuracy points' ``test_time`` set (a plan of its own id)."""
    if test_time == "fixed":
        return load_plan(plan_id)
    src = ROOT / "procedures" / "data" / "plans" / f"{plan_id}.toml"
    raw = tomllib.loads(src.read_text())
    raw["id"], raw["test_time"] = f"{plan_id}-{test_time}", test_time
    return parse_plan(raw, f"{raw['id']} (from {src.name})", repr(raw).encode())


def efficiency() -> None:
    print("Bench time as the shop sees it: (bench seconds - plan slack) / physical floor; target <= 1.05")
    print("  floor = measured gate lengths + measured stability wait + the first meter edge's wait per point")
    print(
        "  slack = the plan's fixed settle after stability, a starting test's time beyond its slowest meter"
    )
    print("  fixed = the shipped plan as written; planned = test_time 'from-uncertainty', run after it on")
    print("  the same records (its repeatability pooled from the fixed run)")
    print(f"{'form':>9} | {'acc. bench s':>12} {'slack s':>8} {'floor s':>8} {'eff':>6} | {'plan bench s':>12} "
          f"{'slack s':>8} {'floor s':>8} {'eff':>6} | {'messages':>8}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for form, bench_file, plan_id in CASES:
            path = _clean_bench(ROOT / "examples" / bench_file, tmp)
            store = RecordStore.open(f"sqlite:///{tmp / (form + '.sqlite')}")
            try:
                for test_time in ("fixed", "from-uncertainty"):
                    bench = open_bench(path, speed=0)
                    try:
                        timeline = Timeline(bench.clock)
                        eng = RunKernel(bench, store, shipped_plan(plan_id, test_time),
                                        meters_from_bench(bench.config), settings=KernelSettings(),
                                        listeners=[timeline])  # fmt: skip
                        with SimulatorMeter() as sim, PhysicsEdges() as edges:
                            out = eng.run()
                    finally:
                        bench.close()
                    row = bench_time(
                        form, store.run_record(out.run_id), timeline, eng.resolved, out.bench_seconds, edges
                    )
                    name = f"{form} {'fixed' if test_time == 'fixed' else 'planned'}"
                    print(f"{name:>9} | {row['acc_bench']:12.1f} {row['acc_slack']:8.1f} {row['acc_floor']:8.1f} "
                          f"{row['acc_eff']:6.3f} | {row['bench']:12.1f} {row['slack']:8.1f} {row['floor']:8.1f} "
                          f"{row['eff']:6.3f} | {sim.messages:8d}   ({out.outcome})")  # fmt: skip
            finally:
                store.close()


class SimulatorMeter:
    """CPU seconds spent on the instruments' side: everything below pyvisa's resource calls (pyvisa-sim's
    sessions and byte loop, the simulated instruments, the physics they ask). What a real bench spends
    there is the instruments' own time, not ours; the engine figure is reported with and without it."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.messages = 0
        self._depth = 0
        self._saved: list = []

    def _wrap(self, owner, name: str, counts: bool) -> None:
        original = getattr(owner, name)
        meter = self

        def timed(*args, **kwargs):
            if meter._depth:
                return original(*args, **kwargs)
            meter._depth += 1
            if counts:
                meter.messages += 1
            t0 = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                meter.cpu += time.thread_time() - t0
                meter._depth -= 1

        self._saved.append((owner, name, original))
        setattr(owner, name, timed)

    def __enter__(self) -> SimulatorMeter:
        from pyvisa_sim.highlevel import SimVisaLibrary

        self._wrap(SimVisaLibrary, "write", counts=True)  # one message sent to an instrument
        self._wrap(SimVisaLibrary, "read", counts=False)
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


def board(positions: int, tmp: Path) -> Path:
    """The 2S example bench with ``positions`` identical healthy meters."""
    text = (ROOT / "examples" / "2s-board.toml").read_text()
    head = text.split("[[simulation.meter]]")[0]
    head = re.sub(r"(?m)^positions\s*=\s*\d+", f"positions = {positions}", head)
    head = re.sub(r"(?m)^positions\s*=\s*\[.*\]", f"positions = {list(range(1, positions + 1))}", head)
    meters = "".join(
        f'\n[[simulation.meter]]\nposition = {k}\nserial = "BENCH2S-{k:04d}"\nform = "2S"\naccuracy_class = "0.5"\n'
        f'current_class = "CL200"\nvoltage = 240.0\nkh = 7.2\nkt = 0.6\nerror_curve = [[1.0, 0.0, 0.05]]\n'
        f"noise_percent = 0.01\n"
        for k in range(1, positions + 1)
    )
    path = tmp / f"board{positions}.toml"
    path.write_text(head + meters)
    return path


def overhead(positions: int = 24, repeat: int = 3) -> None:
    """Engine CPU per position-point: the best of ``repeat`` runs (the machine is shared; the least
    disturbed run is the engine's own cost), with the simulator's share measured in the same run."""
    best = None
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        path = board(positions, tmp)
        for k in range(repeat):
            bench = open_bench(path, speed=0)
            store = RecordStore.open(f"sqlite:///{tmp / f'o{k}.sqlite'}")
            try:
                eng = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config))
                with SimulatorMeter() as sim:
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    out = eng.run()
                    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                pp = positions * len(eng.resolved.points)
                readings = sum(len(p["readings"]) for p in store.run_record(out.run_id)["points"])
                if best is None or cpu < best[0]:
                    best = (cpu, wall, sim.cpu, sim.messages, pp, readings, out)
            finally:
                bench.close()
                store.close()
    cpu, wall, sim_cpu, messages, pp, readings, out = best
    print(
        f"\nEngine overhead, {positions}-position 2S board, virtual time ({out.outcome}), best of {repeat}:"
    )
    print(f"  {pp} position-points, {readings} readings committed, bench {out.bench_seconds:.0f} s")
    print(f"  CPU {cpu:.2f} s, wall {wall:.2f} s -> {1000 * cpu / pp:.2f} ms CPU per position-point "
          f"(target <= 2.5 ms), {1000 * wall / pp:.2f} ms wall")  # fmt: skip
    print(f"  of which the simulator (pyvisa-sim + simulated instruments + physics) {1000 * sim_cpu / pp:.2f} ms "
          f"({100 * sim_cpu / cpu:.0f} %); engine without it {1000 * (cpu - sim_cpu) / pp:.2f} ms")  # fmt: skip
    print(f"  instrument messages sent: {messages}")


if __name__ == "__main__":
    efficiency()
    from benchmarks.bench_plan_time import main as plan_time  # a board pass: fixed vs from-uncertainty

    print()
    plan_time()
    overhead()
