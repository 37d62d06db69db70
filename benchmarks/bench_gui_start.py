"""Time from starting the bench application to its window's first paint (target <= 1.0 s on a quiet machine).

    .venv/bin/python benchmarks/bench_gui_start.py [--bench examples/2s-board.toml] [--repeat 3]

Each run is a fresh interpreter (offscreen Qt, a temporary records file) that opens the window as
``meterbench gui`` does and exits at its first paint. Printed per run: the wall time from launching the
process to the first paint, the part of it inside the interpreter (imports and building the window), the
CPU the process used, which heavy libraries were already imported when it painted, and when the window
was ready (records open, bench file read) behind it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("GTC", "pyhanko", "reportlab", "sqlalchemy", "scipy", "pyqtgraph", "numpy")

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
from bench.gui.settings import GuiSettings
from bench.gui.window import MainWindow

out = {{}}

class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "paint_s" not in out:
            out["paint_s"] = time.perf_counter() - t0
            out["cpu_s"] = time.process_time()
            out["heavy"] = [m for m in {heavy!r} if m in sys.modules]
        return False

app = QApplication([])
w = MainWindow(GuiSettings(bench_file={bench!r}, db_url={db!r}, speed=0, operator="benchmark"))
spy = FirstPaint()
w.installEventFilter(spy)
w.resize(1366, 768)
w.show()
def done():
    if getattr(w, "ready", True) and "paint_s" in out:
        out["ready_s"] = time.perf_counter() - t0
        print("RESULT " + json.dumps(out), flush=True)
        w.shutdown()
        app.quit()
timer = QTimer()
timer.timeout.connect(done)
timer.start(5)
app.exec()
"""


def once(bench: str, folder: Path) -> dict:
    code = CHILD.format(
        root=str(ROOT), heavy=HEAVY, bench=bench, db=f"sqlite:///{folder}/records-{time.monotonic_ns()}.db"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    result = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            result["wall_s"] = time.perf_counter() - t0
            break
    proc.wait(120)
    if result is None:
        raise SystemExit("the window never painted")
    # the interpreter's own start-up is the difference between the launch and its first line of code
    result["launch_s"] = result["wall_s"] - (result["ready_s"] - result["paint_s"])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=str(ROOT / "examples" / "2s-board.toml"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="meterbench-start-"))
    runs = [once(args.bench, folder) for _ in range(args.repeat)]
    for k, r in enumerate(runs, 1):
        print(
            f"run {k}: first paint {r['launch_s']:.2f} s after launch ({r['paint_s']:.2f} s in Python, "
            f"CPU {r['cpu_s']:.2f} s); ready {r['ready_s']:.2f} s; heavy modules at first paint: "
            f"{', '.join(r['heavy']) or 'none'}"
        )
    paint = statistics.median(r["launch_s"] for r in runs)
    print(f"median time to first paint: {paint:.2f} s (target <= 1.0 s): {'OK' if paint <= 1.0 else 'OVER'}")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0 if paint <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
