"""The ``--json`` file of ``meterbench run``: a contract other tools rely on.

Built from the records store's ``run_record`` (never from the engine's memory), so a resumed or
re-exported run produces the same file as the original. Keys (see README "JSON contract"):
``run`` {id, plan, bench, started, finished, outcome, bench_seconds, wall_seconds}; ``meters``;
``points``; ``averages``; ``wiring``; ``creep``; ``starting``; ``register`` (register tests, see
:func:`bench.registertest.recorded_results`).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.registertest import recorded_results
from bench.retests import retests


def _meters(record: dict) -> list[dict]:
    out = []
    settings = record["run"].get("settings") or {}
    by_pos = {int(k): v for k, v in (settings.get("meters") or {}).items()}
    for pos in record["positions"]:
        m = by_pos.get(pos["position"], {})
        item = {
            "position": pos["position"],
            "serial": m.get("serial", pos.get("serial")),
            "form": m.get("form"),
            "accuracy_class": m.get("accuracy_class"),
            "kh": m.get("kh"),
            "kt": m.get("kt"),
        }
        if m.get("ta_a") is not None:
            item["ta_a"] = m["ta_a"]
        else:
            item["ib_a"], item["in_a"] = m.get("ib_a"), m.get("in_a")
        out.append(item)
    return out


def _pf(lag: float) -> float:
    import math

    return round(math.cos(math.radians(lag)), 4)


def build_run_json(record: dict) -> dict:
    run = record["run"]
    points = []
    for p in record["points"]:
        if p["kind"] != "accuracy":
            continue
        res = p.get("result") or {}
        lo, hi = p.get("limit_lo"), p.get("limit_hi")
        limit = hi if lo is not None and hi is not None and abs(-lo - hi) < 1e-12 else (
            [lo, hi] if lo is not None else None)  # fmt: skip
        readings = p.get("readings") or []
        points.append({
            "position": p["position"],
            "point_id": p["point_id"],
            "label": p["label"],
            "element": p["element"],
            "test_pass": p["test_pass"],
            "voltage_v": p["voltage_v"],
            "current_a": p["current_a"],
            "lag_deg": p["lag_deg"],
            "power_factor": _pf(p["lag_deg"]),
            "readings": len(readings),
            "pulses": readings[0]["meter_pulses"] if readings else None,
            "gate_seconds": (sum(r["gate_seconds"] for r in readings) / len(readings)) if readings else None,
            "error_percent": res.get("error_percent"),
            "expanded_uncertainty_percent": res.get("expanded_percent"),
            "coverage_factor": res.get("coverage_factor"),
            "limit_percent": limit,
            "verdict": res.get("verdict") or ("fail" if p.get("status") == "failed" else None),
            "decision_rule": res.get("decision_rule"),
            "status": p.get("status"),
            "message": (res.get("message") or p.get("message") or ""),
        })  # fmt: skip
    wiring = [
        {
            "position": w["position"] if w["position"] is not None else "bench",
            "rotation": w["rotation"],
            "registration_percent": w.get("registration_percent"),
            "findings": w["findings"],
            "override_reason": w.get("override_reason"),
        }
        for w in record["wiring_checks"]
    ]
    return {
        "run": {
            "id": run["id"],
            "plan": run["plan_id"],
            "plan_version": run.get("plan_version"),
            "plan_sha256": run.get("plan_sha256"),
            "bench": record["bench"]["name"],
            "operator": run.get("operator"),
            "started": run.get("started_at"),
            "finished": run.get("finished_at"),
            "outcome": run.get("outcome") or run.get("status"),
            "bench_seconds": run.get("bench_seconds"),
            "wall_seconds": run.get("wall_seconds"),
        },
        "meters": _meters(record),
        "positions": [
            {"position": p["position"], "outcome": p.get("outcome"), "message": p.get("message", "")}
            for p in record["positions"]
        ],
        "points": points,
        "averages": [
            {
                "position": a["position"],
                "test_pass": a.get("test_pass"),
                "rule": a["rule"],
                "value_percent": a["value_percent"],
                "verdict": a["verdict"],
            }
            for a in record["averages"]
        ],  # fmt: skip
        "wiring": wiring,
        "creep": [
            {
                "position": c["position"],
                "pulses": c["pulses"],
                "seconds": c["seconds"],
                "verdict": c["verdict"],
            }
            for c in record["creep"]
        ],  # fmt: skip
        "starting": [
            {
                "position": c["position"],
                "pulses": c["pulses"],
                "seconds": c["seconds"],
                "verdict": c["verdict"],
            }
            for c in record["starting"]
        ],  # fmt: skip
        "register": recorded_results(record),
        "retests": retests(record),
        "sign_convention": "error % = 100 x (meter energy / reference energy) - 100; positive = meter fast",
    }


def write_run_json(record: dict, path: str | Path) -> Path:
    """Write atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(build_run_json(record), indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path
