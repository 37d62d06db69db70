"""The identity, status and event check: who the meter says it is, against what the manifest (or its meter
type) expects - a first-article or re-certification check when firmware changes - and its status and tamper
flags and event log, read through its optical port and shown in words.

It fails when the serial, model or firmware the meter reports differs from what is expected (a field the
manifest leaves empty is shown, not judged; a port's fixed-width field, such as C12.19 ST1's 8-character
model, may hold a shortened name) or when the meter reports an error flag; the mode flags (test mode, meter
shop mode) and the event log are shown, not judged. The program identity is not read: no public source
gives its table layout.
"""

from __future__ import annotations

from bench.kernel import records as r
from bench.kinds import TestKind, register_kind
from bench.kinds.meterport import PORT_ERRORS, check, fail, port_needs, ports_for

MODE_FLAGS = ("test mode", "meter shop mode")
SHOWN_EVENTS = 12


def _compare(field: str, got: str, want: str) -> str | None:
    if not want:
        return None
    if field == "serial":
        return None if got == want else f"serial: the meter says {got!r}, the manifest expects {want!r}"
    if got and (got == want or want.startswith(got)):
        return None
    return f"{field}: the meter says {got!r}, expected {want!r}"


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    ctx.publish(r.PointStarted.of(point, "identity", test_pass, todo))
    for pos in ports_for(ctx, point, test_pass, todo, "identity"):
        ctx.publish(ctx.open_point(pos, point, test_pass, {"unit": ""}))
        try:
            ident = ctx.port_call(pos, "identity")
            flags = ctx.port_call(pos, "status") if ctx.port_can(pos, "status") else []
            events = ctx.port_call(pos, "events") if ctx.port_can(pos, "events") else []
        except PORT_ERRORS as exc:
            fail(ctx, pos, point, test_pass, f"identity not read: {exc}")
            continue
        meter = ctx.meter(pos)
        want = {"serial": meter.serial, "model": meter.model, "firmware": meter.firmware}
        problems = [p for f, w in want.items() if (p := _compare(f, str(ident.get(f, "")), w or ""))]
        errors = [f for f in flags if f not in MODE_FLAGS]
        problems += [f"status flag set: {f}" for f in errors]
        lines = [
            f"{f} {ident.get(f, '')!s}" + (f" (expected {want[f]})" if want.get(f) else "")
            for f in ("serial", "manufacturer", "model", "firmware")
        ]
        lines.append(f"protocol {ident.get('protocol', '')}")
        lines.append("status flags: " + (", ".join(flags) or "none"))
        lines.append("events: " + ("; ".join(events[-SHOWN_EVENTS:]) or "none"))
        lines.append("program identity: not read (no public table layout)")
        verdict = "fail" if problems else "pass"
        details = {"lines": lines, "identity": ident, "flags": flags, "events": events, "problems": problems}
        check(
            ctx,
            pos,
            point,
            test_pass,
            verdict,
            "; ".join(problems) or "identity as expected; no error flags",
            details,
            "",
        )


def results(record: dict, position: int | None = None) -> list[dict]:
    from bench.meterport_sections import meterport_results

    return meterport_results(record, position, "identity")


KIND = register_kind(
    TestKind(
        name="identity",
        title="Identity, status and event check (meter port)",
        run=run,
        retestable=True,
        needs=port_needs("meter's identity"),
        plan_fields=(),
        results=results,
    )
)
