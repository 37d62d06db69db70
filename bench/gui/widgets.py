"""The window's display pieces: the status strip, the error plot and the phasor diagram.

Readable at arm's length: large text, and every state is written out in words; colour only repeats
what the words say (a colour-blind technician, or a monochrome screenshot, loses nothing).
"""

from __future__ import annotations

from datetime import date

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


class PlotSlot(QLabel):
    """Where a plot goes until pyqtgraph is loaded behind the first paint: takes data, draws nothing.

    Swapped for the real plot (:mod:`bench.gui.plots`) a moment after the window first paints.
    """

    def __init__(self, text: str = "loading the plot…", parent=None) -> None:
        super().__init__(text, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("color:#888888; background:white;")

    def reset(self) -> None:
        pass

    def add(self, *args) -> None:
        pass

    def redraw(self) -> None:
        pass

    def set_phases(self, phases: dict, caption: str = "") -> None:
        pass
