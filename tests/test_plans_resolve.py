"""Built-in plans resolve for every form and class they claim, in amperes a technician can check by hand,
with the sequence rules of the reference (wiring first on polyphase forms, LL before FL)."""

import math

import pytest

from procedures.errors import InputError
from procedures.forms import get_form
from procedures.plans import list_plans, load_plan

CASES = [(p.id, f, c) for p in list_plans() for f in p.forms for c in p.classes]


@pytest.mark.parametrize("plan_id,form,cls", CASES)
def test_every_plan_resolves_for_every_claim(plan_id, form, cls):
    rp = load_plan(plan_id).resolve(form, cls)
    assert rp.form.name == form and rp.accuracy_class == cls
    assert len(rp.sha256) == 64
    assert rp.voltage_v == get_form(form).nominal_voltages[0]
    assert rp.points
    for pt in rp.points:
        assert pt.current_a >= 0 and pt.voltage_v > 0
        assert pt.element == "series" or pt.element in get_form(form).element_names
        if pt.kind == "accuracy":
            assert pt.limit_percent > 0 and pt.limit_provenance.status
            assert pt.current_a > 0
        if pt.kind == "creep":
            assert pt.current_a == 0 and pt.duration_s
    labels = [p.label for p in rp.points]
    if "LL" in labels and "FL" in labels:
        assert labels.index("LL") < labels.index("FL"), "lowest power first: LL before FL"
    if rp.standard == "ANSI C12.20" and rp.form.polyphase:
        kinds = [p.kind for p in rp.points]
        assert kinds.index("wiring") < kinds.index("accuracy"), "wiring check before accuracy points"


def test_required_ansi_plans_cover_the_forms():
    claimed = {f for p in list_plans() if p.standard == "ANSI C12.20" for f in p.forms}
    assert {"2S", "9S", "12S", "16S"} <= claimed


def _pts(rp):
    return {p.id: p for p in rp.points}


def test_2s_cl200_hand_checked():
    rp = load_plan("ansi-c12.20-2s").resolve("2S", "0.2", ta=30)
    pts = _pts(rp)
    assert (rp.ta_a, rp.voltage_v, rp.current_class) == (30.0, 240.0, "CL200")
    assert (pts["FL"].current_a, pts["FL"].lag_deg, pts["FL"].voltage_v) == (30.0, 0.0, 240.0)
    assert pts["LL"].current_a == 3.0
    assert (pts["PF"].current_a, pts["PF"].lag_deg) == (30.0, 60.0)
    assert pts["PF"].power_factor == pytest.approx(0.5)
    assert pts["FL"].limit_percent == 0.2
    assert pts["starting"].current_a == 0.05  # CL200 starting load from the limit table
    assert pts["creep"].voltage_v == pytest.approx(264.0)


def test_9s_cl20_elements_and_order():
    rp = load_plan("ansi-c12.20-9s").resolve("9S", "0.5")
    ids = [p.id for p in rp.points]
    assert ids[0] == "wiring"
    first_accuracy = next(i for i, p in enumerate(rp.points) if p.kind == "accuracy")
    assert ids.index("wiring") < first_accuracy
    assert ids.index("LL") < ids.index("FL")
    assert ids.index("LL-A") < ids.index("FL-A")
    pts = _pts(rp)
    assert pts["FL-B"].element == "B" and pts["FL-B"].current_a == 2.5 and pts["FL-B"].pulse_divisor == 3
    assert pts["FL"].pulse_divisor == 1
    assert pts["LL-C"].current_a == pytest.approx(0.25)
    assert pts["starting"].current_a == 0.005


def test_12s_left_right_elements():
    rp = load_plan("ansi-c12.20-12s").resolve("12S", "0.2")
    elements = {p.element for p in rp.points if p.kind == "accuracy"}
    assert elements == {"series", "A", "C"}
    assert _pts(rp)["FL-C"].pulse_divisor == 2


@pytest.mark.parametrize(
    "plan_id,form", [("ansi-c12.20-9s", "9S"), ("ansi-c12.20-12s", "12S"), ("ansi-c12.20-16s", "16S")]
)
def test_polyphase_plans_check_wiring_first(plan_id, form):
    kinds = [p.kind for p in load_plan(plan_id).resolve(form, "0.2").points]
    assert "wiring" in kinds and kinds.index("wiring") < kinds.index("accuracy")


def test_in_service_average_rule_default_and_override():
    plan = load_plan("ansi-c12.1-inservice")
    rp = plan.resolve("2S", "0.5")
    assert rp.average_rule.name == "method-1"
    assert rp.average_rule.limit_percent == 2.0
    assert rp.average_rule.average({"FL": 101.0, "LL": 96.0, "PF": 100.0}) == pytest.approx(100.0)
    pts = _pts(rp)
    assert (pts["FL"].limit_percent, pts["LL"].limit_percent, pts["PF"].limit_percent) == (1.0, 1.0, 2.0)
    assert pts["FL"].limit_role == "adjust"
    nd = plan.resolve("16S", "0.5", average_rule="nd-polyphase")
    assert nd.average_rule.average({"FL": 100.0, "LL": 100.0, "PF": 93.0}) == pytest.approx(98.0)
    with pytest.raises(InputError) as err:
        plan.resolve("2S", "0.5", average_rule="custom")  # custom needs the plan's own weights
    assert err.value.field == "average_rule.weights"


def test_iec_direct_maps_ansi_cl200_to_ib_and_imax():
    rp = load_plan("iec-62053-21-direct").resolve("16S", "1")
    pts = _pts(rp)
    assert rp.imax_a == 200.0 and rp.ib_a == 30.0
    assert pts["pf1-0.05Ib"].current_a == pytest.approx(1.5) and pts["pf1-0.05Ib"].limit_percent == 1.5
    assert pts["pf1-Imax"].current_a == 200.0 and pts["pf1-Imax"].limit_percent == 1.0
    cap = pts["cap08-1.0Ib"]
    assert cap.lag_deg < 0 and cap.power_factor == pytest.approx(0.8, abs=1e-5)
    assert pts["ind05-0.1Ib"].lag_deg == 60.0 and pts["ind05-0.1Ib"].limit_percent == 1.5
    assert pts["starting"].current_a == pytest.approx(0.004 * 30)
    assert {pts[f"element-{e}"].limit_percent for e in "ABC"} == {2.0}
    assert pts["no-load"].voltage_v == pytest.approx(1.15 * 120)


def test_iec_single_element_points_skipped_on_single_element_form():
    rp = load_plan("iec-62053-21-direct").resolve("2S", "2")
    assert not [p for p in rp.points if p.element != "series"]


def test_iec_22_explicit_in_and_imax():
    rp = load_plan("iec-62053-22").resolve("9S", "0.2S", in_=5.0, imax=10.0)
    pts = _pts(rp)
    assert pts["pf1-1.0In"].current_a == 5.0 and pts["pf1-Imax"].current_a == 10.0
    assert pts["starting"].current_a == pytest.approx(0.005)
    assert pts["pf1-0.01In"].limit_percent == 0.4


def test_form_not_claimed_lists_the_plans_forms():
    with pytest.raises(InputError) as err:
        load_plan("ansi-c12.20-2s").resolve("9S", "0.2")
    assert err.value.field == "form" and err.value.allowed == "2S"


def test_unknown_form_lists_known_forms():
    with pytest.raises(InputError) as err:
        load_plan("ansi-c12.20-2s").resolve("99S", "0.2")
    assert err.value.field == "form" and "16S" in err.value.allowed


def test_class_not_claimed():
    with pytest.raises(InputError) as err:
        load_plan("ansi-c12.20-2s").resolve("2S", "1")
    assert err.value.field == "accuracy_class" and err.value.allowed == "0.1, 0.2, 0.5"


def test_ta_not_of_the_class():
    plan = load_plan("ansi-c12.20-2s")
    with pytest.raises(InputError) as err:
        plan.resolve("2S", "0.2", ta=2.5)
    assert err.value.field == "ta" and "30 A (CL200)" in err.value.allowed
    with pytest.raises(InputError) as err:
        plan.resolve("2S", "0.2", ta=50, current_class="CL200")
    assert err.value.field == "ta" and "30 A" in err.value.allowed


def test_ta_picks_the_class_and_missing_starting_figure_is_an_error():
    plan = load_plan("ansi-c12.20-2s")
    with pytest.raises(InputError) as err:
        plan.resolve("2S", "0.2", ta=50)  # CL320: no starting load in the table, none invented
    assert err.value.field.endswith(".limit") and "CL320" in str(err.value)
    rp = load_plan("ansi-c12.1-inservice").resolve("2S", "0.2", ta=50)
    assert rp.current_class == "CL320" and _pts(rp)["FL"].current_a == 50.0


def test_bad_voltage():
    with pytest.raises(InputError) as err:
        load_plan("ansi-c12.20-2s").resolve("2S", "0.2", voltage=-240)
    assert err.value.field == "voltage"


def test_current_class_not_of_the_form():
    with pytest.raises(InputError) as err:
        load_plan("ansi-c12.1-inservice").resolve("2S", "0.2", current_class="CL20")
    assert err.value.field == "current_class" and "CL200" in err.value.allowed


def test_lag_convention_capacitive_is_negative():
    rp = load_plan("iec-62053-22").resolve("5S", "0.5S")
    caps = [p for p in rp.points if p.label.startswith("PF0.8c")]
    assert caps and all(math.isclose(p.lag_deg, -36.8699) for p in caps)


def test_in_service_plan_feeds_the_metrology_verdict():
    """The plan's data (rule, ±2 % average, 1 %/2 % adjust) drives metrology's in-service verdict."""
    from procedures.metrology.averages import AVERAGE_RULES, in_service_verdict

    plan = load_plan("ansi-c12.1-inservice")
    for name, met in AVERAGE_RULES.items():
        ours = plan.resolve("16S", "0.2", average_rule=name).average_rule.metrology_rule()
        assert dict(ours.weights) == dict(met.weights), f"{name}: plan data and metrology disagree"
    rp = plan.resolve("2S", "0.2")
    limits = rp.in_service_limits()
    assert limits == {"average_limit_percent": 2.0, "adjust_pf1": 1.0, "adjust_pf05": 2.0}
    verdict = in_service_verdict(
        {"FL": 101.5, "LL": 100.0, "PF": 100.0}, rp.average_rule.metrology_rule(), **limits
    )
    assert verdict.acceptable and verdict.adjust  # average 101.2 % inside 98-102, FL beyond 1 %
