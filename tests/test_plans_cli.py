"""`meterbench plans`: the list and JSON a script or technician reads, and clear exit-2 errors."""

import json

from bench.cli import main


def test_plans_json_lists_the_required_plans(capsys):
    assert main(["plans", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        assert {"id", "title", "standard", "forms", "classes"} <= r.keys()
    ansi_forms = {f for r in rows if r["standard"] == "ANSI C12.20" for f in r["forms"]}
    assert {"2S", "9S", "12S", "16S"} <= ansi_forms
    assert "ansi-c12.1-inservice" in by_id
    assert any(r["standard"].startswith("IEC 62053") for r in rows)


def test_plans_table_mentions_every_plan(capsys):
    assert main(["plans"]) == 0
    out = capsys.readouterr().out
    for pid in ("ansi-c12.20-2s", "ansi-c12.20-16s", "iec-62053-22"):
        assert pid in out


def test_show_prints_amperes_and_provenance(capsys):
    assert main(["plans", "show", "ansi-c12.20-2s", "--form", "2S", "--class", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "0.50 lag" in out and "240" in out and "±0.2 %" in out
    assert "ANSI C12.20" in out and "unconfirmed" in out


def test_show_json(capsys):
    assert (
        main(["plans", "show", "ansi-c12.20-2s", "--form", "2S", "--class", "0.2", "--ta", "30", "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    pts = {p["id"]: p for p in doc["points"]}
    assert pts["FL"]["current_a"] == 30.0 and pts["LL"]["current_a"] == 3.0
    assert pts["PF"]["lag_deg"] == 60.0 and pts["PF"]["voltage_v"] == 240.0
    assert pts["FL"]["limit_provenance"]["standard"] == "ANSI C12.20"


def test_show_bad_ta_exits_2_naming_the_field(capsys):
    assert main(["plans", "show", "ansi-c12.20-2s", "--form", "2S", "--class", "0.2", "--ta", "2.5"]) == 2
    err = capsys.readouterr().err
    assert "ta:" in err and "30 A (CL200)" in err


def test_show_unknown_form_exits_2(capsys):
    assert main(["plans", "show", "ansi-c12.1-inservice", "--form", "7S", "--class", "0.2"]) == 2
    assert "16S" in capsys.readouterr().err


def _rows(out: str) -> dict[str, str]:
    """A plans-show table's rows by point id (after the "#" column when it is shown)."""
    rows = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) > 3 and "  " in line:
            rows[words[1] if words[0].isdigit() else words[0]] = line
    return rows


def test_show_at_80_columns_names_each_points_energy_and_direction(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["plans", "show", "ansi-c12.20-2s-net", "--form", "2S", "--class", "0.5"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    rows = _rows(out)
    for pid in ("LL", "FL", "PF"):  # a received twin is told from its delivered point at a glance
        assert " Wh del " in rows[pid] and " Wh rcv " in rows[f"{pid}-rcv"], out
    assert (
        "energy"
        in out.splitlines()[out.splitlines().index(next(x for x in out.splitlines() if x.startswith("id")))]
    )


def test_show_gives_a_var_points_sin_phi_and_a_frequency_off_the_plans(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["plans", "show", "iec-62053-23", "--form", "2S", "--class", "2"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert "0.00 lag" not in out  # a var point's cos phi says nothing; its sin phi does
    assert "sin phi 1 ind" in rows["sin1-1.0Ib"] and "sin phi 0.5 ind" in rows["sin05i-0.2Ib"]
    assert "sin phi 0.5 cap" in rows["sin05c-1.0Ib"]
    assert " varh del " in rows["sin1-1.0Ib"] and "Hz" not in rows["sin1-1.0Ib"]  # the plan's own 50 Hz
    assert "varh del 51 Hz" in rows["f-102"] and "varh del 49 Hz" in rows["f-98"]
    assert "50 Hz" in out.splitlines()[0] + out.splitlines()[1]


def test_the_reactive_plans_labels_name_sin_phi_in_ascii_as_their_angles_give_it():
    """A var point's name on the screen and on the certificate says its sin phi (the certificate's font has
    no phi glyph, so ASCII), and says the same as its angle."""
    import math

    from procedures.plans import load_plan

    rp = load_plan("iec-62053-23").resolve("2S", "2")
    named = [p for p in rp.points if p.kind == "accuracy"]
    assert len(named) == 9
    for p in named:
        sin = math.sin(math.radians(p.lag_deg))
        side = "" if abs(sin - 1) < 1e-9 else (" ind" if sin > 0 else " cap")
        assert p.label.isascii() and p.label.startswith(f"sin phi {abs(sin):.2g}{side} at "), p.label
