"""Retest a single point from the window: select a position's result, give a reason, energise, retest.

Offscreen Qt, simulated 2S board in virtual time.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from bench.gui.prompts import RetestDialog  # noqa: E402
from bench.gui.results import NOT_ALONE, ResultPoint  # noqa: E402
from tests.test_gui_window import RUN_TIMEOUT_MS, run_to_end, windows  # noqa: E402

REASON = "board knocked during the FL gate"


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def select(w, position: int, column: str) -> None:
    headers = [w.results.horizontalHeaderItem(c).text() for c in range(w.results.columnCount())]
    w.results.setCurrentCell(position - 1, headers.index(column))


def current(record: dict, position: int, point_id: str) -> dict:
    return next(p for p in record["points"] if p["position"] == position and p["point_id"] == point_id)


def test_select_a_result_and_retest_it_with_a_reason(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    run_to_end(qtbot, w)
    run_id = w.last_outcome.run_id
    first = w.store.run_record(run_id)
    before, other = current(first, 1, "FL"), current(first, 2, "FL")
    asked = []
    w.ask_retest = lambda point: asked.append(point) or REASON
    w.tabs.setCurrentIndex(1)
    select(w, 1, "FL")
    assert "FL" in w.results_panel.msg.text() and "position 1" in w.results_panel.msg.text()
    qtbot.keyClick(w.results, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert asked == [ResultPoint(run_id, 1, "FL", "as-found", "FL")]
    assert w.running
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.run_id == run_id  # the same run, not a new one
    record = w.store.run_record(run_id)
    after = current(record, 1, "FL")
    assert after["id"] != before["id"]
    assert before["id"] in [p["id"] for p in record["superseded"]["points"]]
    assert REASON in str(after)
    assert current(record, 2, "FL")["id"] == other["id"]  # the other positions are untouched
    assert not w.status.energised
    cell = w.results.item(0, [w.results.horizontalHeaderItem(c).text() for c in range(w.results.columnCount())]
                          .index("FL")).text()  # fmt: skip
    assert f"{after['result']['error_percent']:+.3f}" in cell


def test_a_creep_result_is_not_retested_alone_and_a_reason_is_required(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    run_to_end(qtbot, w)
    w.ask_retest = lambda point: pytest.fail("no reason is asked for a creep result")
    select(w, 1, "CREEP")
    w.results_panel.request_retest()
    assert w.results_panel.msg.text() == NOT_ALONE and not w.running
    dlg = RetestDialog(ResultPoint(1, 1, "FL", "as-found", "FL"), w)
    qtbot.addWidget(dlg)
    dlg.accept()
    assert "reason is required" in dlg.error.text() and dlg.result() == 0


def test_history_run_shown_in_results_can_be_retested(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    run_to_end(qtbot, w)
    run_id = w.last_outcome.run_id
    w.results_panel.reset(None, {})  # as after restarting the window: nothing in Results
    w.tabs.setCurrentIndex(4)
    w.search_history()
    w.show_history_results()
    assert w.tabs.currentIndex() == 1 and w.results.rowCount() == 3
    w.ask_retest = lambda point: REASON
    select(w, 3, "FL")
    w.results_panel.request_retest()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    record = w.store.run_record(run_id)
    assert [p["position"] for p in record["superseded"]["points"]] == [3]
