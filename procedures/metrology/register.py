"""The register test: how much energy to run, and what the register's advance says about the meter.

The meter's register is read with the source off, a run of energy flows at the point's load while an error
calculator gates the meter's test-output pulses against the reference's pulses, the source goes off and
the register is read again. Two results come out of one run:

- **Register error** against the reference: ``100 · ΔR / E_ref − 100`` (%), the register's advance ΔR
  against the reference energy over the same window.
- **Meter-constant check** (IEC 62052-11/62053 "meter constant"): ``100 · ΔR / E_to − 100`` (%), the
  register against the test output's energy over the window, E_to = pulses × Kt. Register and test output
  agree when this is zero: a wrongly programmed register ratio or test constant shows here.

Model of the window (everything as energy the meter registers, in Wh):

- The gate opens on the first test pulse after the source comes on and closes after ``N`` more pulses, so
  it holds exactly ``N · Kt`` of test-output energy and ``N_r · K_r · c`` of reference energy.
- Before the gate opened the meter registered ``ε_head`` ∈ [0, Kt): the remainder of a pulse, whatever
  the source's ramp. Estimate Kt/2, rectangular half-width Kt/2.
- After the gate closed it registered ``ε_tail = P_to · t_tail`` until the source went off, where P_to is
  the test-output power the gate measured and ``t_tail`` lies between the bounds the run gives
  (``tail_seconds``: the polls around the gate's close, and switch-on plus the gate's own length). Estimate
  the middle, rectangular half-width half the span. (Assumes steady power after the gate, as at any point.)
- So ``E_to = N·Kt + ε_head + ε_tail`` and ``E_ref = E_to · (N_r·K_r·c) / (N·Kt)``: the energy outside the
  gate is carried into reference energy at the ratio the gate measured.
- The register shows whole digits of ``resolution_kwh``: ±1 digit at each reading, rectangular (the
  shop's conservative reading of a truncating display).

The register error's budget is the accuracy budget (:func:`~procedures.metrology.uncertainty.error_budget`:
reference calibration, drift, reference pulse quantisation, phase error, repeatability) plus the register
digits and the energy outside the gate. The meter-constant check compares the meter with itself: only the
digits and the energy outside the gate enter its budget.

Planning (:func:`plan_register`): the energy is chosen so that the register error's TOTAL expanded
uncertainty - every line of the budget above, computed as :func:`register_result` will compute it, with its
k - uses at most ``target_share`` of the limit. The terms that shrink with the energy (register digits,
head remainder, energy after the gate, reference quantisation) are sized against what the terms that do
not (reference calibration and drift, phase error, repeatability) leave of the target. Sizing with the
energy terms alone and adding the others afterwards gave, for instance, U = 0.2503 % against a 4:1 target
of 0.25 % for ±1 %. When the fixed terms alone exceed the target no energy can meet it: the plan says so
(``meets_target`` false, ``note``) and is sized as if they were absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from GTC import reporting

from procedures.errors import InputError
from procedures.metrology._checks import count, non_negative, positive, real
from procedures.metrology.registration import registration_register
from procedures.metrology.uncertainty import Component, ErrorResult, error_budget

_SQRT3 = math.sqrt(3.0)
_CEIL_SLACK = 1e-9


@dataclass(frozen=True)
class RegisterPlan:
    """How much energy one register test runs, and what its fixed terms are expected to cost."""

    energy_wh: float  # test-output energy the gate holds (meter_pulses × Kt)
    meter_pulses: int  # the gate's length in test pulses
    gate_seconds: float  # at the planned power: the physical floor of the point
    resolution_percent: float  # standard uncertainty of the two register digits at this energy
    expected_u_percent: float  # the register error's expected U (all terms, its own k) at this energy
    meets_target: bool = True  # False: the terms energy cannot shrink already exceed target_share x limit
    note: str = ""


def _per_energy_u(resolution_wh: float, kt_wh: float, kr_wh: float, c: int) -> float:
    """Standard uncertainty (in Wh) of the window's fixed terms: two register digits, the head remainder
    (half-width Kt/2) and ±1 reference pulse; divided by the energy it becomes a relative uncertainty."""
    return math.sqrt(2.0 * resolution_wh**2 + (kt_wh / 2.0) ** 2 + (kr_wh * c) ** 2) / _SQRT3


def plan_register(
    power_w: float,
    kt_wh: float,
    kr_wh: float,
    resolution_kwh: float,
    limit_percent: float,
    target_share: float = 0.25,
    elements_in_series: int = 1,
    min_pulses: int = 1,
    *,
    ref_cal_u_percent: float = 0.0,
    ref_cal_k: float = 2.0,
    ref_drift_percent: float = 0.0,
    lag_deg: float = 0.0,
    ref_phase_error_urad: float = 0.0,
    repeatability_prior_percent: float = 0.0,
    tail_span_s: float = 0.0,
    coverage: float = 0.95,
) -> RegisterPlan:
    """The least energy (whole test pulses) for which the register error's total U, with every term of its
    budget, is at most ``target_share`` of ``limit_percent``. ``power_w`` is the power the meter registers.

    The keyword terms are those :func:`register_result` will be given (reference calibration, drift, phase
    error at ``lag_deg``, repeatability prior); ``tail_span_s`` is the expected width of the bracket on how
    long the meter kept registering after its gate closed (the run's polls or switch-on, see
    :func:`register_result`'s ``tail_seconds``). Left at their defaults, only the energy terms are sized.
    """
    p = positive("power_w", power_w, allowed="a finite power in W > 0")
    kt = positive("kt_wh", kt_wh)
    kr = positive("kr_wh", kr_wh)
    res = positive(
        "resolution_kwh", resolution_kwh, allowed="the register's least significant digit in kWh > 0"
    )
    limit = positive("limit_percent", limit_percent, allowed="a finite limit in % > 0")
    share = positive("target_share", target_share, allowed="a fraction of the limit, 0 < share <= 1")
    if share > 1:
        raise InputError("target_share", "is above 1", allowed="0 < share <= 1", found=target_share)
    c = count("elements_in_series", elements_in_series, minimum=1)
    n_min = count("min_pulses", min_pulses, minimum=1)
    span = non_negative("tail_span_s", tail_span_s, allowed="seconds >= 0")
    target = share * limit  # expanded U allowed, in %
    terms = {"ref_cal_u_percent": ref_cal_u_percent, "ref_cal_k": ref_cal_k, "ref_drift_percent": ref_drift_percent,
             "lag_deg": lag_deg, "ref_phase_error_urad": ref_phase_error_urad,
             "repeatability_prior_percent": repeatability_prior_percent, "coverage": coverage}  # fmt: skip

    def expected(n: int) -> ErrorResult:
        """The register error's budget at n pulses, as register_result builds it (error 0, nominal tail)."""
        e = n * kt
        return _register_budget(
            0.0, e + kt / 2.0 + p * span / 7200.0, e / (kr * c), res, kt, p, (0.0, span), **terms
        )

    fixed = _register_budget(0.0, math.inf, math.inf, res, kt, p, (0.0, 0.0), **terms)
    u_wh = math.sqrt(2.0 * (res * 1000.0) ** 2 + (kt / 2.0) ** 2 + (kr * c) ** 2
                     + (p * span / 7200.0) ** 2) / _SQRT3  # fmt: skip
    room = (target / 2.0) ** 2 - fixed.u_c_percent**2  # what the fixed terms leave (at k = 2) for energy
    meets, note = True, ""
    if fixed.expanded_percent >= target or room <= 0:
        meets = False
        note = (f"reference calibration, drift, phase error and repeatability alone give U = "
                f"{fixed.expanded_percent:.3g} %, above the target {share:g} x {limit:g} % = {target:.3g} %: "
                f"no energy can meet it; sized for the energy terms alone")  # fmt: skip
        room = (target / 2.0) ** 2
    n = max(n_min, math.ceil(100.0 * u_wh / math.sqrt(room) / kt - _CEIL_SLACK))
    if meets:  # the least n whose computed U (its own k, not 2) meets the target; n above is a first guess

        def ok(m: int) -> bool:
            return expected(m).expanded_percent <= target * (1 + _CEIL_SLACK)

        lo, hi = n_min - 1, n  # expected(lo) taken as failing, expected(hi) grown until it meets
        while not ok(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(mid) else (mid, hi)
        n = hi
    e = n * kt
    return RegisterPlan(
        energy_wh=e,
        meter_pulses=n,
        gate_seconds=e * 3600.0 / p,
        resolution_percent=100.0 * math.sqrt(2.0) * res * 1000.0 / _SQRT3 / e,
        expected_u_percent=expected(n).expanded_percent,
        meets_target=meets,
        note=note,
    )


@dataclass(frozen=True)
class RegisterResult:
    """Both results of one register test, with the energies behind them (Wh)."""

    register: ErrorResult  # register against the reference
    constant: ErrorResult  # register against the test output (meter-constant check)
    advance_wh: float
    test_output_wh: float
    reference_wh: float
    outside_gate_wh: float


def register_result(
    *,
    start_kwh: float,
    end_kwh: float,
    resolution_kwh: float,
    meter_pulses: int,
    kt_wh: float,
    ref_pulses: float,
    kr_wh: float,
    gate_seconds: float,
    tail_seconds: tuple[float, float],
    elements_in_series: int = 1,
    ref_cal_u_percent: float,
    ref_cal_k: float = 2.0,
    ref_drift_percent: float = 0.0,
    lag_deg: float = 0.0,
    ref_phase_error_urad: float = 0.0,
    repeatability_prior_percent: float = 0.0,
    coverage: float = 0.95,
) -> RegisterResult:
    """The register error and the meter-constant check of one run (see the module docstring)."""
    res_kwh = positive(
        "resolution_kwh", resolution_kwh, allowed="the register's least significant digit in kWh > 0"
    )
    n = count("meter_pulses", meter_pulses, minimum=1)
    kt = positive("kt_wh", kt_wh)
    n_r = positive("ref_pulses", ref_pulses, allowed="reference pulses counted in the gate > 0")
    kr = positive("kr_wh", kr_wh)
    t_gate = positive("gate_seconds", gate_seconds, allowed="the gate's length in s > 0")
    c = count("elements_in_series", elements_in_series, minimum=1)
    if not (isinstance(tail_seconds, tuple | list) and len(tail_seconds) == 2):
        raise InputError("tail_seconds", "is not a (shortest, longest) pair", found=tail_seconds)
    t_lo = non_negative("tail_seconds[0]", tail_seconds[0], allowed="seconds >= 0")
    t_hi = real("tail_seconds[1]", tail_seconds[1], allowed=f"seconds >= {t_lo:g}")
    if t_hi < t_lo:
        raise InputError("tail_seconds[1]", "is below the shortest tail", allowed=f">= {t_lo:g}", found=t_hi)

    gate_to_wh = n * kt
    p_to = gate_to_wh * 3600.0 / t_gate  # test-output power the gate measured (W)
    outside = kt / 2.0 + p_to * (t_lo + t_hi) / 2.0 / 3600.0  # head remainder + tail, their estimates
    e_to = gate_to_wh + outside
    e_ref = e_to * (n_r * kr * c) / gate_to_wh
    # registration_register validates the readings (end below start is refused, not a negative advance)
    reg_r = registration_register(start_kwh, end_kwh, e_ref / 1000.0)
    const_r = registration_register(start_kwh, end_kwh, e_to / 1000.0)
    advance_wh = (float(end_kwh) - float(start_kwh)) * 1000.0

    register = _register_budget(reg_r - 100.0, e_to, n_r, res_kwh, kt, p_to, (t_lo, t_hi),
                                ref_cal_u_percent=ref_cal_u_percent, ref_cal_k=ref_cal_k,
                                ref_drift_percent=ref_drift_percent, lag_deg=lag_deg,
                                ref_phase_error_urad=ref_phase_error_urad,
                                repeatability_prior_percent=repeatability_prior_percent, coverage=coverage)  # fmt: skip
    fixed = tuple(c for c in register.components if c.name.startswith(_WINDOW_TERMS))
    constant = combine(const_r - 100.0, fixed, coverage, ())
    return RegisterResult(register, constant, advance_wh, e_to, e_ref, outside)


_WINDOW_TERMS = ("Register resolution", "Test-output energy")


def _register_budget(error_percent: float, e_to: float, n_r: float, res_kwh: float, kt: float, p_to: float,
                     tail_seconds: tuple[float, float], *, ref_cal_u_percent: float, ref_cal_k: float,
                     ref_drift_percent: float, lag_deg: float, ref_phase_error_urad: float,
                     repeatability_prior_percent: float, coverage: float) -> ErrorResult:  # fmt: skip
    """The register error's budget over a window of ``e_to`` Wh of test-output energy and ``n_r`` reference
    pulses: the accuracy budget plus the register digits and the energy outside the gate (the window
    terms, named with :data:`_WINDOW_TERMS`; an infinite window leaves only the accuracy budget's terms
    that the energy does not shrink)."""
    t_lo, t_hi = tail_seconds
    head_est, head_hw = kt / 2.0, kt / 2.0
    tail_hw = p_to * (t_hi - t_lo) / 2.0 / 3600.0
    per_pct = 100.0 / e_to  # sensitivity: % of the window's energy per Wh
    fixed = []
    if math.isfinite(e_to):
        fixed = [
            _rect(f"Register resolution, {which} reading", res_kwh * 1000.0, per_pct, "Wh",
                  f"±1 digit of {res_kwh:g} kWh")
            for which in ("start", "end")
        ]  # fmt: skip
        fixed.append(_rect("Test-output energy before the gate opened", head_hw, per_pct, "Wh",
                           f"0 … {kt:g} Wh (less than one test pulse), taken as {head_est:g} Wh"))  # fmt: skip
        if tail_hw > 0:
            fixed.append(_rect("Test-output energy after the gate closed", tail_hw, per_pct, "Wh",
                               f"{p_to:.6g} W for {t_lo:.3g} … {t_hi:.3g} s until the source was off"))  # fmt: skip
    base = error_budget(
        [error_percent], ref_cal_u_percent=ref_cal_u_percent, ref_cal_k=ref_cal_k,
        ref_drift_percent=ref_drift_percent, ref_pulses_per_gate=n_r if math.isfinite(n_r) else 1e300,
        lag_deg=lag_deg, ref_phase_error_urad=ref_phase_error_urad,
        repeatability_prior_percent=repeatability_prior_percent, coverage=coverage,
    )  # fmt: skip
    return combine(base.error_percent, base.components + tuple(fixed), coverage, base.notes)


def _rect(name: str, half_width: float, sensitivity: float, unit: str, basis: str) -> Component:
    u_in = half_width / _SQRT3
    return Component(
        name, "B", "rectangular", abs(sensitivity) * u_in, math.inf, sensitivity, u_in, unit, basis
    )


def combine(
    error_percent: float, components: tuple[Component, ...], coverage: float, notes: tuple[str, ...]
) -> ErrorResult:
    """Budget lines (uncorrelated) combined per the GUM: root sum of squares, Welch–Satterthwaite degrees
    of freedom and k from the t-distribution at the coverage, as :func:`error_budget` does."""
    parts = [c for c in components if c.u_percent > 0]
    u_c = math.sqrt(sum(c.u_percent**2 for c in parts))
    finite = sum(c.u_percent**4 / c.dof for c in parts if math.isfinite(c.dof) and c.dof > 0)
    dof = u_c**4 / finite if finite > 0 else math.inf
    k = float(reporting.k_factor(dof, p=100.0 * coverage))
    return ErrorResult(
        error_percent=error_percent, u_c_percent=u_c, k=k, expanded_percent=k * u_c, dof=dof,
        components=tuple(parts), readings=1, coverage=coverage, notes=notes,
    )  # fmt: skip
