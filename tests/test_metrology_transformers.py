"""Transformer factor, primary Kh and register multiplier."""

import math

import pytest

from procedures.errors import InputError
from procedures.metrology import parse_ratio, primary_kh, register_multiplier, transformer_factor


def test_transformer_factor_and_primary_kh():
    # 9S behind 400:5 CTs and 14 400:120 VTs: TF = 80 × 120 = 9600; Kh 1.8 → primary Kh 17 280 Wh
    tf = transformer_factor(parse_ratio("400:5"), parse_ratio("14400/120"))
    assert tf == pytest.approx(9600.0)
    assert primary_kh(1.8, tf) == pytest.approx(17280.0)
    assert transformer_factor(80) == pytest.approx(80.0)  # no VT


def test_register_multiplier_is_dial_times_tf():
    assert register_multiplier(10, 80) == pytest.approx(800.0)
    assert register_multiplier(tf=80) == pytest.approx(80.0)
    assert register_multiplier(1, 1) == 1.0  # meter displaying primary values


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: transformer_factor(0), "ct_ratio"),
        (lambda: transformer_factor(80, -1), "vt_ratio"),
        (lambda: transformer_factor(math.nan), "ct_ratio"),
        (lambda: primary_kh(0, 80), "kh"),
        (lambda: primary_kh(1.8, math.inf), "tf"),
        (lambda: register_multiplier(0, 80), "dial_multiplier"),
        (lambda: parse_ratio("400-5", "ct_ratio"), "ct_ratio"),
        (lambda: parse_ratio("400:0", "ct_ratio"), "ct_ratio"),
    ],
)
def test_bad_input(call, field):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field == field
    assert err.value.allowed
