"""Bench time: one clock shared by the engine, the drivers and the simulator.

Drivers never sleep blindly; they poll with :func:`instruments.interfaces.wait_until` on the bench's
clock. In tests and demos the clock is virtual (``sleep`` advances time instantly, so a 60 s gate takes
no wall time) or scaled (N x real time, so a GUI shows progress without waiting minutes).
"""

from __future__ import annotations

import threading
import time


class VirtualClock:
    """Simulated seconds that advance only when someone sleeps: as fast as possible."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        with self._lock:
            self._t += seconds

    def advance(self, seconds: float) -> None:
        """Let time pass without a caller sleeping (tests)."""
        self.sleep(seconds)


class RealClock:
    """Wall time (monotonic), for real instruments."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        time.sleep(seconds)


class ScaledClock:
    """Bench time running ``speed`` times faster than wall time (simulation only)."""

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 (found {speed})")
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        time.sleep(seconds / self.speed)


def clock_for_speed(speed: float | None):
    """The clock a bench file's ``simulation.speed`` asks for: 0 virtual, N scaled, None real."""
    if speed is None:
        return RealClock()
    if speed == 0:
        return VirtualClock()
    return ScaledClock(speed)
