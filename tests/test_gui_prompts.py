"""The engine's mid-run questions in the window: as-left adjustment, wiring decisions, warm-up state.

The engine thread waits on the technician with the source off; the window stays live and Esc / ABORT
still end the run (source off first). Offscreen Qt, simulated benches in virtual time.
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from bench.gui.prompts import AsLeftPrompt, WiringDecisionDialog  # noqa: E402
from tests.test_gui_window import RUN_TIMEOUT_MS, tile_words, windows  # noqa: E402

REASON = "CT polarity checked by hand at the test switch"


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def start_with(w, as_left: bool = False, warmup: float = 0.0) -> None:
    w.load_sim_meters()
    w.passes_combo.setCurrentIndex(1 if as_left else 0)
    w.warmup_spin.setValue(warmup)
    assert w.start_run(), w.banner.text()


def wait_prompt(qtbot, w, kind):
    qtbot.waitUntil(
        lambda: any(isinstance(p, kind) and p.isVisible() for p in w.prompts), timeout=RUN_TIMEOUT_MS
    )
    return next(p for p in w.prompts if isinstance(p, kind))


def passes_recorded(w) -> set[str]:
    return {p["test_pass"] for p in w.store.run_record(w.last_outcome.run_id)["points"]}


def test_as_left_prompt_waits_with_the_source_off_and_continue_runs_the_as_left_pass(qtbot, make_window):
    w = make_window()
    start_with(w, as_left=True)
    assert "AS-LEFT" in w.plan_badge.text()
    prompt = wait_prompt(qtbot, w, AsLeftPrompt)
    words = " ".join(lbl.text() for lbl in prompt.findChildren(type(w.banner)))
    assert "Source is OFF" in words and "Adjust the meters" in words
    assert w.worker.bench.simulator.physics.output_on is False
    assert not w.status.energised and "WAITING" in w.status.run.text()
    assert w.running  # the run waits on the technician; the window is live
    qtbot.keyClick(prompt.cont, Qt.Key.Key_Return)  # the default button: continue
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.outcome in ("passed", "failed")
    assert passes_recorded(w) == {"as-found", "as-left"}
    assert not w.prompts


def test_as_left_skip_finishes_with_as_found_only(qtbot, make_window):
    w = make_window()
    start_with(w, as_left=True)
    prompt = wait_prompt(qtbot, w, AsLeftPrompt)
    prompt.skip.click()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.outcome in ("passed", "failed")
    assert passes_recorded(w) == {"as-found"}


@pytest.mark.parametrize("how", ["esc in the prompt", "toolbar abort"])
def test_abort_while_the_as_left_prompt_waits_ends_the_run_with_the_source_off(qtbot, make_window, how):
    w = make_window()
    start_with(w, as_left=True)
    prompt = wait_prompt(qtbot, w, AsLeftPrompt)
    physics = w.worker.bench.simulator.physics
    if how == "esc in the prompt":
        qtbot.keyClick(prompt.cont, Qt.Key.Key_Escape)
    else:
        w.act_abort.trigger()  # the window stays usable behind the prompt
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.outcome == "aborted"
    assert physics.output_on is False and not w.status.energised
    assert "ABORTED" in w.banner.text() and not w.prompts
    assert passes_recorded(w) == {"as-found"}


def test_wiring_override_with_a_reason_tests_the_position_and_records_the_reason(qtbot, make_window):
    w = make_window("examples/9s-reversed-ct.toml")
    start_with(w)
    dlg = wait_prompt(qtbot, w, WiringDecisionDialog)
    assert "position 2" in dlg.windowTitle()
    text = " ".join(lbl.text() for lbl in dlg.findChildren(type(w.banner)))
    assert "Source is OFF" in text and "reversed" in text
    assert w.worker.bench.simulator.physics.output_on is False
    dlg.override.click()  # asks for the reason ...
    assert dlg.reason.isVisible() and not dlg.done_
    dlg.override.click()  # ... and refuses to go on without one
    assert "reason is required" in dlg.error.text() and not dlg.done_
    dlg.reason.setText(REASON)
    qtbot.keyClick(dlg.reason, Qt.Key.Key_Return)  # Enter now means "override with this reason"
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    record = w.store.run_record(w.last_outcome.run_id)
    assert [c["override_reason"] for c in record["wiring_checks"] if c["position"] == 2] == [REASON]
    tested = {p["point_id"] for p in record["points"] if p["position"] == 2 and p.get("result")}
    assert tested - {"wiring"}, "position 2 was tested after the override"
    assert w.last_outcome.positions[2] != "wiring fault"
    assert "OVERRIDDEN" in w.wiring_text.toPlainText()


def test_wiring_stop_fails_the_position_as_a_wiring_fault(qtbot, make_window):
    w = make_window("examples/9s-reversed-ct.toml")
    start_with(w)
    dlg = wait_prompt(qtbot, w, WiringDecisionDialog)
    qtbot.keyClick(dlg.stop, Qt.Key.Key_Return)  # the default: stop this position
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.positions[2] == "wiring fault"
    assert "WIRING FAULT" in tile_words(w, 2)
    record = w.store.run_record(w.last_outcome.run_id)
    assert [c["override_reason"] for c in record["wiring_checks"] if c["position"] == 2] == [None]
    assert not any(
        p["position"] == 2 and p["point_id"] != "wiring" and p.get("result") for p in record["points"]
    )


def test_warm_up_is_a_state_in_the_status_bar(qtbot, make_window):
    w = make_window()
    seen, release = threading.Event(), threading.Event()

    def hold(ev):  # engine thread: stay in the warm-up until the window has shown it
        if ev.kind == "warmup":
            seen.set()
            release.wait(10)

    w.worker.listeners.append(hold)
    start_with(w, warmup=45)
    assert "warm-up 45 s" in w.plan_badge.text()
    try:
        qtbot.waitUntil(seen.is_set, timeout=RUN_TIMEOUT_MS)
        qtbot.waitUntil(lambda: "WARM-UP 45 s" in w.status.run.text(), timeout=5000)
        assert "WARMING UP" in w.banner.text()
    finally:
        release.set()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    record = w.store.run_record(w.last_outcome.run_id)
    assert record["run"]["settings"]["warmup_s"] == 45


def test_settings_preselect_as_left_and_warm_up_and_a_negative_warm_up_is_refused(make_window, capsys):
    from bench.cli import main as cli_main

    w = make_window(as_left=True, warmup_s=30)
    assert w.passes() == ("as-found", "as-left") and w.warmup_spin.value() == 30
    assert "AS-LEFT" in w.plan_badge.text() and "warm-up 30 s" in w.plan_badge.text()
    assert cli_main(["gui", "--bench", "examples/2s-board.toml", "--warmup", "-5"]) == 2
    assert "--warmup" in capsys.readouterr().err
