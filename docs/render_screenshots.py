"""Render the bench application's main states to docs/screenshots/*.png at 1366x768 (offscreen).

    .venv/bin/python docs/render_screenshots.py [--out docs/screenshots]

Everything is simulated (examples/*.toml, virtual time) and recorded in a temporary database.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtGui import QColor, QPainter
    from PySide6.QtWidgets import QApplication

    from bench.gui.prompts import AsLeftPrompt, WiringDecisionDialog
    from bench.gui.settings import GuiSettings
    from bench.gui.window import MainWindow
    from benchmarks.bench_gui_stall import board_file  # the stall benchmark's n-position board

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="meterbench-shots-"))

    def pump(seconds: float = 0.3, until=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end or (until is not None and not until()):
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > end + 60:
                break

    def window(bench: str) -> MainWindow:
        w = MainWindow(GuiSettings(bench_file=str(ROOT / bench), db_url=f"sqlite:///{tmp}/records.db", speed=0,
                                   certificates_dir=str(tmp / "certs"), operator="J. Technician"))  # fmt: skip
        w.resize(1366, 768)
        w.show()
        w.confirm = lambda title, text: True
        pump(0.5, until=lambda: w.ready)  # records, plots and bench file load behind the first paint
        return w

    def shot(w: MainWindow, name: str, tab: int | None = None, dialog=None) -> None:
        """The window (and a dialog over it, centred, as the window manager would place it)."""
        if tab is not None:
            w.tabs.setCurrentIndex(tab)
        w._redraw_plots()
        pump(0.3)
        path = out / f"{name}.png"
        image = w.grab()
        if dialog is not None:
            top = dialog.grab()
            painter = QPainter(image)
            painter.fillRect(image.rect(), QColor(0, 0, 0, 70))  # the window behind, dimmed a little
            painter.drawPixmap((image.width() - top.width()) // 2, (image.height() - top.height()) // 3, top)
            painter.end()
        image.save(str(path))
        print(path)

    def prompt(w: MainWindow, kind):
        pump(0.2, until=lambda: any(isinstance(p, kind) and p.isVisible() for p in w.prompts))
        return next(p for p in w.prompts if isinstance(p, kind))

    w = window("examples/2s-board.toml")
    shot(w, "01-bench-empty", 0)
    for serial in ("SIM2S-0001", "SIM2S-0002"):
        w.add_serial(serial)
    w.add_serial("not a serial!")
    shot(w, "02-meters-scanned-and-refused", 2)
    w.add_serial("SIM2S-0003")
    shot(w, "03-plan-points-and-limits", 3)

    held, release = threading.Event(), threading.Event()

    def hold(ev):  # freeze the engine mid-run (source on) for the picture
        if ev.kind == "reading" and ev.point_id == "PF" and not held.is_set():
            held.set()
            release.wait(20)

    w.worker.listeners.append(hold)
    w.start_run()
    pump(0.2, until=held.is_set)
    pump(0.5)
    shot(w, "04-running-energised", 0)
    release.set()
    pump(0.2, until=lambda: not w.running)
    w.board_view.select(3)  # the failed meter's detail beside the board
    shot(w, "05-run-finished", 0)
    w.worker.listeners.remove(hold)
    shot(w, "06-results-and-error-plot", 1)
    w.c_run.setValue(w.last_outcome.run_id)
    w.c_pos.setValue(1)
    w.preview_certificate()
    pump(0.2, until=lambda: bool(w.page_images))
    shot(w, "07-certificate-preview", 5)
    w.h_serial.setText("SIM2S-0001")
    w.search_history()
    shot(w, "08-history", 4)
    shot(w, "09-settings", 6)
    # as-found + as-left: the engine waits, source off, while the technician adjusts the meters
    w.passes_combo.setCurrentIndex(1)
    w.start_run()
    dlg = prompt(w, AsLeftPrompt)
    shot(w, "10-as-left-prompt", 0, dialog=dlg)
    dlg.cont.click()
    pump(0.2, until=lambda: not w.running)
    w.shutdown()
    w.deleteLater()

    # the creep window's countdown: the engine held at the start of the wait (source on)
    w = window("examples/2s-board.toml")
    w.load_sim_meters()
    w.warmup_spin.setValue(0)
    w.passes_combo.setCurrentIndex(0)
    waiting, release = threading.Event(), threading.Event()

    def hold_wait(ev):
        if ev.kind == "waiting" and ev.data.get("what") == "creep" and not waiting.is_set():
            waiting.set()
            release.wait(20)

    w.worker.listeners.append(hold_wait)
    w.start_run()
    pump(0.2, until=waiting.is_set)
    pump(0.5)
    shot(w, "13-creep-window-time-remaining", 0)
    release.set()
    pump(0.2, until=lambda: not w.running)
    w.shutdown()
    w.deleteLater()

    # real boards: 24 and 48 positions at the end of a run, a failed meter selected
    for n, name in ((24, "14-board-24-positions"), (48, "15-board-48-positions")):
        w = window(str(board_file(n, tmp)))
        w.load_sim_meters()
        w.start_run()
        pump(0.2, until=lambda w=w: not w.running)
        w.board_view.select(3)
        shot(w, name, 0)
        w.shutdown()
        w.deleteLater()

    w = window("examples/9s-reversed-ct.toml")
    w.load_sim_meters()
    w.start_run()
    dlg = prompt(w, WiringDecisionDialog)
    shot(w, "11-wiring-decision", 0, dialog=dlg)
    dlg.stop.click()
    pump(0.2, until=lambda: not w.running)
    shot(w, "12-wiring-fault", 0)
    w.shutdown()
    w.deleteLater()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
