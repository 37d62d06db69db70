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
from collections.abc import Callable
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


def plan_from_uncertainty(
    power_w: float,
    kt_wh: float,
    kr_wh: float,
    limit_percent: float,
    expanded_u: Callable[[int, float], float],
    *,
    target_share: float = 0.25,
    max_readings: int = 1,
    min_pulses: int = 1,
    max_gate_s: float | None = None,
    elements_in_series: int = 1,
    max_pulses: int = 1 << 16,
) -> GatePlan:
    """The readings and meter pulses of least bench time whose expanded uncertainty stays within
    ``target_share × limit_percent``.

    ``expanded_u(readings, ref_pulses_per_gate)`` is the point's whole expanded U in percent as its error
    budget will state it (reference calibration, drift, phase, quantisation and repeatability of the mean
    of ``readings``): the planner searches, the budget judges, so the plan and the certificate agree.
    Bench time of a choice: ``readings × (meter_pulses + 1)`` meter pulse periods (each gate's pulses and
    the wait for the edge that opens it); ties go to fewer readings. Raises :class:`InputError` naming
    ``target_share`` when no choice of up to ``max_readings`` readings within ``max_gate_s`` reaches it.
    """
    p = positive("power_w", power_w, allowed="a finite power in W > 0")
    kt = positive("kt_wh", kt_wh)
    kr = positive("kr_wh", kr_wh)
    limit = positive("limit_percent", limit_percent, allowed="a finite accuracy limit in % > 0")
    share = positive("target_share", target_share, allowed="a fraction of the limit, 0 < share <= 1")
    n_max = count("max_readings", max_readings, minimum=1)
    n_min = count("min_pulses", min_pulses, minimum=1)
    c = count("elements_in_series", elements_in_series, minimum=1)
    allowed_u = share * limit
    period = kt * 3600.0 / p
    top = max_pulses if max_gate_s is None else min(max_pulses, math.floor(max_gate_s / period + _CEIL_SLACK))

    def meets(readings: int, pulses: int) -> bool:
        # judged one reference pulse short of the expected count: the count a gate gets is ±1 of it
        return expanded_u(readings, max(pulses * kt / (kr * c) - 1.0, 1.0)) <= allowed_u

    best: tuple[float, int, int] | None = None
    for readings in range(1, n_max + 1):
        hi = n_min
        while hi <= top and not meets(readings, hi):
            hi *= 2
        if hi > top:
            if top < n_min or not meets(readings, top):
                continue
            hi = top
        lo = max(n_min, hi // 2)  # the least pulse count that meets: U falls as the pulses grow
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if meets(readings, mid) else (mid + 1, hi)
        cost = readings * (hi + 1) * period
        if best is None or cost < best[0] - 1e-12:
            best = (cost, readings, hi)
    if best is None:
        raise InputError(
            "target_share",
            f"{share:g} × {limit:g} % is out of reach with up to {n_max} reading(s)"
            + (f" within {max_gate_s:g} s per gate" if max_gate_s is not None else ""),
            allowed="more readings, a larger target_share or a steadier bench",
            found=target_share,
        )
    _, readings, pulses = best
    n_r = pulses * kt / (kr * c)
    quant = 100.0 / n_r
    return GatePlan(
        meter_pulses=pulses,
        ref_pulses_expected=n_r,
        gate_seconds=pulses * period,
        quantisation_percent=quant,
        expected_u_percent=expanded_u(readings, max(n_r - 1.0, 1.0)),
        readings=readings,
    )
