"""The board view: one row per position, one cell per point of the plan, for boards of 1 to 48 sockets.

A technician reads it at a glance: which meter failed which point. Each cell is a point's error with its
expanded uncertainty (``+0.123 ±0.045``), coloured by its verdict, and the verdict repeated as a mark
(``✔`` pass, ``✘`` fail, ``?`` indeterminate) so colour only repeats what the text says; creep, starting,
wiring and register are cells too. The running point is marked ``▶`` in its header and in the cells of the
positions it is testing. A position's headline (the Result column) is its verdict and the failing test.

The model keeps plain data per position (:class:`BoardRow`) and tells the view only which cells changed,
once per batch of engine events, as one rectangle: a reading repaints one cell, not the board.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from bench.gui.widgets import STATES, big_font

FIXED = ("Pos", "Meter", "Result")
RUNNING = "▶"
MARKS = {"pass": "✔", "fail": "✘", "indeterminate": "?", "info": "i"}
CELL_BG = {
    "pass": "#c9f0c9",
    "fail": "#f7b4b4",
    "indeterminate": "#ffe3a8",
    "running": "#fff2b3",
    "info": "#e6e6e6",
}
CELL_FG = {"fail": "#7a0000", "indeterminate": "#5c3d00"}
BAD = ("fail", "indeterminate")
KIND_NAMES = {"creep": "creep", "starting": "starting", "wiring": "wiring", "register": "register"}
READINGS_KEPT = 200
CELL_PT = 9  # 48 rows of 20 px stay legible on 1366x768 (the board scrolls past ~24)


def column_name(label: str, test_pass: str | None, element: str | None) -> str:
    """A point's column: its label, ``(left)`` for the as-left pass, ``el.A`` for one element."""
    col = f"{label}{' (left)' if test_pass == 'as-left' else ''}"
    if element not in (None, "series"):
        col += f" el.{element}"
    return col


def error_text(error: float | None, u: float | None, verdict: str | None) -> str:
    if error is None:
        return f"— {MARKS.get(verdict or '', '')}".strip()
    u_text = f" ±{u:.3f}" if u is not None else ""
    return f"{error:+.3f}{u_text} {MARKS.get(verdict or '', '')}".rstrip()


@dataclass
class Cell:
    text: str = ""
    verdict: str = ""  # pass, fail, indeterminate, info, running, "" (not measured)
    tip: str = ""


@dataclass
class BoardRow:
    """What the board knows about one position (plain data: tests and screenshots read it)."""

    position: int
    serial: str = ""
    form: str = ""
    accuracy_class: str = ""
    current_class: str = ""
    state: str = "empty"
    message: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)
    readings: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    phases: dict | None = None
    changes: tuple = ()  # nameplate corrections: (field, old, new, who, when)

    def failing(self, columns: list[str]) -> list[str]:
        return [c for c in columns if self.cells.get(c, Cell()).verdict in BAD]

    def headline(self, columns: list[str], running: str = "") -> str:
        """The position's verdict in words and the test that failed it (or what it is doing)."""
        words = STATES.get(self.state, (self.state.upper(),))[0]
        failed = self.failing(columns)
        if self.state == "empty":
            return "EMPTY"
        if self.state == "testing":
            doing = f"TESTING {running}".rstrip() if running else "TESTING"
            return f"{doing} · FAIL {', '.join(failed)}" if failed else doing
        if failed and self.state not in ("failed", "passed", "loaded"):
            # a state that stopped the position (no pulses, a wiring fault) came from its last failing
            # point; earlier failures are named apart
            also = f" · FAIL {', '.join(failed[:-1])}" if len(failed) > 1 else ""
            return f"{words}: {failed[-1]}{also}"
        if failed:
            return f"{words}: {', '.join(failed)}"
        if self.state in ("passed", "loaded"):
            return words
        short = self.message.split(";")[0].split(":")[0] if self.message else ""
        return f"{words}: {short}" if short else words


class BoardModel(QStandardItemModel):
    """Positions x (Pos, Meter, Result, one column per point).

    The rows are plain Python data (:class:`BoardRow`); what each cell shows is pushed into the Qt items
    once per batch, for the cells that changed. The view paints from Qt's own item storage: painting the
    board never calls into Python (every such call may wait for the engine thread's interpreter lock).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[BoardRow] = []
        self.index_of: dict[int, int] = {}
        self.columns: list[str] = []
        self.running = ""  # the running point's column
        self._held = 0
        self._dirty: set[tuple[int, int]] = set()
        self._headers: set[str] = set()
        self._shown: dict[tuple[int, int], tuple] = {}
        self._brushes: dict[str, QBrush] = {}
        self._bold = big_font(CELL_PT, True)
        self._plain = big_font(CELL_PT)
        self._set_headers()

    # ---- shape ---------------------------------------------------------------------------------
    def _set_headers(self) -> None:
        self.setColumnCount(len(FIXED) + len(self.columns))
        for c, name in enumerate((*FIXED, *self.columns)):
            self.setHorizontalHeaderItem(c, QStandardItem(name))

    def set_positions(self, n: int) -> None:
        self.rows = [BoardRow(p) for p in range(1, n + 1)]
        self.index_of = {p: p - 1 for p in range(1, n + 1)}
        self.columns, self.running = [], ""
        self._reshape()

    def set_columns(self, columns: list[str]) -> None:
        """The plan's points, before any is run (every cell empty)."""
        same = list(dict.fromkeys(columns)) == self.columns
        self.columns, self.running = list(dict.fromkeys(columns)), ""
        for row in self.rows:
            row.cells, row.readings, row.findings, row.phases = {}, [], [], None
        if same:  # the same plan again: empty the cells in place (rebuilding the items is slower)
            self._headers |= set(self.columns)
            self._dirty = {(r, c) for r in range(len(self.rows)) for c in range(self.columnCount())}
            if not self._held:
                self._flush()
        else:
            self._reshape()

    def _reshape(self) -> None:
        self._shown = {}
        self.setRowCount(0)
        self._set_headers()
        self.setRowCount(len(self.rows))
        self._dirty = {(r, c) for r in range(len(self.rows)) for c in range(self.columnCount())}
        self._flush()

    def _column(self, col: str) -> int:
        if col not in self.columns:
            self.columns.append(col)
            c = len(FIXED) + len(self.columns) - 1
            self.setColumnCount(c + 1)
            self.setHorizontalHeaderItem(c, QStandardItem(col))
        return len(FIXED) + self.columns.index(col)

    def row(self, position: int | None) -> BoardRow | None:
        r = self.index_of.get(position)  # type: ignore[arg-type]
        return self.rows[r] if r is not None else None

    # ---- changes -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Changes inside are shown once, at the end."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._flush()

    def _touch(self, r: int, c: int) -> None:
        self._dirty.add((r, c))
        self._dirty.add((r, 2))  # the headline follows every cell of its row
        if not self._held:
            self._flush()

    def _flush(self) -> None:
        for name in self._headers:
            if name in self.columns:
                c = len(FIXED) + self.columns.index(name)
                it = self.horizontalHeaderItem(c) or QStandardItem()
                it.setText(f"{RUNNING} {name}" if name == self.running else name)
                it.setFont(self._bold if name == self.running else self._plain)
                self.setHorizontalHeaderItem(c, it)
        self._headers = set()
        dirty, self._dirty = self._dirty, set()
        changed: set[tuple[int, int]] = set()
        # Every item setter would tell the view on its own (six per cell): the view hears once per row.
        self.blockSignals(True)
        try:
            for r, c in dirty:
                if r < len(self.rows) and c < self.columnCount():
                    look = self._look(self.rows[r], c)
                    if self._shown.get((r, c)) != look:
                        self._shown[(r, c)] = look
                        self._show(r, c, look)
                        changed.add((r, c))
        finally:
            self.blockSignals(False)
        if changed:  # one rectangle for the view: each emit is a call into Qt, painting is cheap
            rows, cols = [r for r, _ in changed], [c for _, c in changed]
            self.dataChanged.emit(self.index(min(rows), min(cols)), self.index(max(rows), max(cols)))

    def _show(self, r: int, c: int, look: tuple) -> None:
        text, bg, fg, bold, tip, align = look
        it = self.item(r, c)
        if it is None:
            it = QStandardItem()
            it.setEditable(False)
            self.setItem(r, c, it)
        it.setText(text)
        it.setData(self._brush(bg) if bg else None, Qt.ItemDataRole.BackgroundRole)
        it.setData(self._brush(fg) if fg else None, Qt.ItemDataRole.ForegroundRole)
        it.setFont(self._bold if bold else self._plain)
        it.setToolTip(tip)
        it.setTextAlignment(align)

    def _look(self, row: BoardRow, c: int) -> tuple:
        """(text, background, foreground, bold, tooltip, alignment) of one cell."""
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        if c == 0:
            return (str(row.position), "", "", False, "", Qt.AlignmentFlag.AlignCenter)
        if c == 1:
            cc = f" · {row.current_class}" if row.current_class else ""
            tip = f"{row.serial}: form {row.form}, class {row.accuracy_class}{cc}" if row.serial else ""
            return (row.serial or "— empty —", "", "", False, tip, left)
        if c == 2:
            _, bg, fg = STATES.get(row.state, (row.state.upper(), "#e6e6e6", "#000000"))
            if row.failing(self.columns):
                fg = STATES["failed"][2]
                bg = bg if row.state == "testing" else CELL_BG["fail"]
            return (row.headline(self.columns, self.running), bg, fg, True, row.message, left)
        cell = row.cells.get(self.columns[c - len(FIXED)])
        if cell is None:
            return ("", "", "", False, "", right)
        bold = cell.verdict in (*BAD, "running")
        return (
            cell.text,
            CELL_BG.get(cell.verdict, ""),
            CELL_FG.get(cell.verdict, ""),
            bold,
            cell.tip,
            right,
        )

    def set_meter(self, position: int, meter) -> None:
        row = self.row(position)
        if row is None:
            return
        row.serial = meter.serial if meter else ""
        row.form = meter.form if meter else ""
        row.accuracy_class = meter.accuracy_class if meter else ""
        row.current_class = (meter.current_class or "") if meter else ""
        row.changes = tuple(getattr(meter, "nameplate_changes", ())) if meter else ()
        row.state, row.message = ("loaded" if meter else "empty"), ""
        row.cells = {}
        r = self.index_of[position]
        self._dirty.update((r, c) for c in range(self.columnCount()))
        if not self._held:
            self._flush()

    def set_state(self, position: int, state: str, message: str | None = None) -> None:
        row = self.row(position)
        if row is None:
            return
        row.state = state
        if message is not None:
            row.message = message
        self._touch(self.index_of[position], 2)

    def set_cell(self, position: int, col: str, text: str, verdict: str, tip: str = "") -> None:
        row = self.row(position)
        if row is None:
            return
        c = self._column(col)
        row.cells[col] = Cell(text, verdict, tip)
        self._touch(self.index_of[position], c)

    def set_running(self, col: str, positions) -> None:
        """The point now running (``""``: none); its cells on ``positions`` are marked ▶."""
        with self.batch():
            if col:
                self._column(col)
            self._headers |= {self.running, col} - {""}
            self.running = col
            for p in positions:
                row = self.row(p)
                if row is not None:
                    row.state = "testing"
                    self.set_cell(p, col, f"{RUNNING} …", "running", "running now")
            self._dirty |= {(r, 2) for r in range(len(self.rows))}  # headlines name the running point

    def finish(self) -> None:
        """The run ended: no point is running; a cell still marked running was not measured."""
        with self.batch():
            for row in self.rows:
                for col, cell in list(row.cells.items()):
                    if cell.verdict == "running":
                        self.set_cell(row.position, col, "—", "", "not measured")
            self._headers |= {self.running} - {""}
            self.running = ""
            self._dirty |= {(r, 2) for r in range(len(self.rows))}

    def add_reading(self, position: int, text: str) -> None:
        row = self.row(position)
        if row is not None:
            row.readings.append(text)
            del row.readings[:-READINGS_KEPT]

    # ---- what the technician sees --------------------------------------------------------------
    def text(self, position: int, col: str) -> str:
        """What the cell of ``position`` under column ``col`` shows (a point's column, or Pos/Meter/Result)."""
        r = self.index_of[position]
        c = FIXED.index(col) if col in FIXED else len(FIXED) + self.columns.index(col)
        it = self.item(r, c)
        return it.text() if it is not None else ""

    def colour(self, position: int, col: str) -> str:
        """The background colour (#rrggbb) of that cell, "" when it has none."""
        r = self.index_of[position]
        c = FIXED.index(col) if col in FIXED else len(FIXED) + self.columns.index(col)
        it = self.item(r, c)
        brush = it.data(Qt.ItemDataRole.BackgroundRole) if it is not None else None
        return brush.color().name() if brush is not None else ""

    def header(self, col: str) -> str:
        it = self.horizontalHeaderItem(len(FIXED) + self.columns.index(col))
        return it.text() if it is not None else ""

    def _brush(self, colour: str) -> QBrush:
        b = self._brushes.get(colour)
        if b is None:
            b = self._brushes[colour] = QBrush(QColor(colour))
        return b

    def verdict(self, position: int, col: str) -> str:
        row = self.row(position)
        return row.cells.get(col, Cell()).verdict if row else ""


class BoardView(QTableView):
    """The board table: compact fixed-size cells (48 rows stay legible), one position selected."""

    activated_position = Signal(int)  # Enter or double-click: edit that position's meter
    selected_position = Signal(int)

    ROW_PX = 20
    FIXED_PX = (38, 112, 176)
    CELL_PX = 104

    def __init__(self, model: BoardModel, parent=None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setFont(big_font(CELL_PT))
        # one cell is selected, not the row: a highlighted row would hide its verdict colours
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setAlternatingRowColors(False)
        self.verticalHeader().setVisible(False)
        vh = self.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.ROW_PX)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never measured per change: a stall
        hh.setDefaultSectionSize(self.CELL_PX)
        hh.setFont(big_font(10, True))
        hh.setHighlightSections(False)

        model.columnsInserted.connect(lambda *_: self._widths())
        self._widths()
        self.doubleClicked.connect(lambda idx: self._activate(idx.row()))

    def _widths(self) -> None:
        """Fixed widths from the font: a point's cell fits ``+0.000 ±0.000 ✘``, the Result column a
        headline such as ``FAILED: STARTING``; never measured from the contents (a stall per change)."""
        fm = QFontMetrics(big_font(CELL_PT, True))
        cell = fm.horizontalAdvance("+0.000 ±0.000 ✘") + 8
        self.horizontalHeader().setDefaultSectionSize(cell)
        widths = (
            fm.horizontalAdvance("Pos") + 14,
            fm.horizontalAdvance("SIM2S-00000") + 12,
            self.FIXED_PX[2],
        )
        for c in range(self.model().columnCount()):
            self.setColumnWidth(c, widths[c] if c < len(widths) else cell)

    def _activate(self, r: int) -> None:
        if 0 <= r < len(self.model().rows):
            self.activated_position.emit(self.model().rows[r].position)

    def currentChanged(self, current, previous) -> None:  # noqa: N802 - Qt override
        super().currentChanged(current, previous)
        if current.isValid() and current.row() != previous.row():
            self.selected_position.emit(self.model().rows[current.row()].position)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._activate(self.currentIndex().row())
            return
        super().keyPressEvent(event)

    def select(self, position: int) -> None:
        r = self.model().index_of.get(position)
        if r is not None:
            self.setCurrentIndex(self.model().index(r, 1))
