"""The window's `meterbench run --type-registers` (issue 15): a register point on a meter without a readable
port asks the technician, with the source off, for the start and end readings its display shows; a reading
is a number of kWh (a clear error naming the field otherwise) and is recorded as typed."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from bench.gui.prompts import RegisterReadingPrompt, register_kwh  # noqa: E402
from bench.readmodel import recorded_results  # noqa: E402
from procedures.errors import InputError  # noqa: E402
from tests.test_gui_prompts import wait_prompt  # noqa: E402
from tests.test_gui_window import ROOT, RUN_TIMEOUT_MS, windows  # noqa: E402

PLAN = "ansi-c12.20-2s-register"


@pytest.fixture
def make_window(qtbot, tmp_path):
    yield from windows(qtbot, tmp_path)


def _socket_3_without_a_port(tmp_path) -> str:
    """examples/2s-optical-c1218.toml with socket 3's meter port (and the meter's optical port) removed."""
    base = (ROOT / "examples" / "2s-optical-c1218.toml").read_text()
    cut = base.index('[[instruments.meter_ports]]\ndriver = "ansi_c1218"\nresource = "ASRL13::INSTR"')
    text = base[:cut] + base[base.index("[simulation]") :]
    text = text.replace('serial = "SIM2S-0003"', 'serial = "SIM2S-0003"\nmeter_port = "none"')
    path = tmp_path / "no-port-3.toml"
    path.write_text(text)
    return str(path)


def test_register_readings_are_typed_with_the_source_off_and_recorded_as_typed(qtbot, make_window, tmp_path):
    from instruments.sim.meterport import registered_kwh

    w = make_window(_socket_3_without_a_port(tmp_path))
    w.load_sim_meters()
    w.plan_combo.setCurrentIndex(w.plan_combo.findData(PLAN))
    w.type_registers_box.setChecked(True)
    assert "registers typed" in w.plan_badge.text()
    assert w.start_run(), w.banner.text()
    typed = {}
    for which in ("start", "end"):
        wait_prompt(qtbot, w, RegisterReadingPrompt)
        prompt = next(p for p in w.prompts if isinstance(p, RegisterReadingPrompt) and p.isVisible())
        words = " ".join(lbl.text() for lbl in prompt.findChildren(type(w.banner)))
        assert "Source is OFF" in words and f"Position 3: type the register's {which.upper()}" in words
        assert w.worker.bench.simulator.physics.output_on is False and not w.status.energised
        assert "WAITING" in w.status.run.text()
        qtbot.keyClicks(prompt.value, "twelve")
        qtbot.keyClick(prompt.value, Qt.Key.Key_Return)
        assert prompt.isVisible() and prompt.error.text().startswith(
            "register reading (kWh): is not a number"
        )
        # the technician reads the meter's display (the simulated meter's register, as its port would say)
        typed[which] = registered_kwh(w.worker.bench.simulator.physics, 3)
        prompt.value.setText(f"{typed[which]:.6f}".replace(".", ","))  # a decimal comma is taken as a point
        assert prompt.echo.text() == f"Recorded as {round(typed[which], 6):.10g} kWh"
        qtbot.keyClick(prompt.value, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda p=prompt: not p.isVisible(), timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert typed["end"] > typed["start"]
    reg = {r["position"]: r for r in recorded_results(w.store.run_record(w.last_outcome.run_id))}
    assert reg[1]["entry"] == "port" and reg[2]["entry"] == "port"
    assert reg[3]["entry"].startswith("typed by the technician") and reg[3]["status"] == "done"
    assert reg[3]["start_kwh"] == pytest.approx(typed["start"], abs=1e-6)
    assert reg[3]["end_kwh"] == pytest.approx(typed["end"], abs=1e-6)


def test_without_the_option_a_meter_without_a_port_skips_its_register_test(qtbot, make_window, tmp_path):
    w = make_window(_socket_3_without_a_port(tmp_path))
    w.load_sim_meters()
    w.plan_combo.setCurrentIndex(w.plan_combo.findData(PLAN))
    assert not w.type_registers_box.isChecked()
    assert w.start_run(), w.banner.text()
    qtbot.waitUntil(lambda: not w.running, timeout=RUN_TIMEOUT_MS)
    assert not any(isinstance(p, RegisterReadingPrompt) for p in w.prompts)
    reg = {r["position"]: r for r in recorded_results(w.store.run_record(w.last_outcome.run_id))}
    assert reg[3]["status"] == "skipped"


def test_the_register_prompt_takes_a_reading_no_reading_or_abort(qtbot):
    answers = []
    for action, expected in (("none", None), ("esc", "abort"), ("type", 12.5)):
        dlg = RegisterReadingPrompt(2, "start")
        qtbot.addWidget(dlg)
        dlg.answered.connect(answers.append)
        dlg.show()
        if action == "none":
            dlg.none.click()
        elif action == "esc":
            qtbot.keyClick(dlg, Qt.Key.Key_Escape)
        else:
            dlg.record.click()  # empty: refused, the field named
            assert dlg.isVisible() and dlg.error.text().startswith("register reading (kWh): is empty")
            qtbot.keyClicks(dlg.value, "12,5")
            dlg.record.click()
        assert answers[-1] == expected and not dlg.isVisible()
    assert answers == [None, "abort", 12.5]  # each prompt answers exactly once


@pytest.mark.parametrize("text", ["-3", "inf", "nan", "12.3.4", "1e400"])
def test_a_register_reading_is_a_number_of_kwh(text):
    with pytest.raises(InputError) as err:
        register_kwh(text)
    assert str(err.value).startswith("register reading (kWh): ") and "\n" not in str(err.value)
    assert register_kwh(" 0012345.678 ") == 12345.678
