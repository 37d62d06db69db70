"""Percent registration by gating, timing and register reading, against hand-worked vectors."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.metrology import (
    error_percent,
    registration_pulse_gating,
    registration_register,
    registration_timed,
)


def test_gating_exact_meter_is_100_percent():
    # 12 meter pulses × 0.6 Wh = 7.2 Wh; 720 000 reference pulses × 1e-5 Wh = 7.2 Wh → 100.000 %
    assert registration_pulse_gating(12, 0.6, 720_000, 1e-5) == pytest.approx(100.0, abs=1e-12)


def test_gating_more_reference_pulses_means_meter_slow():
    # 720 144 × 1e-5 Wh = 7.20144 Wh true; 100 × 7.2 / 7.20144 = 99.98000 %; error −0.020 %
    r = registration_pulse_gating(12, 0.6, 720_144, 1e-5)
    assert r == pytest.approx(99.980004, abs=1e-6)
    assert error_percent(r) == pytest.approx(-0.019996, abs=1e-6)


def test_gating_series_elements_multiply_reference_energy():
    # 12S series test, 2 elements in series, single-phase reference sees one element:
    # meter 12 × 2.4 Wh = 28.8 Wh; reference 1 440 000 × 1e-5 = 14.4 Wh per element × 2 = 28.8 Wh → 100 %
    assert registration_pulse_gating(12, 2.4, 1_440_000, 1e-5, elements_in_series=2) == pytest.approx(100.0)
    # the same counts read as a polyphase reference (c = 1) would claim the meter is 200 % — the factor matters
    assert registration_pulse_gating(12, 2.4, 1_440_000, 1e-5) == pytest.approx(200.0)


def test_timed_method():
    # Kh 7.2 Wh × 10 rev = 72 Wh; true 7200 W × 36 s / 3600 = 72 Wh → 100 %
    assert registration_timed(7.2, 10, 7200.0, 36.0) == pytest.approx(100.0)
    # gate 36.036 s (meter slow): 100 × 72 / 72.072 = 99.9001 %
    assert registration_timed(7.2, 10, 7200.0, 36.036) == pytest.approx(99.900100, abs=1e-6)


def test_register_dial_test():
    # 12 347.1 − 12 345.6 = 1.5 kWh against 1.5 kWh reference → 100 %
    assert registration_register(12345.6, 12347.1, 1.5) == pytest.approx(100.0)
    # CT-rated, multiplier 80: (100.25 − 100.00) × 80 = 20 kWh against 20.1 kWh → 99.5025 %
    assert registration_register(100.00, 100.25, 20.1, multiplier=80) == pytest.approx(99.502488, abs=1e-6)


def test_register_rollover_must_be_declared():
    # 99 999.5 → 0.5 on a 5-dial register: 1.0 kWh registered against 1.0 kWh
    with pytest.raises(InputError) as err:
        registration_register(99999.5, 0.5, 1.0)
    assert err.value.field == "end_kwh" and "rollover_kwh" in str(err.value)
    assert registration_register(99999.5, 0.5, 1.0, rollover_kwh=100000) == pytest.approx(100.0)


def test_error_sign_convention():
    assert error_percent(100.3) == pytest.approx(0.3)  # fast: customer over-billed
    assert error_percent(99.7) == pytest.approx(-0.3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kt_wh": 0.0}, "kt_wh"),
        ({"kt_wh": -0.6}, "kt_wh"),
        ({"kt_wh": math.nan}, "kt_wh"),
        ({"kr_wh": math.inf}, "kr_wh"),
        ({"meter_pulses": -1}, "meter_pulses"),
        ({"meter_pulses": 0}, "meter_pulses"),
        ({"meter_pulses": 12.5}, "meter_pulses"),
        ({"meter_pulses": True}, "meter_pulses"),
        ({"ref_pulses": -5}, "ref_pulses"),
        ({"ref_pulses": 0}, "ref_pulses"),
        ({"elements_in_series": 0}, "elements_in_series"),
        ({"kt_wh": "0.6"}, "kt_wh"),
    ],
)
def test_gating_bad_input_names_the_field(kwargs, field):
    args = {"meter_pulses": 12, "kt_wh": 0.6, "ref_pulses": 720_000, "kr_wh": 1e-5} | kwargs
    with pytest.raises(InputError) as err:
        registration_pulse_gating(**args)
    assert err.value.field == field
    assert err.value.allowed  # says what would have been accepted


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0.0, 10, 7200.0, 36.0), "kh_wh"),
        ((math.nan, 10, 7200.0, 36.0), "kh_wh"),
        ((-7.2, 10, 7200.0, 36.0), "kh_wh"),
        ((7.2, -1, 7200.0, 36.0), "pulses"),
        ((7.2, 10, 0.0, 36.0), "true_power_w"),
        ((7.2, 10, 7200.0, 0.0), "seconds"),
    ],
)
def test_timed_bad_input(args, field):
    with pytest.raises(InputError) as err:
        registration_timed(*args)
    assert err.value.field == field


def test_integral_float_pulse_count_accepted():
    # TOML and spreadsheets give 12.0; that is a whole number of pulses
    assert registration_pulse_gating(12.0, 0.6, 720_000, 1e-5) == pytest.approx(100.0)


pulses = st.integers(min_value=1, max_value=10_000)
consts = st.floats(min_value=1e-6, max_value=100.0)
scale = st.integers(min_value=1, max_value=1000)


@given(n_m=pulses, kt=consts, n_r=st.floats(min_value=1.0, max_value=1e9), kr=consts, s=scale)
def test_scaling_kt_and_meter_pulses_leaves_registration_unchanged(n_m, kt, n_r, kr, s):
    # s times the pulses of a constant s times smaller is the same energy
    a = registration_pulse_gating(n_m, kt, n_r, kr)
    b = registration_pulse_gating(n_m * s, kt / s, n_r, kr)
    assert b == pytest.approx(a, rel=1e-9)


@given(
    n_m=pulses,
    kt=consts,
    n_r=st.floats(min_value=1.0, max_value=1e9),
    kr=consts,
    s=st.floats(min_value=1e-3, max_value=1e3),
)
def test_scaling_kr_and_reference_pulses_leaves_registration_unchanged(n_m, kt, n_r, kr, s):
    a = registration_pulse_gating(n_m, kt, n_r, kr)
    b = registration_pulse_gating(n_m, kt, n_r * s, kr / s)
    assert b == pytest.approx(a, rel=1e-9)


@given(n_m=pulses, kt=consts, kr=consts, extra=st.integers(min_value=1, max_value=1000))
def test_more_meter_energy_is_a_more_positive_error(n_m, kt, kr, extra):
    # same true energy; the meter that counted more pulses is faster → larger (more positive) error
    true_pulses = n_m * kt / kr
    slow = error_percent(registration_pulse_gating(n_m, kt, true_pulses, kr))
    fast = error_percent(registration_pulse_gating(n_m + extra, kt, true_pulses, kr))
    assert fast > slow
    assert slow == pytest.approx(0.0, abs=1e-9)
    assert fast > 0
