"""Correcting a meter's nameplate in the window before the run: the run uses the corrected values and its
record keeps who changed what, from what, to what, and when (#13 item 8)."""

from __future__ import annotations

from datetime import datetime

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from test_gui_window import run_to_end, windows  # noqa: E402

from bench.gui.loading import MeterDialog  # noqa: E402


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def typed_into_the_editor(qtbot, w, changes: dict):
    """The technician opens the meter editor, types over some fields and presses OK."""

    def ask(position, raw):
        dlg = MeterDialog(position, raw, w)
        qtbot.addWidget(dlg)
        for key, text in changes.items():
            dlg.edits[key].setText(text)
        dlg.accept()
        return dlg.meter

    return ask


def test_a_corrected_nameplate_is_used_and_recorded_with_who_and_when(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    before = w.meters[2]
    assert before.kh == 7.2 and before.nameplate_changes == ()
    w.ask_meter = typed_into_the_editor(qtbot, w, {"kh": "7.0", "model": "Focus AX"})
    w.edit_position(2)
    m = w.meters[2]
    assert m.kh == 7.0 and m.model == "Focus AX" and m.serial == before.serial
    fields = [(f, old, new, who) for f, old, new, who, _ in m.nameplate_changes]
    assert fields == [("kh", "7.2", "7", "tester"), ("model", before.model, "Focus AX", "tester")]
    assert datetime.fromisoformat(m.nameplate_changes[0][4]).tzinfo is not None  # when, in UTC
    assert "kh 7.2 → 7" in w.load_msg.text() and "tester" in w.load_msg.text()
    assert w.meter_table.item(1, 6).text() == "7"  # the Meters table shows the corrected Kh
    w.board_view.select(2)
    assert "Nameplate corrected: kh 7.2 → 7" in w.detail.nameplate.text()
    run_to_end(qtbot, w)
    recorded = w.store.run_record(w.last_outcome.run_id)["run"]["settings"]["meters"]
    meter2 = recorded.get("2") or recorded.get(2)
    assert meter2["kh"] == 7.0
    assert [c[:4] for c in meter2["nameplate_changes"]] == [list(x) for x in fields]


def test_an_unchanged_nameplate_records_nothing_and_a_bad_one_is_refused(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    w.ask_meter = typed_into_the_editor(qtbot, w, {})
    w.edit_position(1)
    assert w.meters[1].nameplate_changes == () and "nothing changed" in w.load_msg.text()
    w.ask_meter = typed_into_the_editor(qtbot, w, {"kh": "-1"})  # the editor refuses: OK does nothing
    w.edit_position(1)
    assert w.meters[1].kh == 7.2 and w.meters[1].nameplate_changes == ()
