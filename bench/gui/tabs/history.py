"""The History tab: recorded runs by serial, bench, outcome and date; their points and certificates."""

from __future__ import annotations

from datetime import datetime
from datetime import time as dtime
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bench.gui.results import item, table
from bench.gui.tabs import OUTCOMES
from bench.gui.widgets import (
    VERDICT_WORDS,
)
from bench.gui.worker import CertJob


class HistoryTab:
    """The History tab: recorded runs by serial, bench, outcome and date; their points and certificates.

    A mixin of MainWindow: its widgets and state are the window's.
    """

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
        for x in (
            QLabel("Serial"),
            self.h_serial,
            QLabel("Bench"),
            self.h_bench,
            QLabel("Outcome"),
            self.h_outcome,
            self.h_use_dates,
            self.h_since,
            QLabel("to"),
            self.h_until,
            search,
        ):
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

    # ================================================================ history
    def search_history(self) -> list[dict]:
        since = until = None
        if self.h_use_dates.isChecked():
            since = datetime.combine(self.h_since.date().toPython(), dtime.min)
            until = datetime.combine(self.h_until.date().toPython(), dtime.max)
        outcome = self.h_outcome.currentText()
        try:
            runs = self.store.list_runs(
                serial=self.h_serial.text().strip() or None,
                bench=self.h_bench.text().strip() or None,
                outcome=None if outcome == "any" else outcome,
                since=since,
                until=until,
            )
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            self.h_runs.setRowCount(0)
            self.status.run.setText(f"History: {exc}")
            return []
        self.h_runs.setRowCount(len(runs))
        for r, run in enumerate(runs):
            serials = ", ".join(p["serial"] for p in run.get("positions", []))
            vals = [
                run["id"],
                str(run.get("started_at", ""))[:19],
                run.get("bench", ""),
                run.get("plan_id", ""),
                run.get("operator", ""),
                run.get("outcome") or run.get("status", ""),
                serials,
            ]
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
            vals = [
                p["position"],
                p["label"],
                p["test_pass"],
                "" if err is None else f"{err:+.4f}",
                "" if u is None else f"{u:.4f}",
                "" if p.get("limit_hi") is None else f"{p['limit_hi']:g}",
                VERDICT_WORDS.get(res.get("verdict"), res.get("verdict") or p.get("status")),
                res.get("message") or p.get("message") or "",
            ]
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
