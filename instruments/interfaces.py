"""What the engine asks of a bench: roles, readings and a safe state, independent of any instrument.

A bench is a phantom-load **source**, a **reference standard** and one **error calculator per
position** (and optionally a **meter port** per position to read registers). One physical instrument
may fill several roles (a Fluke 6105A is source, reference and the error calculator of position 1).

Conventions (the same as :mod:`procedures.phasors`): angles in degrees, *lagging positive*, phase-A
voltage at 0 deg; watts = Re(V conj(I)), vars positive inductive. Error sign: %R = 100 x meter energy /
reference energy, error = %R - 100, positive = meter fast.

Safety: every role has ``safe_state()``; :meth:`Bench.safe_state` switches the source off FIRST, then
stops the calculators, collecting errors instead of raising, so it can run on any error path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from instruments.errors import InstrumentTimeout

if TYPE_CHECKING:
    from instruments.benchfile import BenchConfig

PHASES = ("A", "B", "C")


@dataclass(frozen=True)
class PhaseSetting:
    """What the source is asked to apply on one phase (lagging degrees, phase-A voltage = 0)."""

    voltage_v: float
    voltage_lag_deg: float
    current_a: float
    current_lag_deg: float


@dataclass(frozen=True)
class PhaseReading:
    """What the reference measured on one phase (lagging degrees against phase-A voltage)."""

    voltage_v: float
    voltage_lag_deg: float
    current_a: float
    current_lag_deg: float
    watts: float
    vars: float
    va: float
    pf: float


@dataclass(frozen=True)
class ReferenceReading:
    """One reading of the reference standard: per phase and summed."""

    phases: dict[str, PhaseReading]
    watts: float
    vars: float
    va: float
    frequency_hz: float


@dataclass(frozen=True)
class Calibration:
    """The reference standard's calibration, from the bench file (goes onto every certificate)."""

    certificate: str
    laboratory: str
    calibrated: date
    due: date
    uncertainty_percent: float  # expanded, at coverage_factor
    coverage_factor: float
    traceability: str

    def overdue(self, today: date) -> bool:
        """True once the due date has passed (a shop refuses to test with such a standard)."""
        return today > self.due

    @property
    def standard_uncertainty_percent(self) -> float:
        return self.uncertainty_percent / self.coverage_factor


@dataclass(frozen=True)
class GateResult:
    """One error-calculator gate, raw counts first; the engine computes %R from the counts.

    ``instrument_error_percent`` is what the instrument itself reported (None if it reports nothing),
    kept only to cross-check the engine's arithmetic.
    """

    meter_pulses: int
    ref_pulses: float
    kr_wh: float
    gate_seconds: float
    instrument_error_percent: float | None


@dataclass(frozen=True)
class Capabilities:
    """What one instrument can do in the roles it fills, declared by its driver (``capabilities()``).

    A run is checked against these before anything is energised: a point the bench cannot do is refused,
    naming the point and what is missing, instead of being guessed at (``getattr``) mid-run.
    """

    phases: int = 3  # source: how many phases it can energise (1 = single-phase series-parallel bench)
    per_element: bool = True  # source: can energise one element's current alone (element tests)
    frequency_hz: tuple[float, float] = (45.0, 65.0)  # source: settable range
    harmonics: bool = (
        False  # source: can add harmonics (its driver then has set_harmonics(phases, harmonics))
    )
    quantities: frozenset[str] = frozenset({"active"})  # reference/calculators: active, reactive, apparent
    energy_test: bool = True  # calculators: can run a pulse-error gate at all (e.g. an energy option fitted)
    positions: int = 1  # calculators: positions this instrument serves
    continuous_gating: bool = False  # calculators: back-to-back gates (each closing edge opens the next)
    pulse_count: bool = True  # calculators: can count meter pulses without a gate (creep, starting)
    unconfirmed: tuple[str, ...] = ()  # commands marked [U] that this driver would need for the role


@runtime_checkable
class Source(Protocol):
    name: str

    def identify(self) -> str: ...
    def apply(self, phases: dict[str, PhaseSetting], frequency_hz: float) -> None:
        """Set amplitudes, angles and frequency; does NOT switch the output on."""

    def output_on(self) -> None: ...
    def output_off(self) -> None: ...
    def output_is_on(self) -> bool: ...
    def safe_state(self) -> None:
        """Outputs off; must not raise if already off."""


@runtime_checkable
class ReferenceStandard(Protocol):
    name: str
    calibration: Calibration
    kr_wh: float  # Wh per reference pulse

    def identify(self) -> str: ...
    def read(self) -> ReferenceReading: ...
    def safe_state(self) -> None: ...


@runtime_checkable
class ErrorCalculator(Protocol):
    """One per position: counts the meter's test pulses against the reference's pulses."""

    name: str
    position: int

    def configure(self, kt_wh: float, meter_pulses: int) -> None: ...
    def start(self) -> None: ...
    def poll(self) -> tuple[str, float]:
        """("idle" | "running" | "finished", progress 0..1)."""

    def result(self) -> GateResult: ...
    def count_start(self) -> None:
        """Creep / starting tests: start counting meter pulses (no gate)."""

    def count_read(self) -> tuple[int, float]:
        """(meter pulses so far, bench seconds since count_start)."""

    def stop(self) -> None: ...
    def safe_state(self) -> None: ...


@runtime_checkable
class MeterPort(Protocol):
    """Optional: the meter's optical port, for identity and the register test.

    A port may also offer ``phasors() -> ReferenceReading`` (see :class:`PhasorPort`): the meter's own
    site diagnostics, i.e. what its elements measure. It is optional, so it is not part of this protocol;
    use :meth:`Bench.read_position_phasors`, which says when it is not available.
    """

    def identity(self) -> dict[str, str]: ...
    def registers(self) -> dict[str, float]: ...


@runtime_checkable
class PhasorPort(MeterPort, Protocol):
    """A meter port that also reads the meter's site diagnostics (the optional ``phasors`` method)."""

    def phasors(self) -> ReferenceReading:
        """Per-phase voltage/current magnitudes and angles as the meter's elements see them (lagging
        degrees, the meter's phase-A voltage at 0), with per-phase watts/vars/VA and the frequency."""


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds of bench time (virtual or real)."""

    def sleep(self, seconds: float) -> None: ...


@dataclass
class Bench:
    """An opened bench: its roles, its clock and the bench file it came from."""

    name: str
    location: str
    positions: int
    source: Source
    reference: ReferenceStandard
    calculators: dict[int, ErrorCalculator]
    meter_ports: dict[int, MeterPort]
    clock: Clock
    three_phase_source: bool  # False = single-phase series-parallel bench
    config: BenchConfig
    simulator: object | None = None  # the physics model when simulated (tests only; engine must not read)
    capabilities: dict[str, Capabilities] = field(default_factory=dict)  # role -> what it can do
    closers: list[Callable[[], None]] = field(default_factory=list)  # close VISA sessions, managers

    def instruments(self) -> list[object]:
        """Each physical instrument once, the source first (one instrument may fill several roles; a
        rack serving several positions is its calculators' ``rack``)."""
        seen: dict[int, object] = {}
        for role in [self.source, self.reference, *self.calculators.values()]:
            obj = getattr(role, "rack", role)
            seen.setdefault(id(obj), obj)
        return list(seen.values())

    def safe_state(self) -> list[Exception]:
        """Source outputs off FIRST, then reference and calculators; collects errors, never raises."""
        errors: list[Exception] = []
        done: set[int] = set()
        for role in [self.source, self.reference, *self.calculators.values()]:
            if id(role) in done:  # one instrument filling several roles is made safe once
                continue
            done.add(id(role))
            try:
                role.safe_state()
            except Exception as exc:  # noqa: BLE001 - a safe state must try every role
                errors.append(exc)
        return errors

    def unconfirmed_used(self) -> list[str]:
        """Commands found in no public source ([U]) that this bench's drivers sent, per instrument, as
        ``"<instrument>: <command>"`` — what a run records and its certificate states."""
        out = []
        for inst in self.instruments() + list(self.meter_ports.values()):
            link = getattr(inst, "link", None) or getattr(getattr(inst, "c", None), "link", None)
            for command in sorted(getattr(link, "unconfirmed_sent", ()) or ()):
                out.append(f"{getattr(inst, 'name', type(inst).__name__)}: {command}")
        return sorted(set(out))

    def confirm_safe(self) -> list[str]:
        """Ask every instrument whether its safe state took, after the source's own ramp-down time.

        Returns one line per instrument that did not confirm ("<instrument>: <what is wrong>"); empty when
        every instrument confirmed. An instrument whose driver cannot confirm says so (it is not assumed
        safe). Never raises: a failure to ask is itself a line.
        """
        ramp = getattr(self.source, "ramp_s", 0.0) or 0.0
        if ramp > 0:
            with contextlib.suppress(Exception):
                self.clock.sleep(ramp)
        problems: list[str] = []
        for inst in self.instruments():
            name = getattr(inst, "name", type(inst).__name__)
            confirm = getattr(inst, "confirm_safe", None)
            if not callable(confirm):
                if inst is self.source:
                    try:
                        if self.source.output_is_on():
                            problems.append(f"{name}: source output still ON")
                    except Exception as exc:  # noqa: BLE001 - reported, never raised
                        problems.append(f"{name}: cannot read the output state ({exc})")
                continue
            try:
                problems += [f"{name}: {p}" for p in confirm()]
            except Exception as exc:  # noqa: BLE001 - reported, never raised
                problems.append(f"{name}: did not confirm its safe state ({exc})")
        return problems

    @property
    def read_position_phasors(self) -> Callable[[int], ReferenceReading]:
        """``bench.read_position_phasors(position) -> ReferenceReading``: the phasors the meter in that
        socket measures itself (its port's ``phasors()``), wiring faults at the socket included.

        Exists only when it can work: on a bench whose meter ports cannot read phasors the attribute is
        missing (``getattr(bench, "read_position_phasors", None)`` is None); for a single position whose
        port cannot, the call raises NotImplementedError ("not available").
        """
        if not any(callable(getattr(port, "phasors", None)) for port in self.meter_ports.values()):
            raise AttributeError("read_position_phasors: no meter port on this bench reads phasors")
        return self._read_position_phasors

    def _read_position_phasors(self, position: int) -> ReferenceReading:
        read = getattr(self.meter_ports.get(position), "phasors", None)
        if not callable(read):
            raise NotImplementedError(f"position {position}: its meter port cannot read phasors")
        return read()

    def close(self) -> None:
        """Safe state, then close every connection. Never raises."""
        self.safe_state()
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):  # closing is best effort after the safe state
                closer()
        self.closers.clear()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_until(
    clock: Clock,
    predicate: Callable[[], bool],
    timeout_s: float,
    poll_s: float,
    what: str,
    *,
    instrument: str = "bench",
    command: str | None = None,
) -> None:
    """Poll ``predicate`` on the bench clock until it is true; :class:`InstrumentTimeout` after ``timeout_s``.

    ``what`` says what was awaited ("gate finished on position 3"), for the error message.
    """
    deadline = clock.now() + timeout_s
    while True:
        if predicate():
            return
        if clock.now() >= deadline:
            raise InstrumentTimeout(instrument, command, None, f"{what}: not reached within {timeout_s:g} s")
        clock.sleep(poll_s)
