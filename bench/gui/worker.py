"""The one worker that talks to instruments, the records store's writers and the certificate issuer.

It is a ``QObject`` moved to its own ``QThread``; widgets reach it only by signals (queued slots), and
it answers only by signals. Three controls are called directly from the GUI thread because they must act
while the worker is busy inside ``engine.run()``: :meth:`BenchWorker.abort` (the engine's abort
de-energises at once from the calling thread, then releases any question the engine is waiting on),
pause/resume (thread-safe flags) and :meth:`Question.reply`.

Why the window stays responsive while the engine runs flat out in virtual time (measured by
``benchmarks/bench_gui_stall.py``): the engine thread and the GUI thread share one interpreter lock, and
every time Qt calls into Python (a slot, an event filter, a Python paint method) the GUI thread may wait
up to the interpreter's switch interval for it. So the GUI is called into Python rarely: engine events are
not one queued signal each but are queued in :class:`EventPump` and drained by a GUI timer a few dozen
times a second, in time-boxed batches; the bench is opened and checked before Start, not at Start; and
the keyboard-wedge filter watches the window, not every event of the application.
"""

from __future__ import annotations

import collections
import getpass
import os
import shutil
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from procedures.errors import InputError

YIELD_S = 0.001  # the worker's pause per engine event (virtual time would otherwise starve the window)
DRAIN_EVERY_MS = 40  # the GUI takes queued engine events this often (25 times a second) ...
DRAIN_BUDGET_S = 0.006  # ... for at most this long each time (then the board is redrawn once)


class EventPump(QObject):
    """Engine events from the worker thread, taken by the GUI thread in time-boxed batches on a timer.

    The worker only appends to a queue (no signal per event): the GUI decides when to look, so a burst of
    thousands of events costs the window a few batches, not thousands of wake-ups.
    """

    batch = Signal(object)  # a list of engine events (object: no Qt conversion)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._queue: collections.deque = collections.deque()
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_EVERY_MS)
        self._timer.timeout.connect(self._drain)

    def push(self, item) -> None:
        """Any thread: queue one item (deque appends are atomic)."""
        self._queue.append(item)

    def pending(self) -> bool:
        """Events are still queued (the GUI has not shown them yet)."""
        return bool(self._queue)

    def start(self) -> None:
        """GUI thread: start taking events (a run is starting)."""
        self._timer.start()

    def stop(self) -> None:
        """GUI thread: deliver what is left and stop the timer (the run has ended)."""
        self._timer.stop()
        self.flush()

    @Slot()
    def _drain(self) -> None:
        """Show what is queued, until the budget is spent: one batch, so the board is redrawn once."""
        if not self._queue:
            return
        deadline = time.perf_counter() + DRAIN_BUDGET_S

        def until_the_budget_is_spent():
            while self._queue and time.perf_counter() < deadline:
                yield self._queue.popleft()

        self.batch.emit(until_the_budget_is_spent())

    def flush(self) -> None:
        """GUI thread: deliver everything queued now (before a question or the end of a run)."""
        items = []
        while self._queue:
            items.append(self._queue.popleft())
        if items:
            self.batch.emit(items)


@dataclass(eq=False)
class Question:
    """Something the engine thread asks the technician, with the source off; it waits for the answer.

    ``kind`` is "as-left" (answer: True = test the as-left pass, False = skip it), "wiring" (answer: the
    operator's reason to carry on, or None to let the finding stop ``position``; None = the board) or
    "register" (answer: the kWh the technician typed from ``position``'s display, or None: no reading).
    An abort cancels the question, which ends the run as aborted.
    """

    kind: str
    position: int | None = None
    findings: list = field(default_factory=list)
    which: str = ""  # "register": the reading asked for, "start" or "end" (answer: kWh, or None)
    answer: object = None
    cancelled: str = ""  # the abort reason, when an abort released the wait
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def reply(self, answer) -> None:
        """Any thread (the GUI): answer once; later answers are ignored."""
        if not self._done.is_set():
            self.answer = answer
            self._done.set()

    def cancel(self, reason: str) -> None:
        if not self._done.is_set():
            self.cancelled = reason or "aborted"
            self._done.set()

    @property
    def answered(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)


class WatchedSource:
    """The bench's source, reporting every output switch (and the state read back) to the GUI.

    The ENERGISED indicator shows what the source answered after each switch, not what was asked.
    """

    def __init__(self, source, notify) -> None:
        self._source = source
        self._notify = notify

    def __getattr__(self, name):
        return getattr(self._source, name)

    def _report(self) -> None:
        try:
            state = "on" if self._source.output_is_on() else "off"
        except Exception:  # noqa: BLE001 - an unknown state is shown as unknown, never as OFF
            state = "unknown"
        self._notify(state)

    def output_on(self) -> None:
        try:
            self._source.output_on()
        finally:
            self._report()

    def output_off(self) -> None:
        try:
            self._source.output_off()
        finally:
            self._report()

    def safe_state(self) -> None:
        try:
            self._source.safe_state()
        finally:
            self._report()


@dataclass
class RunJob:
    """Everything one run from the window needs (validated meters, plan id, settings)."""

    bench_file: str
    plan: str
    meters: list
    operator: str
    speed: float | None
    wiring_overrides: dict = field(default_factory=dict)
    allow_overdue: bool = False
    passes: tuple[str, ...] = ("as-found",)
    warmup_s: float = 0.0
    retest: dict | None = None  # RunKernel.retest's arguments: test one point of a recorded run again
    resume_run: int | None = None  # finish this interrupted run (its recorded points are not repeated)
    other_bench: str = ""  # resume on other instruments than the run started on: the technician's reason
    type_registers: bool = False  # register points on a meter without a readable port: ask for the readings
    json_out: str | None = None  # write the run JSON here when the run ends (README: 'The run JSON')
    environment: dict = field(default_factory=dict)  # temperature_c, humidity_pct as measured at the bench


@dataclass(frozen=True)
class CertJob:
    """Preview or issue the certificate of one position of a recorded run."""

    run_id: int
    position: int
    approver: str = ""
    out_dir: str = ""
    identity: str = ""  # signing identity file (.p12); "" = unsigned
    passphrase: str = ""
    lab_file: str = ""


class BenchWorker(QObject):
    """All instrument I/O and heavy work of the window, in one thread."""

    source_state = Signal(str)  # "on", "off" or "unknown" (what the source answered)
    instruments = Signal(object)  # {role: {"ok": bool, "text": str}}
    run_started = Signal(int)
    run_finished = Signal(object)  # RunOutcome
    run_failed = Signal(str)  # could not start or crashed: the message (InputError text)
    other_bench = Signal(object, str)  # a resume refused on other instruments: the RunJob, why (one line)
    question = Signal(object)  # a Question the engine thread is waiting on
    preview_ready = Signal(object, object, str)  # CertJob, [png paths], pdf path
    issued = Signal(object, str)  # CertJob, pdf path
    cert_failed = Signal(object, str)

    def __init__(self, store, pump: EventPump) -> None:
        super().__init__()
        self.store = store
        self.pump = pump
        self.engine = None
        self.bench = None  # the open bench during a run (tests inspect bench.source / bench.simulator)
        self.engine_hooks: list = []  # callables(engine), run in the worker before the run starts (tests)
        self.listeners: list = []  # extra synchronous engine listeners (tests, benchmarks)
        self._lock = threading.Lock()
        self._ready: tuple[tuple, object] | None = None  # (key, bench) opened and checked before Start
        self._questions: set[Question] = set()
        self._abort_reason = ""
        self.preview_dir = Path(tempfile.mkdtemp(prefix="meterbench-preview-"))

    # ---- controls from the GUI thread --------------------------------------------------------------
    def abort(self, reason: str = "aborted by operator") -> bool:
        """De-energise now (from the caller's thread) and stop the run; True if a run was going.

        The source goes off first; only then is a question the engine waits on released.
        """
        with self._lock:
            engine = self.engine
            self._abort_reason = reason
            questions = list(self._questions)
        if engine is not None:
            engine.abort(reason)
        for q in questions:
            q.cancel(reason)
        return engine is not None

    def arm(self) -> None:
        """GUI thread, before requesting a run: forget the last run's abort (an Esc from now on counts)."""
        with self._lock:
            self._abort_reason = ""

    def pause(self) -> None:
        with self._lock:
            if self.engine is not None:
                self.engine.pause()

    def resume(self) -> None:
        with self._lock:
            if self.engine is not None:
                self.engine.resume_paused()

    # ---- the bench, opened ahead of Start ----------------------------------------------------------
    @staticmethod
    def _bench_key(bench_file: str, speed: float | None) -> tuple:
        try:
            stamp = os.stat(bench_file).st_mtime_ns
        except OSError:
            stamp = None
        return (os.path.abspath(bench_file), stamp, speed)

    def _release_ready(self) -> None:
        if self._ready is not None:
            _, bench = self._ready
            self._ready = None
            bench.close()

    @Slot(str, object)
    def check_bench(self, bench_file: str, speed: float | None) -> None:
        """Open every instrument, ask its identity, leave it safe, and keep the bench open for the next Start.

        Opening a bench (drivers, VISA sessions, a simulator's device files) is the slow part of starting a
        run; done here, Start only builds the engine. A bench file changed on disk is opened again at Start.
        """
        from bench.service import RunService
        from instruments.bench import open_bench

        self._release_ready()
        out: dict = {}
        healthy = False
        try:
            bench = open_bench(bench_file, speed=speed)
        except Exception as exc:  # noqa: BLE001 - shown to the technician, never a crash
            self.instruments.emit({"bench": {"ok": False, "text": str(exc)}})
            return
        try:
            out, healthy = RunService.check_bench(bench)
        finally:
            try:
                self.source_state.emit("on" if bench.source.output_is_on() else "off")
            except Exception:  # noqa: BLE001
                self.source_state.emit("unknown")
                healthy = False
        if healthy:
            self._ready = (self._bench_key(bench_file, speed), bench)
        else:
            bench.close()  # Start opens it again and reports what fails, in the run's own words
        self.instruments.emit(out)

    @Slot()
    def close_bench(self) -> None:
        """Put the open bench in its safe state and close it (window closing, settings changed)."""
        self._release_ready()

    def _open_for_run(self, job: RunJob, config):
        from instruments.bench import open_bench

        if self._ready is not None and self._ready[0] == self._bench_key(job.bench_file, job.speed):
            bench = self._ready[1]
            self._ready = None
            return bench
        self._release_ready()
        return open_bench(config, speed=job.speed)

    # ---- questions to the technician (engine thread) ----------------------------------------------
    def _ask(self, engine, q: Question):
        """Ask in the window and block this thread (not the window) for the answer; an abort ends the wait."""
        from bench.kernel import AbortRequested

        with self._lock:
            if self._abort_reason:
                raise AbortRequested(self._abort_reason)
            self._questions.add(q)
        self.question.emit(q)
        try:
            q.wait(None)  # the engine holds its watchdog while a person answers; an abort cancels q
        finally:
            with self._lock:
                self._questions.discard(q)
        if q.cancelled:
            raise AbortRequested(q.cancelled)
        return q.answer

    # ---- slots (worker thread) ---------------------------------------------------------------------
    @Slot(object)
    def run(self, job: RunJob) -> None:
        """Run a plan (blocking this thread, not the window); every path out leaves the source off."""
        from bench.kernel import KernelSettings
        from bench.service import RunService
        from bench.session import RunRequest, prepare

        engine_box: list = []
        settings = KernelSettings(
            wiring_overrides=dict(job.wiring_overrides),
            allow_overdue=job.allow_overdue,
            passes=tuple(job.passes),
            warmup_s=job.warmup_s,
            other_bench=job.other_bench,
            adjust=lambda: bool(self._ask(engine_box[0], Question("as-left"))),
            wiring_decision=lambda pos, findings: self._ask(
                engine_box[0], Question("wiring", pos, list(findings))
            ),
        )
        if job.type_registers:  # as `meterbench run --type-registers`: asked with the source off
            settings.register_entry = lambda pos, which: self._ask(
                engine_box[0], Question("register", pos, which=which)
            )

        def listener(ev) -> None:
            if ev.kind == "run_started":
                self.run_started.emit(ev.run_id)
            self.pump.push(ev)
            # Give the interpreter to the GUI thread for a moment: in virtual time the engine never waits
            # on anything, and without this the window queues behind it for the GIL.
            time.sleep(YIELD_S)

        bench = None
        try:
            req = RunRequest(
                bench_file=job.bench_file,
                plan=job.plan,
                meters=job.meters,
                operator=job.operator or _whoami(),
                json_out=job.json_out,
                settings=settings,
                speed=job.speed,
                environment=job.environment,
            )
            prep = prepare(req)
            bench = opened = self._open_for_run(job, prep.config)
            bench.source = WatchedSource(bench.source, self.source_state.emit)

            def on_kernel(engine) -> None:
                engine_box.append(engine)
                with self._lock:
                    self.engine, self.bench = engine, opened
                    aborted = self._abort_reason
                if aborted:  # Esc between Start and here: the kernel never energises
                    engine.abort(aborted)
                for hook in self.engine_hooks:
                    hook(engine)

            bench = None  # the service closes it (safe state first), on every path
            outcome = RunService(self.store).execute(
                req,
                [listener, *self.listeners],
                bench=opened,
                on_kernel=on_kernel,
                resume_run=job.resume_run,
                retest=job.retest,
            )
        except InputError as exc:
            if _refused_elsewhere(job, exc):  # nothing was energised: the window asks for a reason
                self.other_bench.emit(job, exc.problem)
            else:
                self.run_failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - the engine already de-energised; tell the technician
            self.run_failed.emit(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
        else:
            self.run_finished.emit(outcome)
        finally:
            with self._lock:
                self.engine = None
            if bench is not None:
                bench.close()  # safe state first (WatchedSource reports what it read back), then connections

    def _certificate_data(self, job: CertJob):
        from bench.certify import build_certificate_data
        from reports.labconfig import load_laboratory

        record = self.store.run_record(job.run_id)
        lab = load_laboratory(job.lab_file) if job.lab_file else None
        return build_certificate_data(record, job.position, lab=lab, approved_by=job.approver or None)

    @Slot(object)
    def preview(self, job: CertJob) -> None:
        """A draft of the certificate (not issued, not recorded) rendered to page images."""
        from reports.certificate import render_certificate

        try:
            data = self._certificate_data(job)
            pdf = self.preview_dir / f"draft-{job.run_id}-{job.position}.pdf"
            pdf.write_bytes(render_certificate(data))
            self.preview_ready.emit(job, render_pages(pdf, self.preview_dir), str(pdf))
        except Exception as exc:  # noqa: BLE001
            self.cert_failed.emit(job, str(exc))

    @Slot(object)
    def preview_file(self, job: CertJob) -> None:
        """Page images of an already issued certificate (``job.out_dir`` holds the PDF path)."""
        try:
            self.preview_ready.emit(job, render_pages(Path(job.out_dir), self.preview_dir), job.out_dir)
        except Exception as exc:  # noqa: BLE001
            self.cert_failed.emit(job, str(exc))

    @Slot(object)
    def issue(self, job: CertJob) -> None:
        """Issue (and sign, with an identity) the certificate and record it against the run."""
        from bench.service import RunService
        from reports.labconfig import load_laboratory

        try:
            signer = None
            if job.identity:
                from reports.signing import load_signer

                signer = load_signer(job.identity, passphrase=job.passphrase.encode("utf-8"))
            lab = load_laboratory(job.lab_file) if job.lab_file else None
            cert = RunService(self.store).issue_one(
                job.run_id,
                job.position,
                job.out_dir,
                signer=signer,
                lab=lab,
                approved_by=job.approver or None,
            )
            self.issued.emit(job, str(cert.pdf_path))
        except Exception as exc:  # noqa: BLE001
            self.cert_failed.emit(job, str(exc))


def _refused_elsewhere(job: RunJob, exc: InputError) -> bool:
    """The resume was refused because this bench is not the one the run started on, and no reason was
    given (the kernel's refusal names the field ``bench`` and offers ``--other-bench``)."""
    return (
        job.resume_run is not None
        and not job.other_bench
        and exc.field == "bench"
        and "--other-bench" in (exc.allowed or "")
    )


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def render_pages(pdf: Path, out_dir: Path, dpi: int = 60) -> list[str]:
    """PNG images of a PDF's pages with poppler's pdftoppm; [] when it is not installed (caller shows the
    path and offers to open the PDF externally). QtPdf is not part of PySide6-Essentials."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return []
    stem = out_dir / f"{pdf.stem}-{time.monotonic_ns()}"
    subprocess.run(
        [exe, "-png", "-r", str(dpi), str(pdf), str(stem)], check=True, capture_output=True, timeout=60
    )
    return sorted(str(p) for p in out_dir.glob(f"{stem.name}*.png"))
