"""How the kernel runs a plan: the settings a shop (the CLI's options, the GUI's) chooses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date


@dataclass
class KernelSettings:
    """How the kernel runs; defaults suit a shop bench. Bench time throughout except ``watchdog_s`` and
    ``heartbeat_s``."""

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
    # during a long wait (a creep or starting window, a long gate, warm-up) the source is asked this often
    # whether it still holds its output: a trip or an instrument gone silent stops the run then, not at the
    # window's end (bench seconds; each check is one message)
    health_check_s: float = 10.0
    max_gate_s: float = 300.0
    min_meter_pulses: int = 1
    allow_overdue: bool = False
    wiring_overrides: dict[int | None, str] = field(default_factory=dict)  # position (None=board) -> reason
    # resume on a bench whose instruments or reference standard differ from the run's: the technician's
    # reason (recorded on the run and stated on its certificates); empty = refused
    other_bench: str = ""
    watchdog_s: float = 60.0
    heartbeat_s: float = 30.0  # wall seconds between "this run is alive" marks in the store
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
    # Called with the source OFF for a register point on a position without a meter port: (position,
    # "start" | "end") -> the register reading in kWh the technician typed from the meter's display, or None
    # (no reading: the position's register point fails). None here = such positions are skipped.
    register_entry: Callable[[int, str], float | None] | None = None
