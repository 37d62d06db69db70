"""What the meter-port kinds (demand, clock, TOU, identity) share: their limit-table entries, a position
skipped or failed with the port's own words, and one result row with its reading.

A meter-port point reads the meter's own tables through its optical port (ANSI C12.18/C12.19 or IEC
62056-21). A port that does not answer, answers with an error, or lacks the table raises an
InstrumentError naming the meter port and the table; the position's row is then recorded failed with
that message (its other points go on), so no half-read value becomes a result.
"""

from __future__ import annotations

import dataclasses

from bench.kernel import records as r
from instruments.errors import InstrumentError
from procedures.catalog import Limit, limit_for
from procedures.errors import InputError
from procedures.metrology import get_decision_rule

PORT_ERRORS = (InstrumentError, OSError)


def entry(ctx, point, name: str, unit: str) -> Limit:
    """Another entry of the point's own limit table (a resolution, a time base), with its provenance."""
    where = f"points.{point.id}.limit"
    if point.limit is None:
        raise InputError(where, f"a {point.kind} point needs a limit entry")
    tables = {t.id: t for t in ctx.source_plan.extra_tables}
    try:
        lim = limit_for(point.limit.table, name, accuracy_class=ctx.plan.accuracy_class, extra_tables=tables)
    except InputError as exc:
        raise InputError(
            where,
            f"limit table {point.limit.table}: {name} {exc.problem}",
            allowed=exc.allowed,
            found=exc.found,
            source=exc.source,
        ) from None
    if lim.unit != unit or lim.value < 0:
        raise InputError(f"{point.limit.table}.{name}", f"must be a {unit} value >= 0", found=lim.value)
    return lim


def provenance(lim: Limit) -> dict:
    return {"value": lim.value, "unit": lim.unit, "provenance": dataclasses.asdict(lim.provenance)}


def ports_for(ctx, point, test_pass: str, todo: list[int], needs: str) -> list[int]:
    """The positions whose meter port can do ``needs``; the others are recorded skipped, saying why."""
    out = []
    for pos in todo:
        if ctx.meter_port(pos) is None:
            skip(ctx, pos, point, test_pass, "no meter port at this position")
        elif not ctx.port_can(pos, needs):
            skip(
                ctx, pos, point, test_pass, f"this meter port's protocol offers no {needs.replace('_', ' ')}"
            )
        else:
            out.append(pos)
    return out


def skip(ctx, pos: int, point, test_pass: str, reason: str) -> None:
    ctx.publish(
        ctx.open_point(pos, point, test_pass, {"reason": reason}),
        r.PointResult(
            position=pos,
            point_id=point.id,
            test_pass=test_pass,
            status="skipped",
            label=point.label,
            message=reason,
            shown=False,
        ),
        r.PointSkipped(
            position=pos,
            point_id=point.id,
            test_pass=test_pass,
            label=point.label,
            test_kind=point.kind,
            message=reason,
        ),
    )


def fail(ctx, pos: int, point, test_pass: str, message: str, *, opened: bool = True) -> None:
    """The point failed on this position (its port's error): a failed row; the position's verdict fails."""
    records = [] if opened else [ctx.open_point(pos, point, test_pass, {})]
    records.append(r.PointResult.failed(point, pos, test_pass, message, ctx.plan.decision_rule))
    ctx.publish(*records)
    if ctx.final_pass(test_pass):
        ctx.fail_verdict(pos)


def result(ctx, pos: int, point, test_pass: str, m, lo: float, hi: float, details: dict, *, unit: str) -> str:
    """Publish one measured result (``m``: an ErrorResult whose error is in ``unit``) with its reading and
    the plan's decision rule against [lo, hi]; returns the verdict."""
    rule = get_decision_rule(ctx.plan.decision_rule)
    verdict = rule.decide(m.error_percent, m.expanded_percent, lo, hi)
    ctx.publish(
        r.Reading(
            position=pos,
            point_id=point.id,
            test_pass=test_pass,
            index=0,
            error_percent=m.error_percent,
            reference={point.kind: {**details, "unit": unit}},
            label=point.label,
            unit="%" if unit == "percent" else unit,
        ),
        r.PointResult.measured(
            point, pos, test_pass, m, verdict, rule.name, lo, hi, unit="%" if unit == "percent" else unit
        ),
    )
    if ctx.final_pass(test_pass) and verdict.outcome in ("fail", "indeterminate"):
        ctx.fail_verdict(pos)
    return verdict.outcome


def check(ctx, pos: int, point, test_pass: str, verdict: str, message: str, details: dict, unit: str) -> None:
    """Publish a check without a number (TOU tiers, identity): its reading's details and its verdict."""
    ctx.publish(
        r.Reading(
            position=pos,
            point_id=point.id,
            test_pass=test_pass,
            reference={point.kind: details},
            label=point.label,
            unit=unit,
        ),
        r.PointResult(
            position=pos,
            point_id=point.id,
            test_pass=test_pass,
            label=point.label,
            element=point.element,
            verdict=verdict,
            decision_rule=point.kind,
            message=message,
            unit=unit,
        ),
    )
    if ctx.final_pass(test_pass) and verdict == "fail":
        ctx.fail_verdict(pos)


def port_needs(what: str, writes: str | None = None):
    """A kind's ``needs``: the bench must have meter ports; with ``writes`` (a port method such as
    ``demand_reset``), each port offering it must be allowed to use it. A write the protocol makes with an
    unconfirmed command needs the shop's opt-in; without it the run is refused before energising, not
    recorded afterwards as a meter's failure."""

    def needs(bench, point) -> list[str]:
        if not bench.has_meter_ports:
            return [f"a meter port: the bench has none to read the {what}"]
        barred = sorted(pos for pos, write in bench.barred_port_writes if write == writes)
        if not barred:
            return []
        return [
            f"allow_unconfirmed = true for the meter port(s) of position(s) {', '.join(map(str, barred))}: "
            f"the {writes.replace('_', ' ')} of a {point.kind} point uses a command found in no public source"
        ]

    return needs
