"""Worst event-loop stall of the bench application during a simulated 24-position run (target < 50 ms).

    .venv/bin/python benchmarks/bench_gui_stall.py [--positions 24] [--plan ansi-c12.20-2s]

Builds a 24-socket copy of examples/2s-board.toml in a temporary folder, opens the window offscreen,
loads the simulated meters, waits for the window's instrument check, presses Start and runs the plan in
virtual time (speed 0: the engine runs flat out, the worst case for the window) while, in the GUI thread,
a 5 ms timer ticks: a stall is how late a tick arrives. Prints the worst stall, the 99th percentile and
the run's wall time, then the worst stall in the 2.5 s after the run (results, re-check of the bench).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TICK_MS = 5


def board_file(n: int, folder: Path) -> Path:
    """examples/2s-board.toml with ``n`` positions, every extra socket a copy of position 2's meter."""
    text = (ROOT / "examples" / "2s-board.toml").read_text()
    text = re.sub(r"(?m)^positions = 3$", f"positions = {n}", text)
    text = re.sub(r"(?m)^positions = \[1, 2, 3\]$", f"positions = {list(range(1, n + 1))}", text)
    block = text[
        text.index("[[simulation.meter]]\nposition = 2") : text.index("[[simulation.meter]]\nposition = 3")
    ]
    for pos in range(4, n + 1):
        text += "\n" + block.replace("position = 2", f"position = {pos}").replace(
            'serial = "SIM2S-0002"', f'serial = "SIM2S-{pos:04d}"'
        )
    path = folder / f"2s-board-{n}.toml"
    path.write_text(text)
    return path


def _summary(gaps: list[float]) -> tuple[float, float]:
    worst = max(gaps) if gaps else float("nan")
    p99 = statistics.quantiles(gaps, n=100)[98] if len(gaps) > 100 else worst
    return worst, p99


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=24)
    ap.add_argument("--plan", default="ansi-c12.20-2s")
    ap.add_argument(
        "--as-left", action="store_true", help="as-found + as-left (the prompt is answered at once)"
    )
    ap.add_argument("--screenshot", metavar="PNG", help="save the window at the end of the run")
    args = ap.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from bench.gui.prompts import AsLeftPrompt
    from bench.gui.settings import GuiSettings
    from bench.gui.tabs import RECHECK_AFTER_MS
    from bench.gui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="meterbench-stall-"))
    bench = board_file(args.positions, tmp)
    w = MainWindow(GuiSettings(bench_file=str(bench), db_url=f"sqlite:///{tmp}/records.db", speed=0,
                               certificates_dir=str(tmp / "certs"), operator="benchmark"))  # fmt: skip
    w.resize(1366, 768)
    w.show()
    w.confirm = lambda title, text: True
    events = []
    w.worker.listeners.append(lambda ev: events.append(ev.kind))
    collections: list[float] = []  # every garbage collection's length (ms), any thread
    gc_t0 = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            collections.append((time.perf_counter() - gc_t0[0]) * 1000.0)

    gaps: list[float] = []
    stamps: list[float] = []
    cpu: list[float] = []
    lastcpu = [time.thread_time()]
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000.0 - TICK_MS)
        cpu.append((time.thread_time() - lastcpu[0]) * 1000.0)  # GUI thread's own CPU in that gap
        lastcpu[0] = time.thread_time()
        stamps.append(now)
        last[0] = now
        for p in w.prompts:  # the technician answers the as-left prompt at once
            if isinstance(p, AsLeftPrompt) and p.isVisible():
                p.cont.click()

    def spin(seconds: float, until=lambda: False) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not until():
            app.processEvents()
            time.sleep(0.001)

    # The window opens and checks the bench (kept open for Start) before the technician can press Start.
    spin(30, until=lambda: getattr(w, "ready", True))  # records and bench file load behind the first paint
    w.load_sim_meters()
    w.plan_combo.setCurrentIndex(w.plan_combo.findData(args.plan))
    w.passes_combo.setCurrentIndex(1 if args.as_left else 0)
    spin(30, until=lambda: "checking" not in w.status.instruments.text())
    spin(0.3)
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    gc.callbacks.append(on_gc)
    last[0], lastcpu[0] = time.perf_counter(), time.thread_time()
    t0 = time.perf_counter()
    if not w.start_run():
        print("could not start:", w.banner.text())
        return 2
    spin(600, until=lambda: not w.running)
    wall = time.perf_counter() - t0
    during = len(gaps)
    run_collections = list(collections)
    # After the run: results on screen, and the bench opened and checked again for the next Start.
    spin(RECHECK_AFTER_MS / 1000.0 + 1.0)
    timer.stop()
    gc.callbacks.remove(on_gc)
    if args.screenshot:
        w.grab().save(args.screenshot)
    out = w.last_outcome
    worst, p99 = _summary(gaps[:during])
    after, _ = _summary(gaps[during:])
    print(f"positions {args.positions}, plan {args.plan}{' + as-left' if args.as_left else ''}: outcome "
          f"{out.outcome if out else '?'}, {len(events)} engine events, run wall time {wall:.2f} s")  # fmt: skip
    print(f"event-loop stall during the run: worst {worst:.1f} ms, p99 {p99:.1f} ms over {during} ticks "
          f"(target < 50 ms): {'OK' if worst < 50 else 'OVER TARGET'}")  # fmt: skip
    print(f"after the run (results shown, bench re-opened and checked): worst {after:.1f} ms")
    print(f"garbage collections during the run: {len(run_collections)}, longest "
          f"{max(run_collections, default=0.0):.1f} ms")  # fmt: skip
    worst_at = sorted(range(during), key=lambda i: -gaps[i])[:5]
    print("five worst ticks (ms after Start, stall ms, GUI-thread CPU ms in it):",
          [(round((stamps[i] - t0) * 1000), round(gaps[i]), round(cpu[i])) for i in worst_at])  # fmt: skip
    w.shutdown()
    w.deleteLater()
    app.processEvents()
    return 0 if worst < 50 and after < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
