"""The bench application, driven like a technician would: scans, Start, Pause/Resume, Esc, History.

Offscreen Qt, a temporary SQLite records file, simulated benches in virtual time (speed 0).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from bench.cli import main as cli_main  # noqa: E402
from bench.gui.loading import MeterDialog  # noqa: E402
from bench.gui.settings import GuiSettings  # noqa: E402
from bench.gui.window import MainWindow, WiringOverrideDialog  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERIALS_2S = ["SIM2S-0001", "SIM2S-0002", "SIM2S-0003"]
RUN_TIMEOUT_MS = 30_000


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def windows(qtbot, tmp_path):
    """Yield a window factory (offscreen, temporary records, speed 0); shut every window down afterwards."""
    made = []

    def make(bench: str = "examples/2s-board.toml", **kw) -> MainWindow:
        s = GuiSettings(bench_file=str(ROOT / bench) if bench else "", db_url=f"sqlite:///{tmp_path}/records.db",
                        speed=0, certificates_dir=str(tmp_path / "certs"), operator="tester", **kw)  # fmt: skip
        w = MainWindow(s)
        qtbot.addWidget(w)
        w.resize(1366, 768)
        w.show()
        w.confirm = lambda title, text: True
        made.append(w)
        qtbot.waitUntil(lambda: w.ready, timeout=RUN_TIMEOUT_MS)  # records and bench file, behind the paint
        if bench:  # the window opens and checks the bench first; a technician waits for it too
            qtbot.waitUntil(lambda: "checking" not in w.status.instruments.text(), timeout=RUN_TIMEOUT_MS)
        return w

    yield make
    for w in made:
        w.shutdown()


def scan(qtbot, widget, text: str) -> None:
    """A keyboard-wedge scanner: the characters as fast as Qt can deliver them, then Enter.

    Typed into the window (as a keyboard is), landing in whichever widget has the focus.
    """
    widget.setFocus()
    window = widget.window().windowHandle()
    for ch in text:
        qtbot.keyClick(window, ch)
    qtbot.keyClick(window, Qt.Key.Key_Return)


def run_to_end(qtbot, w: MainWindow) -> None:
    assert w.start_run(), w.banner.text()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)


def tile_words(w: MainWindow, pos: int) -> str:
    """What the board's row for ``pos`` says: headline, meter, message and every cell."""
    row = w.board.row(pos)
    cells = [c.text for c in row.cells.values()]
    return " ".join([w.board.text(pos, "Result"), w.board.text(pos, "Meter"), row.message, *cells])


def test_scans_fill_the_next_empty_positions_and_bad_ones_say_why(qtbot, make_window):
    w = make_window()
    w.tabs.setCurrentIndex(0)
    target = w.board_view  # the scan lands wherever the focus is, not only in the scan field
    target.setFocus()
    for s in SERIALS_2S[:2]:
        scan(qtbot, target, s)
    assert [w.meters[p].serial for p in sorted(w.meters)] == SERIALS_2S[:2]
    assert "SIM2S-0002" in tile_words(w, 2) and "LOADED" in tile_words(w, 2)
    assert "EMPTY" in tile_words(w, 3)
    scan(qtbot, target, "SIM2S-0001")
    assert "already loaded" in w.load_msg.text()
    scan(qtbot, target, "bad serial!")
    assert "Refused" in w.load_msg.text() and "serial" in w.load_msg.text()
    assert len(w.meters) == 2
    # typing into the scan field and pressing Enter (manual entry) loads too
    w.tabs.setCurrentIndex(2)
    w.scan_edit.setText("SIM2S-0003")
    w.scan_edit.returnPressed.emit()
    assert w.meters[3].serial == "SIM2S-0003" and w.meters[3].kt == 0.6
    # the plan tab shows the chosen plan for these meters, in amperes (CL200: TA 30 A)
    assert w.plan_id() == "ansi-c12.20-2s"
    cells = [[w.plan_table.item(r, c).text() for c in range(w.plan_table.columnCount())]
             for r in range(w.plan_table.rowCount())]  # fmt: skip
    fl = next(r for r in cells if r[1] == "FL")
    assert fl[5] == "30" and fl[4] == "240" and fl[7] != ""


def test_meter_editor_refuses_bad_nameplate_with_the_reason(qtbot, make_window):
    w = make_window()
    dlg = MeterDialog(1, {"serial": "ABC-123", "form": "2S", "accuracy_class": "0.5", "current_class": "CL200",
                          "kh": "-3"}, w)  # fmt: skip
    qtbot.addWidget(dlg)
    dlg.accept()
    assert dlg.meter is None and "kh" in dlg.error.text()
    dlg.edits["kh"].setText("7.2")
    dlg.accept()
    assert dlg.meter is not None and dlg.meter.kh == 7.2 and dlg.meter.ta_a == 30


def test_run_from_the_window_to_completion(qtbot, make_window):
    w = make_window()
    for s in SERIALS_2S:
        scan(qtbot, w.board_view, s)
    seen_on = []
    w.worker.source_state.connect(seen_on.append)
    run_to_end(qtbot, w)
    out = w.last_outcome
    assert out is not None and out.outcome in ("passed", "failed")
    for pos in (1, 2, 3):
        words = tile_words(w, pos)
        assert out.positions[pos].upper() in words  # the state in words, not colour alone
        assert "PASS" in words or "FAIL" in words
    assert "on" in seen_on and seen_on[-1] == "off"  # energised during the run, off at the end
    assert not w.status.energised and "OFF" in w.status.source.text()
    assert w.results.rowCount() == 3 and w.results.columnCount() > 3
    assert f"Run {out.run_id}" in w.banner.text()
    record = w.store.run_record(out.run_id)
    assert record["run"]["outcome"] == out.outcome and record["points"]


def test_pause_and_resume(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    first_reading, paused_clicked = threading.Event(), threading.Event()

    def hold(ev):  # in the engine's thread: hold the run after its first reading until Pause is clicked
        if ev.kind == "reading" and not first_reading.is_set():
            first_reading.set()
            paused_clicked.wait(10)

    w.worker.listeners.append(hold)
    assert w.start_run()
    qtbot.waitUntil(first_reading.is_set, timeout=RUN_TIMEOUT_MS)
    assert w.act_pause.isEnabled()
    w.act_pause.trigger()
    paused_clicked.set()
    qtbot.waitUntil(lambda: w.paused, timeout=10_000)
    assert "PAUSED" in w.status.run.text() and w.act_resume.isEnabled() and w.running
    w.act_resume.trigger()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.outcome in ("passed", "failed")


def test_esc_aborts_mid_gate_and_the_source_is_off(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    gate_running, release = threading.Event(), threading.Event()

    def hook(engine):  # in the worker: hold the engine inside the first accuracy gate
        calc = engine.bench.calculators[1]
        for name in ("start", "start_series"):  # one gate, or a point's gates back to back
            original = getattr(calc, name, None)
            if original is None:
                continue

            def start(*args, original=original):
                original(*args)
                if not gate_running.is_set():
                    gate_running.set()
                    release.wait(10)

            setattr(calc, name, start)

    w.worker.engine_hooks.append(hook)
    assert w.start_run()
    try:
        qtbot.waitUntil(gate_running.is_set, timeout=RUN_TIMEOUT_MS)
        bench = w.worker.bench
        assert bench.source.output_is_on()  # mid-gate: the board is energised ...
        qtbot.waitUntil(lambda: w.status.energised is True, timeout=5000)
        assert "ENERGISED" in w.status.source.text()  # ... and the window says so
        qtbot.keyClick(w.board_view, Qt.Key.Key_Escape)
        # Off before the engine thread moves again: the abort itself switched it off
        assert bench.source.output_is_on() is False
        assert bench.simulator.physics.output_on is False
        assert w.status.energised is False
    finally:
        release.set()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.outcome == "aborted"
    assert "ABORTED" in w.banner.text()
    assert w.store.run_record(w.last_outcome.run_id)["run"]["outcome"] == "aborted"


def test_wiring_fault_shows_its_finding_and_an_override_needs_a_reason(qtbot, make_window):
    w = make_window("examples/9s-reversed-ct.toml")
    for s in ("SIM9S-0001", "SIM9S-0002", "SIM9S-0003"):
        scan(qtbot, w.board_view, s)
    assert w.plan_id() == "ansi-c12.20-9s"
    assert w.start_run(), w.banner.text()
    # mid-run, the engine asks (source off) whether position 2's finding stops it: Esc = stop, not abort
    qtbot.waitUntil(lambda: bool(w.prompts), timeout=RUN_TIMEOUT_MS)
    qtbot.keyClick(w.prompts[0].stop, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert w.last_outcome.outcome == "failed"
    text = w.wiring_text.toPlainText()
    assert "reversed" in text and "Check the CT" in text
    assert any("WIRING FAULT" in tile_words(w, p) for p in (1, 2, 3))
    dlg = WiringOverrideDialog([1, 2, 3], text, w)
    qtbot.addWidget(dlg)
    dlg.reason.setText("")
    dlg.accept()
    assert "reason is required" in dlg.error.text() and dlg.result() == 0
    w.ask_override = lambda positions, findings: (None, "CT polarity checked by hand at the test switch")
    w.override_wiring()
    assert w.wiring_overrides == {None: "CT polarity checked by hand at the test switch"}
    assert "OVERRIDE" in w.wiring_text.toPlainText()


def test_history_finds_the_run_and_opens_its_signed_certificate(qtbot, make_window, tmp_path, monkeypatch):
    from pypdf import PdfReader

    from reports.signing import make_demo_identity

    ident = make_demo_identity(tmp_path / "id", "Pat Approver", passphrase=b"secret-pass")
    w = make_window(signing_identity=str(ident.p12_path))
    w.load_sim_meters()
    run_to_end(qtbot, w)
    run_id = w.last_outcome.run_id
    # certificate: preview the draft, then issue it signed with the approver's name
    w.c_run.setValue(run_id)
    w.c_pos.setValue(1)
    w.c_approver.setText("Pat Approver")
    w.c_pass.setText("secret-pass")
    w.preview_certificate()
    qtbot.waitUntil(lambda: bool(w.page_images), timeout=RUN_TIMEOUT_MS)
    assert "draft" in Path(w.c_pdf).name
    w.issue_certificate()
    qtbot.waitUntil(lambda: w.c_msg.text().startswith(("Issued", "Not done")), timeout=RUN_TIMEOUT_MS)
    assert w.c_msg.text().startswith("Issued"), w.c_msg.text()
    pdf = Path(w.c_msg.text().removeprefix("Issued: "))
    reader = PdfReader(pdf)
    assert "Pat Approver" in "".join(p.extract_text() for p in reader.pages)
    assert reader.get_fields() and any("Signature" in k for k in reader.get_fields())
    # history: by serial, then open the run and its certificate
    w.tabs.setCurrentIndex(4)
    w.h_serial.setText("SIM2S-0001")
    runs = w.search_history()
    assert [r["id"] for r in runs] == [run_id]
    assert w.h_points.rowCount() > 0
    assert "MB-" in w.h_certs.currentText()
    w.page_images = []
    w.open_history_certificate()
    qtbot.waitUntil(lambda: bool(w.page_images), timeout=RUN_TIMEOUT_MS)
    assert w.c_pdf == str(pdf)
    w.h_serial.setText("NOPE-999")
    assert w.search_history() == []


def test_overdue_reference_refuses_to_start(qtbot, make_window, tmp_path):
    text = (
        (ROOT / "examples/2s-board.toml")
        .read_text()
        .replace("due = 2027-04-12", "due = 2020-01-01")
        .replace("calibrated = 2026-04-12", "calibrated = 2019-01-01")
    )
    bench = tmp_path / "overdue.toml"
    bench.write_text(text)
    w = make_window(bench="")
    w.load_bench(str(bench))
    assert "OVERDUE" in w.status.calibration.text()
    w.load_sim_meters()
    assert not w.start_run()
    assert "overdue" in w.banner.text() and not w.running


def test_gui_command_rejects_a_bad_bench_file(capsys):
    assert cli_main(["gui", "--bench", "/nonexistent/bench.toml"]) == 2
    assert "bench" in capsys.readouterr().err


def test_bench_conditions_are_recorded_and_bad_ones_refused_naming_the_field(qtbot, make_window):
    w = make_window()
    w.load_sim_meters()
    w.temp_edit.setText("warm")
    assert not w.start_run() and "bench temperature" in w.banner.text() and not w.running
    w.temp_edit.setText("99")
    assert not w.start_run() and "temperature" in w.banner.text() and "-20 to 60" in w.banner.text()
    w.temp_edit.setText("23,5")  # a decimal comma is how many shops write it
    w.hum_edit.setText("45")
    run_to_end(qtbot, w)
    env = w.store.run_record(w.last_outcome.run_id)["run"]["environment"]
    assert env["temperature_c"] == 23.5 and env["humidity_pct"] == 45
