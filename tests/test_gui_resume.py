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


def _recalibrated_bench(tmp_path) -> str:
    """The same board with its reference standard recalibrated (another certificate, another due date)."""
    text = (ROOT / "examples" / "2s-board.toml").read_text()
    text = text.replace("SIM-6105A-2026-0412", "SIM-6105A-2026-0901").replace(
        "due = 2027-04-12", "due = 2027-09-01"
    )
    path = tmp_path / "bench-2.toml"
    path.write_text(text)
    return str(path)


def test_resuming_on_another_bench_asks_for_the_reason_and_records_it(
    qtbot, make_window, tmp_path, monkeypatch
):
    _interrupted_run(f"sqlite:///{tmp_path}/records.db", monkeypatch)
    w = make_window(_recalibrated_bench(tmp_path))
    asked = []
    answers = [None, "bench 1 reference sent for calibration; same laboratory"]
    w.ask_other_bench = lambda run_id, why: asked.append((run_id, why)) or answers[len(asked) - 1]
    energised = []
    w.worker.source_state.connect(lambda state: energised.append(state))

    # refused by the engine before energising: the one-line reason is shown, the technician cancels
    assert w.resume_interrupted(1)
    qtbot.waitUntil(lambda: len(asked) == 1 and not w.running, timeout=RUN_TIMEOUT_MS)
    run_id, why = asked[0]
    assert run_id == 1 and "\n" not in why
    assert "SIM-6105A-2026-0412" in why and "SIM-6105A-2026-0901" in why and "--other-bench" not in why
    assert "cancelled: nothing was energised" in w.banner.text()
    assert "on" not in energised
    run = w.store.run_record(1)["run"]
    assert run["status"] == "interrupted" and run["resumes"] == 0

    # again, with a reason: resumed on this bench, the reason and what differs are on the record
    assert w.resume_interrupted(1)
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not w.running and w.last_outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.run_id == 1
    record = w.store.run_record(1)
    assert record["run"]["status"] == "finished" and record["run"]["resumes"] == 1
    moved = record["run"]["settings"]["resumed_elsewhere"]
    assert moved[0]["reason"] == answers[1]
    assert any("SIM-6105A-2026-0901" in c for c in moved[0]["changes"])
    assert w.store.verify_audit() == []


def test_the_other_bench_dialog_takes_only_a_reason(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox

    from bench.gui.prompts import OtherBenchDialog

    why = "run 1 started on other instruments (reference calibration SIM-1 due 2027-04-12 -> SIM-2 due 2027-09-01)"
    dlg = OtherBenchDialog(1, why)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.problem.text() == why
    ok = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    assert "resume" in ok.text().lower()
    ok.click()  # no reason
    assert dlg.isVisible() and "reason is required" in dlg.error.text()
    dlg.reason.setText("bench 1\x07 broken")  # a control character is refused, the field named
    ok.click()
    assert dlg.isVisible() and dlg.error.text().startswith("reason:")
    dlg.reason.setText("bench 1 reference at the calibration lab")
    ok.click()
    assert dlg.result() == dlg.DialogCode.Accepted
