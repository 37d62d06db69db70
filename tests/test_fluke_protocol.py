"""The Fluke 6100B/6105A driver against the simulated instrument (written from the manual and public drivers,
instruments/sim/fluke6100.py): exact exchanges, how the unit refuses, the [U] energy path behind the bench's
opt-in, and the safe state."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvisa
from test_sim_accuracy import bench_dict, meter, settings

from instruments.bench import open_bench
from instruments.benchfile import parse_bench_config
from instruments.drivers.fluke6100 import COMMANDS, ENERGY_UNCONFIRMED
from instruments.errors import CommandRefused, UnconfirmedCommand, UnparseableReply
from instruments.interfaces import PhaseSetting, wait_until
from instruments.sim.transport import EmulatorServer
from procedures.errors import InputError

CURVE = [[1.0, 0.0, 0.10], [1.0, 60.0, 0.25]]


def open_fluke(*, allow_unconfirmed: bool = False, options: dict | None = None):
    d = bench_dict(
        [meter(1, "16S", 277.0, "CL200", 1.8, error_curve=CURVE)], three_phase=True, calc="fluke6100"
    )
    d["instruments"]["calculators"]["allow_unconfirmed"] = allow_unconfirmed
    if options:
        d["instruments"]["source"]["options"] = options
    return open_bench(parse_bench_config(d))


def sim_of(bench):
    return bench.simulator.devices["source"].instrument


def sent_since(sim, mark: int) -> list[str]:
    return [e.message for e in sim.log[mark:]]


def raw(sim, message: str) -> str | None:
    """One message straight to the simulated unit; its reply text, or None for silence."""
    out = sim.receive(message.encode(), sim.connect())
    return None if out is None else out.decode().rstrip("\n")


FL_16S = settings("16S", 277.0, 30.0, 60.0, True)


def test_load_point_sets_ranges_then_waveform_then_units_then_amplitudes():
    with open_fluke() as bench:
        sim = sim_of(bench)
        mark = len(sim.log)
        bench.source.apply(FL_16S, 60.0)
        assert sent_since(sim, mark) == [
            # narrowest ranges holding 277 V / 30 A (30 A needs the 50 A range: *OPT? reports the 80 A option)
            "SOUR:PHAS1:VOLT:RANG 0,360", "SOUR:PHAS1:CURR:RANG 5,50",
            "SOUR:PHAS2:VOLT:RANG 0,360", "SOUR:PHAS2:CURR:RANG 5,50",
            "SOUR:PHAS3:VOLT:RANG 0,360", "SOUR:PHAS3:CURR:RANG 5,50",
            "SOUR:PHAS1:VOLT:MHAR:STAT 1", "SOUR:PHAS1:CURR:MHAR:STAT 1",
            "SOUR:PHAS1:VOLT:MHAR:CLE", "SOUR:PHAS1:CURR:MHAR:CLE",  # first point only: no stray harmonics
            "SOUR:PHAS2:VOLT:MHAR:STAT 1", "SOUR:PHAS2:CURR:MHAR:STAT 1",
            "SOUR:PHAS2:VOLT:MHAR:CLE", "SOUR:PHAS2:CURR:MHAR:CLE",
            "SOUR:PHAS3:VOLT:MHAR:STAT 1", "SOUR:PHAS3:CURR:MHAR:STAT 1",
            "SOUR:PHAS3:VOLT:MHAR:CLE", "SOUR:PHAS3:CURR:MHAR:CLE",
            "UNIT:MHAR:VOLT ABS", "UNIT:MHAR:CURR ABS",
            # leading-positive angles; a current's angle is against its own phase's voltage (lagging 60 -> -60)
            "SOUR:PHAS1:VOLT:MHAR:HARM1 277,0.0000", "SOUR:PHAS1:CURR:MHAR:HARM1 30,-60.0000",
            "SOUR:PHAS2:VOLT:MHAR:HARM1 277,-120.0000", "SOUR:PHAS2:CURR:MHAR:HARM1 30,-60.0000",
            "SOUR:PHAS3:VOLT:MHAR:HARM1 277,120.0000", "SOUR:PHAS3:CURR:MHAR:HARM1 30,-60.0000",
            "SOUR:PHAS1:VOLT:STAT 1", "SOUR:PHAS1:CURR:STAT 1",
            "SOUR:PHAS2:VOLT:STAT 1", "SOUR:PHAS2:CURR:STAT 1",
            "SOUR:PHAS3:VOLT:STAT 1", "SOUR:PHAS3:CURR:STAT 1",
            "SOUR:FREQ 60",
            "SYST:ERR?",
        ]  # fmt: skip
        mark = len(sim.log)
        bench.source.apply({"A": PhaseSetting(120.0, 0.0, 2.5, 0.0)}, 50.0)  # a smaller point, one phase
        second = sent_since(sim, mark)
        assert second[:2] == ["SOUR:PHAS1:VOLT:RANG 0,180", "SOUR:PHAS1:CURR:RANG 0.5,5"]
        assert "SOUR:PHAS1:VOLT:MHAR:CLE" not in second and "SOUR:PHAS2:VOLT:STAT 0" in second
        physics = bench.simulator.physics
        assert physics.phases["A"].current_a == 2.5 and not physics.phases["B"].voltage_enabled


def test_reference_reads_the_settings_back_and_zero_while_off():
    with open_fluke() as bench:
        bench.source.apply(FL_16S, 60.0)
        off = bench.reference.read()
        assert off.watts == 0.0 and off.phases["A"].voltage_v == 0.0  # an off source puts out nothing
        bench.source.output_on()
        sim = sim_of(bench)
        mark = len(sim.log)
        r = bench.reference.read()
        assert sent_since(sim, mark)[:5] == [
            "OUTP:STAT?",
            "SOUR:PHAS1:VOLT:MHAR:HARM1?",
            "SOUR:PHAS1:CURR:MHAR:HARM1?",
            "SOUR:PHAS1:POW:WATT?",
            "SOUR:PHAS1:POW:VA?",
        ]
        assert sim.log[mark + 4].reply == "8.31E3"  # the manual's scientific format
        a = r.phases["A"]
        assert (a.voltage_v, a.current_a, a.current_lag_deg) == (277.0, 30.0, pytest.approx(60.0))
        assert r.phases["B"].current_lag_deg == pytest.approx(
            180.0
        )  # B voltage at 120 lag, current 60 behind it
        assert a.pf == pytest.approx(0.5) and a.vars > 0  # lagging = inductive = positive vars
        assert r.watts == pytest.approx(3 * 277 * 30 * 0.5) and r.frequency_hz == 60.0


def test_a_single_phase_point_switches_the_other_phases_off_and_reads_only_its_own():
    """A 2S point on a three-phase unit: phases 2 and 3 get their two STAT 0 and nothing else, the
    reference read asks phase 1 only, and a later point that uses phase 2 sets it whole before STAT 1."""
    with open_fluke() as bench:
        sim = sim_of(bench)
        bench.source.apply(FL_16S, 60.0)
        mark = len(sim.log)
        bench.source.apply({"A": PhaseSetting(240.0, 0.0, 30.0, 0.0)}, 60.0)
        sent = sent_since(sim, mark)
        assert [m for m in sent if m.startswith(("SOUR:PHAS2", "SOUR:PHAS3"))] == [
            "SOUR:PHAS2:VOLT:STAT 0", "SOUR:PHAS2:CURR:STAT 0",
            "SOUR:PHAS3:VOLT:STAT 0", "SOUR:PHAS3:CURR:STAT 0",
        ]  # fmt: skip
        bench.source.output_on()
        mark = len(sim.log)
        r = bench.reference.read()
        assert [m for m in sent_since(sim, mark) if m.startswith("SOUR:")] == [
            "SOUR:PHAS1:VOLT:MHAR:HARM1?", "SOUR:PHAS1:CURR:MHAR:HARM1?",
            "SOUR:PHAS1:POW:WATT?", "SOUR:PHAS1:POW:VA?",
        ]  # fmt: skip
        assert r.watts == pytest.approx(240.0 * 30.0) and r.phases["B"].voltage_v == 0.0
        assert bench.simulator.physics.reference_watts() == pytest.approx(r.watts, rel=1e-2)
        bench.source.output_off()
        mark = len(sim.log)
        bench.source.apply(
            {"A": PhaseSetting(240.0, 0.0, 30.0, 0.0), "B": PhaseSetting(240.0, 120.0, 5.0, 120.0)}, 60.0
        )
        b = [m for m in sent_since(sim, mark) if m.startswith("SOUR:PHAS2")]
        assert b[:2] == ["SOUR:PHAS2:VOLT:RANG 0,360", "SOUR:PHAS2:CURR:RANG 0.5,5"]
        assert "SOUR:PHAS2:VOLT:MHAR:HARM1 240,-120.0000" in b and b[-2:] == [
            "SOUR:PHAS2:VOLT:STAT 1", "SOUR:PHAS2:CURR:STAT 1",
        ]  # fmt: skip
        assert bench.simulator.physics.phases["B"].current_a == 5.0


def test_a_power_that_disagrees_with_the_angle_convention_is_not_trusted(monkeypatch):
    with open_fluke() as bench:
        bench.source.apply(FL_16S, 60.0)
        bench.source.output_on()
        sim = sim_of(bench)
        monkeypatch.setattr(
            sim, "_power", lambda s, p, q, apparent: "8.31E3"
        )  # unity PF, as if angles were absolute
        with pytest.raises(UnparseableReply, match="angle convention"):
            bench.reference.read()


@pytest.mark.refusals_ok
def test_simulator_refuses_like_the_unit_an_error_queued_and_no_reply():
    with open_fluke() as bench:
        sim = sim_of(bench)
        assert raw(sim, "FOO:BAR?") is None  # unknown header: silence (the client times out)
        assert raw(sim, "SYST:ERR?") == '-113,"Undefined header"'
        assert raw(sim, "SYST:ERR?") == '0,"No error"'
        assert raw(sim, "SOUR:PHAS1:VOLT:RANG 0,abc") is None
        assert raw(sim, "SYST:ERR?").startswith("-104,")
        assert raw(sim, "SOUR:PHAS4:VOLT:STAT 1") is None
        assert raw(sim, "SYST:ERR?").startswith("-114,")
        # amplitudes before the waveform and units are in place, then above the selected range
        assert raw(sim, "SOUR:PHAS1:VOLT:MHAR:HARM1 10,0") is None
        assert raw(sim, "SYST:ERR?") == '-221,"Settings conflict"'
        raw(sim, "SOUR:PHAS1:VOLT:MHAR:STAT 1")
        assert raw(sim, "SOUR:PHAS1:VOLT:MHAR:HARM1 10,0") is None  # UNIT:MHAR:VOLT not ABS yet
        assert raw(sim, "SYST:ERR?") == '-221,"Settings conflict"'
        raw(sim, "UNIT:MHAR:VOLT ABS")
        assert raw(sim, "SOUR:PHAS1:VOLT:MHAR:HARM1 240,0") is None  # the reset range holds 23 V
        assert raw(sim, "SYST:ERR?") == '-222,"Data out of range"'
        raw(sim, "SOUR:PHAS1:VOLT:RANG 0,360")
        assert raw(sim, "SOUR:PHAS1:VOLT:MHAR:HARM1 240,0") is None  # accepted now: a setting has no reply
        assert raw(sim, "SYST:ERR?") == '0,"No error"'
        assert raw(sim, "sour:phas1:volt:mhar:harmonic1? ampl") == "2.4E2"  # short/long forms, any case
        assert raw(sim, "SOUR:PHAS1:CURR:RANG 0,5") is None  # no current range starts at 0 A (FM 5-43)
        assert raw(sim, "SYST:ERR?").startswith("-222,")
        refused = [e.message for e in sim.refusals()]
        assert "FOO:BAR?" in refused and "SOUR:PHAS1:VOLT:MHAR:HARM1 240,0" in refused


@pytest.mark.refusals_ok
def test_mut_source_has_no_ch2_and_the_driver_option_allows_only_the_confirmed_inputs():
    with open_fluke() as bench:
        sim = sim_of(bench)
        assert raw(sim, "ENER:MUT:SOUR CH2") is None
        assert raw(sim, "SYST:ERR?") == '-224,"Illegal parameter value"'
        assert raw(sim, "ENER:MUT:SOUR CH3") is None
        raw(sim, "ENER:MUT:SOUR CH1TO2")
        assert raw(sim, "ENER:MUT:SOUR?") == "CH1TO2"
        assert raw(sim, "SYST:ERR?").startswith("-224,")  # the CH3 refusal; CH1TO2 was taken
        assert raw(sim, "SYST:ERR?") == '0,"No error"'
    with pytest.raises(InputError, match=r"options\.mut_input.*CH1, CH1TO2"):
        open_fluke(options={"mut_input": "CH2"})


@pytest.mark.refusals_ok
def test_output_on_needs_the_settings_in_place():
    with open_fluke() as bench:
        sim = sim_of(bench)
        raw(sim, "SOUR:PHAS1:VOLT:STAT 1")  # a channel on with no waveform selected
        assert raw(sim, "OUTP:STAT ON") is None
        assert raw(sim, "SYST:ERR?") == '-221,"Settings conflict"'
        assert raw(sim, "OUTP:STAT?") == "0" and not bench.simulator.physics.output_on


def test_ener_abor_drops_the_source_unless_maintain_voltage():
    with open_fluke() as bench:
        physics = bench.simulator.physics
        sim = sim_of(bench)
        bench.source.apply(FL_16S, 60.0)
        bench.source.output_on()
        assert raw(sim, "ENER:ABOR") is None and not physics.output_on  # like STBY / OUTP OFF (FM 5-58)
        bench.source.output_on()
        raw(sim, "ENER:ENER:MVOLT ON")
        raw(sim, "ENER:ABOR")
        assert (
            physics.output_on
            and physics.phases["A"].voltage_enabled
            and not physics.phases["A"].current_enabled
        )


def test_energy_path_without_opt_in_is_refused_before_anything_is_sent():
    with open_fluke(allow_unconfirmed=False) as bench:
        caps = bench.capabilities["calculators"]
        assert caps.energy_test is False and caps.pulse_count is False
        assert set(caps.unconfirmed) == set(ENERGY_UNCONFIRMED) and "ENER:TEST:STAR" in caps.unconfirmed
        sim = sim_of(bench)
        calc = bench.calculators[1]
        mark = len(sim.log)
        for call in (lambda: calc.configure(1.8, 12), calc.start, calc.poll, calc.result, calc.count_start,
                     calc.count_read, calc.stop):  # fmt: skip
            with pytest.raises(UnconfirmedCommand, match="allow_unconfirmed"):
                call()
        assert sent_since(sim, mark) == []  # not even the confirmed configuration commands
        assert bench.calculators[1].link.unconfirmed_sent == set()


def test_energy_path_with_opt_in_measures_position_1_and_stop_leaves_the_source_on():
    with open_fluke(allow_unconfirmed=True) as bench:
        assert bench.capabilities["calculators"].energy_test is True
        src, calc = bench.source, bench.calculators[1]
        src.apply(FL_16S, 60.0)
        src.output_on()
        sim = sim_of(bench)
        mark = len(sim.log)
        calc.configure(1.8, 12)
        assert sent_since(sim, mark) == [
            "ENER:MUT:CONS:UNIT WHPI", "ENER:MUT:CONS 1.8", "ENER:MUT:SOUR CH1",
            "ENER:OUTP:CONS:UNIT IPWH", "ENER:OUTP:CONS 100000", "ENER:REF:SOUR MAIN",
            "ENER:MUT:TEST:PSOU CH1", "ENER:MUT:TEST:PULS 12",
        ]  # fmt: skip
        mark = len(sim.log)
        calc.start()  # the error queue is read once, for the settings and the start together
        assert sent_since(sim, mark) == ["ENER:TEST:STAR", "SYST:ERR?"]
        wait_until(bench.clock, lambda: calc.poll()[0] == "finished", 60.0, 0.5, "gate")
        r = calc.result()
        error = 100.0 * r.meter_pulses * 1.8 / (r.ref_pulses * r.kr_wh) - 100.0
        assert r.meter_pulses == 12 and error == pytest.approx(0.25, abs=0.02)  # the curve's PF 0.5 error
        calc.count_start()
        bench.clock.sleep(60.0)
        assert calc.count_read()[0] > 0
        calc.stop()
        assert bench.simulator.physics.output_on  # stopping a gate is never ENER:ABOR
        assert {"ENER:TEST:STAR", "ENER:TEST:STOP"} <= calc.link.unconfirmed_sent
        mark = len(sim.log)
        calc.configure(1.8, 12)  # the next reading of the point: the unit still holds these settings
        assert sent_since(sim, mark) == []
        calc.configure(1.8, 6)
        assert "ENER:MUT:TEST:PULS 6" in sent_since(sim, mark)


def test_without_the_energy_option_no_energy_test_and_no_ener_abor():
    with open_fluke(allow_unconfirmed=True, options={"sim_energy_option": False}) as bench:
        sim = sim_of(bench)
        assert raw(sim, "*OPT?") == "0,1,0,1,0,1,0,0"
        assert bench.capabilities["calculators"].energy_test is False
        with pytest.raises(CommandRefused, match="energy timer/counter option is not fitted"):
            bench.calculators[1].configure(1.8, 12)
        mark = len(sim.log)
        bench.source.safe_state()
        assert sent_since(sim, mark) == ["OUTP:STAT OFF"]


def test_bad_range_choice_is_refused_before_sending():
    with open_fluke(options={"sim_current_option_a": 21.0}) as bench:
        sim = sim_of(bench)
        mark = len(sim.log)
        with pytest.raises(InputError, match=r"phases\.A\.current_a.*<= 21 A"):
            bench.source.apply(FL_16S, 60.0)
        with pytest.raises(InputError, match="frequency_hz"):
            bench.source.apply(settings("16S", 277.0, 2.0, 0.0, True), 1000.0)
        assert sent_since(sim, mark) == []


def test_safe_state_then_confirm_safe():
    with open_fluke(allow_unconfirmed=True) as bench:
        src = bench.source
        src.apply(FL_16S, 60.0)
        src.output_on()
        assert src.confirm_safe() == [
            f"{src.name}: the output still reads ON (OUTP:STAT? = 1) after switching off"
        ]
        sim = sim_of(bench)
        mark = len(sim.log)
        src.safe_state()
        assert sent_since(sim, mark) == ["OUTP:STAT OFF", "ENER:ABOR"]
        assert src.confirm_safe() == [] and not bench.simulator.physics.output_on


@pytest.mark.refusals_ok
def test_confirm_safe_reports_queued_errors_in_words():
    with open_fluke() as bench:
        sim = sim_of(bench)
        raw(sim, "NOT:A:COMMAND")
        (problem,) = bench.source.confirm_safe()
        assert "-113" in problem and "Undefined header" in problem


@pytest.mark.refusals_ok
def test_over_a_real_socket_lf_frames_a_message_and_cr_does_not():
    with open_fluke() as bench:
        device = bench.simulator.devices["source"]
        with EmulatorServer(device, lifetime_s=20) as server:
            rm = pyvisa.ResourceManager("@py")
            try:
                lf = rm.open_resource(server.tcp_resource, read_termination="\n", write_termination="\n",
                                      timeout=1000)  # fmt: skip
                assert lf.query("*IDN?").startswith("FLUKE,6105A,")
                assert lf.query("*OPT?") == "4,1,0,1,0,1,0,0"
                cr = rm.open_resource(server.tcp_resource, read_termination="\r", write_termination="\r",
                                      timeout=300)  # fmt: skip
                t0 = time.monotonic()
                with pytest.raises(pyvisa.errors.VisaIOError):
                    cr.query("*IDN?")  # the unit waits for NL: no message, no reply
                assert time.monotonic() - t0 < 1.0
            finally:
                rm.close()


def test_every_command_is_marked_and_the_energy_test_commands_are_unconfirmed():
    assert {prov for _, prov in COMMANDS.values()} <= {"C", "U"}
    for name in ("test_start", "test_status?", "test_result?", "count_start", "count?", "test_stop"):
        assert COMMANDS[name][1] == "U"
    assert COMMANDS["abort"][1] == "C" and not any(t.startswith("MEAS") for t, _ in COMMANDS.values())


EXAMPLE_16S = Path(__file__).resolve().parents[1] / "examples" / "16s-fluke6105a.toml"


def _run_16s(tmp_path, bench_text: str):
    from bench.kernel import KernelSettings as EngineSettings
    from bench.kernel import RunKernel as Engine
    from bench.records import RecordStore
    from bench.session import meters_from_bench
    from procedures.plans import load_plan

    path = tmp_path / "16s.toml"
    path.write_text(bench_text)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        with open_bench(path, speed=0) as bench:
            engine = Engine(bench, store, load_plan("ansi-c12.20-16s"), meters_from_bench(bench.config),
                            operator="test", settings=EngineSettings())  # fmt: skip
            out = engine.run()
            return out, bench.simulator.physics.output_on, bench.source.link.unconfirmed_sent
    finally:
        store.close()


def test_the_simulated_16s_example_runs_a_c12_20_plan_through_the_opted_in_energy_test(tmp_path):
    out, on, unconfirmed = _run_16s(tmp_path, EXAMPLE_16S.read_text())
    assert out.outcome == "passed", out.message
    assert not on and {"ENER:TEST:STAR", "ENER:TEST:RES?"} <= unconfirmed


def test_the_16s_example_without_the_opt_in_is_refused_before_anything_is_energised(tmp_path):
    """The kernel checks the bench's declared capabilities when the run is prepared: a 6105A without the
    opt-in cannot gate, so the plan is refused naming the point and what is missing, nothing sent."""
    from procedures.errors import InputError

    text = EXAMPLE_16S.read_text().replace("allow_unconfirmed = true", "allow_unconfirmed = false")
    with pytest.raises(InputError, match="cannot run this .* point"):
        _run_16s(tmp_path, text)
