"""Ctrl-C (SIGINT) or SIGTERM at any moment of `meterbench run`, start-up included, leaves the bench
de-energised and exits with the interrupted outcome (exit 130); an instrument that never replies does not keep
the process alive against SIGTERM (issue 12, "Signals").

Each moment is a real signal sent to a real process running the CLI's main: forked from this test process,
which arranges (by wrapping one function in the child) that the process signals itself at exactly that
moment; the stalled instrument is a fresh `python -m bench.cli` stopped from outside.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import EXIT_INTERRUPTED, main

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "examples" / "2s-board.toml"


def _argv(db: Path, *extra: str) -> list[str]:
    return ["run", "--bench", str(BENCH), "--plan", "ansi-c12.20-2s", "--db", str(db), "--no-certificates",
            "--speed", "0", *extra]  # fmt: skip


def _in_child(argv: list[str], arrange, out: Path) -> dict:
    """Run ``meterbench ARGV`` in a forked child after ``arrange(state)`` wrapped what it wraps; the child
    reports its exit code, whether the source was ever switched on and whether it is on at the end."""
    pid = os.fork()
    if pid == 0:
        report = {"rc": 70}
        try:
            fd = os.open(out.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's whole life
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            from instruments import bench as bench_module
            from instruments.sim import physics

            state: dict = {"energised": 0}
            real_open = bench_module.open_bench

            def open_bench(*a, **kw):
                state["bench"] = b = real_open(*a, **kw)
                return b

            real_set_output = physics.BenchPhysics.set_output

            def set_output(self, on):
                state["energised"] += bool(on)
                real_set_output(self, on)

            bench_module.open_bench = open_bench
            physics.BenchPhysics.set_output = set_output
            arrange(state)
            report["rc"] = main(argv)
            b = state.get("bench")
            report["energised"] = state["energised"]
            report["on_at_end"] = None if b is None else bool(b.simulator.physics.output_on)
        except BaseException as exc:  # noqa: BLE001 - the child never returns into pytest
            report["exception"] = repr(exc)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            out.write_text(json.dumps(report))
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module", autouse=True)
def _imported(tmp_path_factory):
    """One run here first: every module a run uses is imported before the children are forked."""
    import contextlib
    import io

    db = tmp_path_factory.mktemp("warm") / "records.sqlite"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(_argv(db))


def _me(sig):
    os.kill(os.getpid(), sig)


def _run_status(db: Path) -> str | None:
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT status FROM runs").fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return rows[0][0] if rows else None


def before_instruments_open(sig):
    def arrange(state):
        from bench import session

        real = session.prepare

        def prepare(req):
            prep = real(req)
            _me(sig)  # the request is checked, nothing is open yet
            return prep

        session.prepare = prepare
        import bench.service

        bench.service.prepare = prepare

    return arrange


def while_instruments_open(sig):
    def arrange(state):
        from instruments import bench as bench_module

        real = bench_module._merged_options
        calls = []

        def merged(*a, **kw):
            calls.append(1)
            if len(calls) == 2:  # the source (and reference) are open, the calculators not yet
                _me(sig)
            return real(*a, **kw)

        bench_module._merged_options = merged

    return arrange


def while_the_kernel_makes_the_bench_safe_at_start(sig):
    """The Ctrl-C that used to be swallowed: it came while the run first put the bench in its safe state."""

    def arrange(state):
        from instruments.interfaces import Bench

        real = Bench.safe_state
        calls = []

        def safe_state(self):
            calls.append(1)
            if len(calls) == 1:  # the kernel's first act: the bench to its safe state
                _me(sig)
            return real(self)

        Bench.safe_state = safe_state

    return arrange


def during_warm_up(sig):
    def arrange(state):
        from bench.kernel.kernel import RunKernel
        from bench.kernel.states import RunState

        real = RunKernel.energise

        def energise(self, *a, **kw):
            real(self, *a, **kw)
            if self.machine.state is RunState.WARM_UP:
                _me(sig)  # energised, warming up

        RunKernel.energise = energise

    return arrange


def mid_gate(sig):
    def arrange(state):
        from bench.kernel.gates import GateRunner

        real = GateRunner._series

        def series(self, *a, **kw):
            _me(sig)  # a gate series is starting: the board is energised at the point's load
            yield from real(self, *a, **kw)

        GateRunner._series = series

    return arrange


MOMENTS = {
    "before instruments open": (before_instruments_open, False),
    "while instruments open": (while_instruments_open, False),
    "while the bench is made safe at start": (while_the_kernel_makes_the_bench_safe_at_start, True),
    "during warm-up": (during_warm_up, True),
    "mid-gate": (mid_gate, True),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_signal_at_any_moment_de_energises_and_exits_interrupted(moment, sig, tmp_path):
    arrange, run_recorded = MOMENTS[moment]
    db = tmp_path / "records.sqlite"
    report = _in_child(_argv(db, "--warmup", "60"), arrange(sig), tmp_path / "report.json")
    assert report.get("exception") is None, report
    log = (tmp_path / "report.log").read_text()
    assert report["rc"] == EXIT_INTERRUPTED, log
    assert "interrupted" in log
    assert report["on_at_end"] in (None, False), "the source was left on"
    if moment in (
        "before instruments open",
        "while instruments open",
        "while the bench is made safe at start",
    ):
        assert report["energised"] == 0, "a stop during start-up went on to energise"
    else:
        assert report["energised"] >= 1
    if run_recorded:  # the run is shown interrupted at once, with nothing to recover
        assert _run_status(db) == "interrupted"
    else:
        assert _run_status(db) is None


def _stalling_bench(tmp_path: Path) -> Path:
    """The 2S board whose error calculators stop replying once a gate series is under way (and to
    everything after it), with a 10-minute read timeout: the engine stalls on a read."""
    text = BENCH.read_text() + (
        "\n[instruments.calculators.transport]\ntimeout_ms = 600000\n"
        '\n[[simulation.fault]]\ninstrument = "calculators"\nkind = "slow_reply"\n'
        'command = "POS1:RES:ALL?"\ndelay_s = 86400\n'
    )
    path = tmp_path / "stalling.toml"
    path.write_text(text)
    return path


@pytest.mark.refusals_ok
def test_sigterm_ends_a_run_stalled_on_an_instrument_that_never_replies(tmp_path):
    db = tmp_path / "records.sqlite"
    bench = _stalling_bench(tmp_path)
    env = {**os.environ, "MB_STOP_GRACE_S": "3"}
    argv = [sys.executable, "-m", "bench.cli", "run", "--bench", str(bench), "--plan", "ansi-c12.20-2s",
            "--db", str(db), "--no-certificates", "--speed", "0"]  # fmt: skip
    log = tmp_path / "run.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=fh, stderr=fh, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:  # until the LL gates are under way
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if db.exists() else None
            try:
                n = (
                    con.execute("SELECT count(*) FROM points WHERE point_id = 'LL'").fetchone()[0]
                    if con
                    else 0
                )
            except sqlite3.OperationalError:
                n = 0
            finally:
                if con:
                    con.close()
            if n:
                break
            time.sleep(0.05)
        time.sleep(1.0)  # stalled on the read by now
        assert proc.poll() is None, "the run did not stall: " + log.read_text()[-2000:]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == EXIT_INTERRUPTED, log.read_text()[-2000:]
    assert took < 15, f"SIGTERM took {took:.1f} s"
    # the run is interrupted in the records (marked by the process, or recovered when looked at)
    from bench.records import RecordStore

    with RecordStore.open(str(db), create=False) as store:
        store.recover_interrupted()
        assert store.run_record(1)["run"]["status"] == "interrupted"


def test_a_stop_that_cannot_finish_exits_after_its_grace_period(tmp_path):
    """De-energising that hangs (the instrument it talks to never answers) still ends the process, saying
    that the safe state was not confirmed."""
    log = tmp_path / "child.log"
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 2)
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            os.environ["MB_STOP_GRACE_S"] = "1"
            from bench.safety import sigterm_as_interrupt

            with sigterm_as_interrupt():
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(30)
                except KeyboardInterrupt:
                    time.sleep(30)  # a de-energise stuck on a mute instrument
        finally:
            os._exit(0)
    t0 = time.monotonic()
    _, status = os.waitpid(pid, 0)
    took = time.monotonic() - t0
    assert os.waitstatus_to_exitcode(status) == EXIT_INTERRUPTED
    assert took < 10
    text = log.read_text()
    assert "stopping took more than 1 s" in text and "emergency stop" in text
