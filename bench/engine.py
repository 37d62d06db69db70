"""The sequence engine: runs a plan on a bench for every loaded position. Qt-free.

It owns the run: pre-checks, warm-up, the wiring check, accuracy points (series and element), starting
load, creep, as-found and as-left passes, pause/resume at safe points, abort, and resuming an interrupted
run without repeating recorded points. It never sleeps blindly: it waits on measured stability and on the
error calculators' status, on the bench clock (virtual time in simulation).

Every reading is committed to the records store as it is taken. Every path out de-energises first
(:func:`bench.safety.de_energise`). Listeners (the CLI, the GUI) receive :class:`Event` objects; a
listener that raises is a fault like any other: outputs off, run ended as "error".

Sign convention: %R = 100 x meter energy / reference energy; error = %R - 100 (positive: meter fast).
The engine computes every error from the raw pulse counts (meter pulses x Kt against reference pulses x
Kr x elements-in-series), never from a simulator's truth; the instrument's own figure is kept only to
cross-check.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bench.meters import LoadedMeter, check_board
from bench.safety import Watchdog, de_energise
from instruments.errors import InstrumentError, InstrumentTimeout
from instruments.interfaces import Bench, PhaseSetting, ReferenceReading
from procedures.errors import InputError
from procedures.forms import MeterForm, correct_service, get_form
from procedures.metrology import error_budget, get_decision_rule, plan_gate, registration_pulse_gating
from procedures.phasors import lag_deg
from procedures.plans import Plan, ResolvedPlan, ResolvedPoint

PASSES = ("as-found", "as-left")
RETESTABLE = ("accuracy", "register")  # recorded wholly as points; creep/starting/wiring need the plan re-run
SUPPLY_FINDINGS = ("rotation_cba", "voltage_missing", "voltage_out_of_tolerance", "no_load")


class AbortRequested(Exception):
    """The operator (or a safety trip) asked the run to stop."""


@dataclass(frozen=True)
class Event:
    """Something happened in a run. ``kind`` is one of:
    run_started, precheck, warmup, retest, point_started, stabilised, reading, point_done, point_skipped,
    position_failed, wiring, creep, starting, average, paused, resumed, aborting, run_finished,
    error."""

    kind: str
    run_id: int
    bench_time: float
    position: int | None = None
    point_id: str | None = None
    data: dict = field(default_factory=dict)


Listener = Callable[[Event], None]


@dataclass
class EngineSettings:
    """How the engine runs; defaults suit a shop bench. Bench time throughout except ``watchdog_s``."""

    frequency_hz: float = 60.0
    warmup_s: float = 0.0
    passes: tuple[str, ...] = ("as-found",)
    stability_tolerance_percent: float = 0.05  # successive reference readings agree within this
    stability_poll_s: float = 0.2
    stability_timeout_s: float = 30.0
    regulation_tolerance_percent: float = 2.0  # applied current within this of what was asked
    gate_timeout_factor: float = 3.0  # a gate may take this many times its planned length ...
    gate_timeout_margin_s: float = 10.0  # ... plus this, before the meter counts as "no pulses"
    gate_poll_s: float = 0.05
    max_gate_s: float = 300.0
    min_meter_pulses: int = 1
    allow_overdue: bool = False
    wiring_overrides: dict[int | None, str] = field(default_factory=dict)  # position (None=board) -> reason
    watchdog_s: float = 60.0
    ref_drift_percent: float = 0.0
    ref_phase_error_urad: float = 0.0
    repeatability_prior_percent: float = 0.02
    today: date | None = None
    # Called between the as-found and the as-left pass (the technician adjusts the meters); returns
    # False to skip the as-left pass.
    adjust: Callable[[], bool] | None = None
    # Called with the source OFF when a wiring finding would stop a position (None = the board), with
    # the findings as in `meterbench diagnose`; returns the operator's reason to carry on, or None to
    # let the finding stop it. ``wiring_overrides`` given up front are used without asking.
    wiring_decision: Callable[[int | None, list[dict]], str | None] | None = None


@dataclass
class PositionState:
    meter: LoadedMeter
    state: str = "loaded"  # loaded, testing, passed, failed, no pulses, wiring fault
    message: str = ""
    failed: bool = False


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    outcome: str
    positions: dict[int, str]
    bench_seconds: float
    wall_seconds: float
    message: str = ""


class Engine:
    """Runs one plan for the meters on one board. Thread-safe controls: pause, resume, abort."""

    def __init__(
        self,
        bench: Bench,
        store,
        plan: Plan,
        meters: Iterable[LoadedMeter],
        *,
        operator: str = "",
        settings: EngineSettings | None = None,
        listeners: Iterable[Listener] = (),
        environment: dict | None = None,
    ) -> None:
        self.bench = bench
        self.store = store
        self.plan = plan
        self.meters = sorted(meters, key=lambda m: m.position)
        self.operator = operator
        self.settings = settings or EngineSettings()
        self.listeners = list(listeners)
        self.environment = environment or {}
        self.run_id: int | None = None
        self.positions: dict[int, PositionState] = {}
        self.resolved: ResolvedPlan | None = None
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._abort_reason = ""
        self._io = threading.RLock()  # one caller on the instruments at a time (watchdog, GUI abort)
        self._done: set[tuple[int, str, str]] = set()
        self._watchdog: Watchdog | None = None
        self._t0_bench = 0.0
        self._only: set[int] | None = None  # a retest works on these positions only
        self._retest: dict[int, str] = {}  # position -> the reason it is retested
        self._earlier: dict[tuple[int, str, str], int] = {}  # (position, point, pass) -> the row retested
        self._prior = (0.0, 0.0)  # bench and wall seconds the run already took (retest)

    # ---- controls (any thread) -------------------------------------------------------------------
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
        # Outputs off right away, not at the engine's next safe point: an abort is a safety action. Take the
        # instrument lock if the engine lets go of it within a moment (no interleaved bytes on a shared
        # session); if a query is hung, switch off anyway - safety before protocol hygiene.
        got = self._io.acquire(timeout=0.5)
        try:
            de_energise(self.bench)
        finally:
            if got:
                self._io.release()

    # ---- entry points ----------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Start a new run."""
        self._prepare()
        bench_id = self._record_bench()
        meter_ids = {m.position: self.store.upsert_meter(
            m.serial, manufacturer=m.manufacturer, model=m.model, form=m.form,
            accuracy_class=m.accuracy_class, current_class=m.current_class, voltage_v=m.voltage_v,
            ta_a=m.ta_a, ib_a=m.ib_a, in_a=m.in_a, imax_a=m.imax_a, kh=m.kh, kt=m.kt, firmware=m.firmware,
        ) for m in self.meters}  # fmt: skip
        rp = self.resolved
        assert rp is not None
        self.run_id = self.store.start_run(
            plan_id=rp.plan_id, plan_version=rp.version, plan_sha256=rp.sha256, bench_id=bench_id,
            operator=self.operator, environment=self._environment(),
            settings=self._settings_record(), positions=meter_ids,
        )  # fmt: skip
        return self._execute()

    def resume(self, run_id: int) -> RunOutcome:
        """Finish an interrupted run: recorded points are kept and not repeated."""
        self._prepare()
        self.run_id = run_id
        self._done = set(self.store.completed_points(run_id))
        self.store.mark_resumed(run_id)
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
        if not reason or not reason.strip():
            raise InputError("reason", "a retest needs a reason: it goes on the record and the certificate",
                             allowed="text, e.g. \"board knocked during the FL gate\"")  # fmt: skip
        record = self.store.run_record(run_id)
        run = record["run"]
        if run["status"] != "finished" or run["outcome"] not in ("passed", "failed"):
            raise InputError("RUN_ID", f"run {run_id} is {run['status']} ({run['outcome'] or 'no outcome'})",
                             allowed="a finished run that passed or failed (resume an interrupted run first)")  # fmt: skip
        self._prepare()
        rp = self.resolved
        if run["plan_sha256"] != rp.sha256:
            raise InputError("plan", "the plan file changed since this run; a retest must use the same plan",
                             allowed=f"{run['plan_id']} with sha256 {run['plan_sha256'][:12]}…",
                             found=rp.sha256[:12])  # fmt: skip
        point = next((p for p in rp.points if p.id == point_id), None)
        if point is None:
            raise InputError("--point", "no such point in the run's plan", found=point_id,
                             allowed=", ".join(p.id for p in rp.points))  # fmt: skip
        if point.kind not in RETESTABLE:
            raise InputError("--point", f"a {point.kind} point is not retested alone; run the plan again",
                             allowed=", ".join(p.id for p in rp.points if p.kind in RETESTABLE), found=point_id)  # fmt: skip
        passes = tuple(tp for tp in PASSES if any(p["test_pass"] == tp for p in record["points"]))
        test_pass = test_pass or passes[-1]
        if test_pass not in passes:
            raise InputError(
                "--pass", "this run has no such pass", allowed=", ".join(passes), found=test_pass
            )
        earlier = {p["position"]: p for p in record["points"]
                   if p["point_id"] == point_id and p["test_pass"] == test_pass}  # fmt: skip
        outcomes = {p["position"]: p["outcome"] for p in record["positions"]}
        # by default every position that has the point, except those a wiring fault stopped
        chosen = (
            sorted(set(positions))
            if positions
            else sorted(p for p in earlier if outcomes.get(p) != "wiring fault")
        )
        bad = [p for p in chosen if p not in self.positions]
        if bad or not chosen:
            raise InputError("--position", f"run {run_id} has no meter at {bad or 'any position'}",
                             allowed=", ".join(str(p) for p in sorted(self.positions)))  # fmt: skip
        wired_wrong = [p["position"] for p in record["positions"]
                       if p["position"] in chosen and p["outcome"] == "wiring fault"]  # fmt: skip
        if wired_wrong:
            raise InputError("--position", f"position {wired_wrong} failed its wiring check; a retest measures "
                             "one point and does not check wiring again: correct it and run the plan again",
                             allowed=", ".join(str(p) for p in chosen if p not in wired_wrong) or "none")  # fmt: skip
        for p in record["positions"]:  # untouched positions keep what the run recorded
            st = self.positions.get(p["position"])
            if st is not None:
                st.state, st.message = p["outcome"] or "loaded", p["message"] or ""
                st.failed = st.state != "passed"
        for pos in chosen:
            self.positions[pos].state, self.positions[pos].failed = "testing", False
        self.settings.passes = passes
        self.run_id, self._only = run_id, set(chosen)
        self._retest = {pos: reason.strip() for pos in chosen}
        self._earlier = {(p["position"], p["point_id"], p["test_pass"]): p["id"] for p in record["points"]}
        self._prior = (run["bench_seconds"] or 0.0, run["wall_seconds"] or 0.0)

        def body() -> None:
            self._emit("retest", point_id=point.id, data={"positions": chosen, "pass": test_pass,
                                                          "reason": reason.strip()})  # fmt: skip
            self._safe_point()
            self._run_point(point, test_pass)
            self._averages()
            self._judge_from_record()

        return self._execute(body)

    def _judge_from_record(self) -> None:
        """After a retest: each retested position passes only if every current result of the plan passes."""
        record = self.store.run_record(self.run_id)
        final = self.settings.passes[-1]
        for pos in sorted(self._only or ()):
            mine = [p for p in record["points"] if p["position"] == pos]
            bad = [p for p in mine if p["status"] in ("failed", "interrupted", "running")
                   or (p["test_pass"] == final and (p.get("result") or {}).get("verdict") in ("fail", "indeterminate"))]  # fmt: skip
            bad += [a for a in record["averages"]
                    if a["position"] == pos and a["test_pass"] == final and a["verdict"] == "fail"]  # fmt: skip
            missing = [p.id for p in self.resolved.points if not any(q["point_id"] == p.id for q in mine)]
            st = self.positions[pos]
            dead = [p for p in bad if p["status"] == "failed" and p["message"].startswith("no pulses")]
            if dead:  # keep the diagnosis: the meter still gives no pulses
                st.state, st.failed, st.message = "no pulses", True, dead[0]["message"]
            elif bad or missing:
                st.state, st.failed = "failed", True
                if not bad:
                    st.message = "not tested: " + ", ".join(missing)
                elif missing and not any(b.get("result") for b in bad):
                    st.message = "not every point has a result"
                else:
                    st.message = "a result is outside its limit"
            else:
                st.state, st.message = "passed", "every result within its limit"

    # ---- preparation -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        check_board(self.meters)
        bad = [m.position for m in self.meters if m.position not in self.bench.calculators]
        if bad:
            raise InputError(
                "position",
                f"bench {self.bench.name!r} has no error calculator at {bad}",
                allowed=f"1..{self.bench.positions}",
            )
        resolved = {m.position: self._resolve(m) for m in self.meters}
        first = resolved[self.meters[0].position]
        key = [
            (p.id, round(p.voltage_v, 6), round(p.current_a, 9), round(p.lag_deg, 6)) for p in first.points
        ]
        for m in self.meters[1:]:
            other = resolved[m.position]
            if [
                (p.id, round(p.voltage_v, 6), round(p.current_a, 9), round(p.lag_deg, 6))
                for p in other.points
            ] != key:
                raise InputError(
                    f"position {m.position}",
                    "meters on one board must share form, class, TA/Ib and voltage (the source is shared)",
                    allowed=f"form {first.form.name}, class {first.accuracy_class}, {first.ta_a:g} A, "
                            f"{first.voltage_v:g} V", found=f"{m.form} {m.accuracy_class}",
                )  # fmt: skip
        self.resolved = first
        self.positions = {m.position: PositionState(m) for m in self.meters}

    def _resolve(self, m: LoadedMeter) -> ResolvedPlan:
        try:
            return self.plan.resolve(
                get_form(m.form), m.accuracy_class, ta=m.ta_a, ib=m.ib_a, in_=m.in_a, imax=m.imax_a,
                voltage=m.voltage_v, current_class=m.current_class,
            )  # fmt: skip
        except InputError as exc:
            raise exc.within(f"meter {m.serial} (position {m.position})") from None

    def _record_bench(self) -> int:
        cfg = self.bench.config
        bench_id = self.store.upsert_bench(self.bench.name, self.bench.location, _plain(cfg))
        cal = self.bench.reference.calibration
        self.store.upsert_instrument(
            bench_id, "reference", type(self.bench.reference).__name__, cfg.reference.resource,
            self._identify(self.bench.reference), _plain(cal),
        )  # fmt: skip
        self.store.upsert_instrument(
            bench_id, "source", type(self.bench.source).__name__, cfg.source.resource,
            self._identify(self.bench.source), None,
        )  # fmt: skip
        return bench_id

    def _identify(self, role) -> str:
        with self._io:
            return role.identify()

    def _environment(self) -> dict:
        env = {"host": platform.node(), "pid": os.getpid(), "simulated": self.bench.simulator is not None}
        env.update(self.environment)
        return env

    def _settings_record(self) -> dict:
        s = self.settings
        return {
            "frequency_hz": s.frequency_hz, "warmup_s": s.warmup_s, "passes": list(s.passes),
            "stability_tolerance_percent": s.stability_tolerance_percent,
            "meters": {m.position: m.to_dict() for m in self.meters},
            "wiring_overrides": {str(k): v for k, v in s.wiring_overrides.items()},
        }  # fmt: skip

    # ---- the run ---------------------------------------------------------------------------------
    def _execute(self, body: Callable[[], None] | None = None) -> RunOutcome:
        assert self.run_id is not None and self.resolved is not None
        t0_wall = time.monotonic()
        self._t0_bench = self.bench.clock.now()
        self._watchdog = Watchdog(self.bench, self.settings.watchdog_s, on_trip=self._watchdog_trip).start()
        outcome, message = "error", ""
        try:
            de_energise(self.bench)  # start from the safe state, whatever the last run left
            self._emit(
                "run_started", data={"plan": self.resolved.plan_id, "positions": sorted(self.positions)}
            )
            self._precheck()
            (body or self._plan_body)()
            outcome = (
                "failed"
                if any(p.failed or p.state == "failed" for p in self.positions.values())
                else "passed"
            )
        except AbortRequested:
            de_energise(self.bench)
            outcome, message = "aborted", self._abort_reason
        except KeyboardInterrupt:
            de_energise(self.bench)
            outcome, message = "interrupted", "interrupted (Ctrl-C or signal)"
            self._finish(outcome, message, t0_wall)
            raise
        except (InstrumentError, InputError) as exc:
            de_energise(self.bench)
            outcome, message = "error", str(exc)
        except BaseException as exc:
            de_energise(self.bench)
            outcome, message = "error", f"{type(exc).__name__}: {exc}"
            self._finish(outcome, message, t0_wall)
            raise
        finally:
            de_energise(self.bench)
            if self._watchdog:
                self._watchdog.stop()
        return self._finish(outcome, message, t0_wall)

    def _plan_body(self) -> None:
        self._warmup()
        for test_pass in self.settings.passes:
            if test_pass not in PASSES:
                raise InputError("passes", "unknown test pass", allowed=PASSES, found=test_pass)
            if test_pass == "as-left" and not self._before_as_left():
                continue
            for point in self.resolved.points:
                self._safe_point()
                self._run_point(point, test_pass)
        self._averages()

    def _finish(self, outcome: str, message: str, t0_wall: float) -> RunOutcome:
        bench_s = self.bench.clock.now() - self._t0_bench + self._prior[0]
        wall_s = time.monotonic() - t0_wall + self._prior[1]
        for pos, st in self.positions.items():
            if self._only is not None and pos not in self._only:
                continue  # a retest leaves the other positions' recorded outcomes alone
            if st.state in ("loaded", "testing"):
                st.state = "passed" if outcome in ("passed", "failed") else outcome
                st.message = st.message or (
                    "every result within its limit" if st.state == "passed" else message
                )
            with contextlib.suppress(Exception):
                self.store.set_position_outcome(self.run_id, pos, st.state, st.message)
        if outcome != "interrupted":
            self.store.finish_run(self.run_id, outcome, bench_seconds=bench_s, wall_seconds=wall_s)
        result = RunOutcome(self.run_id, outcome, {p: s.state for p, s in self.positions.items()}, bench_s,
                            wall_s, message)  # fmt: skip
        with contextlib.suppress(Exception):  # the run is over and safe; a failing listener changes nothing
            self._emit("run_finished", data={"outcome": outcome, "message": message,
                                             "bench_seconds": bench_s, "wall_seconds": wall_s})  # fmt: skip
        return result

    def _watchdog_trip(self) -> None:
        self._abort_reason = f"watchdog: engine stalled for more than {self.settings.watchdog_s:g} s"
        self._abort.set()

    def _emit(self, kind: str, position: int | None = None, point_id: str | None = None, data=None) -> None:
        ev = Event(
            kind, self.run_id or 0, self.bench.clock.now() - self._t0_bench, position, point_id, data or {}
        )
        for listener in self.listeners:
            listener(ev)  # an exception propagates: _execute de-energises and ends the run as "error"

    def _safe_point(self) -> None:
        """Where the run may pause or stop: between readings and points."""
        if self._watchdog:
            self._watchdog.kick()
        if self._abort.is_set():
            raise AbortRequested(self._abort_reason)
        if self._pause.is_set():
            self._emit("paused")
            while self._pause.is_set() and not self._abort.is_set():
                if self._watchdog:
                    self._watchdog.kick()
                time.sleep(0.02)  # wall time: waiting for a person, not for the bench
            if self._abort.is_set():
                raise AbortRequested(self._abort_reason)
            self._emit("resumed")

    def _active(self) -> list[int]:
        return [
            p for p, st in self.positions.items() if not st.failed and (self._only is None or p in self._only)
        ]

    def _fail(self, pos: int, state: str, message: str) -> None:
        st = self.positions[pos]
        st.failed, st.state, st.message = True, state, message
        self.store.set_position_outcome(self.run_id, pos, state, message)
        self._emit("position_failed", pos, data={"state": state, "message": message})

    # ---- pre-checks and warm-up ------------------------------------------------------------------
    def _precheck(self) -> None:
        with self._io:
            ident = {"source": self.bench.source.identify(), "reference": self.bench.reference.identify()}
        cal = self.bench.reference.calibration
        today = self.settings.today or date.today()
        if cal.overdue(today) and not self.settings.allow_overdue:
            raise InputError("reference calibration", f"is overdue since {cal.due.isoformat()}",
                             allowed="a reference standard within its calibration interval",
                             source=self.bench.name)  # fmt: skip
        for m in self.meters:
            if not (m.kt > 0 and m.kh > 0 and math.isfinite(m.kt)):
                raise InputError(f"position {m.position}.kt", "must be > 0", found=m.kt)
        self._emit("precheck", data={"identity": ident, "calibration_due": cal.due.isoformat()})

    def _warmup(self) -> None:
        if self.settings.warmup_s <= 0 or not self._pending(("as-found",), ("*",)):
            return
        rp = self.resolved
        self._emit("warmup", data={"seconds": self.settings.warmup_s})
        self._energise(rp.voltage_v, rp.ta_a, 0.0, "series")
        end = self.bench.clock.now() + self.settings.warmup_s
        while self.bench.clock.now() < end:
            self._safe_point()
            self.bench.clock.sleep(min(1.0, end - self.bench.clock.now()))
        self._de_energise_quietly()

    def _pending(self, passes, point_ids) -> bool:
        """True unless every position has every listed point recorded (resume)."""
        if not self._done:
            return True
        return any(
            (pos, pid, tp) not in self._done
            for pos in self._active() for tp in passes
            for pid in (p.id for p in self.resolved.points if point_ids == ("*",) or p.id in point_ids)
        )  # fmt: skip

    def _before_as_left(self) -> bool:
        if not self._pending(("as-left",), ("*",)):
            return True
        de_energise(self.bench)
        return bool(self._ask(self.settings.adjust)) if self.settings.adjust else True

    def _ask(self, question: Callable, *args):
        """A person decides (the source is already off): the watchdog does not count the wait as a stall."""
        held = self._watchdog.waiting_for_person() if self._watchdog else contextlib.nullcontext()
        with held:
            return question(*args)

    # ---- source control --------------------------------------------------------------------------
    def _phases(self, voltage: float, current: float, lag: float, element: str) -> dict[str, PhaseSetting]:
        form: MeterForm = self.resolved.form
        if not self.bench.three_phase_source:
            # Series-parallel: one voltage across every potential coil, one current through the coils.
            return {"A": PhaseSetting(voltage, 0.0, current, lag)}
        volts, amps = correct_service(form, voltage, current, lag, "ABC")
        if element != "series":
            fed = set(form.element(element).current_phases)
            amps = {p: (a if p in fed else 0j) for p, a in amps.items()}
        return {
            p: PhaseSetting(abs(volts.get(p, 0j)), lag_deg(volts.get(p, 0j)), abs(amps.get(p, 0j)),
                            lag_deg(amps[p]) if abs(amps.get(p, 0j)) > 0 else 0.0)
            for p in sorted(set(volts) | set(amps))
        }  # fmt: skip

    def _energise(self, voltage: float, current: float, lag: float, element: str) -> None:
        phases = self._phases(voltage, current, lag, element)
        with self._io:
            select = getattr(self.bench, "select_elements", None)
            if select is not None and not self.bench.three_phase_source:
                select(None if element == "series" else element)
            self.bench.source.apply(phases, self.settings.frequency_hz)
            if not self.bench.source.output_is_on():
                self.bench.source.output_on()

    def _de_energise_quietly(self) -> None:
        with self._io:
            self.bench.source.output_off()

    def _stabilise(self, expected_current: float) -> ReferenceReading:
        """Wait until successive reference readings agree (measured, not a blind sleep)."""
        s = self.settings
        clock = self.bench.clock
        deadline = clock.now() + s.stability_timeout_s
        last: ReferenceReading | None = None
        while True:
            self._safe_point()
            with self._io:
                reading = self.bench.reference.read()
            if last is not None:
                scale = max(abs(reading.va), 1e-9)
                steady = abs(reading.watts - last.watts) <= s.stability_tolerance_percent / 100 * scale
                amps = max((ph.current_a for ph in reading.phases.values()), default=0.0)
                regulated = expected_current <= 0 or (
                    abs(amps - expected_current) <= s.regulation_tolerance_percent / 100 * expected_current
                )
                if steady and regulated:
                    return reading
            if clock.now() >= deadline:
                raise InstrumentTimeout(
                    self.bench.reference.name, "read", None,
                    f"readings did not settle within {s.stability_timeout_s:g} s "
                    f"(asked {expected_current:g} A; the source may not be able to regulate the load)",
                )  # fmt: skip
            last = reading
            clock.sleep(s.stability_poll_s)

    # ---- points ----------------------------------------------------------------------------------
    def _run_point(self, point: ResolvedPoint, test_pass: str) -> None:
        todo = [p for p in self._active() if (p, point.id, test_pass) not in self._done]
        if not todo:
            return
        if point.kind == "accuracy":
            self._accuracy(point, test_pass, todo)
        elif point.kind == "wiring":
            if test_pass == "as-found":
                self._wiring(point, todo)
        elif point.kind == "creep":
            self._count_test(point, test_pass, todo, creep=True)
        elif point.kind == "starting":
            self._count_test(point, test_pass, todo, creep=False)
        elif point.kind == "register":
            from bench.registertest import register_point

            register_point(self, point, test_pass, todo)
        else:
            raise InputError(
                f"points.{point.id}.kind",
                "unknown point kind",
                allowed="accuracy, wiring, creep, starting, register",
                found=point.kind,
            )

    def _limits(self, point: ResolvedPoint) -> tuple[float | None, float | None]:
        lim = point.limit_percent
        if lim is None:
            return None, None
        if isinstance(lim, tuple):
            return float(lim[0]), float(lim[1])
        return -float(lim), float(lim)

    def _add_point(self, pos: int, point: ResolvedPoint, test_pass: str, planned: dict) -> int:
        lo, hi = self._limits(point)
        prov = point.limit_provenance
        if pos in self._retest:
            planned = {**planned, "retest_of": self._earlier.get((pos, point.id, test_pass)),
                       "retest_reason": self._retest[pos]}  # fmt: skip
        return self.store.add_point(
            self.run_id, position=pos, point_id=point.id, label=point.label, element=point.element,
            test_pass=test_pass, kind=point.kind, voltage_v=point.voltage_v, current_a=point.current_a,
            lag_deg=point.lag_deg, limit_lo=lo, limit_hi=hi, limit_provenance=_plain(prov) if prov else {},
            planned=planned,
        )  # fmt: skip

    def _elements_in_series(self, point: ResolvedPoint) -> int:
        """c: how many elements register while a single-phase reference sees one (standards.md §2.5)."""
        if self.bench.three_phase_source or point.element != "series":
            return 1
        return self.resolved.form.n_elements

    def _accuracy(self, point: ResolvedPoint, test_pass: str, todo: list[int]) -> None:
        self._emit("point_started", point_id=point.id, data={"label": point.label, "element": point.element,
                   "pass": test_pass, "voltage_v": point.voltage_v, "current_a": point.current_a,
                   "lag_deg": point.lag_deg, "positions": todo})  # fmt: skip
        self._energise(point.voltage_v, point.current_a, point.lag_deg, point.element)
        ref = self._stabilise(point.current_a)
        if point.settle_s > 0:  # the plan's declared pulse-pickup settling, after measured stability
            self.bench.clock.sleep(point.settle_s)
        self._emit("stabilised", point_id=point.id, data={"watts": ref.watts, "phases": _phasor_dict(ref)})
        c = self._elements_in_series(point)
        kr = self.bench.reference.kr_wh
        lo, hi = self._limits(point)
        half = min(abs(lo), abs(hi)) if lo is not None else 1.0
        meter_w = abs(ref.watts) * c
        plans, rows = {}, {}
        with self.store.batch():
            for pos in todo:
                m = self.positions[pos].meter
                plans[pos] = plan_gate(
                    meter_w, m.kt, kr, half, target_share=self.resolved.target_share,
                    repeatability_percent=self.settings.repeatability_prior_percent, readings=point.readings,
                    min_pulses=self.settings.min_meter_pulses, elements_in_series=c,
                )  # fmt: skip
                rows[pos] = self._add_point(pos, point, test_pass, {
                    "meter_pulses": plans[pos].meter_pulses, "gate_seconds": plans[pos].gate_seconds,
                    "readings": point.readings, "elements_in_series": c, "kr_wh": kr, "kt_wh": m.kt,
                    "reference_watts": ref.watts,
                })  # fmt: skip
        errors: dict[int, list[float]] = {p: [] for p in todo}
        ref_pulses: dict[int, list[float]] = {p: [] for p in todo}
        jobs = {p: (self.positions[p].meter.kt, plans[p]) for p in todo}
        for batch in self._readings(jobs, point.readings):
            with self._io:
                seen = self.bench.reference.read()  # what the reference saw as these gates closed
            seen_record = {"watts": seen.watts, "vars": seen.vars, "va": seen.va, "frequency_hz": seen.frequency_hz,
                           "phases": _phasor_dict(seen)}  # fmt: skip
            for pos, _, res in batch:
                if isinstance(res, str):
                    self._point_failed(rows[pos], pos, point, "no pulses", res)
            taken = [(pos, index, res) for pos, index, res in batch if not isinstance(res, str)]
            # Readings taken together (one gate on every position) are committed together, before anyone
            # is told of them.
            with self.store.batch():
                for pos, index, res in taken:
                    m = self.positions[pos].meter
                    r = registration_pulse_gating(res.meter_pulses, m.kt, res.ref_pulses, res.kr_wh, c)
                    errors[pos].append(r - 100.0)
                    ref_pulses[pos].append(res.ref_pulses)
                    self.store.add_reading(
                        rows[pos], index=index, meter_pulses=res.meter_pulses, ref_pulses=res.ref_pulses,
                        kr_wh=res.kr_wh, kt_wh=m.kt, gate_seconds=res.gate_seconds, error_percent=r - 100.0,
                        instrument_error_percent=res.instrument_error_percent, reference=seen_record,
                    )  # fmt: skip
            for pos, index, res in taken:
                self._emit("reading", pos, point.id, {"index": index, "error_percent": errors[pos][-1],
                           "meter_pulses": res.meter_pulses, "ref_pulses": res.ref_pulses,
                           "gate_seconds": res.gate_seconds, "label": point.label})  # fmt: skip
        rule = get_decision_rule(self.resolved.decision_rule)
        cal = self.bench.reference.calibration
        for pos in todo:
            if not self.positions[pos].failed and not errors[pos]:
                self._point_failed(rows[pos], pos, point, "failed", "no readings")
        done = [pos for pos in todo if not self.positions[pos].failed]
        events = []
        with self.store.batch():  # the results of one point on every position: one commit
            for pos in done:
                res = error_budget(
                    errors[pos], ref_cal_u_percent=cal.uncertainty_percent, ref_cal_k=cal.coverage_factor,
                    ref_drift_percent=self.settings.ref_drift_percent,
                    ref_pulses_per_gate=statistics.fmean(ref_pulses[pos]),
                    lag_deg=point.lag_deg,  # the gate opens and closes on meter pulses: its count is exact
                    ref_phase_error_urad=self.settings.ref_phase_error_urad,
                    repeatability_prior_percent=self.settings.repeatability_prior_percent,
                )  # fmt: skip
                verdict = (
                    rule.decide(res.error_percent, res.expanded_percent, lo, hi) if lo is not None else None
                )
                outcome = verdict.outcome if verdict else "info"
                self.store.finish_point(
                    rows[pos], status="done", error_percent=res.error_percent, expanded_percent=res.expanded_percent,
                    coverage_factor=res.k, dof=res.dof if math.isfinite(res.dof) else None,
                    budget=[_plain(c) for c in res.components], verdict=outcome, decision_rule=rule.name,
                    message=verdict.reason if verdict else "",
                )  # fmt: skip
                self._done.add((pos, point.id, test_pass))
                final_pass = test_pass == "as-left" or "as-left" not in self.settings.passes
                if outcome in ("fail", "indeterminate") and final_pass:
                    self._mark_failed_verdict(pos)
                events.append((pos, {
                    "label": point.label, "element": point.element, "pass": test_pass,
                    "error_percent": res.error_percent, "expanded_percent": res.expanded_percent, "k": res.k,
                    "limit_lo": lo, "limit_hi": hi, "verdict": outcome,
                }))  # fmt: skip
        for pos, data in events:
            self._emit("point_done", pos, point.id, data)

    def _mark_failed_verdict(self, pos: int) -> None:
        """A result outside its limit: the position has failed, but it keeps testing so every point is reported."""
        st = self.positions[pos]
        st.state = "failed"
        st.message = st.message or "a result is outside its limit"

    def _point_failed(self, row: int, pos: int, point: ResolvedPoint, state: str, message: str) -> None:
        self.store.finish_point(row, status="failed", error_percent=None, expanded_percent=None,
                                coverage_factor=None, dof=None, budget=[], verdict="fail",
                                decision_rule=self.resolved.decision_rule, message=message)  # fmt: skip
        self._done.add((pos, point.id, "failed"))
        self._fail(pos, state, message)

    def _readings(self, jobs: dict, readings: int):
        """Yield lists of (position, reading index, GateResult or a failure message) as gates finish.

        Calculators that can run gates back to back (``start_series``) run all of a point's readings as
        one series: the wait for the first meter edge is paid once per point, not once per reading.
        """
        live = [p for p in jobs if not self.positions[p].failed]
        if live and all(callable(getattr(self.bench.calculators[p], "start_series", None)) for p in live):
            yield from self._gate_series({p: jobs[p] for p in live}, readings)
            return
        for index in range(readings):
            live = [p for p in jobs if not self.positions[p].failed]
            if not live:
                return
            self._safe_point()
            results = self._gate({p: jobs[p] for p in live})
            yield [(pos, index, res) for pos, res in results.items()]

    def _gate_series(self, jobs: dict, readings: int):
        clock = self.bench.clock
        s = self.settings
        with self._io:
            for pos, (kt, gp) in jobs.items():
                self.bench.calculators[pos].configure(kt, gp.meter_pulses)
            for pos in jobs:
                self.bench.calculators[pos].start_series(readings)
        start = clock.now()

        def deadline(pos: int, since: float) -> float:  # as for one gate: a dead meter is found as soon
            return since + jobs[pos][1].gate_seconds * s.gate_timeout_factor + s.gate_timeout_margin_s

        deadlines = {pos: deadline(pos, start) for pos in jobs}
        taken = {pos: 0 for pos in jobs}
        open_ = set(jobs)
        self._sleep_checked(min(gp.gate_seconds for _, gp in jobs.values()))
        while open_:
            self._safe_point()
            now = clock.now()
            new: list = []
            for pos in sorted(open_):
                calc = self.bench.calculators[pos]
                with self._io:
                    done = calc.results()
                new += [(pos, taken[pos] + i, res) for i, res in enumerate(done[taken[pos] : readings])]
                if len(done) > taken[pos]:
                    deadlines[pos] = deadline(pos, now)
                taken[pos] = min(len(done), readings)
                if taken[pos] >= readings:
                    open_.discard(pos)
                elif now >= deadlines[pos]:
                    with self._io:
                        calc.stop()
                    open_.discard(pos)
                    gp = jobs[pos][1]
                    new.append(
                        (
                            pos,
                            taken[pos],
                            f"no pulses: reading {taken[pos] + 1} of {readings} (a gate of {gp.meter_pulses} meter "
                            f"pulse(s), planned {gp.gate_seconds:.1f} s) did not finish within "
                            f"{deadline(pos, 0.0):.0f} s; check the pickup, the meter's test output and Kt",
                        )
                    )
            if new:
                yield new
            if open_:
                # Sleep to about the next gate end; near the series' end, in finer steps so the point
                # does not overrun its last gate by much (only the last gate's overrun costs bench time).
                left = [(readings - taken[p]) * jobs[p][1].gate_seconds for p in open_]
                step = min(jobs[p][1].gate_seconds for p in open_)
                self._sleep_checked(max(s.gate_poll_s, min(0.25 * step if min(left) <= step else step,
                                                           0.8 * min(left))))  # fmt: skip

    def _gate(self, jobs: dict) -> dict:
        """One gate on every live position at once; returns GateResult or a failure message per position."""
        clock = self.bench.clock
        s = self.settings
        with self._io:
            for pos, (kt, gp) in jobs.items():
                calc = self.bench.calculators[pos]
                calc.configure(kt, gp.meter_pulses)
            for pos in jobs:
                self.bench.calculators[pos].start()
        start = clock.now()
        deadlines = {pos: start + gp.gate_seconds * s.gate_timeout_factor + s.gate_timeout_margin_s
                     for pos, (_, gp) in jobs.items()}  # fmt: skip
        out: dict = {}
        # Sleep to the planned end of the shortest gate, then poll finely: the gate time is the
        # physical floor, and polling before it only costs instrument traffic.
        first = min(gp.gate_seconds for _, gp in jobs.values())
        self._sleep_checked(first)
        while len(out) < len(jobs):
            self._safe_point()
            now = clock.now()
            remaining = []
            for pos in jobs:
                if pos in out:
                    continue
                calc = self.bench.calculators[pos]
                with self._io:
                    status, progress = calc.poll()
                    if status == "finished":
                        out[pos] = calc.result()
                        continue
                if now >= deadlines[pos]:
                    with self._io:
                        calc.stop()
                    out[pos] = no_pulses(jobs[pos][1], deadlines[pos] - start)
                    continue
                # The calculator's progress says how much of the gate is left: sleep most of it rather
                # than polling every position many times (each poll is instrument traffic).
                remaining.append((1.0 - max(0.0, min(1.0, progress))) * jobs[pos][1].gate_seconds)
            if len(out) < len(jobs):
                # progress counts meter edges, so a gate of few pulses looks unstarted until it ends:
                # cap the sleep at a quarter gate so the overrun stays small
                self._sleep_checked(max(s.gate_poll_s, min(0.8 * min(remaining, default=0.0), 0.25 * first)))
        return out

    def _sleep_checked(self, seconds: float) -> None:
        """Sleep in bench time in slices, so abort and the watchdog stay responsive."""
        clock = self.bench.clock
        end = clock.now() + seconds
        while True:
            self._safe_point()
            left = end - clock.now()
            if left <= 0:
                return
            clock.sleep(min(left, 1.0))

    def _count_test(self, point: ResolvedPoint, test_pass: str, todo: list[int], *, creep: bool) -> None:
        """Creep (no current: at most one pulse in the window) or starting (must start within the time)."""
        kind = "creep" if creep else "starting"
        self._emit("point_started", point_id=point.id, data={"label": point.label, "kind": kind, "pass": test_pass,
                   "voltage_v": point.voltage_v, "current_a": point.current_a, "positions": todo})  # fmt: skip
        duration = point.duration_s or 600.0
        with self.store.batch():
            rows = {pos: self._add_point(pos, point, test_pass, {"duration_s": duration}) for pos in todo}
        self._energise(point.voltage_v, 0.0 if creep else point.current_a, 0.0 if creep else point.lag_deg,
                       point.element)  # fmt: skip
        self._stabilise(0.0 if creep else point.current_a)
        if point.settle_s > 0:  # a pulse from the power-up transient is not creep
            self._sleep_checked(point.settle_s)
        with self._io:
            for pos in todo:
                self.bench.calculators[pos].count_start()
        clock = self.bench.clock
        end = clock.now() + duration
        counts: dict[int, tuple[int, float]] = {}
        while True:
            with self._io:
                counts = {pos: self.bench.calculators[pos].count_read() for pos in todo}
            # A starting test may end as soon as every meter has started (registered 2 pulses: it
            # started and keeps registering); a creep test always runs its full window.
            if not creep and all(c[0] >= 2 for c in counts.values()):
                break
            if clock.now() >= end:
                break
            self._sleep_checked(min(60.0 if creep else 15.0, end - clock.now()))
        with self._io:
            for pos in todo:
                self.bench.calculators[pos].stop()
        self._de_energise_quietly()
        events = []
        with self.store.batch():
            for pos in todo:
                events.append(self._record_count(rows[pos], pos, point, counts[pos], creep))
                self._done.add((pos, point.id, test_pass))
        for pos, data in events:
            self._emit(kind, pos, point.id, data)

    def _record_count(self, row: int, pos: int, point: ResolvedPoint, count: tuple[int, float], creep: bool):
        """Record one position's creep or starting count; returns (position, event data) to emit after."""
        pulses, seconds = count
        ok = pulses <= 1 if creep else pulses >= 1
        verdict = "pass" if ok else "fail"
        message = (f"{pulses} pulse(s) in {seconds:.0f} s at {point.voltage_v:g} V with no current"
                   if creep else f"{pulses} pulse(s) in {seconds:.0f} s at {point.current_a:g} A")  # fmt: skip
        self.store.finish_point(row, status="done", error_percent=None, expanded_percent=None,
                                coverage_factor=None, dof=None, budget=[], verdict=verdict,
                                decision_rule="count", message=message)  # fmt: skip
        (self.store.add_creep if creep else self.store.add_starting)(
            self.run_id, position=pos, pulses=pulses, seconds=seconds, verdict=verdict
        )
        if not ok:
            self._mark_failed_verdict(pos)
        return pos, {
            "pulses": pulses,
            "seconds": seconds,
            "verdict": verdict,
            "label": point.label,
            "message": message,
        }

    def _wiring(self, point: ResolvedPoint, todo: list[int]) -> None:
        """Balanced load, read phasors, analyse; a finding stops its position (or the board) unless overridden."""
        from procedures.wiring import Phasors, analyse

        form = self.resolved.form
        self._emit("point_started", point_id=point.id, data={"label": point.label, "kind": "wiring",
                                                             "positions": todo})  # fmt: skip
        self._energise(point.voltage_v, point.current_a, point.lag_deg, "series")
        self._stabilise(point.current_a)
        try:
            per_position = getattr(self.bench, "read_position_phasors", None)
        except NotImplementedError:
            per_position = None
        with self._io:
            supply = self.bench.reference.read()
        checks: list[tuple[int | None, ReferenceReading]] = [(None, supply)]
        if per_position is not None:
            with self._io:
                for pos in todo:
                    try:
                        checks.append((pos, per_position(pos)))
                    except NotImplementedError:
                        checks.append((pos, supply))
        else:
            checks += [(pos, supply) for pos in todo]
        # Every phasor is read: switch off before analysing, so no person is asked to decide about a
        # finding with the board energised.
        self._de_energise_quietly()
        with self.store.batch():
            rows = {pos: self._add_point(pos, point, "as-found", {}) for pos in todo}
        board_fault = None
        for pos, reading in checks:
            if pos is not None and board_fault is not None:
                break
            phasors = Phasors.from_json(
                _phasor_json(reading, form), f"reference at position {pos or 'board'}"
            )
            report = analyse(form, phasors, hookup="service" if self.bench.three_phase_source else "series")
            findings = [
                {"code": f.code, "phases": list(f.phases), "message": f.message} for f in report.findings
            ]
            if pos is None:
                # With each socket's own phasors, the reference's view stops the board only for what the
                # supply itself gets wrong (rotation, voltages); a current fault belongs to its position.
                stopping = [f for f in findings if per_position is None or f["code"] in SUPPLY_FINDINGS]
            else:
                stopping = findings
            override = self.settings.wiring_overrides.get(pos)
            shown = {"rotation": report.rotation, "findings": findings, "phases": _phasor_dict(reading),
                     "registration_percent": report.registration_percent}  # fmt: skip
            # shown before anyone is asked, so the phasor diagram is this position's when the question comes
            self._emit("wiring", pos, point.id, {**shown, "override": override})
            if stopping and not override and self.settings.wiring_decision is not None:
                override = self._ask(self.settings.wiring_decision, pos, stopping) or None
                if override:
                    self.settings.wiring_overrides[pos] = override  # a resumed run keeps the decision
                    self._emit("wiring", pos, point.id, {**shown, "override": override})
            self.store.add_wiring_check(self.run_id, position=pos, rotation=report.rotation, findings=findings,
                                        phasors=_phasor_dict(reading), registration_percent=report.registration_percent,
                                        override_reason=override)  # fmt: skip
            if pos is None:
                if stopping and not override:
                    board_fault = stopping
                continue
            ok = not findings or bool(override)
            message = "; ".join(f["message"] for f in findings) or "wiring correct"
            if findings and override:
                message += f" (overridden by the operator: {override})"
            self.store.finish_point(rows[pos], status="done", error_percent=None, expanded_percent=None,
                                    coverage_factor=None, dof=None, budget=[], verdict="pass" if ok else "fail",
                                    decision_rule="wiring analysis", message=message)  # fmt: skip
            self._done.add((pos, point.id, "as-found"))
            if not ok:
                self._fail(
                    pos, "wiring fault", "; ".join(f["code"] + ":" + "".join(f["phases"]) for f in findings)
                )
        if board_fault is not None:
            msg = "; ".join(f["message"] for f in board_fault)
            for pos in todo:
                self.store.finish_point(rows[pos], status="failed", error_percent=None, expanded_percent=None,
                                        coverage_factor=None, dof=None, budget=[], verdict="fail",
                                        decision_rule="wiring analysis", message=f"board: {msg}")  # fmt: skip
                self._fail(pos, "wiring fault", f"board wiring: {msg}")

    def _averages(self) -> None:
        ra = self.resolved.average_rule
        if ra is None:
            return
        record = self.store.run_record(self.run_id)
        for pos in self.positions:
            if self._only is not None and pos not in self._only:
                continue
            for test_pass in self.settings.passes:
                regs = {}
                for p in record["points"]:
                    if (
                        p["position"] == pos
                        and p["test_pass"] == test_pass
                        and p["kind"] == "accuracy"
                        and p["element"] == "series"
                        and p.get("error_percent") is not None
                    ):
                        regs[p["label"]] = 100.0 + p["error_percent"]
                try:
                    value = ra.average(regs)
                except (InputError, KeyError):
                    continue
                verdict = "pass" if abs(value - 100.0) <= ra.limit_percent else "fail"
                self.store.add_average(self.run_id, position=pos, test_pass=test_pass, rule=ra.name,
                                       value_percent=value, verdict=verdict)  # fmt: skip
                self._emit("average", pos, data={"rule": ra.name, "value_percent": value, "verdict": verdict})
                if verdict == "fail":
                    self._mark_failed_verdict(pos)


def _plain(obj):
    """Dataclasses, dates and tuples as JSON-able plain values (for the records)."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, date | datetime):
        return obj.isoformat()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj


def no_pulses(gate_plan, waited_s: float) -> str:
    """What a position whose gate never finished is told (the text starts "no pulses", its state's name)."""
    return (f"no pulses: a gate of {gate_plan.meter_pulses} meter pulse(s) did not finish within {waited_s:.0f} s "
            f"(planned {gate_plan.gate_seconds:.1f} s); check the pickup, the meter's test output and Kt")  # fmt: skip


def _phasor_dict(reading: ReferenceReading) -> dict:
    return {p: {"voltage_v": ph.voltage_v, "voltage_lag_deg": ph.voltage_lag_deg, "current_a": ph.current_a,
                "current_lag_deg": ph.current_lag_deg, "watts": ph.watts}
            for p, ph in reading.phases.items()}  # fmt: skip


def _phasor_json(reading: ReferenceReading, form: MeterForm) -> dict:
    """The reference's phasors in the `meterbench diagnose` JSON shape, for the phases the form uses."""
    return {
        "voltages": {p: [reading.phases[p].voltage_v, reading.phases[p].voltage_lag_deg]
                     for p in form.voltage_phases if p in reading.phases},
        "currents": {p: [reading.phases[p].current_a, reading.phases[p].current_lag_deg]
                     for p in form.current_phases if p in reading.phases},
    }  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)
