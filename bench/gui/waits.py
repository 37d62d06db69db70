"""Time remaining on the long waits of a run: warm-up, creep and starting windows, long gates.

The kernel says when a long wait begins and how long it should last in bench seconds (``warmup`` and
``waiting`` records, stamped with the bench time). Between records the bar counts down on the wall
clock at the bench's speed (1 on a real bench; N for a simulation at N x real time; a virtual-time
simulation has no wall-clock rate and is shown from the records' stamps alone). A pause freezes it; the
next result or point ends it.
"""

from __future__ import annotations

import math
import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from bench.gui.widgets import big_font

#: records that end the wait on screen (what was waited for has arrived, or something else began)
ENDS = {"reading", "point_done", "creep", "starting", "point_started", "run_finished", "position_failed"}
NAMES = {"warmup": "WARM-UP", "creep": "CREEP window", "starting": "STARTING window", "gate": "GATE"}


def clock_text(seconds: float) -> str:
    """``7:32`` or ``1:02:05`` (bench seconds, rounded up: a wait never shows 0:00 while it lasts)."""
    s = max(0, math.ceil(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class WaitBar(QWidget):
    """A progress bar with the time remaining of the wait now going on (hidden when there is none)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("")
        self.label.setFont(big_font(12, True))
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(18)
        lay.addWidget(self.label)
        lay.addWidget(self.bar, 1)
        self.rate = 1.0  # bench seconds per wall second (0: virtual time)
        self.what = ""
        self.point = ""
        self.start = self.seconds = 0.0
        self.bench_now = 0.0  # the latest record's bench time ...
        self.wall_at = 0.0  # ... and when it was seen
        self.paused = False
        self.setVisible(False)

    def on_event(self, ev, running_point: str = "") -> None:
        """Every engine record passes here (cheap unless it starts or ends a wait)."""
        if ev.bench_time >= self.bench_now:
            self.bench_now, self.wall_at = ev.bench_time, time.monotonic()
        kind = ev.kind
        if kind in ("warmup", "waiting"):
            self.what = "warmup" if kind == "warmup" else ev.data.get("what", "gate")
            self.point = "" if kind == "warmup" else running_point
            self.start, self.seconds = ev.bench_time, float(ev.data.get("seconds") or 0.0)
            self.paused = False
            self.setVisible(self.seconds > 0)
            self.tick()
        elif kind == "paused":
            self.paused = True
            self.tick()
        elif kind == "resumed":
            self.paused = False
        elif self.what and (kind in ENDS or (self.what == "warmup" and kind == "point_started")):
            self.stop()

    def stop(self) -> None:
        self.what = ""
        self.setVisible(False)

    def remaining(self) -> float:
        """Bench seconds left of the wait now going on."""
        if not self.what:
            return 0.0
        now = self.bench_now
        if self.rate > 0 and not self.paused:
            now += (time.monotonic() - self.wall_at) * self.rate
        return max(0.0, self.start + self.seconds - now)

    def tick(self) -> None:
        """Redraw (the window's 4-per-second timer calls it while a wait is shown)."""
        if not self.what:
            return
        left = self.remaining()
        done = 1.0 - left / self.seconds if self.seconds else 1.0
        self.bar.setValue(round(1000 * min(1.0, max(0.0, done))))
        name = NAMES.get(self.what, self.what.upper())
        point = f" {self.point}" if self.point and self.what == "gate" else ""
        state = " — PAUSED" if self.paused else ""
        self.label.setText(f"{name}{point}: {clock_text(left)} left of {clock_text(self.seconds)}{state}")
