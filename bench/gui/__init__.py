"""The bench application (PySide6): what a technician sees and touches all day.

``meterbench gui [--bench FILE] [--db URL]`` opens :class:`bench.gui.window.MainWindow`. All instrument
I/O runs in one worker thread (:mod:`bench.gui.worker`); the window only displays and asks.
"""

from __future__ import annotations


def main(settings=None, argv: list[str] | None = None) -> int:
    """Open the window and run the Qt event loop until it is closed; returns the exit code."""
    import sys

    from PySide6.QtWidgets import QApplication

    from bench.gui.settings import GuiSettings
    from bench.gui.window import MainWindow

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("MeterBench")
    window = MainWindow(settings or GuiSettings())
    window.resize(1366, 768)
    window.show()
    code = int(app.exec())
    # Delete the window (and its plot items) while Qt is still up: left to interpreter shutdown, PySide6
    # 6.12 + pyqtgraph can crash in the final garbage collection.
    import gc

    window.deleteLater()
    app.processEvents()
    del window
    gc.collect()
    return code
