"""The Meters tab: scanning, typing and importing the meters on the board."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bench.gui.loading import MeterDialog, corrected, meter_raw, scan_to_meter
from bench.gui.results import item, table
from bench.gui.widgets import (
    big_font,
)
from procedures.errors import InputError


class MetersTab:
    """The Meters tab: scanning, typing and importing the meters on the board.

    A mixin of MainWindow: its widgets and state are the window's.
    """

    def _meters_tab(self) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        left = QVBoxLayout()
        scan_box = QGroupBox("Scan a barcode (or type a serial and press Enter)")
        sl = QVBoxLayout(scan_box)
        self.scan_edit = QLineEdit()
        self.scan_edit.setFont(big_font(16))
        self.scan_edit.setPlaceholderText("serial → next empty position")
        self.scan_edit.returnPressed.connect(self._typed_serial)
        sl.addWidget(self.scan_edit)
        self.load_msg = QLabel("A scan fills the next empty position.")
        self.load_msg.setWordWrap(True)
        self.load_msg.setFont(big_font(12, True))
        sl.addWidget(self.load_msg)
        left.addWidget(scan_box)
        tmpl = QGroupBox("Nameplate for scanned meters (when the bench file does not know the serial)")
        tl = QFormLayout(tmpl)
        self.template: dict[str, QLineEdit] = {}
        for key, label, default in (
            ("form", "Form", "2S"),
            ("accuracy_class", "Class", "0.5"),
            ("current_class", "Current class", "CL200"),
            ("voltage", "Voltage (V)", "240"),
            ("kh", "Kh", "7.2"),
            ("kt", "Kt", "0.6"),
        ):
            e = QLineEdit(default)
            self.template[key] = e
            tl.addRow(label, e)
        left.addWidget(tmpl)
        buttons = QGridLayout()
        for k, (text, slot) in enumerate(
            (
                ("&Edit position…", lambda: self.edit_position(self._selected_position() or 1)),
                ("C&lear position", self.clear_position),
                ("Clear &all", self.clear_all),
                ("&Import manifest CSV…", self.import_manifest),
                ("Load &bench file's simulated meters", self.load_sim_meters),
            )
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, k // 2, k % 2)
        left.addLayout(buttons)
        left.addStretch(1)
        lay.addLayout(left, 2)
        self.meter_table = table(["Pos", "Serial", "Form", "Class", "CL / TA", "V", "Kh", "Kt"])
        self.meter_table.setFont(big_font(11))
        self.meter_table.doubleClicked.connect(lambda idx: self.edit_position(idx.row() + 1))
        lay.addWidget(self.meter_table, 3)
        return w

    # ================================================================ meters
    def _next_empty(self) -> int | None:
        n = self.config.positions if self.config else 0
        return next((p for p in range(1, n + 1) if p not in self.meters), None)

    def _say(self, text: str, ok: bool) -> None:
        self.load_msg.setText(text)
        self.load_msg.setStyleSheet("color:#0b4d0b;" if ok else "color:#b00000;")

    def on_scan(self, serial: str) -> None:
        self.add_serial(serial)

    def _typed_serial(self) -> None:
        text = self.scan_edit.text()
        self.scan_edit.clear()
        if text.strip():
            self.add_serial(text)

    def add_serial(self, serial: str) -> None:
        """A scanned or typed serial into the next empty position (validated; the reason if refused)."""
        if self.running:
            self._say("Scan ignored: a run is going.", False)
            return
        if self.config is None:
            self._say("Load a bench file first (tab 7).", False)
            return
        if serial.strip() in {m.serial for m in self.meters.values()}:
            self._say(f"{serial.strip()} is already loaded.", False)
            return
        pos = self._next_empty()
        if pos is None:
            self._say(f"Board full: no empty position for {serial.strip()}.", False)
            return
        template = {k: e.text().strip() for k, e in self.template.items()}
        try:
            meter, note = scan_to_meter(serial, pos, template, self.sim_meters)
        except InputError as exc:
            self._say(f"Refused: {exc}", False)
            return
        self.meters[pos] = meter
        self._refresh_meters()
        self._say(f"{meter.serial} → position {pos}. {note}", not note)

    def edit_position(self, position: int) -> None:
        """Enter a meter, or correct a loaded meter's nameplate: each change is kept with who and when."""
        if self.running or self.config is None:
            return
        m = self.meters.get(position)
        raw = meter_raw(m) if m else {k: e.text().strip() for k, e in self.template.items()}
        new = self.ask_meter(position, raw)
        if new is None:
            return
        others = {mm.serial for p, mm in self.meters.items() if p != position}
        if new.serial in others:
            self._say(f"{new.serial} is already loaded in another position.", False)
            return
        if m is None:
            self.meters[position] = new
            self._refresh_meters()
            self._say(f"Position {position} saved.", True)
            return
        who = self.settings.operator or "operator not named (Settings, tab 7)"
        fixed = corrected(m, new, who, datetime.now(UTC).replace(microsecond=0))
        self.meters[position] = fixed
        self._refresh_meters()
        done = fixed.nameplate_changes[len(m.nameplate_changes) :]
        said = "; ".join(f"{f} {a or '—'} → {b or '—'}" for f, a, b, _, _ in done) or "nothing changed"
        self._say(f"Position {position} nameplate corrected: {said} (recorded with the run, by {who}).", True)

    def _meter_dialog(self, position: int, raw: dict):
        title = f"Correct the nameplate of position {position}" if position in self.meters else None
        dlg = MeterDialog(position, raw, self, title=title)
        return dlg.meter if dlg.exec() == QDialog.DialogCode.Accepted else None

    def _selected_position(self) -> int | None:
        rows = self.meter_table.selectionModel().selectedRows() if self.meter_table.selectionModel() else []
        return rows[0].row() + 1 if rows else None

    def clear_position(self) -> None:
        pos = self._selected_position()
        if pos and not self.running:
            self.meters.pop(pos, None)
            self._refresh_meters()

    def clear_all(self) -> None:
        if not self.running:
            self.meters.clear()
            self._refresh_meters()

    def import_manifest(self, path: str | None = None) -> None:
        from bench.meters import load_manifest

        if self.running:
            return
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Manifest CSV", "", "CSV (*.csv)")
            if not path:
                return
        try:
            meters = load_manifest(path)
            n = self.config.positions if self.config else 48
            bad = [m.position for m in meters if m.position > n]
            if bad:
                raise InputError(
                    "position", f"the bench has {n} positions", allowed=f"1..{n}", found=bad, source=path
                )
        except InputError as exc:
            self._say(f"Manifest refused (nothing loaded): {exc}", False)
            return
        self.meters = {m.position: m for m in meters}
        self._refresh_meters()
        self._say(f"{len(meters)} meters loaded from {Path(path).name}.", True)

    def load_sim_meters(self) -> None:
        from bench.session import meters_from_bench

        if self.config is None or self.running:
            return
        try:
            self.meters = {m.position: m for m in meters_from_bench(self.config)}
        except InputError as exc:
            self._say(f"Refused: {exc}", False)
            return
        self._refresh_meters()
        self._say(f"{len(self.meters)} simulated meters loaded.", True)

    def _refresh_meters(self) -> None:
        n = self.config.positions if self.config else 0
        self.meter_table.setRowCount(n)
        with self.board.batch():
            for p in range(1, n + 1):
                m = self.meters.get(p)
                vals = (
                    [
                        p,
                        m.serial,
                        m.form,
                        m.accuracy_class,
                        m.current_class or f"TA {m.ta_a:g} A",
                        f"{m.voltage_v:g}",
                        f"{m.kh:g}",
                        f"{m.kt:g}",
                    ]
                    if m
                    else [p, "— empty —", "", "", "", "", "", ""]
                )
                for c, v in enumerate(vals):
                    self.meter_table.setItem(p - 1, c, item(v))
                if not self.running:
                    self.board.set_meter(p, m)
        self.detail.refresh()
        if self.meters and not self.running:
            self._pick_plan_for(self.meters[min(self.meters)].form)
        self.refresh_plan()
        self._update_controls()
