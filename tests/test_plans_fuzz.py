"""Whatever a shop types into any field of a plan file, loading it either works or raises InputError
naming the field; never a TypeError/KeyError traceback on the technician's screen."""

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.plans import parse_plan

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

BASE = tomllib.loads(GOOD)
TOP_KEYS = sorted(BASE)
POINT_KEYS = sorted(BASE["points"][0]) + ["duration_s", "current_of", "limit_role", "voltage"]

values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _load(raw):
    try:
        parse_plan(raw, "fuzz.toml", b"")
    except InputError as err:
        assert err.field and err.source == "fuzz.toml"


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(TOP_KEYS + ["average_rule", "limit_files"]), value=values)
def test_any_top_level_value(key, value):
    raw = {**BASE, "points": [dict(p) for p in BASE["points"]]}
    if value is None:
        raw.pop(key, None)
    else:
        raw[key] = value
    _load(raw)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(POINT_KEYS), value=values)
def test_any_point_value(key, value):
    point = dict(BASE["points"][0])
    if value is None:
        point.pop(key, None)
    else:
        point[key] = value
    _load({**BASE, "points": [point]})
