"""What a regulator reads where the certificate used to claim more than it could support (review 1):
conditions no one entered, an overridden wiring finding, the conformity statement against shop limits,
and which certificates are simulated or issued under the demonstration laboratory."""

from __future__ import annotations

import copy
import io

import pytest
from lxml import etree
from pypdf import PdfReader

from bench.certify import build_certificate_data, issue_for_run
from bench.cli import main
from bench.records import RecordStore
from reports.certificate import render_certificate
from reports.dcc import build_dcc
from tests.test_certify_e2e import EXAMPLES


def _pages(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def _text(data) -> str:
    return " ".join(_pages(render_certificate(data)))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust")
    db = f"sqlite:///{tmp / 'records.sqlite'}"
    assert main(["run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--db", db,
                 "--no-certificates"]) == 1  # position 3 fails its starting test  # fmt: skip
    store = RecordStore.open(db)
    record = store.run_record(1)
    store.close()
    return db, record


def _real_bench(record: dict, **environment) -> dict:
    """The same record as a real bench (no [simulation]) would have left it."""
    real = copy.deepcopy(record)
    real["run"]["environment"] = dict(environment)
    return real


def test_a_real_bench_without_conditions_is_certified_and_says_they_were_not_measured(recorded):
    data = build_certificate_data(_real_bench(recorded[1]), 1)
    text = _text(data)
    assert "not measured not measured" in text  # Temperature and Relative humidity cells
    assert "The ambient temperature and relative humidity of the test were not measured" in text
    assert "nominal values" not in text
    dcc = etree.fromstring(build_dcc(data, "0" * 64))
    conds = [
        " ".join(c.itertext()).split()
        for c in dcc.iter("{*}influenceCondition")
        if "temperature" in " ".join(c.itertext()) or "humidity" in " ".join(c.itertext())
    ]
    assert conds and all(" ".join(c).endswith("not measured") for c in conds)


def test_a_real_bench_with_only_the_temperature_names_the_humidity(recorded):
    data = build_certificate_data(_real_bench(recorded[1], temperature_c=22.5), 1)
    text = _text(data)
    assert "22.5 °C not measured" in text
    assert "The ambient relative humidity of the test was not measured" in text


def test_a_position_that_cannot_be_certified_carries_its_reason(recorded, tmp_path, monkeypatch):
    db, record = recorded
    no_points = copy.deepcopy(record)
    no_points["points"] = [p for p in no_points["points"] if p["position"] != 2]
    store = RecordStore.open(db)
    monkeypatch.setattr(store, "run_record", lambda run_id: no_points)
    try:
        issued = issue_for_run(store, 1, tmp_path, positions=[1, 2])
    finally:
        store.close()
    assert [c.certificate_number[-3:] for c in issued] == ["P01"]
    assert list(issued.not_issued) == [2]
    assert "position 2 of run 1 has no accuracy result to certify" in issued.not_issued[2]


@pytest.fixture(scope="module")
def overridden(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wiring")
    db = f"sqlite:///{tmp / 'records.sqlite'}"
    main(["run", "--bench", str(EXAMPLES / "9s-reversed-ct.toml"), "--plan", "ansi-c12.20-9s", "--db", db,
          "--no-certificates", "--override-wiring", "2=CT B reversed on purpose"])  # fmt: skip
    store = RecordStore.open(db)
    record = store.run_record(1)
    store.close()
    return record


def test_an_overridden_wiring_finding_is_never_printed_as_pass(overridden):
    data = build_certificate_data(overridden, 2)
    text = _text(data)
    assert (
        "Wiring check result: FINDING OVERRIDDEN by the operator (reason: CT B reversed on purpose)" in text
    )
    assert "Wiring check result: PASS" not in text
    dcc = build_dcc(data, "0" * 64).decode()
    assert "Wiring check, rotation ABC: FINDING OVERRIDDEN by the operator (reason: CT B reversed" in dcc
    assert "Wiring check, rotation ABC: PASS" not in dcc


def test_conformity_against_shop_limits_is_not_claimed_as_the_standards(recorded):
    record = recorded[1]
    for position, word in ((1, "CONFORMS"), (3, "DOES NOT CONFORM")):
        data = build_certificate_data(record, position)
        unconfirmed = sum(lim.unconfirmed for lim in data.method.limits)
        assert unconfirmed, "the shipped ANSI C12.20 shop limits are marked unconfirmed"
        said = (
            f"The meter {word} to the limits of plan ansi-c12.20-2s version {record['run']['plan_version']} "
            f"(shop limits, {unconfirmed} of the {len(data.method.limits)} limits applied not confirmed "
            "against ANSI C12.20: see Provenance)"
        )
        assert data.conformity_statement.startswith(said)
        assert said in _text(data)
        assert "to the limits of ANSI C12.20" not in _text(data)
        dcc = etree.fromstring(build_dcc(data, "0" * 64))
        statement = next(s for s in dcc.iter("{*}statement") if s.get("refType") == "basic_conformity")
        assert said in " ".join(statement.itertext())
        norm = statement.find("{*}norm").text
        assert norm.startswith("plan ansi-c12.20-2s") and "not confirmed against ANSI C12.20" in norm


def test_the_standard_is_named_only_when_every_limit_applied_is_confirmed(recorded):
    import dataclasses

    data = build_certificate_data(recorded[1], 1)
    confirmed = tuple(dataclasses.replace(lim, status="C") for lim in data.method.limits)
    method = dataclasses.replace(data.method, limits=confirmed)
    assert method.limits_basis == (
        f"the limits of ANSI C12.20 (plan ansi-c12.20-2s version {data.method.plan_version})"
    )


def test_a_manufacturers_starting_load_is_printed_unconfirmed_not_as_c12_20s(recorded):
    data = build_certificate_data(recorded[1], 1)
    starting = [lim for lim in data.method.limits if "tarting" in lim.name]
    assert starting and all(lim.unconfirmed for lim in starting)
    dcc = build_dcc(data, "0" * 64).decode()
    assert not any(
        line.strip().startswith("<dcc:content") and "Limit Starting" in line and "; confirmed)" in line
        for line in dcc.splitlines()
    )


def test_weighted_average_rules_from_disagreeing_secondary_sources_are_unconfirmed():
    from procedures.catalog import average_rule

    for name in ("nc-method-4", "nd-polyphase"):
        rule = average_rule(name)
        assert "unconfirmed" in str(rule.provenance).lower() and "disagree" in str(rule.provenance)


def _page_one_and_footer(data) -> tuple[str, str]:
    pages = _pages(render_certificate(data))
    return pages[0], pages[-1]


def test_a_simulated_bench_says_so_on_page_one_under_a_real_laboratory(recorded):
    from reports.labconfig import load_laboratory

    lab = load_laboratory(EXAMPLES / "lab" / "laboratory.toml")
    page1, last = _page_one_and_footer(build_certificate_data(recorded[1], 1, lab=lab))
    assert "SIMULATED BENCH - the instruments and the meter were simulated." in page1
    assert "not a calibration of a physical meter" in page1
    for page in (page1, last):  # every page's footer
        assert "SIMULATED BENCH - not valid for regulatory or billing use." in page
    assert "DEMONSTRATION CERTIFICATE" not in page1


def test_a_real_bench_under_the_demonstration_laboratory_is_not_called_simulated(recorded):
    page1, last = _page_one_and_footer(
        build_certificate_data(_real_bench(recorded[1], temperature_c=22.0), 1)
    )
    assert (
        "issued under the built-in demonstration laboratory (no laboratory file given): not valid for "
        "regulatory or billing use" in page1
    )
    assert "DEMONSTRATION LABORATORY - not valid for regulatory or billing use." in last
    for page in (page1, last):
        assert "simulated instruments" not in page and "SIMULATED" not in page
    assert "Place of test not stated (built-in demonstration laboratory: no laboratory file given)" in page1


def test_a_simulated_bench_under_the_demonstration_laboratory_carries_both_marks(recorded):
    page1, _ = _page_one_and_footer(build_certificate_data(recorded[1], 1))
    assert (
        "SIMULATED BENCH - the instruments" in page1 and "DEMONSTRATION CERTIFICATE - issued under" in page1
    )
    assert "SIMULATED BENCH - DEMONSTRATION LABORATORY - not valid for regulatory or billing use." in page1


def test_the_starting_and_creep_requirements_give_their_window(recorded):
    text = _text(build_certificate_data(recorded[1], 1))
    assert "meter starts and registers within 600 s" in text
    assert "at most 1 test pulse in the 600 s window" in text


def test_unconfirmed_commands_name_each_instrument_once(recorded):
    record = copy.deepcopy(recorded[1])
    inst = "fluke6100 GPIB0::17::INSTR (source, reference, calculators)"
    record["run"]["settings"]["unconfirmed_commands"] = [
        f"{inst}: ENER:TEST:STAR",
        f"{inst}: ENER:TEST:STOP",
        "mad COM3 (meter port): X1",
    ]
    deviations = build_certificate_data(record, 1).deviations
    said = next(d for d in deviations if d.startswith("Instrument commands not confirmed"))
    assert said.count(inst) == 1
    assert said.endswith(f"{inst}: ENER:TEST:STAR, ENER:TEST:STOP; mad COM3 (meter port): X1")


def test_a_run_over_real_sockets_without_conditions_gets_its_certificates(tmp_path):
    """Review 1 item 1, end to end: a bench file without [simulation], no temperature or humidity given."""
    from tests.test_real_bench_paths import run_over_sockets

    outcome, record, _refused = run_over_sockets(tmp_path, EXAMPLES / "2s-fluke-mad.toml", "ansi-c12.20-2s")
    assert outcome.outcome == "failed"  # socket 3's meter does not start: it still gets a FAIL certificate
    assert not record["run"]["environment"].get("simulated")
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        issued = issue_for_run(store, outcome.run_id, tmp_path / "certs")
    finally:
        store.close()
    assert [c.certificate_number[-3:] for c in issued] == ["P01", "P02", "P03"] and issued.not_issued == {}
    page1, *rest = _pages(issued[0].pdf_path.read_bytes())
    text = " ".join([page1, *rest])
    assert "not measured not measured" in text and "SIMULATED BENCH" not in text
    assert "no laboratory file given" in page1 and "simulated instruments" not in text
