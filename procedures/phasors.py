"""Phasor arithmetic in the meter shop's convention.

Sign convention (stated once, used everywhere):
- Angles are in degrees, *lagging and positive*: a current at 60 deg lags its voltage by 60 deg.
- Phase-A voltage is the 0 deg reference. With ABC rotation V(B) sits at 120 deg and V(C) at 240 deg.
- Internally a phasor is a Python ``complex`` in the mathematical (counter-clockwise) sense, so a lagging
  angle ``a`` is stored as ``magnitude * exp(-j*a)``. Active power of an element is ``Re(V * conj(I))``
  and reactive power ``Im(V * conj(I))`` is positive for an inductive (lagging) load.
"""

from __future__ import annotations

import cmath
import math

ROTATIONS = ("ABC", "CBA")
_LAG_OF_PHASE = {"ABC": {"A": 0.0, "B": 120.0, "C": 240.0}, "CBA": {"A": 0.0, "B": 240.0, "C": 120.0}}


def phasor(magnitude: float, lag_deg: float) -> complex:
    """A phasor from its magnitude and lagging angle in degrees."""
    return cmath.rect(magnitude, -math.radians(lag_deg))


def lag_deg(z: complex) -> float:
    """The lagging angle of a phasor in [0, 360)."""
    if z == 0:
        return 0.0
    return (-math.degrees(cmath.phase(z))) % 360.0


def wrap180(angle_deg: float) -> float:
    """An angle folded into (-180, 180]."""
    a = math.fmod(angle_deg, 360.0)
    if a <= -180.0:
        a += 360.0
    elif a > 180.0:
        a -= 360.0
    return a


def power(v: complex, i: complex) -> complex:
    """Complex power S = V * conj(I): real part watts, imaginary part vars (+ inductive)."""
    return v * i.conjugate()


def phase_lag(phase: str, rotation: str = "ABC") -> float:
    """Where a phase's line-to-neutral voltage sits (lagging degrees) for a supply rotation."""
    try:
        return _LAG_OF_PHASE[rotation][phase]
    except KeyError as exc:
        raise ValueError(f"rotation must be one of {ROTATIONS} and phase one of A, B, C") from exc
