"""The board view, as a technician reads it: one row per position, one cell per point, which meter failed
which point, the running point marked, 48 positions legible, the selected position's detail beside it."""

from __future__ import annotations

import re
import threading

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtGui import QFontMetrics  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402
from test_gui_window import RUN_TIMEOUT_MS, run_to_end, windows  # noqa: E402

from bench.gui.board import CELL_BG  # noqa: E402
from benchmarks.bench_gui_stall import board_file  # noqa: E402  (the stall benchmark's n-position board)

ERROR_CELL = re.compile(r"^[+-]\d+\.\d{3} ±\d+\.\d{3} [✔✘?]$")


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def test_the_board_shows_which_meter_failed_which_point(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    # before the run: the plan's points are the columns, every cell still empty
    assert w.board.columns == ["CREEP", "STARTING", "LL", "PF", "FL"]
    assert w.board.text(3, "STARTING") == "" and w.board.text(3, "Result") == "LOADED"
    run_to_end(qtbot, w)
    assert w.last_outcome.positions[3] == "failed"
    # position 3's meter does not start: its STARTING cell says so (✘ and red), its headline names the test
    assert w.board.text(3, "STARTING") == "0 p ✘"
    assert w.board.colour(3, "STARTING") == CELL_BG["fail"]
    assert w.board.text(3, "Result") == "FAILED: STARTING"
    assert w.board.colour(3, "Result") == CELL_BG["fail"]
    # a passing meter: every accuracy cell is error ± U with a tick, green
    for col in ("LL", "PF", "FL"):
        assert ERROR_CELL.match(w.board.text(1, col)), w.board.text(1, col)
        assert w.board.text(1, col).endswith("✔") and w.board.colour(1, col) == CELL_BG["pass"]
    assert w.board.text(1, "CREEP") == "0 p ✔" and w.board.text(1, "Result") == "PASSED"
    assert w.board.text(3, "Meter") == "SIM2S-0003"
    # the cell's value is the recorded result, not a display's own arithmetic
    rec = w.store.run_record(w.last_outcome.run_id)
    fl = next(p for p in rec["points"] if p["position"] == 1 and p["point_id"] == "FL")
    assert w.board.text(1, "FL").startswith(f"{fl['result']['error_percent']:+.3f} ")
    # no point is marked running once the run has ended
    assert not any(w.board.header(c).startswith("▶") for c in w.board.columns)


def test_the_running_point_is_marked_in_its_header_and_its_cells(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    held, release = threading.Event(), threading.Event()

    def hold(ev):  # in the engine's thread: hold the run at PF's first reading (source on)
        if ev.kind == "reading" and ev.point_id == "PF" and not held.is_set():
            held.set()
            release.wait(20)

    w.worker.listeners.append(hold)
    assert w.start_run()
    try:
        qtbot.waitUntil(held.is_set, timeout=RUN_TIMEOUT_MS)
        qtbot.waitUntil(lambda: w.board.header("PF") == "▶ PF", timeout=5000)
        assert w.board.header("FL") == "FL" and w.board.header("LL") == "LL"
        assert w.board.text(1, "PF").startswith("▶")
        assert w.board.colour(1, "PF") == CELL_BG["running"]
        assert w.board.text(1, "Result").startswith("TESTING PF")
        assert ERROR_CELL.match(w.board.text(1, "LL"))  # the point before it is done
        assert w.board.text(1, "FL") == ""  # the one after it has not started
        # position 3 already failed starting: while testing, its headline keeps saying so
        assert "FAIL STARTING" in w.board.text(3, "Result")
    finally:
        release.set()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)


def test_48_positions_are_rows_a_technician_can_read(qtbot, make_window, tmp_path):
    w = make_window(str(board_file(48, tmp_path)))
    w.load_sim_meters()
    assert w.board.rowCount() == 48
    assert [w.board.text(p, "Meter") for p in (1, 24, 48)] == ["SIM2S-0001", "SIM2S-0024", "SIM2S-0048"]
    view = w.board_view
    assert view.font().pointSize() >= 9 and view.rowHeight(0) >= 18  # legible, not squeezed to fit
    visible = view.viewport().height() // view.rowHeight(0)
    assert visible >= 20  # at 1366x768 most of the board is in view; the rest scrolls
    fm = QFontMetrics(view.font())
    for c in range(3, w.board.columnCount()):  # a point's cell fits "+0.000 ±0.000 ✘"
        assert view.columnWidth(c) >= fm.horizontalAdvance("+0.000 ±0.000 ✘")
    run_to_end(qtbot, w)
    assert all(w.board.text(p, "Result") in ("PASSED", "FAILED: STARTING") for p in range(1, 49))
    assert all(ERROR_CELL.match(w.board.text(p, "FL")) for p in range(1, 49))


def test_selecting_a_position_shows_its_detail(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    run_to_end(qtbot, w)
    w.board_view.select(3)
    assert w.detail.position == 3
    assert w.detail.headline.text() == "P3  FAILED: STARTING"
    assert "SIM2S-0003" in w.detail.nameplate.text()
    readings = w.detail.readings.toPlainText()
    assert "STARTING" in readings and "FAIL" in readings and "FL r1" in readings
    w.board_view.select(1)
    assert w.detail.headline.text() == "P1  PASSED"
    assert "SIM2S-0001" in w.detail.nameplate.text() and "FL RESULT" in w.detail.readings.toPlainText()
    assert "SIM2S-0003" not in w.detail.readings.toPlainText()


def test_the_wiring_check_is_a_cell_and_its_finding_is_in_the_detail(qtbot, make_window):
    w = make_window("examples/9s-reversed-ct.toml")
    w.load_sim_meters()
    assert w.start_run()
    qtbot.waitUntil(lambda: bool(w.prompts), timeout=RUN_TIMEOUT_MS)
    w.prompts[0].stop.click()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    wiring = w.board.columns[0]
    assert "wiring" in wiring.lower()
    bad = [p for p in (1, 2, 3) if w.board.text(p, wiring).startswith("✘")]
    assert bad and all(w.board.colour(p, wiring) == CELL_BG["fail"] for p in bad)
    assert w.board.text(bad[0], "Result").startswith("WIRING FAULT")
    w.board_view.select(bad[0])
    assert "reversed" in w.detail.findings.toPlainText()


def test_no_label_shows_a_literal_ampersand(qtbot, make_window):
    w = make_window()
    stray = []
    for k in range(w.tabs.count()):
        w.tabs.setCurrentIndex(k)
        for label in w.tabs.widget(k).findChildren(QLabel):
            text = label.text().replace("&&", "")
            if "&" in text and label.buddy() is None and label.textFormat().name != "RichText":
                stray.append((w.tabs.tabText(k), label.text()))
    assert stray == []


def test_a_received_point_says_what_it_measured(qtbot, make_window):
    """A net-metering plan's received points: their own columns, and the cell's tip and the detail's
    readings say the energy and direction they measured (a delivered Wh point says nothing extra)."""
    w = make_window("examples/2s-net-metering.toml")
    w.load_sim_meters()
    k = w.plan_combo.findData("ansi-c12.20-2s-net")
    assert k >= 0
    w.plan_combo.setCurrentIndex(k)
    assert w.plan_id() == "ansi-c12.20-2s-net"
    assert "FL rcv" in w.board.columns
    run_to_end(qtbot, w)
    row = w.board.row(1)
    assert ERROR_CELL.match(w.board.text(1, "FL rcv")), w.board.text(1, "FL rcv")
    assert "[Wh received]" in row.cells["FL rcv"].tip
    assert "[Wh" not in row.cells["FL"].tip


def test_a_dead_meter_is_headlined_by_the_point_that_found_no_pulses_not_its_earlier_failure():
    """9S position 3 fails STARTING, then LL-A finds no pulses: the row reads 'NO PULSES: LL-A', the earlier
    failure named apart (it read 'NO PULSES: STARTING', blaming the wrong test)."""
    from bench.gui.board import BoardRow, Cell

    cols = ["WIRING", "STARTING", "LL-A", "LL-B"]
    row = BoardRow(position=3, state="no pulses", message="no pulses: reading 1 of 3: ...",
                   cells={"WIRING": Cell("✔", "pass"), "STARTING": Cell("0 p ✘", "fail"), "LL-A": Cell("0 p ✘", "fail")})  # fmt: skip
    assert row.headline(cols) == "NO PULSES: LL-A · FAIL STARTING"
    row.state = "failed"
    assert row.headline(cols) == "FAILED: STARTING, LL-A"
