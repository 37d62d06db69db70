"""The bench application paints its window before it loads the slow libraries (#14 item 5).

Each check runs in a fresh interpreter, as ``meterbench gui`` starts: what is in ``sys.modules`` is
what the start paid for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("GTC", "pyhanko", "reportlab", "sqlalchemy", "pyqtgraph", "scipy")


def fresh(code: str) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, out.stderr[-3000:]
    return json.loads(line[7:])


def test_importing_the_window_loads_none_of_the_heavy_libraries():
    got = fresh(
        "import json, sys\n"
        "import bench.gui.window, bench.gui, bench.commands.gui\n"
        f"print('RESULT ' + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    assert got == []


def test_the_window_paints_first_then_opens_its_records_and_bench_file(tmp_path):
    bench = ROOT / "examples" / "2s-board.toml"
    got = fresh(f"""
import json, sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
from bench.gui.settings import GuiSettings
from bench.gui.window import MainWindow

seen = {{}}
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and "painted" not in seen:
            seen["painted"] = [m for m in {HEAVY!r} if m in sys.modules]
            seen["ready_at_paint"] = w.ready
        return False

app = QApplication([])
w = MainWindow(GuiSettings(bench_file={str(bench)!r}, db_url={f"sqlite:///{tmp_path}/r.db"!r}, speed=0,
                           operator="tester"))
spy = FirstPaint()
w.installEventFilter(spy)
w.resize(1366, 768)
w.show()
def check():
    if w.ready and "painted" in seen:
        seen["after"] = [m for m in {HEAVY!r} if m in sys.modules]
        seen["positions"] = w.board.rowCount()
        seen["store"] = w.store is not None and w.worker.store is w.store
        seen["plots"] = type(w.phasor).__name__ + " " + type(w.error_plot).__name__
        print("RESULT " + json.dumps(seen), flush=True)
        w.shutdown()
        app.quit()
t = QTimer()
t.timeout.connect(check)
t.start(10)
app.exec()
""")
    assert got["painted"] == [] and got["ready_at_paint"] is False  # painted before any of them loaded
    assert "sqlalchemy" in got["after"] and "pyqtgraph" in got["after"]  # ... and then loaded, behind it
    assert got["store"] and got["positions"] == 3
    assert got["plots"] == "PhasorPlot ErrorPlot"


def test_start_is_refused_until_the_window_has_opened_its_records(qtbot, tmp_path):
    from bench.gui.settings import GuiSettings
    from bench.gui.window import MainWindow

    w = MainWindow(GuiSettings(db_url=f"sqlite:///{tmp_path}/r.db", operator="tester"))
    qtbot.addWidget(w)
    try:
        assert not w.ready and not w.start_run()
        assert "Still opening" in w.banner.text()
        qtbot.waitUntil(lambda: w.ready, timeout=30_000)  # shown or not, it opens them
        assert w.store is not None
    finally:
        w.shutdown()
