"""The bench application's main window: load meters, choose a plan, run it, watch it, certify it.

The window never does instrument I/O or certificate rendering itself: those go to the one
:class:`~bench.gui.worker.BenchWorker` in its own thread. The window only reads files (bench file,
plans, manifests: no I/O on the bench) and the records store's short queries for History.

Keyboard: F5 Start, F6 Pause, F7 Resume, Esc Abort (always, from anywhere), Ctrl+1..7 the tabs,
Tab to every tile and control, Enter on a tile edits its meter.
"""

from __future__ import annotations

import gc
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

from PySide6.QtCore import QDate, Qt, QThread, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from bench.gui.loading import MeterDialog, WedgeDetector, meter_raw, scan_to_meter
from bench.gui.prompts import AsLeftPrompt, RetestDialog, WiringDecisionDialog, WiringOverrideDialog
from bench.gui.results import ResultPoint, ResultsPanel, item, table
from bench.gui.settings import GuiSettings
from bench.gui.widgets import (
    VERDICT_WORDS,
    PhasorPlot,
    PositionsGrid,
    StatusStrip,
    big_font,
)
from bench.gui.worker import BenchWorker, CertJob, EventPump, Question, RunJob
from procedures.errors import InputError

PASSES_AS_LEFT = ("as-found", "as-left")
TABS = ("&1 Run", "&2 Results", "&3 Meters", "&4 Plan", "&5 History", "&6 Certificates", "&7 Settings")
RECHECK_AFTER_MS = 1500
OUTCOMES = ("any", "passed", "failed", "aborted", "error", "interrupted", "running")


def _settle_heap() -> None:
    """Collect once, then leave everything alive out of later garbage collections.

    The window, its Qt wrappers, pyqtgraph, SQLAlchemy and the drivers are a few hundred thousand objects
    that live as long as the application. A full collection walks them all while holding the interpreter
    lock (~100 ms on a small PC), and the engine thread's allocations trigger one now and then: mid-run
    the window froze for it. Frozen, they are skipped; what runs allocate afterwards is still collected.
    """
    gc.collect()
    gc.freeze()


class MainWindow(QMainWindow):
    """The bench application."""

    request_run = Signal(object)
    request_check = Signal(str, object)
    request_preview = Signal(object)
    request_preview_file = Signal(object)
    request_issue = Signal(object)

    def __init__(self, settings: GuiSettings | None = None) -> None:
        super().__init__()
        from bench.session import open_store

        self.settings = settings or GuiSettings()
        self.setWindowTitle("MeterBench — meter test bench")
        self.store = open_store(self.settings.db_url)
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
        self._redraw.start()
        if self.settings.bench_file:
            self.load_bench(self.settings.bench_file)
        self.refresh_plan()
        self._update_controls()
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
        for k, build in enumerate((self._run_tab, self._results_tab, self._meters_tab, self._plan_tab,
                                   self._history_tab, self._cert_tab, self._settings_tab)):  # fmt: skip
            self.tabs.addTab(build(), TABS[k])
            QShortcut(QKeySequence(f"Ctrl+{k + 1}"), self, activated=lambda k=k: self.tabs.setCurrentIndex(k))

    def _run_tab(self) -> QWidget:
        w = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel("Load a bench file (tab 7), meters (tab 3) and a plan (tab 4), then Start.")
        self.banner.setFont(big_font(14, True))
        self.banner.setWordWrap(True)
        ll.addWidget(self.banner)
        self.grid = PositionsGrid()
        self.grid.activated.connect(self.edit_position)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid)
        ll.addWidget(scroll, 1)
        w.addWidget(left)
        right = QSplitter(Qt.Orientation.Vertical)
        self.phasor = PhasorPlot()
        right.addWidget(self.phasor)
        box = QGroupBox("Wiring check")
        bl = QVBoxLayout(box)
        self.wiring_text = QPlainTextEdit()
        self.wiring_text.setReadOnly(True)
        self.wiring_text.setFont(big_font(11))
        self.wiring_text.setPlaceholderText("Wiring-check findings appear here in plain language.")
        bl.addWidget(self.wiring_text)
        ob = QPushButton("Override a wiring finding… (asks for a reason)")
        ob.clicked.connect(self.override_wiring)
        bl.addWidget(ob)
        right.addWidget(box)
        right.setSizes([300, 260])
        w.addWidget(right)
        w.setStretchFactor(0, 3)
        w.setStretchFactor(1, 2)
        w.setSizes([860, 480])
        return w

    def _results_tab(self) -> QWidget:
        self.results_panel = ResultsPanel()
        self.results, self.error_plot = self.results_panel.table, self.results_panel.plot
        self.results_panel.retest_requested.connect(self.retest)
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.results_panel.request_retest)
        return self.results_panel

    def _meters_tab(self) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        left = QVBoxLayout()
        scan_box = QGroupBox("Scan a barcode (or type a serial and press Enter)")
        sl = QVBoxLayout(scan_box)
        self.scan_edit = QLineEdit()
        self.scan_edit.setFont(big_font(16))
        self.scan_edit.setPlaceholderText("serial → next empty position")
        self.scan_edit.returnPressed.connect(self._typed_serial)
        sl.addWidget(self.scan_edit)
        self.load_msg = QLabel("A scan fills the next empty position.")
        self.load_msg.setWordWrap(True)
        self.load_msg.setFont(big_font(12, True))
        sl.addWidget(self.load_msg)
        left.addWidget(scan_box)
        tmpl = QGroupBox("Nameplate for scanned meters (when the bench file does not know the serial)")
        tl = QFormLayout(tmpl)
        self.template: dict[str, QLineEdit] = {}
        for key, label, default in (("form", "Form", "2S"), ("accuracy_class", "Class", "0.5"),
                                    ("current_class", "Current class", "CL200"), ("voltage", "Voltage (V)", "240"),
                                    ("kh", "Kh", "7.2"), ("kt", "Kt", "0.6")):  # fmt: skip
            e = QLineEdit(default)
            self.template[key] = e
            tl.addRow(label, e)
        left.addWidget(tmpl)
        buttons = QGridLayout()
        for k, (text, slot) in enumerate((
            ("&Edit position…", lambda: self.edit_position(self._selected_position() or 1)),
            ("C&lear position", self.clear_position), ("Clear &all", self.clear_all),
            ("&Import manifest CSV…", self.import_manifest), ("Load &bench file's simulated meters", self.load_sim_meters),
        )):  # fmt: skip
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, k // 2, k % 2)
        left.addLayout(buttons)
        left.addStretch(1)
        lay.addLayout(left, 2)
        self.meter_table = table(["Pos", "Serial", "Form", "Class", "CL / TA", "V", "Kh", "Kt"])
        self.meter_table.setFont(big_font(11))
        self.meter_table.doubleClicked.connect(lambda idx: self.edit_position(idx.row() + 1))
        lay.addWidget(self.meter_table, 3)
        return w

    def _plan_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        row.addWidget(QLabel("&Plan:"))
        self.plan_combo = QComboBox()
        self.plan_combo.setFont(big_font(12))
        from procedures.plans import list_plans

        for p in list_plans():
            self.plan_combo.addItem(f"{p.id} — {p.title}", p.id)
        row.itemAt(0).widget().setBuddy(self.plan_combo)
        self.plan_combo.currentIndexChanged.connect(lambda _i: self.refresh_plan())
        row.addWidget(self.plan_combo, 1)
        lay.addLayout(row)
        row = QHBoxLayout()
        passes = QLabel("P&asses:")
        self.passes_combo = QComboBox()
        self.passes_combo.setFont(big_font(12))
        self.passes_combo.addItem("as-found only", ("as-found",))
        self.passes_combo.addItem(
            "as-found + as-left (adjust the meters in between, source off)", PASSES_AS_LEFT
        )
        self.passes_combo.setCurrentIndex(1 if self.settings.as_left else 0)
        passes.setBuddy(self.passes_combo)
        warm = QLabel("&Warm-up:")
        self.warmup_spin = QDoubleSpinBox()
        self.warmup_spin.setFont(big_font(12))
        self.warmup_spin.setRange(0, 7200)
        self.warmup_spin.setDecimals(0)
        self.warmup_spin.setSuffix(" s")
        self.warmup_spin.setSpecialValueText("none")
        self.warmup_spin.setValue(self.settings.warmup_s)
        self.warmup_spin.setToolTip("Bench seconds at the plan's voltage and test amperes before the first point "
                                    "(the source is ON during the warm-up)")  # fmt: skip
        warm.setBuddy(self.warmup_spin)
        for x, stretch in ((passes, 0), (self.passes_combo, 2), (warm, 0), (self.warmup_spin, 0)):
            row.addWidget(x, stretch)
        row.addWidget(QLabel("bench time, source ON at the plan's voltage and TA"), 1)
        self.passes_combo.currentIndexChanged.connect(lambda _i: self._run_options_changed())
        self.warmup_spin.valueChanged.connect(lambda _v: self._run_options_changed())
        lay.addLayout(row)
        row = QHBoxLayout()
        self.temp_edit, self.hum_edit = QLineEdit(), QLineEdit()
        for edit, label, hint in ((self.temp_edit, "Bench &temperature (°C):", "e.g. 23.0"),
                                  (self.hum_edit, "&Humidity (% RH):", "e.g. 45")):  # fmt: skip
            lbl = QLabel(label)
            lbl.setBuddy(edit)
            edit.setFont(big_font(12))
            edit.setPlaceholderText(hint)
            edit.setMaximumWidth(110)
            row.addWidget(lbl)
            row.addWidget(edit)
        row.addWidget(QLabel("as measured at the bench, stated on the certificates (blank: not measured)"), 1)
        lay.addLayout(row)
        self.plan_msg = QLabel("")
        self.plan_msg.setWordWrap(True)
        self.plan_msg.setFont(big_font(11, True))
        lay.addWidget(self.plan_msg)
        self.plan_table = table(["#", "Point", "Kind", "Element", "Volts", "Amperes", "PF (lag°)", "Limit ±%",
                                  "Readings", "Limit source [C/D/U]"])  # fmt: skip
        self.plan_table.setFont(big_font(11))
        lay.addWidget(self.plan_table, 1)
        lay.addWidget(QLabel("[C] confirmed, [D] derived, [U] unconfirmed figure (editable plan data)."))
        return w

    def _history_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        f = QHBoxLayout()
        self.h_serial = QLineEdit()
        self.h_serial.setPlaceholderText("serial")
        self.h_bench = QLineEdit()
        self.h_bench.setPlaceholderText("bench name")
        self.h_outcome = QComboBox()
        self.h_outcome.addItems(OUTCOMES)
        self.h_use_dates = QCheckBox("&dates")
        self.h_since = QDateEdit(QDate.currentDate().addDays(-30))
        self.h_until = QDateEdit(QDate.currentDate())
        for d in (self.h_since, self.h_until):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        search = QPushButton("&Search")
        search.clicked.connect(self.search_history)
        for x in (QLabel("Serial"), self.h_serial, QLabel("Bench"), self.h_bench, QLabel("Outcome"),
                  self.h_outcome, self.h_use_dates, self.h_since, QLabel("to"), self.h_until, search):  # fmt: skip
            f.addWidget(x)
        for e in (self.h_serial, self.h_bench):
            e.returnPressed.connect(self.search_history)
        lay.addLayout(f)
        split = QSplitter(Qt.Orientation.Vertical)
        self.h_runs = table(["Run", "Started (UTC)", "Bench", "Plan", "Operator", "Outcome", "Meters"])
        self.h_runs.itemSelectionChanged.connect(self.open_history_run)
        split.addWidget(self.h_runs)
        det = QWidget()
        dl = QVBoxLayout(det)
        dl.setContentsMargins(0, 0, 0, 0)
        self.h_points = table(["Pos", "Point", "Pass", "Error %", "U %", "Limit ±%", "Verdict", "Note"])
        dl.addWidget(self.h_points, 1)
        cl = QHBoxLayout()
        self.h_certs = QComboBox()
        cl.addWidget(QLabel("Certificates:"))
        cl.addWidget(self.h_certs, 1)
        ob = QPushButton("&Open certificate")
        ob.clicked.connect(self.open_history_certificate)
        cl.addWidget(ob)
        ib = QPushButton("Preview / &issue certificates for this run…")
        ib.clicked.connect(self._history_to_certificates)
        cl.addWidget(ib)
        rb = QPushButton("Show in Results (re&test a point there)")
        rb.clicked.connect(self.show_history_results)
        cl.addWidget(rb)
        self.h_resume = QPushButton("Resume this interrupted r&un")
        self.h_resume.setEnabled(False)
        self.h_resume.clicked.connect(lambda: self.resume_interrupted())
        cl.addWidget(self.h_resume)
        dl.addLayout(cl)
        split.addWidget(det)
        lay.addWidget(split, 1)
        return w

    def _cert_tab(self) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        form_box = QGroupBox("Certificate")
        fl = QFormLayout(form_box)
        self.c_run = QSpinBox()
        self.c_run.setRange(0, 10**9)
        self.c_pos = QSpinBox()
        self.c_pos.setRange(1, 48)
        self.c_approver = QLineEdit(self.settings.approver)
        self.c_identity = QLabel()
        self.c_identity.setWordWrap(True)
        self.c_pass = QLineEdit()
        self.c_pass.setEchoMode(QLineEdit.EchoMode.Password)
        fl.addRow("&Run", self.c_run)
        fl.addRow("P&osition", self.c_pos)
        fl.addRow("&Approved by", self.c_approver)
        fl.addRow("Signing identity", self.c_identity)
        fl.addRow("Pass&phrase", self.c_pass)
        for text, slot in (("Pre&view draft", self.preview_certificate), ("&Issue and sign", self.issue_certificate),
                           ("Open PDF e&xternally", self.open_pdf_externally)):  # fmt: skip
            b = QPushButton(text)
            b.clicked.connect(slot)
            fl.addRow(b)
        self.c_msg = QLabel("Preview a draft, check it, then issue it.")
        self.c_msg.setWordWrap(True)
        self.c_msg.setFont(big_font(11, True))
        fl.addRow(self.c_msg)
        lay.addWidget(form_box, 1)
        self.c_pages = QWidget()
        self.c_pages_lay = QVBoxLayout(self.c_pages)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.c_pages)
        lay.addWidget(scroll, 2)
        self.c_pdf = ""
        self.page_images: list[str] = []
        return w

    def _settings_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        fl = QFormLayout()
        s = self.settings
        self.s_bench = QLineEdit(s.bench_file)
        self.s_db = QLineEdit(s.db_url or "")
        self.s_db.setPlaceholderText("default: SQLite file in the user data folder")
        self.s_lab = QLineEdit(s.lab_file)
        self.s_lab.setPlaceholderText("laboratory TOML (blank: demonstration laboratory)")
        self.s_ident = QLineEdit(s.signing_identity)
        self.s_ident.setPlaceholderText(".p12 signing identity (blank: issue unsigned)")
        self.s_certs = QLineEdit(s.certificates_dir)
        self.s_operator = QLineEdit(s.operator)
        self.s_speed = QDoubleSpinBox()
        self.s_speed.setRange(-1, 10000)
        self.s_speed.setSpecialValueText("bench file's setting")
        self.s_speed.setValue(-1 if s.speed is None else s.speed)
        for label, edit, pick in (("&Bench file", self.s_bench, "Bench files (*.toml)"), ("&Database URL", self.s_db, None),
                                  ("&Laboratory identity", self.s_lab, "Laboratory (*.toml)"),
                                  ("Si&gning identity", self.s_ident, "PKCS#12 (*.p12 *.pfx)"),
                                  ("Certificates &folder", self.s_certs, None), ("&Operator", self.s_operator, None)):  # fmt: skip
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            if pick:
                b = QPushButton("Browse…")
                b.clicked.connect(lambda _=False, e=edit, p=pick: self._browse(e, p))
                row.addWidget(b)
            fl.addRow(label, row)
        fl.addRow("Simulation &speed (0 = virtual time)", self.s_speed)
        lay.addLayout(fl)
        apply = QPushButton("&Apply settings")
        apply.clicked.connect(self.apply_settings)
        lay.addWidget(apply)
        self.s_msg = QLabel("")
        self.s_msg.setWordWrap(True)
        self.s_msg.setFont(big_font(11, True))
        lay.addWidget(self.s_msg)
        self.lab_label = QLabel()
        self.lab_label.setWordWrap(True)
        lay.addWidget(self.lab_label)
        lay.addStretch(1)
        self._show_identities()
        return w

    def _browse(self, edit: QLineEdit, pattern: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a file", str(Path(edit.text() or ".").parent), pattern
        )
        if path:
            edit.setText(path)

    # ================================================================ settings and bench
    def apply_settings(self) -> None:
        if self.running:
            self.s_msg.setText("Not while a run is going.")
            return
        s = self.settings
        s.bench_file, s.lab_file = self.s_bench.text().strip(), self.s_lab.text().strip()
        s.signing_identity, s.certificates_dir = self.s_ident.text().strip(), self.s_certs.text().strip()
        s.operator = self.s_operator.text().strip()
        s.speed = None if self.s_speed.value() < 0 else self.s_speed.value()
        db = self.s_db.text().strip() or None
        try:
            if db != s.db_url:
                from bench.session import open_store

                store = open_store(db)
                self.store.close()
                self.store = self.worker.store = store
                s.db_url = db
            if s.lab_file:
                from reports.labconfig import load_laboratory

                load_laboratory(s.lab_file)
            if s.bench_file:
                self.load_bench(s.bench_file)
        except InputError as exc:
            self.s_msg.setText(f"Not applied: {exc}")
            return
        self._show_identities()
        self.s_msg.setText("Settings applied.")

    def _show_identities(self) -> None:
        from reports.labconfig import default_laboratory, load_laboratory

        try:
            lab = load_laboratory(self.settings.lab_file) if self.settings.lab_file else default_laboratory()
            self.lab_label.setText(f"Laboratory: {lab.name} — accreditation: {lab.accreditation}")
            if not self.c_approver.text() and lab.signatories:
                self.c_approver.setText(lab.signatories[0].name)
        except InputError as exc:
            self.lab_label.setText(f"Laboratory file not usable: {exc}")
        self.c_identity.setText(self.settings.signing_identity or "none: certificates are issued UNSIGNED")

    def load_bench(self, path: str) -> None:
        """Read the bench file (no instrument I/O here), lay out its positions, then check the instruments."""
        from instruments.benchfile import load_bench_config

        try:
            config = load_bench_config(path)
        except InputError as exc:
            self.banner.setText(f"Bench file not usable: {exc}")
            return
        self.config = config
        self.settings.bench_file = path
        self.s_bench.setText(path)
        self.grid.set_positions(config.positions)
        self.meters = {p: m for p, m in self.meters.items() if p <= config.positions}
        self.sim_meters = {}
        for sm in config.simulation.meters if config.simulation else ():
            self.sim_meters[sm.serial] = {
                "position": sm.position, "serial": sm.serial, "form": sm.form, "accuracy_class": sm.accuracy_class,
                "current_class": sm.current_class or "", "voltage": sm.voltage, "ta": sm.ta, "kh": sm.kh,
                "kt": sm.kt, "ib": sm.ib, "in": sm.in_, "imax": sm.imax, "manufacturer": sm.manufacturer,
                "model": sm.model, "firmware": sm.firmware,
            }  # fmt: skip
        ref = config.instruments.get("reference", ())
        self.status.set_calibration(ref[0].calibration if ref else None)
        self.status.set_instruments({})
        self._refresh_meters()
        self.banner.setText(f"{config.name} — {config.location}: {config.positions} positions"
                            f"{' (SIMULATED)' if config.simulation else ''}")  # fmt: skip
        self.check_instruments()
        self._update_controls()

    def check_instruments(self) -> None:
        if self.config is None or self.running:
            return
        self.status.instruments.setText("Instruments: checking…")
        self.request_check.emit(self.settings.bench_file, self.settings.speed)

    # ================================================================ meters
    def _next_empty(self) -> int | None:
        n = self.config.positions if self.config else 0
        return next((p for p in range(1, n + 1) if p not in self.meters), None)

    def _say(self, text: str, ok: bool) -> None:
        self.load_msg.setText(text)
        self.load_msg.setStyleSheet("color:#0b4d0b;" if ok else "color:#b00000;")

    def on_scan(self, serial: str) -> None:
        self.add_serial(serial)

    def _typed_serial(self) -> None:
        text = self.scan_edit.text()
        self.scan_edit.clear()
        if text.strip():
            self.add_serial(text)

    def add_serial(self, serial: str) -> None:
        """A scanned or typed serial into the next empty position (validated; the reason if refused)."""
        if self.running:
            self._say("Scan ignored: a run is going.", False)
            return
        if self.config is None:
            self._say("Load a bench file first (tab 7).", False)
            return
        if serial.strip() in {m.serial for m in self.meters.values()}:
            self._say(f"{serial.strip()} is already loaded.", False)
            return
        pos = self._next_empty()
        if pos is None:
            self._say(f"Board full: no empty position for {serial.strip()}.", False)
            return
        template = {k: e.text().strip() for k, e in self.template.items()}
        try:
            meter, note = scan_to_meter(serial, pos, template, self.sim_meters)
        except InputError as exc:
            self._say(f"Refused: {exc}", False)
            return
        self.meters[pos] = meter
        self._refresh_meters()
        self._say(f"{meter.serial} → position {pos}. {note}", not note)

    def edit_position(self, position: int) -> None:
        if self.running or self.config is None:
            return
        m = self.meters.get(position)
        raw = meter_raw(m) if m else {k: e.text().strip() for k, e in self.template.items()}
        dlg = MeterDialog(position, raw, self)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.meter is not None:
            others = {mm.serial for p, mm in self.meters.items() if p != position}
            if dlg.meter.serial in others:
                self._say(f"{dlg.meter.serial} is already loaded in another position.", False)
                return
            self.meters[position] = dlg.meter
            self._refresh_meters()
            self._say(f"Position {position} saved.", True)

    def _selected_position(self) -> int | None:
        rows = self.meter_table.selectionModel().selectedRows() if self.meter_table.selectionModel() else []
        return rows[0].row() + 1 if rows else None

    def clear_position(self) -> None:
        pos = self._selected_position()
        if pos and not self.running:
            self.meters.pop(pos, None)
            self._refresh_meters()

    def clear_all(self) -> None:
        if not self.running:
            self.meters.clear()
            self._refresh_meters()

    def import_manifest(self, path: str | None = None) -> None:
        from bench.meters import load_manifest

        if self.running:
            return
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Manifest CSV", "", "CSV (*.csv)")
            if not path:
                return
        try:
            meters = load_manifest(path)
            n = self.config.positions if self.config else 48
            bad = [m.position for m in meters if m.position > n]
            if bad:
                raise InputError("position", f"the bench has {n} positions", allowed=f"1..{n}", found=bad,
                                 source=path)  # fmt: skip
        except InputError as exc:
            self._say(f"Manifest refused (nothing loaded): {exc}", False)
            return
        self.meters = {m.position: m for m in meters}
        self._refresh_meters()
        self._say(f"{len(meters)} meters loaded from {Path(path).name}.", True)

    def load_sim_meters(self) -> None:
        from bench.session import meters_from_bench

        if self.config is None or self.running:
            return
        try:
            self.meters = {m.position: m for m in meters_from_bench(self.config)}
        except InputError as exc:
            self._say(f"Refused: {exc}", False)
            return
        self._refresh_meters()
        self._say(f"{len(self.meters)} simulated meters loaded.", True)

    def _refresh_meters(self) -> None:
        n = self.config.positions if self.config else 0
        self.meter_table.setRowCount(n)
        for p in range(1, n + 1):
            m = self.meters.get(p)
            vals = [p, m.serial, m.form, m.accuracy_class, m.current_class or f"TA {m.ta_a:g} A", f"{m.voltage_v:g}",
                    f"{m.kh:g}", f"{m.kt:g}"] if m else [p, "— empty —", "", "", "", "", "", ""]  # fmt: skip
            for c, v in enumerate(vals):
                self.meter_table.setItem(p - 1, c, item(v))
            tile = self.grid.tiles.get(p)
            if tile is not None and not self.running:
                if m:
                    tile.set(serial=m.serial, form=m.form, accuracy_class=m.accuracy_class,
                             current_class=m.current_class or "", state="loaded", point="", last_error="",
                             last_verdict="", message="")  # fmt: skip
                else:
                    tile.set(serial="", form="", accuracy_class="", current_class="", state="empty", point="",
                             last_error="", last_verdict="", message="")  # fmt: skip
        if self.meters and not self.running:
            self._pick_plan_for(self.meters[min(self.meters)].form)
        self.refresh_plan()
        self._update_controls()

    # ================================================================ plan
    def plan_id(self) -> str:
        return self.plan_combo.currentData() or ""

    def _pick_plan_for(self, form: str) -> None:
        """When the loaded form changes, choose that form's shop (C12.20) acceptance plan; the technician may
        change it. Shop options (the register test) are never picked for them."""
        from procedures.plans import list_plans

        if getattr(self, "_picked_form", None) == form:
            return
        self._picked_form = form
        plans = {p.id: p for p in list_plans()}
        fits = [(p.shop_option, "c12.20" not in p.id, k) for k in range(self.plan_combo.count())
                if (p := plans.get(self.plan_combo.itemData(k))) is not None and form in p.forms]  # fmt: skip
        if fits:
            self.plan_combo.setCurrentIndex(min(fits)[2])

    def environment(self) -> dict:
        """The bench conditions typed in for this run (validated as `meterbench run` validates them)."""
        from types import SimpleNamespace

        from bench.commands.run import environment_from

        def number(edit: QLineEdit, name: str) -> float | None:
            text = edit.text().strip().replace(",", ".")
            try:
                return float(text) if text else None
            except ValueError:
                raise InputError(name, "must be a number", found=text) from None

        return environment_from(SimpleNamespace(temperature=number(self.temp_edit, "bench temperature"),
                                                humidity=number(self.hum_edit, "humidity")))  # fmt: skip

    def passes(self) -> tuple[str, ...]:
        return tuple(self.passes_combo.currentData() or ("as-found",))

    def _run_options_changed(self) -> None:
        self.settings.as_left = self.passes() == PASSES_AS_LEFT
        self.settings.warmup_s = float(self.warmup_spin.value())
        self._show_badge()

    def _show_badge(self) -> None:
        """The toolbar says what Start will run: plan, passes, warm-up."""
        extra = " · as-found + AS-LEFT" if self.passes() == PASSES_AS_LEFT else ""
        if self.warmup_spin.value() > 0:
            extra += f" · warm-up {self.warmup_spin.value():g} s"
        self.plan_badge.setText(f"  Plan: {self.plan_id()}{extra}  ")

    def refresh_plan(self) -> None:
        """The chosen plan's points in volts and amperes, with limits, for the loaded meters."""
        from procedures.plans import load_plan

        self._show_badge()
        self.plan_table.setRowCount(0)
        try:
            plan = load_plan(self.plan_id())
            if not self.meters:
                self.plan_msg.setText(f"{plan.title}. Load meters to see the points in amperes for them.")
                return
            m = self.meters[min(self.meters)]
            rp = plan.resolve(m.form, m.accuracy_class, ta=m.ta_a, ib=m.ib_a, in_=m.in_a, imax=m.imax_a,
                              voltage=m.voltage_v, current_class=m.current_class)  # fmt: skip
        except InputError as exc:
            self.plan_msg.setText(f"This plan does not fit the loaded meters: {exc}")
            self.plan_msg.setStyleSheet("color:#b00000;")
            return
        self.plan_msg.setStyleSheet("")
        self.plan_msg.setText(f"{rp.title} — {rp.standard}; form {rp.form.name}, class {rp.accuracy_class}, "
                              f"TA {rp.ta_a:g} A, {rp.voltage_v:g} V; decision rule: {rp.decision_rule}")  # fmt: skip
        self.plan_table.setRowCount(len(rp.points))
        for r, p in enumerate(rp.points):
            prov = p.limit_provenance
            src = f"{prov.cite()} [{prov.status[:1].upper()}]" if prov else ""
            lim = p.limit_percent
            lim_text = (
                "" if lim is None else (f"{lim[0]:g}..{lim[1]:g}" if isinstance(lim, tuple) else f"{lim:g}")
            )
            vals = [r + 1, p.label, p.kind, p.element, f"{p.voltage_v:g}", f"{p.current_a:g}",
                    f"{p.power_factor:.2f} ({p.lag_deg:g}°)", lim_text, p.readings, src]  # fmt: skip
            for c, v in enumerate(vals):
                self.plan_table.setItem(r, c, item(v))

    # ================================================================ run control
    def _update_controls(self) -> None:
        self.act_start.setEnabled(not self.running)
        self.act_pause.setEnabled(self.running and not self.paused)
        self.act_resume.setEnabled(self.running and self.paused)
        self.act_abort.setEnabled(True)  # always: with nothing running it says so

    def _confirm_dialog(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)  # fmt: skip
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("&Energise and start")
        box.button(QMessageBox.StandardButton.No).setText("&Cancel")
        return box.exec() == QMessageBox.StandardButton.Yes

    def start_run(self) -> bool:
        """Validate everything, ask before energising, then hand the run to the worker."""
        from bench.meters import check_board
        from bench.session import RunRequest, prepare

        if self.running:
            return False
        problem = None
        if self.config is None:
            problem = "No bench file: choose one in Settings (tab 7)."
        elif not self.meters:
            problem = "No meters loaded: scan them or import a manifest (tab 3)."
        elif self.status.cal_state == "overdue":
            problem = "The reference standard's calibration is overdue: testing is refused until it is recalibrated."
        if problem is None:
            try:
                meters = [self.meters[p] for p in sorted(self.meters)]
                check_board(meters)
                prep = prepare(
                    RunRequest(bench_file=self.settings.bench_file, plan=self.plan_id(), meters=meters)
                )
                environment = self.environment()
                m = prep.meters[0]
                rp = prep.plan.resolve(m.form, m.accuracy_class, ta=m.ta_a, ib=m.ib_a, in_=m.in_a, imax=m.imax_a,
                                       voltage=m.voltage_v, current_class=m.current_class)  # fmt: skip
            except InputError as exc:
                problem = f"Cannot start: {exc}"
        if problem:
            self.banner.setText(problem)
            self.banner.setStyleSheet("color:#b00000;")
            return False
        vmax = max(p.voltage_v for p in rp.points)
        amax = max(p.current_a for p in rp.points)
        overrides = "".join(f"\nWiring override ({'board' if k is None else f'position {k}'}): {v}"
                            for k, v in self.wiring_overrides.items())  # fmt: skip
        passes, warmup = self.passes(), float(self.warmup_spin.value())
        how = (
            "as-found, then as-left after you adjust the meters"
            if passes == PASSES_AS_LEFT
            else "as-found only"
        )
        if warmup > 0:
            how += f"; {warmup:g} s warm-up first (energised)"
        if not environment:
            how += ".\nBench temperature and humidity not entered: the certificates will say they were not measured"
        text = (f"The source will ENERGISE the board:\nup to {vmax:g} V and {amax:g} A on positions "
                f"{', '.join(str(p) for p in sorted(self.meters))}.\nPasses: {how}.\n\nCovers closed, test "
                f"switches set, hands clear of the board?{overrides}")  # fmt: skip
        if not self.confirm("Energise the board?", text):
            self.banner.setText("Start cancelled: nothing was energised.")
            return False
        self.banner.setStyleSheet("")
        self.running, self.paused = True, False
        self.results_panel.busy = True
        self.failed_verdicts = set()
        self.findings = []
        self.wiring_text.clear()
        self.results_panel.reset(None, {p: m.serial for p, m in self.meters.items()})
        for p, tile in self.grid.tiles.items():
            if p in self.meters:
                tile.set(state="loaded", point="", last_error="", last_verdict="", message="")
        self.banner.setText(f"Starting {self.plan_id()} …")
        self.status.run.setText("Starting…")
        self._update_controls()
        self.worker.arm()
        self.pump.start()
        self.request_run.emit(RunJob(self.settings.bench_file, self.plan_id(), meters, self.settings.operator,
                                     self.settings.speed, dict(self.wiring_overrides), self.settings.allow_overdue,
                                     passes=passes, warmup_s=warmup, environment=environment,
                                     json_out=self.settings.run_json_path()))  # fmt: skip
        return True

    def pause_run(self) -> None:
        if self.running:
            self.worker.pause()
            self.status.run.setText("Pausing at the next safe point…")

    def resume_run(self) -> None:
        if self.running:
            self.worker.resume()

    def abort_run(self) -> None:
        """Esc / ABORT: the engine switches the source off first (in this thread, now), then stops."""
        going = self.worker.abort("aborted by operator (GUI)")
        self._close_prompts()
        if going or self.running:
            self.banner.setText("ABORTED: source switched off; the run is ending.")
            self.banner.setStyleSheet("color:#b00000;")
            self.status.run.setText("ABORTING — source switched off")
        else:
            self.status.run.setText("Abort: nothing is running (the source is off between runs).")

    def override_wiring(self) -> None:
        if self.running:
            return
        res = self.ask_override(
            sorted(self.meters), "\n".join(self.findings) or "No finding in this session."
        )
        if res is None:
            return
        where, reason = res
        self.wiring_overrides[where] = reason
        self.wiring_text.appendPlainText(f"\nOVERRIDE for the next run ({'whole board' if where is None else f'position {where}'}):"
                                         f" {reason}")  # fmt: skip

    def retest(self, point: ResultPoint) -> bool:
        """Test one point of a recorded run again on one position: reason first, then energise, then run."""

        problem = None
        if self.running:
            problem = "Not while a run is going."
        elif self.config is None:
            problem = "No bench file: choose one in Settings (tab 7)."
        if problem is None:
            record = self.store.run_record(point.run_id)
            meters, problem = self._recorded_board(record, "retest")
        if problem:
            self.results_panel.msg.setText(problem)
            return False
        reason = self.ask_retest(point)
        if not reason:
            self.results_panel.msg.setText("Retest cancelled: nothing was energised.")
            return False
        p = next(
            x for x in record["points"] if x["point_id"] == point.point_id and x["position"] == point.position
        )
        text = (f"The source will ENERGISE the board to retest {point.label} ({point.test_pass}) at position "
                f"{point.position}:\n{p['voltage_v']:g} V and {p['current_a']:g} A.\n\nCovers closed, test switches "
                f"set, hands clear of the board?")  # fmt: skip
        if not self.confirm("Energise the board?", text):
            self.results_panel.msg.setText("Retest cancelled: nothing was energised.")
            return False
        self.running, self.paused = True, False
        self.results_panel.busy = True
        self.tabs.setCurrentIndex(1)
        tile = self.grid.tiles.get(point.position)
        if tile is not None and point.position in self.meters:
            tile.set(state="testing", point=f"retest {point.label}", message="")
        self.results_panel.msg.setText(
            f"Retesting {point.label} ({point.test_pass}) at position {point.position}…"
        )
        self.status.run.setText("Starting the retest…")
        self._update_controls()
        self.worker.arm()
        self.pump.start()
        retest = {"run_id": point.run_id, "point_id": point.point_id, "reason": reason,
                  "positions": [point.position], "test_pass": point.test_pass}  # fmt: skip
        self.request_run.emit(RunJob(self.settings.bench_file, record["run"]["plan_id"], meters,
                                     self.settings.operator or record["run"]["operator"], self.settings.speed,
                                     retest=retest, json_out=self.settings.run_json_path()))  # fmt: skip
        return True

    def _recorded_board(self, record: dict, doing: str) -> tuple[list, str | None]:
        """A recorded run's meters, and why it cannot be done again on this window's bench (or None)."""
        from bench.meters import LoadedMeter

        run = record["run"]
        meters = [LoadedMeter(**m) for m in ((run.get("settings") or {}).get("meters") or {}).values()]
        if record["bench"]["name"] != self.config.name:
            return meters, (f"Run {run['id']} was tested on bench {record['bench']['name']!r}; this window has "
                            f"{self.config.name!r} open. {doing.capitalize()} on the same bench.")  # fmt: skip
        if not meters:
            return meters, f"Run {run['id']} has no recorded meters to {doing}."
        return meters, None

    def resume_interrupted(self, run_id: int | None = None) -> bool:
        """Finish an interrupted run (the History tab's selected one): its recorded points are kept and not
        repeated, on the bench it was started on."""

        run_id = run_id or getattr(self, "h_run_id", None)
        problem = None
        if self.running:
            problem = "Not while a run is going."
        elif self.config is None:
            problem = "No bench file: choose one in Settings (tab 7)."
        elif not run_id:
            problem = "Choose an interrupted run in History first."
        if problem is None:
            record = self.store.run_record(run_id)
            run = record["run"]
            meters, problem = self._recorded_board(record, "resume")
            if run["status"] != "interrupted":
                problem = f"Run {run_id} is {run['status']}: only an interrupted run can be resumed."
        if problem:
            self.banner.setText(problem)
            self.banner.setStyleSheet("color:#b00000;")
            return False
        settings = run.get("settings") or {}
        text = (f"The source will ENERGISE the board to finish run {run_id} ({run['plan_id']}) on positions "
                f"{', '.join(str(m.position) for m in meters)}; points already recorded are not repeated.\n\n"
                f"Same meters in the same sockets, covers closed, hands clear of the board?")  # fmt: skip
        if not self.confirm("Energise the board?", text):
            self.banner.setText("Resume cancelled: nothing was energised.")
            return False
        self.running, self.paused = True, False
        self.results_panel.busy = True
        self.tabs.setCurrentIndex(0)
        self.banner.setStyleSheet("")
        self.banner.setText(f"Resuming run {run_id} …")
        self.status.run.setText("Resuming…")
        self._update_controls()
        self.worker.arm()
        self.pump.start()
        overrides = {None if k in ("None", "") else int(k): v for k, v in (settings.get("wiring_overrides") or {}).items()}
        self.request_run.emit(RunJob(self.settings.bench_file, run["plan_id"], meters, run["operator"],
                                     self.settings.speed, overrides, self.settings.allow_overdue,
                                     passes=tuple(settings.get("passes") or ("as-found",)),
                                     warmup_s=float(settings.get("warmup_s") or 0.0), resume_run=run_id,
                                     json_out=self.settings.run_json_path()))  # fmt: skip
        return True

    def _retest_dialog(self, point: ResultPoint) -> str | None:
        dlg = RetestDialog(point, self)
        return dlg.reason.text().strip() if dlg.exec() == QDialog.DialogCode.Accepted else None

    def _override_dialog(self, positions: list[int], findings: str):
        dlg = WiringOverrideDialog(positions, findings, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.where.currentData(), dlg.reason.text().strip()

    # ================================================================ worker signals
    def on_source_state(self, state: str) -> None:
        self.status.set_source({"on": True, "off": False}.get(state))

    def on_instruments(self, status: dict) -> None:
        self.status.set_instruments(status)

    def on_run_started(self, run_id: int) -> None:
        self.run_id = self.results_panel.run_id = run_id
        self.c_run.setValue(run_id)

    def _run_ended(self) -> None:
        self.pump.stop()
        self._close_prompts()
        self.running = self.paused = self.results_panel.busy = False
        # Open and check the bench again for the next Start, once the technician is looking at the results.
        QTimer.singleShot(RECHECK_AFTER_MS, self.check_instruments)

    def on_run_failed(self, message: str) -> None:
        self._run_ended()
        self.banner.setText(f"Run did not complete: {message}")
        self.banner.setStyleSheet("color:#b00000;")
        self.status.run.setText("Stopped with an error (source off)")
        self._update_controls()

    def on_run_finished(self, outcome) -> None:
        self._run_ended()
        self.last_outcome = outcome
        counts: dict[str, int] = {}
        for pos, state in outcome.positions.items():
            tile = self.grid.tiles.get(pos)
            if tile is None:
                continue
            tile.set(state=state, point="")
            counts[state] = counts.get(state, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        word = outcome.outcome.upper()
        self.banner.setText(f"Run {outcome.run_id} {word}: {summary}. {outcome.message}")
        self.banner.setStyleSheet("color:#0b4d0b;" if outcome.outcome == "passed" else "color:#b00000;")
        self.status.run.setText(f"Run {outcome.run_id}: {word}")
        self.c_run.setValue(outcome.run_id)
        self._update_controls()

    # ================================================================ the engine's questions
    def on_question(self, q: Question) -> None:
        """The engine thread waits (source off) for the technician: show the prompt, never block here."""
        self.pump.flush()  # what happened before the question is on screen first
        if q.answered:  # an abort released it while the signal was on its way
            return
        if q.kind == "as-left":
            dlg = AsLeftPrompt(sorted(self.failed_verdicts), self)
            waiting = "WAITING: adjust the meters, then continue with the as-left pass (source OFF)"
            for tile in self.grid.tiles.values():
                if tile.view.state == "testing":
                    tile.set(point="as-found done: ADJUST")
        else:
            dlg = WiringDecisionDialog(q.position, q.findings, self)
            where = "the board" if q.position is None else f"position {q.position}"
            waiting = f"WAITING: wiring finding at {where} — stop or override (source OFF)"
        dlg.answered.connect(lambda answer, q=q: self._answer(q, answer))
        self.prompts.append(dlg)
        self.status.run.setText(waiting)
        self.banner.setText(f"Run {self.run_id or ''} {waiting}")
        dlg.show()
        dlg.raise_()
        dlg.activateWindow()

    def _answer(self, q: Question, answer) -> None:
        if answer == "abort":
            self.abort_run()
            return
        q.reply(answer)
        if q.kind == "as-left":
            text = "Continuing with the as-left pass" if answer else "As-left pass skipped"
        elif answer:
            text = f"Wiring finding overridden ({answer})"
        else:
            text = "Wiring finding stops " + ("the board" if q.position is None else f"position {q.position}")
        self.status.run.setText(text)
        self.banner.setText(f"Run {self.run_id or ''} RUNNING: {text} — Esc aborts (source off first)")

    def _close_prompts(self) -> None:
        """A run that ends (or aborts) takes its open questions with it."""
        prompts, self.prompts = self.prompts, []
        for dlg in prompts:
            dlg.done_ = True  # already answered by the abort: closing must not answer again
            dlg.close()
            dlg.deleteLater()

    # ================================================================ engine events
    def on_events(self, events: list) -> None:
        with self.grid.batch():
            for ev in events:
                try:
                    self._event(ev)
                except Exception as exc:  # noqa: BLE001 - a display problem must never stop the run
                    self.status.run.setText(f"display error: {exc}")

    def _event(self, ev) -> None:
        d, pos, tiles = ev.data, ev.position, self.grid.tiles
        if ev.kind == "run_started":
            self.run_id = self.results_panel.run_id = ev.run_id
            self.status.run.setText(f"Run {ev.run_id}: started")
            self.banner.setText(f"Run {ev.run_id} RUNNING: {d.get('plan')} — Esc aborts (source off first)")
        elif ev.kind == "precheck":
            self.status.set_instruments(
                {k: {"ok": True, "text": v} for k, v in d.get("identity", {}).items()}
            )
        elif ev.kind == "retest":
            where = ", ".join(str(p) for p in d.get("positions", []))
            self.status.run.setText(
                f"Run {ev.run_id}: RETEST {ev.point_id} ({d.get('pass')}) at position {where}"
            )
            self.banner.setText(f"Run {ev.run_id} RETEST of {ev.point_id} ({d.get('pass')}) at position {where}: "
                                f"{d.get('reason', '')} — Esc aborts (source off first)")  # fmt: skip
        elif ev.kind == "warmup":
            secs = d.get("seconds", 0)
            self.status.run.setText(f"WARM-UP {secs:g} s — source ENERGISED")
            self.banner.setText(f"Run {ev.run_id} WARMING UP: {secs:g} s (bench time) at the plan's voltage and "
                                "test amperes before the first point — Esc aborts (source off first)")  # fmt: skip
            for tile in tiles.values():
                if tile.view.state in ("loaded", "testing"):
                    tile.set(point=f"warm-up {secs:g} s")
        elif ev.kind == "point_started":
            label = d.get("label") or ev.point_id
            tp = d.get("pass", "")
            text = f"{label}{' (as-left)' if tp == 'as-left' else ''}"
            for p in d.get("positions", []):
                if p in tiles:
                    tiles[p].set(state="testing", point=text)
            extra = (
                f" {d['voltage_v']:g} V {d['current_a']:g} A" if "current_a" in d and "voltage_v" in d else ""
            )
            self.status.run.setText(f"Run {ev.run_id}: {text}{extra}")
        elif ev.kind == "stabilised":
            self._phasors = (d.get("phases", {}), f"point {ev.point_id}")
        elif ev.kind == "reading" and pos in tiles:
            tiles[pos].set(
                last_error=f"{d['error_percent']:+.3f} % (reading {d['index'] + 1})", last_verdict=""
            )
        elif ev.kind == "point_done" and pos in tiles:
            v = d["verdict"]
            tiles[pos].set(
                last_error=f"{d['error_percent']:+.3f} % ±{d['expanded_percent']:.3f}", last_verdict=v
            )
            col = self.results_panel.point_done(pos, ev.point_id, d)
            if v in ("fail", "indeterminate"):
                self.failed_verdicts.add(pos)
                tiles[pos].set(message=f"{col}: {VERDICT_WORDS.get(v, v)}")
        elif ev.kind in ("creep", "starting") and pos in tiles:
            v = d["verdict"]
            tiles[pos].set(last_error=f"{ev.kind}: {d['pulses']} pulse(s)", last_verdict=v)
            self.results_panel.cell(
                pos, d.get("label") or ev.kind, f"{d['pulses']} p {VERDICT_WORDS.get(v, v)}", v
            )
            if v != "pass":
                self.failed_verdicts.add(pos)
                tiles[pos].set(message=d.get("message", ""))
        elif ev.kind == "wiring":
            where = "Board (supply)" if pos is None else f"Position {pos}"
            findings = d.get("findings", [])
            self._phasors = (d.get("phases", {}), f"wiring, {where.lower()}")
            if findings:
                text = "\n".join(f"• {f['message']}" for f in findings)
                over = f"\n  OVERRIDDEN by operator: {d['override']}" if d.get("override") else ""
                entry = f"{where}: rotation {d.get('rotation')}\n{text}{over}"
                self.findings.append(entry)
            else:
                entry = f"{where}: wiring correct (rotation {d.get('rotation')})"
            self.wiring_text.appendPlainText(entry)
            if pos in tiles:
                if findings:  # the plain-language finding, not the engine's code
                    tiles[pos].set(message=findings[0]["message"][:160])
                tiles[pos].set(last_error="wiring " + ("OK" if not findings else "FINDING"),
                               last_verdict="pass" if not findings or d.get("override") else "fail")  # fmt: skip
        elif ev.kind == "position_failed" and pos in tiles:
            msg = d.get("message", "")
            keep = (
                d.get("state") == "wiring fault" and tiles[pos].view.message and not msg.startswith("board")
            )
            tiles[pos].set(
                state=d.get("state", "failed"), point="", message=tiles[pos].view.message if keep else msg
            )
        elif ev.kind == "average" and pos in tiles:
            v = d["verdict"]
            self.results_panel.cell(
                pos, "average", f"{d['value_percent']:.3f} %R {VERDICT_WORDS.get(v, v)}", v
            )
        elif ev.kind == "paused":
            self.paused = True
            self.status.run.setText(
                f"Run {ev.run_id}: PAUSED (source as it was) — F7 to resume, Esc to abort"
            )
            self._update_controls()
        elif ev.kind == "resumed":
            self.paused = False
            self.status.run.setText(f"Run {ev.run_id}: resumed")
            self._update_controls()

    def _redraw_plots(self) -> None:
        if self._phasors is not None:
            phases, caption = self._phasors
            self._phasors = None
            self.phasor.set_phases(phases, caption)
        if self.tabs.currentIndex() == 1:  # drawn when seen: a hidden plot is data, not pixels
            self.error_plot.redraw()

    # ================================================================ history
    def search_history(self) -> list[dict]:
        since = until = None
        if self.h_use_dates.isChecked():
            since = datetime.combine(self.h_since.date().toPython(), dtime.min)
            until = datetime.combine(self.h_until.date().toPython(), dtime.max)
        outcome = self.h_outcome.currentText()
        try:
            runs = self.store.list_runs(serial=self.h_serial.text().strip() or None,
                                        bench=self.h_bench.text().strip() or None,
                                        outcome=None if outcome == "any" else outcome, since=since, until=until)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            self.h_runs.setRowCount(0)
            self.status.run.setText(f"History: {exc}")
            return []
        self.h_runs.setRowCount(len(runs))
        for r, run in enumerate(runs):
            serials = ", ".join(p["serial"] for p in run.get("positions", []))
            vals = [run["id"], str(run.get("started_at", ""))[:19], run.get("bench", ""), run.get("plan_id", ""),
                    run.get("operator", ""), run.get("outcome") or run.get("status", ""), serials]  # fmt: skip
            for c, v in enumerate(vals):
                self.h_runs.setItem(r, c, item(v))
        self.history_runs = runs
        if runs:
            self.h_runs.selectRow(0)
        return runs

    def open_history_run(self) -> None:
        rows = self.h_runs.selectionModel().selectedRows()
        if not rows:
            return
        run_id = int(self.h_runs.item(rows[0].row(), 0).text())
        record = self.store.run_record(run_id)
        pts = record["points"]
        self.h_points.setRowCount(len(pts))
        for r, p in enumerate(pts):
            res = p.get("result") or {}
            err, u = res.get("error_percent"), res.get("expanded_percent")
            vals = [p["position"], p["label"], p["test_pass"], "" if err is None else f"{err:+.4f}",
                    "" if u is None else f"{u:.4f}", "" if p.get("limit_hi") is None else f"{p['limit_hi']:g}",
                    VERDICT_WORDS.get(res.get("verdict"), res.get("verdict") or p.get("status")),
                    res.get("message") or p.get("message") or ""]  # fmt: skip
            for c, v in enumerate(vals):
                self.h_points.setItem(r, c, item(v))
        self.h_certs.clear()
        for c in record["certificates"]:
            self.h_certs.addItem(f"{c['number']} (position {c['position']})", c["pdf_path"])
        if not record["certificates"]:
            self.h_certs.addItem("none issued yet", "")
        self.h_run_id = run_id
        self.h_resume.setEnabled(record["run"]["status"] == "interrupted")

    def open_history_certificate(self) -> None:
        path = self.h_certs.currentData()
        if not path:
            return
        self.tabs.setCurrentIndex(5)
        self.c_msg.setText(f"Rendering {Path(path).name} …")
        self.request_preview_file.emit(CertJob(getattr(self, "h_run_id", 0), 0, out_dir=path))

    def show_history_results(self) -> None:
        """The opened History run's current results in the Results tab, where a point can be retested."""
        if getattr(self, "h_run_id", None) and not self.running:
            self.results_panel.load_record(self.store.run_record(self.h_run_id))
            self.tabs.setCurrentIndex(1)

    def _history_to_certificates(self) -> None:
        if getattr(self, "h_run_id", None):
            self.c_run.setValue(self.h_run_id)
            self.tabs.setCurrentIndex(5)

    # ================================================================ certificates
    def _cert_job(self) -> CertJob:
        return CertJob(self.c_run.value(), self.c_pos.value(), approver=self.c_approver.text().strip(),
                       out_dir=self.settings.certificates_dir, identity=self.settings.signing_identity,
                       passphrase=self.c_pass.text(), lab_file=self.settings.lab_file)  # fmt: skip

    def preview_certificate(self) -> None:
        self.c_msg.setText("Rendering a draft (not issued)…")
        self.request_preview.emit(self._cert_job())

    def issue_certificate(self) -> None:
        job = self._cert_job()
        if not job.approver:
            self.c_msg.setText("Enter the approver's name: it is printed on the certificate.")
            return
        self.c_msg.setText("Issuing" + (" and signing…" if job.identity else " (unsigned)…"))
        self.request_issue.emit(job)

    def open_pdf_externally(self) -> None:
        if self.c_pdf:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.c_pdf))

    def on_preview_ready(self, job, pages: list, pdf: str) -> None:
        self.c_pdf = pdf
        self.page_images = list(pages)
        while self.c_pages_lay.count():
            item = self.c_pages_lay.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not pages:
            self.c_msg.setText(
                f"No page renderer (pdftoppm) here: the PDF is {pdf} — use Open PDF externally."
            )
        for png in pages:
            lbl = QLabel()
            lbl.setPixmap(QPixmap(png))
            lbl.setFrameShape(QLabel.Shape.Box)
            self.c_pages_lay.addWidget(lbl)
        if pages:
            self.c_msg.setText(f"{len(pages)} page(s) of {Path(pdf).name}")

    def on_issued(self, job, pdf: str) -> None:
        self.c_msg.setText(f"Issued: {pdf}")
        self.request_preview_file.emit(CertJob(job.run_id, job.position, out_dir=pdf))

    def on_cert_failed(self, job, message: str) -> None:
        self.c_msg.setText(f"Not done: {message}")

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
        self.store.close()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.running and QMessageBox.question(self, "Abort the run?", "A run is going. Abort it (source off) "
                                                 "and close?") != QMessageBox.StandardButton.Yes:  # fmt: skip
            event.ignore()
            return
        self.shutdown()
        event.accept()
