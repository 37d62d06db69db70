"""A bench without [simulation], as a shop connects one: served simulated instruments over real sockets,
and the failures a real bench has (no port, no GPIB driver, refused connection) as one line and exit 3."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from instruments.benchfile import load_bench_config
from instruments.clock import VirtualClock
from instruments.sim.serve import serve_bench

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _served_file(tmp_path, served) -> Path:
    path = tmp_path / "served.toml"
    path.write_text(served.bench_toml(), encoding="utf-8")
    return path


def test_served_bench_file_has_no_simulation_table_and_loads(tmp_path):
    config = load_bench_config(EXAMPLES / "2s-fluke-mad.toml")
    with serve_bench(config, VirtualClock(), lifetime_s=30) as served:
        path = _served_file(tmp_path, served)
        real = load_bench_config(path)
        assert real.simulation is None
        assert all("127.0.0.1" in c.resource for cs in real.instruments.values() for c in cs)
        assert real.calibration == config.calibration
        manifest = served.manifest_csv().splitlines()
        assert manifest[0].startswith("position,serial,form")
        assert len(manifest) == 1 + len(config.simulation.meters)


@pytest.mark.parametrize(
    "resource, words",
    [
        ("ASRL/dev/ttyMB-absent::INSTR", "serial adapter"),
        ("TCPIP::127.0.0.1::1::SOCKET", "refused"),
    ],
)
def test_real_bench_failures_are_one_line_and_exit_3(tmp_path, capsys, resource, words):
    config = load_bench_config(EXAMPLES / "2s-fluke-mad.toml")
    with serve_bench(config, VirtualClock(), lifetime_s=30) as served:
        text = served.bench_toml()
    source = re.search(r'resource = "(TCPIP::127\.0\.0\.1::\d+::SOCKET)"', text)[1]
    text = text.replace(source, resource)  # the source (and reference) instrument is the one that fails
    path = tmp_path / "bench.toml"
    path.write_text(text, encoding="utf-8")
    code = main(["bench", "check", str(path)])
    out, err = capsys.readouterr()
    assert code == 3
    assert "Traceback" not in out + err
    assert words in (out + err).lower() or words in out + err


def test_simulate_serve_then_bench_check_from_another_process(tmp_path):
    """The shop's way: one process serves the simulated bench, another checks it through pyvisa-py."""
    bench_out, manifest_out = tmp_path / "served.toml", tmp_path / "meters.csv"
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "simulate", str(EXAMPLES / "2s-fluke-mad.toml"), "--serve",
         "--write-bench", str(bench_out), "--write-manifest", str(manifest_out), "--for", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (bench_out.exists() and manifest_out.exists()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bench_out.exists(), "simulate --serve wrote no bench file"
        check = subprocess.run(
            [sys.executable, "-m", "bench.cli", "bench", "check", str(bench_out)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        assert "127.0.0.1" in check.stdout and "ERROR" not in check.stdout
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert "Serving" in out and "SOCKET" in out


def test_simulate_refuses_a_bench_without_simulation(tmp_path, capsys):
    config = load_bench_config(EXAMPLES / "2s-fluke-mad.toml")
    with serve_bench(config, VirtualClock(), lifetime_s=30) as served:
        path = _served_file(tmp_path, served)
    assert main(["simulate", str(path), "--serve", "--for", "1"]) == 2
    assert "simulation" in capsys.readouterr().err


def run_over_sockets(tmp_path, example: Path, plan: str):
    """A whole plan on a served simulated bench, through a bench file without [simulation] and pyvisa-py
    TCP sockets; the served physics and the engine share one virtual clock so it takes seconds."""
    from bench.kernel import RunKernel as Engine
    from bench.meters import load_manifest
    from bench.records import RecordStore
    from instruments.bench import open_bench
    from procedures.plans import load_plan

    clock = VirtualClock()
    config = load_bench_config(example)
    served = serve_bench(config, clock, lifetime_s=600)
    path = _served_file(tmp_path, served)
    manifest = tmp_path / "meters.csv"
    manifest.write_text(served.manifest_csv(), encoding="utf-8")
    store = RecordStore.open(f"sqlite:///{tmp_path / 'records.sqlite'}")
    try:
        bench = open_bench(path, clock=clock)
        assert bench.simulator is None  # nothing tells the drivers this is not a real bench
        try:
            engine = Engine(bench, store, load_plan(plan), load_manifest(manifest), operator="CI")
            outcome = engine.run()
        finally:
            bench.close()
        record = store.run_record(outcome.run_id)
    finally:
        store.close()
        served.stop()
    refused = [
        (i.driver, e.message, e.why)
        for i in served.instruments
        for e in getattr(getattr(i.device, "instrument", None), "log", [])
        if not e.accepted and not e.injected
    ]
    return outcome, record, refused


@pytest.mark.parametrize(
    "example, plan, expected",
    [
        # MT7xx source with a COM5003 reference and calculator on one position: every point passes
        ("16s-mt7xx-com5003.toml", "ansi-c12.20-16s", "passed"),
        # Fluke 6105A source and reference, a MAD server per position: socket 3's meter does not start
        ("2s-fluke-mad.toml", "ansi-c12.20-2s", "failed"),
    ],
)
def test_a_whole_c1220_run_over_real_sockets(tmp_path, example, plan, expected):
    outcome, record, refused = run_over_sockets(tmp_path, EXAMPLES / example, plan)
    assert refused == [], refused  # no served instrument refused anything the drivers sent
    assert outcome.outcome == expected
    import json

    from bench.runjson import write_run_json

    write_run_json(record, tmp_path / "run.json")
    doc = json.loads((tmp_path / "run.json").read_text())
    accuracy = [p for p in doc["points"] if p["error_percent"] is not None]
    assert accuracy and all(p["expanded_uncertainty_percent"] > 0 for p in accuracy)
    assert doc["creep"] and doc["starting"]  # the whole plan ran, creep and starting included


def test_the_unconfirmed_commands_a_bench_sent_are_known_to_the_run():
    """A run that used [U] commands can record and state them: the bench says which were sent."""
    from instruments.bench import open_bench

    with open_bench(EXAMPLES / "2s-fluke-mad.toml") as bench:
        assert bench.unconfirmed_used() == []
        from instruments.interfaces import PhaseSetting

        bench.source.apply({"A": PhaseSetting(240.0, 0.0, 0.05, 0.0)}, 60.0)
        bench.source.output_on()
        bench.calculators[1].count_start()  # the MAD pulse count is [U], opted in by this example
        bench.calculators[1].stop()
        bench.source.output_off()
        used = bench.unconfirmed_used()
    assert len(used) == 1 and "pulse count" in used[0] and "zera_mad" in used[0]


def test_a_run_that_used_unconfirmed_commands_records_them_and_its_certificate_says_so(tmp_path):
    import json

    import pdfplumber

    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = tmp_path / "run.json"
    code = main(["run", "--bench", str(EXAMPLES / "16s-fluke6105a.toml"), "--plan", "ansi-c12.20-16s",
                 "--db", db, "--json", str(out), "--certificates", str(tmp_path / "certs")])  # fmt: skip
    assert code == 0
    used = json.loads(out.read_text())["run"]["unconfirmed_commands"]
    assert any("ENER:TEST:STAR" in u for u in used) and all("fluke6100" in u for u in used)
    pdf = next((tmp_path / "certs").glob("*.pdf"))
    with pdfplumber.open(pdf) as doc:
        text = " ".join(" ".join((page.extract_text() or "") for page in doc.pages).split())
    assert "not confirmed by any public documentation" in text and "ENER:TEST:STAR" in text


def test_simulate_for_says_when_it_stops_serving(capsys):
    assert (
        main(["simulate", str(EXAMPLES / "2s-board.toml"), "--serve", "--for", "0.3", "--port-base", "47320"])
        == 0
    )
    out = capsys.readouterr().out
    assert "Serving 2S board" in out
    assert out.strip().splitlines()[-1].startswith("Stopped after --for 0.3 s")


def test_serving_faster_than_real_time_warns_that_timed_tests_will_see_more_time(capsys):
    assert main(["simulate", str(EXAMPLES / "2s-board.toml"), "--serve", "--speed", "50", "--for", "0.2",
                 "--port-base", "47340"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Warning: the served instruments live 50 x real time" in out and "--speed 1" in out
