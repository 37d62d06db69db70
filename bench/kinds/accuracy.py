"""Accuracy: the meter's error at a load point from gated pulse counts, with its expanded uncertainty and
the plan's decision rule. All of a point's readings run on every live position at once."""

from __future__ import annotations

import statistics

from bench.kernel import records as r
from bench.kinds import TestKind, capability, register_kind
from procedures.metrology import error_budget, get_decision_rule, plan_gate, registration_pulse_gating


def phasor_dict(reading) -> dict:
    return {
        p: {
            "voltage_v": ph.voltage_v,
            "voltage_lag_deg": ph.voltage_lag_deg,
            "current_a": ph.current_a,
            "current_lag_deg": ph.current_lag_deg,
            "watts": ph.watts,
        }
        for p, ph in reading.phases.items()
    }


def element_needs(bench, point) -> list[str]:
    """An element point needs a source that feeds one element's current alone."""
    if point.element == "series":
        return []
    if not bench.three_phase:
        return [f"element {point.element} alone: a single-phase series-parallel source feeds every element"]
    caps = capability(bench, "source")
    if caps is not None and not caps.per_element:
        return [f"element {point.element} alone: the source cannot energise one element's current"]
    return []


def gate_needs(bench, point) -> list[str]:
    caps = capability(bench, "calculators")
    if caps is not None and not caps.energy_test:
        return ["a pulse-error gate: the error calculators have no energy test"]
    return []


def quantity_needs(bench, point) -> list[str]:
    """A var or VA point needs calculators that gate that quantity's reference pulses."""
    quantity = getattr(point, "quantity", "active")
    caps = capability(bench, "calculators")
    if quantity != "active" and caps is not None and quantity not in caps.quantities:
        return [
            f"{quantity} energy: the error calculators gate only {', '.join(sorted(caps.quantities))} pulses"
        ]
    return []


def _needs(bench, point) -> list[str]:
    return element_needs(bench, point) + gate_needs(bench, point) + quantity_needs(bench, point)


def power_of(reading, quantity: str) -> float:
    """The reference's power in the point's quantity: W (POW1), var (POW2) or VA (POW3)."""
    return {"active": reading.watts, "reactive": reading.vars, "apparent": reading.va}[quantity]


def quantity_fields(point) -> dict:
    """The energy quantity and direction a record of this point carries."""
    return {
        "quantity": r.Quantity(getattr(point, "quantity", "active")),
        "direction": r.Direction(getattr(point, "direction", "delivered")),
    }


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    ctx.publish(r.PointStarted.of(point, "accuracy", test_pass, todo))
    measured, failed = measure(ctx, point, test_pass, todo)
    judge(ctx, point, test_pass, todo, measured, failed)


def measure(ctx, point, test_pass: str, todo: list[int]) -> tuple[dict, set[int]]:
    """A point's readings on every live position, each committed as taken: ({position: ErrorResult}, the
    positions that failed with no pulses or no readings)."""
    quantity = getattr(point, "quantity", "active")
    ctx.energise(point)
    ref = ctx.stabilise(point.current_a)
    if point.settle_s > 0:  # the plan's declared pulse-pickup settling, after measured stability
        ctx.sleep(point.settle_s)
    ctx.publish(r.Stabilised(point_id=point.id, watts=ref.watts, phases=phasor_dict(ref)))
    c = ctx.elements_in_series(point)
    kr = ctx.kr_wh
    lo, hi = ctx.limits(point)
    half = min(abs(lo), abs(hi)) if lo is not None else 1.0
    s = ctx.settings
    plans, opened = {}, []
    for pos in todo:
        m = ctx.meter(pos)
        plans[pos] = plan_gate(
            abs(power_of(ref, quantity)) * c,
            m.kt,
            kr,
            half,
            target_share=ctx.plan.target_share,
            repeatability_percent=s.repeatability_prior_percent,
            readings=point.readings,
            min_pulses=s.min_meter_pulses,
            elements_in_series=c,
        )
        opened.append(
            ctx.open_point(
                pos,
                point,
                test_pass,
                {
                    "meter_pulses": plans[pos].meter_pulses,
                    "gate_seconds": plans[pos].gate_seconds,
                    "readings": point.readings,
                    "elements_in_series": c,
                    "kr_wh": kr,
                    "kt_wh": m.kt,
                    "reference_watts": ref.watts,
                    "reference_power": power_of(ref, quantity),
                    "quantity": quantity,
                    "direction": getattr(point, "direction", "delivered"),
                    "frequency_hz": ref.frequency_hz,
                },
            )
        )
    ctx.publish(*opened)
    errors: dict[int, list[float]] = {p: [] for p in todo}
    ref_pulses: dict[int, list[float]] = {p: [] for p in todo}
    failed: set[int] = set()
    jobs = {p: (ctx.meter(p).kt, plans[p]) for p in todo}
    for batch in ctx.gates(jobs, point.readings, quantity):
        seen = ctx.read_reference()  # what the reference saw as these gates closed
        seen_record = {
            "watts": seen.watts,
            "vars": seen.vars,
            "va": seen.va,
            "frequency_hz": seen.frequency_hz,
            "phases": phasor_dict(seen),
        }
        for pos, _, res in batch:
            if isinstance(res, str):
                _failed(ctx, pos, point, test_pass, "no pulses", res)
                failed.add(pos)
        # Readings taken together (one gate on every position) are committed together, before anyone is
        # told of them.
        taken = []
        for pos, index, res in batch:
            if isinstance(res, str):
                continue
            kt = ctx.meter(pos).kt
            err = registration_pulse_gating(res.meter_pulses, kt, res.ref_pulses, res.kr_wh, c) - 100.0
            errors[pos].append(err)
            ref_pulses[pos].append(res.ref_pulses)
            taken.append(
                r.Reading(
                    position=pos,
                    point_id=point.id,
                    test_pass=test_pass,
                    index=index,
                    meter_pulses=res.meter_pulses,
                    ref_pulses=res.ref_pulses,
                    kr_wh=res.kr_wh,
                    kt_wh=kt,
                    gate_seconds=res.gate_seconds,
                    error_percent=err,
                    instrument_error_percent=res.instrument_error_percent,
                    reference=seen_record,
                    label=point.label,
                    **quantity_fields(point),
                )
            )
        if taken:
            ctx.publish(*taken)
    for pos in todo:
        if pos not in failed and not errors[pos]:
            _failed(ctx, pos, point, test_pass, "failed", "no readings")
            failed.add(pos)
    cal = ctx.calibration
    measured = {}
    for pos in todo:
        if pos in failed:
            continue
        measured[pos] = error_budget(
            errors[pos],
            ref_cal_u_percent=cal.uncertainty_percent,
            ref_cal_k=cal.coverage_factor,
            ref_drift_percent=s.ref_drift_percent,
            ref_pulses_per_gate=statistics.fmean(ref_pulses[pos]),
            lag_deg=point.lag_deg,  # the gate opens and closes on meter pulses: its count is exact
            ref_phase_error_urad=s.ref_phase_error_urad,
            repeatability_prior_percent=s.repeatability_prior_percent,
            quantity=quantity,
        )
    return measured, failed


def judge(
    ctx, point, test_pass: str, todo: list[int], measured: dict, failed: set[int], *, message=None
) -> None:
    """Each measured position's result against the point's limit by the plan's decision rule, published
    in one commit; ``message(pos, result)`` adds to what a result says (an influence point's variation)."""
    lo, hi = ctx.limits(point)
    rule = get_decision_rule(ctx.plan.decision_rule)
    results = []
    for pos in todo:
        if pos in failed or pos not in measured:
            continue
        res = measured[pos]
        verdict = rule.decide(res.error_percent, res.expanded_percent, lo, hi) if lo is not None else None
        outcome = verdict.outcome if verdict else "info"
        results.append(
            r.PointResult(
                position=pos,
                point_id=point.id,
                test_pass=test_pass,
                label=point.label,
                element=point.element,
                error_percent=res.error_percent,
                expanded_percent=res.expanded_percent,
                k=res.k,
                dof=res.dof,
                budget=tuple(res.components),
                verdict=outcome,
                decision_rule=rule.name,
                message="; ".join(
                    t for t in (message(pos, res) if message else "", verdict.reason if verdict else "") if t
                ),
                limit_lo=lo,
                limit_hi=hi,
                **quantity_fields(point),
            )
        )
        # an in-service plan's point limits are adjustment thresholds: its average decides acceptance
        if (
            outcome in ("fail", "indeterminate")
            and ctx.final_pass(test_pass)
            and point.limit_role != "adjust"
        ):
            ctx.fail_verdict(pos)
    if results:
        ctx.publish(*results)  # the results of one point on every position: one commit


def _failed(ctx, pos: int, point, test_pass: str, state: str, message: str) -> None:
    with ctx.atomic():  # the failed row and the stop it causes: a resume finds both or neither
        ctx.publish(
            r.PointResult(
                position=pos,
                point_id=point.id,
                test_pass=test_pass,
                status="failed",
                label=point.label,
                element=point.element,
                verdict="fail",
                decision_rule=ctx.plan.decision_rule,
                message=message,
                shown=False,
                **quantity_fields(point),
            )
        )
        ctx.stop_position(pos, state, message)


def results(record: dict, position: int | None = None) -> list[dict]:
    from bench.readmodel import accuracy_results

    return accuracy_results(record, position)


KIND = register_kind(
    TestKind(
        name="accuracy",
        title="Accuracy (pulse-gated error)",
        run=run,
        retestable=True,
        needs=_needs,
        plan_fields=(
            "element",
            "current",
            "lag_deg",
            "voltage",
            "readings",
            "settle_s",
            "limit",
            "limit_role",
            "quantity",
            "direction",
            "frequency_hz",
        ),
        results=results,
    )
)
