"""The run's and each position's states, and the transitions between them that are legal.

A run moves through PREPARING -> PRE_CHECK -> (WARM_UP) -> RUNNING, may pause or wait for a person, and
ends in exactly one of FINISHED (its positions passed or failed), ABORTED (the operator, a safety trip),
INTERRUPTED (Ctrl-C, a signal: a resume may finish it), ERROR (an instrument or input fault) or E_STOP
(whatever else happened, the source did not confirm its output off at the end: recorded as an error
that tells the technician to use the bench's emergency stop). Anything
else is a bug in the kernel: :meth:`StateMachine.to` raises :class:`IllegalTransition` instead of
recording a run that went somewhere it cannot go.

Positions start LOADED, are TESTING while the run works on them, and end PASSED or FAILED, or are
stopped early as NO_PULSES or WIRING_FAULT; when the run itself ends early a position still testing
takes the run's end (aborted, interrupted, error). FAILED is a verdict, not a stop: a position whose
result is outside its limit keeps testing so every point is reported.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.meters import LoadedMeter


class IllegalTransition(RuntimeError):
    """The kernel tried to move a run or a position where the state table does not allow."""


class RunState(enum.Enum):
    PREPARING = "preparing"
    PRE_CHECK = "pre-check"
    WARM_UP = "warm-up"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_FOR_PERSON = "waiting for a person"
    FINISHED = "finished"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    E_STOP = "e-stop"  # the source did not confirm its output off: a person must use the emergency stop

    @property
    def ended(self) -> bool:
        return self in RUN_ENDS


RUN_ENDS = frozenset(
    {RunState.FINISHED, RunState.ABORTED, RunState.INTERRUPTED, RunState.ERROR, RunState.E_STOP}
)
_STOPS = RUN_ENDS - {RunState.FINISHED}  # every live state may end early
_S = RunState
RUN_TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    _S.PREPARING: frozenset({_S.PRE_CHECK}) | _STOPS,
    _S.PRE_CHECK: frozenset({_S.WARM_UP, _S.RUNNING}) | _STOPS,
    _S.WARM_UP: frozenset({_S.RUNNING, _S.PAUSED}) | _STOPS,
    _S.RUNNING: frozenset({_S.PAUSED, _S.WAITING_FOR_PERSON, _S.FINISHED}) | _STOPS,
    _S.PAUSED: frozenset({_S.RUNNING, _S.WARM_UP}) | _STOPS,
    _S.WAITING_FOR_PERSON: frozenset({_S.RUNNING}) | _STOPS,
    _S.E_STOP: frozenset(),
    _S.FINISHED: frozenset(),
    _S.ABORTED: frozenset(),
    _S.INTERRUPTED: frozenset(),
    _S.ERROR: frozenset(),
}


class PositionState(enum.Enum):
    LOADED = "loaded"
    TESTING = "testing"
    PASSED = "passed"
    FAILED = "failed"
    NO_PULSES = "no pulses"
    WIRING_FAULT = "wiring fault"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    @property
    def stopped(self) -> bool:
        """Stopped early: the run does no more on this position."""
        return self in (PositionState.NO_PULSES, PositionState.WIRING_FAULT)


_P = PositionState
_RUN_END_FOR_POSITION = frozenset({_P.ABORTED, _P.INTERRUPTED, _P.ERROR})
POSITION_TRANSITIONS: Mapping[PositionState, frozenset[PositionState]] = {
    # LOADED -> FAILED/PASSED: a retest restores the outcome the run recorded for an untouched position
    _P.LOADED: frozenset({_P.TESTING, _P.PASSED, _P.FAILED, _P.NO_PULSES, _P.WIRING_FAULT})
    | _RUN_END_FOR_POSITION,
    _P.TESTING: frozenset({_P.PASSED, _P.FAILED, _P.NO_PULSES, _P.WIRING_FAULT}) | _RUN_END_FOR_POSITION,
    _P.FAILED: frozenset({_P.NO_PULSES, _P.WIRING_FAULT, _P.TESTING}),
    # a retest tests a finished position again
    _P.PASSED: frozenset({_P.TESTING}),
    _P.NO_PULSES: frozenset({_P.TESTING}),
    _P.WIRING_FAULT: frozenset(),
    _P.ABORTED: frozenset(),
    _P.INTERRUPTED: frozenset(),
    _P.ERROR: frozenset(),
}


class StateMachine:
    """One run's or one position's state, moved only along its table."""

    def __init__(self, table: Mapping, start) -> None:
        self._table = table
        self.state = start

    def to(self, new) -> None:
        if new == self.state:
            return
        if new not in self._table[self.state]:
            raise IllegalTransition(f"{self.state.value} -> {new.value} is not a legal transition")
        self.state = new

    def can(self, new) -> bool:
        return new == self.state or new in self._table[self.state]


class AbortRequested(Exception):
    """The operator (or a safety trip) asked the run to stop."""


class Position:
    """One loaded meter's state in the run."""

    def __init__(self, meter: LoadedMeter) -> None:
        self.meter = meter
        self.machine = StateMachine(POSITION_TRANSITIONS, PositionState.LOADED)
        self.message = ""
        self.stopped = False  # the run does no more on it

    @property
    def state(self) -> str:
        return self.machine.state.value

    def to(self, state: str | PositionState, message: str | None = None) -> None:
        self.machine.to(PositionState(state))
        if message is not None:
            self.message = message


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    outcome: str
    positions: dict[int, str]
    bench_seconds: float
    wall_seconds: float
    message: str = ""
