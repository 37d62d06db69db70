"""The register test on a simulated board: the register read through the meter port before and after a run
of energy, against the reference and against the meter's own test output (the meter-constant check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.runjson import build_run_json
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.errors import InputError
from procedures.metrology import plan_register, register_result
from procedures.plans import load_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLAN = "ansi-c12.20-2s-register"


def _bench_file(tmp_path, extra: dict[int, str]) -> Path:
    """The 2S example board with extra [simulation.meter] keys per position."""
    text = (EXAMPLES / "2s-board.toml").read_text()
    for pos, keys in extra.items():
        text = text.replace(f'serial = "SIM2S-000{pos}"', f'serial = "SIM2S-000{pos}"\n{keys}')
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


@pytest.fixture
def run_board(tmp_path):
    opened = []

    def run(extra: dict[int, str] | None = None, *, drop_port: int | None = None, listeners=()):
        store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
        bench = open_bench(_bench_file(tmp_path, extra or {}), speed=0)
        opened.append((bench, store))
        if drop_port is not None:
            del bench.meter_ports[drop_port]
        engine = RunKernel(bench, store, load_plan(PLAN), meters_from_bench(bench.config), operator="test",
                        settings=KernelSettings(), listeners=listeners)  # fmt: skip
        out = engine.run()
        record = store.run_record(out.run_id)
        return out, record, bench.simulator.physics

    yield run
    for bench, store in opened:
        bench.close()
        store.close()


def _rows(record, kind: str) -> dict[int, dict]:
    return {p["position"]: p for p in record["points"] if p["kind"] == kind}


def test_injected_meter_error_shows_in_the_register_within_u(run_board):
    # position 1 runs -0.10 % at FL (its curve), position 2 +0.05 %, position 3 (no curve) 0 %, 1 % fast
    # with the register scale fault below only on the register, so here all three are sound
    out, record, physics = run_board()
    assert physics.output_on is False
    reg, const = _rows(record, "register"), _rows(record, "meter-constant")
    for pos, truth in ((1, -0.10), (2, 0.05), (3, 0.0)):
        r = reg[pos]["result"]
        assert r["verdict"] == "pass" and r["decision_rule"] == "simple"
        assert abs(r["error_percent"] - truth) <= r["expanded_percent"], (pos, r)
        assert 0 < r["expanded_percent"] <= 0.25 * 0.5 + 0.05  # the planned energy keeps U near 1/4 of ±0.5 %
        names = {c["name"] for c in r["budget"]}
        assert {"Register resolution, start reading", "Register resolution, end reading",
                "Reference calibration"} <= names  # fmt: skip
        # register and test output agree: the meter-constant check is zero within its U
        c = const[pos]["result"]
        assert abs(c["error_percent"]) <= c["expanded_percent"] and c["verdict"] == "pass"
        raw = reg[pos]["readings"][0]["reference"]["register"]
        assert raw["end_kwh"] > raw["start_kwh"]
        # the register's digits: whole multiples of 0.001 kWh, as a test-mode display shows them
        assert raw["start_kwh"] == pytest.approx(round(raw["start_kwh"], 3), abs=1e-9)
    # the energy was chosen from the resolution: more than 1 kWh at FL for class 0.5
    assert reg[1]["planned"]["energy_wh"] > 1000 and reg[1]["planned"]["resolution_kwh"] == 0.001


def test_register_that_disagrees_with_its_test_output_fails_the_meter_constant_check(run_board):
    out, record, physics = run_board({3: "register_scale = 1.01"})
    assert physics.output_on is False
    const, reg = _rows(record, "meter-constant"), _rows(record, "register")
    c3 = const[3]["result"]
    assert c3["verdict"] == "fail" and abs(c3["error_percent"] - 1.0) <= c3["expanded_percent"]
    assert reg[3]["result"]["verdict"] == "fail"  # the register itself is 1 % fast against the reference
    assert const[2]["result"]["verdict"] == "pass"
    positions = {p["position"]: p["outcome"] for p in record["positions"]}
    assert positions[3] == "failed" and positions[2] == "passed"
    doc = build_run_json(record)
    by_pos = {r["position"]: r for r in doc["register"]}
    assert by_pos[3]["meter_constant"]["verdict"] == "fail" and by_pos[2]["verdict"] == "pass"


def test_no_port_is_skipped_and_a_dead_port_fails_only_its_position(run_board):
    events = []
    out, record, physics = run_board({3: 'meter_port = "dead"'}, drop_port=1, listeners=[events.append])
    assert physics.output_on is False
    reg = _rows(record, "register")
    assert reg[1]["status"] == "skipped" and "no meter port" in reg[1]["message"]
    assert reg[3]["status"] == "failed" and "did not answer" in reg[3]["message"]
    assert reg[2]["status"] == "done" and reg[2]["result"]["verdict"] == "pass"
    positions = {p["position"]: p["outcome"] for p in record["positions"]}
    assert positions[3] == "failed" and positions[1] == "passed"  # its FL accuracy point passed
    assert out.outcome == "failed"
    assert any(e.kind == "point_skipped" and e.position == 1 for e in events)


def test_port_without_an_energy_register_is_skipped(run_board):
    _out, record, _physics = run_board({2: 'meter_port = "no-registers"'})
    reg = _rows(record, "register")
    assert reg[2]["status"] == "skipped" and "kWh_delivered" in reg[2]["message"]
    assert reg[1]["status"] == "done"


def test_source_is_off_while_registers_are_read(run_board, monkeypatch):
    from instruments.sim.meterport import SimMeterPort

    states = []
    real = SimMeterPort.registers

    def spy(self):
        states.append(self.physics.output_on)
        return real(self)

    monkeypatch.setattr(SimMeterPort, "registers", spy)
    run_board()
    assert len(states) == 6 and not any(states)  # three ports, before and after


def test_planner_scales_energy_with_the_register_digit():
    coarse = plan_register(7200.0, 0.6, 1e-5, 0.001, 0.5)
    fine = plan_register(7200.0, 0.6, 1e-5, 0.0001, 0.5)
    assert coarse.expected_u_percent <= 0.25 * 0.5 + 1e-9
    # a tenth of the digit: a quarter of the run (the remainder of one test pulse before the gate then counts)
    assert fine.energy_wh < coarse.energy_wh / 4 and fine.gate_seconds < coarse.gate_seconds / 4
    assert coarse.meter_pulses * 0.6 == pytest.approx(coarse.energy_wh)
    with pytest.raises(InputError) as err:
        plan_register(7200.0, 0.6, 1e-5, 0.0, 0.5)
    assert err.value.field == "resolution_kwh"


def test_register_going_backwards_is_refused():
    with pytest.raises(InputError) as err:
        register_result(start_kwh=5.0, end_kwh=4.0, resolution_kwh=0.001, meter_pulses=1000, kt_wh=0.6,
                        ref_pulses=6e4, kr_wh=1e-2, gate_seconds=300.0, tail_seconds=(0.0, 0.1),
                        ref_cal_u_percent=0.02)  # fmt: skip
    assert err.value.field == "end_kwh"


def test_certificate_and_dcc_show_the_register_result(run_board, tmp_path, dcc_schema):
    import pdfplumber
    from lxml import etree

    from bench.certify import build_certificate_data
    from reports.certificate import REGISTER_HEADERS, register_rows
    from reports.dcc import DCC_NS, SI_NS
    from reports.issue import issue_certificate
    from reports.model import content_hash, to_canonical_json

    _out, record, _physics = run_board({3: "register_scale = 1.01"})
    data = build_certificate_data(record, 3)
    (t,) = data.register_tests
    assert t.constant_verdict == "fail" and data.overall_verdict == "fail"
    assert any("register digit" in lim.name and lim.unconfirmed for lim in data.method.limits)
    assert content_hash(build_certificate_data(record, 3)) == content_hash(data)  # rebuilt from the records
    cert = issue_certificate(data, tmp_path / "certs")
    with pdfplumber.open(cert.pdf_path) as pdf:
        tables = [[[" ".join((c or "").split()) for c in row] for row in tb]
                  for page in pdf.pages for tb in page.extract_tables()]  # fmt: skip
    (table,) = [tb for tb in tables if tb and tb[0] == [" ".join(h.split()) for h in REGISTER_HEADERS]]
    assert table[1:] == [[" ".join(c.split()) for c in row] for row in register_rows(t)]
    root = etree.fromstring(cert.dcc_path.read_bytes())
    ns = {"dcc": DCC_NS, "si": SI_NS}
    reg = root.find(".//dcc:result[@refType='meterbench_registerTest']", ns)
    const = reg.find(".//si:real[si:label='meterConstantError']", ns)
    # the DCC writes 6 significant digits (reports.dcc._num): compare to half a unit in the 6th digit
    assert float(const.findtext("si:value", namespaces=ns)) == pytest.approx(t.constant_error_pct, rel=5e-6)
    assert float(const.findtext(".//si:valueExpandedMU", namespaces=ns)) == pytest.approx(
        t.constant_u_pct, rel=5e-6
    )
    assert not list(dcc_schema.iter_errors(root))
    # a certificate without a register test hashes as before the register test existed
    plain = build_certificate_data(record, 3).__class__(**{**data.__dict__, "register_tests": ()})
    assert b"register_tests" not in to_canonical_json(plain)


def test_skipped_register_test_is_a_stated_deviation(run_board):
    from bench.certify import build_certificate_data

    _out, record, _physics = run_board(drop_port=2)
    data = build_certificate_data(record, 2)
    assert not data.register_tests
    assert any("not performed" in d and "no meter port" in d for d in data.deviations)
    doc = build_run_json(record)
    assert {r["position"]: r["status"] for r in doc["register"]} == {1: "done", 2: "skipped", 3: "done"}


def test_bench_file_register_fields_are_checked(tmp_path):
    from instruments.benchfile import load_bench_config

    with pytest.raises(InputError) as err:
        load_bench_config(_bench_file(tmp_path, {1: 'meter_port = "asleep"'}))
    assert err.value.field == "simulation.meter[0].meter_port" and "dead" in str(err.value.allowed)
    with pytest.raises(InputError) as err:
        load_bench_config(_bench_file(tmp_path, {2: "register_scale = 0"}))
    assert err.value.field == "simulation.meter[1].register_scale"


def test_abort_during_the_register_run_leaves_the_source_off(tmp_path):
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    bench = open_bench(EXAMPLES / "2s-board.toml", speed=0)
    physics = bench.simulator.physics
    engine = None
    seen = {}

    def listener(ev):
        # the register run is under way once every start reading is recorded and the board is energised
        if ev.kind == "stabilised" and ev.point_id == "register":
            seen["armed"] = True
        if seen.get("armed") and physics.output_on and "aborted" not in seen:
            seen["aborted"] = True
            engine.abort("operator pressed Esc mid-run")

    try:
        engine = RunKernel(bench, store, load_plan(PLAN), meters_from_bench(bench.config),
                        settings=KernelSettings(), listeners=[listener])  # fmt: skip
        # the listener only runs on events: poll the source from the physics' clock instead
        real_sleep = bench.clock.sleep

        def sleep(seconds):
            real_sleep(seconds)
            listener(type("E", (), {"kind": "tick", "point_id": None})())

        bench.clock.sleep = sleep
        out = engine.run()
        assert out.outcome == "aborted" and physics.output_on is False
        rows = [p for p in store.run_record(out.run_id)["points"] if p["kind"] == "register"]
        # no result recorded for a cut-short run; its points are closed, saying why (never left "running")
        assert rows and all(p["status"] == "failed" and p["result"] is None for p in rows)
        assert all(p["message"].startswith("run ended (aborted)") for p in rows)
    finally:
        bench.close()
        store.close()


def test_far_off_meter_keeps_an_honest_meter_constant_check(run_board):
    # 30 % fast: its gate closes long before the others', and it keeps registering until the board is
    # switched off; that tail is measured, so register and test output still agree
    _out, record, _physics = run_board({3: "error_curve = [[1.0, 0.0, 30.0]]"})
    reg, const = _rows(record, "register")[3]["result"], _rows(record, "meter-constant")[3]["result"]
    assert reg["verdict"] == "fail" and abs(reg["error_percent"] - 30.0) <= reg["expanded_percent"] < 0.2
    assert const["verdict"] == "pass" and abs(const["error_percent"]) <= const["expanded_percent"]


def test_register_result_hand_worked():
    # 1000 test pulses of 1 Wh in one hour; the reference counted 1000/1.01 Wh (meter 1 % fast); half a pulse
    # before the gate opened (the estimate), nothing after; the register advanced 1000.5 Wh
    r = register_result(start_kwh=2.0, end_kwh=3.0005, resolution_kwh=0.0001, meter_pulses=1000, kt_wh=1.0,
                        ref_pulses=1000 / 1.01 / 0.01, kr_wh=0.01, gate_seconds=3600.0, tail_seconds=(0.0, 0.0),
                        ref_cal_u_percent=0.02)  # fmt: skip
    assert r.test_output_wh == pytest.approx(1000.5) and r.advance_wh == pytest.approx(1000.5)
    assert r.constant.error_percent == pytest.approx(0.0, abs=1e-9)
    assert r.register.error_percent == pytest.approx(1.0, abs=1e-9)
    lines = {c.name: c.u_percent for c in r.constant.components}
    assert lines["Register resolution, start reading"] == pytest.approx(100 * 0.1 / 3**0.5 / 1000.5)
    assert lines["Test-output energy before the gate opened"] == pytest.approx(100 * 0.5 / 3**0.5 / 1000.5)
    assert "Test-output energy after the gate closed" not in lines  # no tail to bracket
    assert r.register.expanded_percent > r.constant.expanded_percent  # plus the reference's own terms
