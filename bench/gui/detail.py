"""The selected position's detail beside the board: its headline, nameplate, phasors, findings, readings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QSplitter, QTabWidget, QVBoxLayout, QWidget

from bench.gui.board import BoardModel, BoardRow
from bench.gui.widgets import STATES, PlotSlot, big_font


def _log(placeholder: str) -> QPlainTextEdit:
    t = QPlainTextEdit()
    t.setReadOnly(True)
    t.setFont(big_font(10))
    t.setPlaceholderText(placeholder)
    t.setMaximumBlockCount(400)
    return t


class PositionDetail(QWidget):
    """What one position did: verdict and failing test, meter, phasors, wiring findings and readings."""

    def __init__(self, board: BoardModel, parent=None) -> None:
        super().__init__(parent)
        self.board = board
        self.position: int | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        self.headline = QLabel("Select a position on the board")
        self.headline.setFont(big_font(13, True))
        self.headline.setWordWrap(True)
        self.nameplate = QLabel("")
        self.nameplate.setFont(big_font(10))
        self.nameplate.setWordWrap(True)
        lay.addWidget(self.headline)
        lay.addWidget(self.nameplate)
        self.split = split = QSplitter(Qt.Orientation.Vertical)
        self.phasor = PlotSlot("the phasor diagram is loading…")  # pyqtgraph loads behind the first paint
        split.addWidget(self.phasor)
        self.tabs = QTabWidget()
        self.readings = _log("This position's readings and results appear here as they are taken.")
        self.findings = _log("This position's wiring findings appear here in plain language.")
        self.wiring_log = _log("Wiring-check findings of the whole board appear here in plain language.")
        self.tabs.addTab(self.readings, "Readings")
        self.tabs.addTab(self.findings, "Findings")
        self.tabs.addTab(self.wiring_log, "Wiring, all")
        split.addWidget(self.tabs)
        split.setSizes([230, 260])
        lay.addWidget(split, 1)
        self._shown: tuple[int, int] = (0, 0)  # readings and findings already in the boxes
        self.reference_phases: tuple[dict, str] | None = None

    def attach_plot(self):
        """The real phasor diagram, in the placeholder's place (after the window's first paint)."""
        from bench.gui.plots import PhasorPlot

        plot = PhasorPlot()
        plot.prepare()
        self.split.replaceWidget(self.split.indexOf(self.phasor), plot)
        self.phasor.deleteLater()
        self.phasor = plot
        self.draw_phasors()
        return plot

    def show_position(self, position: int | None) -> None:
        """Show another position (everything is redrawn once)."""
        self.position = position
        self._shown = (0, 0)
        self.readings.clear()
        self.findings.clear()
        self.refresh(phasors=True)

    def refresh(self, *, phasors: bool = False) -> None:
        """Bring the detail up to date with its position's row (appends only what is new)."""
        row = self.board.row(self.position) if self.position is not None else None
        if row is None:
            self.headline.setText("Select a position on the board")
            self.nameplate.setText("")
            return
        self._head(row)
        n_read, n_find = self._shown
        if len(row.readings) < n_read:  # a new run emptied it
            self.readings.clear()
            n_read = 0
        for line in row.readings[n_read:]:
            self.readings.appendPlainText(line)
        if len(row.findings) < n_find:
            self.findings.clear()
            n_find = 0
        for entry in row.findings[n_find:]:
            self.findings.appendPlainText(entry)
        if len(row.findings) > n_find:
            phasors = True
        self._shown = (len(row.readings), len(row.findings))
        if phasors:
            self.draw_phasors()

    def _head(self, row: BoardRow) -> None:
        cols = self.board.columns
        text = f"P{row.position}  {row.headline(cols, self.board.running)}"
        failed = bool(row.failing(cols))
        fg = STATES["failed"][2] if failed else STATES.get(row.state, ("", "", "#000000"))[2]
        self.headline.setText(text)
        self.headline.setStyleSheet(f"color: {fg};")
        if row.serial:
            cc = f" · {row.current_class}" if row.current_class else ""
            msg = f"\n{row.message}" if row.message else ""
            if row.changes:
                fixes = "; ".join(f"{f} {a or '—'} → {b or '—'}" for f, a, b, _, _ in row.changes)
                msg += f"\nNameplate corrected: {fixes} (by {row.changes[-1][3]})"
            self.nameplate.setText(f"{row.serial} — form {row.form}, class {row.accuracy_class}{cc}{msg}")
        else:
            self.nameplate.setText("No meter in this position (scan one, or Enter to type its nameplate).")

    def draw_phasors(self) -> None:
        """The position's own phasors (its wiring check) when it has them, else the reference's latest."""
        row = self.board.row(self.position) if self.position is not None else None
        if row is not None and row.phases:
            self.phasor.set_phases(row.phases, f"position {row.position}, wiring check")
        elif self.reference_phases is not None:
            self.phasor.set_phases(*self.reference_phases)
