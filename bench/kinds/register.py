"""The register test: what the meter's own register shows against the energy the reference measured.

One run of energy at the point's load gives two results per position (the arithmetic and the uncertainty
model are in :mod:`procedures.metrology.register`):

- the register's error against the reference (a row of kind "register", id = the point's id), and
- the meter-constant check, register against test-output pulses x Kt (a row of kind "meter-constant",
  id ``<point id>-constant``), each with its expanded uncertainty and the plan's decision rule.

Sequence: energise and stabilise to measure the load (it plans each position's energy), source off, wait
the point's settling (a register may lag its display), read every register, arm every gate, source on,
wait for every gate, source off, wait, read every register again (the gate runner's dosage strategy).
The registers are read only while the source is off, so the time a port takes to answer costs no
accuracy. The few watt-hours registered outside the gate are estimated and carried in the budget.

A position without a meter port, or whose port reads no energy register, is recorded "skipped" with the
reason; a port that does not answer fails its own position; the others carry on. A bench with no meter
port at all cannot run the point, and the run is refused before it starts.
"""

from __future__ import annotations

import dataclasses
import math

from bench.kernel import records as r
from bench.kinds import TestKind, register_kind
from bench.kinds.accuracy import element_needs
from bench.kinds.meterport import skip as _skip
from instruments.errors import InstrumentError
from procedures.catalog import Limit, limit_for
from procedures.errors import InputError
from procedures.metrology import get_decision_rule, plan_register, register_result

REGISTER_KEY = "kWh_delivered"  # the meter port's forward active-energy register, in kWh
CONSTANT_KIND = "meter-constant"
RESOLUTION_ENTRY = "register-resolution"


def _needs(bench, point) -> list[str]:
    missing = element_needs(bench, point)
    if not bench.has_meter_ports:
        missing.append("a meter port: the bench has none to read the register")
    return missing


def register_limits(ctx, point) -> tuple[Limit, Limit]:
    """The register's resolution (kWh) and the meter-constant limit (%), from the register point's table."""
    where = f"points.{point.id}.limit"
    if point.limit is None:
        raise InputError(
            where,
            "a register point needs a limit entry",
            allowed=f"a percent entry in a table that also has {CONSTANT_KIND!r} and "
            f"{RESOLUTION_ENTRY!r}, e.g. ansi-c12.20-shop:register",
        )
    rp = ctx.plan
    tables = {t.id: t for t in ctx.source_plan.extra_tables}
    found = []
    for entry, unit in ((RESOLUTION_ENTRY, "kWh"), (CONSTANT_KIND, "percent")):
        try:
            lim = limit_for(
                point.limit.table,
                entry,
                accuracy_class=rp.accuracy_class,
                current_class=rp.current_class,
                extra_tables=tables,
            )
        except InputError as exc:
            raise InputError(
                where,
                f"limit table {point.limit.table}: {entry} {exc.problem}",
                allowed=exc.allowed,
                found=exc.found,
                source=exc.source,
            ) from None
        if lim.unit != unit or lim.value <= 0:
            raise InputError(
                f"{point.limit.table}.{entry}",
                f"must be a {unit} value > 0",
                found=lim.value,
                source=f"limit table {lim.table}",
            )
        found.append(lim)
    return found[0], found[1]


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    """Run one register point on the positions in ``todo``."""
    resolution, const_limit = register_limits(ctx, point)
    ctx.publish(r.PointStarted.of(point, "register", test_pass, todo))
    ports = []
    for pos in todo:
        if ctx.meter_port(pos) is None and ctx.settings.register_entry is None:
            _skip(ctx, pos, point, test_pass, "no meter port at this position: the register cannot be read")
        else:
            ports.append(pos)
    if not ports:
        return

    # The load as the reference measures it plans each position's energy.
    t_on = ctx.now()
    ctx.energise(point)
    ref = ctx.stabilise(point.current_a)
    ramp_s = ctx.now() - t_on  # the source's ramp is no longer than it took to read steady
    ctx.source_off()
    ctx.publish(r.Stabilised(point_id=point.id, watts=ref.watts))
    c = ctx.elements_in_series(point)
    kr = ctx.kr_wh
    lo, hi = ctx.limits(point)
    tightest = min(abs(lo), abs(hi), const_limit.value) if lo is not None else const_limit.value
    const_point = dataclasses.replace(
        point,
        id=f"{point.id}-constant",
        label=f"{point.label} constant",
        kind=CONSTANT_KIND,
        limit=const_limit,
        limit_percent=const_limit.value,
        limit_provenance=const_limit.provenance,
    )

    ctx.sleep(point.settle_s)  # source off: let the register catch up before reading it
    plans, starts = {}, {}
    cal = ctx.calibration
    for pos in ports:
        kt = ctx.meter(pos).kt
        plans[pos] = plan_register(
            abs(ref.watts) * c,
            kt,
            kr,
            resolution.value,
            tightest,
            target_share=ctx.plan.target_share,
            elements_in_series=c,
            min_pulses=ctx.settings.min_meter_pulses,
            # sized on the register test's whole budget, not its register terms alone (issue 13)
            ref_cal_u_percent=cal.uncertainty_percent,
            ref_cal_k=cal.coverage_factor,
            ref_drift_percent=ctx.settings.ref_drift_percent,
            lag_deg=point.lag_deg,
            ref_phase_error_urad=ctx.settings.ref_phase_error_urad,
            repeatability_prior_percent=ctx.settings.repeatability_prior_percent,
            tail_span_s=ramp_s + kt * 3600.0 / (abs(ref.watts) * c),
        )
        state, value = _read(ctx, pos, "start")
        if state == "skip":
            _skip(ctx, pos, point, test_pass, value)
            continue
        planned = {
            "energy_wh": plans[pos].energy_wh,
            "meter_pulses": plans[pos].meter_pulses,
            "gate_seconds": plans[pos].gate_seconds,
            "expected_u_percent": plans[pos].expected_u_percent,
            "resolution_kwh": resolution.value,
            "resolution_provenance": dataclasses.asdict(resolution.provenance),
            "start_kwh": value if state == "ok" else None,
            "kt_wh": kt,
            "kr_wh": kr,
            "elements_in_series": c,
            "reference_watts": ref.watts,
            "entry": _entry(ctx, pos),
        }
        # Both rows exist before the run (the start reading is committed when taken).
        ctx.publish(
            ctx.open_point(pos, point, test_pass, planned),
            ctx.open_point(pos, const_point, test_pass, {"register_point": point.id}),
        )
        if state == "fail":
            _fail(ctx, pos, point, const_point, test_pass, value)
            continue
        starts[pos] = value
    if not starts:
        return

    dosed = ctx.dosage({pos: (ctx.meter(pos).kt, plans[pos]) for pos in starts}, point, ramp_s)
    ctx.sleep(point.settle_s)
    rule = get_decision_rule(ctx.plan.decision_rule)
    cal = ctx.calibration
    s = ctx.settings
    for pos, gate in dosed.results.items():
        if isinstance(gate, str):
            _fail(ctx, pos, point, const_point, test_pass, gate, state="no pulses")
            continue
        state, end = _read(ctx, pos, "end")
        if state != "ok":
            _fail(ctx, pos, point, const_point, test_pass, f"register not read after the run: {end}")
            continue
        kt = ctx.meter(pos).kt
        try:
            res = register_result(
                start_kwh=starts[pos],
                end_kwh=end,
                resolution_kwh=resolution.value,
                meter_pulses=gate.meter_pulses,
                kt_wh=kt,
                ref_pulses=gate.ref_pulses,
                kr_wh=gate.kr_wh,
                gate_seconds=gate.gate_seconds,
                tail_seconds=dosed.tails[pos],
                elements_in_series=c,
                ref_cal_u_percent=cal.uncertainty_percent,
                ref_cal_k=cal.coverage_factor,
                ref_drift_percent=s.ref_drift_percent,
                lag_deg=point.lag_deg,
                ref_phase_error_urad=s.ref_phase_error_urad,
                repeatability_prior_percent=s.repeatability_prior_percent,
            )
        except InputError as exc:  # e.g. the register went backwards: this meter's fault, not the board's
            _fail(ctx, pos, point, const_point, test_pass, f"register {starts[pos]:g} -> {end:g} kWh: {exc}")
            continue
        raw = {
            "start_kwh": starts[pos],
            "end_kwh": end,
            "resolution_kwh": resolution.value,
            "advance_wh": res.advance_wh,
            "test_output_wh": res.test_output_wh,
            "reference_wh": res.reference_wh,
            "outside_gate_wh": res.outside_gate_wh,
            "tail_seconds": list(dosed.tails[pos]),
            "entry": _entry(ctx, pos),
        }
        rows = {}
        for pt, m, (r_lo, r_hi) in (
            (const_point, res.constant, (-const_limit.value, const_limit.value)),
            (point, res.register, (lo, hi)),
        ):
            verdict = (
                rule.decide(m.error_percent, m.expanded_percent, r_lo, r_hi) if r_lo is not None else None
            )
            reading = r.Reading(
                position=pos,
                point_id=pt.id,
                test_pass=test_pass,
                index=0,
                meter_pulses=gate.meter_pulses,
                ref_pulses=gate.ref_pulses,
                kr_wh=gate.kr_wh,
                kt_wh=kt,
                gate_seconds=gate.gate_seconds,
                error_percent=m.error_percent,
                instrument_error_percent=gate.instrument_error_percent,
                reference={"watts": ref.watts, "register": raw},
                label=point.label,
            )
            result = r.PointResult.measured(
                pt, pos, test_pass, m, verdict, rule.name, r_lo, r_hi, element=point.element
            )
            rows[pt.kind] = (reading, result)
        (c_reading, c_result), (reading, result) = rows[CONSTANT_KIND], rows["register"]
        if ctx.final_pass(test_pass) and {result.verdict, c_result.verdict} & {"fail", "indeterminate"}:
            ctx.fail_verdict(pos)
        shown = dataclasses.replace(reading, stored=False)
        ctx.publish(
            shown,
            r.RegisterResult(
                position=pos,
                point_id=point.id,
                test_pass=test_pass,
                register=result,
                constant=c_result,
                register_reading=reading,
                constant_reading=c_reading,
                start_kwh=starts[pos],
                end_kwh=end,
            ),
        )


def _entry(ctx, pos: int) -> str:
    """How this position's register readings were taken: through its meter port, or typed (issue 15)."""
    return "port" if ctx.meter_port(pos) is not None else "typed by the technician from the meter's display"


def _read(ctx, pos: int, which: str) -> tuple[str, float | str]:
    """("ok", kWh), ("skip", reason) when the port has no energy register, or ("fail", message). A position
    without a meter port gets the reading the technician types (the source off while they read it)."""
    if ctx.meter_port(pos) is None:
        value = ctx.ask(ctx.settings.register_entry, pos, which)
        if value is None:
            return "fail", f"no {which} register reading was typed"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            return "fail", f"the typed {which} register reading is not a reading in kWh: {value!r}"
        return "ok", float(value)
    try:
        regs = ctx.read_registers(pos)
    except (InstrumentError, OSError) as exc:
        return "fail", f"meter port did not answer: {exc}"
    if not isinstance(regs, dict) or REGISTER_KEY not in regs:
        return (
            "skip",
            f"the meter port reads no {REGISTER_KEY} register (it has: {', '.join(regs or {}) or 'none'})",
        )
    value = regs[REGISTER_KEY]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return "fail", f"meter port gave an unusable {REGISTER_KEY} reading: {value!r}"
    return "ok", float(value)


def _fail(ctx, pos: int, point, const_point, test_pass: str, message: str, state: str = "failed") -> None:
    """This position's failure (a dead port, no pulses): both rows failed, the position stops."""
    rule = ctx.plan.decision_rule
    with ctx.atomic():  # the failed rows and the stop they cause: a resume finds both or neither
        ctx.publish(
            *(
                r.PointResult.failed(pt, pos, test_pass, message, rule, element=point.element, shown=False)
                for pt in (const_point, point)
            )
        )
        ctx.stop_position(pos, state, message)


def results(record: dict, position: int | None = None) -> list[dict]:
    from bench.readmodel import register_results

    return register_results(record, position)


KIND = register_kind(
    TestKind(
        name="register",
        title="Register test (meter port)",
        run=run,
        retestable=True,
        needs=_needs,
        plan_fields=("element", "current", "lag_deg", "voltage", "settle_s", "limit"),
        results=results,
    )
)
