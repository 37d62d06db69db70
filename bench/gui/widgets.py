"""The window's display pieces: the status strip, the error plot and the phasor diagram.

Readable at arm's length: large text, and every state is written out in words; colour only repeats
what the words say (a colour-blind technician, or a monochrome screenshot, loses nothing).
"""

from __future__ import annotations

import math
from datetime import date

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

# state -> (words shown, background, text colour)
STATES = {
    "empty": ("EMPTY", "#e6e6e6", "#555555"),
    "loaded": ("LOADED", "#dbe9f7", "#123a63"),
    "testing": ("TESTING", "#fff2b3", "#4d3b00"),
    "passed": ("PASSED", "#c9f0c9", "#0b4d0b"),
    "failed": ("FAILED", "#f7c6c6", "#7a0000"),
    "no pulses": ("NO PULSES", "#ffd8a8", "#6b3300"),
    "wiring fault": ("WIRING FAULT", "#f0c6f0", "#5c005c"),
    "aborted": ("ABORTED", "#e6e6e6", "#333333"),
    "error": ("STOPPED (ERROR)", "#e6e6e6", "#7a0000"),
}
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "indeterminate": "INDETERMINATE", "info": "info"}
VERDICT_COLOURS = {"pass": "#0b6b0b", "fail": "#b00000", "indeterminate": "#8a5a00", "info": "#333333"}
PHASE_COLOURS = {"A": "#c00000", "B": "#1f1f1f", "C": "#0050c0"}
CAL_WARN_DAYS = 30


def big_font(points: int, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSize(points)
    f.setBold(bold)
    return f


class StatusStrip(QWidget):
    """The bottom strip: source state (ENERGISED unmistakable), instruments, reference calibration."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        self.source = QLabel()
        self.source.setFont(big_font(16, True))
        self.source.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.source.setMinimumWidth(260)
        self.instruments = QLabel("Instruments: not checked")
        self.instruments.setFont(big_font(11))
        self.instruments.setWordWrap(True)
        self.calibration = QLabel("Reference: no bench file")
        self.calibration.setFont(big_font(11, True))
        self.calibration.setWordWrap(True)
        self.run = QLabel("Idle")
        self.run.setFont(big_font(13, True))
        lay.addWidget(self.source)
        lay.addWidget(self.run, 2)
        lay.addWidget(self.instruments, 3)
        lay.addWidget(self.calibration, 3)
        self.energised: bool | None = False
        self.cal_state = "none"
        self.set_source(False)

    def set_source(self, on: bool | None) -> None:
        self.energised = on
        if on:
            text, style = "⚡ ENERGISED ⚡", "background:#d00000; color:white; border:3px solid black;"
        elif on is None:
            text, style = "SOURCE STATE UNKNOWN", "background:#ffb000; color:black; border:3px solid black;"
        else:
            text, style = "Source OFF (safe)", "background:#d8d8d8; color:#222; border:1px solid #888;"
        self.source.setText(text)
        self.source.setStyleSheet(style + " padding:4px;")
        self.source.setAccessibleName(text)

    def set_instruments(self, status: dict) -> None:
        parts, full, ok_kinds = [], [], {}
        for role, s in status.items():
            full.append(f"{role}: {'connected' if s['ok'] else 'NOT CONNECTED'} ({s['text']})")
            if s["ok"]:  # "calculator 1".."calculator 24" connected: one "24 calculator ✔"
                kind = role.rstrip("0123456789 ") or role
                ok_kinds[kind] = ok_kinds.get(kind, 0) + 1
            else:
                parts.append(f"{role} ✘ NOT CONNECTED ({s['text'][:60]})")
        parts = [f"{k} ✔" if n == 1 else f"{n} × {k} ✔" for k, n in ok_kinds.items()] + parts
        # one short line per instrument state; what each answered is in the tooltip
        self.instruments.setText("Instruments: " + ", ".join(parts) if parts else "Instruments: not checked")
        self.instruments.setToolTip("\n".join(full))

    def set_calibration(self, cal, today: date | None = None) -> str:
        """Show the reference's due date; returns "ok", "due soon" or "overdue" (Start refuses the last)."""
        if cal is None:
            self.cal_state = "none"
            self.calibration.setText("Reference: no calibration data")
            return self.cal_state
        today = today or date.today()
        days = (cal.due - today).days
        if cal.overdue(today):
            self.cal_state = "overdue"
            text = f"Reference cal OVERDUE since {cal.due.isoformat()} — testing refused"
            style = "background:#d00000; color:white;"
        elif days <= CAL_WARN_DAYS:
            self.cal_state = "due soon"
            text = f"Reference cal due {cal.due.isoformat()} — WARNING: in {days} days"
            style = "background:#ffcc00; color:black;"
        else:
            self.cal_state = "ok"
            text = f"Reference {cal.certificate}: cal due {cal.due.isoformat()} (OK)"
            style = "color:#0b4d0b;"
        self.calibration.setText(text)
        self.calibration.setStyleSheet(style + " padding:2px;")
        return self.cal_state


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
