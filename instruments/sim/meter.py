"""A simulated meter's behaviour: its true error curve, noise, starting current, creep, pulses.

The error curve is data from the bench file: rows of (current as a fraction of TA / Ib, current lag in
degrees, error %). Between rows the error is interpolated linearly in current (per angle) and then in
angle; outside the rows the nearest row's value holds. Sign: error = %R - 100, positive = meter fast.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from dataclasses import dataclass, field

from instruments.benchfile import SimMeter


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    k = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def curve_error(curve: tuple[tuple[float, float, float], ...], fraction: float, lag_deg: float) -> float:
    """The meter's true error (%) at a current fraction and lag, from its error-curve rows."""
    if not curve:
        return 0.0
    by_angle: dict[float, list[tuple[float, float]]] = {}
    for frac, lag, err in curve:
        by_angle.setdefault(lag, []).append((frac, err))
    angles = sorted(by_angle)
    at_angle = []
    for a in angles:
        rows = sorted(by_angle[a])
        at_angle.append(_interp(fraction, [r[0] for r in rows], [r[1] for r in rows]))
    return _interp(lag_deg, angles, at_angle)


@dataclass
class MeterState:
    """A meter in a socket while the bench runs: energy registered and pulses emitted."""

    spec: SimMeter
    seed: int
    energy_wh: float = 0.0  # energy that drives the test output (forward only)
    noise_percent: float = 0.0  # this reading's noise draw
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}/meter/{self.spec.position}")
        self.new_reading()

    def new_reading(self) -> None:
        """Draw the noise of the next reading (one gate)."""
        sd = self.spec.noise_percent
        self.noise_percent = self._rng.gauss(0.0, sd) if sd > 0 else 0.0

    def pulse_arrives(self, index: int) -> bool:
        """Whether test-output pulse number ``index`` reaches the pickup (intermittent pulses fault)."""
        f = self.spec.missed_pulse_fraction
        if f <= 0:
            return True
        digest = hashlib.blake2b(f"{self.seed}/{self.spec.position}/{index}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 >= f

    @property
    def pulses(self) -> int:
        """Pulse edges generated so far (before the pickup loses any)."""
        return math.floor(self.energy_wh / self.spec.kt + 1e-9)

    def registered_watts(self, elements: list[tuple[complex, complex]]) -> float:
        """Power driving the test output for element (voltage, current) phasors, true error and noise
        included; creep when no load current registers but voltage is applied."""
        if self.spec.dead:
            return 0.0
        currents = [abs(i) for _, i in elements]
        volts = [abs(v) for v, _ in elements]
        true_w = sum((v * i.conjugate()).real for v, i in elements)
        loaded = max(currents, default=0.0) > max(self.spec.starting_current_a, 1e-9)
        if loaded and true_w > 0:
            live = [i for i in currents if i > 1e-9]
            fraction = (sum(live) / len(live)) / self.spec.rated_current
            v, i = max(elements, key=lambda e: abs(e[0]) * abs(e[1]))
            lag = _wrap180(math.degrees(_phase(v) - _phase(i)))
            err = curve_error(self.spec.error_curve, fraction, lag) + self.noise_percent
            return true_w * (1.0 + err / 100.0)
        if not loaded and max(volts, default=0.0) > 0 and self.spec.creep_pulses_per_hour > 0:
            return self.spec.creep_pulses_per_hour * self.spec.kt  # Wh per hour = W
        return 0.0


def _phase(z: complex) -> float:
    return math.atan2(z.imag, z.real)


def _wrap180(a: float) -> float:
    a = math.fmod(a, 360.0)
    if a <= -180.0:
        a += 360.0
    elif a > 180.0:
        a -= 360.0
    return a
