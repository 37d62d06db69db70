"""What the meter's own tables are judged by: its maximum demand against the reference's average power, its
clock against the bench's, and its TOU tier registers against the energy of each tier's window.

Pure arithmetic, no I/O. Signs: a positive error means the meter reads high (demand) or its clock runs
fast (drift), as everywhere else (error = meter - true, true in the denominator).

Demand: the meter's demand over an interval filled wholly with one constant load is that load's average
power, so error % = 100 x (D x 1000 / (P_ref x c) - 1), with P_ref the mean of the reference's power
readings over the same interval and c the elements in series a single-phase reference sees. Budget: the
readings' scatter (type A, s/sqrt(n)), the reference's calibration (normal, U/k) and drift (rectangular),
its phase error at the point's angle, and the demand register's digit (rectangular, +-1 digit: the
meter may truncate or round).

Clock: the meter's seconds tick is found by reading its clock until the second changes; the tick lies
between the last reading that showed the old second and the first that showed the new one (rectangular
over that span). Drift (s/day) = 86400 x ((M2 - M1) - (T2 - T1)) / (T2 - T1) between two ticks at meter
times M and bench times T; budget: the two ticks' timing and the bench time base's own rate.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from procedures.errors import InputError
from procedures.metrology._checks import non_negative, positive, real
from procedures.metrology.register import _rect, combine
from procedures.metrology.uncertainty import Component, ErrorResult, error_budget

DAY_S = 86400.0


def demand_result(
    demand_kw: float,
    reference_watts: Sequence[float],
    *,
    resolution_kw: float,
    elements_in_series: int = 1,
    ref_cal_u_percent: float,
    ref_cal_k: float = 2.0,
    ref_drift_percent: float = 0.0,
    lag_deg: float = 0.0,
    ref_phase_error_urad: float = 0.0,
    coverage: float = 0.95,
) -> ErrorResult:
    """The demand register's error (%) against the mean of the reference's power readings over the
    interval, with its expanded uncertainty."""
    d = non_negative("demand_kw", demand_kw, allowed="the meter's demand in kW >= 0")
    if isinstance(reference_watts, str | bytes) or len(reference_watts) < 2:
        raise InputError("reference_watts", "needs at least two power readings over the interval",
                         found=reference_watts)  # fmt: skip
    watts = [
        positive(f"reference_watts[{i}]", w, allowed="a power > 0 W") for i, w in enumerate(reference_watts)
    ]
    res = positive("resolution_kw", resolution_kw, allowed="the demand register's digit in kW > 0")
    c = elements_in_series
    mean_w = statistics.fmean(watts) * c
    error = 100.0 * (d * 1000.0 / mean_w - 1.0)
    # each reading's error as if it alone were the reference: their mean is the error, their scatter is the
    # load's (the repeatability component)
    readings = [error + 100.0 * (mean_w - w * c) / mean_w for w in watts]
    base = error_budget(
        readings, ref_cal_u_percent=ref_cal_u_percent, ref_cal_k=ref_cal_k, ref_drift_percent=ref_drift_percent,
        ref_pulses_per_gate=1e300, lag_deg=lag_deg, ref_phase_error_urad=ref_phase_error_urad, coverage=coverage,
    )  # fmt: skip
    digit = _rect("Demand register resolution", res * 1000.0, 100.0 / mean_w, "W", f"±1 digit of {res:g} kW")
    return combine(error, base.components + (digit,), coverage, base.notes)


@dataclass(frozen=True)
class Tick:
    """A meter clock's seconds tick: the meter second it began (seconds since any fixed origin) and the
    bench-time span it lies in."""

    meter_s: float
    after_s: float  # the last reading that still showed the previous second was taken after this
    before_s: float  # the first reading that showed this second was taken before this

    @property
    def bench_s(self) -> float:
        return (self.after_s + self.before_s) / 2.0

    @property
    def half_width_s(self) -> float:
        return (self.before_s - self.after_s) / 2.0


def clock_result(
    first: Tick, last: Tick, *, timebase_s_per_day: float, coverage: float = 0.95
) -> ErrorResult:
    """The meter clock's drift in s/day (positive = fast) between two ticks; ``error_percent`` of the result
    holds s/day and every budget line's ``u_percent`` is in s/day."""
    for name, tick in (("first", first), ("last", last)):
        real(f"{name}.meter_s", tick.meter_s)
        if tick.before_s < tick.after_s:
            raise InputError(
                f"{name}", "tick span ends before it starts", found=(tick.after_s, tick.before_s)
            )
    span = positive("bench span", last.bench_s - first.bench_s, allowed="the second tick after the first")
    tb = non_negative("timebase_s_per_day", timebase_s_per_day, allowed="a half-width in s/day >= 0")
    drift = DAY_S * ((last.meter_s - first.meter_s) - span) / span
    per = DAY_S / span  # s/day per second of timing error
    parts: list[Component] = [
        _rect(f"{which} tick timing", t.half_width_s, per, "s", f"tick between readings {2 * t.half_width_s:.3g} s apart")
        for which, t in (("First", first), ("Last", last))
    ]  # fmt: skip
    if tb > 0:
        parts.append(_rect("Bench time base", tb, 1.0, "s/day", f"±{tb:g} s/day"))
    return combine(drift, tuple(parts), coverage, ())


def tou_check(
    advance_kwh: dict[int, float], window_kwh: dict[int, float], resolution_kwh: float, relative: float = 0.0
) -> list[str]:
    """Which tiers did not advance by their window's energy (reference) within the register's resolution
    (+-1 digit at each of the two readings) plus ``relative`` x the window's energy (the meter's own
    accuracy limit): empty = every tier did. Each problem names the tier."""
    res = positive("resolution_kwh", resolution_kwh)
    rel = non_negative("relative", relative)
    out = []
    for tier in sorted(set(advance_kwh) | set(window_kwh)):
        got, want = advance_kwh.get(tier, 0.0), window_kwh.get(tier, 0.0)
        if abs(got - want) > 2 * res + rel * want + 1e-9:
            out.append(f"tier {tier} advanced {got:.4g} kWh, its window had {want:.4g} kWh")
    return out
