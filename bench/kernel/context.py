"""The run context: all a test kind sees of a run.

A kind energises a point, waits for stability, switches the source off, runs gates, reads a meter port,
asks the technician (the context switches the source off first), publishes records, stops a position
and reaches safe points — through this object only. It never holds an instrument, the records store or
a row id: the kernel owns the bench and its safety, the store writer owns the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from bench.kernel import records as r
from bench.kernel.gates import Dosed
from bench.kernel.store_writer import limits, plain


class RunContext:
    def __init__(self, kernel) -> None:
        self._k = kernel

    # ---- what the run is -------------------------------------------------------------------------
    @property
    def plan(self):
        """The plan resolved for the board's meters (procedures.plans.ResolvedPlan)."""
        return self._k.resolved

    @property
    def source_plan(self):
        """The plan as loaded (its extra limit tables)."""
        return self._k.plan

    @property
    def settings(self):
        return self._k.settings

    @property
    def passes(self) -> tuple[str, ...]:
        return tuple(self._k.settings.passes)

    def final_pass(self, test_pass: str) -> bool:
        """Results of this pass decide the meter's verdict (the as-left pass when there is one)."""
        return test_pass == "as-left" or "as-left" not in self._k.settings.passes

    def meter(self, position: int):
        return self._k.positions[position].meter

    def live(self) -> list[int]:
        """The positions still being tested (not stopped, and in a retest only those retested)."""
        return self._k.active()

    @property
    def three_phase(self) -> bool:
        return self._k.bench.three_phase_source

    @property
    def kr_wh(self) -> float:
        return self._k.bench.reference.kr_wh

    @property
    def calibration(self):
        return self._k.bench.reference.calibration

    def elements_in_series(self, point) -> int:
        """c: how many elements register while a single-phase reference sees one (standards.md §2.5)."""
        if self._k.bench.three_phase_source or point.element != "series":
            return 1
        return self._k.resolved.form.n_elements

    @staticmethod
    def limits(point) -> tuple[float | None, float | None]:
        return limits(point)

    @staticmethod
    def plain(obj):
        return plain(obj)

    # ---- the source (the kernel switches it) -----------------------------------------------------
    def energise(
        self, point, *, current: float | None = None, lag: float | None = None, element: str | None = None
    ) -> None:
        """Source to the point's load (or the given current, angle, element) and on, at the point's
        frequency (the plan's, else the bench's). A received point's current is reversed
        (``point.source_lag_deg``); ``lag`` is then the source's angle as given."""
        self._k.energise(
            point.voltage_v,
            point.current_a if current is None else current,
            getattr(point, "source_lag_deg", point.lag_deg) if lag is None else lag,
            point.element if element is None else element,
            getattr(point, "frequency_hz", None),
            getattr(point, "harmonics", ()),
        )

    def stabilise(self, expected_current: float):
        """Wait until successive reference readings agree; returns the last ReferenceReading."""
        return self._k.stabilise(expected_current)

    def source_off(self) -> None:
        self._k.source_off()

    def now(self) -> float:
        """The bench clock's time."""
        return self._k.bench.clock.now()

    def sleep(self, seconds: float) -> None:
        """Wait on the bench clock, responsive to abort and pause."""
        self._k.sleep(seconds)

    def bench_repeatability(self, point):
        """The bench's own one-reading repeatability at points like ``point``, pooled from its earlier
        runs in the records (:class:`bench.records.repeatability.PooledRepeatability`), or None."""
        key = (round(point.current_a, 6), round(point.lag_deg, 3), getattr(point, "quantity", "active"))
        cache = self.__dict__.setdefault("_repeatability", {})
        if key not in cache:
            cache[key] = self._k.store.pooled_repeatability(
                self._k.run_id, current_a=key[0], lag_deg=key[1], quantity=key[2]
            )
        return cache[key]

    def read_reference(self):
        with self._k.io:
            return self._k.bench.reference.read()

    def position_phasors(self) -> Callable[[int], object] | None:
        """A reader of the phasors each socket's meter sees, or None when the bench has none."""
        try:
            reader = getattr(self._k.bench, "read_position_phasors", None)
        except NotImplementedError:
            reader = None
        if reader is None:
            return None

        def read(pos: int):
            with self._k.io:
                return reader(pos)

        return read

    # ---- gates and counts ------------------------------------------------------------------------
    def gates(self, jobs: dict, readings: int, quantity: str = "active") -> Iterator[list]:
        """Gates on every live position (``jobs``: position -> (kt, gate plan)), single or back to back,
        counting ``quantity`` (active, reactive, apparent) pulses."""
        return self._k.gate_runner.readings(jobs, readings, self._k.active_set, quantity)

    def dosage(self, jobs: dict, point, ramp_s: float) -> Dosed:
        """Gates armed with the source off, then the point's load on, every gate waited for, source off."""
        return self._k.gate_runner.dosage(jobs, lambda: self.energise(point), ramp_s)

    def count(
        self,
        positions: Iterable[int],
        duration_s: float,
        *,
        until_started: bool,
        pulse_period_s: float | None = None,
    ) -> dict:
        """Count meter pulses (no gate) for ``duration_s``; a starting test ends once every meter started
        (``pulse_period_s``: the shortest period a correct meter has at the load, to poll at that rate)."""
        return self._k.gate_runner.count(
            list(positions), duration_s, until_started=until_started, pulse_period_s=pulse_period_s
        )

    def meter_port(self, position: int):
        """The position's meter port, or None."""
        return self._k.bench.meter_ports.get(position)

    def read_registers(self, position: int) -> dict:
        """The meter port's registers (raises InstrumentError/OSError when it does not answer)."""
        with self._k.io:
            return self._k.bench.meter_ports[position].registers()

    def port_can(self, position: int, what: str) -> bool:
        """Whether the position's meter port offers the read or procedure ``what`` (a method name)."""
        return callable(getattr(self._k.bench.meter_ports.get(position), what, None))

    def port_call(self, position: int, what: str, *args):
        """One read or procedure of the position's meter port (``demand``, ``clock``, ``demand_reset``...)
        under the bench's I/O lock; raises what the port raises (InstrumentError, OSError)."""
        with self._k.io:
            return getattr(self._k.bench.meter_ports[position], what)(*args)

    # ---- people ----------------------------------------------------------------------------------
    def ask(self, question: Callable, *args):
        """A person decides: the source goes off first, and the wait is not a stall."""
        return self._k.ask(question, *args)

    # ---- records ---------------------------------------------------------------------------------
    def publish(self, *records: r.Record) -> None:
        """Record (one commit for all of them), then show. Stamps the run id and bench time."""
        self._k.publish(records)

    def atomic(self):
        """``with ctx.atomic():`` what is published inside is committed as one (a result and the stop it
        causes: a crash never keeps one without the other)."""
        return self._k.atomic()

    def open_point(self, position: int, point, test_pass: str, planned: dict) -> r.PointOpened:
        """A position's row for a point; a retest's row names the one it supersedes and why."""
        return self._k.opened(position, point, test_pass, planned)

    def stop_position(self, position: int, state: str, message: str) -> None:
        """The run does no more on this position (no pulses, a wiring fault, a dead port)."""
        self._k.stop_position(position, state, message)

    def fail_verdict(self, position: int) -> None:
        """A result outside its limit: the position fails but keeps testing, so every point is reported."""
        self._k.fail_verdict(position)

    def wiring_override(self, position: int | None) -> str | None:
        return self._k.settings.wiring_overrides.get(position)

    def keep_wiring_override(self, position: int | None, reason: str) -> None:
        """An operator's decision about a wiring finding (a resumed run keeps it)."""
        self._k.settings.wiring_overrides[position] = reason

    def checkpoint(self) -> None:
        """A safe point: the run may pause or stop here."""
        self._k.safe_point()
