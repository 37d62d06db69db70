"""The error budget of one test-point result, combined per the GUM with GTC.

Measurement model, everything in percent of the true energy (so every sensitivity is 1 except the phase
term)::

    error = mean(readings) + δ_cal + δ_drift + δ_q,ref + δ_q,meter + tan(φ)·δφ·1e-4 + δ_source + δ_temp

Each δ has expectation zero (the reading is not corrected for it) and contributes its uncertainty:

- **Repeatability** (type A): the standard deviation of the mean, s/√n, with n − 1 degrees of freedom.
  With a single reading there is no type-A evaluation; the result then carries **no repeatability
  component** unless ``repeatability_prior_percent`` (the one-reading standard deviation from an earlier
  repeatability study, type B, normal) is given, and ``notes`` says so. Take ≥ 2 readings to evaluate it.
  With ``repeatability_pooled = (s_p, ν_p, basis)`` (the pooled one-reading standard deviation of earlier
  runs of the same bench at comparable points: type A, evaluated from those readings) the component is
  s_p/√n with ν_p degrees of freedom whatever n, and ``basis`` says where it came from.
- **Reference calibration** (type B, normal): certificate U divided by its k (default 2), ν = ∞.
- **Reference drift**, **source stability**, **temperature** (type B, rectangular): the inputs are
  *half-widths* a of the possible deviation, u = a/√3.
- **Reference pulse quantisation** (type B, rectangular): ±1 reference pulse in N_r, u = (100/N_r)/√3.
  It is counted once per result, not divided by √n: conservative, since the scatter already shows it.
- **Meter pulse quantisation**: only when ``meter_pulses_per_gate`` is given, i.e. the meter pulses were
  counted in a window the meter does not open and close (timed tests); u = (100/N_m)/√3. A gate opened
  and closed on meter pulses has no meter-count quantisation.
- **Reference phase error** (type B, rectangular): ``ref_phase_error_urad`` is the half-width of the
  reference's phase error in **microradians** (1 mrad = 0.0573°; 1 minute of arc = 291 µrad). The relative
  power error is tan(φ)·δφ, so its sensitivity is 100·tan(φ)·1e-6 %/µrad: zero at PF 1, 1.73e-4 %/µrad
  at PF 0.5 lag (φ = 60°). This is why PF 0.5 points carry more uncertainty. For reactive energy
  (``quantity = "reactive"``, Q = VI sin φ) the relative error is cot(φ)·δφ: zero at sin φ = 1 (φ = 90°),
  1.73e-4 %/µrad at sin φ = 0.5 (φ = 30°); apparent energy (S = VI) has no phase term.

Effective degrees of freedom come from Welch–Satterthwaite (GTC), k from the t-distribution at ν_eff
for the chosen coverage (:func:`GTC.reporting.k_factor`), and U = k·u_c. Note that with few readings
adding a type-B component can *lower* U, because it raises ν_eff and so lowers k faster than it raises u_c
(a property of Welch–Satterthwaite, not of this code).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import GTC
from GTC import reporting

from procedures.errors import InputError
from procedures.metrology._checks import count, non_negative, positive, real

_SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class Component:
    """One line of the uncertainty budget, as a certificate prints it.

    ``u_percent`` is the component's contribution to the standard uncertainty of the error in percent
    (``|sensitivity| × input_u``); ``input_u`` is the standard uncertainty of the input in ``unit``.
    """

    name: str
    kind: str  # "A" or "B"
    distribution: str  # "normal", "rectangular"
    u_percent: float
    dof: float
    sensitivity: float
    input_u: float = 0.0
    unit: str = "%"
    basis: str = ""


@dataclass(frozen=True)
class ErrorResult:
    """A test-point error with its uncertainty: error ± U (k, ≈coverage) and the budget behind it."""

    error_percent: float
    u_c_percent: float
    k: float
    expanded_percent: float
    dof: float
    components: tuple[Component, ...]
    readings: int
    coverage: float = 0.95
    notes: tuple[str, ...] = ()

    @property
    def registration_percent(self) -> float:
        """%R = 100 + error."""
        return 100.0 + self.error_percent


#: How a phase error δφ moves each quantity: P = VI cos φ gives δP/P = -tan φ·δφ, Q = VI sin φ gives
#: δQ/Q = cot φ·δφ, S = VI none (the sign is irrelevant: the input is symmetric).
PHASE_SENSITIVITY = {
    "active": (math.tan, "tan φ"),
    "reactive": (lambda phi: math.cos(phi) / math.sin(phi), "cot φ"),
    "apparent": (lambda phi: 0.0, "0 (VA has no phase)"),
}


def error_budget(
    readings_percent: Sequence[float],
    *,
    ref_cal_u_percent: float,
    ref_cal_k: float = 2.0,
    ref_drift_percent: float = 0.0,
    ref_pulses_per_gate: float,
    meter_pulses_per_gate: float | None = None,
    lag_deg: float = 0.0,
    ref_phase_error_urad: float = 0.0,
    source_stability_percent: float = 0.0,
    temperature_percent: float = 0.0,
    coverage: float = 0.95,
    repeatability_prior_percent: float = 0.0,
    quantity: str = "active",
    repeatability_pooled: tuple[float, float, str] | None = None,
) -> ErrorResult:
    """The error of n readings at one test point, with its expanded uncertainty and budget.

    ``readings_percent`` are the percent errors (%R − 100) of the n readings; the result's error is their
    mean. See the module docstring for the model and units of each input.
    """
    if isinstance(readings_percent, str | bytes) or not isinstance(readings_percent, Sequence):
        raise InputError(
            "readings_percent",
            "is not a list of readings",
            allowed="a list of percent errors",
            found=readings_percent,
        )
    if not readings_percent:
        raise InputError(
            "readings_percent", "is empty", allowed="at least one reading (percent error)", found=[]
        )
    values = [
        real(f"readings_percent[{i}]", r, allowed="a finite percent error")
        for i, r in enumerate(readings_percent)
    ]
    cal_u = non_negative(
        "ref_cal_u_percent", ref_cal_u_percent, allowed="the reference certificate's U in % >= 0"
    )
    cal_k = positive("ref_cal_k", ref_cal_k, allowed="the certificate's coverage factor > 0 (usually 2)")
    drift = non_negative("ref_drift_percent", ref_drift_percent, allowed="a half-width in % >= 0")
    n_r = positive(
        "ref_pulses_per_gate", ref_pulses_per_gate, allowed="reference pulses counted per gate > 0"
    )
    n_m = None
    if meter_pulses_per_gate is not None:
        n_m = positive(
            "meter_pulses_per_gate", meter_pulses_per_gate, allowed="meter pulses per gate > 0, or None"
        )
    if quantity not in PHASE_SENSITIVITY:
        raise InputError(
            "quantity", "is not an energy quantity", allowed=tuple(PHASE_SENSITIVITY), found=quantity
        )
    lag = real("lag_deg", lag_deg, allowed="the current's lag in degrees, -90 < lag < 90")
    if quantity == "active" and not -90.0 < lag < 90.0:
        raise InputError(
            "lag_deg", "is not between -90 and 90 degrees", allowed="-90 < lag < 90 (PF > 0)", found=lag_deg
        )
    if quantity == "reactive" and (not -180.0 < lag <= 180.0 or abs(math.sin(math.radians(lag))) < 1e-3):
        raise InputError(
            "lag_deg",
            "gives no reactive energy",
            allowed="-180 < lag <= 180 with sin(lag) != 0",
            found=lag_deg,
        )
    phase = non_negative(
        "ref_phase_error_urad", ref_phase_error_urad, allowed="a half-width in microradians >= 0"
    )
    source = non_negative(
        "source_stability_percent", source_stability_percent, allowed="a half-width in % >= 0"
    )
    temp = non_negative("temperature_percent", temperature_percent, allowed="a half-width in % >= 0")
    cov = real("coverage", coverage, allowed="a coverage probability, 0 < p < 1 (0.95 usual)")
    if not 0.0 < cov < 1.0:
        raise InputError("coverage", "is not a probability", allowed="0 < p < 1 (0.95 usual)", found=coverage)
    prior = non_negative(
        "repeatability_prior_percent", repeatability_prior_percent, allowed="a standard deviation in % >= 0"
    )

    pooled = None
    if repeatability_pooled is not None:
        s_p, dof_p, basis_p = repeatability_pooled
        pooled = (
            non_negative("repeatability_pooled", s_p, allowed="a pooled standard deviation in % >= 0"),
            positive("repeatability_pooled.dof", dof_p, allowed="its degrees of freedom > 0"),
            str(basis_p),
        )

    n = count("readings", len(values), minimum=1)
    mean = statistics.fmean(values)
    notes: list[str] = []
    # (component, GTC influence) pairs; the influences are summed into the error.
    parts: list[tuple[Component, object]] = []

    def add_b(
        name: str, distribution: str, input_u: float, sensitivity: float, unit: str, basis: str
    ) -> None:
        if input_u == 0.0 or sensitivity == 0.0:
            return
        comp = Component(
            name, "B", distribution, abs(sensitivity) * input_u, math.inf, sensitivity, input_u, unit, basis
        )
        parts.append((comp, GTC.ureal(0.0, input_u, label=name)))

    if pooled is not None:
        s_p, dof_p, basis_p = pooled
        u_a = s_p / math.sqrt(n)
        comp = Component(
            "Repeatability (pooled from this bench's records)",
            "A",
            "normal",
            u_a,
            dof_p,
            1.0,
            u_a,
            "%",
            f"s = {s_p:.3g} %, s/√{n}; {basis_p}",
        )
        parts.append((comp, GTC.ureal(0.0, u_a, df=dof_p, label=comp.name) if u_a > 0 else 0.0))
        notes.append(f"repeatability {basis_p}")
    elif n >= 2:
        s = statistics.stdev(values)
        u_a = s / math.sqrt(n)
        comp = Component(
            f"Repeatability of {n} readings",
            "A",
            "normal",
            u_a,
            float(n - 1),
            1.0,
            u_a,
            "%",
            f"s = {s:.3g} %, s/√{n}",
        )
        parts.append((comp, GTC.ureal(0.0, u_a, df=n - 1, label=comp.name) if u_a > 0 else 0.0))
        if u_a == 0.0:
            notes.append(f"all {n} readings identical: repeatability not resolved by the counts")
    elif prior > 0:
        add_b(
            "Repeatability (prior study, one reading)",
            "normal",
            prior,
            1.0,
            "%",
            f"s = {prior:g} % from an earlier study",
        )
        notes.append(
            "single reading: repeatability taken from the prior study, not evaluated (type A needs >= 2 readings)"
        )
    else:
        notes.append("single reading: repeatability not evaluated (type A needs >= 2 readings) and not in U")

    add_b("Reference calibration", "normal", cal_u / cal_k, 1.0, "%", f"U = {cal_u:g} % at k = {cal_k:g}")
    add_b("Reference drift since calibration", "rectangular", drift / _SQRT3, 1.0, "%", f"±{drift:g} %")
    add_b(
        "Reference pulse quantisation",
        "rectangular",
        (100.0 / n_r) / _SQRT3,
        1.0,
        "%",
        f"±1 pulse in {n_r:g}",
    )
    if n_m is not None:
        add_b(
            "Meter pulse quantisation",
            "rectangular",
            (100.0 / n_m) / _SQRT3,
            1.0,
            "%",
            f"±1 pulse in {n_m:g}",
        )
    trig, name = PHASE_SENSITIVITY[quantity]
    add_b(
        f"Reference phase error at {lag:g}° lag",
        "rectangular",
        phase / _SQRT3,
        100.0 * trig(math.radians(lag)) * 1e-6,
        "µrad",
        f"±{phase:g} µrad, sensitivity 100·{name}·1e-6 %/µrad",
    )
    add_b("Source stability", "rectangular", source / _SQRT3, 1.0, "%", f"±{source:g} %")
    add_b("Temperature", "rectangular", temp / _SQRT3, 1.0, "%", f"±{temp:g} %")

    y = GTC.ureal(mean, 0.0)
    for comp, influence in parts:
        y = y + comp.sensitivity * influence
    u_c = float(GTC.uncertainty(y))
    dof = float(GTC.dof(y)) if u_c > 0 else math.inf
    if math.isnan(dof):
        dof = math.inf
    k = float(reporting.k_factor(dof, p=100.0 * cov))
    return ErrorResult(
        error_percent=mean,
        u_c_percent=u_c,
        k=k,
        expanded_percent=k * u_c,
        dof=dof,
        components=tuple(c for c, _ in parts),
        readings=n,
        coverage=cov,
        notes=tuple(notes),
    )
