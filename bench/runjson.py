"""The ``--json`` file of ``meterbench run``: a contract other tools rely on.

Built from the records store's ``run_record`` (never from the engine's memory), so a resumed or
re-exported run produces the same file as the original. Keys (see README "JSON contract"):
``run`` {id, plan, bench, started, finished, outcome, bench_seconds, wall_seconds}; ``meters``;
``points`` (accuracy and influence points, each with its ``quantity``, ``direction``, ``unit`` and
``frequency_hz``: the issue-16 extension); ``averages``; ``wiring``; ``creep``; ``starting``; ``register`` (register tests, see
:func:`bench.readmodel.register_results`).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.meterport_sections import meterport_results
from bench.readmodel import RunRecord, accuracy_results, recorded_results
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


def build_run_json(record: dict) -> dict:
    run = record["run"]
    read = RunRecord(record)
    points = accuracy_results(record)
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
            # commands found in no public source that the drivers sent, with the shop's opt-in ([U])
            "unconfirmed_commands": (run.get("settings") or {}).get("unconfirmed_commands") or [],
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
        ],
        "wiring": wiring,
        "creep": [
            {
                "position": c["position"],
                "pulses": c["pulses"],
                "seconds": c["seconds"],
                "verdict": c["verdict"],
            }
            for c in record["creep"]
        ],
        "starting": [
            {
                "position": c["position"],
                "pulses": c["pulses"],
                "seconds": c["seconds"],
                "verdict": c["verdict"],
            }
            for c in record["starting"]
        ],
        "register": recorded_results(record),
        "meter_port": meterport_results(record),  # demand, clock, TOU and identity tests
        "retests": retests(record),
        "in_service": [v.as_dict() for v in read.in_service()],
        "method": read.plan.as_dict(),
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
