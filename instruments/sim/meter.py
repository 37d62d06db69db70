"""A simulated meter's behaviour: its true error curve, noise, starting current, creep, pulses.

The error curve is data from the bench file: rows of (current as a fraction of TA / Ib, current lag in
degrees, error %). Between rows the error is interpolated linearly in current (per angle) and then in
angle; outside the rows the nearest row's value holds. Sign: error = %R - 100, positive = meter fast.

Axes of the error model (every one defaults to today's meter: delivered active energy, one curve):
- direction: active power P > 0 is *delivered* (energy to the customer, current lag within +-90 deg),
  P < 0 *received* (lag beyond +-90 deg, e.g. 180 deg). A meter with ``bidirectional = false`` has a
  detent: received energy registers nothing and emits no pulses. A bidirectional meter registers
  received energy in its own register (``kWh_received``) with ``error_curve_received``, whose rows give
  the lag of the current from the *reversed* current (current lag - 180 deg: a received unity-PF point
  is row angle 0, current lag 240 deg is row angle 60); without that curve the delivered curve applies.
- test output: ``test_output`` "Wh" (default), "varh" or "VAh". Like a bidirectional meter's test LED,
  the output pulses for the ABSOLUTE energy of the quantity in whichever direction flows (a received
  point pulses at the same rate as the delivered one); a delivered-only meter's output stops while
  energy is received. ``test_output_direction`` ("both" default, "delivered", "received") restricts a
  bidirectional meter's output to one direction, as a meter programmed for a delivered-only or
  received-only test LED (its registers still follow both). varh pulses |Q| with
  ``error_curve_reactive``, VAh pulses S = |P + jQ| (the vector apparent power, the same for every form
  by Blondel) with ``error_curve_apparent``; the curves' rows use the same (fraction, lag) axes (for varh
  a lag of 90 deg is sin phi = 1; a quadrature point counts as delivered). Without a curve of its own a
  quantity has no error (0 %). Q > 0 for a lagging (inductive) current. Noise draws once per reading and
  applies to every quantity.
- influence: the error gains ``voltage_coefficient_percent_per_percent`` x (100 (|V| / voltage - 1))
  + ``frequency_coefficient_percent_per_hz`` x (f - frequency), with ``voltage`` and ``frequency`` the
  meter's nameplate (element) values; both coefficients 0 by default.
- harmonics: the source's harmonic active power, as a fraction ``harmonic_ratio`` of its fundamental
  active power (the physics works it out from the source's waveform), is registered with the error
  ``harmonic_error_percent`` (0 by default: a meter that measures the whole waveform; -100 registers the
  fundamental only, as a meter whose bandwidth ends below the harmonic would). Active energy only: the
  reactive and apparent outputs see the fundamental.
- per element: ``element_errors = {A = [...], B = [...]}`` gives an element (socket position A left, B
  centre, C right) its own delivered active curve, evaluated at that element's own current fraction,
  lag and voltage; elements without one use ``error_curve``. Without ``element_errors`` the meter is
  one curve at the mean current fraction and the lag of its largest element (today's model).
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
    energy_wh: float = 0.0  # delivered active energy register (Wh), its error included
    energy_received_wh: float = 0.0  # received active energy register (bidirectional meters only)
    output_units: float = 0.0  # test-output energy in its quantity's unit (Wh, varh or VAh)
    element_names: tuple[str, ...] = ()  # the form's element names, in element_phasors order
    noise_percent: float = 0.0  # this reading's noise draw
    _rng: random.Random = field(init=False)
    # called with the delivered register's new value each time the physics integrates it (the meter's own
    # demand and TOU memory follows it: instruments.sim.meter_memory)
    observers: list = field(default_factory=list, repr=False, compare=False)

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        if name == "energy_wh":
            for seen in self.__dict__.get("observers", ()):
                seen(value)

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
        return math.floor(self.output_units / self.spec.kt + 1e-9)

    def rates(
        self, elements: list[tuple[complex, complex]], frequency_hz: float, harmonic_ratio: float = 0.0
    ) -> tuple[float, float, float]:
        """(delivered W, received W, test-output rate in its unit per hour) for the element phasors; the
        source's harmonic active power is ``harmonic_ratio`` x the fundamental's."""
        spec = self.spec
        if not spec.simple:
            return self._rates(elements, frequency_hz, harmonic_ratio)
        w = max(self.registered_watts(elements), 0.0)  # today's meter: delivered active energy only
        if harmonic_ratio and w > 0:
            w += harmonic_ratio * sum((v * i.conjugate()).real for v, i in elements)
        return w, 0.0, w

    def _rates(
        self, elements: list[tuple[complex, complex]], frequency_hz: float, harmonic_ratio: float = 0.0
    ) -> tuple[float, float, float]:
        spec = self.spec
        if spec.dead:
            return 0.0, 0.0, 0.0
        currents = [abs(i) for _, i in elements]
        s = sum((v * i.conjugate() for v, i in elements), 0j)
        loaded = max(currents, default=0.0) > max(spec.starting_current_a, 1e-9)
        if not loaded:
            w = self.registered_watts(elements)  # creep (or nothing)
            return w, 0.0, w
        received = s.real < -1e-9 * abs(s)  # a quadrature (pure var) point counts as delivered
        if received and not spec.bidirectional:
            return 0.0, 0.0, 0.0  # detent
        live = [i for i in currents if i > 1e-9]
        fraction = (sum(live) / len(live)) / spec.rated_current
        v, i = max(elements, key=lambda e: abs(e[0]) * abs(e[1]))
        lag = _wrap180(math.degrees(_phase(v) - _phase(i)) - (180.0 if received else 0.0))
        extra = self.noise_percent + self._influence(abs(v), frequency_hz)
        if received:
            active = abs(s.real) * (1.0 + (curve_error(spec.received_curve, fraction, lag) + extra) / 100.0)
        elif spec.element_errors:
            active = self._per_element(elements, frequency_hz)
        else:
            active = s.real * (1.0 + (curve_error(spec.error_curve, fraction, lag) + extra) / 100.0)
        active += harmonic_ratio * abs(s.real) * (1.0 + spec.harmonic_error_percent / 100.0)
        if spec.test_output_direction not in ("both", "received" if received else "delivered"):
            out = 0.0
        elif spec.test_output == "varh":
            out = abs(s.imag) * (
                1.0 + (curve_error(spec.error_curve_reactive, fraction, lag) + extra) / 100.0
            )
        elif spec.test_output == "VAh":
            out = abs(s) * (1.0 + (curve_error(spec.error_curve_apparent, fraction, lag) + extra) / 100.0)
        else:
            out = active
        return (0.0, active, out) if received else (active, 0.0, out)

    def _influence(self, volts: float, frequency_hz: float) -> float:
        spec = self.spec
        return spec.voltage_coefficient * 100.0 * (
            volts / spec.voltage - 1.0
        ) + spec.frequency_coefficient * (frequency_hz - spec.frequency)

    def _per_element(self, elements: list[tuple[complex, complex]], frequency_hz: float) -> float:
        """Delivered watts registered element by element, each with its own curve (``element_errors``)."""
        curves = dict(self.spec.element_errors)
        total = 0.0
        for name, (v, i) in zip(self.element_names, elements, strict=True):
            p = (v * i.conjugate()).real
            if abs(i) <= 1e-9:
                continue
            lag = _wrap180(math.degrees(_phase(v) - _phase(i)))
            err = curve_error(curves.get(name, self.spec.error_curve), abs(i) / self.spec.rated_current, lag)
            total += p * (1.0 + (err + self.noise_percent + self._influence(abs(v), frequency_hz)) / 100.0)
        return total

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
