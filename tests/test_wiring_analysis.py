"""Wiring analysis: what a technician reads off `meterbench diagnose` for correct and mis-wired sites.

Inputs are built the way a site looks to a reference standard: a correct balanced service
(`correct_service`) with faults injected by `apply_faults`, the same model the bench simulator uses.
The standards.md §4 rows are also typed in from the table itself, independent of `apply_faults`.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procedures.errors import InputError
from procedures.forms import correct_service, get_form, shipped_forms
from procedures.wiring import POLARITY_CODES, Phasors, analyse, apply_faults, parse_fault


def site(form_name, lag=0.0, rotation="ABC", faults=(), volts=None, amps=5.0):
    form = get_form(form_name)
    v, i = correct_service(form, volts or form.nominal_voltages[0], amps, lag, rotation)
    v, i = apply_faults(form, v, i, list(faults))
    return form, Phasors.from_complex(v, {p: i[p] for p in form.current_phases})


def diagnose(form_name, lag=0.0, rotation="ABC", faults=(), **kw):
    form, ph = site(form_name, lag, rotation, faults)
    return analyse(form, ph, **kw)


def codes(report):
    return {(f.code, f.phases) for f in report.findings if f.code != "rotation_cba"}


def signs(report):
    return "".join(e.sign for e in report.elements)


# ---------------------------------------------------------------- each finding, 9S and 16S, PF, rotation

WYE_CASES = [
    # faults, expected findings, registration %
    ((), set(), 100.0),
    (("ct_reversed:B",), {("ct_reversed", ("B",))}, 100 / 3),
    (("vt_reversed:B",), {("vt_reversed", ("B",))}, 100 / 3),
    (("currents_crossed:B-C",), {("currents_crossed", ("B", "C"))}, 0.0),
    (("voltage_missing:C",), {("voltage_missing", ("C",))}, 200 / 3),
    (("current_missing:A",), {("current_missing", ("A",))}, 200 / 3),
    (("ct_reversed:A", "current_missing:C"), {("ct_reversed", ("A",)), ("current_missing", ("C",))}, 0.0),
]


@pytest.mark.parametrize("form_name", ["9S", "16S"])
@pytest.mark.parametrize("lag", [0.0, 60.0])
@pytest.mark.parametrize("rotation", ["ABC", "CBA"])
@pytest.mark.parametrize("faults,expected,registration", WYE_CASES)
def test_wye_findings(form_name, lag, rotation, faults, expected, registration):
    report = diagnose(form_name, lag, rotation, faults)
    assert codes(report) == expected
    assert report.rotation == rotation
    assert ("rotation_cba" in {f.code for f in report.findings}) == (rotation == "CBA")
    assert report.registration_percent == pytest.approx(registration, abs=0.01)
    assert report.ok == (not faults and rotation == "ABC")
    for f in report.findings:
        assert f.message and all(p in f.message for p in f.phases)


@pytest.mark.parametrize("lag", [0.0, 60.0])
@pytest.mark.parametrize("fault", ["ct_reversed:B", "vt_reversed:B"])
def test_reversed_b_element_registers_negative(lag, fault):
    report = diagnose("9S", lag, faults=[fault])
    assert signs(report) == "+-+"
    assert report.elements[1].watts == pytest.approx(-report.elements[0].watts)


def test_reversed_vt_is_told_from_reversed_ct():
    """A reversed VT moves the voltage (B at 300 instead of 120); a reversed CT moves the current."""
    vt = diagnose("9S", faults=["vt_reversed:B"])
    ct = diagnose("9S", faults=["ct_reversed:B"])
    assert [f.code for f in vt.findings] == ["vt_reversed"]
    assert [f.code for f in ct.findings] == ["ct_reversed"]
    assert "300 deg" in vt.findings[0].message and "120 deg" in vt.findings[0].message
    assert "VT on B" in vt.findings[0].message and "CT on B" in ct.findings[0].message
    assert "cannot tell" not in vt.findings[0].message + ct.findings[0].message


def test_reversed_vt_on_reference_phase_a_is_found():
    """The reference standard re-references to its own (reversed) A: A at 0, B at 300, C at 60."""
    report = diagnose("9S", 30.0, faults=["vt_reversed:A"])
    assert codes(report) == {("vt_reversed", ("A",))}
    assert report.registration_percent == pytest.approx(100 / 3)


# ---------------------------------------------------------------- standards.md §4, typed in from the table


def table_phasors(v_angles, i_angles, volts=120.0, amps=5.0):
    return Phasors(
        {p: (volts, a) for p, a in zip("ABC", v_angles, strict=True)},
        {p: (amps, a) for p, a in zip("ABC", i_angles, strict=True)},
        "standards.md §4",
    )


SECTION_4 = [
    # condition, V angles, I angles, signs, registration %, finding codes, rotation
    ("correct ABC", (0, 120, 240), (0, 120, 240), "+++", 100.0, [], "ABC"),
    ("correct CBA", (0, 240, 120), (0, 240, 120), "+++", 100.0, ["rotation_cba"], "CBA"),
    ("correct PF 0.5 lag", (0, 120, 240), (60, 180, 300), "+++", 100.0, [], "ABC"),
    ("CT on B reversed", (0, 120, 240), (0, 300, 240), "+-+", 33.3, ["ct_reversed"], "ABC"),
    ("VT on B reversed", (0, 300, 240), (0, 120, 240), "+-+", 33.3, ["vt_reversed"], "ABC"),
    ("B and C currents crossed", (0, 120, 240), (0, 240, 120), "+--", 0.0, ["currents_crossed"], "ABC"),
]


@pytest.mark.parametrize("form_name", ["9S", "16S"])
@pytest.mark.parametrize("row", SECTION_4, ids=[r[0] for r in SECTION_4])
def test_section_4_table(form_name, row):
    _, v_angles, i_angles, want_signs, registration, want_codes, rotation = row
    report = analyse(get_form(form_name), table_phasors(v_angles, i_angles))
    assert signs(report) == want_signs
    assert report.registration_percent == pytest.approx(registration, abs=0.05)
    assert [f.code for f in report.findings] == want_codes
    assert report.rotation == rotation
    if row[0] == "B and C currents crossed":
        a, b, c = (e.watts for e in report.elements)
        assert b == pytest.approx(-a / 2) and c == pytest.approx(-a / 2)  # "½ each"


@pytest.mark.parametrize("fault", ["ct_reversed:B", "vt_reversed:B", "currents_crossed:B-C"])
def test_section_4_rows_hold_at_pf_half_lag(fault):
    expected = {"ct_reversed:B": 100 / 3, "vt_reversed:B": 100 / 3, "currents_crossed:B-C": 0.0}[fault]
    report = diagnose("9S", 60.0, faults=[fault])
    assert report.registration_percent == pytest.approx(expected, abs=0.5)
    assert [f.code for f in report.findings] == [fault.split(":")[0]]


# ---------------------------------------------------------------- 2S, 5S, 12S


@pytest.mark.parametrize(
    "form_name,faults,registration,want",
    [
        ("2S", (), 100.0, []),
        ("2S", ("ct_reversed:A",), 0.0, [("ct_reversed", ("A",))]),  # half-coils cancel
        ("2S", ("current_missing:B",), 50.0, [("current_missing", ("B",))]),
        ("5S", (), 100.0, []),
        ("5S", ("ct_reversed:C",), 0.0, [("ct_reversed", ("C",))]),
        ("5S", ("vt_reversed:A",), 0.0, [("vt_reversed", ("A",))]),
        ("5S", ("current_missing:A",), 50.0, [("current_missing", ("A",))]),
        ("5S", ("voltage_missing:C",), 50.0, [("voltage_missing", ("C",))]),
        ("12S", (), 100.0, []),
        ("12S", ("ct_reversed:A",), 0.0, [("ct_reversed", ("A",))]),
        ("12S", ("current_missing:C",), 50.0, [("current_missing", ("C",))]),
        ("12S", ("currents_crossed:A-C",), None, [("currents_crossed", ("A", "C"))]),
    ],
)
@pytest.mark.parametrize("rotation", ["ABC", "CBA"])
def test_other_forms_at_unity(form_name, faults, registration, want, rotation):
    report = diagnose(form_name, 0.0, rotation, faults)
    assert sorted(codes(report)) == want
    if registration is not None:
        assert report.registration_percent == pytest.approx(registration, abs=0.01)
    if form_name == "2S":
        assert report.rotation == "unknown"  # single phase: there is no rotation to report
    else:
        assert report.rotation == rotation


def test_5s_at_pf_half_one_element_carries_everything():
    """Delta at 60 deg lag: element A sees 90 deg and registers nothing; a reversed C CT gives -100 %."""
    ok = diagnose("5S", 60.0)
    assert signs(ok) == "0+" and ok.ok and ok.registration_percent == pytest.approx(100.0)
    bad = diagnose("5S", 60.0, faults=["ct_reversed:C"])
    assert signs(bad) == "0-" and bad.registration_percent == pytest.approx(-100.0)


def test_single_element_says_it_cannot_tell_ct_from_vt():
    report = diagnose("1S", 30.0, faults=["ct_reversed:A"])
    [finding] = report.findings
    assert finding.code == "ct_reversed"
    assert "potential" in finding.message and "cannot tell" in finding.message
    # the same phasors whichever was really reversed
    assert diagnose("1S", 30.0, faults=["vt_reversed:A"]).to_dict() == report.to_dict()


def test_2s_reversed_potential_names_the_alternatives():
    report = diagnose("2S", 0.0, faults=["vt_reversed:A"])
    [finding] = report.findings
    assert finding.code == "vt_reversed" and "cannot tell" in finding.message
    assert "crossed" in finding.message
    assert report.registration_percent == pytest.approx(-100.0)


# ---------------------------------------------------------------- checks (2) to (4)


def test_voltage_out_of_tolerance_is_relative_to_a():
    form, ph = site("9S")
    ph = Phasors({**ph.voltages, "B": (103.0, 120.0)}, ph.currents)
    report = analyse(form, ph)
    assert [(f.code, f.phases) for f in report.findings] == [("voltage_out_of_tolerance", ("B",))]
    assert "14.2 % below" in report.findings[0].message
    assert analyse(form, ph, voltage_tolerance_pct=15.0).ok


def test_current_off_its_angle_is_flagged_within_envelope_only():
    form, ph = site("9S", 20.0)
    mag, ang = ph.currents["B"]
    ph = Phasors(ph.voltages, {**ph.currents, "B": (mag, ang + 60.0)})
    report = analyse(form, ph)
    assert [(f.code, f.phases) for f in report.findings] == [("angle_out_of_envelope", ("B",))]
    assert "60 deg" in report.findings[0].message
    assert analyse(form, ph, angle_envelope_deg=70.0).ok


def test_angle_envelope_is_not_checked_when_polarity_fails():
    form, ph = site("9S", 20.0, faults=["ct_reversed:A"])
    mag, ang = ph.currents["B"]
    ph = Phasors(ph.voltages, {**ph.currents, "B": (mag, ang + 60.0)})
    assert "angle_out_of_envelope" not in {f.code for f in analyse(form, ph).findings}


def test_no_load_gives_no_registration():
    form, ph = site("16S")
    ph = Phasors(ph.voltages, {p: (0.0, 0.0) for p in ph.currents})
    report = analyse(form, ph)
    assert report.registration_percent is None
    assert [f.code for f in report.findings] == ["no_load"]
    assert report.rotation == "ABC"  # still told from the voltages


def test_min_current_threshold():
    """By default a current under 5 % of the largest is missing; --min-current sets an absolute floor."""
    form, ph = site("9S")
    ph = Phasors(ph.voltages, {**ph.currents, "C": (0.2, 240.0)})
    assert [f.code for f in analyse(form, ph).findings] == ["current_missing"]
    assert analyse(form, ph, min_current_a=0.1).ok
    assert [f.code for f in analyse(form, ph, min_current_a=0.5).findings] == ["current_missing"]


def test_leading_convention_negates_angles():
    form, lagging = site("9S", 60.0, faults=["ct_reversed:C"])
    leading = Phasors(
        {p: (m, -a) for p, (m, a) in lagging.voltages.items()},
        {p: (m, -a) for p, (m, a) in lagging.currents.items()},
    )
    want = analyse(form, lagging).to_dict()
    assert analyse(form, leading, convention="leading").to_dict()["findings"][0]["code"] == "ct_reversed"
    got = analyse(form, leading, convention="leading").to_dict()
    assert got["rotation"] == want["rotation"] == "ABC"
    assert got["registration_percent"] == want["registration_percent"]
    assert got["elements"] == want["elements"]
    # read as lagging, the same numbers look like a CBA service
    assert analyse(form, leading).rotation == "CBA"


def test_missing_phase_for_the_form_is_input_error():
    form, ph = site("9S")
    ph = Phasors({p: v for p, v in ph.voltages.items() if p != "C"}, ph.currents, "site.json")
    with pytest.raises(InputError) as exc:
        analyse(form, ph)
    assert exc.value.field == "voltages.C" and "site.json" in str(exc.value)


def test_bad_options_are_input_errors():
    form, ph = site("9S")
    with pytest.raises(InputError, match="convention"):
        analyse(form, ph, convention="counterclockwise")
    with pytest.raises(InputError, match="angle envelope"):
        analyse(form, ph, angle_envelope_deg=0)


# ---------------------------------------------------------------- fault injection


def test_parse_fault_and_bad_codes():
    assert parse_fault("currents_crossed:B-C").phases == ("B", "C")
    assert parse_fault(" CT_Reversed:b ").code == "ct_reversed:B"
    with pytest.raises(InputError) as exc:
        parse_fault("ct_flipped:B")
    assert "ct_reversed:<phase>" in str(exc.value) and "ct_flipped:B" in str(exc.value)
    with pytest.raises(InputError) as exc:
        apply_faults(get_form("5S"), {}, {}, ["ct_reversed:B"])  # 5S has no B current coil
    assert "allowed: A, C" in str(exc.value)
    with pytest.raises(InputError):
        parse_fault("currents_crossed:B-B")


def test_apply_faults_does_not_touch_its_inputs():
    form = get_form("9S")
    v, i = correct_service(form, 120.0, 5.0, 0.0)
    v0, i0 = dict(v), dict(i)
    v1, i1 = apply_faults(form, v, i, ["vt_reversed:A", "ct_reversed:B"])
    assert (v, i) == (v0, i0)
    assert v1["A"] == -v["A"] and i1["B"] == -i["B"]


# ---------------------------------------------------------------- property


@settings(max_examples=60, deadline=None)
@given(
    form_name=st.sampled_from(sorted(shipped_forms())),
    rotation=st.sampled_from(["ABC", "CBA"]),
    lag=st.floats(-60.0, 80.0),
    volts=st.floats(1.0, 600.0),
    amps=st.floats(0.001, 400.0),
)
def test_correct_balanced_service_is_never_blamed(form_name, rotation, lag, volts, amps):
    form = get_form(form_name)
    v, i = correct_service(form, volts, amps, lag, rotation)
    report = analyse(form, Phasors.from_complex(v, {p: i[p] for p in form.current_phases}))
    assert not {f.code for f in report.findings} & set(POLARITY_CODES)
    assert not {f.code for f in report.findings} - {"rotation_cba", "angle_out_of_envelope"}
    assert report.registration_percent == pytest.approx(100.0, abs=1e-6)


@pytest.mark.parametrize("pair", ["A-B", "A-C", "B-C"])
@pytest.mark.parametrize("lag", [-30.0, 0.0, 30.0, 60.0])
@pytest.mark.parametrize("rotation", ["ABC", "CBA"])
def test_every_crossed_pair_is_named_at_usual_load_angles(pair, lag, rotation):
    report = diagnose("16S", lag, rotation, [f"currents_crossed:{pair}"])
    assert codes(report) == {("currents_crossed", tuple(pair.split("-")))}
    assert report.registration_percent == pytest.approx(0.0, abs=1e-6)


def test_crossing_at_extreme_load_angle_names_the_other_explanation():
    """At 80 deg lag, A-B crossed looks exactly like A-C crossed on a 40 deg leading load: say both."""
    report = diagnose("9S", 80.0, faults=["currents_crossed:A-B"])
    [finding] = report.findings
    text = finding.message
    assert finding.code == "currents_crossed" and "cannot tell" in text
    assert "A and B" in text and "A and C" in text and "80 deg lagging" in text


@pytest.mark.parametrize("form_name", ["2S", "5S", "9S", "12S", "16S"])
@pytest.mark.parametrize(
    "fault,registration",
    [(None, 1.0), ("ct_reversed", None), ("vt_reversed", None), ("current_missing", None)],
)
def test_series_parallel_bench_hookup(form_name, fault, registration):
    """On a single-phase bench every element sees the same voltage and current, all in phase."""
    form = get_form(form_name)
    pot = {"A": 60.0, "B": -60.0} if form_name == "2S" else {"A": 120.0, "B": 120.0, "C": 120.0, "N": 0.0}
    if form_name == "5S":
        pot = {"A": 120.0, "B": 0.0, "C": 120.0}
    v = {p: complex(pot[p]) for p in form.voltage_phases}
    i = {c.phase: complex(c.polarity * 2.5) for e in form.elements for c in e.coils}
    phase = form.current_phases[-1]
    if fault == "vt_reversed":
        phase = form.elements[-1].voltage[0]
    if fault:
        v, i = apply_faults(form, v, i, [f"{fault}:{phase}"])
    report = analyse(form, Phasors.from_complex(v, i), hookup="series")
    assert report.rotation == "unknown"
    if fault is None:
        assert report.ok and report.registration_percent == pytest.approx(100.0)
    else:
        assert [(f.code, f.phases) for f in report.findings] == [(fault, (phase,))]
    # read as a polyphase service, the same phasors would be blamed wrongly
    if form.polyphase and fault is None:
        assert not analyse(form, Phasors.from_complex(v, i)).ok
