"""Input checks shared by the metrology functions.

Each check returns the value as a plain ``float``/``int`` or raises :class:`InputError` naming the
parameter and what is allowed, so a bad Kh typed at the bench never turns into a silent NaN on a
certificate. ``bool`` is refused everywhere: ``True`` is an ``int`` to Python but never a pulse count.
"""

from __future__ import annotations

import math
import numbers

from procedures.errors import InputError


def real(name: str, value: object, *, allowed: str = "a finite number") -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(name, "is not a number", allowed=allowed, found=value)
    x = float(value)
    if not math.isfinite(x):
        raise InputError(name, "is not finite", allowed=allowed, found=value)
    return x


def positive(name: str, value: object, *, allowed: str = "a finite number > 0") -> float:
    """A finite number strictly above zero (constants, ratios, powers, durations)."""
    x = real(name, value, allowed=allowed)
    if x <= 0:
        raise InputError(name, "must be greater than zero", allowed=allowed, found=value)
    return x


def non_negative(name: str, value: object, *, allowed: str = "a finite number >= 0") -> float:
    """A finite number at or above zero (uncertainty inputs, half-widths, pulse counts as measured)."""
    x = real(name, value, allowed=allowed)
    if x < 0:
        raise InputError(name, "must not be negative", allowed=allowed, found=value)
    return x


def count(name: str, value: object, *, minimum: int = 0) -> int:
    """A whole number of pulses, readings or elements, at least ``minimum``.

    Integral floats (``12.0``) are accepted because spreadsheets and TOML plans produce them; ``12.5``
    pulses is refused.
    """
    allowed = f"a whole number >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(name, "is not a whole number", allowed=allowed, found=value)
    if isinstance(value, numbers.Integral):
        n = int(value)
    else:
        x = float(value)
        if not math.isfinite(x) or not x.is_integer():
            raise InputError(name, "is not a whole number", allowed=allowed, found=value)
        n = int(x)
    if n < minimum:
        raise InputError(name, f"must be at least {minimum}", allowed=allowed, found=value)
    return n
