"""Instrument-transformer arithmetic for transformer-rated meters (standards.md §2.5).

- Transformer factor TF = CT ratio × VT ratio (VT ratio 1 for a meter on line voltage).
- Primary Kh = Kh × TF: watt-hours of *primary* energy per pulse/revolution.
- Register multiplier (what this module implements): **dial multiplier × TF**. Billing kWh = displayed
  difference × register multiplier. A meter programmed to display primary values already includes TF;
  for it pass ``tf=1``. Ratios are given as plain numbers (400:5 → 80) or parsed by :func:`parse_ratio`.
"""

from __future__ import annotations

import re

from procedures.errors import InputError
from procedures.metrology._checks import positive

_RATIO = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*[:/]\s*([0-9]+(?:\.[0-9]+)?)\s*$")


def parse_ratio(text: str, field: str = "ratio") -> float:
    """A nameplate ratio such as ``"400:5"`` or ``"14400/120"`` as a number (80.0, 120.0)."""
    m = _RATIO.match(text) if isinstance(text, str) else None
    if not m:
        raise InputError(
            field, "is not a ratio", allowed="primary:secondary such as 400:5 or 14400/120", found=text
        )
    primary, secondary = float(m.group(1)), float(m.group(2))
    if primary <= 0 or secondary <= 0:
        raise InputError(field, "has a zero side", allowed="both sides > 0, such as 400:5", found=text)
    return primary / secondary


def transformer_factor(ct_ratio: float, vt_ratio: float = 1.0) -> float:
    """TF = CT ratio × VT ratio."""
    return positive("ct_ratio", ct_ratio, allowed="a CT ratio > 0 (400:5 → 80)") * positive(
        "vt_ratio", vt_ratio, allowed="a VT ratio > 0 (1 when no VT; 14400:120 → 120)"
    )


def primary_kh(kh: float, tf: float) -> float:
    """Primary Kh = secondary Kh × TF (Wh of primary energy per pulse or revolution)."""
    return positive("kh", kh, allowed="a meter constant in Wh > 0") * positive(
        "tf", tf, allowed="a transformer factor > 0"
    )


def register_multiplier(dial_multiplier: float = 1.0, tf: float = 1.0) -> float:
    """Register multiplier = dial multiplier × TF (pass tf=1 for a meter that displays primary values)."""
    return positive(
        "dial_multiplier", dial_multiplier, allowed="the register's dial multiplier > 0 (often 1 or 10)"
    ) * positive("tf", tf, allowed="a transformer factor > 0")
