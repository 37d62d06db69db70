"""The Results tab: a run's current results, where a point is retested and an interrupted run resumed."""

from __future__ import annotations

import dataclasses

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QWidget,
)

from bench.gui.board import column_name
from bench.gui.prompts import OtherBenchDialog, RetestDialog
from bench.gui.results import ResultPoint, ResultsPanel
from bench.gui.worker import RunJob


class ResultsTab:
    """The Results tab: a run's current results, where a point is retested and an interrupted run resumed.

    A mixin of MainWindow: its widgets and state are the window's.
    """

    def _results_tab(self) -> QWidget:
        self.results_panel = ResultsPanel()
        self.results, self.error_plot = self.results_panel.table, self.results_panel.plot
        self.results_panel.retest_requested.connect(self.retest)
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.results_panel.request_retest)
        return self.results_panel

    def retest(self, point: ResultPoint) -> bool:
        """Test one point of a recorded run again on one position: reason first, then energise, then run."""

        problem = None
        if self.running:
            problem = "Not while a run is going."
        elif self.config is None:
            problem = "No bench file: choose one in Settings (tab 7)."
        if problem is None:
            record = self.store.run_record(point.run_id)
            meters, problem = self._recorded_board(record, "retest")
        if problem:
            self.results_panel.msg.setText(problem)
            return False
        reason = self.ask_retest(point)
        if not reason:
            self.results_panel.msg.setText("Retest cancelled: nothing was energised.")
            return False
        p = next(
            x for x in record["points"] if x["point_id"] == point.point_id and x["position"] == point.position
        )
        text = (
            f"The source will ENERGISE the board to retest {point.label} ({point.test_pass}) at position "
            f"{point.position}:\n{p['voltage_v']:g} V and {p['current_a']:g} A.\n\nCovers closed, test switches "
            f"set, hands clear of the board?"
        )
        if not self.confirm("Energise the board?", text):
            self.results_panel.msg.setText("Retest cancelled: nothing was energised.")
            return False
        self.running, self.paused = True, False
        self.results_panel.busy = True
        self.tabs.setCurrentIndex(1)
        if point.position in self.meters:
            col = column_name(point.label, point.test_pass, None)
            self.board.set_running(col, [point.position])
        self.results_panel.msg.setText(
            f"Retesting {point.label} ({point.test_pass}) at position {point.position}…"
        )
        self.status.run.setText("Starting the retest…")
        self._update_controls()
        self.worker.arm()
        self.pump.start()
        retest = {
            "run_id": point.run_id,
            "point_id": point.point_id,
            "reason": reason,
            "positions": [point.position],
            "test_pass": point.test_pass,
        }
        self.request_run.emit(
            RunJob(
                self.settings.bench_file,
                record["run"]["plan_id"],
                meters,
                self.settings.operator or record["run"]["operator"],
                self.settings.speed,
                retest=retest,
                type_registers=self.type_registers_box.isChecked(),
                json_out=self.settings.run_json_path(),
            )
        )
        return True

    def _recorded_board(
        self, record: dict, doing: str, *, same_bench: bool = True
    ) -> tuple[list, str | None]:
        """A recorded run's meters, and why it cannot be done again on this window's bench (or None).
        ``same_bench=False`` (resume): the engine compares the instruments, and asks for a reason."""
        from bench.meters import LoadedMeter

        run = record["run"]
        meters = [LoadedMeter(**m) for m in ((run.get("settings") or {}).get("meters") or {}).values()]
        if same_bench and record["bench"]["name"] != self.config.name:
            return meters, (
                f"Run {run['id']} was tested on bench {record['bench']['name']!r}; this window has "
                f"{self.config.name!r} open. {doing.capitalize()} on the same bench."
            )
        if not meters:
            return meters, f"Run {run['id']} has no recorded meters to {doing}."
        return meters, None

    def resume_interrupted(self, run_id: int | None = None) -> bool:
        """Finish an interrupted run (the History tab's selected one): its recorded points are kept and not
        repeated, on the bench it was started on."""

        run_id = run_id or getattr(self, "h_run_id", None)
        problem = None
        if self.running:
            problem = "Not while a run is going."
        elif self.config is None:
            problem = "No bench file: choose one in Settings (tab 7)."
        elif not run_id:
            problem = "Choose an interrupted run in History first."
        if problem is None:
            record = self.store.run_record(run_id)
            run = record["run"]
            meters, problem = self._recorded_board(record, "resume", same_bench=False)
            if run["status"] != "interrupted":
                problem = f"Run {run_id} is {run['status']}: only an interrupted run can be resumed."
        if problem:
            self.banner.setText(problem)
            self.banner.setStyleSheet("color:#b00000;")
            return False
        settings = run.get("settings") or {}
        text = (
            f"The source will ENERGISE the board to finish run {run_id} ({run['plan_id']}) on positions "
            f"{', '.join(str(m.position) for m in meters)}; points already recorded are not repeated.\n\n"
            f"Same meters in the same sockets, covers closed, hands clear of the board?"
        )
        if not self.confirm("Energise the board?", text):
            self.banner.setText("Resume cancelled: nothing was energised.")
            return False
        overrides = {
            None if k in ("None", "") else int(k): v
            for k, v in (settings.get("wiring_overrides") or {}).items()
        }
        self._request_resume(
            RunJob(
                self.settings.bench_file,
                run["plan_id"],
                meters,
                run["operator"],
                self.settings.speed,
                overrides,
                self.settings.allow_overdue,
                passes=tuple(settings.get("passes") or ("as-found",)),
                warmup_s=float(settings.get("warmup_s") or 0.0),
                resume_run=run_id,
                type_registers=self.type_registers_box.isChecked(),
                json_out=self.settings.run_json_path(),
            )
        )
        return True

    def _request_resume(self, job: RunJob) -> None:
        self.running, self.paused = True, False
        self.results_panel.busy = True
        self.tabs.setCurrentIndex(0)
        self.banner.setStyleSheet("")
        where = " on this bench (reason recorded)" if job.other_bench else ""
        self.banner.setText(f"Resuming run {job.resume_run}{where} …")
        self.status.run.setText("Resuming…")
        self._update_controls()
        self.worker.arm()
        self.pump.start()
        self.request_run.emit(job)

    def on_other_bench(self, job: RunJob, problem: str) -> None:
        """The engine refused to resume on this bench (before energising): say why in one line, and resume
        here only with the technician's reason, as ``meterbench resume N --other-bench REASON`` does."""
        if self._after_the_events(self.on_other_bench, job, problem):
            return
        self._run_ended()
        self.banner.setText(f"Run {job.resume_run} not resumed: {problem}")
        self.banner.setStyleSheet("color:#b00000;")
        self.status.run.setText("Resume refused: another bench (source off)")
        self._update_controls()
        reason = self.ask_other_bench(job.resume_run, problem)
        if not reason:
            self.banner.setText(f"Resume of run {job.resume_run} cancelled: nothing was energised.")
            return
        self._request_resume(dataclasses.replace(job, other_bench=reason))

    def _other_bench_dialog(self, run_id: int, problem: str) -> str | None:
        dlg = OtherBenchDialog(run_id, problem, self)
        return dlg.reason.text().strip() if dlg.exec() == QDialog.DialogCode.Accepted else None

    def _retest_dialog(self, point: ResultPoint) -> str | None:
        dlg = RetestDialog(point, self)
        return dlg.reason.text().strip() if dlg.exec() == QDialog.DialogCode.Accepted else None
