"""The Results tab: one row per position, one column per point (and pass), the error plot, and Retest.

Cells are filled live from the engine's events, or from a recorded run (History → Show in Results). A
cell that holds an accuracy or register result knows its point and pass, so the technician can select it
and retest that point on that position (``bench.kernel.RunKernel.retest``: the earlier result stays on the
record as superseded).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bench.gui.board import column_name
from bench.gui.widgets import VERDICT_WORDS, PlotSlot, big_font

CELL_COLOURS = {"pass": "#c9f0c9", "fail": "#f7c6c6", "indeterminate": "#ffe3a8"}
NOT_ALONE = (
    "Only accuracy and register results are retested alone; creep, starting and wiring need the plan "
    "run again."
)


def item(text: object) -> QTableWidgetItem:
    it = QTableWidgetItem("" if text is None else str(text))
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return it


def table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


@dataclass(frozen=True)
class ResultPoint:
    """What a results cell stands for, when it can be retested alone."""

    run_id: int
    position: int
    point_id: str
    test_pass: str
    label: str


class ResultsPanel(QSplitter):
    """The results table, the error-versus-point plot and the Retest control."""

    retest_requested = Signal(object)  # ResultPoint

    def __init__(self, parent=None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        self.table = table(["Pos", "Serial"])
        self.table.setFont(big_font(11))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        # sized to its contents when shown (fit_columns), not after every cell: that measures every
        # row of the table each time, mid-run, while the tab is not even visible
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.currentCellChanged.connect(lambda *_: self._show_selection())
        tl.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.retest_button = QPushButton("&Retest the selected point… (Ctrl+R)")
        self.retest_button.setFont(big_font(11, True))
        self.retest_button.clicked.connect(self.request_retest)
        self.msg = QLabel("Select a position's result to retest that point.")
        self.msg.setWordWrap(True)
        row.addWidget(self.retest_button)
        row.addWidget(self.msg, 1)
        tl.addLayout(row)
        self.addWidget(top)
        self.plot = PlotSlot("the error plot is loading…")  # pyqtgraph loads behind the first paint
        self.addWidget(self.plot)
        note = QLabel(
            "Sign convention: error % = 100 × meter energy / reference energy − 100 (positive: meter "
            "fast). Each error is shown with its expanded uncertainty U (k≈2)."
        )
        note.setWordWrap(True)
        self.addWidget(note)
        self.run_id: int | None = None
        self.rows: dict[int, int] = {}
        self.cols: list[str] = []
        self.points: dict[tuple[int, str], ResultPoint] = {}  # (position, column) -> retestable point
        self.busy = False  # a run is going: no retest

    def fit_columns(self) -> None:
        """Columns as wide as their contents (when the tab is shown, or a recorded run is loaded)."""
        self.table.resizeColumnsToContents()

    def attach_plot(self):
        """The real error plot, in the placeholder's place (after the window's first paint)."""
        from bench.gui.plots import ErrorPlot

        plot = ErrorPlot()
        self.replaceWidget(self.indexOf(self.plot), plot)
        self.plot.deleteLater()
        self.plot = plot
        return plot

    # ---- filling ------------------------------------------------------------------------------------
    def reset(self, run_id: int | None, serials: dict[int, str]) -> None:
        """An empty table for ``serials`` (position -> serial)."""
        self.run_id, self.cols, self.points = run_id, [], {}
        self.table.clear()
        self.table.setColumnCount(2)
        self.table.setHorizontalHeaderLabels(["Pos", "Serial"])
        self.table.setRowCount(len(serials))
        self.rows = {p: r for r, p in enumerate(sorted(serials))}
        for p, r in self.rows.items():
            self.table.setItem(r, 0, item(p))
            self.table.setItem(r, 1, item(serials[p]))
        self.plot.reset()

    def cell(self, pos: int, col: str, text: str, verdict: str | None) -> None:
        if pos not in self.rows:
            return
        if col not in self.cols:
            self.cols.append(col)
            self.table.setColumnCount(2 + len(self.cols))
            self.table.setHorizontalHeaderItem(1 + len(self.cols), item(col))
        it = item(text)
        if verdict in CELL_COLOURS:
            it.setBackground(QColor(CELL_COLOURS[verdict]))
        self.table.setItem(self.rows[pos], 2 + self.cols.index(col), it)

    def point_done(self, pos: int, point_id: str, d: dict) -> str:
        """An accuracy or register result (a ``point_done`` event's data); returns its column name."""
        v = d["verdict"]
        col = column_name(d["label"], d.get("pass"), d.get("element"))
        unit = d.get("unit", "%")
        if d["error_percent"] is None:  # a meter-port check without a number (TOU tiers, identity)
            self.cell(pos, col, VERDICT_WORDS.get(v, v), v)
        else:
            shown = (
                f"{d['error_percent']:+.3f} ±{d['expanded_percent']:.3f}{'' if unit == '%' else ' ' + unit}"
            )
            self.cell(pos, col, f"{shown} {VERDICT_WORDS.get(v, v)}", v)
        if unit == "%" and d["error_percent"] is not None:  # the plot's axis is percent error
            self.plot.add(
                pos, col, d["error_percent"], d["expanded_percent"], v, d.get("limit_lo"), d.get("limit_hi")
            )
        if self.run_id is not None and pos in self.rows:
            self.points[(pos, col)] = ResultPoint(
                self.run_id, pos, point_id, d.get("pass") or "as-found", d["label"]
            )
        return col

    def load_record(self, record: dict) -> None:
        """A recorded run's current results (superseded ones are history, not results)."""
        self.reset(record["run"]["id"], {p["position"]: p["meter"]["serial"] for p in record["positions"]})
        for p in record["points"]:
            res = p.get("result") or {}
            verdict = res.get("verdict") or ("fail" if p["status"] == "failed" else None)
            if p["kind"] in ("accuracy", "register") and res.get("error_percent") is not None:
                d = {
                    "label": p["label"],
                    "pass": p["test_pass"],
                    "element": p["element"],
                    "verdict": verdict,
                    "error_percent": res["error_percent"],
                    "expanded_percent": res["expanded_percent"],
                    "limit_lo": p.get("limit_lo"),
                    "limit_hi": p.get("limit_hi"),
                }
                self.point_done(p["position"], p["point_id"], d)
            else:
                word = VERDICT_WORDS.get(verdict, verdict or p["status"])
                self.cell(p["position"], column_name(p["label"], p["test_pass"], p["element"]), word, verdict)
        for a in record.get("averages", []):
            v = a.get("verdict")
            self.cell(
                a["position"], "average", f"{a.get('value_percent', 0):.3f} %R {VERDICT_WORDS.get(v, v)}", v
            )
        self.plot.redraw()
        self.fit_columns()

    # ---- retest -------------------------------------------------------------------------------------
    def selected(self) -> ResultPoint | str:
        """The selected cell's point, or why it cannot be retested."""
        r, c = self.table.currentRow(), self.table.currentColumn()
        if self.run_id is None or r < 0:
            return "No results yet: run a plan, or open a run in History and show it here."
        if c < 2:
            return "Select a result cell (a point's column), not the position or serial."
        pos = next((p for p, row in self.rows.items() if row == r), None)
        point = self.points.get((pos, self.cols[c - 2])) if c - 2 < len(self.cols) else None
        return point if point is not None else NOT_ALONE

    def _show_selection(self) -> None:
        sel = self.selected()
        if isinstance(sel, ResultPoint):
            self.msg.setText(
                f"Selected: {sel.label} ({sel.test_pass}) at position {sel.position} of run {sel.run_id}."
            )
        else:
            self.msg.setText(sel)

    def request_retest(self) -> None:
        sel = self.selected()
        if self.busy:
            self.msg.setText("Not while a run is going.")
        elif isinstance(sel, str):
            self.msg.setText(sel)
        else:
            self.retest_requested.emit(sel)
