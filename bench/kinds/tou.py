"""The TOU test: does each tier register advance by the energy of its own window of the calendar the meter
should keep (the plan point's ``tou_calendar``, the meter's program sheet)?

Sequence (a port that can set the meter's clock: ANSI C12.18 procedure 10, a write the shop opts in to):
source on at the point's load and stabilise; read the meter's clock; set it to two minutes before the
calendar's first tier change; read the tier registers (a port that cannot set the clock, such as an IEC
62056-21 readout, waits on the meter's own clock for two minutes before the change, when the point's
``duration_s`` allows that wait; else the position is skipped, saying why); keep the load on until two minutes after the change,
reading the reference's power meanwhile; read the tier registers again; source off; set the meter's clock
back to where it would have been. Each window's energy is the reference's mean power x the window's
bench time; each tier register must advance by its window's energy within two register digits plus the
accuracy limit (limit table entries ``tou-resolution`` (kWh) and ``tou-energy`` (%), with provenance). A
meter keeping the wrong calendar fails, naming each tier that went wrong. Readings are taken with the load
on, so the time a reading takes is carried as energy in the tolerance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bench.kernel import records as r
from bench.kinds import TestKind, register_kind
from bench.kinds.meterport import PORT_ERRORS, check, entry, fail, port_needs, ports_for, provenance, skip
from procedures.metrology.meterport import tou_check

LEAD_S = 120.0
AFTER_S = 120.0
SAMPLE_S = 5.0


def boundary(calendar) -> tuple[int, int, int]:
    """(minute of day, tier before, tier after) of the calendar's first change of tier."""
    for k, (minute, tier) in enumerate(calendar):
        before = calendar[k - 1][1]
        if tier != before:
            return minute, before, tier
    raise ValueError("the calendar never changes tier")


def _tiers(regs: dict) -> dict[int, float]:
    return {int(k.removeprefix("kWh_tier")): v for k, v in regs.items() if k.startswith("kWh_tier")}


def _next(m0: datetime, minute: int) -> datetime:
    """The next time of day ``minute`` on the meter's clock after ``m0`` (at least LEAD_S ahead)."""
    at = m0.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
    while (at - m0).total_seconds() < LEAD_S:
        at += timedelta(days=1)
    return at


def _setup(ctx, pos: int, minute: int, wait_limit: float) -> dict | str:
    """When this position's window opens: its clock set two minutes before the change, or (a port that
    cannot set the clock) the change awaited on the meter's own clock; a reason when it cannot be done."""
    t0, m0 = ctx.now(), ctx.port_call(pos, "clock")
    if ctx.port_can(pos, "set_clock"):
        return {"t0": t0, "m0": m0, "set": True, "opens": None}
    wait = (_next(m0, minute) - m0).total_seconds() - LEAD_S
    if wait > wait_limit:
        return (
            f"the port cannot set the meter's clock and its next tier change is {wait / 3600:.1f} h away "
            f"(the point's duration_s allows {wait_limit / 3600:.1f} h)"
        )
    return {"t0": t0, "m0": m0, "set": False, "opens": t0 + wait, "drift_s": 1e-4 * (wait + LEAD_S)}


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    resolution = point.limit.value
    rel = entry(ctx, point, "tou-energy", "percent")
    minute, before, after = boundary(point.tou_calendar)
    ctx.publish(r.PointStarted.of(point, "tou", test_pass, todo))
    ports = [p for p in ports_for(ctx, point, test_pass, todo, "clock") if ctx.port_can(p, "registers")]
    calendar = ", ".join(f"{m // 60:02d}:{m % 60:02d} tier {t}" for m, t in point.tou_calendar)
    state: dict[int, dict] = {}
    for pos in ports:
        try:
            got = _setup(ctx, pos, minute, point.duration_s or 0.0)
        except PORT_ERRORS as exc:
            got = f"meter clock not read: {exc}"
        if isinstance(got, str):
            skip(ctx, pos, point, test_pass, got)
            continue
        planned = {
            "calendar": calendar,
            "boundary": f"{minute // 60:02d}:{minute % 60:02d}",
            "tiers": [before, after],
            "unit": "kWh",
            "tou_energy": provenance(rel),
            "clock": "set two minutes before the change" if got["set"] else "the change awaited",
        }
        ctx.publish(ctx.open_point(pos, point, test_pass, planned))
        state[pos] = got
    if not state:
        return
    waits = [s["opens"] for s in state.values() if s["opens"] is not None]
    if waits and min(waits) - ctx.now() > 60.0:
        ctx.sleep(min(waits) - ctx.now() - 60.0)  # source off until the first window is near
    ctx.energise(point)
    watts = []
    try:
        ctx.stabilise(point.current_a)
        for pos, s in list(state.items()):
            if s["set"]:
                try:
                    when = _next(s["m0"], minute) - timedelta(seconds=LEAD_S)
                    s["m0"] = ctx.port_call(pos, "clock")
                    s["t0"] = a = ctx.now()
                    ctx.port_call(pos, "set_clock", when)
                    s["opens"], s["set_span"] = ctx.now(), ctx.now() - a
                except PORT_ERRORS as exc:
                    s["error"], s["opens"] = f"meter clock not set: {exc}", ctx.now()
        end = max(s["opens"] for s in state.values()) + LEAD_S + AFTER_S
        while ctx.now() < end:
            for pos, s in state.items():
                if "r0" not in s and "error" not in s and ctx.now() >= s["opens"]:
                    s["t_b"] = s["opens"] + LEAD_S
                    try:
                        s["r0"], s["t_r0"] = _tiers(ctx.port_call(pos, "registers")), ctx.now()
                    except PORT_ERRORS as exc:
                        s["error"] = f"tier registers not read before the change: {exc}"
            watts.append(ctx.read_reference().watts)
            due = [s["opens"] - ctx.now() for s in state.values() if "r0" not in s and s["opens"] > ctx.now()]
            ctx.sleep(max(min([SAMPLE_S, end - ctx.now(), *due]), 1e-3))
        for pos, s in state.items():
            if "error" in s:
                continue
            a = ctx.now()
            try:
                s["r1"] = _tiers(ctx.port_call(pos, "registers"))
            except PORT_ERRORS as exc:
                s["error"] = f"tier registers not read after the change: {exc}"
            s["t_r1"], s["read_span"] = ctx.now(), ctx.now() - a
    finally:
        ctx.source_off()
    c = ctx.elements_in_series(point)
    mean_w = sum(watts) / len(watts) * c if watts else 0.0
    for pos, s in state.items():
        restore = s["m0"] + timedelta(seconds=ctx.now() - s["t0"])
        try:  # the meter leaves the bench on its own time again
            if s["set"]:
                ctx.port_call(pos, "set_clock", restore)
        except PORT_ERRORS as exc:
            s["error"] = (s.get("error", "") + f"; meter clock not set back to {restore}: {exc}").lstrip("; ")
        if "error" in s:
            fail(ctx, pos, point, test_pass, s["error"])
            continue
        window = {
            before: mean_w * (s["t_b"] - s["t_r0"]) / 3.6e6,
            after: mean_w * (s["t_r1"] - s["t_b"]) / 3.6e6,
        }
        advance = {t: s["r1"].get(t, 0.0) - s["r0"].get(t, 0.0) for t in set(s["r0"]) | set(s["r1"])}
        timing_kwh = mean_w * (s.get("set_span", 0.0) + s["read_span"] + s.get("drift_s", 0.0)) / 3.6e6
        problems = tou_check(advance, window, resolution + timing_kwh / 2, rel.value / 100.0)
        lines = [
            f"tier {t}: advanced {advance.get(t, 0.0):.4f} kWh, its window {window.get(t, 0.0):.4f} kWh"
            for t in sorted(set(advance) | set(window))
        ]
        verdict = "fail" if problems else "pass"
        message = "; ".join(problems) or f"each tier advanced by its window's energy (calendar {calendar})"
        details = {
            "lines": lines,
            "advance_kwh": advance,
            "window_kwh": window,
            "problems": problems,
            "calendar": calendar,
            "reference_kw": mean_w / 1000.0,
            "unit": "kWh",
        }
        check(ctx, pos, point, test_pass, verdict, message, details, "kWh")


def results(record: dict, position: int | None = None) -> list[dict]:
    from bench.meterport_sections import meterport_results

    return meterport_results(record, position, "tou")


KIND = register_kind(
    TestKind(
        name="tou",
        title="TOU test (meter port)",
        run=run,
        retestable=True,
        needs=port_needs("TOU tier registers", writes="set_clock"),
        plan_fields=("element", "current", "lag_deg", "voltage", "tou_calendar", "duration_s", "limit"),
        results=results,
    )
)
