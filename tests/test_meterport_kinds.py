"""Issue 15: the meter's own tables through its optical port - demand and clock tests over ANSI C12.18 and
IEC 62056-21, in process and over served loopback sockets; injected demand errors and clock drifts measured
back within U; bad replies named; the new C12.19 tables decoded; certificates and DCC show the results."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from bench.cli import main
from instruments.bench import open_bench
from instruments.benchfile import load_bench_config
from instruments.clock import VirtualClock
from instruments.protocols import c1219
from instruments.sim.serve import serve_bench
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
ANSI = ROOT / "examples" / "2s-meterport-c1218.toml"
IEC = ROOT / "examples" / "iec-meterport-62056.toml"


def _run(tmp_path, bench: Path, plan: str, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "run.json"
    code = main(["run", "--bench", str(bench), "--plan", plan, "--db", f"sqlite:///{tmp_path / 'r.sqlite'}",
                 "--json", str(out), "--operator", "Test Person", *extra])  # fmt: skip
    return code, json.loads(out.read_text())


def _by(doc: dict, kind: str) -> dict[int, dict]:
    return {r["position"]: r for r in doc["meter_port"] if r["kind"] == kind}


def _energy_error(doc: dict, pos: int) -> tuple[float, float]:
    fl = next(p for p in doc["points"] if p["position"] == pos)
    return fl["error_percent"], fl["expanded_uncertainty_percent"]


def _demand_back(doc: dict, pos: int, injected: float) -> tuple[float, float, float]:
    """(measured, expected, allowed difference): the demand carries the meter's energy error (measured at
    FL/Ib in the same run) and the injected demand-register error."""
    d = _by(doc, "demand")[pos]
    e, u_e = _energy_error(doc, pos)
    expected = 100 * ((1 + injected / 100) * (1 + e / 100) - 1)
    return d["value"], expected, d["expanded_uncertainty"] + u_e + 0.03  # + the meter's 0.01 % noise draws


def test_demand_and_clock_over_c1218_are_measured_back_within_u(tmp_path):
    code, doc = _run(tmp_path, ANSI, "ansi-meterport-2s", "--certificates", str(tmp_path / "certs"))
    demand, clock = _by(doc, "demand"), _by(doc, "clock")
    assert set(demand) == set(clock) == {1, 2, 3}
    measured, expected, allowed = _demand_back(doc, 1, 0.4)  # block demand, register 0.4 % high
    assert abs(measured - expected) <= allowed, (measured, expected, allowed)
    assert demand[1]["details"]["demand_type"] == "block" and demand[1]["details"]["reset"] is True
    measured, expected, allowed = _demand_back(doc, 2, 0.0)  # sliding demand, 3 subintervals
    assert abs(measured - expected) <= allowed and "sliding" in demand[2]["details"]["demand_type"]
    assert all(d["limit"] == 0.5 and d["verdict"] == "pass" for d in demand.values())
    # the clock of socket 1 gains 2 s/day: measured back within U, and it fails the +-0.5 s/day limit
    c1 = clock[1]
    assert c1["unit"] == "s/day" and abs(c1["value"] - 2.0) <= c1["expanded_uncertainty"], c1
    assert c1["verdict"] == "fail" and clock[2]["verdict"] == "pass"
    assert abs(clock[2]["value"]) <= clock[2]["expanded_uncertainty"]
    assert code == 1  # socket 1's clock fails the run
    # the certificate and the DCC carry both tests with U and limits; the DCC validated when issued
    pdf = next((tmp_path / "certs").glob("*P01.pdf"))
    import subprocess

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Meter-port tests" in text and "s/day" in text and "DEMAND FL" in text
    xml = pdf.with_suffix(".xml").read_text()
    assert "meterbench_demandTest" in xml and "meterbench_clockTest" in xml
    assert "\\second\\day\\tothe{-1}" in xml and "valueExpandedMU" in xml


def test_the_dcc_with_meterport_results_validates_against_the_schema(tmp_path, dcc_schema):
    from lxml import etree

    from bench.certify import build_certificate_data
    from bench.records import RecordStore
    from reports.dcc import build_dcc
    from reports.model import content_hash

    _run(tmp_path, IEC, "iec-meterport", "--no-certificates")
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        record = store.run_record(1)
    finally:
        store.close()
    data = build_certificate_data(record, 1)
    assert {t.kind for t in data.meterport_tests} == {"demand", "clock", "tou", "identity"}
    xml = build_dcc(data, content_hash(data), pdf_bytes=b"%PDF-1.7\n")
    errors = list(dcc_schema.iter_errors(etree.fromstring(xml)))
    assert not errors, str(errors[0])


def test_demand_and_clock_over_iec_62056_21_are_measured_back_within_u(tmp_path):
    code, doc = _run(tmp_path, IEC, "iec-meterport", "--no-certificates")
    demand, clock = _by(doc, "demand"), _by(doc, "clock")
    measured, expected, allowed = _demand_back(doc, 1, -0.6)
    assert abs(measured - expected) <= allowed, (measured, expected, allowed)
    # a mode C readout cannot reset the demand: the last whole interval (1.5.0) is what was judged
    assert demand[1]["details"]["reset"] is False and "last completed" in demand[1]["details"]["judged"]
    c1 = clock[1]  # -30 ppm = -2.592 s/day
    assert abs(c1["value"] - (-30 * 0.0864)) <= c1["expanded_uncertainty"] and c1["verdict"] == "fail"
    assert code == 1


def test_demand_and_clock_over_served_loopback_sockets(tmp_path):
    """The same points with a bench file without [simulation]: the ports are served serial sockets."""
    mad = (ROOT / "examples" / "2s-fluke-mad.toml").read_text()
    calcs = mad[mad.index("[[instruments.calculators]]") : mad.index("[simulation]")]
    text = ANSI.read_text()
    text = text[: text.index("[instruments.calculators]")] + calcs + text[text.index("# One ANSI Type 2") :]
    (tmp_path / "sim.toml").write_text(text)
    from bench.kernel import RunKernel
    from bench.meters import load_manifest
    from bench.records import RecordStore
    from bench.runjson import build_run_json
    from procedures.plans import load_plan

    clock = VirtualClock()
    served = serve_bench(load_bench_config(tmp_path / "sim.toml"), clock, lifetime_s=600)
    path = tmp_path / "served.toml"
    path.write_text(served.bench_toml())
    assert "allow_unconfirmed = true" in path.read_text()
    (tmp_path / "meters.csv").write_text(served.manifest_csv())
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        bench = open_bench(path, clock=clock)
        assert bench.simulator is None
        try:
            kernel = RunKernel(bench, store, load_plan("ansi-meterport-2s"),
                               load_manifest(tmp_path / "meters.csv"), operator="CI")  # fmt: skip
            outcome = kernel.run()
        finally:
            bench.close()
        doc = build_run_json(store.run_record(outcome.run_id))
    finally:
        store.close()
        served.stop()
    measured, expected, allowed = _demand_back(doc, 1, 0.4)
    assert abs(measured - expected) <= allowed
    c1 = _by(doc, "clock")[1]
    assert abs(c1["value"] - 2.0) <= c1["expanded_uncertainty"]
    refused = [e.why for i in served.instruments for e in getattr(getattr(i.device, "instrument", None), "log", [])
               if not e.accepted and not e.injected]  # fmt: skip
    assert refused == [], refused


@pytest.mark.refusals_ok
def test_a_table_the_meter_lacks_fails_the_point_naming_the_port_and_the_table(tmp_path, monkeypatch):
    from instruments.sim import ansi_c1218 as sim

    real = sim.SimC1218Meter._table

    def no_st13(self, table):
        return None if table == c1219.DEMAND_CONTROL and self.position == 2 else real(self, table)

    monkeypatch.setattr(sim.SimC1218Meter, "_table", no_st13)
    _code, doc = _run(tmp_path, ANSI, "ansi-meterport-2s", "--no-certificates")
    d2 = _by(doc, "demand")[2]
    assert d2["status"] == "failed" and d2["value"] is None and d2["verdict"] == "fail"
    assert "ST13 demand control" in d2["message"] and "meter_ports" in d2["message"]
    assert "onp" in d2["message"]
    assert _by(doc, "demand")[1]["status"] == "done"  # the other sockets carry on


@pytest.mark.refusals_ok
def test_a_dead_port_fails_its_points_with_a_clear_message(tmp_path):
    # (a port without the opt-in for a demand reset is refused before energising: test_meterport_optin.py)
    text = ANSI.read_text().replace(
        'position = 3\nserial = "SIM2S-0003"', 'position = 3\nserial = "SIM2S-0003"\nmeter_port = "dead"'
    )
    (tmp_path / "b.toml").write_text(text)
    _code, doc = _run(tmp_path, tmp_path / "b.toml", "ansi-meterport-2s", "--no-certificates")
    demand = _by(doc, "demand")
    assert (
        demand[3]["status"] == "failed"
        and "ASRL13" in demand[3]["message"]
        and "no reply" in demand[3]["message"]
    )
    assert demand[1]["status"] == "done"


def test_the_new_tables_decode_through_the_driver():
    with open_bench(ANSI) as bench:
        port = bench.meter_ports[2]
        assert port.status() == ["low battery"]
        events = port.events()
        assert [e.split(" ", 2)[2] for e in events] == ["primary power down", "primary power up",
                                                        "tamper attempt detected"]  # fmt: skip
        assert port.tou_calendar() == [("00:00", 1), ("07:00", 2), ("21:00", 1)]
        d = port.demand()
        assert d["interval_s"] == 900 and d["subintervals"] == 3 and d["max_kw"] == 0.0
        state = port.clock_state()
        assert state.when == datetime(2026, 1, 1) and state.summation_tier == 0


def test_tou_tiers_follow_the_calendar_and_a_demand_reset_fills_st25(tmp_path):
    with open_bench(ANSI) as bench:
        port, physics = bench.meter_ports[2], bench.simulator.physics
        port.set_clock(datetime(2026, 1, 1, 6, 59, 0))
        from instruments.interfaces import PhaseSetting

        bench.source.apply({"A": PhaseSetting(240.0, 0.0, 30.0, 0.0)}, 60.0)
        bench.source.output_on()
        bench.clock.sleep(120)  # one minute in tier 1, one in tier 2 (07:00)
        bench.source.output_off()
        regs = port.registers()
        assert regs["kWh_tier1"] == pytest.approx(0.12, abs=0.002)
        assert regs["kWh_tier2"] == pytest.approx(0.12, abs=0.002)
        assert port.clock_state().summation_tier == 1  # tier 2 in force (0-based 1)
        port.demand_reset()
        d = port.demand()
        assert d["resets"] == 1 and d["previous_reset"].startswith("2026-01-01 07:01")
        assert "demand reset occurred" in port.events()[-1]
        assert physics.meters[2].energy_wh > 0


@pytest.mark.parametrize(
    "line, field",
    [
        ('tou_calendar = [["25:00", 1]]', "tou_calendar[0]"),
        ("demand_subintervals = 4", "demand_subintervals"),
        ('status_flags = ["on fire"]', "status_flags[0]"),
        ("clock_drift_ppm = 1\nclock_drift_s_per_day = 1", "clock_drift_s_per_day"),
    ],
)
def test_bad_meter_memory_knobs_are_refused_naming_the_field(tmp_path, line, field):
    keep = [ln for ln in ANSI.read_text().splitlines() if not ln.startswith(("tou_calendar", "status_flags"))]
    text = "\n".join(keep).replace('serial = "SIM2S-0003"', f'serial = "SIM2S-0003"\n{line}')
    (tmp_path / "b.toml").write_text(text)
    with pytest.raises(InputError) as err:
        load_bench_config(tmp_path / "b.toml")
    assert field in str(err.value)


def test_tou_and_identity_over_c1218_and_a_wrong_calendar_fails_naming_the_tier(tmp_path):
    _code, doc = _run(tmp_path, ANSI, "ansi-meterport-2s", "--no-certificates")
    tou, ident = _by(doc, "tou"), _by(doc, "identity")
    assert tou[1]["verdict"] == tou[2]["verdict"] == "pass"
    for t in (tou[1]["details"], tou[2]["details"]):  # each tier advanced by its own window's energy
        for tier in (1, 2):
            got, want = t["advance_kwh"][str(tier)], t["window_kwh"][str(tier)]
            assert want > 0.1 and abs(got - want) <= 0.002 + 0.005 * want
    # socket 3 is programmed with on-peak from 08:00, not 07:00: everything went to tier 1
    assert tou[3]["verdict"] == "fail"
    assert "tier 1 advanced" in tou[3]["message"] and "tier 2 advanced 0 kWh" in tou[3]["message"]
    # the meters' clocks were set back after the TOU test: the clock test still measures the drift
    assert abs(_by(doc, "clock")[1]["value"] - 2.0) <= _by(doc, "clock")[1]["expanded_uncertainty"]
    assert ident[1]["verdict"] == "pass" and ident[3]["verdict"] == "pass"
    assert ident[2]["verdict"] == "fail" and "low battery" in ident[2]["message"]
    lines = " | ".join(ident[2]["details"]["lines"])
    assert "serial SIM2S-0002" in lines and "tamper attempt detected" in lines and "time changed" not in lines


def test_identity_against_a_manifest_with_other_firmware_fails_naming_the_field(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "position,serial,form,accuracy_class,current_class,voltage,kh,kt,firmware\n"
        "1,SIM2S-0001,2S,0.5,CL200,240,7.2,0.6,2.0\n"
    )
    plan = tmp_path / "p.toml"
    text = (ROOT / "procedures" / "data" / "plans" / "ansi-meterport-2s.toml").read_text()
    plan.write_text(text[: text.index('\n[[points]]\nid = "demand"')] + "\n")
    _code, doc = _run(tmp_path, ANSI, str(plan), "--no-certificates", "--meters", str(manifest))
    ident = _by(doc, "identity")[1]
    assert ident["verdict"] == "fail" and "firmware: the meter says '1.0', expected '2.0'" in ident["message"]


def test_tou_over_iec_waits_for_the_change_on_the_meters_own_clock(tmp_path):
    _code, doc = _run(tmp_path, IEC, "iec-meterport", "--no-certificates")
    tou = _by(doc, "tou")
    assert tou[1]["verdict"] == "pass" and tou[1]["planned"]["clock"] == "the change awaited"
    assert tou[3]["verdict"] == "fail" and "tier 2 advanced 0 kWh" in tou[3]["message"]
    assert _by(doc, "identity")[1]["verdict"] == "pass"
    assert "tamper attempts: 1 (C.51.0)" in " ".join(_by(doc, "identity")[2]["details"]["lines"])
    # an IEC TOU point without time to wait for the change is skipped, saying why
    plan = tmp_path / "p.toml"
    text = (ROOT / "procedures" / "data" / "plans" / "iec-meterport.toml").read_text()
    plan.write_text(text.replace("duration_s = 28800", "duration_s = 600"))
    (tmp_path / "again").mkdir()
    _code, doc = _run(tmp_path / "again", IEC, str(plan), "--no-certificates")
    assert all(t["status"] == "skipped" and "cannot set the meter's clock" in t["message"]
               for t in _by(doc, "tou").values())  # fmt: skip


def test_a_tou_point_needs_its_calendar(tmp_path):
    from procedures.plans import load_plan

    text = (ROOT / "procedures" / "data" / "plans" / "ansi-meterport-2s.toml").read_text()
    plan = tmp_path / "p.toml"
    plan.write_text(text.replace('tou_calendar = [["00:00", 1], ["07:00", 2], ["21:00", 1]]\n', ""))
    with pytest.raises(InputError, match="tou_calendar"):
        load_plan(str(plan))
    plan.write_text(text.replace('["07:00", 2]', '["07:00", 1]'))
    with pytest.raises(InputError, match="two switches to different tiers"):
        load_plan(str(plan))


def test_the_gui_shows_meterport_results_live_in_their_units(qtbot):
    from bench.gui.results import ResultsPanel
    from bench.kernel import records as r

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.reset(7, {1: "SIM2S-0001"})
    clock = r.PointResult(position=1, point_id="clock", label="CLOCK", error_percent=2.16, expanded_percent=0.22,
                          k=1.96, verdict="fail", limit_lo=-0.5, limit_hi=0.5, unit="s/day")  # fmt: skip
    tou = r.PointResult(position=1, point_id="tou", label="TOU", verdict="fail", unit="kWh",
                        message="tier 2 advanced 0 kWh, its window had 0.12 kWh")  # fmt: skip
    panel.point_done(1, "clock", clock.data)
    panel.point_done(1, "tou", tou.data)
    texts = [panel.table.item(0, c).text() for c in range(2, panel.table.columnCount())]
    assert texts[0].startswith("+2.160 ±0.220 s/day") and texts[1].startswith("FAIL")


@pytest.mark.refusals_ok
def test_a_broken_crc_on_a_demand_table_is_nakked_and_read_again():
    import pyvisa

    import instruments.drivers.ansi_c1218 as drv
    from instruments.drivers import DriverContext
    from instruments.sim.ansi_c1218 import SimC1218Meter
    from instruments.sim.library import CoupledSimLibrary

    class BrokenOnce(SimC1218Meter):
        broken = 0

        def _read(self, data):
            body, ok, why = super()._read(data)
            self.asked_st25 = data[1:3] == b"\x00\x19"
            return body, ok, why

        def handle(self, message, conn):
            reply = super().handle(message, conn)
            if getattr(self, "asked_st25", False) and not self.broken and len(reply.lines) == 2:
                self.broken += 1
                good = reply.lines[1].encode("latin-1")
                bad = good[:-1] + bytes([good[-1] ^ 0xFF])
                return type(reply)((reply.lines[0], bad.decode("latin-1")), reply.accepted, reply.why)
            return reply

    with open_bench(ANSI) as bench:
        meter = BrokenOnce(bench.simulator.physics, 1)
        lib = CoupledSimLibrary.create()
        lib.attach_instrument("ASRL31::INSTR", meter)
        rm = pyvisa.ResourceManager(lib)
        try:
            port = drv.C1218Driver(
                DriverContext(rm.open_resource("ASRL31::INSTR"), "probe 1", bench.clock, {})
            ).port(1)
            got = port.demand()
        finally:
            rm.close()
    assert meter.broken == 1 and got["interval_s"] == 900 and got["previous_max_kw"] == 0.0


def test_a_meter_without_a_port_gets_typed_register_readings_and_the_record_says_so(tmp_path, monkeypatch):
    """Issue 15 item 2: the technician types the start and end readings from the display."""
    import instruments.bench as ib
    from bench.commands import run as run_cmd
    from instruments.sim.meterport import registered_kwh

    base = (ROOT / "examples" / "2s-optical-c1218.toml").read_text()
    cut = base.index('[[instruments.meter_ports]]\ndriver = "ansi_c1218"\nresource = "ASRL13::INSTR"')
    text = base[:cut] + base[base.index("[simulation]") :]  # socket 3's meter has no optical port
    text = text.replace('serial = "SIM2S-0003"', 'serial = "SIM2S-0003"\nmeter_port = "none"')
    (tmp_path / "b.toml").write_text(text)
    opened, asked = [], []
    real = ib.open_bench
    monkeypatch.setattr(ib, "open_bench", lambda *a, **k: opened.append(real(*a, **k)) or opened[-1])

    def technician(position, which):  # reads the meter's display, as a person would
        asked.append((position, which))
        return registered_kwh(opened[-1].simulator.physics, position)

    monkeypatch.setattr(run_cmd, "typed_register", technician)
    _code, doc = _run(tmp_path, tmp_path / "b.toml", "ansi-c12.20-2s-register", "--type-registers",
                      "--certificates", str(tmp_path / "certs"))  # fmt: skip
    assert asked == [(3, "start"), (3, "end")]  # only the socket without a port was asked
    regs = {r["position"]: r for r in doc["register"]}
    assert regs[3]["status"] == "done" and regs[3]["entry"].startswith("typed by the technician")
    assert regs[1]["entry"] == "port"
    assert abs(regs[3]["error_percent"]) <= regs[3]["expanded_uncertainty_percent"] + 0.15
    import subprocess

    pdf = next((tmp_path / "certs").glob("*P03.pdf"))
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "typed by the technician" in words


def test_typed_register_asks_again_until_it_is_a_reading(monkeypatch, capsys):
    from bench.commands.run import typed_register

    answers = iter(["twelve", "-3", "12,5"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert typed_register(2, "start") == 12.5
    assert capsys.readouterr().out.count("is not a register reading") == 2
    monkeypatch.setattr("builtins.input", lambda prompt: "")
    assert typed_register(2, "end") is None
