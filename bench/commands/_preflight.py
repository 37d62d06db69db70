"""What the command line checks against the bench file before anything is energised: the wiring overrides
name real positions, the reference is within its calibration (or --allow-overdue was given), and on a
real bench the technician is told once that conditions not entered will read "not measured"."""

from __future__ import annotations

from datetime import date

from procedures.errors import InputError

CONDITIONS_WARNING = (
    "Warning: bench temperature and humidity not entered (--temperature, --humidity): the certificates "
    "will say they were not measured."
)


def check_bench(req, *, conditions: bool = False) -> None:
    """Refuse (one line) what the bench file says cannot be right; warn about missing conditions when
    ``conditions`` (a new run: a resumed or retested one keeps the conditions it recorded)."""
    if not req.bench_file:
        return  # the service names the missing bench file itself
    from instruments.benchfile import load_bench_config

    config = load_bench_config(req.bench_file)
    check_overrides(req.settings.wiring_overrides, config.positions)
    cal = config.calibration
    today = req.settings.today or date.today()
    if cal.overdue(today) and not req.settings.allow_overdue:
        raise InputError(
            "reference calibration",
            f"is overdue since {cal.due.isoformat()}",
            allowed="a reference standard within its calibration interval, or --allow-overdue to test with "
            "it anyway (recorded on the run and stated on its certificates)",
            source=config.name,
        )
    env = req.environment or {}
    if conditions and not config.simulated and ("temperature_c" not in env or "humidity_pct" not in env):
        print(CONDITIONS_WARNING, flush=True)


def check_overrides(overrides: dict, positions: int) -> None:
    """A mistyped position must not leave the technician believing a finding was overridden."""
    wrong = sorted(p for p in overrides if p is not None and not 1 <= p <= positions)
    if wrong:
        raise InputError(
            "--override-wiring",
            f"no position {', '.join(map(str, wrong))} on this bench",
            allowed=f"1..{positions}, board",
        )
