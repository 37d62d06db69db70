"""The run kernel: state machine, safety, gates, the record stream and the run context (see kernel.py)."""

from bench.kernel.gates import no_pulses
from bench.kernel.kernel import AbortRequested, KernelSettings, Listener, RunKernel, RunOutcome
from bench.kernel.records import Record
from bench.kernel.states import IllegalTransition, PositionState, RunState

__all__ = [
    "AbortRequested",
    "IllegalTransition",
    "KernelSettings",
    "Listener",
    "PositionState",
    "Record",
    "RunKernel",
    "RunOutcome",
    "RunState",
    "no_pulses",
]
