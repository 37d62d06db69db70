"""Accuracy: the meter's error at a load point from gated pulse counts, with its expanded uncertainty and
the plan's decision rule. All of a point's readings run on every live position at once."""

from __future__ import annotations

import statistics
from dataclasses import replace

from bench.kernel import records as r
from bench.kernel.gates import output_hint
from bench.kinds import TestKind, capability, register_kind
from procedures.errors import InputError
from procedures.metrology import (
    error_budget,
    get_decision_rule,
    plan_from_uncertainty,
    plan_gate,
    registration_pulse_gating,
)


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
    # planned from the uncertainty target: on the bench's own pooled repeatability, settled on measured
    # stability alone; without history the plan's readings and settle, as written
    auto = getattr(point, "test_time", "fixed") == "from-uncertainty"
    pooled = ctx.bench_repeatability(point) if auto else None
    why = "this bench has no history at comparable points"
    ctx.energise(point)
    ref = ctx.stabilise(point.current_a)
    if point.settle_s > 0 and pooled is None:  # the plan's pulse-pickup settling, after measured stability
        ctx.sleep(point.settle_s)
    ctx.publish(r.Stabilised(point_id=point.id, watts=ref.watts, phases=phasor_dict(ref)))
    c = ctx.elements_in_series(point)
    kr = ctx.kr_wh
    lo, hi = ctx.limits(point)
    half = min(abs(lo), abs(hi)) if lo is not None else 1.0
    power = abs(power_of(ref, quantity)) * c
    try:
        plans = planned_gates(ctx, point, todo, power, half, pooled)
    except InputError as exc:  # the bench's repeatability cannot reach the target: the plan's readings
        why, pooled = f"the target is out of reach on this bench's repeatability ({exc.problem})", None
        plans = planned_gates(ctx, point, todo, power, half, None)
    readings = max((p.readings for p in plans.values()), default=point.readings)
    plans = {pos: replace(p, readings=readings) for pos, p in plans.items()}
    extra = {}
    if auto:
        extra = {
            "test_time": point.test_time,
            "target_share": ctx.plan.target_share,
            "repeatability_basis": repeatability_basis(pooled, readings, why),
        }
    opened = []
    for pos in todo:
        m = ctx.meter(pos)
        opened.append(
            ctx.open_point(
                pos,
                point,
                test_pass,
                {
                    "meter_pulses": plans[pos].meter_pulses,
                    "gate_seconds": plans[pos].gate_seconds,
                    "readings": readings,
                    "elements_in_series": c,
                    "kr_wh": kr,
                    "kt_wh": m.kt,
                    "reference_watts": ref.watts,
                    "reference_power": power_of(ref, quantity),
                    "quantity": quantity,
                    "direction": getattr(point, "direction", "delivered"),
                    "frequency_hz": ref.frequency_hz,
                    **extra,
                },
            )
        )
    ctx.publish(*opened)
    errors: dict[int, list[float]] = {p: [] for p in todo}
    ref_pulses: dict[int, list[float]] = {p: [] for p in todo}
    failed: set[int] = set()
    jobs = {p: (ctx.meter(p).kt, plans[p]) for p in todo}
    for batch in ctx.gates(jobs, readings, quantity):
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
                _failed(ctx, pos, point, test_pass, "no pulses", res + output_hint(point))
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
    measured = {}
    for pos in todo:
        if pos in failed:
            continue
        measured[pos] = budget(ctx, point, errors[pos], statistics.fmean(ref_pulses[pos]), pooled)
    return measured, failed


def budget(ctx, point, errors: list[float], ref_pulses: float, pooled):
    """A point's error budget (:func:`procedures.metrology.error_budget`) on this bench; with ``pooled``
    (the bench's own repeatability) its repeatability component rests on the bench's records."""
    cal, s = ctx.calibration, ctx.settings
    return error_budget(
        errors,
        ref_cal_u_percent=cal.uncertainty_percent,
        ref_cal_k=cal.coverage_factor,
        ref_drift_percent=s.ref_drift_percent,
        ref_pulses_per_gate=ref_pulses,
        lag_deg=point.lag_deg,  # the gate opens and closes on meter pulses: its count is exact
        ref_phase_error_urad=s.ref_phase_error_urad,
        repeatability_prior_percent=s.repeatability_prior_percent,
        quantity=getattr(point, "quantity", "active"),
        repeatability_pooled=None if pooled is None else (pooled.s_percent, pooled.dof, pooled.basis),
    )


def planned_gates(ctx, point, todo: list[int], power: float, half: float, pooled) -> dict:
    """Each position's gate plan: from the uncertainty target when the bench's repeatability is known
    (the least bench time with U <= target_share x limit, judged by the very budget the result gets),
    else the fewest pulses for the plan's readings (:func:`procedures.metrology.plan_gate`)."""
    c, kr, s = ctx.elements_in_series(point), ctx.kr_wh, ctx.settings
    plans = {}
    for pos in todo:
        kt = ctx.meter(pos).kt
        if pooled is not None:
            plans[pos] = plan_from_uncertainty(
                power,
                kt,
                kr,
                half,
                lambda n, n_r: budget(ctx, point, [0.0] * n, n_r, pooled).expanded_percent,
                target_share=ctx.plan.target_share,
                max_readings=point.readings,
                min_pulses=s.min_meter_pulses,
                max_gate_s=s.max_gate_s,
                elements_in_series=c,
            )
            continue
        plans[pos] = plan_gate(
            power,
            kt,
            kr,
            half,
            target_share=ctx.plan.target_share,
            repeatability_percent=s.repeatability_prior_percent,
            readings=point.readings,
            min_pulses=s.min_meter_pulses,
            elements_in_series=c,
        )
    return plans


def repeatability_basis(pooled, readings: int, why: str = "") -> str:
    """What a from-uncertainty point's repeatability component rests on, as its certificate says it."""
    if pooled is not None:
        return pooled.basis
    own = f"from this point's own {readings} reading{'s' if readings != 1 else ''}"
    return f"{own} ({why}: the plan's readings and settling)"


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
        said = (message(pos, res) if message else "", verdict.reason if verdict else "")
        results.append(
            r.PointResult.measured(
                point,
                pos,
                test_pass,
                res,
                verdict,
                rule.name,
                lo,
                hi,
                message="; ".join(t for t in said if t),
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
            r.PointResult.failed(
                point, pos, test_pass, message, ctx.plan.decision_rule, shown=False, **quantity_fields(point)
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
            "test_time",
        ),
        results=results,
    )
)
