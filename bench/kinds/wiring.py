"""The wiring check: a balanced load, the phasors read (the reference's, and each socket's where its
meter port reads them), the source off, then analysed; a finding stops its position (or the board)
unless the operator overrides it. As-found only: a wiring fault is corrected, not adjusted."""

from __future__ import annotations

from bench.kernel import records as r
from bench.kinds import TestKind, register_kind
from bench.kinds.accuracy import phasor_dict

SUPPLY_FINDINGS = ("rotation_cba", "voltage_missing", "voltage_out_of_tolerance", "no_load")


def _phasor_json(reading, form) -> dict:
    """The reference's phasors in the `meterbench diagnose` JSON shape, for the phases the form uses."""
    return {
        "voltages": {
            p: [reading.phases[p].voltage_v, reading.phases[p].voltage_lag_deg]
            for p in form.voltage_phases
            if p in reading.phases
        },
        "currents": {
            p: [reading.phases[p].current_a, reading.phases[p].current_lag_deg]
            for p in form.current_phases
            if p in reading.phases
        },
    }


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    from procedures.wiring import Phasors, analyse

    form = ctx.plan.form
    ctx.publish(r.PointStarted.of(point, "wiring", test_pass, todo, element="series"))
    ctx.energise(point, element="series")
    ctx.stabilise(point.current_a)
    per_position = ctx.position_phasors()
    supply = ctx.read_reference()
    checks = [(None, supply)]
    for pos in todo:
        try:
            checks.append((pos, per_position(pos) if per_position else supply))
        except NotImplementedError:
            checks.append((pos, supply))
    # Every phasor is read: switch off before analysing, so no person is asked to decide about a finding
    # with the board energised.
    ctx.source_off()
    # Every finding is analysed, and every question a person must answer asked (its answer kept for a
    # resume), before anything is recorded: the whole check is then one moment of the record, so a crash
    # keeps all of it or none and a resume never finds the board's check without its positions'.
    decided = []
    board_stops = False
    for pos, reading in checks:
        if pos is not None and board_stops:
            break
        phasors = Phasors.from_json(_phasor_json(reading, form), f"reference at position {pos or 'board'}")
        report = analyse(form, phasors, hookup="service" if ctx.three_phase else "series")
        findings = tuple(
            {"code": f.code, "phases": list(f.phases), "message": f.message} for f in report.findings
        )
        # With each socket's own phasors, the reference's view stops the board only for what the supply
        # itself gets wrong (rotation, voltages); a current fault belongs to its position.
        stopping = [
            f for f in findings if pos is not None or per_position is None or f["code"] in SUPPLY_FINDINGS
        ]
        override = ctx.wiring_override(pos)
        shown = {
            "position": pos,
            "point_id": point.id,
            "rotation": report.rotation,
            "findings": findings,
            "phases": phasor_dict(reading),
            "registration_percent": report.registration_percent,
        }
        if stopping and not override and ctx.settings.wiring_decision is not None:
            # shown before anyone is asked, so the phasor diagram is this position's when the question comes
            ctx.publish(r.WiringFound(**shown, override=None))
            override = ctx.ask(ctx.settings.wiring_decision, pos, stopping) or None
            if override:
                ctx.keep_wiring_override(pos, override)  # a resumed run keeps the decision
        decided.append((shown, stopping, override))
        board_stops = board_stops or (pos is None and bool(stopping) and not override)
    with ctx.atomic():
        ctx.publish(*(ctx.open_point(pos, point, test_pass, {}) for pos in todo))
        board_fault = None
        for shown, stopping, override in decided:
            _record(ctx, point, test_pass, shown, override)
            if shown["position"] is None and stopping and not override:
                board_fault = stopping
        if board_fault is not None:
            msg = "; ".join(f["message"] for f in board_fault)
            for pos in todo:
                ctx.publish(
                    r.PointResult.failed(
                        point,
                        pos,
                        test_pass,
                        f"board: {msg}",
                        "wiring analysis",
                        element="series",
                        shown=False,
                    )
                )
                ctx.stop_position(pos, "wiring fault", f"board wiring: {msg}")


def _record(ctx, point, test_pass: str, shown: dict, override: str | None) -> None:
    """One check's result and, for a position, its verdict (a fault not overridden stops the position)."""
    ctx.publish(r.WiringResult(**shown, override=override))
    pos, findings = shown["position"], shown["findings"]
    if pos is None:
        return
    ok = not findings or bool(override)
    message = "; ".join(f["message"] for f in findings) or "wiring correct"
    if findings and override:
        message += f" (overridden by the operator: {override})"
    ctx.publish(
        r.PointResult(
            position=pos,
            point_id=point.id,
            test_pass=test_pass,
            label=point.label,
            verdict="pass" if ok else "fail",
            decision_rule="wiring analysis",
            message=message,
            shown=False,
        )
    )
    if not ok:
        ctx.stop_position(
            pos, "wiring fault", "; ".join(f["code"] + ":" + "".join(f["phases"]) for f in findings)
        )


def results(record: dict, position: int | None = None) -> list[dict]:
    return [
        {
            "position": w["position"] if w["position"] is not None else "bench",
            "rotation": w["rotation"],
            "registration_percent": w.get("registration_percent"),
            "findings": w["findings"],
            "override_reason": w.get("override_reason"),
        }
        for w in record["wiring_checks"]
        if position is None or w["position"] in (position, None)
    ]


KIND = register_kind(
    TestKind(
        name="wiring",
        title="Wiring check",
        run=run,
        passes=("as-found",),
        plan_fields=("voltage", "current", "lag_deg"),
        results=results,
    )
)
