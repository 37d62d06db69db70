"""The Run tab: the board, start, pause, abort, the kernel's questions and its records as they come."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bench.gui import live
from bench.gui.board import BoardModel, BoardView
from bench.gui.detail import PositionDetail
from bench.gui.live import plan_columns
from bench.gui.prompts import AsLeftPrompt, RegisterReadingPrompt, WiringDecisionDialog, WiringOverrideDialog
from bench.gui.tabs import PASSES_AS_LEFT, RECHECK_AFTER_MS
from bench.gui.waits import WaitBar
from bench.gui.widgets import VERDICT_WORDS, big_font
from bench.gui.worker import DRAIN_EVERY_MS, Question, RunJob
from procedures.errors import InputError


class RunTab:
    """The Run tab: the board, start, pause, abort, the kernel's questions and its records as they come.

    A mixin of MainWindow: its widgets and state are the window's.
    """

    def _run_tab(self) -> QWidget:
        w = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel("Load a bench file (tab 7), meters (tab 3) and a plan (tab 4), then Start.")
        self.banner.setFont(big_font(13, True))
        self.banner.setWordWrap(True)
        ll.addWidget(self.banner)
        self.wait_bar = WaitBar()
        ll.addWidget(self.wait_bar)
        self.board = BoardModel(self)
        self.board_view = BoardView(self.board)
        self.board_view.activated_position.connect(self.edit_position)
        ll.addWidget(self.board_view, 1)
        w.addWidget(left)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.detail = PositionDetail(self.board)
        self.board_view.selected_position.connect(self.detail.show_position)
        self.phasor, self.wiring_text = self.detail.phasor, self.detail.wiring_log
        rl.addWidget(self.detail, 1)
        ob = QPushButton("Override a wiring finding… (asks for a reason)")
        ob.clicked.connect(self.override_wiring)
        rl.addWidget(ob)
        w.addWidget(right)
        w.setStretchFactor(0, 3)
        w.setStretchFactor(1, 1)
        w.setSizes([960, 390])
        return w

    # ================================================================ run control
    def _update_controls(self) -> None:
        self.act_start.setEnabled(not self.running)
        self.act_pause.setEnabled(self.running and not self.paused)
        self.act_resume.setEnabled(self.running and self.paused)
        self.act_abort.setEnabled(True)  # always: with nothing running it says so

    def _confirm_dialog(self, title: str, text: str) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("&Energise and start")
        box.button(QMessageBox.StandardButton.No).setText("&Cancel")
        return box.exec() == QMessageBox.StandardButton.Yes

    def start_run(self) -> bool:
        """Validate everything, ask before energising, then hand the run to the worker."""
        from bench.meters import check_board
        from procedures.plans import load_plan

        if self.running:
            return False
        problem = None
        if not self.ready:
            problem = "Still opening the records and the bench file: Start again in a moment."
        elif self.config is None:
            problem = "No bench file: choose one in Settings (tab 7)."
        elif not self.meters:
            problem = "No meters loaded: scan them or import a manifest (tab 3)."
        elif self.status.cal_state == "overdue":
            problem = "The reference standard's calibration is overdue: testing is refused until it is recalibrated."
        if problem is None:
            try:
                meters = [self.meters[p] for p in sorted(self.meters)]
                check_board(meters)
                # the bench file is the one loaded (the worker reads it again, and says if it changed)
                plan = load_plan(self.plan_id())
                environment = self.environment()
                m = meters[0]
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
                problem = f"Cannot start: {exc}"
        if problem:
            self.banner.setText(problem)
            self.banner.setStyleSheet("color:#b00000;")
            return False
        vmax = max(p.voltage_v for p in rp.points)
        amax = max(p.current_a for p in rp.points)
        overrides = "".join(
            f"\nWiring override ({'board' if k is None else f'position {k}'}): {v}"
            for k, v in self.wiring_overrides.items()
        )
        passes, warmup = self.passes(), float(self.warmup_spin.value())
        how = (
            "as-found, then as-left after you adjust the meters"
            if passes == PASSES_AS_LEFT
            else "as-found only"
        )
        if warmup > 0:
            how += f"; {warmup:g} s warm-up first (energised)"
        if not environment:
            how += ".\nBench temperature and humidity not entered: the certificates will say they were not measured"
        text = (
            f"The source will ENERGISE the board:\nup to {vmax:g} V and {amax:g} A on positions "
            f"{', '.join(str(p) for p in sorted(self.meters))}.\nPasses: {how}.\n\nCovers closed, test "
            f"switches set, hands clear of the board?{overrides}"
        )
        if not self.confirm("Energise the board?", text):
            self.banner.setText("Start cancelled: nothing was energised.")
            return False
        self.banner.setStyleSheet("")
        self.running, self.paused = True, False
        self.results_panel.busy = True
        self.failed_verdicts = set()
        self.findings = []
        self.wiring_text.clear()
        self.results_panel.reset(None, {p: m.serial for p, m in self.meters.items()})
        with self.board.batch():
            self.board.set_columns(plan_columns(rp.points, passes))
            for p, m in self.meters.items():
                self.board.set_meter(p, m)
        self.detail.show_position(self.detail.position or min(self.meters))
        self.banner.setText(f"Starting {self.plan_id()} …")
        self.status.run.setText("Starting…")
        self._update_controls()
        self.worker.arm()
        self.pump.start()
        self.request_run.emit(
            RunJob(
                self.settings.bench_file,
                self.plan_id(),
                meters,
                self.settings.operator,
                self.settings.speed,
                dict(self.wiring_overrides),
                self.settings.allow_overdue,
                passes=passes,
                warmup_s=warmup,
                type_registers=self.type_registers_box.isChecked(),
                environment=environment,
                json_out=self.settings.run_json_path(),
            )
        )
        return True

    def pause_run(self) -> None:
        if self.running:
            self.worker.pause()
            self.status.run.setText("Pausing at the next safe point…")

    def resume_run(self) -> None:
        if self.running:
            self.worker.resume()

    def abort_run(self) -> None:
        """Esc / ABORT: the engine switches the source off first (in this thread, now), then stops."""
        going = self.worker.abort("aborted by operator (GUI)")
        self._close_prompts()
        if going or self.running:
            self.banner.setText("ABORTED: source switched off; the run is ending.")
            self.banner.setStyleSheet("color:#b00000;")
            self.status.run.setText("ABORTING — source switched off")
        else:
            self.status.run.setText("Abort: nothing is running (the source is off between runs).")

    def override_wiring(self) -> None:
        if self.running:
            return
        res = self.ask_override(
            sorted(self.meters), "\n".join(self.findings) or "No finding in this session."
        )
        if res is None:
            return
        where, reason = res
        self.wiring_overrides[where] = reason
        self.wiring_text.appendPlainText(
            f"\nOVERRIDE for the next run ({'whole board' if where is None else f'position {where}'}):"
            f" {reason}"
        )

    def _override_dialog(self, positions: list[int], findings: str):
        dlg = WiringOverrideDialog(positions, findings, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.where.currentData(), dlg.reason.text().strip()

    # ================================================================ worker signals
    def on_source_state(self, state: str) -> None:
        self.status.set_source({"on": True, "off": False}.get(state))

    def on_instruments(self, status: dict) -> None:
        self.status.set_instruments(status)

    def on_run_started(self, run_id: int) -> None:
        self.run_id = self.results_panel.run_id = run_id
        self.c_run.setValue(run_id)
        sim = self.config.simulation if self.config is not None else None
        speed = self.settings.speed if self.settings.speed is not None else (sim.speed if sim else 1.0)
        self.wait_bar.rate = float(speed)  # bench seconds per wall second; 0 = virtual time

    def _run_ended(self) -> None:
        self.pump.stop()
        self.wait_bar.stop()
        self._close_prompts()
        self.running = self.paused = self.results_panel.busy = False
        # Open and check the bench again for the next Start, once the technician is looking at the results.
        QTimer.singleShot(RECHECK_AFTER_MS, self.check_instruments)

    def _after_the_events(self, slot, *args) -> bool:
        """True when engine events are still queued: ``slot`` runs again once the pump has shown them,
        in its time-boxed batches (flushing a 48-position backlog at once froze the window ~0.1 s)."""
        if self.pump.pending():
            QTimer.singleShot(DRAIN_EVERY_MS, lambda: slot(*args))
            return True
        return False

    def on_run_failed(self, message: str) -> None:
        if self._after_the_events(self.on_run_failed, message):
            return
        self._run_ended()
        self.banner.setText(f"Run did not complete: {message}")
        self.banner.setStyleSheet("color:#b00000;")
        self.status.run.setText("Stopped with an error (source off)")
        self._update_controls()

    def on_run_finished(self, outcome) -> None:
        if self._after_the_events(self.on_run_finished, outcome):
            return
        self._run_ended()
        self.last_outcome = outcome
        counts: dict[str, int] = {}
        with self.board.batch():
            self.board.finish()
            for pos, state in outcome.positions.items():
                if self.board.row(pos) is None:
                    continue
                self.board.set_state(pos, state)
                counts[state] = counts.get(state, 0) + 1
        self.detail.refresh()
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        word = outcome.outcome.upper()
        self.banner.setText(f"Run {outcome.run_id} {word}: {summary}. {outcome.message}")
        self.banner.setStyleSheet("color:#0b4d0b;" if outcome.outcome == "passed" else "color:#b00000;")
        self.status.run.setText(f"Run {outcome.run_id}: {word}")
        self.c_run.setValue(outcome.run_id)
        self._update_controls()

    # ================================================================ the engine's questions
    def on_question(self, q: Question) -> None:
        """The engine thread waits (source off) for the technician: show the prompt, never block here."""
        self.pump.flush()  # what happened before the question is on screen first
        if q.answered:  # an abort released it while the signal was on its way
            return
        if q.kind == "as-left":
            dlg = AsLeftPrompt(sorted(self.failed_verdicts), self)
            waiting = "WAITING: adjust the meters, then continue with the as-left pass (source OFF)"
            self.board.set_running("", [])
        elif q.kind == "register":
            dlg = RegisterReadingPrompt(q.position, q.which, self)
            waiting = f"WAITING: type position {q.position}'s register {q.which} reading (source OFF)"
        else:
            dlg = WiringDecisionDialog(q.position, q.findings, self)
            where = "the board" if q.position is None else f"position {q.position}"
            waiting = f"WAITING: wiring finding at {where} — stop or override (source OFF)"
        dlg.answered.connect(lambda answer, q=q: self._answer(q, answer))
        self.prompts.append(dlg)
        self.status.run.setText(waiting)
        self.banner.setText(f"Run {self.run_id or ''} {waiting}")
        dlg.show()
        dlg.raise_()
        dlg.activateWindow()

    def _answer(self, q: Question, answer) -> None:
        if answer == "abort":
            self.abort_run()
            return
        q.reply(answer)
        if q.kind == "as-left":
            text = "Continuing with the as-left pass" if answer else "As-left pass skipped"
        elif q.kind == "register":
            text = f"Position {q.position}: register {q.which} reading " + (
                f"{answer:.10g} kWh typed" if answer is not None else "not typed (its register test fails)"
            )
        elif answer:
            text = f"Wiring finding overridden ({answer})"
        else:
            text = "Wiring finding stops " + ("the board" if q.position is None else f"position {q.position}")
        self.status.run.setText(text)
        self.banner.setText(f"Run {self.run_id or ''} RUNNING: {text} — Esc aborts (source off first)")

    def _close_prompts(self) -> None:
        """A run that ends (or aborts) takes its open questions with it."""
        prompts, self.prompts = self.prompts, []
        for dlg in prompts:
            dlg.done_ = True  # already answered by the abort: closing must not answer again
            dlg.close()
            dlg.deleteLater()

    # ================================================================ engine events
    def on_events(self, events) -> None:
        """Engine events (a list, or the pump's time-boxed iterator): the board is redrawn once at the end."""
        touched: set[int] = set()
        with self.board.batch():
            for ev in events:
                try:
                    touched |= live.apply(self.board, ev)
                    self.wait_bar.on_event(ev, self.board.running)
                    self._event(ev)
                except Exception as exc:  # noqa: BLE001 - a display problem must never stop the run
                    self.status.run.setText(f"display error: {exc}")
        if self.detail.position in touched:
            self.detail.refresh()

    def _event(self, ev) -> None:
        d, pos = ev.data, ev.position
        if ev.kind == "run_started":
            self.run_id = self.results_panel.run_id = ev.run_id
            self.status.run.setText(f"Run {ev.run_id}: started")
            self.banner.setText(f"Run {ev.run_id} RUNNING: {d.get('plan')} — Esc aborts (source off first)")
        elif ev.kind == "precheck":
            self.status.set_instruments(
                {k: {"ok": True, "text": v} for k, v in d.get("identity", {}).items()}
            )
        elif ev.kind == "retest":
            where = ", ".join(str(p) for p in d.get("positions", []))
            self.status.run.setText(
                f"Run {ev.run_id}: RETEST {ev.point_id} ({d.get('pass')}) at position {where}"
            )
            self.banner.setText(
                f"Run {ev.run_id} RETEST of {ev.point_id} ({d.get('pass')}) at position {where}: "
                f"{d.get('reason', '')} — Esc aborts (source off first)"
            )
        elif ev.kind == "warmup":
            secs = d.get("seconds", 0)
            self.status.run.setText(f"WARM-UP {secs:g} s — source ENERGISED")
            self.banner.setText(
                f"Run {ev.run_id} WARMING UP: {secs:g} s (bench time) at the plan's voltage and "
                "test amperes before the first point — Esc aborts (source off first)"
            )
        elif ev.kind == "point_started":
            label = d.get("label") or ev.point_id
            tp = d.get("pass", "")
            text = f"{label}{' (as-left)' if tp == 'as-left' else ''}"
            extra = (
                f" {d['voltage_v']:g} V {d['current_a']:g} A" if "current_a" in d and "voltage_v" in d else ""
            )
            self.status.run.setText(f"Run {ev.run_id}: {text}{extra}")
        elif ev.kind == "stabilised":
            self._phasors = (d.get("phases") or {}, f"point {ev.point_id}")
        elif ev.kind == "point_done" and self.board.row(pos) is not None:
            v = d["verdict"]
            self.results_panel.point_done(pos, ev.point_id, d)
            if v in ("fail", "indeterminate"):
                self.failed_verdicts.add(pos)
        elif ev.kind in ("creep", "starting") and self.board.row(pos) is not None:
            v = d["verdict"]
            self.results_panel.cell(
                pos, d.get("label") or ev.kind, f"{d['pulses']} p {VERDICT_WORDS.get(v, v)}", v
            )
            if v != "pass":
                self.failed_verdicts.add(pos)
        elif ev.kind == "wiring":
            where = "Board (supply)" if pos is None else f"Position {pos}"
            findings = d.get("findings", [])
            self._phasors = (d.get("phases") or {}, f"wiring, {where.lower()}")
            if findings:
                text = "\n".join(f"• {f['message']}" for f in findings)
                over = f"\n  OVERRIDDEN by operator: {d['override']}" if d.get("override") else ""
                entry = f"{where}: rotation {d.get('rotation')}\n{text}{over}"
                self.findings.append(entry)
            else:
                entry = f"{where}: wiring correct (rotation {d.get('rotation')})"
            self.wiring_text.appendPlainText(entry)
        elif ev.kind == "average" and self.board.row(pos) is not None:
            v = d["verdict"]
            self.results_panel.cell(
                pos, "average", f"{d['value_percent']:.3f} %R {VERDICT_WORDS.get(v, v)}", v
            )
        elif ev.kind == "paused":
            self.paused = True
            self.status.run.setText(
                f"Run {ev.run_id}: PAUSED (source as it was) — F7 to resume, Esc to abort"
            )
            self._update_controls()
        elif ev.kind == "resumed":
            self.paused = False
            self.status.run.setText(f"Run {ev.run_id}: resumed")
            self._update_controls()

    def _redraw_plots(self) -> None:
        if self.wait_bar.what:
            self.wait_bar.tick()
        if self._phasors is not None:
            self.detail.reference_phases, self._phasors = self._phasors, None
            self.detail.draw_phasors()
        if self.tabs.currentIndex() == 1:  # drawn when seen: a hidden plot is data, not pixels
            self.error_plot.redraw()
            if self.results_panel.table.columnCount() != getattr(self, "_fitted", -1):
                self._fitted = self.results_panel.table.columnCount()
                self.results_panel.fit_columns()
