"""Classes catalog: ANSI current classes with their TA, accuracy classes by family, provenance on every
entry, and clear errors for unknown names or a TA that is not the class's."""

import pytest

from procedures.catalog import (
    STATUSES,
    accuracy_class,
    check_ta,
    current_class,
    load_classes,
    shipped_classes,
    ta_for,
)
from procedures.errors import InputError


@pytest.mark.parametrize(
    "name,ta,imax",
    [
        ("CL2", 0.5, 2),
        ("CL10", 2.5, 10),
        ("CL20", 2.5, 20),
        ("CL100", 15, 100),
        ("CL200", 30, 200),
        ("CL320", 50, 320),
    ],
)
def test_ansi_current_classes(name, ta, imax):
    cc = current_class(name)
    assert (cc.ta_a, cc.max_a) == (ta, imax)
    assert ta_for(name) == ta
    assert cc.provenance.status == "confirmed"


def test_current_class_names_are_forgiving():
    assert current_class("cl200").name == "CL200"
    assert current_class("200").name == "CL200"


def test_unknown_current_class_lists_known_ones():
    with pytest.raises(InputError) as err:
        current_class("CL400")
    assert err.value.field == "current_class"
    assert "CL200" in err.value.allowed and "CL320" in err.value.allowed


def test_ta_not_of_the_class_is_refused():
    assert check_ta("CL200", 30) == 30
    with pytest.raises(InputError) as err:
        check_ta("CL200", 2.5)
    assert err.value.field == "ta"
    assert "30 A" in str(err.value)


REQUIRED = [
    "ansi:0.1", "ansi:0.2", "ansi:0.5",
    "iec:0.2S", "iec:0.5S", "iec:1", "iec:2",
    "iec23:2", "iec23:3",
    "iec24:0.5S", "iec24:1S", "iec24:1", "iec24:2", "iec24:3",
    "mid:A", "mid:B", "mid:C",
]  # fmt: skip


def test_required_accuracy_classes_ship_with_provenance():
    acc = shipped_classes().accuracy
    assert set(REQUIRED) <= set(acc)
    for c in acc.values():
        assert c.provenance.standard and c.provenance.status in STATUSES
    assert acc["iec23:2"].energy == "reactive" and acc["iec:2"].energy == "active"
    assert acc["iec:0.2S"].provenance.standard == "IEC 62053-22"
    assert acc["iec:1"].provenance.standard == "IEC 62053-21"


def test_accuracy_class_lookup_by_bare_name_and_family():
    assert accuracy_class("0.2").id == "ansi:0.2"
    assert accuracy_class("0.5s", "iec").id == "iec:0.5S"
    assert accuracy_class("iec24:1S").energy == "reactive"


def test_ambiguous_bare_name_asks_for_the_family():
    with pytest.raises(InputError) as err:
        accuracy_class("2")  # active 62053-21 and reactive 62053-23/24
    assert "iec:2" in err.value.allowed and "iec23:2" in err.value.allowed


def test_unknown_accuracy_class_lists_the_family():
    with pytest.raises(InputError) as err:
        accuracy_class("0.3", "ansi")
    assert err.value.allowed == "ansi:0.1, ansi:0.2, ansi:0.5"


def test_classes_file_errors_name_entry_and_field(tmp_path):
    bad = tmp_path / "classes.toml"
    bad.write_text(
        'version = "x"\n[current.CL200]\nta_a = 30\nmax_a = 200\nconnection = "self-contained"\n'
        'provenance = { standard = "ANSI C12.20", status = "sure" }\n[accuracy."ansi:0.2"]\nenergy = "active"\n'
        'provenance = { standard = "ANSI C12.20", status = "confirmed" }\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        load_classes(bad)
    assert err.value.source == str(bad)
    assert err.value.field == "current.CL200.provenance.status"
    assert "unconfirmed" in err.value.allowed
