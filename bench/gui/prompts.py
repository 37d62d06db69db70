"""What the window asks the technician: wiring overrides and, mid-run, the engine's questions.

The mid-run prompts (:class:`AsLeftPrompt`, :class:`WiringDecisionDialog`, :class:`RegisterReadingPrompt`)
are not modal: the engine thread waits for the answer with the source off, and the window stays live behind
them, so ABORT (toolbar) is always one click away and the technician can look at the results before
answering. Each prompt answers
exactly once through its ``answered`` signal; closing it with the title bar counts as its Esc action.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from bench.gui.widgets import big_font
from procedures.errors import InputError

MIN_REASON = 5  # characters: a reason goes on the record and the certificate, "ok" is not one
SOURCE_OFF = "Source is OFF."
_SAFE_STYLE = "background:#d8d8d8; color:#222; border:1px solid #888; padding:6px;"


def _reason_ok(text: str) -> bool:
    return len(text.strip()) >= MIN_REASON


class _ReasonDialog(QDialog):
    """Accepts only with a reason (at least a few words): the reason goes on the record."""

    def _finish(self, lay: QVBoxLayout, form: QFormLayout, ok_text: str = "") -> None:
        lay.addLayout(form)
        self.error = QLabel("")
        self.error.setStyleSheet("color:#b00000; font-weight:bold;")
        lay.addWidget(self.error)
        b = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        if ok_text:
            b.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        b.accepted.connect(self.accept)
        b.rejected.connect(self.reject)
        lay.addWidget(b)

    def accept(self) -> None:
        if not _reason_ok(self.reason.text()):
            self.error.setText("A reason is required (at least a few words): it goes on the record.")
            return
        super().accept()


class WiringOverrideDialog(_ReasonDialog):
    """Before a run: continue a position (or the whole board) despite a known wiring finding."""

    def __init__(self, positions: list[int], findings: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Override a wiring finding")
        lay = QVBoxLayout(self)
        warn = QLabel(
            "Overriding means testing a meter the wiring check says is wired wrong.\n"
            "The reason is recorded with the run and printed on the certificate.\n\n" + findings
        )
        warn.setWordWrap(True)
        lay.addWidget(warn)
        form = QFormLayout()
        self.where = QComboBox()
        self.where.addItem("whole board", None)
        for p in positions:
            self.where.addItem(f"position {p}", p)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("e.g. CT polarity checked by hand at the test switch")
        form.addRow("&Override for", self.where)
        form.addRow("&Reason (required)", self.reason)
        self._finish(lay, form)


class RetestDialog(_ReasonDialog):
    """Why a point is tested again: the reason is recorded next to the superseded result."""

    def __init__(self, point, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Retest {point.label} at position {point.position}")
        lay = QVBoxLayout(self)
        head = QLabel(
            f"Retest {point.label} ({point.test_pass}) at position {point.position} of run {point.run_id}."
        )
        head.setFont(big_font(13, True))
        head.setWordWrap(True)
        lay.addWidget(head)
        note = QLabel(
            "The earlier result stays on the record and on the certificate as superseded, with this "
            "reason; the new result becomes the position's result."
        )
        note.setWordWrap(True)
        lay.addWidget(note)
        self.reason = QLineEdit()
        self.reason.setFont(big_font(12))
        self.reason.setPlaceholderText("reason, e.g. board knocked during the FL gate")
        form = QFormLayout()
        form.addRow("&Reason (required)", self.reason)
        self._finish(lay, form, "&Retest…")


class OtherBenchDialog(_ReasonDialog):
    """Resume an interrupted run on other instruments than it started on (as ``meterbench resume N
    --other-bench REASON``): the reason is recorded with the run and stated on its certificates."""

    def __init__(self, run_id: int, problem: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Resume run {run_id} on this bench?")
        self.setMinimumWidth(620)
        lay = QVBoxLayout(self)
        head = QLabel(f"Run {run_id} was not resumed: this is not the bench it started on.")
        head.setFont(big_font(13, True))
        head.setWordWrap(True)
        lay.addWidget(head)
        self.problem = QLabel(problem)
        self.problem.setFont(big_font(11))
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.setStyleSheet("color:#7a0000;")
        lay.addWidget(self.problem)
        note = QLabel(
            f"{SOURCE_OFF} Nothing was energised. To finish the run on this bench, say why: the reason "
            "and what differs are recorded with the run and stated on every certificate of the run."
        )
        note.setWordWrap(True)
        lay.addWidget(note)
        self.reason = QLineEdit()
        self.reason.setFont(big_font(12))
        self.reason.setPlaceholderText("reason, e.g. bench 1 reference sent for calibration; same laboratory")
        form = QFormLayout()
        form.addRow("&Reason (required)", self.reason)
        self._finish(lay, form, "&Record the reason and resume (energises)")
        self.error.setWordWrap(True)
        self.error.hide()  # shown with its message, so the dialog has no blank gap

    def accept(self) -> None:
        from procedures import bounds

        try:
            bounds.text("reason", self.reason.text())
        except InputError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        super().accept()
        self.error.setVisible(bool(self.error.text()) and self.result() != QDialog.DialogCode.Accepted)


class _EnginePrompt(QDialog):
    """A question the engine thread is waiting on: answered once, Esc does ``_escape``."""

    answered = Signal(object)

    def __init__(self, title: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.setMinimumWidth(560)
        self.done_ = False
        self.lay = QVBoxLayout(self)
        off = QLabel(SOURCE_OFF)
        off.setFont(big_font(16, True))
        off.setStyleSheet(_SAFE_STYLE)
        off.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.lay.addWidget(off)

    def give(self, answer) -> None:
        """Answer (once) and close."""
        if self.done_:
            return
        self.done_ = True
        self.answered.emit(answer)
        # Not close(): QDialog's closeEvent calls reject(), this prompt's Esc action, and a prompt already
        # answered ignored it and stayed on screen until the run ended.
        super().done(int(QDialog.DialogCode.Accepted))

    def _escape(self) -> None:
        raise NotImplementedError

    def event(self, e) -> bool:  # noqa: D401 - Qt override
        # Esc belongs to this prompt, not to the application's Esc = Abort shortcut (each prompt says what
        # its Esc does; the as-left prompt's Esc is abort too).
        if e.type() == QEvent.Type.ShortcutOverride and e.key() == Qt.Key.Key_Escape:
            e.accept()
            return True
        return super().event(e)

    def reject(self) -> None:  # Esc; once answered (or closed by the run's end), only closes
        if self.done_:
            super().reject()
        else:
            self._escape()

    def closeEvent(self, e) -> None:  # noqa: N802 - Qt override: the title bar's close is the Esc action
        if not self.done_:
            self._escape()
        super().closeEvent(e)


class AsLeftPrompt(_EnginePrompt):
    """Between the passes: adjust the meters, then continue with the as-left pass, skip it, or abort.

    ``answered`` carries True (as-left), False (skip) or ``"abort"``.
    """

    def __init__(self, failed: list[int], parent=None) -> None:
        super().__init__("As-found pass done — adjust the meters", parent)
        text = QLabel("Adjust the meters, then continue with the as-left pass.")
        text.setFont(big_font(14, True))
        text.setWordWrap(True)
        self.lay.addWidget(text)
        found = (
            f"As-found failures: position{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))}."
            if failed
            else "Every as-found result is within its limit."
        )
        note = QLabel(
            f"{found}\nThe as-found results are recorded. The as-left pass tests every position again "
            "and is what the certificate states as the meter's condition when it leaves the shop."
        )
        note.setFont(big_font(11))
        note.setWordWrap(True)
        self.lay.addWidget(note)
        self.cont = QPushButton("Continue with the &as-left pass (Enter)")
        self.skip = QPushButton("&Skip as-left (finish the run with as-found only)")
        self.abort = QPushButton("■ ABORT the run (Esc)")
        self.abort.setStyleSheet("background:#b00000; color:white; font-weight:bold; padding:6px;")
        for b in (self.cont, self.skip, self.abort):
            b.setFont(big_font(12, True))
            b.setMinimumHeight(40)
            self.lay.addWidget(b)
        self.cont.setDefault(True)
        self.cont.setFocus()
        self.cont.clicked.connect(lambda: self.give(True))
        self.skip.clicked.connect(lambda: self.give(False))
        self.abort.clicked.connect(self._escape)

    def _escape(self) -> None:
        self.give("abort")


class WiringDecisionDialog(_EnginePrompt):
    """A wiring finding would stop a position (or the board): stop it (default), or override with a reason.

    ``answered`` carries the reason (override) or None (stop).
    """

    def __init__(self, position: int | None, findings: list[dict], parent=None) -> None:
        where = "the whole board (supply)" if position is None else f"position {position}"
        super().__init__(f"Wiring finding — {where}", parent)
        head = QLabel(f"The wiring check found a problem at {where}:")
        head.setFont(big_font(14, True))
        head.setWordWrap(True)
        self.lay.addWidget(head)
        body = QLabel("\n".join(f"• {f.get('message') or f.get('code')}" for f in findings))
        body.setFont(big_font(12))
        body.setWordWrap(True)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lay.addWidget(body)
        what = (
            "Stopping fails this position as a wiring fault; the others carry on."
            if position is not None
            else "Stopping fails every position as a wiring fault (the supply is shared)."
        )
        note = QLabel(
            f"{what} Override only after checking the wiring by hand: the reason is recorded with "
            "the run and printed on the certificate."
        )
        note.setFont(big_font(11))
        note.setWordWrap(True)
        self.lay.addWidget(note)
        self.reason = QLineEdit()
        self.reason.setFont(big_font(12))
        self.reason.setPlaceholderText("reason, e.g. CT polarity checked by hand at the test switch")
        self.reason.hide()
        self.lay.addWidget(self.reason)
        self.error = QLabel("")
        self.error.setStyleSheet("color:#b00000; font-weight:bold;")
        self.error.hide()  # shown with its message, so the dialog has no blank gap
        self.lay.addWidget(self.error)
        self.stop = QPushButton(
            f"&Stop {'this position' if position is not None else 'the board'} (Enter / Esc)"
        )
        self.override = QPushButton("&Override… (reason required)")
        for b in (self.stop, self.override):
            b.setFont(big_font(12, True))
            b.setMinimumHeight(40)
            self.lay.addWidget(b)
        self.stop.setDefault(True)
        self.stop.setFocus()
        self.stop.clicked.connect(self._escape)
        self.override.clicked.connect(self._override)

    def _override(self) -> None:
        if self.reason.isHidden():  # first click: ask for the reason
            self.reason.show()
            self.reason.setFocus()
            self.override.setText("&Override with this reason (Enter)")
            self.stop.setDefault(False)
            self.override.setDefault(True)
            self.stop.setText(self.stop.text().replace(" (Enter / Esc)", " (Esc)"))
            return
        if not _reason_ok(self.reason.text()):
            self.error.setText("A reason is required (at least a few words): it goes on the certificate.")
            self.error.show()
            self.reason.setFocus()
            return
        self.give(self.reason.text().strip())

    def _escape(self) -> None:
        self.give(None)


REGISTER_FIELD = "register reading (kWh)"


def register_kwh(text: str) -> float:
    """A register reading as typed from a meter's display (a decimal comma is a point, as the CLI takes it):
    a number of kWh >= 0, else an InputError naming the field."""
    allowed = "a number of kWh >= 0 as the display shows it, e.g. 12345.678"
    clean = text.strip().replace(",", ".")
    if not clean:
        raise InputError(
            REGISTER_FIELD, "is empty: type the reading the meter's display shows", allowed=allowed
        )
    try:
        value = float(clean)
    except ValueError:
        raise InputError(REGISTER_FIELD, "is not a number", found=text.strip(), allowed=allowed) from None
    if not math.isfinite(value) or value < 0:
        raise InputError(REGISTER_FIELD, "is not a register reading", found=text.strip(), allowed=allowed)
    return value


class RegisterReadingPrompt(_EnginePrompt):
    """A register point on a meter without a readable port: the technician types the reading its display
    shows (``meterbench run --type-registers``), the source off. ``answered`` carries the kWh, None (no
    reading: this position's register point fails) or ``"abort"`` (Esc)."""

    def __init__(self, position: int, which: str, parent=None) -> None:
        super().__init__(f"Register reading — position {position}", parent)
        head = QLabel(f"Position {position}: type the register's {which.upper()} reading")
        head.setFont(big_font(14, True))
        head.setWordWrap(True)
        self.lay.addWidget(head)
        when = (
            "Read it now, before the register test's load is applied."
            if which == "start"
            else "Read it now that the register test's load has been switched off."
        )
        note = QLabel(
            f"This meter has no readable port. {when} Type the energy register (kWh) exactly as the meter's "
            "display shows it: it is recorded as typed by the technician, and its certificate says so."
        )
        note.setFont(big_font(11))
        note.setWordWrap(True)
        self.lay.addWidget(note)
        form = QFormLayout()
        self.value = QLineEdit()
        self.value.setFont(big_font(14))
        self.value.setPlaceholderText("e.g. 12345.678")
        form.addRow("&Register reading (kWh)", self.value)
        self.lay.addLayout(form)
        self.echo = QLabel("")  # what will be recorded, so 12,345 read as 12.345 is seen before it is sent
        self.echo.setFont(big_font(11))
        self.lay.addWidget(self.echo)
        self.error = QLabel("")
        self.error.setStyleSheet("color:#b00000; font-weight:bold;")
        self.error.setWordWrap(True)
        self.error.hide()
        self.lay.addWidget(self.error)
        self.record = QPushButton("&Record this reading (Enter)")
        self.none = QPushButton("&No reading (this position's register test fails)")
        self.abort = QPushButton("■ ABORT the run (Esc)")
        self.abort.setStyleSheet("background:#b00000; color:white; font-weight:bold; padding:6px;")
        for b in (self.record, self.none, self.abort):
            b.setFont(big_font(12, True))
            b.setMinimumHeight(40)
            self.lay.addWidget(b)
        self.record.setDefault(True)
        self.value.setFocus()
        self.value.textChanged.connect(self._echo)
        self.value.returnPressed.connect(self._record)
        self.record.clicked.connect(self._record)
        self.none.clicked.connect(lambda: self.give(None))
        self.abort.clicked.connect(self._escape)

    def _echo(self, text: str) -> None:
        self.error.hide()  # the error was about what was typed before
        try:
            self.echo.setText(f"Recorded as {register_kwh(text):.10g} kWh")
        except InputError:
            self.echo.setText("")

    def _record(self) -> None:
        try:
            value = register_kwh(self.value.text())
        except InputError as exc:
            self.error.setText(str(exc))
            self.error.show()
            self.value.setFocus()
            return
        self.give(value)

    def _escape(self) -> None:
        self.give("abort")
