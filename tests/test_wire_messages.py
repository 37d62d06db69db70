"""Messages on the wire (issue #14): the calculators' error queue is read once after a point's settings,
not after every write, yet a refused setting is still named before any gate is waited on; a creep window
is read once, at its end; a starting test reads at the rate its meters can pulse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_sim_accuracy import meter
from test_sim_faults import open_fast, running

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from instruments.errors import CommandRefused
from procedures.plans import load_plan

ROOT = Path(__file__).resolve().parents[1]


def test_a_refused_calculator_setting_is_named_before_any_result_is_read():
    with open_fast([meter(1, "2S", 240.0, "CL200", 7.2)], three_phase=False, calc="sim_counter") as bench:
        running(bench)
        bench.simulator.inject("calculators", "refused", command="POS1:CONF")
        calc = bench.calculators[1]
        calc.configure(0.6, 2)
        calc.start_series(3)
        with pytest.raises(CommandRefused, match="POS1:CONF 0.6,2"):
            calc.results()  # the settings' error queue is read before a result is believed


def _run(tmp_path: Path, example: str, plan_id: str):
    text = re.sub(
        r"(?m)^(wiring|dead|missed_pulse_fraction)\s*=.*$", "", (ROOT / "examples" / example).read_text()
    )
    path = tmp_path / example
    path.write_text(text)
    bench = open_bench(path, speed=0)
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        eng = RunKernel(
            bench, store, load_plan(plan_id), meters_from_bench(bench.config), settings=KernelSettings()
        )
        out = eng.run()
        return out, list(bench.simulator.devices["calculators"].log), len(bench.calculators), eng.resolved
    finally:
        bench.close()
        store.close()


def test_a_board_pass_reads_the_error_queue_per_point_and_counts_at_the_rate_needed(tmp_path):
    out, sent, positions, plan = _run(tmp_path, "2s-board.toml", "ansi-c12.20-2s")
    assert out.outcome in ("passed", "failed")  # the board ran to its end (a meter may fail its test)
    settings = [c for c in sent if re.match(r"POS\d+:(CONF|GATE:SER|GATE START|COUN START)", c)]
    checks = [c for c in sent if c.startswith("SYST:ERR?")]
    assert settings and len(checks) <= len(plan.points) + 2  # once per point's settings, not per write
    # the count tests in plan order: creep, then starting (each opened by COUN START on every position)
    starts = [i for i, c in enumerate(sent) if c.endswith(":COUN START")]
    creep_log, starting_log = sent[starts[0] : starts[positions]], sent[starts[positions] :]
    starting = next(p for p in plan.points if p.kind == "starting")
    reads = [len([c for c in log if re.fullmatch(r"POS\d+:COUN\?", c)]) for log in (creep_log, starting_log)]
    assert reads[0] == positions  # a creep window is read once per position, at its end (was every 60 s)
    # starting at 12 W with Kt 0.6 Wh: a 180 s pulse period; no correct meter shows 2 pulses before one
    # period, so the first read waits 0.8 of it, then reads every 15 s (an eighth of a period, at most 15 s)
    period = 180.0
    assert reads[1] <= positions * (2 + (starting.duration_s - 0.8 * period) / 15.0), reads
    assert reads[1] < positions * starting.duration_s / 15.0


def test_a_refused_energy_test_setting_is_named_at_the_start_and_sent_again_next_time():
    from test_fluke_protocol import FL_16S, open_fluke, sent_since, sim_of

    with open_fluke(allow_unconfirmed=True) as bench:
        src, calc = bench.source, bench.calculators[1]
        src.apply(FL_16S, 60.0)
        src.output_on()
        sim = sim_of(bench)
        bench.simulator.inject("calculators", "refused", command="ENER:MUT:TEST:PULS")
        calc.configure(1.8, 12)
        with pytest.raises(CommandRefused, match="ENER:MUT:TEST:PULS 12"):
            calc.start()
        mark = len(sim.log)
        calc.configure(1.8, 12)  # not taken for granted after a refusal: the whole setup again
        assert "ENER:MUT:CONS 1.8" in sent_since(sim, mark)
