"""The register test: what the meter's own register shows against the energy the reference measured.

Called by the engine for a plan point of kind "register" (see :meth:`bench.engine.Engine._run_point`).
One run of energy at the point's load gives two results per position (the arithmetic and the uncertainty
model are in :mod:`procedures.metrology.register`):

- the register's error against the reference (a row of kind "register", id = the point's id), and
- the meter-constant check, register against test-output pulses x Kt (a row of kind "meter-constant",
  id ``<point id>-constant``), each with its expanded uncertainty and the plan's decision rule.

Sequence: energise and stabilise to measure the load (it plans each position's energy), source off, wait
the point's settling (a register may lag its display), read every register, arm every gate, source on,
wait for every gate, source off, wait, read every register again. The registers are read only while the
source is off, so the time a port takes to answer costs no accuracy. The few watt-hours registered outside
the gate (before its first pulse, after its last until the source went off) are estimated and carried in
the budget.

A position without a meter port, or whose port reads no energy register, is recorded "skipped" with the
reason; a port that does not answer fails its own position; the others carry on. The engine's exit paths
switch the source off on any exception raised here.
"""

from __future__ import annotations

import dataclasses
import math

from bench.engine import no_pulses
from instruments.errors import InstrumentError
from procedures.catalog import Limit, limit_for
from procedures.errors import InputError
from procedures.metrology import get_decision_rule, plan_register, register_result

REGISTER_KEY = "kWh_delivered"  # the meter port's forward active-energy register, in kWh
CONSTANT_KIND = "meter-constant"
RESOLUTION_ENTRY = "register-resolution"


def register_limits(engine, point) -> tuple[Limit, Limit]:
    """The register's resolution (kWh) and the meter-constant limit (%), from the register point's table."""
    where = f"points.{point.id}.limit"
    if point.limit is None:
        raise InputError(where, "a register point needs a limit entry",
                         allowed=f"a percent entry in a table that also has {CONSTANT_KIND!r} and "
                                 f"{RESOLUTION_ENTRY!r}, e.g. ansi-c12.20-shop:register")  # fmt: skip
    rp = engine.resolved
    tables = {t.id: t for t in engine.plan.extra_tables}
    found = []
    for entry, unit in ((RESOLUTION_ENTRY, "kWh"), (CONSTANT_KIND, "percent")):
        try:
            lim = limit_for(point.limit.table, entry, accuracy_class=rp.accuracy_class,
                            current_class=rp.current_class, extra_tables=tables)  # fmt: skip
        except InputError as exc:
            raise InputError(where, f"limit table {point.limit.table}: {entry} {exc.problem}",
                             allowed=exc.allowed, found=exc.found, source=exc.source) from None  # fmt: skip
        if lim.unit != unit or lim.value <= 0:
            raise InputError(f"{point.limit.table}.{entry}", f"must be a {unit} value > 0", found=lim.value,
                             source=f"limit table {lim.table}")  # fmt: skip
        found.append(lim)
    return found[0], found[1]


def register_point(engine, point, test_pass: str, todo: list[int]) -> None:
    """Run one register point on the positions in ``todo``."""
    resolution, const_limit = register_limits(engine, point)
    engine._emit("point_started", point_id=point.id, data={"label": point.label, "kind": "register",
                 "element": point.element, "pass": test_pass, "voltage_v": point.voltage_v,
                 "current_a": point.current_a, "lag_deg": point.lag_deg, "positions": todo})  # fmt: skip
    ports = {}
    for pos in todo:
        port = engine.bench.meter_ports.get(pos)
        if port is None:
            _skip(
                engine, pos, point, test_pass, "no meter port at this position: the register cannot be read"
            )
        else:
            ports[pos] = port
    if not ports:
        return

    # The load as the reference measures it plans each position's energy.
    t_on = engine.bench.clock.now()
    engine._energise(point.voltage_v, point.current_a, point.lag_deg, point.element)
    ref = engine._stabilise(point.current_a)
    # How long this load took to come up and read steady: the source's ramp is no longer than that.
    ramp_s = engine.bench.clock.now() - t_on
    engine._de_energise_quietly()
    engine._emit("stabilised", point_id=point.id, data={"watts": ref.watts})
    c = engine._elements_in_series(point)
    kr = engine.bench.reference.kr_wh
    lo, hi = engine._limits(point)
    tightest = min(abs(lo), abs(hi), const_limit.value) if lo is not None else const_limit.value
    const_point = dataclasses.replace(
        point, id=f"{point.id}-constant", label=f"{point.label} constant", kind=CONSTANT_KIND,
        limit=const_limit, limit_percent=const_limit.value, limit_provenance=const_limit.provenance,
    )  # fmt: skip

    engine._sleep_checked(point.settle_s)  # source off: let the register catch up before reading it
    plans, starts, rows = {}, {}, {}
    for pos, port in ports.items():
        kt = engine.positions[pos].meter.kt
        plans[pos] = plan_register(abs(ref.watts) * c, kt, kr, resolution.value, tightest,
                                   target_share=engine.resolved.target_share, elements_in_series=c,
                                   min_pulses=engine.settings.min_meter_pulses)  # fmt: skip
        state, value = _read(engine, pos, port)
        if state == "skip":
            _skip(engine, pos, point, test_pass, value)
            continue
        planned = {
            "energy_wh": plans[pos].energy_wh, "meter_pulses": plans[pos].meter_pulses,
            "gate_seconds": plans[pos].gate_seconds, "expected_u_percent": plans[pos].expected_u_percent,
            "resolution_kwh": resolution.value, "resolution_provenance": dataclasses.asdict(resolution.provenance),
            "start_kwh": value if state == "ok" else None, "kt_wh": kt, "kr_wh": kr, "elements_in_series": c,
            "reference_watts": ref.watts,
        }  # fmt: skip
        # Both rows exist before the run (the start reading is committed when taken); the constant row is
        # finished first, so a recorded register row means the whole point is recorded (resume).
        rows[pos] = (engine._add_point(pos, point, test_pass, planned),
                     engine._add_point(pos, const_point, test_pass, {"register_point": point.id}))  # fmt: skip
        if state == "fail":
            _fail(engine, pos, point, rows[pos], value)
            continue
        starts[pos] = value
    if not starts:
        return

    gates, tails = _run_gates(
        engine, point, ramp_s, {pos: (engine.positions[pos].meter.kt, plans[pos]) for pos in starts}
    )
    engine._sleep_checked(point.settle_s)
    rule = get_decision_rule(engine.resolved.decision_rule)
    cal = engine.bench.reference.calibration
    final_pass = test_pass == "as-left" or "as-left" not in engine.settings.passes
    for pos, gate in gates.items():
        if isinstance(gate, str):
            _fail(engine, pos, point, rows[pos], gate, state="no pulses")
            continue
        state, end = _read(engine, pos, ports[pos])
        if state != "ok":
            _fail(engine, pos, point, rows[pos], f"register not read after the run: {end}")
            continue
        kt = engine.positions[pos].meter.kt
        try:
            r = register_result(
                start_kwh=starts[pos], end_kwh=end, resolution_kwh=resolution.value, meter_pulses=gate.meter_pulses,
                kt_wh=kt, ref_pulses=gate.ref_pulses, kr_wh=gate.kr_wh, gate_seconds=gate.gate_seconds,
                tail_seconds=tails[pos], elements_in_series=c, ref_cal_u_percent=cal.uncertainty_percent,
                ref_cal_k=cal.coverage_factor, ref_drift_percent=engine.settings.ref_drift_percent,
                lag_deg=point.lag_deg, ref_phase_error_urad=engine.settings.ref_phase_error_urad,
                repeatability_prior_percent=engine.settings.repeatability_prior_percent,
            )  # fmt: skip
        except InputError as exc:  # e.g. the register went backwards: this meter's fault, not the board's
            _fail(engine, pos, point, rows[pos], f"register {starts[pos]:g} -> {end:g} kWh: {exc}")
            continue
        raw = {"start_kwh": starts[pos], "end_kwh": end, "resolution_kwh": resolution.value,
               "advance_wh": r.advance_wh, "test_output_wh": r.test_output_wh, "reference_wh": r.reference_wh,
               "outside_gate_wh": r.outside_gate_wh, "tail_seconds": list(tails[pos])}  # fmt: skip
        verdicts = {}
        for row, res, (r_lo, r_hi) in ((rows[pos][1], r.constant, (-const_limit.value, const_limit.value)),
                                       (rows[pos][0], r.register, (lo, hi))):  # fmt: skip
            engine.store.add_reading(
                row, index=0, meter_pulses=gate.meter_pulses, ref_pulses=gate.ref_pulses, kr_wh=gate.kr_wh,
                kt_wh=kt, gate_seconds=gate.gate_seconds, error_percent=res.error_percent,
                instrument_error_percent=gate.instrument_error_percent,
                reference={"watts": ref.watts, "register": raw},
            )  # fmt: skip
            verdict = (
                rule.decide(res.error_percent, res.expanded_percent, r_lo, r_hi) if r_lo is not None else None
            )
            verdicts[row] = verdict.outcome if verdict else "info"
            engine.store.finish_point(
                row, status="done", error_percent=res.error_percent, expanded_percent=res.expanded_percent,
                coverage_factor=res.k, dof=res.dof if math.isfinite(res.dof) else None,
                budget=[_plain(comp) for comp in res.components], verdict=verdicts[row],
                decision_rule=rule.name, message=verdict.reason if verdict else "",
            )  # fmt: skip
        engine._done.update({(pos, const_point.id, test_pass), (pos, point.id, test_pass)})
        reg_v, const_v = verdicts[rows[pos][0]], verdicts[rows[pos][1]]
        if final_pass and {reg_v, const_v} & {"fail", "indeterminate"}:
            engine._mark_failed_verdict(pos)
        engine._emit("reading", pos, point.id, {"index": 0, "error_percent": r.register.error_percent,
                     "meter_pulses": gate.meter_pulses, "ref_pulses": gate.ref_pulses,
                     "gate_seconds": gate.gate_seconds, "label": point.label})  # fmt: skip
        worst = next((v for v in ("fail", "indeterminate", "info", "pass") if v in (reg_v, const_v)), reg_v)
        engine._emit("point_done", pos, point.id, {
            "label": point.label, "element": point.element, "pass": test_pass, "kind": "register",
            "error_percent": r.register.error_percent, "expanded_percent": r.register.expanded_percent,
            "k": r.register.k, "limit_lo": lo, "limit_hi": hi, "verdict": worst, "register_verdict": reg_v,
            "constant_error_percent": r.constant.error_percent,
            "constant_expanded_percent": r.constant.expanded_percent, "constant_limit": const_limit.value,
            "constant_verdict": const_v, "start_kwh": starts[pos], "end_kwh": end,
        })  # fmt: skip


def _read(engine, pos: int, port) -> tuple[str, float | str]:
    """("ok", kWh), ("skip", reason) when the port has no energy register, or ("fail", message)."""
    try:
        with engine._io:
            regs = port.registers()
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


def _run_gates(engine, point, ramp_s: float, jobs: dict[int, tuple]) -> tuple[dict, dict]:
    """Arm every gate with the source off, switch on, wait for every gate, switch off.

    Returns per position the GateResult (or a failure message) and the (shortest, longest) time the meter
    kept registering after its gate closed, from the source going off back to the gate's close, which is
    bracketed twice: by the polls (after the last that saw it running, by the first that saw it finished)
    and by the switch-on (the gate opens on the first test pulse after the source came on, at the latest one
    pulse period after the ramp ``ramp_s``; it lasts its own measured length)."""
    clock, s = engine.bench.clock, engine.settings
    with engine._io:
        for pos, (kt, plan) in jobs.items():
            engine.bench.calculators[pos].configure(kt, plan.meter_pulses)
        for pos in jobs:
            engine.bench.calculators[pos].start()
    on_from = clock.now()
    engine._energise(point.voltage_v, point.current_a, point.lag_deg, point.element)
    start = clock.now()
    deadline = {pos: start + plan.gate_seconds * s.gate_timeout_factor + s.gate_timeout_margin_s
                for pos, (_, plan) in jobs.items()}  # fmt: skip
    seen_running = dict.fromkeys(jobs, start)
    out: dict = {}
    finished_at: dict[int, float] = {}
    engine._sleep_checked(0.8 * min(plan.gate_seconds for _, plan in jobs.values()))
    while True:
        engine._safe_point()
        remaining = []
        for pos, (_, plan) in jobs.items():
            if pos in out:
                continue
            calc = engine.bench.calculators[pos]
            with engine._io:
                status, progress = calc.poll()
                now = clock.now()
                if status == "finished":
                    out[pos], finished_at[pos] = calc.result(), now
                    continue
                if now >= deadline[pos]:
                    calc.stop()
                    out[pos] = no_pulses(plan, deadline[pos] - start)
                    continue
            seen_running[pos] = now
            remaining.append((1.0 - max(0.0, min(1.0, progress))) * plan.gate_seconds)
        if len(out) == len(jobs):
            break
        # Halve the distance to the nearest end: few polls, and the last one close to the gate's end, so
        # the energy registered after the gate closed is well bracketed.
        engine._sleep_checked(max(s.gate_poll_s, 0.5 * min(remaining)))
    off_from = clock.now()
    engine._de_energise_quietly()
    off_to = clock.now()
    tails = {}
    for pos, t_b in finished_at.items():
        g = out[pos]
        latest = min(t_b, start + ramp_s + g.gate_seconds * (1.0 + 1.0 / g.meter_pulses))
        earliest = max(seen_running[pos], on_from + g.gate_seconds)
        if latest < earliest:  # the switch-on bound does not hold (a slow ramp): keep the polls' bracket
            earliest, latest = seen_running[pos], t_b
        tails[pos] = (max(0.0, off_from - latest), off_to - earliest)
    return out, tails


def _skip(engine, pos: int, point, test_pass: str, reason: str) -> None:
    row = engine._add_point(pos, point, test_pass, {"reason": reason})
    engine.store.finish_point(row, status="skipped", error_percent=None, expanded_percent=None,
                              coverage_factor=None, dof=None, budget=[], verdict=None, decision_rule=None,
                              message=reason)  # fmt: skip
    engine._done.add((pos, point.id, test_pass))
    engine._emit(
        "point_skipped", pos, point.id, {"label": point.label, "kind": "register", "message": reason}
    )


def _fail(engine, pos: int, point, rows: tuple[int, int], message: str, state: str = "failed") -> None:
    """This position's failure (a dead port, no pulses): both rows failed, the position stops."""
    engine.store.finish_point(rows[1], status="failed", error_percent=None, expanded_percent=None,
                              coverage_factor=None, dof=None, budget=[], verdict="fail",
                              decision_rule=engine.resolved.decision_rule, message=message)  # fmt: skip
    engine._point_failed(rows[0], pos, point, state, message)


def _plain(obj):
    from bench.engine import _plain as plain  # the engine's one definition of "JSON-able for the records"

    return plain(obj)


def recorded_results(record: dict, position: int | None = None) -> list[dict]:
    """The register tests of a recorded run (``store.run_record``) as plain dicts, for the run JSON and
    the certificate: one per register row, its meter-constant twin folded in as ``meter_constant``."""
    twins = {
        (p["position"], p["test_pass"], p["point_id"]): p
        for p in record["points"]
        if p["kind"] == CONSTANT_KIND
    }
    out = []
    for p in record["points"]:
        if p["kind"] != "register" or (position is not None and p["position"] != position):
            continue
        raw = (p["readings"][0]["reference"] or {}).get("register", {}) if p.get("readings") else {}
        twin = twins.get((p["position"], p["test_pass"], f"{p['point_id']}-constant"))
        out.append({
            "position": p["position"], "point_id": p["point_id"], "label": p["label"], "element": p["element"],
            "test_pass": p["test_pass"], "voltage_v": p["voltage_v"], "current_a": p["current_a"],
            "lag_deg": p["lag_deg"], "status": p["status"],
            "message": (p.get("result") or {}).get("message") or p.get("message") or "",
            "start_kwh": raw.get("start_kwh"), "end_kwh": raw.get("end_kwh"),
            "resolution_kwh": raw.get("resolution_kwh", (p.get("planned") or {}).get("resolution_kwh")),
            "advance_kwh": _kwh(raw.get("advance_wh")), "reference_kwh": _kwh(raw.get("reference_wh")),
            "test_output_kwh": _kwh(raw.get("test_output_wh")),
            "meter_pulses": p["readings"][0]["meter_pulses"] if p.get("readings") else None,
            "kt": p["readings"][0]["kt_wh"] if p.get("readings") else None,
            **_result(p),
            "meter_constant": _result(twin) if twin else None,
        })  # fmt: skip
    return out


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else wh / 1000.0


def _result(p: dict) -> dict:
    res = p.get("result") or {}
    lo, hi = p.get("limit_lo"), p.get("limit_hi")
    return {
        "error_percent": res.get("error_percent"), "expanded_uncertainty_percent": res.get("expanded_percent"),
        "coverage_factor": res.get("coverage_factor"),
        "limit_percent": hi if lo is not None and hi is not None and abs(lo + hi) < 1e-12 else (
            [lo, hi] if lo is not None else None),
        "verdict": res.get("verdict") or ("fail" if p.get("status") == "failed" else None),
        "decision_rule": res.get("decision_rule"),
    }  # fmt: skip
