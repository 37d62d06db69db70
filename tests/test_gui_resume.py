"""The window resumes an interrupted run (its recorded points kept, not repeated) and writes every run's
JSON as `meterbench run --json` does."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from test_gui_window import ROOT, RUN_TIMEOUT_MS, SERIALS_2S, scan, windows  # noqa: E402

from bench.kernel import RunKernel  # noqa: E402
from bench.records import RecordStore  # noqa: E402
from bench.session import meters_from_bench  # noqa: E402
from instruments.bench import open_bench  # noqa: E402
from procedures.plans import load_plan  # noqa: E402


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def _interrupted_run(db: str, monkeypatch) -> set:
    store = RecordStore.open(db)
    bench = open_bench(ROOT / "examples" / "2s-board.toml", speed=0)
    seen = []

    def listener(ev):
        if ev.kind == "point_done":
            seen.append(ev.point_id)
            if len(seen) == 3:
                raise KeyboardInterrupt  # Ctrl-C mid-run

    try:
        with pytest.raises(KeyboardInterrupt):
            RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config),
                      listeners=[listener]).run()  # fmt: skip
    finally:
        bench.close()
    # Ctrl-C marks the run interrupted at once: nothing is left "running" for a later start-up to recover
    assert store.run_record(1)["run"]["status"] == "interrupted"
    with monkeypatch.context() as mp:
        mp.setattr("bench.records.store.pid_alive", lambda pid: False)
        assert store.recover_interrupted() == []
    done = store.completed_points(1)
    store.close()
    return done


def test_the_window_resumes_an_interrupted_run_and_writes_its_json(qtbot, make_window, tmp_path, monkeypatch):
    done_before = _interrupted_run(f"sqlite:///{tmp_path}/records.db", monkeypatch)
    assert done_before
    w = make_window()
    w.tabs.setCurrentIndex(4)
    w.search_history()
    w.h_runs.selectRow(0)
    assert w.h_resume.isEnabled()
    assert w.resume_interrupted()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.run_id == 1 and w.last_outcome.outcome in ("passed", "failed")
    record = w.store.run_record(1)
    assert record["run"]["status"] == "finished" and record["run"]["resumes"] == 1
    keys = [(p["position"], p["point_id"], p["test_pass"]) for p in record["points"] if p["status"] == "done"]
    assert len(keys) == len(set(keys)), "a recorded point was measured again"
    doc = json.loads((tmp_path / "runs" / "run-1.json").read_text())
    assert doc["run"]["id"] == 1 and doc["run"]["outcome"] == w.last_outcome.outcome
    assert {p["label"] for p in doc["points"]} >= {"FL", "LL", "PF"}


def test_a_window_run_writes_its_json(qtbot, make_window, tmp_path):
    w = make_window()
    for s in SERIALS_2S:
        scan(qtbot, w.board_view, s)
    assert w.start_run(), w.banner.text()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    path = tmp_path / "runs" / f"run-{w.last_outcome.run_id}.json"
    doc = json.loads(path.read_text())
    assert doc["run"]["outcome"] == w.last_outcome.outcome and len(doc["meters"]) == 3
