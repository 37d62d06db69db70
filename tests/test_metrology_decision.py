"""Decision rules: simple and guard-banded acceptance, TUR."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.metrology import (
    DecisionRule,
    GuardBandedAcceptance,
    SimpleAcceptance,
    get_decision_rule,
)
from procedures.metrology import test_uncertainty_ratio as tur


def test_tur_example_from_standards():
    # class 0.2 (±0.2 %) with U = 0.05 % → 0.2/0.05 = 4:1
    assert tur(0.2, 0.05) == pytest.approx(4.0)
    assert tur(0.2, 0.0) == math.inf


def test_simple_acceptance_ignores_u():
    rule = get_decision_rule("simple")
    assert rule.decide(0.19, 0.05, -0.2, 0.2).outcome == "pass"
    assert rule.decide(0.2, 0.05, -0.2, 0.2).outcome == "pass"  # on the limit passes
    v = rule.decide(-0.21, 0.05, -0.2, 0.2)
    assert v.outcome == "fail" and v.rule == "simple" and v.tur == pytest.approx(4.0)
    assert "not used" in rule.statement


def test_guard_banded_three_outcomes():
    rule = get_decision_rule("guard-banded")
    # limit ±0.2 %, U 0.05 %: pass ≤ 0.15, indeterminate 0.15 … 0.25, fail > 0.25
    assert rule.decide(0.15, 0.05, -0.2, 0.2).outcome == "pass"
    assert rule.decide(-0.10, 0.05, -0.2, 0.2).outcome == "pass"
    v = rule.decide(0.18, 0.05, -0.2, 0.2)
    assert v.outcome == "indeterminate" and not v.accepted
    assert rule.decide(-0.24, 0.05, -0.2, 0.2).outcome == "indeterminate"
    assert rule.decide(-0.18, 0.05, -0.2, 0.2).outcome == "indeterminate"  # lower guard band too
    assert rule.decide(-0.26, 0.05, -0.2, 0.2).outcome == "fail"
    assert rule.decide(0.26, 0.05, -0.2, 0.2).outcome == "fail"
    assert "not accepted" in rule.statement


def test_guard_band_wider_than_tolerance_never_passes():
    rule = GuardBandedAcceptance()
    assert rule.decide(0.0, 0.3, -0.2, 0.2).outcome == "indeterminate"


def test_asymmetric_limits():
    v = SimpleAcceptance().decide(0.4, 0.1, -0.5, 0.5)
    assert v.accepted
    assert GuardBandedAcceptance().decide(0.45, 0.1, -1.0, 0.5).outcome == "indeterminate"


def test_rules_satisfy_the_protocol():
    for name in ("simple", "guard-banded"):
        rule = get_decision_rule(name)
        assert isinstance(rule, DecisionRule)
        assert rule.name == name and rule.title and len(rule.statement) > 40


def test_unknown_rule_and_bad_input():
    with pytest.raises(InputError) as err:
        get_decision_rule("lenient")
    assert err.value.field == "decision_rule" and "guard-banded" in err.value.allowed
    with pytest.raises(InputError) as err:
        get_decision_rule("simple").decide(0.1, -0.05, -0.2, 0.2)
    assert err.value.field == "expanded_percent"
    with pytest.raises(InputError) as err:
        get_decision_rule("simple").decide(math.nan, 0.05, -0.2, 0.2)
    assert err.value.field == "error_percent"
    with pytest.raises(InputError) as err:
        get_decision_rule("simple").decide(0.1, 0.05, 0.2, -0.2)
    assert err.value.field == "limit_lo"
    with pytest.raises(InputError):
        tur(0.0, 0.05)


def test_pytest_does_not_collect_the_tur_function():
    from procedures.metrology import test_uncertainty_ratio

    assert test_uncertainty_ratio.__test__ is False


num = st.floats(min_value=-5.0, max_value=5.0)


@given(
    e=num, u=st.floats(min_value=0.0, max_value=2.0), lo=num, width=st.floats(min_value=0.01, max_value=5.0)
)
def test_guard_banded_never_passes_what_simple_fails(e, u, lo, width):
    hi = lo + width
    simple = SimpleAcceptance().decide(e, u, lo, hi)
    guarded = GuardBandedAcceptance().decide(e, u, lo, hi)
    if simple.outcome == "fail":
        assert guarded.outcome != "pass"
    if guarded.outcome == "pass":
        assert simple.outcome == "pass"
    if guarded.outcome == "fail":
        assert simple.outcome == "fail"
