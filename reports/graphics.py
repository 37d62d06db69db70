"""Vector drawings for certificates: the phasor diagram, the error-versus-current chart and the QR code.

Both are reportlab ``Drawing`` objects (so they stay vector and use the embedded font). Colours help the
eye but every item is also labelled in words or by marker shape, so a black-and-white copy reads the same.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from reports import fonts  # noqa: F401 - first: its reportlab settings must precede reportlab.graphics

# isort: split
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.shapes import Circle, Drawing, Group, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.platypus import Flowable

from reports.fonts import BOLD, FONT, register_fonts
from reports.model import PhaseReading, PointResult

PHASE_COLOURS = {
    "A": colors.HexColor("#222222"),
    "B": colors.HexColor("#B22222"),
    "C": colors.HexColor("#1F4E9A"),
}
LIMIT_COLOUR = colors.HexColor("#B22222")
GRID = colors.HexColor("#D0D0D0")


def _arrow(
    d: Drawing, x0: float, y0: float, x1: float, y1: float, colour, width: float, dashed: bool
) -> None:
    d.add(
        Line(
            x0, y0, x1, y1, strokeColor=colour, strokeWidth=width, strokeDashArray=[4, 2] if dashed else None
        )
    )
    ang = math.atan2(y1 - y0, x1 - x0)
    size = 7.0
    left = (x1 - size * math.cos(ang - 0.35), y1 - size * math.sin(ang - 0.35))
    right = (x1 - size * math.cos(ang + 0.35), y1 - size * math.sin(ang + 0.35))
    d.add(Polygon([x1, y1, *left, *right], fillColor=colour, strokeColor=colour, strokeWidth=0.5))


def phasor_diagram(phases: tuple[PhaseReading, ...], size: float = 210.0) -> Drawing:
    """Voltage (solid, full length) and current (dashed, shorter) arrows per phase, labelled Va, Ia...

    Lagging convention: an angle ``a`` lagging is drawn ``a`` degrees *clockwise* from V(A), which points
    right; so with ABC rotation V(B) at 120 deg lag sits lower left and V(C) upper left.
    """
    register_fonts()
    d = Drawing(size, size)
    cx = cy = size / 2
    r = size / 2 - 24
    d.add(Circle(cx, cy, r, strokeColor=GRID, fillColor=None, strokeWidth=0.6))
    d.add(Line(cx - r, cy, cx + r, cy, strokeColor=GRID, strokeWidth=0.5))
    d.add(Line(cx, cy - r, cx, cy + r, strokeColor=GRID, strokeWidth=0.5))
    for deg, label in ((90, "90\u00b0"), (180, "180\u00b0"), (270, "270\u00b0")):
        a = -math.radians(deg)
        tx, ty = cx + (r + 12) * math.cos(a), cy + (r + 12) * math.sin(a) - 3
        d.add(String(tx, ty, label, fontName=FONT, fontSize=6.5, fillColor=colors.grey, textAnchor="middle"))
    vmax = max((p.voltage_v for p in phases), default=0.0) or 1.0
    imax = max((p.current_a for p in phases), default=0.0) or 1.0
    # voltages first, then currents on top, so a current in phase with its voltage stays visible
    arrows = [(p, p.voltage_v, vmax, p.voltage_deg, f"V{p.phase.lower()}", False, 1.0) for p in phases]
    arrows += [(p, p.current_a, imax, p.current_deg, f"I{p.phase.lower()}", True, 0.62) for p in phases]
    for p, mag, full, deg, name, dashed, scale in arrows:
        colour = PHASE_COLOURS.get(p.phase, colors.black)
        if mag <= 0:
            continue
        length = r * scale * mag / full
        a = -math.radians(deg)  # lagging angles are drawn clockwise
        x1, y1 = cx + length * math.cos(a), cy + length * math.sin(a)
        _arrow(d, cx, cy, x1, y1, colour, 1.6 if not dashed else 1.2, dashed)
        lx, ly = cx + (length + 9) * math.cos(a), cy + (length + 9) * math.sin(a) - 3
        # currents near their voltage: nudge the label sideways so the two do not overprint
        if dashed:
            lx += 8 * math.cos(a - math.pi / 2)
            ly += 8 * math.sin(a - math.pi / 2)
        d.add(String(lx, ly, name, fontName=BOLD, fontSize=8, fillColor=colour, textAnchor="middle"))
    return d


def _nice_step(span: float) -> float:
    raw = span / 5
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def error_chart(points: tuple[PointResult, ...], width: float = 480.0, height: float = 210.0) -> Drawing:
    """Error (%) against test current (A, log scale) with U error bars and +/- limit marks per point.

    As-found points are open squares, as-left points filled circles, each exactly at its test current;
    points at the same current (FL and PF, element tests) are told apart by their point-id labels, placed
    on alternate sides so none hides another.
    """
    register_fonts()
    d = Drawing(width, height)
    left, bottom, right, top = 48.0, 34.0, width - 12.0, height - 20.0
    currents = [p.current_a for p in points if p.current_a > 0]
    lo_i, hi_i = min(currents), max(currents)
    x_lo = 10 ** math.floor(math.log10(lo_i) - 0.15)
    x_hi = 10 ** math.ceil(math.log10(hi_i) + 0.15)
    span_y = (
        max(max(abs(p.error_pct) + p.expanded_u_pct for p in points), max(p.limit_pct for p in points)) * 1.25
    )
    step = _nice_step(2 * span_y)
    y_max = math.ceil(span_y / step) * step
    y_min = -y_max

    def px(i: float) -> float:
        return left + (math.log10(i) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * (
            right - left
        )

    def py(e: float) -> float:
        return bottom + (e - y_min) / (y_max - y_min) * (top - bottom)

    d.add(
        Rect(
            left, bottom, right - left, top - bottom, strokeColor=colors.grey, fillColor=None, strokeWidth=0.6
        )
    )
    y = y_min
    while y <= y_max + 1e-9:
        d.add(Line(left, py(y), right, py(y), strokeColor=GRID, strokeWidth=0.4))
        d.add(
            String(
                left - 4,
                py(y) - 3,
                f"{y:+.2f}" if abs(y) > 1e-12 else "0",
                fontName=FONT,
                fontSize=7,
                textAnchor="end",
            )
        )
        y += step
    d.add(Line(left, py(0), right, py(0), strokeColor=colors.black, strokeWidth=0.7))
    decade = x_lo
    while decade <= x_hi * 1.0001:
        for m in range(1, 10):
            x = decade * m
            if x_lo <= x <= x_hi * 1.0001:
                d.add(Line(px(x), bottom, px(x), top, strokeColor=GRID, strokeWidth=0.5 if m == 1 else 0.25))
                if m in (1, 2, 5):
                    label = f"{x:g}"
                    d.add(String(px(x), bottom - 10, label, fontName=FONT, fontSize=7, textAnchor="middle"))
        decade *= 10
    d.add(
        String(
            (left + right) / 2,
            4,
            "Test current (A, logarithmic scale)",
            fontName=FONT,
            fontSize=7.5,
            textAnchor="middle",
        )
    )
    d.add(
        Group(
            String(0, 0, "Error (%)", fontName=FONT, fontSize=7.5, textAnchor="middle"),
            transform=(0, 1, -1, 0, 12, (bottom + top) / 2),
        )
    )

    elements = sorted({p.element for p in points if p.element != "series"})
    labelled = [p for p in points if p.stage == "as-left" or len({q.stage for q in points}) == 1]
    labels = _label_places(labelled, px, py)
    for p in points:
        x = px(p.current_a)  # exactly at the test current: points sharing it differ by label, not by x
        # limit marks: short dashed bars at +/- limit
        for sign in (1, -1):
            d.add(
                Line(
                    x - 5,
                    py(sign * p.limit_pct),
                    x + 5,
                    py(sign * p.limit_pct),
                    strokeColor=LIMIT_COLOUR,
                    strokeWidth=1.4,
                    strokeDashArray=[2, 1],
                )
            )
        y0, y1 = py(p.error_pct - p.expanded_u_pct), py(p.error_pct + p.expanded_u_pct)
        d.add(Line(x, y0, x, y1, strokeColor=colors.black, strokeWidth=0.8))
        d.add(Line(x - 2.5, y0, x + 2.5, y0, strokeColor=colors.black, strokeWidth=0.8))
        d.add(Line(x - 2.5, y1, x + 2.5, y1, strokeColor=colors.black, strokeWidth=0.8))
        if p.stage == "as-found":
            d.add(
                Rect(
                    x - 2.6,
                    py(p.error_pct) - 2.6,
                    5.2,
                    5.2,
                    strokeColor=colors.black,
                    fillColor=colors.white,
                    strokeWidth=0.8,
                )
            )
        else:
            d.add(
                Circle(
                    x, py(p.error_pct), 2.8, strokeColor=colors.black, fillColor=colors.HexColor("#1F3A5F")
                )
            )
    for (lx, ly, anchor), text in labels:
        d.add(String(lx, ly, text, fontName=FONT, fontSize=6, textAnchor=anchor))
    # legend
    lx = left + 6
    ly = top + 7
    d.add(Circle(lx, ly + 2.5, 2.6, strokeColor=colors.black, fillColor=colors.HexColor("#1F3A5F")))
    d.add(String(lx + 6, ly, "as left", fontName=FONT, fontSize=7))
    d.add(Rect(lx + 44, ly, 5, 5, strokeColor=colors.black, fillColor=colors.white, strokeWidth=0.8))
    d.add(String(lx + 52, ly, "as found", fontName=FONT, fontSize=7))
    d.add(Line(lx + 96, ly - 1, lx + 96, ly + 6, strokeColor=colors.black))
    d.add(String(lx + 100, ly, "bar = expanded uncertainty U", fontName=FONT, fontSize=7))
    d.add(
        Line(
            lx + 210,
            ly + 2.5,
            lx + 222,
            ly + 2.5,
            strokeColor=LIMIT_COLOUR,
            strokeWidth=1.4,
            strokeDashArray=[2, 1],
        )
    )
    d.add(String(lx + 226, ly, "acceptance limit (+/-)", fontName=FONT, fontSize=7))
    d.add(
        String(
            lx + 316,
            ly,
            "labels: test point" + (" (-A/-B/-C: one element)" if elements else ""),
            fontName=FONT,
            fontSize=7,
        )
    )
    return d


def _label_places(points, px, py) -> list[tuple[tuple[float, float, str], str]]:
    """Where each point's id label goes: beside its marker, alternating right and left among points at the
    same current (FL and PF, element tests), and moved up clear of a label already placed on that side, so
    labels never overprint while every marker stays at its exact current."""
    groups: dict[float, list[PointResult]] = {}
    for p in points:
        groups.setdefault(round(p.current_a, 9), []).append(p)
    out = []
    for group in groups.values():
        taken: dict[str, list[float]] = {"start": [], "end": []}
        for k, p in enumerate(sorted(group, key=lambda q: q.error_pct)):
            anchor = "start" if k % 2 == 0 else "end"
            x = px(p.current_a) + (4.0 if anchor == "start" else -4.0)
            y = py(p.error_pct) + 3
            while any(abs(y - t) < 6.5 for t in taken[anchor]):
                y += 6.5
            taken[anchor].append(y)
            out.append(((x, y, anchor), p.point_id))
    return out


class QrCode(Flowable):
    """A QR code encoded once (at construction) and drawn as one filled path of its dark runs.

    reportlab's ``QrCodeWidget`` encodes its data again on every ``draw()`` (and ``getBounds()`` draws), and
    emits one shape per run; this draws the same modules, with the same quiet zone of ``border`` modules,
    scaled to a ``side`` x ``side`` square.
    """

    def __init__(self, payload: str, side: float, *, level: str = "M", border: int = 4):
        super().__init__()
        qr = qrencoder.QRCode(None, getattr(qrencoder.QRErrorCorrectLevel, level))
        qr.addData(payload)
        qr.version = qr.calculate_version()
        # what qr.make() does, with the Reed-Solomon codewords from cached generator polynomials and the
        # data modules placed and masked, and the mask chosen, in numpy
        qr.dataCache = _create_data(qr)
        rows, cols = _data_positions(qr.version)
        bits = np.zeros(len(rows), dtype=bool)
        data = np.unpackbits(np.array(qr.dataCache, dtype=np.uint8)).astype(bool)[: len(rows)]
        bits[: len(data)] = data
        mask = _best_mask(_function_patterns(qr, True, 0), rows, cols, bits)
        final = _function_patterns(qr, False, mask)
        final[rows, cols] = bits ^ qrencoder.QRUtil.getMask(mask)(rows, cols).astype(bool)
        self.modules: list[list[bool]] = final.tolist()
        self.border = border
        self.width = self.height = side

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """(row, first column, length) of every horizontal run of dark modules, top row first."""
        m = np.asarray(self.modules, dtype=np.int8)
        edges = np.diff(np.pad(m, ((0, 0), (1, 1))), axis=1)  # +1 where a run starts, -1 after it ends
        rows, starts = np.nonzero(edges == 1)
        _rows, ends = np.nonzero(edges == -1)  # row-major: the n-th end closes the n-th start
        return list(zip(rows.tolist(), starts.tolist(), (ends - starts).tolist(), strict=True))

    def wrap(self, avail_width, avail_height):
        return self.width, self.height

    def draw(self):
        box = self.width / (len(self.modules) + 2 * self.border)
        canv = self.canv
        canv.saveState()
        canv.setFillColor(colors.black)
        # in module units, rows counted down from the top left of the symbol: each run is a rectangle of
        # whole numbers, written as PDF path operators at once (one reportlab call per run was most of
        # the QR code's drawing) and filled as one path (ISO 32000-1 §8.5.2.1 "re", §8.5.3.1 "f")
        canv.transform(box, 0, 0, -box, self.border * box, self.height - self.border * box)
        canv.addLiteral(" ".join(f"{c} {r} {n} 1 re" for r, c, n in self.dark_runs()) + " f")
        canv.restoreState()


_FINDER_LIKE = np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)


def _function_patterns(qr, test: bool, mask: int) -> np.ndarray:
    """The symbol's finder, alignment, timing, format and version modules (data modules light), as
    ``QRCode.makeImpl`` lays them out before it maps the data."""
    n = qr.moduleCount = qr.version * 4 + 17
    qr.modules = [[False] * n for _ in range(n)]
    qr.setupPositionProbePattern(0, 0)
    qr.setupPositionProbePattern(n - 7, 0)
    qr.setupPositionProbePattern(0, n - 7)
    qr.setupPositionAdjustPattern()
    qr.setupTimingPattern()
    qr.setupTypeInfo(test, mask)
    if qr.version >= 7:
        qr.setupTypeNumber(test)
    return np.array(qr.modules, dtype=bool)


@functools.cache
def _data_positions(version: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the data modules of a symbol version, in reportlab's placement order."""
    qr = qrencoder.QRCode(version, qrencoder.QRErrorCorrectLevel.M)
    qr.moduleCount = version * 4 + 17
    cols, rows = (np.array(a) for a in zip(*qr.dataPosIterator(), strict=True))
    return rows, cols


@functools.cache
def _generator_logs(ec_count: int) -> tuple[int, ...]:
    """log of each coefficient (after the leading 1) of the Reed-Solomon generator polynomial."""
    num = qrencoder.QRUtil.getErrorCorrectPolynomial(ec_count).num
    return tuple(qrencoder.LOG_TABLE[c] for c in num[1:])


def _remainder(data: list[int], ec_count: int) -> list[int]:
    """The ``ec_count`` error-correction codewords of ``data``: the remainder of data x^ec by the
    generator, by the usual shift-register division (what ``QRPolynomial.mod`` computes)."""
    gen, exp, log = _generator_logs(ec_count), qrencoder.EXP_TABLE, qrencoder.LOG_TABLE
    reg = list(data) + [0] * ec_count
    for i in range(len(data)):
        coef = reg[i]
        if coef:
            lc = log[coef]
            for j, g in enumerate(gen, start=i + 1):
                reg[j] ^= exp[(g + lc) % 255]
    return reg[len(data) :]


class _Bits:
    """``QRBitBuffer`` (put, putBit, getLengthInBits, buffer) keeping its bits in one integer: reportlab's
    sets them one Python call per bit, a fifth of a QR code's encoding."""

    def __init__(self):
        self.value, self.length = 0, 0

    def put(self, num: int, length: int) -> None:
        # the low ``length`` bits of num, most significant first, as QRBitBuffer.put appends them
        self.value = (self.value << length) | (num & ((1 << length) - 1))
        self.length += length

    def putBit(self, bit) -> None:  # noqa: N802 - reportlab's name
        self.put(1 if bit else 0, 1)

    def getLengthInBits(self) -> int:  # noqa: N802 - reportlab's name
        return self.length

    @property
    def buffer(self) -> list[int]:
        """The bytes, the last one filled with zero bits (as QRBitBuffer leaves it)."""
        n = (self.length + 7) // 8
        return list((self.value << (8 * n - self.length)).to_bytes(n, "big"))


def _create_data(qr) -> list[int]:
    """``QRCode.createData``: the data codewords with padding, then each block's error correction,
    interleaved as reportlab does."""
    blocks = qrencoder.QRRSBlock.getRSBlocks(qr.version, qr.errorCorrectLevel)
    buffer = _Bits()
    for item in qr.dataList:
        item.write(buffer, qr.version)
    total = sum(b.dataCount for b in blocks) * 8
    if buffer.getLengthInBits() > total:
        raise ValueError(f"QR code length overflow ({buffer.getLengthInBits()} > {total})")
    if buffer.getLengthInBits() + 4 <= total:
        buffer.put(0, 4)
    if buffer.getLengthInBits() % 8:
        buffer.put(0, 8 - buffer.getLengthInBits() % 8)
    pad = itertools.cycle((qrencoder.QRCode.PAD0, qrencoder.QRCode.PAD1))
    while buffer.getLengthInBits() < total:
        buffer.put(next(pad), 8)
    codewords = buffer.buffer
    dc, ec, offset = [], [], 0
    for b in blocks:
        dc.append(codewords[offset : offset + b.dataCount])
        offset += b.dataCount
        ec.append(_remainder(dc[-1], b.totalCount - b.dataCount))
    return [d for group in (dc, ec) for col in itertools.zip_longest(*group) for d in col if d is not None]


def _best_mask(base: np.ndarray, rows: np.ndarray, cols: np.ndarray, bits: np.ndarray) -> int:
    """The mask pattern reportlab's ``QRCode.getBestMaskPattern`` picks, found in numpy.

    reportlab lays out the whole symbol in Python for each of the eight masks and scores each with Python
    loops. Only the data modules depend on the mask (in the trial layout the format bits are all light),
    so the eight trial layouts are masked with arrays and scored together by the same four penalty
    rules, computed as reportlab computes them; the first lowest score wins, as there.
    """
    m = np.repeat(base[np.newaxis], 8, axis=0)
    m[:, rows, cols] = bits ^ _masks(len(base))
    return int(np.argmin(_lost_points(m)))


@functools.cache
def _masks(modules: int) -> np.ndarray:
    """The eight mask patterns over the data modules of a symbol ``modules`` wide, in placement order."""
    rows, cols = _data_positions((modules - 17) // 4)
    return np.array([qrencoder.QRUtil.getMask(k)(rows, cols) for k in range(8)], dtype=bool)


def _runs_scores(m: np.ndarray) -> np.ndarray:
    """Penalty 1 along the rows of each layout of ``m`` (layouts, rows, columns): each run of five or more
    same-coloured modules scores length - 2."""
    k, r, c = m.shape
    bounds = np.ones((k, r, c + 1), dtype=bool)  # a run starts after each True
    bounds[:, :, 1:-1] = m[:, :, 1:] != m[:, :, :-1]
    at = np.flatnonzero(bounds)
    lengths = np.diff(at)  # across a row's (or a layout's) end: a length of 1, never scored
    scored = np.where(lengths >= 5, lengths - 2, 0)
    return np.bincount(at[:-1] // (r * (c + 1)), weights=scored, minlength=k).astype(np.int64)


def _finder_scores(m: np.ndarray) -> np.ndarray:
    """Penalty 3 along the rows: 40 per 1:1:3:1:1 pattern followed by four light modules, at the start
    positions reportlab scans (it stops one short of the last)."""
    n = m.shape[2] - len(_FINDER_LIKE)
    light = ~m
    found = np.ones((m.shape[0], m.shape[1], n), dtype=bool)
    for j, dark in enumerate(_FINDER_LIKE):  # the window starting at each position matches, module by module
        found &= (m if dark else light)[:, :, j : j + n]
    return 40 * found.sum(axis=(1, 2))


def _lost_points(m: np.ndarray) -> np.ndarray:
    """reportlab's penalty score of each layout of ``m`` (layouts, rows, columns)."""
    same = (
        (m[:, 1:, 1:] == m[:, 1:, :-1]) & (m[:, 1:, 1:] == m[:, :-1, 1:]) & (m[:, 1:, 1:] == m[:, :-1, :-1])
    )
    dark = m.sum(axis=(1, 2))
    size = m.shape[1] * m.shape[2]
    return (
        _runs_scores(m)
        + _runs_scores(m.transpose(0, 2, 1))
        + 3 * same.sum(axis=(1, 2))
        + _finder_scores(m)  # rows only: reportlab's column scan compares tuples to a list, and scores 0
        + 10 * (np.abs(100 * dark // size - 50) // 5)
    )
