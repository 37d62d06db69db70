"""The error budget: hand-computed RSS, Welch–Satterthwaite structure, monotonicity, bad input."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.metrology import error_budget

ALL_B = dict(
    ref_cal_u_percent=0.02,
    ref_drift_percent=0.01,
    ref_pulses_per_gate=720_000,
    lag_deg=60.0,
    ref_phase_error_urad=100.0,
    source_stability_percent=0.006,
)


def test_hand_computed_rss_all_type_b():
    """One reading (no type A), every other input type B with infinite dof.

    u_cal    = 0.02/2                         = 0.01
    u_drift  = 0.01/√3                        = 0.0057735
    u_q      = (100/720 000)/√3               = 0.000080188
    u_phase  = 100·tan 60°·100e-6/√3 = 0.017321/√3 = 0.01
    u_source = 0.006/√3                       = 0.0034641
    u_c² = 1e-4 + 3.33333e-5 + 6.43e-9 + 1e-4 + 1.2e-5 = 2.453398e-4 → u_c = 0.0156633 %
    ν = ∞ → k95 = 1.959964; U = 0.0306996 %
    """
    r = error_budget([0.05], **ALL_B)
    assert r.error_percent == pytest.approx(0.05)
    assert r.u_c_percent == pytest.approx(0.0156633, abs=1e-7)
    assert math.isinf(r.dof)
    assert r.k == pytest.approx(1.959964, abs=1e-6)
    assert r.expanded_percent == pytest.approx(0.0306996, abs=1e-7)
    assert r.readings == 1
    assert [c.kind for c in r.components] == ["B"] * 5
    phase = next(c for c in r.components if "phase" in c.name)
    assert phase.u_percent == pytest.approx(0.01)
    assert phase.unit == "µrad" and phase.sensitivity == pytest.approx(1.7320508e-4)
    assert any("single reading" in n for n in r.notes)  # says repeatability was not evaluated
    assert r.registration_percent == pytest.approx(100.05)


def test_four_component_budget_structure_and_k():
    readings = [0.050, 0.060, 0.040, 0.050, 0.055, 0.045, 0.050, 0.052, 0.048, 0.050]
    r = error_budget(readings, ref_cal_u_percent=0.02, ref_drift_percent=0.01, ref_pulses_per_gate=720_000)
    names = [c.name for c in r.components]
    assert names == [
        "Repeatability of 10 readings",
        "Reference calibration",
        "Reference drift since calibration",
        "Reference pulse quantisation",
    ]
    rep = r.components[0]
    assert rep.kind == "A" and rep.dof == 9
    # RSS of the components is u_c (all sensitivities 1 here)
    assert r.u_c_percent == pytest.approx(math.sqrt(sum(c.u_percent**2 for c in r.components)))
    # Welch–Satterthwaite by hand: ν = u_c⁴ / (u_A⁴/9); type B terms have ν = ∞
    assert r.dof == pytest.approx(r.u_c_percent**4 / (rep.u_percent**4 / 9), rel=1e-9)
    assert 100 < r.dof < math.inf
    assert 1.96 <= r.k < 1.99  # close to stack.md's k95 = 1.964 at ν ≈ 606
    assert r.expanded_percent == pytest.approx(r.k * r.u_c_percent)


def test_few_readings_give_a_large_k():
    # 3 readings dominate: ν ≈ 2, k95 ≈ 4.3 — an honest certificate must not say k = 2
    r = error_budget([0.0, 0.3, -0.3], ref_cal_u_percent=0.001, ref_pulses_per_gate=1e7)
    assert 2 < r.dof < 2.1
    assert r.k == pytest.approx(4.30, abs=0.02)


def test_pf05_point_carries_more_uncertainty_than_pf1():
    common = dict(ref_cal_u_percent=0.02, ref_pulses_per_gate=720_000, ref_phase_error_urad=300.0)
    pf1 = error_budget([0.0], lag_deg=0.0, **common)
    pf05 = error_budget([0.0], lag_deg=60.0, **common)
    assert pf05.expanded_percent > pf1.expanded_percent
    assert not any("phase" in c.name for c in pf1.components)  # tan 0 = 0: no phase term at PF 1


def test_prior_repeatability_used_for_a_single_reading():
    r = error_budget([0.0], ref_cal_u_percent=0.0, ref_pulses_per_gate=1e12, repeatability_prior_percent=0.03)
    assert r.u_c_percent == pytest.approx(0.03, rel=1e-6)
    assert any("prior" in n for n in r.notes)


def test_meter_quantisation_only_when_meter_pulses_given():
    # timed window: ±1 meter pulse in 12 → (100/12)/√3 = 4.81 % — why timed tests need many pulses
    gated = error_budget([0.0], ref_cal_u_percent=0.0, ref_pulses_per_gate=1e12)
    timed = error_budget([0.0], ref_cal_u_percent=0.0, ref_pulses_per_gate=1e12, meter_pulses_per_gate=12)
    assert not any("Meter" in c.name for c in gated.components)
    assert timed.u_c_percent == pytest.approx(100 / 12 / math.sqrt(3), rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"readings_percent": []}, "readings_percent"),
        ({"readings_percent": [0.1, math.nan]}, "readings_percent[1]"),
        ({"ref_cal_u_percent": -0.01}, "ref_cal_u_percent"),
        ({"ref_cal_k": 0}, "ref_cal_k"),
        ({"ref_pulses_per_gate": 0}, "ref_pulses_per_gate"),
        ({"ref_pulses_per_gate": -720_000}, "ref_pulses_per_gate"),
        ({"meter_pulses_per_gate": -1}, "meter_pulses_per_gate"),
        ({"lag_deg": 90.0}, "lag_deg"),
        ({"ref_phase_error_urad": math.inf}, "ref_phase_error_urad"),
        ({"coverage": 95}, "coverage"),
    ],
)
def test_bad_input(kwargs, field):
    args = {"readings_percent": [0.0], "ref_cal_u_percent": 0.02, "ref_pulses_per_gate": 720_000} | kwargs
    readings = args.pop("readings_percent")
    with pytest.raises(InputError) as err:
        error_budget(readings, **args)
    assert err.value.field == field


B_INPUTS = [
    "ref_cal_u_percent",
    "ref_drift_percent",
    "ref_phase_error_urad",
    "source_stability_percent",
    "temperature_percent",
]
small = st.floats(min_value=0.0, max_value=0.5)


@settings(max_examples=60, deadline=None)
@given(
    base=st.fixed_dictionaries({name: small for name in B_INPUTS}),
    which=st.sampled_from([*B_INPUTS, "ref_pulses_per_gate"]),
    grow=st.floats(min_value=1.1, max_value=10.0),
    lag=st.floats(min_value=-80.0, max_value=80.0),
)
def test_expanded_grows_when_a_type_b_component_grows(base, which, grow, lag):
    """All type B (ν = ∞, k fixed): U grows with any component (fewer reference pulses = larger)."""
    base = dict(base, ref_pulses_per_gate=1e4, lag_deg=lag)
    bigger = dict(base)
    if which == "ref_pulses_per_gate":
        bigger[which] = base[which] / grow
    elif which == "ref_phase_error_urad":
        # the phase term is 100·tan(lag)·1e-6 %/µrad: a 1e-3 µrad change is below float resolution
        bigger[which] = max(base[which] * grow, 10.0)
    else:
        bigger[which] = max(base[which] * grow, 1e-3)
    a, b = error_budget([0.0], **base), error_budget([0.0], **bigger)
    if which == "ref_phase_error_urad" and abs(lag) < 5.0:
        assert b.expanded_percent >= a.expanded_percent * (1 - 1e-12)
    else:
        assert b.expanded_percent > a.expanded_percent


@settings(max_examples=60, deadline=None)
@given(
    scatter=st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=2, max_size=10).filter(
        lambda xs: max(xs) - min(xs) > 1e-3
    ),
    grow=st.floats(min_value=1.1, max_value=10.0),
    cal=small,
)
def test_expanded_grows_when_the_scatter_grows(scatter, grow, cal):
    """More scatter with the same n: u_c up and ν_eff down, so k and U both go up."""
    a = error_budget(scatter, ref_cal_u_percent=cal, ref_pulses_per_gate=1e6)
    b = error_budget([x * grow for x in scatter], ref_cal_u_percent=cal, ref_pulses_per_gate=1e6)
    assert b.u_c_percent > a.u_c_percent
    assert b.expanded_percent > a.expanded_percent


@settings(max_examples=60, deadline=None)
@given(
    scatter=st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=2, max_size=10),
    cal=small,
    grow=st.floats(min_value=1.1, max_value=10.0),
)
def test_combined_uncertainty_always_grows_with_a_type_b_component(scatter, cal, grow):
    a = error_budget(scatter, ref_cal_u_percent=cal, ref_pulses_per_gate=1e6)
    b = error_budget(scatter, ref_cal_u_percent=max(cal * grow, 1e-3), ref_pulses_per_gate=1e6)
    assert b.u_c_percent > a.u_c_percent


def test_welch_satterthwaite_can_lower_u_when_type_b_grows_with_few_readings():
    """Documented, not a bug: 2 readings give ν = 1 and k95 = 12.7; adding a comparable type-B term
    raises ν_eff and lowers k faster than u_c grows, so U drops. Certificates should say ν_eff and k."""
    a = error_budget([0.0, 0.1], ref_cal_u_percent=0.0, ref_pulses_per_gate=1e12)
    b = error_budget([0.0, 0.1], ref_cal_u_percent=0.1, ref_pulses_per_gate=1e12)
    assert b.u_c_percent > a.u_c_percent
    assert b.expanded_percent < a.expanded_percent
