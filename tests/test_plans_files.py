"""A shop's own plan file: loads by path, hashes its bytes, and every mistake in it gives an InputError
naming the file, the entry and the field."""

import hashlib

import pytest

from procedures.errors import InputError
from procedures.plans import load_plan

GOOD = """id = "shop-2s"
title = "Shop 2S"
standard = "ANSI C12.20"
version = "1"
forms = ["2S"]
class_family = "ansi"
classes = ["0.2"]
decision_rule = "guard-banded"
target_share = 0.25
limits = "ansi-c12.20-shop"

[[points]]
id = "LL"
label = "LL"
kind = "accuracy"
element = "series"
current = 0.05
lag_deg = 0.0
readings = 2
settle_s = 5
limit = "accuracy"
"""


def write(tmp_path, text, name="plan.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shop_plan_loads_by_path(tmp_path):
    path = write(tmp_path, GOOD)
    plan = load_plan(str(path))
    rp = plan.resolve("2S", "0.2")
    assert rp.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rp.points[0].current_a == pytest.approx(1.5)  # California-style 5 % LL
    assert rp.decision_rule == "guard-banded"


@pytest.mark.parametrize(
    "old,new,field",
    [
        ("readings = 2\n", "", "points[0](LL).readings"),
        ('kind = "accuracy"', 'kind = "accurasy"', "points[0](LL).kind"),
        ('element = "series"', 'element = "D"', "points[0](LL).element"),
        ('element = "series"', 'element = "B"', "points[0](LL).element"),  # 2S has no element B
        ('limit = "accuracy"', 'limit = "acuracy"', "points[0](LL).limit"),
        ('limit = "accuracy"', 'limit = "wiring:current-angle"', "points[0](LL).limit"),  # not a percent
        ("current = 0.05", "current = -0.05", "points[0](LL).current"),
        ("lag_deg = 0.0", "lag_deg = 400.0", "points[0](LL).lag_deg"),
        ('decision_rule = "guard-banded"', 'decision_rule = "lenient"', "plan.decision_rule"),
        ('forms = ["2S"]', 'forms = ["2X"]', "plan.forms[0]"),
        ('classes = ["0.2"]', 'classes = ["0.3"]', "plan.classes[0]"),
        ("target_share = 0.25", "target_share = 4", "plan.target_share"),
        ('title = "Shop 2S"\n', "", "plan.title"),
    ],
)
def test_plan_file_errors_name_file_entry_and_field(tmp_path, old, new, field):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(InputError) as err:
        load_plan(str(path))
    assert err.value.field == field
    assert err.value.source == str(path)


def test_unknown_kind_lists_the_kinds(tmp_path):
    path = write(tmp_path, GOOD.replace('kind = "accuracy"', 'kind = "soak"'))
    with pytest.raises(InputError) as err:
        load_plan(str(path))
    assert (
        err.value.allowed
        == "accuracy, starting, creep, wiring, register, influence, demand, clock, tou, identity"
    )


def test_duplicate_point_id(tmp_path):
    body = GOOD + GOOD[GOOD.index("[[points]]") :]
    with pytest.raises(InputError) as err:
        load_plan(str(write(tmp_path, body)))
    assert err.value.field == "points[1].id"


def test_not_toml(tmp_path):
    with pytest.raises(InputError) as err:
        load_plan(str(write(tmp_path, "id = [")))
    assert "TOML" in err.value.problem


def test_unknown_plan_id_lists_builtins():
    with pytest.raises(InputError) as err:
        load_plan("ansi-c12.20-99s")
    assert "ansi-c12.20-2s" in err.value.allowed


def test_custom_average_rule_with_own_limit_file(tmp_path):
    """A shop cites its own jurisdiction's rule and limit table next to its plan."""
    write(
        tmp_path,
        'id = "state-x"\ntitle = "State X"\nversion = "3"\nfamily = "ansi"\n'
        '[limits.avg]\ndescription = "d"\nunit = "percent"\nstandard = "State X rule 4.2"\nstatus = "confirmed"\n'
        'values = [{ class = "*", value = 1.5 }]\n',
        "state-x.toml",
    )
    text = GOOD.replace(
        'limits = "ansi-c12.20-shop"', 'limits = "ansi-c12.20-shop"\nlimit_files = ["state-x.toml"]'
    )
    text += '\n[average_rule]\nname = "custom"\nlimit = "state-x:avg"\nweights = { LL = 1 }\n'
    rp = load_plan(str(write(tmp_path, text))).resolve("2S", "0.2")
    assert rp.average_rule.limit_percent == 1.5
    assert rp.average_rule.limit_provenance.standard == "State X rule 4.2"
    assert rp.average_rule.average({"LL": 99.0}) == 99.0


def test_average_rule_weighing_a_missing_point(tmp_path):
    text = GOOD + '\n[average_rule]\nname = "method-1"\nlimit = "ansi-c12.1-inservice:average"\n'
    with pytest.raises(InputError) as err:
        load_plan(str(write(tmp_path, text))).resolve("2S", "0.2")
    assert err.value.field == "average_rule" and "FL" in err.value.problem


def test_register_point_needs_the_constant_limit_and_the_digit_in_its_table(tmp_path):
    """Found when the plan loads, not at the register point of a run (which would end it as an error)."""
    body = GOOD.replace('kind = "accuracy"', 'kind = "register"').replace(
        'limit = "accuracy"', 'limit = "ansi-c12.1-inservice:adjust-pf1"'
    )
    with pytest.raises(InputError) as err:
        load_plan(str(write(tmp_path, body)))
    assert err.value.field.endswith("limit") and "meter-constant, register-resolution" in str(err.value)
    ok = GOOD.replace('kind = "accuracy"', 'kind = "register"').replace(
        'limit = "accuracy"', 'limit = "register"'
    )
    assert load_plan(str(write(tmp_path, ok, "ok.toml"))).points[0].kind == "register"
