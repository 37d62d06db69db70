"""`meterbench diagnose` as a technician and CI run it: files, stdin, JSON contract and exit codes."""

import io
import json

import pytest

from bench.cli import main

REVERSED_B = {
    "voltages": {"A": [120.0, 0], "B": [120.0, 120], "C": [120.0, 240]},
    "currents": {"A": [5.0, 0], "B": [5.0, 300], "C": [5.0, 240]},
}
CORRECT_PF_HALF = {
    "voltages": {"A": [277.0, 0], "B": [277.0, 120], "C": [277.0, 240]},
    "currents": {"A": [2.5, 60], "B": [2.5, 180], "C": [2.5, 300]},
}


def run(capsys, *argv):
    code = main(["diagnose", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return str(p)


def test_json_contract_for_reversed_ct(tmp_path, capsys):
    code, out, _ = run(capsys, "--form", "9S", "--phasors", write(tmp_path, "s.json", REVERSED_B), "--json")
    assert code == 1
    doc = json.loads(out)  # exactly one object on stdout
    assert set(doc) == {"rotation", "elements", "registration_percent", "findings"}
    assert doc["rotation"] == "ABC"
    assert [e["sign"] for e in doc["elements"]] == ["+", "-", "+"]
    assert [e["phase"] for e in doc["elements"]] == ["A", "B", "C"]
    assert doc["elements"][1]["watts"] == pytest.approx(-600.0)
    assert doc["registration_percent"] == pytest.approx(33.33, abs=0.01)
    [finding] = doc["findings"]
    assert set(finding) == {"code", "phases", "message"}
    assert finding["code"] == "ct_reversed" and finding["phases"] == ["B"]


def test_correct_site_exits_zero_with_plain_report(tmp_path, capsys):
    code, out, _ = run(capsys, "--form", "16S", "--phasors", write(tmp_path, "ok.json", CORRECT_PF_HALF))
    assert code == 0
    assert "Wiring OK" in out and "ABC" in out and "100.0 %" in out


def test_plain_report_says_what_to_check(tmp_path, capsys):
    code, out, _ = run(capsys, "--form", "9S", "--phasors", write(tmp_path, "s.json", REVERSED_B))
    assert code == 1
    assert "CHECK WIRING" in out and "ct_reversed on B" in out and "33.3 %" in out
    assert "polarity mark" in out and "-600.0" in out


def test_csv_file(tmp_path, capsys):
    text = "quantity,phase,magnitude,angle_deg\n" + "".join(
        f"{q},{p},{m},{a}\n"
        for q, group in (("V", "voltages"), ("I", "currents"))
        for p, (m, a) in REVERSED_B[group].items()
    )
    code, out, _ = run(capsys, "--form", "9S", "--phasors", write(tmp_path, "site.csv", text), "--json")
    assert code == 1 and json.loads(out)["findings"][0]["code"] == "ct_reversed"


def test_stdin_json(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(REVERSED_B)))
    code, out, _ = run(capsys, "--form", "9S", "--phasors", "-", "--json")
    assert code == 1 and json.loads(out)["registration_percent"] == pytest.approx(33.33, abs=0.01)


def test_stdin_csv_with_format(capsys, monkeypatch):
    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO("quantity,phase,magnitude,angle_deg\nV,A,120,0\nV,B,120,180\nI,A,30,0\nI,B,30,180\n"),
    )
    code, out, _ = run(capsys, "--form", "2S", "--phasors", "-", "--format", "csv", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["elements"] == [{"phase": "A", "watts": pytest.approx(7200.0), "sign": "+"}]
    assert doc["rotation"] == "unknown" and doc["findings"] == []


def test_leading_convention(tmp_path, capsys):
    leading = {g: {p: [m, -a] for p, (m, a) in CORRECT_PF_HALF[g].items()} for g in CORRECT_PF_HALF}
    path = write(tmp_path, "lead.json", leading)
    code, out, _ = run(capsys, "--form", "9S", "--phasors", path, "--convention", "leading", "--json")
    assert code == 0 and json.loads(out)["rotation"] == "ABC"
    code, out, _ = run(capsys, "--form", "9S", "--phasors", path, "--json")
    assert code == 1 and json.loads(out)["rotation"] == "CBA"  # misread as lagging


def test_tolerance_options(tmp_path, capsys):
    low_b = json.loads(json.dumps(CORRECT_PF_HALF))
    low_b["voltages"]["B"][0] = 240.0  # 13 % below A
    path = write(tmp_path, "low.json", low_b)
    code, out, _ = run(capsys, "--form", "9S", "--phasors", path, "--json")
    assert code == 1 and json.loads(out)["findings"][0]["code"] == "voltage_out_of_tolerance"
    code, _, _ = run(capsys, "--form", "9S", "--phasors", path, "--voltage-tolerance", "15")
    assert code == 0


@pytest.mark.parametrize(
    "content,name,words",
    [
        ("this is not json", "bad.json", "not valid JSON"),
        (
            {"voltages": {"A": [120, 0], "B": [120, 120]}, "currents": REVERSED_B["currents"]},
            "short.json",
            "voltages.C",
        ),
        (
            {**REVERSED_B, "voltages": {**REVERSED_B["voltages"], "B": [120, "east"]}},
            "str.json",
            "voltages.B[1]",
        ),
        ({**REVERSED_B, "currents": {**REVERSED_B["currents"], "A": [-5, 0]}}, "neg.json", "currents.A[0]"),
        ("quantity,phase,magnitude,angle_deg\nV,A,x,0\n", "bad.csv", "line 2: magnitude"),
    ],
)
def test_malformed_input_exits_2_naming_the_field(tmp_path, capsys, content, name, words):
    code, out, err = run(capsys, "--form", "9S", "--phasors", write(tmp_path, name, content), "--json")
    assert code == 2
    assert out == ""  # nothing half-written
    assert words in err and name in err


def test_unknown_form_and_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "--form", "7Q", "--phasors", write(tmp_path, "s.json", REVERSED_B))
    assert code == 2 and "16S" in err
    code, _, err = run(capsys, "--form", "9S", "--phasors", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json" in err and "cannot be read" in err


def test_series_hookup(tmp_path, capsys):
    series = {
        "voltages": {p: [120.0, 0] for p in "ABC"},
        "currents": {"A": [2.5, 0], "B": [2.5, 0], "C": [2.5, 180]},
    }
    path = write(tmp_path, "bench.json", series)
    code, out, _ = run(capsys, "--form", "9S", "--phasors", path, "--hookup", "series", "--json")
    doc = json.loads(out)
    assert code == 1 and [(f["code"], f["phases"]) for f in doc["findings"]] == [("ct_reversed", ["C"])]
    assert doc["rotation"] == "unknown"
