"""kill -9 at spread moments of a run, then `meterbench resume`: the resumed run ends exactly as the same run
uninterrupted (issue 12, "Done when").

Two runs: the 2S board, whose position 3 fails its starting test (the plan's second point, an early
failure), and the 9S board, whose position 2 is stopped by its wiring check (CT on B reversed) and whose
position 3 gives no pulses at its first accuracy point. Each is run once uninterrupted, then killed with
SIGKILL at 20 moments spread over its record (chosen by polling the records' audit sequence, not by sleeping)
and resumed. After every kill: the dead run shows as interrupted with its `meterbench resume N` command in
`runs` and in `runs show N`, and `audit verify` says intact. After every resume: the same exit code, the same
run outcome, position outcomes and messages, point verdicts, wiring findings, creep/starting/average verdicts
as the uninterrupted run; every reading taken before the kill is still there; every result recorded before
the kill is still the result (only points the kill cut short are measured again); a stopped position gets no
new point.

The run is a real process running `meterbench run` (the CLI's main): forked from this already-imported test
process to keep the file's wall time low (a forked child pauses 2 ms after each commit, so a kill can land
between any two commits of a virtual-time run), and once with a fresh `python -m bench.cli`.
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

from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEED = "0"  # virtual time: the run goes as fast as the CPU; each commit is followed by a pause (below)
MOMENTS = 20
LANES = 2  # runs killed side by side (each in its own database): the file's wall time about halves
SCENARIOS = {
    "early-failure": ("examples/2s-board.toml", "ansi-c12.20-2s"),
    "wiring-stop": ("examples/9s-reversed-ct.toml", "ansi-c12.20-9s"),
}


def _run_argv(bench: str, plan: str, db: Path, out: Path) -> list[str]:
    return ["run", "--bench", str(ROOT / bench), "--plan", plan, "--db", str(db), "--json", str(out)]


def _resume_argv(run_id: int, db: Path, out: Path) -> list[str]:
    return ["resume", str(run_id), "--db", str(db), "--json", str(out)]


COMMON = ["--no-certificates", "--speed", SPEED]


def _fork(argv: list[str], log: Path) -> int:
    """`meterbench ARGV` in a child process (stdout and stderr to ``log``); its pid."""
    pid = os.fork()
    if pid:
        return pid
    rc = 70
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's whole life
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        from bench.records import audit

        anchor = audit.write_anchor  # called once after every commit

        def slow_anchor(*a, **kw):  # a moment between two commits lasts long enough to be hit
            anchor(*a, **kw)
            time.sleep(0.002)

        audit.write_anchor = slow_anchor
        rc = main(argv + COMMON)
        sys.stdout.flush()
        sys.stderr.flush()
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 70
    except BaseException:  # noqa: BLE001 - the child must never return into pytest
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(rc)


def _spawn(argv: list[str], log: Path) -> int:
    """The same, as a fresh interpreter (`python -m bench.cli`): the CLI exactly as a technician starts it."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.cli", *argv, *COMMON], cwd=ROOT, stdout=fh, stderr=fh
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


_CHILDREN: dict[int, subprocess.Popen] = {}


def _wait(pid: int, timeout: float = 60.0) -> int | None:
    """The child's exit code (negative: killed by that signal), or None if it is still running."""
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _CHILDREN[pid] = proc
            return None
    end = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > end:
            return None
        time.sleep(0.002)


def _exited(pid: int) -> int | None:
    proc = _CHILDREN.get(pid)
    if proc is not None:
        rc = proc.poll()
        if rc is not None:
            _CHILDREN.pop(pid)
        return rc
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


def _q(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        con.close()


def _seq(db: Path) -> int:
    rows = _q(db, "SELECT max(seq) FROM audit_log")
    return (rows[0][0] or 0) if rows else 0


def _snapshot(db: Path) -> tuple[set, dict]:
    """Every reading, and every point recorded as finished with its verdict, at this moment."""
    readings = set(_q(db, "SELECT id, point_id, idx, meter_pulses, ref_pulses FROM readings"))
    finished = dict(
        (pid, (status, verdict))
        for pid, status, verdict in _q(
            db,
            "SELECT p.id, p.status, r.verdict FROM points p LEFT JOIN results r ON r.point_id = p.id "
            "WHERE p.status IN ('done', 'failed', 'skipped')",
        )
    )
    return readings, finished


def _outcomes(run_json: dict) -> dict:
    """What a run's outcome is, in its run JSON: everything but measured values, times and ids."""
    return {
        "outcome": run_json["run"]["outcome"],
        "positions": [(p["position"], p["outcome"], p["message"]) for p in run_json["positions"]],
        "points": sorted(
            (p["position"], p["point_id"], p["test_pass"], p.get("status"), p.get("verdict"))
            for p in run_json["points"]
        ),
        "wiring": sorted(
            (
                str(w["position"]),
                w["rotation"],
                json.dumps(w["findings"], sort_keys=True),
                w["override_reason"],
            )
            for w in run_json["wiring"]
        ),
        "creep": sorted((c["position"], c["verdict"]) for c in run_json["creep"]),
        "starting": sorted((c["position"], c["verdict"]) for c in run_json["starting"]),
        "averages": sorted(
            (a["position"], a["test_pass"], a["rule"], a["verdict"]) for a in run_json["averages"]
        ),
        "register": len(run_json["register"]),
        "retests": run_json["retests"],
    }


def _readings_per_point(db: Path) -> dict:
    """Readings of each current (not superseded) point, by (position, point, pass)."""
    rows = _q(
        db,
        "SELECT p.position, p.point_id, p.test_pass, count(r.id) FROM points p "
        "LEFT JOIN readings r ON r.point_id = p.id WHERE p.status != 'interrupted' "
        "GROUP BY p.id",
    )
    return {(a, b, c): n for a, b, c, n in rows}


def _cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().out


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_kill_9_at_twenty_moments_then_resume_ends_as_the_uninterrupted_run(scenario, tmp_path, capsys):
    bench, plan = SCENARIOS[scenario]
    base_db, base_json = tmp_path / "base.sqlite", tmp_path / "base.json"
    # uninterrupted, in this process: what every resume must end with (and every module the children use
    # is imported once, here, before they are forked)
    rc0, shown = _cli(capsys, *_run_argv(bench, plan, base_db, base_json), *COMMON)
    assert rc0 == 1, shown  # a failed meter: exit 1
    expected = _outcomes(json.loads(base_json.read_text()))
    assert expected["outcome"] == "failed"
    counts0 = _readings_per_point(base_db)
    # the run's record from its first row (the run itself) to its last result: 20 moments spread over it
    first = _q(base_db, "SELECT min(seq) FROM audit_log WHERE table_name = 'runs'")[0][0]
    last = _q(base_db, "SELECT max(seq) FROM audit_log WHERE table_name = 'run_positions'")[0][0]
    targets = [first + round(i * (last - first) / (MOMENTS - 1)) for i in range(MOMENTS)]
    landed = []
    moments = list(enumerate(targets))
    for lane in (moments[k : k + LANES] for k in range(0, MOMENTS, LANES)):
        # LANES runs at a time, each in its own database: each is killed at its own moment
        runs = {}
        for i, target in lane:
            db, out, log = tmp_path / f"k{i}.sqlite", tmp_path / f"k{i}.json", tmp_path / f"k{i}.log"
            start = _spawn if (scenario, i) == ("early-failure", MOMENTS // 2) else _fork
            runs[i] = (target, db, out, log, start, start(_run_argv(bench, plan, db, out), log))
        waiting, deadline = set(runs), time.monotonic() + 60
        while waiting and time.monotonic() < deadline:
            for i in sorted(waiting):
                target, db, _, log, _, pid = runs[i]
                if _seq(db) >= target:
                    os.kill(pid, signal.SIGKILL)
                    assert _wait(pid) == -signal.SIGKILL
                    waiting.discard(i)
                else:
                    assert _exited(pid) is None, (
                        f"moment {i}: the run ended before seq {target}: {log.read_text()}"
                    )
            time.sleep(0.0005)
        assert not waiting, f"moments {waiting} never reached"
        seen = {}
        for i, (target, db, *_) in runs.items():
            seq = _seq(db)
            landed.append(seq)
            run_id = _q(db, "SELECT id FROM runs")[0][0]
            where = f"moment {i} (killed at audit seq {seq}, target {target})"
            seen[i] = (where, run_id, *_snapshot(db))
            # the dead run is shown interrupted, with its resume command, as soon as anyone looks
            rc, shown = _cli(capsys, "runs", "--db", str(db))
            assert rc == 0 and "interrupted" in shown and f"meterbench resume {run_id}" in shown, where
            rc, shown = _cli(capsys, "runs", "show", str(run_id), "--db", str(db))
            assert rc == 0 and "(interrupted)" in shown and f"meterbench resume {run_id}" in shown, where
            rc, shown = _cli(capsys, "audit", "verify", "--db", str(db))
            assert rc == 0, f"{where}: {shown}"
        resumed = {
            i: start(_resume_argv(seen[i][1], db, out), tmp_path / f"r{i}.log")
            for i, (_, db, out, _, start, _) in runs.items()
        }
        for i, (_, db, out, _, _, _) in runs.items():
            where, _, readings, finished = seen[i]
            rc = _wait(resumed[i])
            assert rc == rc0, f"{where}: {(tmp_path / f'r{i}.log').read_text()}"
            assert _outcomes(json.loads(out.read_text())) == expected, where
            rc, shown = _cli(capsys, "audit", "verify", "--db", str(db))
            assert rc == 0, f"{where}: {shown}"
            after_readings, after = _snapshot(db)
            assert readings <= after_readings, f"{where}: readings lost"
            assert {p: after.get(p) for p in finished} == finished, f"{where}: a recorded result changed"
            twice = (
                "SELECT position, point_id FROM points WHERE status != 'interrupted' GROUP BY 1, 2, test_pass"
            )
            assert _q(db, twice + " HAVING count(*) > 1") == [], f"{where}: a finished point measured again"
            # only points the kill cut short were measured again; every point has its full set of readings,
            # and a stopped position got no new point
            assert _readings_per_point(db) == counts0, where
    print(f"{scenario}: {MOMENTS} kills at audit seq {landed} (of {last})")
    assert len(set(landed)) >= MOMENTS * 2 // 3, f"kill moments not spread: {landed}"
