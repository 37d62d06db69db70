"""Gate planning: pulses and seconds per test point, against standards.md §5 and hand arithmetic."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.metrology import element_test_pulses, plan_gate


@pytest.mark.parametrize(
    ("power_w", "pulses", "seconds"),
    [
        (7200.0, 12, 3.6),  # FL: 12 × 0.6 Wh × 3600 / 7200 W = 25 920/7200 = 3.6 s
        (720.0, 1, 3.0),  # LL: 1 × 0.6 × 3600 / 720 = 2160/720 = 3.0 s
        (3600.0, 12, 7.2),  # PF: 12 × 0.6 × 3600 / 3600 = 7.2 s
    ],
)
def test_2s_worked_example_from_standards(power_w, pulses, seconds):
    plan = plan_gate(power_w, 0.6, 1e-5, 0.2, min_pulses=pulses)
    assert plan.meter_pulses == pulses
    assert plan.gate_seconds == pytest.approx(seconds)
    # 12 × 0.6 / 1e-5 = 720 000 reference pulses, ±1 → 100/720 000 = 0.000139 %: far inside 0.05 %
    assert plan.ref_pulses_expected == pytest.approx(pulses * 0.6 / 1e-5)
    assert plan.expected_u_percent <= 0.25 * 0.2


def test_coarse_reference_drives_the_pulse_count():
    # K_r 0.01 Wh, Kt 0.6 Wh, limit 0.2 %, share 0.25 → U ≤ 0.05 %, u ≤ 0.025 %.
    # u_q = (100/√3)·(K_r/Kt)/N_m = 57.735·0.016667/N_m = 0.96225/N_m ≤ 0.025 → N_m ≥ 38.49 → 39.
    plan = plan_gate(7200.0, 0.6, 0.01, 0.2)
    assert plan.meter_pulses == 39
    assert plan.ref_pulses_expected == pytest.approx(2340.0)  # 39 × 60
    assert plan.quantisation_percent == pytest.approx(100 / 2340)  # 0.0427 % worst case
    assert plan.gate_seconds == pytest.approx(11.7)  # 39 × 0.6 × 3600 / 7200
    assert plan.expected_u_percent == pytest.approx(2 * (100 / 2340) / math.sqrt(3))  # 0.04935 %
    # and 38 would not have done: 2 × (100/2280)/√3 = 0.05064 % > 0.05 %
    assert 2 * (100 / 2280) / math.sqrt(3) > 0.05


def test_repeatability_needs_more_pulses():
    # rep 0.02 %, 1 reading: u_q ≤ √(0.025² − 0.02²) = √0.000225 = 0.015 % → N_m ≥ 0.96225/0.015 = 64.15 → 65
    plan = plan_gate(7200.0, 0.6, 0.01, 0.2, repeatability_percent=0.02)
    assert plan.meter_pulses == 65
    assert plan.expected_u_percent <= 0.05


def test_repeatability_alone_too_large_asks_for_readings():
    # rep 0.03 % > 0.025 % allowed: no pulse count helps; 2 readings give 0.0212 % < 0.025 %
    with pytest.raises(InputError) as err:
        plan_gate(7200.0, 0.6, 0.01, 0.2, repeatability_percent=0.03)
    assert err.value.field == "repeatability_percent"
    assert "readings >= 2" in err.value.allowed
    plan = plan_gate(7200.0, 0.6, 0.01, 0.2, repeatability_percent=0.03, readings=2)
    assert plan.readings == 2 and plan.total_seconds == pytest.approx(2 * plan.gate_seconds)


def test_meter_edge_quantisation_when_counting_in_a_window():
    # ±1 meter pulse: u_q ≈ (100/√3)·(1e-5/0.6 + 1)/N_m = 57.736/N_m ≤ 0.025 → N_m = 2310
    plan = plan_gate(7200.0, 0.6, 1e-5, 0.2, meter_edge=True)
    assert plan.meter_pulses == 2310
    assert plan.gate_seconds == pytest.approx(693.0)


def test_max_gate_refused_with_what_is_needed():
    with pytest.raises(InputError) as err:
        plan_gate(7200.0, 0.6, 0.01, 0.2, max_gate_s=10.0)  # needs 11.7 s
    assert err.value.field == "max_gate_s"
    assert "11.7" in str(err.value)


def test_series_elements_reduce_reference_pulses():
    # 12S in series, c = 2: reference sees half: N_r = 12 × 2.4 / (1e-5 × 2) = 1 440 000
    plan = plan_gate(14400.0, 2.4, 1e-5, 0.2, min_pulses=12, elements_in_series=2)
    assert plan.ref_pulses_expected == pytest.approx(1_440_000)


def test_element_test_pulses_round_up():
    assert element_test_pulses(12, 3) == 4
    assert element_test_pulses(12, 2) == 6
    assert element_test_pulses(10, 3) == 4  # 3.33 → 4
    assert element_test_pulses(1, 3) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"power_w": 0}, "power_w"),
        ({"kt_wh": math.nan}, "kt_wh"),
        ({"kr_wh": -1e-5}, "kr_wh"),
        ({"limit_percent": 0}, "limit_percent"),
        ({"target_share": 1.5}, "target_share"),
        ({"readings": 0}, "readings"),
        ({"min_pulses": -1}, "min_pulses"),
        ({"repeatability_percent": -0.01}, "repeatability_percent"),
    ],
)
def test_bad_input(kwargs, field):
    args = {"power_w": 7200.0, "kt_wh": 0.6, "kr_wh": 1e-5, "limit_percent": 0.2} | kwargs
    with pytest.raises(InputError) as err:
        plan_gate(**args)
    assert err.value.field == field


def test_element_test_pulses_bad_input():
    with pytest.raises(InputError) as err:
        element_test_pulses(12, 0)
    assert err.value.field == "n_elements"


@given(
    power=st.floats(min_value=1.0, max_value=50_000.0),
    kt=st.floats(min_value=0.01, max_value=10.0),
    kr=st.floats(min_value=1e-6, max_value=0.1),
    limit=st.floats(min_value=0.05, max_value=2.0),
    edge=st.booleans(),
)
def test_plan_is_the_fewest_pulses_meeting_the_target(power, kt, kr, limit, edge):
    plan = plan_gate(power, kt, kr, limit, meter_edge=edge)
    assert plan.expected_u_percent <= 0.25 * limit * (1 + 1e-9)
    if plan.meter_pulses > 1:
        fewer = plan.meter_pulses - 1
        u_q = 100 * (kr / (fewer * kt) + (1 / fewer if edge else 0)) / math.sqrt(3)
        assert 2 * u_q > 0.25 * limit * (1 - 1e-9)
    assert plan.gate_seconds == pytest.approx(plan.meter_pulses * kt * 3600 / power)
