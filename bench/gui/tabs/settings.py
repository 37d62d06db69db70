"""The Settings tab: bench file, records, laboratory, signing identity, speed; opening the bench."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bench.gui.widgets import (
    big_font,
)
from procedures.errors import InputError


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A label whose & marks its shortcut key (Alt+key focuses ``widget``), not a literal '&'."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


class SettingsTab:
    """The Settings tab: bench file, records, laboratory, signing identity, speed; opening the bench.

    A mixin of MainWindow: its widgets and state are the window's.
    """

    def _settings_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        fl = QFormLayout()
        s = self.settings
        self.s_bench = QLineEdit(s.bench_file)
        self.s_db = QLineEdit(s.db_url or "")
        self.s_db.setPlaceholderText("default: SQLite file in the user data folder")
        self.s_lab = QLineEdit(s.lab_file)
        self.s_lab.setPlaceholderText("laboratory TOML (blank: demonstration laboratory)")
        self.s_ident = QLineEdit(s.signing_identity)
        self.s_ident.setPlaceholderText(".p12 signing identity (blank: issue unsigned)")
        self.s_certs = QLineEdit(s.certificates_dir)
        self.s_operator = QLineEdit(s.operator)
        self.s_speed = QDoubleSpinBox()
        self.s_speed.setRange(-1, 10000)
        self.s_speed.setSpecialValueText("bench file's setting")
        self.s_speed.setValue(-1 if s.speed is None else s.speed)
        for label, edit, pick in (
            ("&Bench file", self.s_bench, "Bench files (*.toml)"),
            ("&Database URL", self.s_db, None),
            ("&Laboratory identity", self.s_lab, "Laboratory (*.toml)"),
            ("Si&gning identity", self.s_ident, "PKCS#12 (*.p12 *.pfx)"),
            ("Certificates &folder", self.s_certs, None),
            ("&Operator", self.s_operator, None),
        ):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            if pick:
                b = QPushButton("Browse…")
                b.clicked.connect(lambda _=False, e=edit, p=pick: self._browse(e, p))
                row.addWidget(b)
            fl.addRow(_buddy(label, edit), row)  # a row of a layout has no buddy: & would show as text
        fl.addRow("Simulation &speed (0 = virtual time)", self.s_speed)
        lay.addLayout(fl)
        apply = QPushButton("&Apply settings")
        apply.clicked.connect(self.apply_settings)
        lay.addWidget(apply)
        self.s_msg = QLabel("")
        self.s_msg.setWordWrap(True)
        self.s_msg.setFont(big_font(11, True))
        lay.addWidget(self.s_msg)
        self.lab_label = QLabel()
        self.lab_label.setWordWrap(True)
        lay.addWidget(self.lab_label)
        lay.addStretch(1)
        self._show_identities()
        return w

    def _browse(self, edit: QLineEdit, pattern: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a file", str(Path(edit.text() or ".").parent), pattern
        )
        if path:
            edit.setText(path)

    # ================================================================ settings and bench
    def apply_settings(self) -> None:
        if self.running:
            self.s_msg.setText("Not while a run is going.")
            return
        s = self.settings
        s.bench_file, s.lab_file = self.s_bench.text().strip(), self.s_lab.text().strip()
        s.signing_identity, s.certificates_dir = self.s_ident.text().strip(), self.s_certs.text().strip()
        s.operator = self.s_operator.text().strip()
        s.speed = None if self.s_speed.value() < 0 else self.s_speed.value()
        db = self.s_db.text().strip() or None
        try:
            if db != s.db_url:
                from bench.session import open_store

                store = open_store(db)
                if self.store is not None:
                    self.store.close()
                self.store = self.worker.store = store
                s.db_url = db
            if s.lab_file:
                from reports.labconfig import load_laboratory

                load_laboratory(s.lab_file)
            if s.bench_file:
                self.load_bench(s.bench_file)
        except InputError as exc:
            self.s_msg.setText(f"Not applied: {exc}")
            return
        self._show_identities()
        self.s_msg.setText("Settings applied.")

    def _show_identities(self) -> None:
        from reports.labconfig import default_laboratory, load_laboratory

        try:
            lab = load_laboratory(self.settings.lab_file) if self.settings.lab_file else default_laboratory()
            accreditation = lab.accreditation or "none stated in the laboratory file"
            self.lab_label.setText(f"Laboratory: {lab.name} — accreditation: {accreditation}")
            if not self.c_approver.text() and lab.signatories:
                self.c_approver.setText(lab.signatories[0].name)
        except InputError as exc:
            self.lab_label.setText(f"Laboratory file not usable: {exc}")
        self.c_identity.setText(self.settings.signing_identity or "none: certificates are issued UNSIGNED")

    def load_bench(self, path: str) -> None:
        """Read the bench file (no instrument I/O here), lay out its positions, then check the instruments."""
        from bench.session import sim_meter_raw
        from instruments.benchfile import load_bench_config

        try:
            config = load_bench_config(path)
        except InputError as exc:
            self.banner.setText(f"Bench file not usable: {exc}")
            return
        self.config = config
        self.settings.bench_file = path
        self.s_bench.setText(path)
        self.board.set_positions(config.positions)
        self.detail.show_position(1 if config.positions else None)
        self.meters = {p: m for p, m in self.meters.items() if p <= config.positions}
        self.sim_meters = {}
        for sm in config.simulation.meters if config.simulation else ():
            self.sim_meters[sm.serial] = sim_meter_raw(sm)
        ref = config.instruments.get("reference", ())
        self.status.set_calibration(ref[0].calibration if ref else None)
        self.status.set_instruments({})
        self._refresh_meters()
        self.banner.setText(
            f"{config.name} — {config.location}: {config.positions} positions"
            f"{' (SIMULATED)' if config.simulation else ''}"
        )
        self.check_instruments()
        self._update_controls()

    def check_instruments(self) -> None:
        if self.config is None or self.running:
            return
        self.status.instruments.setText("Instruments: checking…")
        self.request_check.emit(self.settings.bench_file, self.settings.speed)
