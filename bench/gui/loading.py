"""Loading meters: barcode scans (keyboard wedge), manual entry and editing, manifest import.

A keyboard-wedge scanner types the serial as fast keystrokes ending in Enter. :class:`WedgeDetector`
watches the main window's key presses and recognises such a burst wherever the focus is; a person
typing is far slower and is left alone. The scanned serial fills the next empty position, with the
nameplate taken from the bench file's simulated meter of that serial (simulated benches) or from the
"nameplate for scans" template the technician set. Everything goes through
:func:`bench.meters.make_meter`, so a bad value is refused with the field and the reason shown.
"""

from __future__ import annotations

import time
from dataclasses import fields, replace
from datetime import datetime

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from bench.meters import LoadedMeter, make_meter
from procedures.errors import InputError

MAX_GAP_S = 0.05  # a wedge scanner types a character every few ms; people take 100 ms or more
MIN_LENGTH = 3

FIELDS = (  # (key in make_meter's raw dict, label, hint)
    ("serial", "Serial", "as on the nameplate / barcode"),
    ("form", "Form", "e.g. 2S, 9S, 12S, 16S"),
    ("accuracy_class", "Accuracy class", "e.g. 0.2, 0.5"),
    ("current_class", "Current class", "e.g. CL200, CL20 (blank: give TA)"),
    ("ta", "TA (A)", "blank: from the current class"),
    ("voltage", "Voltage (V)", "blank: the form's nominal"),
    ("kh", "Kh (Wh/rev)", "from the nameplate"),
    ("kt", "Kt (Wh/pulse)", "test output; blank = Kh"),
    ("manufacturer", "Manufacturer", ""),
    ("model", "Model", ""),
)


class WedgeDetector(QObject):
    """Event filter on the main window's ``QWindow``: a burst of fast keystrokes ending in Enter is a scan.

    Installed on the window, not on the application: every key press of the window passes the window
    once, whichever widget has the focus, while the application-wide stream (paints, timers, layout
    requests, thousands a second during a run) would each be a call into Python.
    """

    scanned = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.enabled = True
        self._buffer = ""
        self._last = 0.0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if not self.enabled or event.type() != QEvent.Type.KeyPress:
            return False
        if event.isAutoRepeat():
            return False
        # When the key was pressed (the window system's stamp, in ms), not when it reached us: a window
        # busy for a moment receives a person's slow typing in one late burst.
        now = event.timestamp() / 1000.0 if event.timestamp() else time.monotonic()
        key = event.key()
        if now - self._last > MAX_GAP_S:
            self._buffer = ""
        self._last = now
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            text, self._buffer = self._buffer, ""
            if len(text) >= MIN_LENGTH:
                _unType(QApplication.focusWidget(), text)
                self.scanned.emit(text)
                return True  # the Enter belonged to the scanner, not to the focused button
            return False
        if event.text() and event.text().isprintable():
            self._buffer += event.text()
        return False


def _unType(widget, text: str) -> None:
    """Take the scanned characters back out of a text field the scan happened to land in."""
    if isinstance(widget, QLineEdit) and widget.text().endswith(text):
        widget.setText(widget.text()[: -len(text)])


def scan_to_meter(serial: str, position: int, template: dict, sim_meters: dict) -> tuple[LoadedMeter, str]:
    """The meter a scan puts at ``position``, and a note for the technician (may be "")."""
    from bench.meters import check_serial

    serial = check_serial(serial, "scanned serial")
    note = ""
    raw = dict(sim_meters.get(serial) or template)
    if serial in sim_meters:
        sim_pos = sim_meters[serial].get("position")
        if sim_pos != position:
            note = f"bench file has {serial} in position {sim_pos}; check the socket"
    raw["serial"], raw["position"] = serial, position
    return make_meter(raw, source="scan"), note


#: the nameplate as the editor sets it: (LoadedMeter attribute, what the record calls it)
NAMEPLATE = (
    ("serial", "serial"),
    ("form", "form"),
    ("accuracy_class", "accuracy_class"),
    ("current_class", "current_class"),
    ("ta_a", "ta"),
    ("voltage_v", "voltage"),
    ("kh", "kh"),
    ("kt", "kt"),
    ("manufacturer", "manufacturer"),
    ("model", "model"),
)
NAMEPLATE_ATTRS = {attr for attr, _ in NAMEPLATE}


def _shown(value) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def corrected(old: LoadedMeter, new: LoadedMeter, operator: str, when: datetime) -> LoadedMeter:
    """``new``'s nameplate on ``old``'s meter, with each changed field recorded: (field, old value, new
    value, who, when). What the editor does not show (customer, record fields, meter type...) is kept."""
    changes = [
        (name, _shown(getattr(old, attr)), _shown(getattr(new, attr)), operator, when.isoformat())
        for attr, name in NAMEPLATE
        if _shown(getattr(old, attr)) != _shown(getattr(new, attr))
    ]
    keep = {f.name: getattr(new, f.name) for f in fields(LoadedMeter) if f.name in NAMEPLATE_ATTRS}
    keep.update(ib_a=new.ib_a, in_a=new.in_a, imax_a=new.imax_a)
    return replace(old, **keep, nameplate_changes=(*old.nameplate_changes, *changes))


def meter_raw(m: LoadedMeter) -> dict:
    """A loaded meter back into the raw fields the editor shows."""
    return {
        "position": m.position,
        "serial": m.serial,
        "form": m.form,
        "accuracy_class": m.accuracy_class,
        "current_class": m.current_class or "",
        "ta": m.ta_a if m.ta_a is not None else "",
        "voltage": m.voltage_v,
        "kh": m.kh,
        "kt": m.kt,
        "manufacturer": m.manufacturer,
        "model": m.model,
        "firmware": m.firmware,
        "ib": m.ib_a or "",
        "in": m.in_a or "",
        "imax": m.imax_a or "",
    }


class MeterDialog(QDialog):
    """Enter or edit one position's nameplate; OK only closes once :func:`make_meter` accepts it."""

    def __init__(self, position: int, raw: dict | None, parent=None, *, title: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title or f"Meter in position {position}")
        self.position = position
        self.meter: LoadedMeter | None = None
        self.raw = dict(raw or {})
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.edits: dict[str, QLineEdit | QComboBox] = {}
        from procedures.forms import shipped_forms

        for key, label, hint in FIELDS:
            if key == "form":
                w = QComboBox()
                w.setEditable(True)
                w.addItems(sorted(shipped_forms()))
                w.setCurrentText(str(self.raw.get(key, "")))
            else:
                w = QLineEdit(str(self.raw.get(key, "") if self.raw.get(key) is not None else ""))
                w.setPlaceholderText(hint)
            self.edits[key] = w
            form.addRow(f"&{label}" if key == "serial" else label, w)
        lay.addLayout(form)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color:#b00000; font-weight:bold;")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def values(self) -> dict:
        out = dict(self.raw)
        for key, w in self.edits.items():
            out[key] = (w.currentText() if isinstance(w, QComboBox) else w.text()).strip()
        out["position"] = self.position
        return out

    def accept(self) -> None:
        try:
            self.meter = make_meter(self.values(), source=f"position {self.position}")
        except InputError as exc:
            self.error.setText(f"Not accepted: {exc}")
            return
        super().accept()
