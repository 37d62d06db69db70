"""The run kernel: runs a plan on a bench for every loaded position. Qt-free.

It alone owns the run's state (a declared table, :mod:`bench.kernel.states`), the bench's safety
(de-energise on every path out: source off FIRST, then confirmed), the watchdog and the store's
heartbeat, pause and abort, questions to the technician (asked only with the source off), and the
bookkeeping of a resumed or retested run. What a point *is* belongs to its test kind
(:mod:`bench.kinds`), which sees the run only through a :class:`~bench.kernel.context.RunContext`.
It never sleeps blindly: it waits on measured stability and on the calculators' status, on the bench
clock (virtual time in simulation).

Every reading is committed to the records store as it is taken: the store is the first subscriber of
the record stream (:mod:`bench.kernel.records`). Display subscribers (the CLI, the GUI) hear a record
after it is committed; one that raises is logged and the run goes on. A store that fails ends the run
as "error", outputs off.

Sign convention: %R = 100 x meter energy / reference energy; error = %R - 100 (positive: meter fast).
Every error is computed from the raw pulse counts (meter pulses x Kt against reference pulses x Kr x
elements in series), never from a simulator's truth; the instrument's own figure is kept only to
cross-check.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

from bench.kernel import bookkeeping, registry
from bench.kernel import records as r
from bench.kernel.context import RunContext
from bench.kernel.gates import GateRunner
from bench.kernel.settings import KernelSettings
from bench.kernel.source import energise, stabilise
from bench.kernel.states import (
    RUN_TRANSITIONS,
    AbortRequested,
    Position,
    RunOutcome,
    RunState,
    StateMachine,
)
from bench.meters import LoadedMeter
from bench.safety import UNCONFIRMED, Watchdog, de_energise
from instruments.errors import InstrumentError, InstrumentFault
from instruments.interfaces import Bench, ReferenceReading
from procedures.errors import InputError
from procedures.plans import Plan, ResolvedPlan

log = logging.getLogger(__name__)

PASSES = ("as-found", "as-left")

Listener = Callable[[r.Record], None]


class RunKernel:
    """Runs one plan for the meters on one board. Thread-safe controls: pause, resume_paused, abort."""

    def __init__(
        self,
        bench: Bench,
        store,
        plan: Plan,
        meters: Iterable[LoadedMeter],
        *,
        operator: str = "",
        settings: KernelSettings | None = None,
        listeners: Iterable[Listener] = (),
        environment: dict | None = None,
    ) -> None:
        self.bench = bench
        self.store = store
        self.plan = plan
        self.meters = sorted(meters, key=lambda m: m.position)
        self.operator = operator
        self.settings = settings or KernelSettings()
        self.listeners = list(listeners)
        self.environment = environment or {}
        self.run_id: int | None = None
        self.positions: dict[int, Position] = {}
        self.resolved: ResolvedPlan | None = None
        self.machine = StateMachine(RUN_TRANSITIONS, RunState.PREPARING)
        self.io = threading.RLock()  # one caller on the instruments at a time (watchdog, GUI abort)
        self.done: set[tuple[int, str, str]] = set()
        self.gate_runner = GateRunner(self)
        self.harmonics_on = False  # the source carries a harmonic point's harmonics (source.energise)
        self.source_checked = 0.0  # bench time the source last said it holds its output (sleep)
        self.expect_on = False  # the kernel switched the source on and has not switched it off since
        registry.kinds()  # load the kind plug-ins now, not in the middle of the run
        self.context = RunContext(self)
        self.writer = None
        self.only: set[int] | None = None  # a retest works on these positions only
        self.retest_reasons: dict[int, str] = {}  # position -> the reason it is retested
        self.earlier: dict[tuple[int, str, str], int] = {}  # (position, point, pass) -> the row retested
        self.prior = (0.0, 0.0)  # bench and wall seconds the run already took (retest)
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._abort_reason = ""
        self._watchdog: Watchdog | None = None
        self._t0_bench = 0.0
        self._held: list | None = None  # records of an atomic moment, shown once it is committed

    # ---- controls (any thread) -------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return self.machine.state

    def pause(self) -> None:
        """Pause at the next safe point (between readings). The source stays as it is."""
        self._pause.set()

    def resume_paused(self) -> None:
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def abort(self, reason: str = "aborted by operator") -> None:
        """Stop now: de-energise immediately (from the caller's thread), then end the run."""
        self._abort_reason = reason
        self._abort.set()
        self._pause.clear()
        # Outputs off right away, not at the kernel's next safe point: an abort is a safety action. Take
        # the instrument lock if the run lets go of it within a moment (no interleaved bytes on a shared
        # session); if a query is hung, switch off anyway - safety before protocol hygiene.
        got = self.io.acquire(timeout=0.5)
        try:
            de_energise(self.bench)
        finally:
            if got:
                self.io.release()

    # ---- entry points ----------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Start a new run."""
        bookkeeping.prepare(self)
        self.run_id = bookkeeping.open_run(self)
        return self._execute()

    def resume(self, run_id: int) -> RunOutcome:
        """Finish an interrupted run: recorded points are kept and not repeated."""
        bookkeeping.prepare(self)
        self.run_id = run_id
        record = self.store.run_record(run_id)
        elsewhere = bookkeeping.same_bench(self, record)  # refused on another bench unless a reason is given
        bookkeeping.restore(self, record)
        self.store.mark_resumed(run_id, elsewhere=elsewhere)
        return self._execute()

    def retest(
        self,
        run_id: int,
        point_id: str,
        *,
        reason: str,
        positions: Iterable[int] | None = None,
        test_pass: str | None = None,
    ) -> RunOutcome:
        """Test one point of a finished run again, on some or all of its positions.

        The earlier result stays in the records (``run_record(...)["superseded"]``) and on the
        certificate as retested; the new one is the result. Averages are recomputed, then each retested
        position's outcome and the run's outcome follow from the current results.
        """
        point, test_pass, chosen = bookkeeping.prepare_retest(
            self, run_id, point_id, reason, positions, test_pass
        )

        def body() -> None:
            self.machine.to(RunState.RUNNING)
            self.publish(
                [
                    r.RetestStarted(
                        point_id=point.id, positions=tuple(chosen), test_pass=test_pass, reason=reason.strip()
                    )
                ]
            )
            self.safe_point()
            self._run_point(point, test_pass)
            bookkeeping.averages(self)
            bookkeeping.judge_from_record(self)

        return self._execute(body)

    # ---- the run ---------------------------------------------------------------------------------
    def _execute(self, body: Callable[[], None] | None = None) -> RunOutcome:
        assert self.run_id is not None and self.resolved is not None
        from bench.kernel.store_writer import StoreWriter

        outcome, message, end, reraise = "error", "", RunState.ERROR, None
        t0_wall, self._t0_bench = time.monotonic(), self.bench.clock.now()
        try:  # from the first moment: a Ctrl-C or SIGTERM anywhere from here de-energises and is recorded
            self.writer = StoreWriter(self.store, self.run_id)
            self._watchdog = Watchdog(
                self.bench,
                self.settings.watchdog_s,
                on_trip=self._watchdog_trip,
                heartbeat=self._heartbeat,
                heartbeat_s=self.settings.heartbeat_s,
            ).start()
            # start from the safe state, whatever the last run left; a source that cannot confirm it is
            # not energised at all; a Ctrl-C meanwhile is not swallowed (it stops the run once safe)
            if any(str(e).startswith(UNCONFIRMED) for e in de_energise(self.bench, interruptible=True)):
                raise InstrumentError(self.bench.source.name, "output_off", None, UNCONFIRMED)
            self.publish([r.RunStarted(plan=self.resolved.plan_id, positions=tuple(sorted(self.positions)))])
            self.machine.to(RunState.PRE_CHECK)
            bookkeeping.precheck(self)
            (body or self._plan_body)()
            failed = any(p.stopped or p.state == "failed" for p in self.positions.values())
            outcome, end = ("failed" if failed else "passed"), RunState.FINISHED
        except AbortRequested:
            outcome, message, end = "aborted", self._abort_reason, RunState.ABORTED
        except KeyboardInterrupt as exc:
            outcome, message, end = "interrupted", "interrupted (Ctrl-C or signal)", RunState.INTERRUPTED
            reraise = exc
        except (InstrumentError, InputError) as exc:
            outcome, message = "error", str(exc)
        except BaseException as exc:
            outcome, message, reraise = "error", f"{type(exc).__name__}: {exc}", exc
        finally:
            safety = de_energise(self.bench)  # FIRST, on every path out: nothing is recorded before it
            self.expect_on = False
            if self._watchdog:
                self._watchdog.stop()
        if any(str(e).startswith(UNCONFIRMED) for e in safety) and end is not RunState.INTERRUPTED:
            outcome, end = "error", RunState.E_STOP
            message = f"E-STOP: {UNCONFIRMED}" + (f" ({message})" if message else "")
        self.machine.to(end)
        result = self._finish(outcome, message, t0_wall)
        if reraise is not None:
            raise reraise
        return result

    def _plan_body(self) -> None:
        self._warmup()
        self.machine.to(RunState.RUNNING)
        for test_pass in self.settings.passes:
            if test_pass not in PASSES:
                raise InputError("passes", "unknown test pass", allowed=PASSES, found=test_pass)
            if test_pass == "as-left" and not self._before_as_left():
                continue
            for point in self.resolved.points:
                self.safe_point()
                self._run_point(point, test_pass)
        bookkeeping.averages(self)

    def _run_point(self, point, test_pass: str) -> None:
        from bench.kernel.registry import get_kind

        kind = get_kind(point.kind, where=f"points.{point.id}.kind")
        if test_pass not in kind.passes:
            return
        todo = [p for p in self.active() if (p, point.id, test_pass) not in self.done]
        if todo:
            kind.run(self.context, point, test_pass, todo)

    def _finish(self, outcome: str, message: str, t0_wall: float) -> RunOutcome:
        bench_s = self.bench.clock.now() - self._t0_bench + self.prior[0]
        wall_s = time.monotonic() - t0_wall + self.prior[1]
        ends = []
        for pos, st in self.positions.items():
            if self.only is not None and pos not in self.only:
                continue  # a retest leaves the other positions' recorded outcomes alone
            if st.state in ("loaded", "testing"):
                passed = outcome in ("passed", "failed")
                st.to("passed" if passed else outcome)
                st.message = st.message or ("every result within its limit" if passed else message)
            ends.append(r.PositionOutcome(position=pos, state=st.state, message=st.message))
        try:
            self.publish(ends, show=False)
        except Exception:  # noqa: BLE001 - the run is over and safe; its end is still recorded below
            log.exception("recording the positions' outcomes")
        if outcome == "interrupted":
            try:  # shown as interrupted at once (with its resume command), not "running" until recovered
                self.store.mark_interrupted(self.run_id)
            except Exception:  # noqa: BLE001 - recovery on the next open still finds the dead run
                log.exception("marking the run interrupted")
        else:
            used = getattr(self.bench, "unconfirmed_used", None)
            self.store.finish_run(
                self.run_id,
                outcome,
                bench_seconds=bench_s,
                wall_seconds=wall_s,
                unconfirmed=used() if callable(used) else (),
            )
        result = RunOutcome(
            self.run_id, outcome, {p: s.state for p, s in self.positions.items()}, bench_s, wall_s, message
        )
        self.publish(
            [r.RunFinished(outcome=outcome, message=message, bench_seconds=bench_s, wall_seconds=wall_s)]
        )
        return result

    def _watchdog_trip(self) -> None:
        self._abort_reason = f"watchdog: engine stalled for more than {self.settings.watchdog_s:g} s"
        self._abort.set()

    def _heartbeat(self) -> None:
        if self.run_id is not None:
            self.store.heartbeat(self.run_id)

    # ---- the record stream -----------------------------------------------------------------------
    def publish(self, records, *, show: bool = True) -> None:
        """The store first (one commit), then every display subscriber; a failing display is logged."""
        now = self.bench.clock.now() - self._t0_bench
        recs = [_stamp(rec, self.run_id or 0, now) for rec in records]
        writer = self.writer
        if writer is not None and any(type(x) in writer.handles for x in recs):
            with writer.batch():
                for rec in recs:
                    writer(rec)
        for rec in recs:
            if type(rec) is r.PointResult or type(rec) is r.RegisterResult:
                self.done.add((rec.position, rec.point_id, rec.test_pass))
                if type(rec) is r.RegisterResult:
                    self.done.add((rec.position, rec.constant.point_id, rec.test_pass))
            elif type(rec) is r.CountResult:
                self.done.add((rec.position, rec.point_id, rec.test_pass))
        if not show:
            return
        if self._held is not None:
            self._held.extend(recs)
            return
        self._show(recs)

    def _show(self, recs) -> None:
        for rec in recs:
            if rec.kind is None or (type(rec) is r.PointResult and not rec.shown):
                continue
            for listener in self.listeners:
                try:
                    listener(rec)
                except Exception:  # noqa: BLE001 - a display's fault does not end a run; Ctrl-C does
                    log.exception("display subscriber %r failed on %s", listener, rec.kind)

    @contextlib.contextmanager
    def atomic(self):
        """What is published inside is one moment of the record: committed together (a crash leaves all
        of it or none, so a resume never finds a failure without the stop it caused), shown after."""
        if self._held is not None or self.writer is None:
            yield
            return
        self._held = []
        try:
            with self.writer.batch():
                yield
            held = self._held
        finally:
            self._held = None
        self._show(held)

    def opened(self, position: int, point, test_pass: str, planned: dict) -> r.PointOpened:
        if position in self.retest_reasons:
            planned = {
                **planned,
                "retest_of": self.earlier.get((position, point.id, test_pass)),
                "retest_reason": self.retest_reasons[position],
            }
        return r.PointOpened(
            position=position, point_id=point.id, point=point, test_pass=test_pass, planned=planned
        )

    def stop_position(self, pos: int, state: str, message: str) -> None:
        st = self.positions[pos]
        st.to(state, message)
        st.stopped = True
        self.publish([r.PositionStopped(position=pos, state=state, message=message)])

    def fail_verdict(self, pos: int) -> None:
        st = self.positions[pos]
        st.to("failed")
        st.message = st.message or "a result is outside its limit"

    def active(self) -> list[int]:
        return [
            p for p, st in self.positions.items() if not st.stopped and (self.only is None or p in self.only)
        ]

    def active_set(self) -> set[int]:
        return set(self.active())

    # ---- safe points, sleeping, people -------------------------------------------------------------
    def safe_point(self) -> None:
        """Where the run may pause or stop: between readings and points."""
        if self._watchdog:
            self._watchdog.kick()
        if self._abort.is_set():
            raise AbortRequested(self._abort_reason)
        if self._pause.is_set() and self.machine.can(RunState.PAUSED):
            was = self.machine.state
            self.machine.to(RunState.PAUSED)
            self.publish([r.Paused()])
            while self._pause.is_set() and not self._abort.is_set():
                if self._watchdog:
                    self._watchdog.kick()
                time.sleep(0.02)  # wall time: waiting for a person, not for the bench
            if self._abort.is_set():
                raise AbortRequested(self._abort_reason)
            self.machine.to(was)
            self.publish([r.Resumed()])

    def sleep(self, seconds: float) -> None:
        """Sleep in bench time in slices, so abort and the watchdog stay responsive; every
        ``health_check_s`` the source is asked whether it holds its output (a source that tripped raises
        InstrumentFault, one that went silent InstrumentError: the run stops and de-energises now)."""
        clock = self.bench.clock
        end = clock.now() + seconds
        while True:
            self.safe_point()
            now = clock.now()
            if now - self.source_checked >= self.settings.health_check_s:
                self._source_holds()
                self.source_checked = now
            left = end - now
            if left <= 0:
                return
            clock.sleep(min(left, 1.0))

    def _source_holds(self) -> None:
        """A source that tripped raises InstrumentFault (the driver's own words), one gone silent an
        InstrumentError; one whose output is simply off while the kernel left it on is a fault too."""
        with self.io:
            on = self.bench.source.output_is_on()
        if self.expect_on and not on:
            self.expect_on = False
            raise InstrumentFault(
                self.bench.source.name,
                "output_is_on",
                None,
                "the source's output went off during the test (it tripped, or was switched off at the bench)",
            )

    def ask(self, question: Callable, *args):
        """A person decides, with the source off (switched off here, and confirmed); the watchdog does not
        count the wait as a stall, and the heartbeat goes on."""
        self.source_off()
        with self.io:
            if self.bench.source.output_is_on():
                raise InstrumentError(
                    self.bench.source.name,
                    "output_off",
                    None,
                    "the source did not confirm its output is off: not asking anyone to touch the board",
                )
        was = self.machine.state
        self.machine.to(RunState.WAITING_FOR_PERSON)
        try:
            with self._watchdog.waiting_for_person() if self._watchdog else contextlib.nullcontext():
                return question(*args)
        finally:
            self.machine.to(was)

    # ---- pre-checks and warm-up ------------------------------------------------------------------
    def _warmup(self) -> None:
        if self.settings.warmup_s <= 0 or not self.pending(("as-found",)):
            return
        rp = self.resolved
        self.machine.to(RunState.WARM_UP)
        self.publish([r.WarmUp(seconds=self.settings.warmup_s)])
        self.energise(rp.voltage_v, rp.ta_a, 0.0, "series")
        end = self.bench.clock.now() + self.settings.warmup_s
        while self.bench.clock.now() < end:
            self.safe_point()
            self.bench.clock.sleep(min(1.0, end - self.bench.clock.now()))
        self.source_off()

    def pending(self, passes) -> bool:
        """True unless every position has every point of these passes recorded (resume)."""
        if not self.done:
            return True
        return any(
            (pos, p.id, tp) not in self.done
            for pos in self.active()
            for tp in passes
            for p in self.resolved.points
        )

    def _before_as_left(self) -> bool:
        if not self.pending(("as-left",)):
            return True
        self.expect_on = False
        de_energise(self.bench)
        return bool(self.ask(self.settings.adjust)) if self.settings.adjust else True

    # ---- the source: only the kernel switches it ---------------------------------------------------
    def energise(self, *load) -> None:
        """(voltage, current, lag, element[, frequency_hz, harmonics]): see bench.kernel.source.energise."""
        energise(self, *load)

    def source_off(self) -> None:
        self.expect_on = False
        with self.io:
            self.bench.source.output_off()

    def stabilise(self, expected_current: float) -> ReferenceReading:
        """Wait until successive reference readings agree (measured, not a blind sleep)."""
        return stabilise(self, expected_current)


def _stamp(rec: r.Record, run_id: int, bench_time: float) -> r.Record:
    object.__setattr__(rec, "run_id", run_id)
    object.__setattr__(rec, "bench_time", bench_time)
    return rec
