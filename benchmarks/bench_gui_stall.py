"""Worst event-loop stall of the bench application during a simulated 24-position run (target < 50 ms).

    .venv/bin/python benchmarks/bench_gui_stall.py [--positions 24] [--plan ansi-c12.20-2s]

Builds a 24-socket copy of examples/2s-board.toml in a temporary folder, opens the window offscreen,
loads the simulated meters, runs the plan in virtual time (speed 0: the engine runs flat out, the worst
case for the window) and, in the GUI thread, ticks a 5 ms timer: a stall is how late a tick arrives.
Prints the worst stall, the 99th percentile and the run's wall time.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=24)
    ap.add_argument("--plan", default="ansi-c12.20-2s")
    ap.add_argument("--screenshot", metavar="PNG", help="save the window at the end of the run")
    args = ap.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from bench.gui.settings import GuiSettings
    from bench.gui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="meterbench-stall-"))
    bench = board_file(args.positions, tmp)
    w = MainWindow(GuiSettings(bench_file=str(bench), db_url=f"sqlite:///{tmp}/records.db", speed=0,
                               certificates_dir=str(tmp / "certs"), operator="benchmark"))  # fmt: skip
    w.resize(1366, 768)
    w.show()
    w.confirm = lambda title, text: True
    w.load_sim_meters()
    idx = w.plan_combo.findData(args.plan)
    w.plan_combo.setCurrentIndex(idx)
    events = []
    w.worker.listeners.append(lambda ev: events.append(ev.kind))
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

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    for _ in range(20):  # settle: the instrument check at load
        app.processEvents()
        time.sleep(0.02)
    timer.start()
    last[0] = time.perf_counter()
    t0 = time.perf_counter()
    if not w.start_run():
        print("could not start:", w.banner.text())
        return 2
    while w.running and time.perf_counter() - t0 < 600:
        app.processEvents()
        time.sleep(0.001)
    wall = time.perf_counter() - t0
    for _ in range(10):
        app.processEvents()
        time.sleep(0.01)
    timer.stop()
    if args.screenshot:
        w.grab().save(args.screenshot)
    out = w.last_outcome
    worst = max(gaps) if gaps else float("nan")
    p99 = statistics.quantiles(gaps, n=100)[98] if len(gaps) > 100 else worst
    print(f"positions {args.positions}, plan {args.plan}: outcome {out.outcome if out else '?'}, "
          f"{len(events)} engine events, run wall time {wall:.2f} s")  # fmt: skip
    print(f"event-loop stall: worst {worst:.1f} ms, p99 {p99:.1f} ms over {len(gaps)} ticks "
          f"(target < 50 ms): {'OK' if worst < 50 else 'OVER TARGET'}")  # fmt: skip
    worst_at = sorted(range(len(gaps)), key=lambda i: -gaps[i])[:5]
    print("five worst ticks (ms after Start, stall ms, GUI-thread CPU ms in it):",
          [(round((stamps[i] - t0) * 1000), round(gaps[i]), round(cpu[i])) for i in worst_at])  # fmt: skip
    w.shutdown()
    w.deleteLater()
    app.processEvents()
    return 0 if worst < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
