"""Phasor files: what a technician types (JSON or CSV) parses, and every mistake names the field."""

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.wiring import Phasors

GOOD = {
    "voltages": {"A": [120.0, 0], "B": [120.0, 120], "C": [120.0, 240]},
    "currents": {"A": [5.0, 0], "B": [5.0, 300], "C": [5.0, 240]},
}
GOOD_CSV = """# 9S, CT on B reversed
quantity,phase,magnitude,angle_deg
V,A,120,0
V,B,120,120
V,C,120,240

I,A,5,0
i,b,5,300
I,C,5,240
"""


def test_json_and_csv_give_the_same_phasors():
    a = Phasors.from_json(GOOD, "site.json")
    b = Phasors.from_json(json.dumps(GOOD), "site.json")
    c = Phasors.from_csv(GOOD_CSV, "site.csv")
    assert a.voltages == b.voltages == c.voltages
    assert a.currents == b.currents == c.currents
    assert c.currents["B"] == (5.0, 300.0)
    assert Phasors.from_json(a.to_dict()).voltages == a.voltages


@pytest.mark.parametrize(
    "doc,field,words",
    [
        ({**GOOD, "voltages": {**GOOD["voltages"], "B": [120, "120"]}}, "voltages.B[1]", "number"),
        ({**GOOD, "currents": {**GOOD["currents"], "A": ["5", 0]}}, "currents.A[0]", "number"),
        ({**GOOD, "currents": {**GOOD["currents"], "C": [-5.0, 0]}}, "currents.C[0]", "negative"),
        ({**GOOD, "voltages": {**GOOD["voltages"], "D": [120, 0]}}, "voltages.D", "A, B, C"),
        ({**GOOD, "voltages": {**GOOD["voltages"], "A": 120}}, "voltages.A", "[magnitude, angle_deg]"),
        ({**GOOD, "voltages": {**GOOD["voltages"], "A": [120, True]}}, "voltages.A[1]", "number"),
        ({"voltages": GOOD["voltages"]}, "currents", "missing"),
        ({**GOOD, "voltage": {}}, "voltage", "voltages, currents"),
        ([1, 2], "phasors", "object"),
    ],
)
def test_json_mistakes_name_the_field(doc, field, words):
    with pytest.raises(InputError) as exc:
        Phasors.from_json(doc, "site.json")
    assert exc.value.field == field
    assert words in str(exc.value) and "site.json" in str(exc.value)


def test_not_json():
    with pytest.raises(InputError, match="not valid JSON"):
        Phasors.from_json("voltages: A 120", "site.json")


def test_nan_is_refused():
    with pytest.raises(InputError, match="finite"):
        Phasors.from_json('{"voltages": {"A": [NaN, 0]}, "currents": {}}', "site.json")


@pytest.mark.parametrize(
    "text,line,field,words",
    [
        ("volts,phase,mag,angle\nV,A,1,0\n", 1, "header", "quantity,phase,magnitude,angle_deg"),
        ("quantity,phase,magnitude,angle_deg\nV,A,abc,0\n", 2, "magnitude", "number"),
        ("quantity,phase,magnitude,angle_deg\nV,A,120,0\nI,A,-5,0\n", 3, "magnitude", "negative"),
        ("quantity,phase,magnitude,angle_deg\nP,A,120,0\n", 2, "quantity", "V, I"),
        ("quantity,phase,magnitude,angle_deg\nV,N,120,0\n", 2, "phase", "A, B, C"),
        ("quantity,phase,magnitude,angle_deg\nV,A,120\n", 2, "row", "columns"),
        ("quantity,phase,magnitude,angle_deg\nV,A,120,0\nV,A,121,0\n", 3, "phase", "twice"),
        ("quantity,phase,magnitude,angle_deg\nV,A,120,east\n", 2, "angle_deg", "number"),
    ],
)
def test_csv_mistakes_name_line_and_column(text, line, field, words):
    with pytest.raises(InputError) as exc:
        Phasors.from_csv(text, "site.csv")
    assert exc.value.field == field
    assert f"site.csv line {line}" in str(exc.value) and words in str(exc.value)


def test_empty_csv():
    with pytest.raises(InputError, match="empty"):
        Phasors.from_csv("# nothing here\n", "site.csv")


@given(st.text(max_size=200))
def test_csv_parser_only_ever_raises_input_error(text):
    with contextlib.suppress(InputError):
        Phasors.from_csv(text, "fuzz.csv")


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.sampled_from(["voltages", "currents", "A", "B", "x"]), c),
        max_leaves=12,
    )
)
def test_json_parser_only_ever_raises_input_error(doc):
    with contextlib.suppress(InputError):
        Phasors.from_json(doc, "fuzz.json")
