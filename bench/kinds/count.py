"""Creep (no current: at most one test pulse in the window) and starting (the meter starts at the
starting current within the time): pulses counted without a gate."""

from __future__ import annotations

from bench.kernel import records as r
from bench.kinds import TestKind, capability, register_kind


def _needs(bench, point) -> list[str]:
    caps = capability(bench, "calculators")
    if caps is not None and not caps.pulse_count:
        return ["counting meter pulses without a gate: the error calculators cannot"]
    return []


def _run(ctx, point, test_pass: str, todo: list[int], *, creep: bool) -> None:
    kind = "creep" if creep else "starting"
    ctx.publish(r.PointStarted.of(point, kind, test_pass, todo))
    duration = point.duration_s or 600.0
    ctx.publish(*(ctx.open_point(pos, point, test_pass, {"duration_s": duration}) for pos in todo))
    current = 0.0 if creep else point.current_a
    ctx.energise(point, current=current, lag=0.0 if creep else point.source_lag_deg)  # received: reversed
    ref = ctx.stabilise(current)
    if point.settle_s > 0:  # a pulse from the power-up transient is not creep
        ctx.sleep(point.settle_s)
    period = None
    watts = abs(ref.watts) * ctx.elements_in_series(point) if ref is not None else 0.0
    if not creep and watts > 0:  # the quickest a correct meter on the board registers one pulse
        period = min(ctx.meter(pos).kt for pos in todo) * 3600.0 / watts
    counts = ctx.count(todo, duration, until_started=not creep, pulse_period_s=period)
    ctx.source_off()
    out = []
    for pos in todo:
        pulses, seconds = counts[pos]
        ok = pulses <= 1 if creep else pulses >= 1
        verdict = "pass" if ok else "fail"
        message = (
            f"{pulses} pulse(s) in {seconds:.0f} s at {point.voltage_v:g} V with no current"
            if creep
            else f"{pulses} pulse(s) in {seconds:.0f} s at {point.current_a:g} A"
        )
        out.append(
            r.CountResult(
                position=pos,
                point_id=point.id,
                test_pass=test_pass,
                test_kind=kind,
                pulses=pulses,
                seconds=seconds,
                verdict=verdict,
                label=point.label,
                message=message,
            )
        )
        if not ok:
            ctx.fail_verdict(pos)
    ctx.publish(*out)


def run_creep(ctx, point, test_pass: str, todo: list[int]) -> None:
    _run(ctx, point, test_pass, todo, creep=True)


def run_starting(ctx, point, test_pass: str, todo: list[int]) -> None:
    _run(ctx, point, test_pass, todo, creep=False)


def results(record: dict, position: int | None = None, *, kind: str = "creep") -> list[dict]:
    return [
        {"position": c["position"], "pulses": c["pulses"], "seconds": c["seconds"], "verdict": c["verdict"]}
        for c in record[kind]
        if position is None or c["position"] == position
    ]


FIELDS = ("voltage", "current", "duration_s", "settle_s", "limit")
CREEP = register_kind(
    TestKind(
        name="creep",
        title="No-load (creep)",
        run=run_creep,
        needs=_needs,
        plan_fields=FIELDS,
        results=lambda record, position=None: results(record, position, kind="creep"),
    )
)
STARTING = register_kind(
    TestKind(
        name="starting",
        title="Starting load",
        run=run_starting,
        needs=_needs,
        plan_fields=FIELDS,
        results=lambda record, position=None: results(record, position, kind="starting"),
    )
)
