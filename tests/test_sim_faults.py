"""Faults on demand: each raises the right typed error within its timeout, and the bench's safe state
leaves the source output off."""

from __future__ import annotations

import time

import pytest
from test_sim_accuracy import bench_dict, measure, meter, settings

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config
from instruments.errors import CommandRefused, InstrumentFault, InstrumentTimeout, UnparseableReply
from instruments.interfaces import wait_until

TIMEOUT_MS = 200


def open_fast(meters=None, three_phase=True, calc="fluke6100", faults=(), **source_options):
    d = bench_dict(meters or [meter(1, "16S", 277.0, "CL200", 1.8)], three_phase=three_phase, calc=calc)
    d["instruments"]["source"]["options"] = {"timeout_ms": TIMEOUT_MS, **source_options}
    if calc == "sim_counter":
        d["instruments"]["calculators"]["options"] = {"timeout_ms": TIMEOUT_MS}
    d["simulation"]["fault"] = list(faults)
    return open_bench(parse_bench_config(d))


def running(bench):
    bench.source.apply(settings("16S", 277.0, 30.0, 0.0, True), 60.0)
    bench.source.output_on()
    assert bench.simulator.physics.output_on


def ends_safe(bench):
    assert bench.safe_state() == []
    assert not bench.simulator.physics.output_on
    assert not bench.source.output_is_on()


def test_no_reply_times_out_within_the_visa_timeout():
    with open_fast() as bench:
        running(bench)
        bench.simulator.inject("calculators", "no_reply", command="ENER:TEST:STAT?")
        bench.calculators[1].configure(1.8, 12)
        bench.calculators[1].start()
        t = time.monotonic()
        with pytest.raises(InstrumentTimeout, match="ENER:TEST:STAT"):
            bench.calculators[1].poll()
        assert time.monotonic() - t < 1.0
        ends_safe(bench)


def test_slow_reply_beyond_the_timeout_is_a_timeout_and_within_it_is_fine():
    with open_fast() as bench:
        running(bench)
        bench.simulator.inject("source", "slow_reply", command="*IDN?", delay_s=0.05)
        assert bench.source.identify().startswith("FLUKE")
        bench.simulator.clear_faults()
        bench.simulator.inject("reference", "slow_reply", command="SOUR:PHAS1:VOLT:MHAR:HARM1?", delay_s=0.6)
        with pytest.raises(InstrumentTimeout):
            bench.reference.read()
        time.sleep(0.6)  # let the late reply arrive and be discarded with the buffers
        bench.simulator.devices["reference"].reset_buffers()
        ends_safe(bench)


def test_garbage_reply_is_unparseable():
    with open_fast() as bench:
        running(bench)
        bench.simulator.inject("reference", "garbage", command="SOUR:PHAS2:CURR:MHAR:HARM1?")
        with pytest.raises(UnparseableReply, match="SOUR:PHAS2:CURR:MHAR:HARM1"):
            bench.reference.read()
        ends_safe(bench)


def test_refused_command_is_command_refused():
    with open_fast() as bench:
        bench.simulator.inject("source", "refused", command="SOUR:FREQ")
        with pytest.raises(CommandRefused, match="Settings conflict"):
            bench.source.apply(settings("16S", 277.0, 30.0, 0.0, True), 60.0)
        ends_safe(bench)


def test_overload_on_demand_is_an_instrument_fault_and_the_output_is_off():
    with open_fast() as bench:
        bench.simulator.inject("source", "overload")
        bench.source.apply(settings("16S", 277.0, 30.0, 0.0, True), 60.0)
        with pytest.raises(InstrumentFault, match="cannot regulate"):
            bench.source.output_on()
        ends_safe(bench)


def test_current_beyond_what_the_source_can_regulate_trips_it():
    with open_fast(max_current_a=20.0) as bench:
        bench.source.apply(settings("16S", 277.0, 30.0, 0.0, True), 60.0)
        with pytest.raises(InstrumentFault, match="overload"):
            bench.source.output_on()
        ends_safe(bench)


def test_overload_while_running_is_seen_by_output_is_on():
    with open_fast() as bench:
        running(bench)
        bench.simulator.inject("source", "overload")
        with pytest.raises(InstrumentFault):
            bench.source.output_is_on()
        ends_safe(bench)


def test_dead_meter_gate_never_finishes_and_times_out_on_the_bench_clock():
    with open_fast([meter(1, "16S", 277.0, "CL200", 1.8, dead=True)]) as bench:
        running(bench)
        calc = bench.calculators[1]
        calc.configure(1.8, 12)
        calc.start()
        t = time.monotonic()
        with pytest.raises(InstrumentTimeout, match="gate"):
            wait_until(bench.clock, lambda: calc.poll()[0] == "finished", 120.0, 1.0, "gate on position 1")
        assert time.monotonic() - t < 2.0 and bench.clock.now() >= 120.0
        ends_safe(bench)


def test_intermittent_pulses_make_the_meter_look_slow():
    m = meter(1, "16S", 277.0, "CL200", 1.8, missed_pulse_fraction=0.3)
    with open_fast([m]) as bench:
        r = measure(bench, 1, settings("16S", 277.0, 30.0, 0.0, True), 1.8, 20)
    error = 100.0 * r.meter_pulses * 1.8 / (r.ref_pulses * r.kr_wh) - 100.0
    assert error < -10.0


def test_creep_and_starting_current():
    meters = [
        meter(1, "2S", creep_pulses_per_hour=2.0, starting_current_a=0.05),
        meter(2, "2S", starting_current_a=0.05),
    ]
    with open_fast(meters, three_phase=False, calc="sim_counter") as bench:
        bench.source.apply({"A": settings("2S", 240.0, 0.0, 0.0, False)["A"]}, 60.0)
        bench.source.output_on()
        for p in (1, 2):
            bench.calculators[p].count_start()
        bench.clock.sleep(3600.0)  # no-load: one hour at voltage only
        assert bench.calculators[1].count_read() == (2, pytest.approx(3600.0))  # creeps
        assert bench.calculators[2].count_read()[0] == 0
        bench.source.apply(settings("2S", 240.0, 0.04, 0.0, False), 60.0)  # below the starting current
        bench.calculators[2].count_start()
        bench.clock.sleep(600.0)
        assert bench.calculators[2].count_read()[0] == 0
        bench.source.apply(settings("2S", 240.0, 0.1, 0.0, False), 60.0)  # 24 W: 40 pulses of 0.6 Wh an hour
        bench.calculators[2].count_start()
        bench.clock.sleep(600.0)
        assert bench.calculators[2].count_read()[0] == 6
        ends_safe(bench)


def test_faults_from_the_bench_file():
    faults = [{"instrument": "calculators", "kind": "garbage", "command": "POS1:RES?"}]
    with open_fast([meter(1, "2S")], three_phase=False, calc="sim_counter", faults=faults) as bench:
        r = bench.source
        r.apply(settings("2S", 240.0, 30.0, 0.0, False), 60.0)
        r.output_on()
        calc = bench.calculators[1]
        calc.configure(0.6, 2)
        calc.start()
        wait_until(bench.clock, lambda: calc.poll()[0] == "finished", 60.0, 0.5, "gate")
        with pytest.raises(UnparseableReply, match="POS1:RES"):
            calc.result()
        ends_safe(bench)


def test_safe_state_collects_errors_and_still_switches_the_source_off_first():
    with open_fast([meter(1, "2S")], three_phase=False, calc="sim_counter") as bench:
        bench.source.apply(settings("2S", 240.0, 30.0, 0.0, False), 60.0)
        bench.source.output_on()
        bench.simulator.inject("calculators", "no_reply")
        calc_rack = bench.calculators[1].rack
        calc_rack.link.resource.timeout = TIMEOUT_MS
        errors = bench.safe_state()
        assert not bench.simulator.physics.output_on  # the source went off although a calculator is mute
        assert errors == []  # writes to a mute instrument do not fail; nothing to report
        bench.simulator.clear_faults()


def test_simulated_meter_port_reads_identity_and_the_meters_own_register():
    m = meter(1, "2S", error_curve=[[1.0, 0.0, 1.0]])
    with open_fast([m], three_phase=False, calc="sim_counter") as bench:
        port = bench.meter_ports[1]
        assert port.identity()["serial"] == "S1" and port.identity()["form"] == "2S"
        bench.source.apply(settings("2S", 240.0, 30.0, 0.0, False), 60.0)
        bench.source.output_on()
        bench.clock.sleep(3600.0)  # one hour at 7.2 kW, meter 1 % fast
        assert port.registers()["kWh_delivered"] == pytest.approx(7.2 * 1.01, rel=1e-3)
