"""Sections of a certificate built from a recorded run: the limits' and the register digit's provenance,
the register tests, the reference standard's identity (what :func:`bench.certify.build_certificate_data`
assembles)."""

from __future__ import annotations

import math

STATUS_LETTER = {"confirmed": "C", "derived": "D", "unconfirmed": "U"}
# a creep or starting test's criterion as a provenance row: (name, value from the recorded point)
FUNCTIONAL_CRITERIA = {
    "creep": ("No-load (creep)", "at most 1 test pulse at {voltage_v:g} V, no current"),
    "starting": ("Starting load", "meter starts at {current_a:g} A, {voltage_v:g} V"),
}
SIMULATED_CONDITIONS = (23.0, 45.0)


def bench_conditions(env: dict) -> tuple[bool, float | None, float | None, list[str]]:
    """(simulated, temperature, humidity, deviation lines) of a run's recorded environment. A simulated
    bench without them gets nominal values, said to be nominal; a real bench gets None for each one not
    entered ("not measured" on the certificate, never a number in its place), said under Deviations."""
    simulated = bool(env.get("simulated"))
    temp, hum = env.get("temperature_c"), env.get("humidity_pct")
    notes = []
    if simulated:
        notes.append(
            "Simulated bench: instruments and meter are simulated; this certificate demonstrates "
            "the software and is not a calibration of a physical meter."
        )
    if simulated and (temp is None or hum is None):
        temp, hum = SIMULATED_CONDITIONS
        notes.append(
            f"Temperature and humidity were not measured; {temp:g} °C and {hum:g} % are nominal values."
        )
    elif temp is None or hum is None:
        missing = [n for n, v in (("temperature", temp), ("relative humidity", hum)) if v is None]
        notes.append(
            f"The ambient {' and '.join(missing)} of the test {'were' if len(missing) > 1 else 'was'} not "
            "measured (not entered at the bench); the test conditions state them as not measured."
        )
    return simulated, temp, hum, notes


def unconfirmed_commands_note(used: list[str]) -> list[str]:
    """The deviation naming the commands found in no public source that were sent (recorded as
    ``"<instrument>: <command>"``), each instrument named once with its commands."""
    if not used:
        return []
    by_instrument: dict[str, list[str]] = {}
    for entry in used:
        inst, sep, command = entry.partition(": ")
        by_instrument.setdefault(inst if sep else "", []).append(command if sep else entry)
    return [
        "Instrument commands not confirmed by any public documentation of the instrument were used "
        "(the laboratory enabled them for this bench): "
        + "; ".join(
            f"{inst}: {', '.join(cmds)}" if inst else ", ".join(cmds) for inst, cmds in by_instrument.items()
        )
    ]


def instrument_identity(inst: dict) -> tuple[str, str]:
    """(make and model, serial) of an instrument: a SCPI ``*IDN?`` reply is maker,model,serial,firmware;
    other replies are shown whole, and the serial then says it was not reported."""
    ident = (inst.get("identity") or "").strip()
    parts = [p.strip() for p in ident.split(",")]
    if len(parts) == 4 and all(parts[:3]):
        return f"{parts[0]} {parts[1]} (firmware {parts[3]})" if parts[
            3
        ] else f"{parts[0]} {parts[1]}", parts[2]
    return ident or inst.get("driver", ""), "not reported by the instrument"


def cite(prov: dict) -> tuple[str, str]:
    """A recorded provenance as the certificate's source text and status letter: the standard and clause, or
    "shop practice, not confirmed against the standard" - never a working file the reader does not have."""
    from procedures.catalog import citation

    status = str(prov.get("status", "unconfirmed")).lower()
    status = {"c": "confirmed", "d": "derived", "u": "unconfirmed"}.get(status, status)
    source = citation(
        *(str(prov.get(k) or "") for k in ("standard", "edition", "clause")),
        status,
        str(prov.get("note") or ""),
    )
    return source, STATUS_LETTER.get(status, "U")


def limit_provenance(points: list[dict]):
    from reports.model import LimitProvenance

    seen: dict[str, LimitProvenance] = {}
    for p in points:
        prov = p.get("limit_provenance") or {}
        functional = FUNCTIONAL_CRITERIA.get(p["kind"])  # creep and starting: a pulse count, not a ± limit
        planned = p.get("planned") or {}
        hi, unit = p.get("limit_hi"), "%"
        if hi is None and planned.get("unit") == "s/day":  # a meter-port clock test's limit is in s/day
            hi, unit = planned.get("limit"), "s/day"
        if not prov or (hi is None and not functional):
            continue
        name = f"{p['label']} ({p['element']})" if p["element"] != "series" else p["label"]
        value = functional[1].format(**p) if functional else f"±{hi:g} {unit}"
        name = functional[0] if functional else name
        source, status = cite(prov)
        seen.setdefault(
            f"{name}|{value}",
            LimitProvenance(name=name, value=value, source=source or "plan data", status=status),
        )
    return tuple(seen.values())


def register_tests(record: dict, position: int):
    """This position's measured register tests, and a deviation line for each one not performed."""
    from bench.readmodel import recorded_results
    from reports import model as rm

    tests, notes = [], []
    for r in recorded_results(record, position):
        c = r["meter_constant"] or {}
        if r["status"] == "skipped":
            notes.append(f"Register test {r['label']} not performed: {r['message']}")
            continue
        if r["status"] != "done" or c.get("error_percent") is None or r.get("end_kwh") is None:
            continue  # a failed point is already listed among the points that could not be measured
        if r.get("entry", "port") != "port":
            notes.append(
                f"Register test {r['label']}: the start and end readings were {r['entry']} (no meter port)."
            )
        tests.append(
            rm.RegisterTest(
                point_id=r["point_id"],
                label=r["label"],
                voltage_v=r["voltage_v"],
                current_a=r["current_a"],
                pf=round(math.cos(math.radians(r["lag_deg"])), 4),
                start_kwh=r["start_kwh"],
                end_kwh=r["end_kwh"],
                resolution_kwh=r["resolution_kwh"],
                reference_kwh=r["reference_kwh"],
                test_pulses=r["meter_pulses"],
                kt=r["kt"],
                error_pct=r["error_percent"],
                expanded_u_pct=r["expanded_uncertainty_percent"],
                k=r["coverage_factor"],
                limit_pct=symmetric(r["limit_percent"]),
                verdict=verdict_word(r["verdict"]),
                constant_error_pct=c["error_percent"],
                constant_u_pct=c["expanded_uncertainty_percent"],
                constant_k=c["coverage_factor"],
                constant_limit_pct=symmetric(c["limit_percent"]),
                constant_verdict=verdict_word(c["verdict"]),
                stage=r["test_pass"],
                test_output_kwh=r.get("test_output_kwh"),
            )
        )
    return tuple(tests), notes


def resolution_provenance(points: list[dict]):
    """The register digit a register test's uncertainty rests on: a figure with provenance like a limit."""
    from reports.model import LimitProvenance

    seen = {}
    for p in points:
        planned = p.get("planned") or {}
        prov = planned.get("resolution_provenance")
        if p["kind"] != "register" or not prov or planned.get("resolution_kwh") is None:
            continue
        source, status = cite(prov)
        seen.setdefault(
            planned["resolution_kwh"],
            LimitProvenance(
                name=f"{p['label']} register digit",
                value=f"{planned['resolution_kwh']:g} kWh",
                source=source,
                status=status,
            ),
        )
    return tuple(seen.values())


def symmetric(limit) -> float:
    return float(limit) if isinstance(limit, int | float) else max(abs(x) for x in limit)


def verdict_word(v: str | None) -> str:
    from reports.model import VERDICTS

    return v if v in VERDICTS else "fail"


def point_measures(p: dict) -> dict:
    """A recorded point's quantity, direction and kind as a certificate's PointResult takes them: empty for
    active energy delivered at an accuracy point (so older certificates re-render byte for byte)."""
    from bench.records.rows import quantity_of

    quantity, direction = quantity_of(p)
    return {
        "quantity": "" if quantity == "active" else quantity,
        "direction": "" if direction == "delivered" else direction,
        "kind": "influence" if p["kind"] == "influence" else "",
    }


def sign_convention(points) -> str:
    """The certificate's sign convention, with the direction and unit conventions when it has received,
    reactive, apparent or influence points."""
    from reports.model import DIRECTION_CONVENTION, SIGN_CONVENTION

    special = any(pt.quantity or pt.direction or pt.kind for pt in points)
    return SIGN_CONVENTION + DIRECTION_CONVENTION if special else SIGN_CONVENTION


def test_time_notes(pts: list[dict]) -> list[str]:
    """A deviation/method line for the points whose readings and pulses a from-uncertainty plan chose
    (issue 14): the target, each point's readings x pulses, and what its repeatability component rests on."""
    chosen = [p for p in pts if (p.get("planned") or {}).get("test_time") == "from-uncertainty"]
    if not chosen:
        return []
    by_basis: dict[str, list[str]] = {}
    for p in chosen:
        planned = p["planned"]
        label = f"{p['label']} {planned.get('readings')} reading(s) x {planned.get('meter_pulses')} pulse(s)"
        by_basis.setdefault(str(planned.get("repeatability_basis", "")), []).append(label)
    share = chosen[0]["planned"].get("target_share")
    parts = [f"{', '.join(labels)}: repeatability {basis}" for basis, labels in by_basis.items()]
    return [
        f"Readings, pulses and settling chosen from the uncertainty target (U <= {share:g} x limit), "
        "settled on measured stability where the bench's repeatability was known; " + "; ".join(parts) + "."
    ]


def incomplete_test(record: dict, position: int) -> str:
    """Why this position's test stopped before the plan's end, and the points the run measured on other
    positions but not on it ("" when it was completed). A stopped position whose earlier points passed
    must not read as a conforming meter."""
    state = next((p for p in record["positions"] if p["position"] == position), {})
    if (state.get("outcome") or "passed") in ("passed", "failed"):
        return ""
    done = {
        (p["point_id"], p["test_pass"])
        for p in record["points"]
        if p["position"] == position and p["status"] == "done"
    }
    missing, seen = [], set()
    for p in record["points"]:
        key = (p["point_id"], p["test_pass"])
        if key in done or key in seen or (p.get("limit_hi") is None and p["kind"] == "influence"):
            continue
        seen.add(key)
        missing.append(p["label"] + (" (as-left)" if p["test_pass"] == "as-left" else ""))
    why = (state.get("message") or state["outcome"]).split("; check ")[0]
    return f"stopped: {why}" + (f"; not measured: {', '.join(missing)}" if missing else "")
