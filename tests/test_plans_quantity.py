"""Plan fields of issue 16: quantity, direction, frequency, both directions, influence points; each bad
value refused in one line naming the field."""

from __future__ import annotations

import pytest

from procedures.errors import InputError
from procedures.metrology import error_budget
from procedures.plans import load_plan, parse_plan

BASE = {
    "id": "t", "title": "t", "standard": "IEC 62053-23", "version": "1", "forms": ["2S"],
    "class_family": "iec23", "classes": ["2"], "decision_rule": "simple", "target_share": 0.25,
    "limits": "iec-62053-23-24", "current_of": "Ib",
}  # fmt: skip
POINT = {"id": "p", "label": "P", "kind": "accuracy", "element": "series", "current": 1.0, "lag_deg": 90.0,
         "quantity": "reactive", "readings": 1, "settle_s": 0, "limit": "accuracy"}  # fmt: skip


def plan(point=None, **top):
    return parse_plan({**BASE, **top, "points": [{**POINT, **(point or {})}]}, "<test>", b"")


def refused(field, point=None, **top):
    with pytest.raises(InputError) as err:
        plan(point, **top)
    assert field in err.value.field, err.value
    return str(err.value)


def test_a_reactive_point_resolves_with_its_unit_and_the_plans_frequency():
    (p,) = plan(frequency_hz=50).resolve("2S", "2").points
    assert (p.quantity, p.direction, p.unit, p.frequency_hz, p.lag_deg) == (
        "reactive",
        "delivered",
        "varh",
        50.0,
        90.0,
    )
    assert p.limit_percent == 2.0 and p.limit_provenance.status == "unconfirmed"


def test_bad_quantity_direction_and_frequency_values_are_refused_naming_the_field():
    assert "reactive" in refused("quantity", {"quantity": "var"})
    assert "received" in refused("direction", {"direction": "export"})
    assert "50 or 60" in refused("frequency_hz", frequency_hz=55)
    refused("frequency_hz", {"frequency_hz": 400.0})
    assert "sin phi" in refused("lag_deg", {"lag_deg": 0.0})  # no var energy at PF 1
    assert 'direction = "received"' in refused("lag_deg", {"quantity": "active", "lag_deg": 180.0})
    assert "influence" in refused("harmonics", {"harmonics": [[5, 10.0, 40.0]]})


def test_an_influence_point_must_change_something_and_its_harmonics_are_checked():
    inf = {"kind": "influence", "limit": "influence-voltage"}
    refused("kind", inf)
    refused("harmonics[0]", {**inf, "harmonics": [[1, 10.0, 40.0]]})
    (p,) = plan({**inf, "voltage": 1.1}, frequency_hz=50).resolve("2S", "2").points
    assert (p.voltage_v, p.nominal_voltage_v, p.reference_frequency_hz) == (264.0, 240.0, 50.0)


def test_both_directions_adds_a_received_twin_of_fl_ll_and_pf_with_the_current_reversed():
    rp = load_plan("ansi-c12.20-2s-net").resolve("2S", "0.5")
    twins = {p.id: p for p in rp.points if p.direction == "received"}
    assert set(twins) == {"FL-rcv", "LL-rcv", "PF-rcv"}
    assert twins["FL-rcv"].source_lag_deg == 180.0 and twins["PF-rcv"].source_lag_deg == -120.0
    assert twins["PF-rcv"].lag_deg == 60.0 and twins["PF-rcv"].limit_percent == 0.5


def test_the_shipped_reactive_plan_runs_at_50_hz_with_unconfirmed_limits_marked():
    rp = load_plan("iec-62053-23").resolve("16S", "2")
    assert rp.frequency_hz == 50.0
    acc = [p for p in rp.points if p.kind in ("accuracy", "influence")]
    assert acc and all(p.quantity == "reactive" for p in acc)
    assert all(p.limit_provenance.status == "unconfirmed" for p in acc)
    assert {p.frequency_hz for p in rp.points if p.kind == "influence"} == {49.0, 50.0, 51.0}


def test_the_phase_term_enters_as_cot_phi_for_var_and_not_at_all_for_va():
    def phase_u(quantity, lag):
        res = error_budget([0.0], ref_cal_u_percent=0.0, ref_pulses_per_gate=1e9, lag_deg=lag,
                           ref_phase_error_urad=1000.0, quantity=quantity)  # fmt: skip
        return sum(c.u_percent for c in res.components if c.name.startswith("Reference phase"))

    assert phase_u("reactive", 90.0) == pytest.approx(0.0, abs=1e-12)  # sin phi 1: cot 90 = 0
    assert phase_u("reactive", 30.0) == pytest.approx(phase_u("active", 60.0))  # cot 30 = tan 60
    assert phase_u("apparent", 60.0) == 0.0


def test_plans_show_names_the_energy_direction_and_frequency(capsys, monkeypatch):
    import json

    from bench.cli import main

    monkeypatch.setenv("COLUMNS", "120")
    assert main(["plans", "show", "ansi-c12.20-2s-net", "--form", "2S", "--class", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "Wh rcv" in out and "60 Hz" in out
    assert main(["plans", "show", "iec-62053-23", "--form", "16S", "--class", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frequency_hz"] == 50.0
    f = next(p for p in doc["points"] if p["id"] == "f-102")
    assert (f["kind"], f["quantity"], f["unit"], f["frequency_hz"]) == ("influence", "reactive", "varh", 51.0)
