"""Limit tables: versioned, every value with provenance whose status matches the reference's marks,
looked up by class, and file errors that name the file, entry and field."""

import pytest

from procedures.catalog import STATUSES, average_rule, limit_for, load_limit_table, shipped_limit_tables
from procedures.errors import InputError

IEC = "iec-62053-21-22"


def test_every_table_is_versioned_and_every_value_has_provenance():
    tables = shipped_limit_tables()
    assert {"ansi-c12.20-shop", "ansi-c12.1-inservice", IEC, "mid", "wiring"} <= set(tables)
    for t in tables.values():
        assert t.version
        for e in t.entries.values():
            for v in e.values:
                assert v.provenance.standard and v.provenance.status in STATUSES
                assert v.table_version == t.version


@pytest.mark.parametrize("cls,value", [("0.1", 0.1), ("0.2", 0.2), ("0.5", 0.5)])
def test_ansi_shop_limit_is_the_class_and_marked_unconfirmed(cls, value):
    lim = limit_for("ansi-c12.20-shop", "accuracy", accuracy_class=cls)
    assert lim.value == value and lim.unit == "percent"
    # the reference states this as shop practice, not a confirmed C12.20 figure
    assert lim.provenance.status == "unconfirmed"


@pytest.mark.parametrize(
    "entry,cls,value,status",
    [
        ("pf1-low", "1", 1.5, "confirmed"),
        ("pf1-low", "2", 2.5, "unconfirmed"),
        ("pf1", "1", 1.0, "confirmed"),
        ("pf1", "0.2S", 0.2, "unconfirmed"),
        ("pfx-low", "0.2S", 0.5, "unconfirmed"),
        ("pfx", "0.5S", 0.6, "unconfirmed"),
        ("single-element", "1", 2.0, "confirmed"),
        ("single-element", "2", 3.0, "unconfirmed"),
        ("starting-direct", "1", 0.004, "confirmed"),
        ("starting-transformer", "0.2S", 0.001, "confirmed"),
        ("starting-transformer", "1", 0.002, "unconfirmed"),
        ("creep-window-constant", "0.2S", 900e6, "unconfirmed"),
    ],
)
def test_iec_table_matches_the_reference_marks(entry, cls, value, status):
    lim = limit_for(IEC, entry, accuracy_class=cls)
    assert lim.value == value
    assert lim.provenance.status == status


def test_s_class_limits_cite_62053_22():
    assert limit_for(IEC, "pf1", accuracy_class="0.5S").provenance.standard == "IEC 62053-22"
    assert limit_for(IEC, "pf1", accuracy_class="2").provenance.standard == "IEC 62053-21"


def test_in_service_limits_and_adjustment_thresholds():
    t = "ansi-c12.1-inservice"
    assert limit_for(t, "average", accuracy_class="0.5").value == 2.0
    assert limit_for(t, "adjust-pf1").value == 1.0
    assert limit_for(t, "adjust-pf05").value == 2.0


def test_mid_row_assignment_is_unconfirmed():
    assert limit_for("mid", "itr-imax", accuracy_class="C").value == 0.7
    assert limit_for("mid", "imin-itr", accuracy_class="C").value == 1.0
    assert limit_for("mid", "itr-imax", accuracy_class="A").provenance.status == "unconfirmed"


def test_ansi_starting_load_by_current_class():
    assert limit_for("ansi-c12.20-shop", "starting", current_class="CL200").value == 0.05
    assert limit_for("ansi-c12.20-shop", "starting", current_class="CL20").value == 0.005
    with pytest.raises(InputError) as err:
        limit_for("ansi-c12.20-shop", "starting", current_class="CL320")
    assert err.value.allowed == "CL20, CL200"  # no figure invented for the others


def test_unknown_table_and_entry_list_what_exists():
    with pytest.raises(InputError) as err:
        limit_for("c12.99", "accuracy")
    assert "ansi-c12.20-shop" in err.value.allowed
    with pytest.raises(InputError) as err:
        limit_for("ansi-c12.20-shop", "nope")
    assert "accuracy" in err.value.allowed


@pytest.mark.parametrize(
    "rule,expected",
    [
        ("method-1", (4 * 100.4 + 99.0) / 5),
        ("method-2", (100.4 + 99.0) / 2),
        ("method-3", 100.4),
        ("nc-method-4", (4 * 100.4 + 2 * 99.0 + 98.0) / 7),
        ("nd-polyphase", (4 * 100.4 + 99.0 + 2 * 98.0) / 7),
    ],
)
def test_weighted_average_rules(rule, expected):
    got = average_rule(rule).average({"FL": 100.4, "LL": 99.0, "PF": 98.0})
    assert got == pytest.approx(expected)


def test_unknown_average_rule_lists_the_rules():
    with pytest.raises(InputError) as err:
        average_rule("method-9")
    for name in ("method-1", "method-2", "method-3", "nc-method-4", "nd-polyphase", "custom"):
        assert name in err.value.allowed


BASE = """id = "shop"
title = "t"
version = "1"
family = "ansi"
[limits.acc]
description = "d"
unit = "percent"
standard = "ANSI C12.20"
status = "confirmed"
"""


@pytest.mark.parametrize(
    "tail,field",
    [
        ('values = [{ class = "0.2", value = -1 }]', "limits.acc.values[0].value"),
        ('values = [{ class = "0.3", value = 0.3 }]', "limits.acc.values[0].class"),
        ('values = [{ class = "0.2", value = 0.2, status = "maybe" }]', "limits.acc.values[0].status"),
        ("values = [{ value = 0.2 }]", "limits.acc.values[0].class"),
        ("values = []", "limits.acc.values"),
    ],
)
def test_limit_file_errors_name_file_entry_and_field(tmp_path, tail, field):
    path = tmp_path / "shop.toml"
    path.write_text(BASE + tail + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_limit_table(path)
    assert err.value.field == field
    assert err.value.source == str(path)


def test_limit_file_missing_unit(tmp_path):
    path = tmp_path / "shop.toml"
    path.write_text(BASE.replace('unit = "percent"\n', "") + 'values = [{ class = "0.2", value = 0.2 }]\n')
    with pytest.raises(InputError) as err:
        load_limit_table(path)
    assert err.value.field == "limits.acc.unit" and "missing" in err.value.problem
