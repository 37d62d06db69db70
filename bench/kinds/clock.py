"""The clock test: the meter clock's rate against the bench clock over the point's duration (arithmetic and
budget: :mod:`procedures.metrology.meterport`).

A meter shows whole seconds, so one reading of its clock says little; its seconds tick says more. The test
reads each meter's clock until the second changes (the tick lies between the last reading that showed
the old second and the first that showed the new one), waits the point's ``duration_s`` with the source
off, finds the tick again, and judges the drift in s/day against the plan's limit (s/day, from its limit
table with provenance) with the bench time base's own rate in the budget. On a real bench a reading takes
the port's whole session (about a second), so the tick is known to about a second: a run of hours is
needed to judge 0.5 s/day, and a short run's result is honestly indeterminate.
"""

from __future__ import annotations

from datetime import datetime

from bench.kernel import records as r
from bench.kinds import TestKind, register_kind
from bench.kinds.meterport import PORT_ERRORS, entry, fail, port_needs, ports_for, provenance, result
from procedures.metrology.meterport import Tick, clock_result

DEFAULT_DURATION_S = 3600.0
POLL_S = 0.01  # between clock readings while looking for the tick
MAX_READS = 400  # a clock that does not tick in this many readings is stopped
ORIGIN = datetime(2000, 1, 1)


def _tick(ctx, pos: int) -> tuple[Tick, str]:
    """The meter's next seconds tick (and the meter time it showed), by reading its clock until it changes."""
    before = ctx.now()
    first = ctx.port_call(pos, "clock")
    after_old = before
    for _ in range(MAX_READS):
        ctx.sleep(POLL_S)
        t_before = ctx.now()
        shown = ctx.port_call(pos, "clock")
        t_after = ctx.now()
        if shown != first:
            if (shown - first).total_seconds() != 1:
                raise ValueError(f"the meter clock jumped from {first} to {shown} between two readings")
            return Tick((shown - ORIGIN).total_seconds(), after_old, t_after), shown.isoformat(sep=" ")
        after_old = t_before
    raise ValueError(f"the meter clock did not tick in {MAX_READS} readings (it shows {first})")


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    limit = point.limit.value if point.limit is not None else None
    timebase = entry(ctx, point, "clock-timebase", "s/day")
    duration = point.duration_s or DEFAULT_DURATION_S
    ctx.publish(r.PointStarted.of(point, "clock", test_pass, todo))
    starts = {}
    for pos in ports_for(ctx, point, test_pass, todo, "clock"):
        planned = {
            "duration_s": duration,
            "unit": "s/day",
            "limit": limit,
            "limit_provenance": provenance(point.limit)["provenance"],
            "timebase": provenance(timebase),
        }
        ctx.publish(ctx.open_point(pos, point, test_pass, planned))
        try:
            starts[pos] = _tick(ctx, pos)
        except (*PORT_ERRORS, ValueError) as exc:
            fail(ctx, pos, point, test_pass, f"meter clock not read: {exc}")
    if not starts:
        return
    ctx.sleep(duration)
    for pos, (first, first_shown) in starts.items():
        try:
            last, last_shown = _tick(ctx, pos)
        except (*PORT_ERRORS, ValueError) as exc:
            fail(ctx, pos, point, test_pass, f"meter clock not read at the end: {exc}")
            continue
        m = clock_result(first, last, timebase_s_per_day=timebase.value)
        details = {
            "first_meter_time": first_shown,
            "last_meter_time": last_shown,
            "first_tick_s": first.bench_s,
            "last_tick_s": last.bench_s,
            "bench_span_s": last.bench_s - first.bench_s,
            "meter_span_s": last.meter_s - first.meter_s,
            "drift_s": (last.meter_s - first.meter_s) - (last.bench_s - first.bench_s),
            "limit": limit,
        }
        result(ctx, pos, point, test_pass, m, -limit, limit, details, unit="s/day")


def results(record: dict, position: int | None = None) -> list[dict]:
    from bench.meterport_sections import meterport_results

    return meterport_results(record, position, "clock")


KIND = register_kind(
    TestKind(
        name="clock",
        title="Clock test (meter port)",
        run=run,
        retestable=True,
        needs=port_needs("meter clock"),
        plan_fields=("duration_s", "limit"),
        results=results,
    )
)
