"""An interrupted run as the technician reads it: the log says "interrupted" once and "resumed" when it is
resumed, `runs show` says where it stopped (not that the meter "failed"), and `runs` prints its table at 80
columns whether the listed runs are finished or interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import EXIT_INTERRUPTED, main
from bench.progress import ProgressView

ROOT = Path(__file__).resolve().parents[1]
BENCH = str(ROOT / "examples" / "2s-board.toml")
RUN = ["run", "--bench", BENCH, "--plan", "ansi-c12.20-2s", "--no-certificates", "--operator", "Test Person"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """Run 1: a Ctrl-C during the starting-load window; run 2: a finished run. Returns the db and the log."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    db = f"sqlite:///{tmp_path_factory.mktemp('int') / 'r.sqlite'}"
    plain = ProgressView.__call__

    def ctrl_c(self, ev):
        plain(self, ev)
        if ev.kind == "waiting" and "start" in str(ev.data.get("what")):
            raise KeyboardInterrupt

    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "80")
    mp.setattr(ProgressView, "__call__", ctrl_c)
    out = io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            code = main([*RUN, "--db", db])
        mp.setattr(ProgressView, "__call__", plain)
        with redirect_stdout(io.StringIO()):
            main([*RUN, "--db", db])
    finally:
        mp.undo()
    return code, out.getvalue(), db


def test_the_log_says_interrupted_once(interrupted):
    code, log, _db = interrupted
    assert code == EXIT_INTERRUPTED
    finished = [line for line in log.splitlines() if "finished:" in line]
    assert finished and "interrupted interrupted" not in finished[-1]
    assert finished[-1].endswith("run 1 finished: interrupted (Ctrl-C or signal)")


def test_runs_show_says_where_it_stopped_not_that_the_meter_failed(interrupted, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    _code, _log, db = interrupted
    capsys.readouterr()
    assert main(["runs", "show", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Run 1: NOT FINISHED (interrupted)"
    assert "interrupted during: starting-load test STARTING (as-found, 240 V 0.05 A)" in out
    assert "failed:" not in out and "interrupted - interrupted" not in out


def test_runs_prints_its_table_at_80_columns_with_finished_and_interrupted_runs(
    interrupted, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "80")
    _code, _log, db = interrupted
    capsys.readouterr()
    assert main(["runs", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    header = next(line for line in lines if line.startswith("run "))
    assert "outcome" in header and "meters" in header  # a table, not one card per run
    assert any(line.startswith("2 ") and "failed" in line for line in lines)
    assert any(line.startswith("1 ") and "interrupted" in line for line in lines)
    assert any("meterbench resume 1" in line for line in lines)
    assert not any("meterbench resume 2" in line for line in lines)
    assert "meters:" not in "\n".join(lines)  # the card form's label


def test_resuming_says_resumed_not_started(interrupted, capsys):  # last: it finishes run 1
    _code, _log, db = interrupted
    capsys.readouterr()
    main(["resume", "1", "--db", db, "--no-certificates"])
    out = capsys.readouterr().out
    assert any("run 1 resumed: plan ansi-c12.20-2s" in line for line in out.splitlines())
    assert "run 1 started" not in out
