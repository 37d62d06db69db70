"""Percent registration and percent error of a meter under test.

Sign convention (the same on every screen, record and certificate; standards.md §1):

- Percent registration ``%R = 100 × (energy the meter registered) / (true energy)``; the true energy is
  what the reference standard measured and is always in the denominator.
- Percent error ``error = %R − 100``. A **positive** error means the meter runs **fast**: the customer is
  over-billed. A negative error means the meter runs slow.

Constants are in watt-hours per pulse (or per revolution): Kh for the meter's nameplate constant, Kt for
its test-output (LED) constant, K_r for the reference standard's high-frequency energy output.
"""

from __future__ import annotations

from procedures.errors import InputError
from procedures.metrology._checks import count, non_negative, positive, real


def registration_pulse_gating(
    meter_pulses: int,
    kt_wh: float,
    ref_pulses: float,
    kr_wh: float,
    elements_in_series: int = 1,
) -> float:
    """%R by the pulse-count (gating) method: ``100 · N_m·Kt / (N_r·K_r·c)`` (standards.md §5).

    The gate opens and closes on the meter's test pulses, so ``meter_pulses`` is exact and at least 1;
    ``ref_pulses`` is the reference count in that gate (fractional counts from an interpolating counter
    are allowed). ``elements_in_series`` is ``c``: the number of elements whose current coils are in
    series while a single-phase reference sees one element's watts (1 with a polyphase reference that sums
    the phases, and 1 for a 2S, whose two half-coils make one element).
    """
    n_m = count("meter_pulses", meter_pulses, minimum=1)
    kt = positive("kt_wh", kt_wh)
    n_r = positive("ref_pulses", ref_pulses, allowed="a finite reference pulse count > 0")
    kr = positive("kr_wh", kr_wh)
    c = count("elements_in_series", elements_in_series, minimum=1)
    return 100.0 * (n_m * kt) / (n_r * kr * c)


def registration_timed(kh_wh: float, pulses: float, true_power_w: float, seconds: float) -> float:
    """%R by the timed method: ``100 · Kh·N·3600 / (P_true·t)`` (standards.md §5).

    ``pulses`` counted (or disk revolutions timed) over ``seconds`` while the reference reads a steady
    ``true_power_w``. A timing error δt adds δt/t to the result, so time long gates.
    """
    kh = positive("kh_wh", kh_wh)
    n = non_negative("pulses", pulses, allowed="a finite pulse count >= 0")
    p = positive("true_power_w", true_power_w, allowed="a finite power in W > 0 (forward energy)")
    t = positive("seconds", seconds, allowed="a finite duration in s > 0")
    return 100.0 * (kh * n * 3600.0) / (p * t)


def registration_register(
    start_kwh: float,
    end_kwh: float,
    reference_kwh: float,
    multiplier: float = 1.0,
    *,
    rollover_kwh: float | None = None,
) -> float:
    """%R by a register (dial) test: ``100 · (end − start)·multiplier / reference``.

    ``start_kwh``/``end_kwh`` are the register readings as displayed; ``multiplier`` is the register
    multiplier (dial multiplier × transformer factor, see :func:`register_multiplier`) turning the
    displayed difference into the kWh compared with ``reference_kwh``. If the register rolled over
    during the test (end < start), pass ``rollover_kwh`` (e.g. 100000 for a 5-dial kWh register);
    otherwise end < start is refused rather than silently reported as a negative registration.
    """
    start = non_negative("start_kwh", start_kwh, allowed="a finite register reading >= 0")
    end = non_negative("end_kwh", end_kwh, allowed="a finite register reading >= 0")
    ref = positive("reference_kwh", reference_kwh, allowed="a finite reference energy in kWh > 0")
    mult = positive("multiplier", multiplier)
    delta = end - start
    if delta < 0:
        if rollover_kwh is None:
            raise InputError(
                "end_kwh",
                f"is below start_kwh {start!r}",
                allowed="end_kwh >= start_kwh, or give rollover_kwh if the register rolled over",
                found=end_kwh,
            )
        roll = positive("rollover_kwh", rollover_kwh, allowed="the register's full scale in kWh > start_kwh")
        if roll <= start:
            raise InputError(
                "rollover_kwh", "is not above start_kwh", allowed=f"> {start!r}", found=rollover_kwh
            )
        delta += roll
    return 100.0 * delta * mult / ref


def error_percent(registration: float) -> float:
    """Percent error from percent registration: ``%R − 100`` (positive = meter fast)."""
    return real("registration", registration, allowed="a finite percent registration") - 100.0
