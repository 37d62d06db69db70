"""The one worker that talks to instruments, the records store's writers and the certificate issuer.

It is a ``QObject`` moved to its own ``QThread``; widgets reach it only by signals (queued slots), and
it answers only by signals. Two controls are called directly from the GUI thread because they must act
while the worker is busy inside ``engine.run()``: :meth:`BenchWorker.abort` (the engine's abort
de-energises at once from the calling thread) and pause/resume (thread-safe flags).

Engine events do not go through one queued signal each: a 24-position board in virtual time emits
thousands, and one posted event per reading would flood the GUI. :class:`EventPump` queues them and
the GUI drains them in time-boxed batches, so the window keeps painting however fast the engine runs.
"""

from __future__ import annotations

import collections
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
DRAIN_BUDGET_S = 0.012  # GUI time spent per batch of engine events before yielding to painting


class EventPump(QObject):
    """Engine events from the worker thread, delivered to the GUI thread in time-boxed batches."""

    _wake = Signal()
    batch = Signal(object)  # a list of engine events (object: no Qt conversion)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._queue: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._wake.connect(self._drain)  # queued: push() runs in the worker thread

    def push(self, item) -> None:
        """Any thread: queue one item; wakes the GUI thread once per batch, not once per item."""
        with self._lock:
            self._queue.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        """Hand queued items to the GUI in small batches until the time budget is spent, then yield."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < DRAIN_BUDGET_S:
            with self._lock:
                items = [self._queue.popleft() for _ in range(min(8, len(self._queue)))]
                if not items:
                    self._scheduled = False
                    return
            self.batch.emit(items)
        QTimer.singleShot(0, self._drain)  # more queued: let the event loop paint first

    def flush(self) -> None:
        """GUI thread: deliver everything queued now (used when a run ends)."""
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._scheduled = False
        if items:
            self.batch.emit(items)


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
        self.preview_dir = Path(tempfile.mkdtemp(prefix="meterbench-preview-"))

    # ---- controls from the GUI thread --------------------------------------------------------------
    def abort(self, reason: str = "aborted by operator") -> bool:
        """De-energise now (from the caller's thread) and stop the run; True if a run was going."""
        with self._lock:
            engine = self.engine
        if engine is None:
            return False
        engine.abort(reason)
        return True

    def pause(self) -> None:
        with self._lock:
            if self.engine is not None:
                self.engine.pause()

    def resume(self) -> None:
        with self._lock:
            if self.engine is not None:
                self.engine.resume_paused()

    # ---- slots (worker thread) ---------------------------------------------------------------------
    @Slot(str)
    def check_bench(self, bench_file: str) -> None:
        """Open every instrument, ask its identity, leave it safe, close it."""
        from instruments.bench import open_bench

        out: dict = {}
        try:
            bench = open_bench(bench_file, speed=0)
        except Exception as exc:  # noqa: BLE001 - shown to the technician, never a crash
            self.instruments.emit({"bench": {"ok": False, "text": str(exc)}})
            return
        try:
            for role, inst in (("source", bench.source), ("reference", bench.reference)):
                try:
                    out[role] = {"ok": True, "text": inst.identify()}
                except Exception as exc:  # noqa: BLE001
                    out[role] = {"ok": False, "text": str(exc)}
            seen = set()
            for pos, calc in sorted(bench.calculators.items()):
                key = id(getattr(calc, "rack", calc))
                if key in seen:
                    continue
                seen.add(key)
                try:
                    calc.poll()
                    out[f"calculator {pos}"] = {"ok": True, "text": calc.name}
                except Exception as exc:  # noqa: BLE001
                    out[f"calculator {pos}"] = {"ok": False, "text": str(exc)}
        finally:
            bench.safe_state()
            try:
                self.source_state.emit("on" if bench.source.output_is_on() else "off")
            except Exception:  # noqa: BLE001
                self.source_state.emit("unknown")
            bench.close()
        self.instruments.emit(out)

    @Slot(object)
    def run(self, job: RunJob) -> None:
        """Run a plan (blocking this thread, not the window); every path out leaves the source off."""
        from bench.engine import EngineSettings
        from bench.session import RunRequest, execute

        settings = EngineSettings(
            wiring_overrides=dict(job.wiring_overrides), allow_overdue=job.allow_overdue
        )
        req = RunRequest(bench_file=job.bench_file, plan=job.plan, meters=job.meters, operator=job.operator,
                         settings=settings, speed=job.speed)  # fmt: skip

        def on_engine(engine) -> None:
            engine.bench.source = WatchedSource(engine.bench.source, self.source_state.emit)
            with self._lock:
                self.engine, self.bench = engine, engine.bench
            for hook in self.engine_hooks:
                hook(engine)

        def listener(ev) -> None:
            if ev.kind == "run_started":
                self.run_started.emit(ev.run_id)
            self.pump.push(ev)
            # Give the interpreter to the GUI thread for a moment: in virtual time the engine never waits
            # on anything, and without this the window queues behind it for the GIL.
            time.sleep(YIELD_S)

        try:
            outcome, _ = execute(req, [listener, *self.listeners], store=self.store, on_engine=on_engine)
        except InputError as exc:
            self.run_failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - the engine already de-energised; tell the technician
            self.run_failed.emit(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
        else:
            self.run_finished.emit(outcome)
        finally:
            with self._lock:
                self.engine = None
            # bench.close() already put the source in its safe state and reported what it read back

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
        from reports.issue import issue_certificate

        try:
            signer = None
            if job.identity:
                from reports.signing import load_signer

                signer = load_signer(job.identity, passphrase=job.passphrase.encode("utf-8"))
            data = self._certificate_data(job)
            cert = issue_certificate(data, job.out_dir, signer=signer)
            self.store.record_certificate(job.run_id, job.position, number=cert.certificate_number,
                                          content_hash=cert.content_hash, pdf_path=str(cert.pdf_path),
                                          dcc_path=str(cert.dcc_path) if cert.dcc_path else None)  # fmt: skip
            self.issued.emit(job, str(cert.pdf_path))
        except Exception as exc:  # noqa: BLE001
            self.cert_failed.emit(job, str(exc))


def render_pages(pdf: Path, out_dir: Path, dpi: int = 60) -> list[str]:
    """PNG images of a PDF's pages with poppler's pdftoppm; [] when it is not installed (caller shows the
    path and offers to open the PDF externally). QtPdf is not part of PySide6-Essentials."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return []
    stem = out_dir / f"{pdf.stem}-{time.monotonic_ns()}"
    subprocess.run([exe, "-png", "-r", str(dpi), str(pdf), str(stem)], check=True, capture_output=True,
                   timeout=60)  # fmt: skip
    return sorted(str(p) for p in out_dir.glob(f"{stem.name}*.png"))
