"""Issue 16 through the run kernel: received and reactive points, the plan's frequency, influence points
and the board's rotation, each measured through the drivers of a simulated bench and read back from the
records (the run JSON), never from simulator truth.

The simulated reference here has small fixed errors (``reference_error_percent`` 0.001: gains and a phase
error of about 100 µrad); the kernel is told the reference's phase-error spec (300 µrad), so every U
covers them. Sign convention throughout: error = %R - 100, %R = 100 x the energy the meter registered in
the point's direction / the reference's energy of the point's quantity; positive = meter fast.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_sim_accuracy import bench_dict, meter

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.runjson import build_run_json
from bench.session import meters_from_bench
from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config
from instruments.interfaces import Capabilities
from procedures.errors import InputError
from procedures.plans import load_plan, load_plan_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DELIVERED = [[0.1, 0.0, 0.30], [1.0, 0.0, -0.10], [1.0, 60.0, -0.40]]
RECEIVED = [[0.1, 0.0, 0.40], [1.0, 0.0, 0.25], [1.0, 60.0, 0.35]]
INJECTED = {"LL": 0.30, "FL": -0.10, "PF": -0.40, "LL-rcv": 0.40, "FL-rcv": 0.25, "PF-rcv": 0.35}
REACTIVE = [[0.1, 90.0, 1.50], [1.0, 90.0, 0.80], [1.0, 30.0, 1.20], [1.0, -30.0, 0.50]]
SPEC = {"ref_phase_error_urad": 300.0}


def run_plan(tmp_path, cfg, plan, **settings):
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        with open_bench(cfg) as bench:
            kernel = RunKernel(
                bench,
                store,
                plan,
                meters_from_bench(bench.config),
                settings=KernelSettings(**SPEC, **settings),
            )
            out = kernel.run()
        return out, build_run_json(store.run_record(out.run_id))
    finally:
        store.close()


def sim_bench(meters, **kw):
    return parse_bench_config(bench_dict(meters, reference_error_percent=0.001, **kw))


def within_u(p, injected):
    return abs(p["error_percent"] - injected) <= p["expanded_uncertainty_percent"]


# --------------------------------------------------------------------------------------------- direction


def test_bidirectional_2s_gets_delivered_and_received_errors_measured_back_within_u(tmp_path):
    m = meter(1, serial="NET-0001", bidirectional=True, error_curve=DELIVERED, error_curve_received=RECEIVED,
              noise_percent=0.01)  # fmt: skip
    out, doc = run_plan(tmp_path, sim_bench([m], three_phase=False), load_plan("ansi-c12.20-2s-net"))
    points = {p["point_id"]: p for p in doc["points"]}
    assert list(points) == ["LL", "LL-rcv", "FL", "FL-rcv", "PF", "PF-rcv"]
    for pid, injected in INJECTED.items():
        p = points[pid]
        assert p["direction"] == ("received" if pid.endswith("-rcv") else "delivered")
        assert p["quantity"] == "active" and p["unit"] == "Wh"
        assert within_u(p, injected), (
            f"{pid}: {p['error_percent']:+.4f} ± {p['expanded_uncertainty_percent']:.4f}"
        )
        assert p["verdict"] == "pass" and p["expanded_uncertainty_percent"] < 0.1  # the plan asks 0.125 (4:1)
    # the two directions differ by more than their uncertainties: each was measured, not copied
    assert points["FL-rcv"]["error_percent"] - points["FL"]["error_percent"] > 0.3
    assert out.positions == {1: "passed"}


def test_a_received_point_beyond_its_limit_fails(tmp_path):
    received = [[0.1, 0.0, 0.40], [1.0, 0.0, 0.25], [1.0, 60.0, 0.70]]  # PF received beyond the 0.5 class
    m = meter(1, serial="NET-0002", bidirectional=True, error_curve=DELIVERED, error_curve_received=received)
    out, doc = run_plan(tmp_path, sim_bench([m], three_phase=False), load_plan("ansi-c12.20-2s-net"))
    verdicts = {p["point_id"]: p["verdict"] for p in doc["points"]}
    assert verdicts["PF-rcv"] == "fail" and verdicts["PF"] == "pass"
    assert out.positions == {1: "failed"}


def test_every_point_of_the_run_json_carries_quantity_and_direction(tmp_path):
    m = meter(1, serial="NET-0003", bidirectional=True, error_curve=DELIVERED)
    _, doc = run_plan(tmp_path, sim_bench([m], three_phase=False), load_plan("ansi-c12.20-2s-net"))
    assert doc["points"] and all(p["quantity"] and p["direction"] for p in doc["points"])
    assert {(p["quantity"], p["direction"]) for p in doc["points"]} == {
        ("active", "delivered"),
        ("active", "received"),
    }


# ------------------------------------------------------------------------------------- quantity, frequency

REACTIVE_PLAN = """
id = "test-reactive"
title = "reactive class 2 at 50 Hz, with influence points"
standard = "IEC 62053-23"
version = "1"
forms = ["2S"]
class_family = "iec23"
classes = ["2"]
decision_rule = "simple"
target_share = 0.25
limits = "iec-62053-23-24"
current_of = "Ib"
frequency_hz = 50

[[points]]
id = "sin1-Ib"
label = "SIN1 Ib"
kind = "accuracy"
element = "series"
quantity = "reactive"
current = 1.0
lag_deg = 90.0
readings = 3
settle_s = 5
limit = "accuracy"

[[points]]
id = "sin05i-Ib"
label = "SIN0.5i Ib"
kind = "accuracy"
element = "series"
quantity = "reactive"
current = 1.0
lag_deg = 30.0
readings = 3
settle_s = 5
limit = "accuracy"

[[points]]
id = "sin05c-Ib"
label = "SIN0.5c Ib"
kind = "accuracy"
element = "series"
quantity = "reactive"
current = 1.0
lag_deg = -30.0
readings = 3
settle_s = 5
limit = "accuracy"

[[points]]
id = "u-110"
label = "U +10%"
kind = "influence"
element = "series"
quantity = "reactive"
current = 1.0
lag_deg = 90.0
voltage = 1.1
readings = 3
settle_s = 5
limit = "influence-voltage"

[[points]]
id = "f-102"
label = "f +2%"
kind = "influence"
element = "series"
quantity = "reactive"
current = 1.0
lag_deg = 90.0
frequency_hz = 51.0
readings = 3
settle_s = 5
limit = "influence-frequency"
"""


def var_meter(position, serial, **kw):
    return meter(position, serial=serial, accuracy_class="iec23:2", test_output="varh", error_curve_reactive=REACTIVE,
                 frequency=50.0, noise_percent=0.01, **kw)  # fmt: skip


def reactive_run(tmp_path, meters):
    path = tmp_path / "reactive.toml"
    path.write_text(REACTIVE_PLAN, encoding="utf-8")
    return run_plan(tmp_path, sim_bench(meters, three_phase=False), load_plan_file(path))


def test_a_reactive_class_2_meter_has_its_var_errors_measured_back_and_judged_at_50_hz(tmp_path):
    m = var_meter(1, "VAR-0001", voltage_coefficient_percent_per_percent=0.01,
                  frequency_coefficient_percent_per_hz=-0.02)  # fmt: skip
    out, doc = reactive_run(tmp_path, [m])
    points = {p["point_id"]: p for p in doc["points"]}
    for pid, injected in (("sin1-Ib", 0.80), ("sin05i-Ib", 1.20), ("sin05c-Ib", 0.50)):
        p = points[pid]
        assert (p["quantity"], p["direction"], p["unit"]) == ("reactive", "delivered", "varh")
        assert within_u(p, injected), (
            f"{pid}: {p['error_percent']:+.4f} ± {p['expanded_uncertainty_percent']:.4f}"
        )
        assert p["verdict"] == "pass" and p["limit_percent"] == 2.0
    # an IEC board runs at the plan's 50 Hz: the source was set to it and the reference read it back
    assert points["sin1-Ib"]["frequency_hz"] == pytest.approx(50.0, abs=0.01)
    assert points["f-102"]["frequency_hz"] == pytest.approx(51.0, abs=0.01)
    assert out.positions == {1: "passed"}


def test_an_influence_points_variation_is_judged_against_its_limit(tmp_path):
    ok = var_meter(1, "VAR-0002", voltage_coefficient_percent_per_percent=0.01)  # +10 % Un: +0.10 %
    bad = var_meter(2, "VAR-0003", voltage_coefficient_percent_per_percent=0.25)  # +10 % Un: +2.5 %
    out, doc = reactive_run(tmp_path, [ok, bad])
    by = {(p["position"], p["point_id"]): p for p in doc["points"]}
    for pos, variation, verdict in ((1, 0.10, "pass"), (2, 2.50, "fail")):
        ref, inf = by[(pos, "u-110-ref")], by[(pos, "u-110")]
        assert ref["kind"] == inf["kind"] == "influence"
        assert ref["verdict"] == "info" and ref["voltage_v"] == pytest.approx(240.0)
        assert inf["voltage_v"] == pytest.approx(264.0)
        assert within_u(inf, variation), (
            f"{pos}: {inf['error_percent']:+.4f} ± {inf['expanded_uncertainty_percent']:.4f}"
        )
        assert inf["verdict"] == verdict and inf["limit_percent"] == 2.0
        assert "variation from the reference condition" in inf["message"]
    assert out.positions == {1: "passed", 2: "failed"}


def test_a_frequency_the_source_cannot_set_is_refused_before_anything_is_energised(tmp_path):
    path = tmp_path / "reactive.toml"
    path.write_text(REACTIVE_PLAN.replace("frequency_hz = 51.0", "frequency_hz = 69.0"), encoding="utf-8")
    cfg = sim_bench([var_meter(1, "VAR-0004")], three_phase=False)
    with open_bench(cfg) as bench:
        # a source that sets 45 ... 65 Hz, as a ZERA MT7xx declares
        bench.capabilities = {**bench.capabilities, "source": Capabilities(frequency_hz=(45.0, 65.0))}
        store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
        kernel = RunKernel(bench, store, load_plan_file(path), meters_from_bench(bench.config))
        with pytest.raises(InputError, match="69 Hz: the source sets"):
            kernel.run()
        assert store.list_runs() == []
        store.close()


def test_a_var_point_on_calculators_that_gate_only_watts_is_refused(tmp_path):
    path = tmp_path / "reactive.toml"
    path.write_text(REACTIVE_PLAN, encoding="utf-8")
    cfg = sim_bench([var_meter(1, "VAR-0005")], three_phase=False, calc="fluke6100")
    with open_bench(cfg) as bench:
        store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
        kernel = RunKernel(bench, store, load_plan_file(path), meters_from_bench(bench.config))
        with pytest.raises(InputError, match="reactive energy: the error calculators gate only active"):
            kernel.run()
        store.close()


def test_the_com5003_gates_var_pulses_for_a_reactive_point(tmp_path):
    """REFSOURCE Q and DCUNIT Varh/I sent by the driver (and read back), through a kernel run."""
    raw = tomllib.loads((EXAMPLES / "zera-com5003.toml").read_text(encoding="utf-8"))
    raw["simulation"]["meter"][0].update(accuracy_class="iec23:2", test_output="varh", error_curve_reactive=REACTIVE,
                                         frequency=50.0)  # fmt: skip
    plan = REACTIVE_PLAN.replace('forms = ["2S"]', 'forms = ["9S"]')
    path = tmp_path / "reactive.toml"
    path.write_text(plan, encoding="utf-8")
    out, doc = run_plan(tmp_path, parse_bench_config(raw), load_plan_file(path))
    points = {p["point_id"]: p for p in doc["points"]}
    assert within_u(points["sin1-Ib"], 0.80) and within_u(points["sin05i-Ib"], 1.20)
    assert points["sin1-Ib"]["unit"] == "varh"


# ---------------------------------------------------------------------------------------------- rotation


def test_a_cba_supply_stops_the_board_with_the_rotation_finding(tmp_path):
    raw = tomllib.loads((EXAMPLES / "zera-com5003.toml").read_text(encoding="utf-8"))
    raw["simulation"]["rotation"] = "CBA"
    out, doc = run_plan(tmp_path, parse_bench_config(raw), load_plan("ansi-c12.20-9s"))
    board = [w for w in doc["wiring"] if w["position"] == "bench"]
    assert board and board[0]["rotation"] == "CBA"
    assert [f["code"] for f in board[0]["findings"]] == ["rotation_cba"]
    assert not doc["points"]  # nothing was measured on a board with the wrong rotation
    assert out.outcome == "failed" and set(out.positions.values()) != {"passed"}


# ----------------------------------------------------------------------------------- certificate and DCC


def test_certificate_and_dcc_state_units_directions_and_the_convention(tmp_path, dcc_schema):
    from lxml import etree

    from bench.certify import build_certificate_data
    from reports.certificate import point_row
    from reports.dcc import DCC_NS, build_dcc
    from reports.model import DIRECTION_CONVENTION, SIGN_CONVENTION, content_hash

    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    m = var_meter(1, "VAR-0009", voltage_coefficient_percent_per_percent=0.01)
    path = tmp_path / "reactive.toml"
    path.write_text(REACTIVE_PLAN, encoding="utf-8")
    with open_bench(sim_bench([m], three_phase=False)) as bench:
        out = RunKernel(bench, store, load_plan_file(path), meters_from_bench(bench.config),
                        settings=KernelSettings(**SPEC)).run()  # fmt: skip
    record = store.run_record(out.run_id)
    store.close()
    data = build_certificate_data(record, 1)
    rows = {p.point_id: point_row(p)[0] for p in data.points}
    assert rows["sin1-Ib"] == "SIN1 Ib (sin1-Ib) [varh]"
    assert rows["u-110"] == "U +10% (u-110) [varh, variation from reference condition]"
    assert "u-110-ref" not in rows  # the reference-condition row is information, not a certified result
    assert data.sign_convention == SIGN_CONVENTION + DIRECTION_CONVENTION
    assert "received = from the customer to the supply" in data.sign_convention
    assert content_hash(build_certificate_data(record, 1)) == content_hash(data)  # rebuilt from the records
    root = etree.fromstring(build_dcc(data, content_hash(data)))
    names = [e.text for e in root.iterfind(f".//{{{DCC_NS}}}result/{{{DCC_NS}}}name/{{{DCC_NS}}}content")]
    assert any(n.startswith("SIN1 Ib (sin1-Ib) [varh]") for n in names)
    assert "Energy measured: reactive (varh), delivered." in etree.tostring(root).decode()
    assert not list(dcc_schema.iter_errors(root))


def test_an_active_delivered_certificate_keeps_its_convention_and_fields(tmp_path):
    from bench.certify import build_certificate_data
    from reports.model import SIGN_CONVENTION, to_canonical_json

    m = meter(1, serial="NET-0010", bidirectional=True, error_curve=DELIVERED)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    with open_bench(sim_bench([m], three_phase=False)) as bench:
        out = RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config)).run()
    data = build_certificate_data(store.run_record(out.run_id), 1)
    store.close()
    assert data.sign_convention == SIGN_CONVENTION
    canon = to_canonical_json(data)
    assert b'"quantity"' not in canon and b'"direction"' not in canon  # hashes as before issue 16


def test_a_net_metering_certificate_names_the_received_points(tmp_path):
    from bench.certify import build_certificate_data
    from reports.certificate import point_row

    m = meter(1, serial="NET-0011", bidirectional=True, error_curve=DELIVERED, error_curve_received=RECEIVED)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    with open_bench(sim_bench([m], three_phase=False)) as bench:
        out = RunKernel(bench, store, load_plan("ansi-c12.20-2s-net"), meters_from_bench(bench.config),
                        settings=KernelSettings(**SPEC)).run()  # fmt: skip
    data = build_certificate_data(store.run_record(out.run_id), 1)
    store.close()
    rows = [point_row(p)[0] for p in data.points]
    assert rows == ["LL", "LL rcv (LL-rcv) [received]", "FL", "FL rcv (FL-rcv) [received]", "PF",
                    "PF rcv (PF-rcv) [received]"]  # fmt: skip
    assert "received = from the customer to the supply" in data.sign_convention


def test_a_harmonic_point_sends_the_harmonics_to_a_source_that_can_and_clears_them_after(tmp_path):
    """The Fluke 6105A adds each harmonic as HARM<k> of its multi-harmonic waveform (FM 5-36) and clears
    them (MHAR:CLE) for the next point; the variation is judged against its limit. The simulated meter's
    harmonic response is in active energy only (tests/test_sim_harmonics.py), so this var meter's
    variation is about 0."""
    harmonic = """
[[points]]
id = "h5"
label = "H5"
kind = "influence"
element = "series"
quantity = "reactive"
current = 1.0
lag_deg = 90.0
harmonics = [[5, 10.0, 40.0]]
readings = 3
settle_s = 5
limit = "influence-harmonics"
"""
    path = tmp_path / "reactive.toml"
    path.write_text(REACTIVE_PLAN.replace("[[points]]\nid = \"sin05i-Ib\"", harmonic + "\n[[points]]\nid = \"sin05i-Ib\""),
                    encoding="utf-8")  # fmt: skip
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    with open_bench(sim_bench([var_meter(1, "VAR-0020")], three_phase=False)) as bench:
        out = RunKernel(bench, store, load_plan_file(path), meters_from_bench(bench.config),
                        settings=KernelSettings(**SPEC)).run()  # fmt: skip
        log = [e.message for e in bench.simulator.devices["source"].instrument.log if e.accepted]
    doc = build_run_json(store.run_record(out.run_id))
    store.close()
    h5 = next(p for p in doc["points"] if p["point_id"] == "h5")
    assert within_u(h5, 0.0) and h5["verdict"] == "pass" and h5["limit_percent"] == 2.0
    sent = [m for m in log if ":MHAR:HARM5 " in m]
    # 10 % of 240 V and 40 % of 30 A, in phase with their fundamentals: the current lags 90 deg, on the
    # wire (leading positive) -90 deg, so its 5th harmonic is at 5 x -90 = -450 = -90 deg
    assert sent == ["SOUR:PHAS1:VOLT:MHAR:HARM5 24,0.0000", "SOUR:PHAS1:CURR:MHAR:HARM5 12,-90.0000"]
    # the next point's waveform is the fundamental again
    assert log.index(sent[-1]) < max(i for i, m in enumerate(log) if m == "SOUR:PHAS1:VOLT:MHAR:CLE")


def test_a_harmonic_point_on_a_source_that_cannot_is_refused_before_energising(tmp_path):
    path = tmp_path / "reactive.toml"
    path.write_text(
        REACTIVE_PLAN.replace("frequency_hz = 51.0", "harmonics = [[3, 5.0, 20.0]]"), encoding="utf-8"
    )
    with open_bench(sim_bench([var_meter(1, "VAR-0021")], three_phase=False)) as bench:
        bench.capabilities = {
            **bench.capabilities,
            "source": Capabilities(harmonics=False),
        }  # as a ZERA MT7xx
        store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
        kernel = RunKernel(bench, store, load_plan_file(path), meters_from_bench(bench.config))
        with pytest.raises(InputError, match="harmonics: the source cannot add harmonics"):
            kernel.run()
        assert bench.simulator.physics.output_on is False
        store.close()
