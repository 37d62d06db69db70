"""Retested points of a run, as the summary, the run JSON and the certificate state them."""

from __future__ import annotations


def retests(record: dict, position: int | None = None) -> list[dict]:
    """One entry per earlier result a retest superseded: where, why, and what that result was.

    Rows superseded by a resumed run (an interrupted point measured again) are not retests and are left
    out: they never had a result."""
    current = {p["id"]: p for p in record["points"]}
    out = []
    for old in (record.get("superseded") or {}).get("points", []):
        new = current.get(old["superseded_by"])
        reason = ((new or {}).get("planned") or {}).get("retest_reason")
        if not reason or (position is not None and old["position"] != position):
            continue
        out.append(
            {
                "position": old["position"],
                "point_id": old["point_id"],
                "label": old["label"],
                "test_pass": old["test_pass"],
                "reason": reason,
                "superseded": _result(old),
                "current": _result(new),
            }
        )
    return out


def _result(p: dict) -> dict:
    res = p.get("result") or {}
    return {
        "point_row": p["id"],
        "status": p["status"],
        "error_percent": res.get("error_percent"),
        "expanded_uncertainty_percent": res.get("expanded_percent"),
        "coverage_factor": res.get("coverage_factor"),
        "verdict": res.get("verdict"),
        "message": res.get("message") or p.get("message") or "",
        "measured": p.get("finished_at"),
    }


def describe(entry: dict) -> str:
    """``entry`` (of :func:`retests`) in a sentence: why, and the earlier result it superseded."""
    r = entry["superseded"]
    if r["error_percent"] is not None:
        was = f"{r['error_percent']:+.4f} % ± {r['expanded_uncertainty_percent']:.4f} % (k = {r['coverage_factor']:.2f})"
    else:
        was = r["message"] or r["status"]
    verdict = (r["verdict"] or r["status"]).upper()
    return (
        f"Point {entry['label']} ({entry['test_pass']}) was measured again: {entry['reason']}. The earlier "
        f"result, {was}, {verdict}, is superseded by the result stated."
    )
