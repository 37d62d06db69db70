"""The window's plots (pyqtgraph): the error per point and the phasor diagram.

pyqtgraph (and numpy under it) is the slowest import of the window, so this module is imported only
after the window's first paint (:meth:`bench.gui.window.MainWindow.start_behind`).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt

from bench.gui.widgets import big_font

PHASE_COLOURS = {"A": "#c00000", "B": "#1f1f1f", "C": "#0050c0"}


class ErrorPlot(pg.PlotWidget):
    """Error (%) against test point, one series per position, with expanded-uncertainty bars and limits."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.showGrid(x=False, y=True, alpha=0.3)
        self.setLabel("left", "error % (+ = meter fast)")
        self.getAxis("left").enableAutoSIPrefix(False)  # "500 (x0.001)" for 0.5 % misleads a technician
        self.setTitle("Error per point (bars: expanded U)", size="11pt")
        self.addLegend(offset=(5, 5), labelTextSize="8pt")
        self.columns: list[str] = []
        self.results: dict[int, dict[str, tuple[float, float, str]]] = {}
        self.limits: dict[str, tuple[float, float]] = {}
        self.dirty = False

    def reset(self) -> None:
        self.columns, self.results, self.limits = [], {}, {}
        self.dirty = True

    def add(self, position: int, column: str, error: float, u: float, verdict: str, lo, hi) -> None:
        if column not in self.columns:
            self.columns.append(column)
        self.results.setdefault(position, {})[column] = (error, u, verdict)
        if lo is not None and hi is not None:
            self.limits[column] = (float(lo), float(hi))
        self.dirty = True

    def redraw(self) -> None:
        """Update the plot in place (items are kept and given new data: rebuilding them is too slow)."""
        if not self.dirty:
            return
        self.dirty = False
        if not hasattr(self, "_limits_item"):
            self._limits_item = self.plot(
                [],
                [],
                pen=pg.mkPen("#b00000", width=2, style=Qt.PenStyle.DashLine),
                connect="pairs",
                name="limits",
            )
            self._series: dict[int, tuple] = {}
        self.getAxis("bottom").setTicks([[(i, c) for i, c in enumerate(self.columns)]])
        lx, ly = [], []
        for i, c in enumerate(self.columns):
            if c in self.limits:
                for y in self.limits[c]:
                    lx += [i - 0.4, i + 0.4]
                    ly += [y, y]
        self._limits_item.setData(lx, ly, connect="pairs")
        n = max(len(self.results), 1)
        symbols = ["o", "s", "t", "d", "+", "x", "star", "p"]
        for pos in [p for p in self._series if p not in self.results]:
            bars, dots = self._series.pop(pos)
            self.removeItem(bars)
            self.removeItem(dots)
        for k, (pos, res) in enumerate(sorted(self.results.items())):
            xs, ys, us = [], [], []
            for i, c in enumerate(self.columns):
                if c in res:
                    xs.append(i + (k - (n - 1) / 2) * min(0.6 / n, 0.12))
                    ys.append(res[c][0])
                    us.append(res[c][1])
            colour = pg.intColor(k, hues=max(n, 3))
            if pos not in self._series:
                bars = pg.ErrorBarItem(x=_arr([]), y=_arr([]), height=_arr([]), pen=colour)
                self.addItem(bars)
                dots = self.plot(
                    [],
                    [],
                    pen=None,
                    symbol=symbols[k % len(symbols)],
                    symbolBrush=colour,
                    symbolSize=8,
                    name=f"P{pos}" if n <= 8 else None,
                )
                self._series[pos] = (bars, dots)
            bars, dots = self._series[pos]
            bars.setData(x=_arr(xs), y=_arr(ys), height=_arr([2 * u for u in us]))
            dots.setData(xs, ys)


class PhasorPlot(pg.PlotWidget):
    """Phasor diagram from the reference: voltages solid, currents dashed, each labelled (VA, IA ...).

    Angles are lagging-positive and drawn clockwise from phase-A voltage at 0 deg (procedures.phasors).
    Lengths are normalised per kind (the largest voltage and the largest current reach the same radius).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.setAspectLocked(True)
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setTitle("Phasors (reference)", size="11pt")
        self.setXRange(-1.3, 1.3)
        self.setYRange(-1.3, 1.3)
        self.setMouseEnabled(False, False)
        self.phases: dict = {}
        self.caption = ""

    def prepare(self) -> None:
        """Create every phase's line, arrow and label now, hidden (creating them mid-run stalls the
        window for tens of milliseconds at the first stabilised point)."""
        self.set_phases({})
        for name in ("A", "B", "C"):
            colour = PHASE_COLOURS[name]
            self._items(f"V{name}", colour, Qt.PenStyle.SolidLine)
            self._items(f"I{name}", colour, Qt.PenStyle.DashLine)
        for items in self._drawn.values():
            for item in items:
                item.setVisible(False)

    def _items(self, key: str, colour: str, style) -> tuple:
        """The line, arrow head and label of one phasor, created once and then moved."""
        if key not in self._drawn:
            line = self.plot([0, 0], [0, 0], pen=pg.mkPen(colour, width=3, style=style))
            arrow = pg.ArrowItem(pos=(0, 0), angle=0, headLen=14, brush=colour, pen=colour)
            self.addItem(arrow)
            # V labels beyond the tip, I labels below their line: in phase they must not overlap
            label = pg.TextItem("", color=colour, anchor=(0.5, 0.5) if key[0] == "V" else (0.5, -0.2))
            label.setFont(big_font(10, True))
            self.addItem(label)
            self._drawn[key] = (line, arrow, label)
        return self._drawn[key]

    def set_phases(self, phases: dict, caption: str = "") -> None:
        self.phases, self.caption = phases, caption
        if not hasattr(self, "_drawn"):
            self._drawn: dict[str, tuple] = {}
            circle = [(math.cos(t / 50 * math.pi), math.sin(t / 50 * math.pi)) for t in range(101)]
            self.plot([c[0] for c in circle], [c[1] for c in circle], pen=pg.mkPen("#cccccc"))
            self.plot([-1.2, 1.2], [0, 0], pen=pg.mkPen("#dddddd"))
            self.plot([0, 0], [-1.2, 1.2], pen=pg.mkPen("#dddddd"))
        vmax = max((p.get("voltage_v", 0.0) for p in phases.values()), default=0.0) or 1.0
        imax = max((p.get("current_a", 0.0) for p in phases.values()), default=0.0) or 1.0
        shown = set()
        for name, p in sorted(phases.items()):
            colour = PHASE_COLOURS.get(name, "#444444")
            for kind, mag, lag, scale, style in (
                ("V", p.get("voltage_v", 0.0), p.get("voltage_lag_deg", 0.0), vmax, Qt.PenStyle.SolidLine),
                (
                    "I",
                    p.get("current_a", 0.0),
                    p.get("current_lag_deg", 0.0),
                    imax / 0.75,
                    Qt.PenStyle.DashLine,
                ),
            ):
                if mag <= 0:
                    continue
                key = f"{kind}{name}"
                shown.add(key)
                line, arrow, label = self._items(key, colour, style)
                r = mag / scale
                x, y = r * math.cos(math.radians(-lag)), r * math.sin(math.radians(-lag))
                line.setData([0, x], [0, y])
                arrow.setPos(x, y)
                arrow.setStyle(angle=180 + lag)
                label.setText(f"{key} {round(lag) % 360}°")  # 359.8 lagging reads 0°, not 360°
                k = 1.22 if kind == "V" else 0.6
                label.setPos(x * k, y * k)
        for key, items in self._drawn.items():
            for item in items:
                item.setVisible(key in shown)
        self.setTitle(f"Phasors (reference) — {caption}" if caption else "Phasors (reference)", size="10pt")


def _arr(values):
    import numpy as np

    return np.asarray(values, dtype=float)
