"""The demand test: the meter's maximum demand after one interval of constant load, against the
reference's average power over the same load (arithmetic and budget: :mod:`procedures.metrology.meterport`).

Sequence: read each meter's demand interval from its tables (C12.19 ST13: block or sliding; IEC 0.8.0);
reset its demand where the port can (C12.18 procedure 9, a write the shop opts in to), source on at the
point's load, stabilise, then keep the load on for two intervals plus a margin, so that at least one whole
demand interval of every meter lies inside the constant load whatever its clock; the reference's power is
read every few seconds meanwhile. Then, with the load still on, read each meter's demand: the maximum since
the reset, or (a port that cannot reset, such as an IEC 62056-21 readout) the last completed interval's
demand, which the long load makes a whole interval at that load. Source off.

Both give the constant load's power, whichever interval the meter used: a partly loaded interval is lower,
never higher, and the maximum is a whole one. The error is judged against the plan's limit (percent, from its
limit table with provenance) with the demand register's digit in the budget.
"""

from __future__ import annotations

from bench.kernel import records as r
from bench.kinds import TestKind, register_kind
from bench.kinds.meterport import PORT_ERRORS, entry, fail, port_needs, ports_for, provenance, result
from procedures.errors import InputError
from procedures.metrology.meterport import demand_result

MARGIN_S = 10.0  # after two intervals: the meter's clock may lag ours by a few seconds
SAMPLE_S = 5.0  # how often the reference's power is read while the load is on


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    lo, hi = ctx.limits(point)
    resolution = entry(ctx, point, "demand-resolution", "kW")
    ctx.publish(r.PointStarted.of(point, "demand", test_pass, todo))
    ports = ports_for(ctx, point, test_pass, todo, "demand")
    setups = {}
    for pos in ports:
        try:
            cfg = ctx.port_call(pos, "demand")
            reset = ctx.port_can(pos, "demand_reset")
            if reset:
                ctx.port_call(pos, "demand_reset")
        except PORT_ERRORS as exc:
            fail(ctx, pos, point, test_pass, f"demand not set up: {exc}", opened=False)
            continue
        planned = {
            "interval_s": cfg["interval_s"],
            "demand_type": cfg.get("demand_type"),
            "reset": reset,
            "judged": "maximum demand since the reset" if reset else "last completed interval's demand",
            "tables": cfg.get("tables"),
            "resolution": provenance(resolution),
            "unit": "percent",
        }
        ctx.publish(ctx.open_point(pos, point, test_pass, planned))
        setups[pos] = planned
    if not setups:
        return
    longest = max(s["interval_s"] for s in setups.values())
    ctx.energise(point)
    try:
        ctx.stabilise(point.current_a)
        t0 = ctx.now()
        watts = []
        while ctx.now() - t0 < 2 * longest + MARGIN_S:
            watts.append(ctx.read_reference().watts)
            ctx.sleep(SAMPLE_S)
        t1 = ctx.now()
        read = {}
        for pos in setups:
            try:
                read[pos] = ctx.port_call(pos, "demand")
            except PORT_ERRORS as exc:
                read[pos] = exc
    finally:
        ctx.source_off()
    c = ctx.elements_in_series(point)
    cal, s = ctx.calibration, ctx.settings
    for pos, got in read.items():
        if isinstance(got, Exception):
            fail(ctx, pos, point, test_pass, f"demand not read after the load: {got}")
            continue
        key = "max_kw" if setups[pos]["reset"] else "last_kw"
        try:
            m = demand_result(
                got[key],
                watts,
                resolution_kw=resolution.value,
                elements_in_series=c,
                ref_cal_u_percent=cal.uncertainty_percent,
                ref_cal_k=cal.coverage_factor,
                ref_drift_percent=s.ref_drift_percent,
                lag_deg=point.lag_deg,
                ref_phase_error_urad=s.ref_phase_error_urad,
            )
        except InputError as exc:
            fail(ctx, pos, point, test_pass, f"demand {got.get(key)!r} kW: {exc}")
            continue
        mean_w = sum(watts) / len(watts) * c
        details = {
            "demand_kw": got[key],
            "max_kw": got.get("max_kw"),
            "last_kw": got.get("last_kw"),
            "reference_kw": mean_w / 1000.0,
            "reference_readings": len(watts),
            "loaded_s": t1 - t0,
            **setups[pos],
        }
        result(ctx, pos, point, test_pass, m, lo, hi, details, unit="percent")


def results(record: dict, position: int | None = None) -> list[dict]:
    from bench.meterport_sections import meterport_results

    return meterport_results(record, position, "demand")


KIND = register_kind(
    TestKind(
        name="demand",
        title="Demand test (meter port)",
        run=run,
        retestable=True,
        needs=port_needs("demand register", writes="demand_reset"),
        plan_fields=("element", "current", "lag_deg", "voltage", "settle_s", "limit"),
        results=results,
    )
)
