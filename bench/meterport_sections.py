"""The meter-port tests of a recorded run (demand, clock, TOU, identity) as plain dicts for the run JSON and
as certificate rows (:class:`reports.model.MeterPortTest`), with their limits' provenance."""

from __future__ import annotations

from bench.readmodel import point_fields

KINDS = ("demand", "clock", "tou", "identity")
UNITS = {"percent": "%", "s/day": "s/day", "kWh": "kWh"}
QUANTITY = {
    "demand": "Maximum demand error",
    "clock": "Clock rate (drift)",
    "tou": "TOU tier registers",
    "identity": "Identity, status and events",
}


def meterport_results(record: dict, position: int | None = None, kind: str | None = None) -> list[dict]:
    """Every recorded meter-port point (or one kind's) as the run JSON states it."""
    out = []
    for p in record["points"]:
        if p["kind"] not in KINDS or (kind and p["kind"] != kind):
            continue
        if position is not None and p["position"] != position:
            continue
        res = p.get("result") or {}
        planned = p.get("planned") or {}
        readings = p.get("readings") or []
        details = (readings[0].get("reference") or {}).get(p["kind"], {}) if readings else {}
        unit = details.get("unit") or planned.get("unit") or "percent"
        limit = planned.get("limit") if p.get("limit_hi") is None else p.get("limit_hi")
        out.append(
            {
                **point_fields(p),
                "kind": p["kind"],
                "status": p.get("status"),
                "message": res.get("message") or p.get("message") or "",
                "unit": unit,
                "value": res.get("error_percent"),
                "expanded_uncertainty": res.get("expanded_percent"),
                "coverage_factor": res.get("coverage_factor"),
                "limit": limit,
                "limit_provenance": p.get("limit_provenance") or planned.get("limit_provenance") or {},
                "verdict": res.get("verdict") or ("fail" if p.get("status") == "failed" else None),
                "details": details,
                "planned": planned,
            }
        )
    return out


def _observed(r: dict) -> str:
    d = r["details"]
    if r["kind"] == "demand":
        return (
            f"{d.get('judged', 'demand')}: {d.get('demand_kw', float('nan')):.4f} kW against the reference's "
            f"{d.get('reference_kw', float('nan')):.4f} kW ({d.get('demand_type') or 'interval'} "
            f"{(d.get('interval_s') or 0) / 60:g} min)"
        )
    if r["kind"] == "clock":
        return (
            f"meter {d.get('first_meter_time')} to {d.get('last_meter_time')} over "
            f"{d.get('bench_span_s', 0):.0f} s of bench time: {d.get('drift_s', 0):+.3f} s"
        )
    return "; ".join(d.get("lines") or ()) or r["message"]


def meterport_tests(record: dict, position: int):
    """(certificate rows of this position's measured meter-port tests, deviation lines for those skipped)."""
    from bench.certificate_sections import cite, verdict_word
    from reports import model as rm

    tests, notes = [], []
    for r in meterport_results(record, position):
        if r["status"] == "skipped":
            notes.append(f"{QUANTITY[r['kind']]} {r['label']} not performed: {r['message']}")
            continue
        if r["status"] != "done":
            continue  # listed among the points that could not be measured
        prov = r["limit_provenance"]
        _source, status = cite(prov) if prov else ("plan data", "U")
        source = " ".join(x for x in (prov.get("standard"), prov.get("clause")) if x) or "plan data"
        tests.append(
            rm.MeterPortTest(
                point_id=r["point_id"],
                label=r["label"],
                kind=r["kind"],
                quantity=QUANTITY[r["kind"]],
                observed=_observed(r),
                unit=UNITS.get(r["unit"], r["unit"]),
                value=r["value"],
                expanded_u=r["expanded_uncertainty"],
                k=r["coverage_factor"],
                limit=r["limit"],
                limit_source=f"{source} [{status}]",  # in full under the limits' provenance
                verdict=verdict_word(r["verdict"]),
                stage=r["test_pass"],
            )
        )
    return tuple(tests), notes
