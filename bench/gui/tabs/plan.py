"""The Plan tab: the plan for the board's meters, its passes and warm-up, the bench conditions."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from bench.gui.results import item, table
from bench.gui.tabs import PASSES_AS_LEFT
from bench.gui.widgets import (
    big_font,
)
from procedures.errors import InputError


class PlanTab:
    """The Plan tab: the plan for the board's meters, its passes and warm-up, the bench conditions.

    A mixin of MainWindow: its widgets and state are the window's.
    """

    def _plan_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        row.addWidget(QLabel("&Plan:"))
        self.plan_combo = QComboBox()
        self.plan_combo.setFont(big_font(12))
        from procedures.plans import list_plans

        for p in list_plans():
            self.plan_combo.addItem(f"{p.id} — {p.title}", p.id)
        row.itemAt(0).widget().setBuddy(self.plan_combo)
        self.plan_combo.currentIndexChanged.connect(lambda _i: self.refresh_plan())
        row.addWidget(self.plan_combo, 1)
        lay.addLayout(row)
        row = QHBoxLayout()
        passes = QLabel("P&asses:")
        self.passes_combo = QComboBox()
        self.passes_combo.setFont(big_font(12))
        self.passes_combo.addItem("as-found only", ("as-found",))
        self.passes_combo.addItem(
            "as-found + as-left (adjust the meters in between, source off)", PASSES_AS_LEFT
        )
        self.passes_combo.setCurrentIndex(1 if self.settings.as_left else 0)
        passes.setBuddy(self.passes_combo)
        warm = QLabel("&Warm-up:")
        self.warmup_spin = QDoubleSpinBox()
        self.warmup_spin.setFont(big_font(12))
        self.warmup_spin.setRange(0, 7200)
        self.warmup_spin.setDecimals(0)
        self.warmup_spin.setSuffix(" s")
        self.warmup_spin.setSpecialValueText("none")
        self.warmup_spin.setValue(self.settings.warmup_s)
        self.warmup_spin.setToolTip(
            "Bench seconds at the plan's voltage and test amperes before the first point "
            "(the source is ON during the warm-up)"
        )
        warm.setBuddy(self.warmup_spin)
        for x, stretch in ((passes, 0), (self.passes_combo, 2), (warm, 0), (self.warmup_spin, 0)):
            row.addWidget(x, stretch)
        row.addWidget(QLabel("bench time, source ON at the plan's voltage and TA"), 1)
        self.passes_combo.currentIndexChanged.connect(lambda _i: self._run_options_changed())
        self.warmup_spin.valueChanged.connect(lambda _v: self._run_options_changed())
        lay.addLayout(row)
        self.type_registers_box = QCheckBox(
            "T&ype the register readings of meters without a readable port (asked with the source off; "
            "recorded as typed by the technician)"
        )
        self.type_registers_box.setFont(big_font(11))
        self.type_registers_box.setChecked(self.settings.type_registers)
        self.type_registers_box.setToolTip(
            "As meterbench run --type-registers. Unticked, a register point on such a meter is skipped."
        )
        self.type_registers_box.toggled.connect(lambda _b: self._run_options_changed())
        lay.addWidget(self.type_registers_box)
        row = QHBoxLayout()
        self.temp_edit, self.hum_edit = QLineEdit(), QLineEdit()
        for edit, label, hint in (
            (self.temp_edit, "Bench &temperature (°C):", "e.g. 23.0"),
            (self.hum_edit, "&Humidity (% RH):", "e.g. 45"),
        ):
            lbl = QLabel(label)
            lbl.setBuddy(edit)
            edit.setFont(big_font(12))
            edit.setPlaceholderText(hint)
            edit.setMaximumWidth(110)
            row.addWidget(lbl)
            row.addWidget(edit)
        row.addWidget(QLabel("as measured at the bench, stated on the certificates (blank: not measured)"), 1)
        lay.addLayout(row)
        self.plan_msg = QLabel("")
        self.plan_msg.setWordWrap(True)
        self.plan_msg.setFont(big_font(11, True))
        lay.addWidget(self.plan_msg)
        self.plan_table = table(
            [
                "#",
                "Point",
                "Kind",
                "Element",
                "Volts",
                "Amperes",
                "PF (lag°)",
                "Limit ±%",
                "Readings",
                "Limit source [C/D/U]",
            ]
        )
        self.plan_table.setFont(big_font(11))
        lay.addWidget(self.plan_table, 1)
        lay.addWidget(QLabel("[C] confirmed, [D] derived, [U] unconfirmed figure (editable plan data)."))
        return w

    # ================================================================ plan
    def plan_id(self) -> str:
        return self.plan_combo.currentData() or ""

    def _pick_plan_for(self, form: str) -> None:
        """When the loaded form changes, choose that form's shop (C12.20) acceptance plan; the technician may
        change it. Shop options (the register test) are never picked for them."""
        from procedures.plans import list_plans

        if getattr(self, "_picked_form", None) == form:
            return
        self._picked_form = form
        plans = {p.id: p for p in list_plans()}
        fits = [
            (p.shop_option, "c12.20" not in p.id, k)
            for k in range(self.plan_combo.count())
            if (p := plans.get(self.plan_combo.itemData(k))) is not None and form in p.forms
        ]
        if fits:
            self.plan_combo.setCurrentIndex(min(fits)[2])

    def environment(self) -> dict:
        """The bench conditions typed in for this run (validated as `meterbench run` validates them)."""
        from types import SimpleNamespace

        from bench.commands.run import environment_from

        def number(edit: QLineEdit, name: str) -> float | None:
            text = edit.text().strip().replace(",", ".")
            try:
                return float(text) if text else None
            except ValueError:
                raise InputError(name, "must be a number", found=text) from None

        return environment_from(
            SimpleNamespace(
                temperature=number(self.temp_edit, "bench temperature"),
                humidity=number(self.hum_edit, "humidity"),
            )
        )

    def passes(self) -> tuple[str, ...]:
        return tuple(self.passes_combo.currentData() or ("as-found",))

    def _run_options_changed(self) -> None:
        self.settings.as_left = self.passes() == PASSES_AS_LEFT
        self.settings.warmup_s = float(self.warmup_spin.value())
        self.settings.type_registers = self.type_registers_box.isChecked()
        self._show_badge()

    def _show_badge(self) -> None:
        """The toolbar says what Start will run: plan, passes, warm-up."""
        extra = " · as-found + AS-LEFT" if self.passes() == PASSES_AS_LEFT else ""
        if self.warmup_spin.value() > 0:
            extra += f" · warm-up {self.warmup_spin.value():g} s"
        if self.type_registers_box.isChecked():
            extra += " · registers typed"
        self.plan_badge.setText(f"  Plan: {self.plan_id()}{extra}  ")

    def refresh_plan(self) -> None:
        """The chosen plan's points in volts and amperes, with limits, for the loaded meters."""
        from procedures.plans import load_plan

        self._show_badge()
        self.plan_table.setRowCount(0)
        try:
            plan = load_plan(self.plan_id())
            if not self.meters:
                self.plan_msg.setText(f"{plan.title}. Load meters to see the points in amperes for them.")
                return
            m = self.meters[min(self.meters)]
            rp = plan.resolve(
                m.form,
                m.accuracy_class,
                ta=m.ta_a,
                ib=m.ib_a,
                in_=m.in_a,
                imax=m.imax_a,
                voltage=m.voltage_v,
                current_class=m.current_class,
            )
        except InputError as exc:
            self.plan_msg.setText(f"This plan does not fit the loaded meters: {exc}")
            self.plan_msg.setStyleSheet("color:#b00000;")
            return
        self.plan_msg.setStyleSheet("")
        self.plan_msg.setText(
            f"{rp.title} — {rp.standard}; form {rp.form.name}, class {rp.accuracy_class}, "
            f"TA {rp.ta_a:g} A, {rp.voltage_v:g} V; decision rule: {rp.decision_rule}"
        )
        self.plan_table.setRowCount(len(rp.points))
        for r, p in enumerate(rp.points):
            prov = p.limit_provenance
            src = f"{prov.cite()} [{prov.status[:1].upper()}]" if prov else ""
            lim = p.limit_percent
            lim_text = (
                "" if lim is None else (f"{lim[0]:g}..{lim[1]:g}" if isinstance(lim, tuple) else f"{lim:g}")
            )
            vals = [
                r + 1,
                p.label,
                p.kind,
                p.element,
                f"{p.voltage_v:g}",
                f"{p.current_a:g}",
                f"{p.power_factor:.2f} ({p.lag_deg:g}°)",
                lim_text,
                p.readings,
                src,
            ]
            for c, v in enumerate(vals):
                self.plan_table.setItem(r, c, item(v))
        if not self.running:  # the board shows the plan's points before any is run
            from bench.gui.live import plan_columns

            cols = plan_columns(rp.points, self.passes())
            if cols != self.board.columns:
                self.board.set_columns(cols)
