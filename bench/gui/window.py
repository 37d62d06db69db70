"""The bench application's main window: load meters, choose a plan, run it, watch it, certify it.

The window never does instrument I/O or certificate rendering itself: those go to the one
:class:`~bench.gui.worker.BenchWorker` in its own thread. The window only reads files (bench file,
plans, manifests: no I/O on the bench) and the records store's short queries for History.

Each tab is a module of :mod:`bench.gui.tabs` (a mixin holding that tab's widgets and slots); this
module builds the window from them, connects the worker and closes down.

Keyboard: F5 Start, F6 Pause, F7 Resume, Esc Abort (always, from anywhere), Ctrl+1..7 the tabs,
Tab to every tile and control, Enter on a tile edits its meter.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QEvent, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from bench.gui.loading import WedgeDetector
from bench.gui.prompts import WiringOverrideDialog
from bench.gui.settings import GuiSettings
from bench.gui.tabs import TABS
from bench.gui.tabs.certificates import CertificatesTab
from bench.gui.tabs.history import HistoryTab
from bench.gui.tabs.meters import MetersTab
from bench.gui.tabs.plan import PlanTab
from bench.gui.tabs.results import ResultsTab
from bench.gui.tabs.run import RunTab
from bench.gui.tabs.settings import SettingsTab
from bench.gui.widgets import (
    StatusStrip,
    big_font,
)
from bench.gui.worker import BenchWorker, EventPump

__all__ = ["MainWindow", "WiringOverrideDialog"]

START_BEHIND_MS = 1500
SWITCH_INTERVAL_S = 0.001


def _settle_heap() -> None:
    """Collect once, then leave everything alive out of later garbage collections.

    The window, its Qt wrappers, pyqtgraph, SQLAlchemy and the drivers are a few hundred thousand objects
    that live as long as the application. A full collection walks them all while holding the interpreter
    lock (~100 ms on a small PC), and the engine thread's allocations trigger one now and then: mid-run
    the window froze for it. Frozen, they are skipped; what runs allocate afterwards is still collected.
    """
    gc.collect()
    gc.freeze()


def _share_the_interpreter() -> None:
    """Hand the interpreter lock between threads every millisecond, not every 5 ms (Python's default).

    The engine thread runs Python flat out; each time Qt calls into Python in the window's thread
    (a slot, a timer, an event filter) that thread waits until the engine thread lets go of the lock,
    up to one switch interval. At 5 ms a few such calls in one turn of the event loop are a visible
    stall; at 1 ms they are not, and the engine loses little (it waits on instruments most of the time).
    """
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))


class MainWindow(
    RunTab, ResultsTab, MetersTab, PlanTab, HistoryTab, CertificatesTab, SettingsTab, QMainWindow
):
    """The bench application."""

    request_run = Signal(object)
    request_check = Signal(str, object)
    request_preview = Signal(object)
    request_preview_file = Signal(object)
    request_issue = Signal(object)

    def __init__(self, settings: GuiSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or GuiSettings()
        _share_the_interpreter()
        self.setWindowTitle("MeterBench — meter test bench")
        self.store = None  # opened behind the first paint (SQLAlchemy is a slow import)
        self.ready = False  # the records are open and the bench file read: Start may run
        self.config = None
        self.meters: dict[int, object] = {}
        self.sim_meters: dict[str, dict] = {}
        self.wiring_overrides: dict[int | None, str] = {}
        self.findings: list[str] = []
        self.run_id: int | None = None
        self.running = False
        self.paused = False
        self.last_outcome = None
        self.failed_verdicts: set[int] = set()
        self.confirm = self._confirm_dialog  # tests replace it; a person answers the real dialog
        self.ask_override = self._override_dialog
        self.ask_retest = self._retest_dialog
        self.ask_other_bench = self._other_bench_dialog  # (run_id, why) -> reason or None
        self.ask_meter = self._meter_dialog  # (position, raw) -> LoadedMeter or None
        self._phasors: tuple[dict, str] | None = None
        self.prompts: list = []  # open mid-run prompts (the engine thread waits on each)

        self.pump = EventPump(self)
        self.pump.batch.connect(self.on_events)
        self.worker = BenchWorker(self.store, self.pump)
        self.thread = QThread(self)
        self.thread.setObjectName("meterbench-worker")
        self.worker.moveToThread(self.thread)
        self.request_run.connect(self.worker.run)
        self.request_check.connect(self.worker.check_bench)
        self.request_preview.connect(self.worker.preview)
        self.request_preview_file.connect(self.worker.preview_file)
        self.request_issue.connect(self.worker.issue)
        self.worker.source_state.connect(self.on_source_state)
        self.worker.instruments.connect(self.on_instruments)
        self.worker.run_started.connect(self.on_run_started)
        self.worker.run_finished.connect(self.on_run_finished)
        self.worker.run_failed.connect(self.on_run_failed)
        self.worker.other_bench.connect(self.on_other_bench)
        self.worker.question.connect(self.on_question)
        self.worker.preview_ready.connect(self.on_preview_ready)
        self.worker.issued.connect(self.on_issued)
        self.worker.cert_failed.connect(self.on_cert_failed)
        self.thread.start()

        self._build()
        self.wedge = WedgeDetector(self)
        self.wedge.scanned.connect(self.on_scan)
        self.winId()  # creates the QWindow now, so the scanner filter can sit on it
        self.windowHandle().installEventFilter(self.wedge)
        self._redraw = QTimer(self)
        self._redraw.setInterval(250)  # plots redraw at most 4x a second, whatever the event rate
        self._redraw.timeout.connect(self._redraw_plots)
        self._update_controls()
        self.banner.setText("Opening the records and the bench file…")
        # What is slow to load (SQLAlchemy for the records, pyqtgraph for the plots, the bench file and
        # its instruments' drivers) is loaded just after the window first paints, so a technician sees
        # the window at once; a window that is never shown starts after START_BEHIND_MS anyway.
        self.installEventFilter(self)
        QTimer.singleShot(START_BEHIND_MS, self.start_behind)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self and event.type() == QEvent.Type.Paint:
            self.removeEventFilter(self)
            QTimer.singleShot(0, self.start_behind)
        return False

    def start_behind(self) -> None:
        """Open the records, load the plots and the bench file: the part of starting behind the window."""
        if self.ready or getattr(self, "_shut", False):
            return
        from bench.session import open_store

        self.store = self.worker.store = open_store(self.settings.db_url)
        self.error_plot = self.results_panel.attach_plot()
        self.phasor = self.detail.attach_plot()
        self.ready = True
        self.banner.setText("Load a bench file (tab 7), meters (tab 3) and a plan (tab 4), then Start.")
        if self.settings.bench_file:
            self.load_bench(self.settings.bench_file)
        self.refresh_plan()
        self._update_controls()
        self._redraw.start()
        _settle_heap()

    # ================================================================ layout
    def _build(self) -> None:
        app_font = self.font()
        app_font.setPointSize(11)
        self.setFont(app_font)
        tb = QToolBar("Run control")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)
        self.act_start = QAction("▶ &Start (F5)", self, shortcut=QKeySequence("F5"), triggered=self.start_run)
        self.act_pause = QAction(
            "|| &Pause (F6)", self, shortcut=QKeySequence("F6"), triggered=self.pause_run
        )
        self.act_resume = QAction(
            "▶▶ &Resume (F7)", self, shortcut=QKeySequence("F7"), triggered=self.resume_run
        )
        self.act_abort = QAction("■ ABORT (Esc)", self, triggered=self.abort_run)
        self.act_override = QAction("Override &wiring…", self, triggered=self.override_wiring)
        self.act_check = QAction("&Check instruments", self, triggered=self.check_instruments)
        for a in (self.act_start, self.act_pause, self.act_resume, self.act_abort):
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_override)
        tb.addAction(self.act_check)
        tb.addSeparator()
        self.plan_badge = QLabel()
        self.plan_badge.setFont(big_font(11, True))
        tb.addWidget(self.plan_badge)
        for a in (self.act_start, self.act_pause, self.act_resume, self.act_abort):
            w = tb.widgetForAction(a)
            w.setFont(big_font(13, True))
            w.setMinimumHeight(40)
        tb.widgetForAction(self.act_abort).setStyleSheet(
            "QToolButton { background:#b00000; color:white; padding:4px 14px; border:2px solid black; }"
        )
        # Esc aborts from anywhere in the application, dialogs included.
        self.esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.abort_run)
        self.esc.setContext(Qt.ShortcutContext.ApplicationShortcut)

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        self.tabs = QTabWidget()
        self.tabs.setFont(big_font(11))
        outer.addWidget(self.tabs, 1)
        self.status = StatusStrip()
        outer.addWidget(self.status)
        self.setCentralWidget(central)
        self.tabs.currentChanged.connect(lambda _i: self._redraw_plots())
        for k, build in enumerate(
            (
                self._run_tab,
                self._results_tab,
                self._meters_tab,
                self._plan_tab,
                self._history_tab,
                self._cert_tab,
                self._settings_tab,
            )
        ):
            self.tabs.addTab(build(), TABS[k])
            QShortcut(QKeySequence(f"Ctrl+{k + 1}"), self, activated=lambda k=k: self.tabs.setCurrentIndex(k))

    # ================================================================ closing
    def shutdown(self) -> None:
        """Abort any run (source off first), then stop the worker thread and close the records."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.worker.abort("window closed")
        self._close_prompts()
        self.pump.stop()
        self.thread.quit()
        if not self.thread.wait(30000):
            self.worker.abort("window closed")
        self.worker.close_bench()  # the worker thread has stopped: the bench it kept open is closed here
        self._redraw.stop()
        if self.store is not None:
            self.store.close()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if (
            self.running
            and QMessageBox.question(
                self, "Abort the run?", "A run is going. Abort it (source off) and close?"
            )
            != QMessageBox.StandardButton.Yes
        ):
            event.ignore()
            return
        self.shutdown()
        event.accept()
