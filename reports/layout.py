"""Lean flowables for certificates: ruled tables and text blocks drawn with canvas primitives.

reportlab's ``Table`` of ``Paragraph`` cells parses each cell's markup, measures it word by word, and
draws it through the table's cell machinery: most of a certificate's render time. A certificate's cells are
plain text in one of a few fonts, so :class:`Grid` breaks each cell into lines once (``simpleSplit``, whose
string widths the rl_accel C helper measures), and draws backgrounds, text and rules straight onto the
canvas. It splits between rows across pages, repeating its header row, as a platypus ``Table`` with
``repeatRows=1`` does. :class:`Text` is the same for a paragraph of plain text in one style.

The text drawn is exactly the strings given, in row order, so page text read back (``meterbench verify``,
the tests) is deterministic. Each line's text operators are the strings reportlab's ``textLine`` appends,
appended at once (:func:`_line_at`); line breaks are remembered per text, font and width. A heading is kept
with its first line (:func:`keep_headings`).
"""

from __future__ import annotations

from functools import lru_cache

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth
from reportlab.pdfbase.ttfonts import ShapedStr
from reportlab.platypus import CondPageBreak, Flowable, Spacer

from reports.fonts import FONT

#: The revision of the certificate's printed layout, embedded in every certificate (XMP keyword
#: ``layout:N``). ``meterbench verify`` compares a certificate's pages with the records only when it
#: prints the same layout; raise it whenever a change alters any text a certificate prints.
LAYOUT_REVISION = "5"  # 3: headings kept with their first line; ANSI clock limit cited as a shop setting;
# 4: the accuracy class as "1", not the catalogue id "iec:1"; a var point's PF column gives its sin phi
# 5: conditions not entered at a real bench print "not measured"; an overridden wiring finding, conformity
# worded by the limits applied (shop limits), simulated-bench and demonstration-laboratory banners


#: Characters a certificate's text may carry that the embedded Vera fonts have no glyph for (PDF/A-2b
#: refuses a .notdef glyph, so the whole certificate would not be issued): printed as words instead.
_NO_GLYPH = str.maketrans({"ν": "nu", "φ": "phi", "δ": "delta", "Σ": "sum", "σ": "sigma", "✔": "ok", "✘": "x",
                           "▶": ">", "→": "->", "←": "<-", "∠": "angle ", "⁴": "^4", "Φ": "Phi", "Δ": "delta", "λ": "lambda", "θ": "theta", "ω": "omega", "π": "pi"})  # fmt: skip


def printable(text: str) -> str:
    """``text`` with every character the certificate fonts cannot draw spelled out (see _NO_GLYPH)."""
    return text if text.isascii() else text.translate(_NO_GLYPH)


@lru_cache(maxsize=8192)
def _lines(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """``text`` broken into lines of at most ``width`` (a pure function of the font's metrics: remembered,
    as a batch's certificates repeat most of their labels, headings and notes)."""
    if "\n" not in text and stringWidth(text, font, size) <= width:
        return (text,)
    return tuple(simpleSplit(text, font, size, width)) or ("",)


def _line_at(text, x: float, y: float, line: str) -> None:
    """``text.setTextOrigin(x, y); text.textLine(line)`` for the certificate's TrueType fonts, appending the
    operators those two calls append (the same strings) without reportlab's per-call state juggling in
    ``_formatText``; any other font, or a top-down canvas, goes through reportlab's calls."""
    canv = text._canvas  # noqa: SLF001 - reportlab's text object internals, as textLine uses them
    font = getFont(text._fontname)  # noqa: SLF001
    if not canv.bottomup or not font._dynamicFont or (font.shapable and isinstance(line, ShapedStr)):  # noqa: SLF001
        text.setTextOrigin(x, y)
        text.textLine(line)
        return
    code, doc = text._code, canv._doc  # noqa: SLF001
    code.append(f"1 0 0 1 {fp_str(x, y)} Tm")
    parts = []
    for subset, chunk in font.splitString(line, doc):
        if subset != text._curSubset:  # noqa: SLF001
            size = f"{fp_str(text._fontsize)} Tf {fp_str(text._leading)} TL"  # noqa: SLF001
            parts.append(f"{font.getSubsetInternalName(subset, doc)} {size}")
            text._curSubset = subset  # noqa: SLF001
        parts.append(f"({canv._escape(chunk)}) Tj")  # noqa: SLF001
    code.append(" ".join(parts) + " T*")
    text._x0 = text._x = x  # where textLine leaves the cursor  # noqa: SLF001
    text._y0 = text._y = y - text._leading  # noqa: SLF001


class Cell:
    """One cell: its text, font, colour, alignment and (optional) background."""

    __slots__ = ("text", "font", "colour", "align", "bg")

    def __init__(self, text: str, font: str = FONT, colour=colors.black, align: str = "LEFT", bg=None):
        self.text, self.font, self.colour, self.align, self.bg = printable(text), font, colour, align, bg


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
        # one text object for every cell: the canvas state is not pushed per string; each line ends with
        # T* as drawString's do, so text extraction (verify's page comparison) reads cells as lines
        text = c.beginText()
        font = colour = None
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
            for k, (cell, broken) in enumerate(zip(row, lines, strict=True)):
                x0, x1 = xs[k], (xs[-1] if k == len(row) - 1 else xs[k + 1])
                block = len(broken) * self.leading
                first = y - top - (h - top - bottom - block) / 2 if self.valign == "MIDDLE" else y - top
                base = first - self.size
                if cell.font != font:
                    font = cell.font
                    text.setFont(font, self.size)
                if cell.colour != colour:
                    colour = cell.colour
                    text.setFillColor(colour)
                for line in broken:
                    if cell.align == "RIGHT":
                        _line_at(text, x1 - right - stringWidth(line, font, self.size), base, line)
                    else:
                        _line_at(text, x0 + left, base, line)
                    base -= self.leading
            verticals.append((y0, y, [xs[k] for k in range(1, len(row))]))
            y = y0
        c.drawText(text)
        path = c.beginPath()
        for yy in (0.0, *(sum(self.heights[k:]) for k in range(len(self.heights)))):
            path.moveTo(0, yy)
            path.lineTo(self.width, yy)
        if all(len(row) == len(self.widths) for row in self.rows):  # no spans: one rule per column edge
            verticals = [(0.0, self.height, xs[1:-1])]
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
        self.text, self.style = printable(text), style
        self.spaceBefore, self.spaceAfter = style.spaceBefore, style.spaceAfter
        self._given, self._avail = _lines_given, _width
        self.lines: tuple[str, ...] | list[str] = _lines_given or ()

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
        c.saveState()  # the text's colour must not leak into what is drawn next
        text = c.beginText()
        text.setFillColor(s.textColor)
        text.setFont(s.fontName, s.fontSize)
        y = self.height - s.fontSize
        for line in self.lines:
            x = (
                (self.width - stringWidth(line, s.fontName, s.fontSize)) / 2
                if s.alignment == TA_CENTER
                else 0
            )
            _line_at(text, x, y, line)
            y -= s.leading
        c.drawText(text)
        c.restoreState()


def is_heading(f: Flowable) -> bool:
    """A section heading (``h2``) or a sub-heading marked ``heading = True``: kept with what follows."""
    return isinstance(f, Text) and (getattr(f, "heading", False) or f.style.name == "h2")


class KeepWithNext(CondPageBreak):
    """Placed before a heading: a page break unless the heading and the first line (the first row, under
    its header rows, of a table) of what follows it fit on this page, so a heading never stands alone at the
    foot of a page with its content on the next. What follows is otherwise left to split as it would.
    A flowable that does not split (a kept-together block) needs its whole height, at most a page's."""

    def __init__(self, heading: Flowable, following: list[Flowable]):
        super().__init__(0)
        self.heading, self.following = heading, following

    def wrap(self, avail_width, avail_height):
        frame = self._doctemplateAttr("frame")
        need = _height_of(self.heading, avail_width, avail_height, first=False)
        for f in self.following:
            need += _height_of(f, avail_width, avail_height, first=True)
        self.height = min(need, frame._aH) if frame is not None else need  # noqa: SLF001 - a page's height
        return super().wrap(avail_width, avail_height)


def _height_of(f: Flowable, avail_width: float, avail_height: float, *, first: bool) -> float:
    """Height ``f`` takes with its space around it, or with ``first`` only its first line (or row)."""
    space = f.getSpaceBefore() + f.getSpaceAfter()
    if first and isinstance(f, Grid):
        return sum(f.heights[: f.header + 1])
    _w, h = f.wrap(avail_width, avail_height)
    if first and isinstance(f, Text):
        return f.getSpaceBefore() + min(h, f.style.leading)
    return h + space


def keep_headings(story: list[Flowable]) -> list[Flowable]:
    """``story`` with a :class:`KeepWithNext` before every heading at its top level (headings inside a
    kept-together block are kept with their block already): the heading, any spacers after it, and the
    first flowable after them."""
    out: list[Flowable] = []
    for k, f in enumerate(story):
        if is_heading(f):
            following = []
            for g in story[k + 1 :]:
                if isinstance(g, CondPageBreak):  # a page break of its own: nothing to keep with
                    break
                following.append(g)
                if not isinstance(g, Spacer):
                    break
            if following:
                out.append(KeepWithNext(f, following))
        out.append(f)
    return out


class Columns(Flowable):
    """Flowables side by side in columns of fixed width (each column a list stacked top down), what a
    one-row platypus ``Table`` of flowables does, without its cell machinery; optionally boxed and filled.
    ``pad`` is (left, right, top, bottom) inside each column; ``valign`` "MIDDLE" or "TOP". Not split."""

    def __init__(self, columns: list[list[Flowable]], widths: list[float], *, pad=(6.0, 6.0, 3.0, 3.0),
                 valign: str = "TOP", box=None, box_width: float = 0.6, bg=None):  # fmt: skip
        super().__init__()
        self.columns, self.widths, self.pad, self.valign = columns, list(widths), pad, valign
        self.box, self.box_width, self.bg = box, box_width, bg
        self.hAlign = "LEFT"

    def wrap(self, avail_width, avail_height):
        left, right, top, bottom = self.pad
        self._sizes = []
        for col, w in zip(self.columns, self.widths, strict=True):
            sizes = [f.wrapOn(self.canv, w - left - right, avail_height) for f in col]
            self._sizes.append(sizes)
        inner = max((sum(h for _w, h in sizes) for sizes in self._sizes), default=0.0)
        self.width, self.height = sum(self.widths), inner + top + bottom
        return self.width, self.height

    def draw(self):
        c = self.canv
        left, _right, top, bottom = self.pad
        if self.bg is not None or self.box is not None:
            c.saveState()
            if self.bg is not None:
                c.setFillColor(self.bg)
            if self.box is not None:
                c.setStrokeColor(self.box)
                c.setLineWidth(self.box_width)
            c.rect(0, 0, self.width, self.height, stroke=self.box is not None, fill=self.bg is not None)
            c.restoreState()
        x = 0.0
        for col, sizes, w in zip(self.columns, self._sizes, self.widths, strict=True):
            used = sum(h for _w, h in sizes)
            y = self.height - top
            if self.valign == "MIDDLE":
                y -= (self.height - top - bottom - used) / 2
            for f, (_fw, h) in zip(col, sizes, strict=True):
                y -= h
                f.drawOn(c, x + left, y)
            x += w


class FastDrawing(Flowable):
    """A reportlab ``Drawing`` of plain shapes (lines, rectangles, circles, polygons, strings and
    transformed groups) drawn straight onto the canvas, as ``renderPDF`` draws them but without its
    per-shape state machinery. The drawing stays the object the tests inspect."""

    def __init__(self, drawing):
        super().__init__()
        self.drawing = drawing
        self.width, self.height = drawing.width, drawing.height
        self.hAlign = "LEFT"

    def wrap(self, avail_width, avail_height):
        return self.width, self.height

    def draw(self):
        c = self.canv
        c.saveState()
        _draw_shapes(c, self.drawing.contents)
        c.restoreState()


def _paint(c, shape) -> tuple[bool, bool]:
    stroke = getattr(shape, "strokeColor", None)
    fill = getattr(shape, "fillColor", None)
    if stroke is not None:
        c.setStrokeColor(stroke)
        c.setLineWidth(shape.strokeWidth)
        c.setDash(shape.strokeDashArray or [])
    if fill is not None:
        c.setFillColor(fill)
    return stroke is not None, fill is not None


def _draw_shapes(c, shapes) -> None:
    from reportlab.graphics import shapes as sh

    for s in shapes:
        if isinstance(s, sh.Group):
            c.saveState()
            if getattr(s, "transform", None) is not None:
                c.transform(*s.transform)
            _draw_shapes(c, s.contents)
            c.restoreState()
        elif isinstance(s, sh.String):
            c.setFillColor(s.fillColor)
            c.setFont(s.fontName, s.fontSize)
            draw = {"start": c.drawString, "middle": c.drawCentredString, "end": c.drawRightString}
            draw[s.textAnchor](s.x, s.y, s.text)
        elif isinstance(s, sh.Line):
            if s.strokeColor is not None:
                _paint(c, s)
                c.line(s.x1, s.y1, s.x2, s.y2)
        elif isinstance(s, sh.Circle):
            stroke, fill = _paint(c, s)
            c.circle(s.cx, s.cy, s.r, stroke=int(stroke), fill=int(fill))
        elif isinstance(s, sh.Rect):
            stroke, fill = _paint(c, s)
            c.rect(s.x, s.y, s.width, s.height, stroke=int(stroke), fill=int(fill))
        elif isinstance(s, sh.Polygon):
            stroke, fill = _paint(c, s)
            pts = s.points
            path = c.beginPath()
            path.moveTo(pts[0], pts[1])
            for k in range(2, len(pts), 2):
                path.lineTo(pts[k], pts[k + 1])
            path.close()
            c.drawPath(path, stroke=int(stroke), fill=int(fill))
        else:
            raise TypeError(f"FastDrawing cannot draw a {type(s).__name__}")
