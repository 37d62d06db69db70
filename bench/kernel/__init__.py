"""The run kernel: state machine, safety, gates, the record stream and the run context (see kernel.py).

Names load on first use from the module that defines them, so ``from bench.kernel import KernelSettings``
(the CLI building its parser) does not import the whole kernel.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.kernel.gates import no_pulses
    from bench.kernel.kernel import AbortRequested, Listener, RunKernel, RunOutcome
    from bench.kernel.records import Record
    from bench.kernel.settings import KernelSettings
    from bench.kernel.states import IllegalTransition, PositionState, RunState

_HOME = {
    "AbortRequested": "kernel",
    "IllegalTransition": "states",
    "KernelSettings": "settings",
    "Listener": "kernel",
    "PositionState": "states",
    "Record": "records",
    "RunKernel": "kernel",
    "RunOutcome": "kernel",
    "RunState": "states",
    "no_pulses": "gates",
}
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


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'bench.kernel' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bench.kernel.{home}"), name)
