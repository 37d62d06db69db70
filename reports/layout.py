"""Lean flowables for certificates: ruled tables and text blocks drawn with canvas primitives.

reportlab's ``Table`` of ``Paragraph`` cells parses each cell's markup, measures it word by word, and
draws it through the table's cell machinery: most of a certificate's render time. A certificate's cells are
plain text in one of a few fonts, so :class:`Grid` breaks each cell into lines once (``simpleSplit``, whose
string widths the rl_accel C helper measures), and draws backgrounds, text and rules straight onto the
canvas. It splits between rows across pages, repeating its header row, as a platypus ``Table`` with
``repeatRows=1`` does. :class:`Text` is the same for a paragraph of plain text in one style.

The text drawn is exactly the strings given, in row order, so page text read back (``meterbench verify``,
the tests) is deterministic.
"""

from __future__ import annotations

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable

from reports.fonts import FONT


def _lines(text: str, font: str, size: float, width: float) -> list[str]:
    if "\n" not in text and stringWidth(text, font, size) <= width:
        return [text]
    return simpleSplit(text, font, size, width) or [""]


class Cell:
    """One cell: its text, font, colour, alignment and (optional) background."""

    __slots__ = ("text", "font", "colour", "align", "bg")

    def __init__(self, text: str, font: str = FONT, colour=colors.black, align: str = "LEFT", bg=None):
        self.text, self.font, self.colour, self.align, self.bg = text, font, colour, align, bg


class Grid(Flowable):
    """A ruled table of :class:`Cell` rows with fixed column widths.

    A row with fewer cells than columns has its last cell span the remaining columns. ``row_bg`` gives a
    background per row (None: none); a cell's own ``bg`` is drawn over it. ``header`` rows are repeated
    at the top of each page the grid continues on. ``valign`` is "MIDDLE" or "TOP".
    """

    def __init__(
        self,
        rows: list[list[Cell]],
        widths: list[float],
        *,
        row_bg: list | None = None,
        header: int = 0,
        size: float = 8.0,
        leading: float = 10.0,
        pad: tuple[float, float, float, float] = (3.0, 3.0, 2.5, 2.5),  # left, right, top, bottom
        valign: str = "MIDDLE",
        rule=colors.grey,
        rule_width: float = 0.4,
        _broken: tuple | None = None,
    ):
        super().__init__()
        self.rows, self.widths = rows, list(widths)
        self.row_bg = row_bg if row_bg is not None else [None] * len(rows)
        self.header, self.size, self.leading, self.pad, self.valign = header, size, leading, pad, valign
        self.rule, self.rule_width = rule, rule_width
        self.hAlign = "LEFT"
        self.width = sum(self.widths)
        if _broken is None:
            left, right, top, bottom = pad
            _broken = ([], [])
            for row in rows:
                cells = []
                for k, cell in enumerate(row):
                    w = sum(self.widths[k:]) if k == len(row) - 1 else self.widths[k]
                    cells.append(_lines(cell.text, cell.font, size, w - left - right))
                _broken[0].append(cells)
                _broken[1].append(max(len(c) for c in cells) * leading + top + bottom)
        self.lines, self.heights = _broken
        self.height = sum(self.heights)

    def wrap(self, avail_width, avail_height):
        return self.width, self.height

    def _part(self, idx: list[int]) -> Grid:
        return Grid([self.rows[i] for i in idx], self.widths, row_bg=[self.row_bg[i] for i in idx],
                    header=self.header, size=self.size, leading=self.leading, pad=self.pad,
                    valign=self.valign, rule=self.rule, rule_width=self.rule_width,
                    _broken=([self.lines[i] for i in idx], [self.heights[i] for i in idx]))  # fmt: skip

    def split(self, avail_width, avail_height):
        used, n = 0.0, 0
        for h in self.heights:
            if used + h > avail_height:
                break
            used += h
            n += 1
        if n <= self.header or n >= len(self.rows):
            return [] if n <= self.header else [self]
        head = list(range(self.header))
        return [self._part(list(range(n))), self._part(head + list(range(n, len(self.rows))))]

    def draw(self):
        c = self.canv
        left, right, top, bottom = self.pad
        xs = [0.0]
        for w in self.widths:
            xs.append(xs[-1] + w)
        y = self.height
        c.saveState()
        c.setLineWidth(self.rule_width)
        c.setStrokeColor(self.rule)
        verticals = []
        for row, lines, h, bg in zip(self.rows, self.lines, self.heights, self.row_bg, strict=True):
            y0 = y - h
            if bg is not None:
                c.setFillColor(bg)
                c.rect(0, y0, self.width, h, stroke=0, fill=1)
            for k, cell in enumerate(row):
                x0, x1 = xs[k], (xs[-1] if k == len(row) - 1 else xs[k + 1])
                if cell.bg is not None:
                    c.setFillColor(cell.bg)
                    c.rect(x0, y0, x1 - x0, h, stroke=0, fill=1)
            for k, (cell, text) in enumerate(zip(row, lines, strict=True)):
                x0, x1 = xs[k], (xs[-1] if k == len(row) - 1 else xs[k + 1])
                block = len(text) * self.leading
                first = y - top - (h - top - bottom - block) / 2 if self.valign == "MIDDLE" else y - top
                base = first - self.size
                c.setFillColor(cell.colour)
                c.setFont(cell.font, self.size)
                for line in text:
                    if cell.align == "RIGHT":
                        c.drawRightString(x1 - right, base, line)
                    else:
                        c.drawString(x0 + left, base, line)
                    base -= self.leading
            verticals.append((y0, y, [xs[k] for k in range(1, len(row))]))
            y = y0
        path = c.beginPath()
        for yy in (0.0, *(sum(self.heights[k:]) for k in range(len(self.heights)))):
            path.moveTo(0, yy)
            path.lineTo(self.width, yy)
        for y0, y1, inner in verticals:
            for x in (0.0, *inner, self.width):
                path.moveTo(x, y0)
                path.lineTo(x, y1)
        c.drawPath(path, stroke=1, fill=0)
        c.restoreState()


class Text(Flowable):
    """A block of plain text in one paragraph style (font, size, leading, colour, spacing, centring),
    broken at spaces and at newlines; splits between lines across pages."""

    def __init__(self, text: str, style, _lines_given: list[str] | None = None, _width: float | None = None):
        super().__init__()
        self.text, self.style = text, style
        self.spaceBefore, self.spaceAfter = style.spaceBefore, style.spaceAfter
        self._given, self._avail = _lines_given, _width
        self.lines: list[str] = _lines_given or []

    def wrap(self, avail_width, avail_height):
        if self._given is None and (self._avail != avail_width or not self.lines):
            s = self.style
            self.lines = _lines(self.text, s.fontName, s.fontSize, avail_width)
            self._avail = avail_width
        self.width = avail_width
        self.height = len(self.lines) * self.style.leading
        return self.width, self.height

    def split(self, avail_width, avail_height):
        self.wrap(avail_width, avail_height)
        n = int(avail_height // self.style.leading)
        if n < 1:
            return []
        if n >= len(self.lines):
            return [self]
        first = Text(self.text, self.style, self.lines[:n], avail_width)
        rest = Text(self.text, self.style, self.lines[n:], avail_width)
        first.spaceAfter, rest.spaceBefore = 0, 0
        return [first, rest]

    def draw(self):
        s, c = self.style, self.canv
        c.saveState()
        c.setFillColor(s.textColor)
        c.setFont(s.fontName, s.fontSize)
        y = self.height - s.fontSize
        for line in self.lines:
            if s.alignment == TA_CENTER:
                c.drawCentredString(self.width / 2, y, line)
            else:
                c.drawString(0, y, line)
            y -= s.leading
        c.restoreState()
