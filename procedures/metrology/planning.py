"""Test-time planning: how many meter pulses a point needs, and how long its gate lasts.

Model (documented because a plan's pulse counts come from it):

- The gate opens and closes on the meter's test-output pulses, so the meter count N_m is exact; the
  reference count N_r = N_m·Kt / (K_r·c) is uncertain by **±1 reference pulse** (gate edges fall anywhere
  between reference pulses). ``c`` is the number of elements in series seen by a single-phase reference;
  ``power_w`` is the power the *meter* registers (the reference sees ``power_w / c``).
- With ``meter_edge=True`` (meter pulses counted in a window the meter does not open and close: timed
  tests, free-running counters) the meter count is also uncertain by **±1 meter pulse**.
- The quantisation half-width is therefore ``100·(1/N_r + m/N_m)`` % (m = 1 with ``meter_edge``, else 0),
  treated as rectangular: standard uncertainty = half-width/√3.
- Repeatability is the standard deviation of one reading in percent, reduced by √readings for the mean.
- The planning contributions at k = 2, ``U_plan = 2·√(u_q² + u_rep²)``, must not exceed
  ``target_share × limit``. ``target_share = 0.25`` is the 4:1 test-uncertainty ratio of Z540.3
  (standards.md §6). The reference's own calibration uncertainty is not part of this plan; it sits in the
  error budget (:mod:`procedures.metrology.uncertainty`).
- Gate time = N_m·Kt·3600 / P seconds: the physical floor of a point, before settling time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from procedures.errors import InputError
from procedures.metrology._checks import count, non_negative, positive

_SQRT3 = math.sqrt(3.0)
# ceil() of a ratio that is mathematically whole must not round up on a last-bit error.
_CEIL_SLACK = 1e-9


@dataclass(frozen=True)
class GatePlan:
    """The pulses and time a test point needs to resolve its limit."""

    meter_pulses: int
    ref_pulses_expected: float
    gate_seconds: float
    quantisation_percent: float
    expected_u_percent: float
    readings: int = 1

    @property
    def total_seconds(self) -> float:
        """Gate time of all readings, without settling."""
        return self.gate_seconds * self.readings


def _ceil(x: float) -> int:
    return max(0, math.ceil(x - _CEIL_SLACK))


def plan_gate(
    power_w: float,
    kt_wh: float,
    kr_wh: float,
    limit_percent: float,
    target_share: float = 0.25,
    repeatability_percent: float = 0.0,
    readings: int = 1,
    min_pulses: int = 1,
    max_gate_s: float | None = None,
    elements_in_series: int = 1,
    *,
    meter_edge: bool = False,
) -> GatePlan:
    """The fewest meter pulses for which quantisation and repeatability use at most
    ``target_share`` of ``limit_percent`` (see the module docstring for the model).

    Raises :class:`InputError` when no pulse count can reach the target (repeatability alone is too
    large: more ``readings`` are needed) or when the needed gate is longer than ``max_gate_s``.
    """
    p = positive("power_w", power_w, allowed="a finite power in W > 0")
    kt = positive("kt_wh", kt_wh)
    kr = positive("kr_wh", kr_wh)
    limit = positive("limit_percent", limit_percent, allowed="a finite accuracy limit in % > 0")
    share = positive("target_share", target_share, allowed="a fraction of the limit, 0 < share <= 1")
    if share > 1:
        raise InputError("target_share", "is above 1", allowed="0 < share <= 1", found=target_share)
    rep = non_negative("repeatability_percent", repeatability_percent)
    n_read = count("readings", readings, minimum=1)
    n_min = count("min_pulses", min_pulses, minimum=1)
    max_gate = (
        None
        if max_gate_s is None
        else positive("max_gate_s", max_gate_s, allowed="a duration in s > 0 or None")
    )
    c = count("elements_in_series", elements_in_series, minimum=1)
    if not isinstance(meter_edge, bool):
        raise InputError("meter_edge", "is not true/false", allowed="True or False", found=meter_edge)

    target_u = share * limit / 2.0  # standard uncertainty allowed (U at k = 2 ≤ share × limit)
    u_rep = rep / math.sqrt(n_read)
    if u_rep >= target_u:
        need = math.floor((rep / target_u) ** 2) + 1  # strictly below the target, with room for u_q
        raise InputError(
            "repeatability_percent",
            f"{rep:g} % over {n_read} reading(s) already uses the whole target of "
            f"{share:g} × {limit:g} % at k = 2, whatever the pulse count",
            allowed=f"readings >= {need}, a larger target_share, or a steadier set-up",
            found=rep,
        )
    u_q_allowed = math.sqrt(target_u**2 - u_rep**2)
    # u_q = (100/√3)·(1/N_r + m/N_m) with N_r = N_m·Kt/(K_r·c)  ⇒  u_q = (100/√3)·(K_r·c/Kt + m) / N_m
    per_pulse = (100.0 / _SQRT3) * (kr * c / kt + (1.0 if meter_edge else 0.0))
    n_m = max(n_min, _ceil(per_pulse / u_q_allowed))

    n_r = n_m * kt / (kr * c)
    gate = n_m * kt * 3600.0 / p
    if max_gate is not None and gate > max_gate * (1 + _CEIL_SLACK):
        raise InputError(
            "max_gate_s",
            f"is shorter than the {gate:.3g} s that {n_m} meter pulses of {kt:g} Wh take at {p:g} W",
            allowed=f">= {gate:.3g} s, a finer reference (smaller kr_wh), a smaller kt_wh or a larger target_share",
            found=max_gate_s,
        )
    quant = 100.0 * (1.0 / n_r + (1.0 / n_m if meter_edge else 0.0))
    expected_u = 2.0 * math.hypot(quant / _SQRT3, u_rep)
    return GatePlan(
        meter_pulses=n_m,
        ref_pulses_expected=n_r,
        gate_seconds=gate,
        quantisation_percent=quant,
        expected_u_percent=expected_u,
        readings=n_read,
    )


def element_test_pulses(series_pulses: int, n_elements: int) -> int:
    """Pulses for a single-element test: the series count divided by the elements, rounded up (§2.5)."""
    s = count("series_pulses", series_pulses, minimum=1)
    n = count("n_elements", n_elements, minimum=1)
    return -(-s // n)
