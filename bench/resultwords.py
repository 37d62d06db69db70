"""A recorded run's results in words: what was measured at a point, and what made a position fail.

Shared by ``meterbench runs show`` and anything else that names a position's failure (the run summary, the
GUI's position headline): "starting-load test STARTING (as-found, 240 V 0.05 A): 0 pulse(s) in 600 s -
FAIL", rather than "a result is outside its limit". Works on :meth:`RecordStore.run_record` dicts.
"""

from __future__ import annotations

import math


def signed(value: float, places: int) -> str:
    """``value`` with its sign, to ``places`` decimals; a value that rounds to zero is "+0.000", never
    "-0.000" (a clock that keeps time is not slow)."""
    text = f"{value:+.{places}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text


def class_text(accuracy_class: str) -> str:
    """An accuracy class as a technician reads it: "1", not the catalogue's id "iec:1" (the family prefix
    only tells "1" of IEC 62053-21 from "1" of 62053-24 apart, which the plan's standard already says)."""
    family, sep, name = str(accuracy_class).partition(":")
    return name if sep and family and name else str(accuracy_class)


def load_text(pt: dict) -> str:
    text = f"{pt['voltage_v']:g} V {pt['current_a']:g} A"
    if pt["current_a"] and pt["lag_deg"]:
        text += f" {pt['lag_deg']:g}° lag"
    if pt.get("element") and pt["element"] != "series":
        text += f" element {pt['element']}"
    return text


def point_text(pt: dict) -> str:
    from reports.model import point_name

    return point_name(pt["point_id"], pt["label"])


#: a point's ``planned`` unit as printed; an accuracy point records none: its error is in percent
UNITS = {"percent": "%", "s/day": "s/day", "kWh": "kWh", "": ""}


def unit_text(pt: dict) -> str:
    """The unit of a point's error, U and limit: "%", a meter-port clock test's "s/day", a TOU test's "kWh",
    or "" (an identity check has no number)."""
    unit = (pt.get("planned") or {}).get("unit", "percent")
    return UNITS.get(unit, unit)


def limit_text(pt: dict) -> str:
    """The limit with its unit ("±0.2 %", "±0.5 s/day"), "-" when the point has none."""
    lo, hi = pt.get("limit_lo"), pt.get("limit_hi")
    unit = unit_text(pt)
    if hi is None and unit == "s/day":  # a clock test keeps its limit with the plan, in s/day
        hi = (pt.get("planned") or {}).get("limit")
        lo = -hi if hi is not None else None
    if hi is None:
        return "-"
    if lo is not None and math.isclose(-lo, hi):
        return f"±{hi:g} {unit}".rstrip()
    return f"{lo:+g} … {hi:+g} {unit}".rstrip()


def _functional(record: dict, pt: dict) -> dict | None:
    """The creep or starting observation recorded for this point's position and pass, if any."""
    rows = [c for c in record.get(pt["kind"], []) if c["position"] == pt["position"]]
    return rows[-1] if rows else None


def observed(record: dict, pt: dict) -> str:
    """What was measured at a point, in words: error ± U with its unit, pulses in a window, or why it was not
    measured."""
    res = pt.get("result") or {}
    if pt["status"] in ("running", "interrupted"):
        return pt["status"]
    if res.get("error_percent") is not None:
        text = signed(res["error_percent"], 3)
        if res.get("expanded_percent") is not None:
            text += f" ± {res['expanded_percent']:.3f}"
        return f"{text} {unit_text(pt)}".rstrip()
    if pt["status"] in ("failed", "skipped"):
        return f"not measured: {pt.get('message') or res.get('message') or pt['status']}"
    if pt["kind"] in ("creep", "starting"):
        obs = _functional(record, pt)
        if obs:
            return f"{obs['pulses']} pulse(s) in {obs['seconds']:g} s"
    return pt.get("message") or pt["status"]


def verdict_word(pt: dict) -> str:
    res = pt.get("result") or {}
    if res.get("verdict") and (res.get("error_percent") is not None or pt["status"] == "done"):
        return res["verdict"].upper()
    return {"failed": "NOT MEASURED", "skipped": "NOT TESTED", "interrupted": "INTERRUPTED"}.get(
        pt["status"], pt["status"]
    )


def final_points(record: dict, position: int) -> list[dict]:
    """A position's points in run order; a point repeated after a resume counts by its finished attempt."""
    out: dict[tuple[str, str], dict] = {}
    for pt in record["points"]:
        if pt["position"] != position:
            continue
        key = (pt["test_pass"], pt["point_id"])
        old = out.get(key)
        if old is None or old["status"] in ("running", "interrupted"):
            out[key] = pt
    return list(out.values())


_TEST_NAME = {
    "creep": "no-load (creep) test",
    "starting": "starting-load test",
    "register": "register test",
    "demand": "demand test",
    "clock": "clock test",
    "tou": "TOU test",
    "identity": "identity check",
}


def interrupted_at(record: dict, position: int) -> list[str]:
    """The points a stop (Ctrl-C, a signal, a power cut) left unfinished: not failures of the meter."""
    return [
        f"{_TEST_NAME.get(pt['kind'], 'accuracy point')} {point_text(pt)} ({pt['test_pass']}, {load_text(pt)})"
        for pt in final_points(record, position)
        if pt["status"] in ("running", "interrupted")
    ]


def failures(record: dict, position: int) -> list[str]:
    """What made a position fail, naming the test and the point: one line each, in run order."""
    lines = []
    for pt in final_points(record, position):
        verdict = ((pt.get("result") or {}).get("verdict") or "").lower()
        if verdict in ("fail", "indeterminate") or pt["status"] == "failed":
            what = _TEST_NAME.get(pt["kind"], "accuracy point")
            result = observed(record, pt)
            limit = limit_text(pt)
            if pt["kind"] not in ("creep", "starting") and limit != "-" and verdict:
                result += f" against {limit}"
            lines.append(
                f"{what} {point_text(pt)} ({pt['test_pass']}, {load_text(pt)}): {result} - {verdict_word(pt)}"
            )
    for a in record.get("averages", []):
        if a["position"] == position and a["verdict"] in ("fail", "indeterminate"):
            lines.append(
                f"weighted average {a['rule']} ({a['test_pass']}): {a['value_percent']:+.3f} % - "
                f"{a['verdict'].upper()}"
            )
    outcome = next((p["outcome"] for p in record["positions"] if p["position"] == position), None)
    for w in record.get("wiring_checks", []):
        if (
            outcome != "passed"
            and w["position"] in (position, None)
            and w["findings"]
            and not w.get("override_reason")
        ):
            lines.append("wiring check: " + findings_text(w))
    return lines


def findings_text(check: dict) -> str:
    return "; ".join(str(f.get("message") or f.get("code") or f) for f in check["findings"])
