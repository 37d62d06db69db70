"""The read model: a recorded run (``RecordStore.run_record``) as typed values every output reads —
the run JSON, certificates and DCC, the summary, the GUI's history, ``verify``.

The run record snapshots at its start what a certificate must state about the method (plan title,
standard, the plan text's fingerprint, the decision rule's statement, the averaging rule, the in-service
limits), and each certificate row snapshots the laboratory it was issued under; so a certificate is a
pure function of the records, and ``verify`` recomputes exactly what was issued — whatever the plan file
or the laboratory file say today. (A run recorded before the snapshots existed falls back to the shipped
plan of its id.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from procedures.errors import InputError

CONSTANT_KIND = "meter-constant"


@dataclass(frozen=True)
class PlanSnapshot:
    plan_id: str
    version: str
    sha256: str
    title: str
    standard: str
    decision_rule: str = "simple"
    decision_statement: str = ""
    average_rule: dict | None = None
    in_service: dict | None = None

    @classmethod
    def of(cls, record: dict) -> PlanSnapshot:
        run = record["run"]
        settings = run.get("settings") or {}
        snap = settings.get("plan")
        if snap:
            rule = snap.get("decision_rule") or {}
            return cls(
                snap["plan_id"],
                str(snap.get("version") or ""),
                snap.get("sha256") or "",
                snap.get("title") or "",
                snap.get("standard") or "",
                rule.get("name") or "simple",
                rule.get("statement") or "",
                snap.get("average_rule"),
                snap.get("in_service"),
            )
        title, standard = settings.get("plan_title") or run["plan_id"], settings.get("plan_standard") or ""
        try:  # recorded before the snapshot: the shipped plan of that id is the best account there is
            from procedures.plans import load_plan

            plan = load_plan(run["plan_id"])
            title, standard = plan.title, plan.standard
        except InputError:
            pass
        return cls(
            run["plan_id"], str(run.get("plan_version") or ""), run.get("plan_sha256") or "", title, standard
        )

    def as_dict(self) -> dict:
        return {
            "plan_id": self.plan_id,
            "version": self.version,
            "sha256": self.sha256,
            "title": self.title,
            "standard": self.standard,
            "decision_rule": {"name": self.decision_rule, "statement": self.decision_statement},
            "average_rule": self.average_rule,
            "in_service": self.in_service,
        }


@dataclass(frozen=True)
class InService:
    """The C12.1 in-service verdict of one position in one pass."""

    position: int
    test_pass: str
    average_percent: float
    verdict: str  # accept, adjust, reject
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "position": self.position,
            "test_pass": self.test_pass,
            "average_percent": self.average_percent,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class RunRecord:
    """One recorded run, read."""

    raw: dict
    plan: PlanSnapshot = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", PlanSnapshot.of(self.raw))

    @property
    def run(self) -> dict:
        return self.raw["run"]

    def meters(self) -> dict[int, dict]:
        return {int(k): v for k, v in ((self.run.get("settings") or {}).get("meters") or {}).items()}

    def in_service(self, position: int | None = None) -> list[InService]:
        """The in-service verdict per position and pass, from the recorded results and the plan's limits."""
        from bench.kernel.bookkeeping import in_service, registrations

        snap = self.plan.as_dict()
        if not self.plan.in_service:
            return []
        out = []
        for a in self.raw["averages"]:
            if position is not None and a["position"] != position:
                continue
            creep_ok = all(
                c["verdict"] == "pass" for c in self.raw["creep"] if c["position"] == a["position"]
            )
            judged = in_service(registrations(self.raw, a["position"], a["test_pass"]), creep_ok, snap)
            if judged:
                out.append(InService(a["position"], a["test_pass"], judged[1], judged[0], tuple(judged[2])))
        return out

    def certificates(self, position: int) -> list[dict]:
        return [c for c in self.raw.get("certificates", []) if c["position"] == position]

    def laboratory(self, position: int, revision: int | None):
        """The laboratory a certificate of this position was issued under (its revision's, else the latest
        one's: a revision after a retest is issued under the run's laboratory), or None when none is
        recorded."""
        mine = self.certificates(position)
        if revision is not None and revision < len(mine):
            chosen = mine[revision]
        else:
            chosen = next(
                (c for c in reversed(self.raw.get("certificates", [])) if c.get("laboratory")), None
            )
        lab = (chosen or {}).get("laboratory")
        return laboratory_from_dict(lab) if lab else None


def laboratory_to_dict(lab) -> dict:
    """A reports.model.Laboratory as plain data (for the certificate's snapshot)."""
    import dataclasses

    return dataclasses.asdict(lab)


def laboratory_from_dict(data: dict):
    """The Laboratory a snapshot holds."""
    from reports.model import Laboratory, Person

    fields = dict(data)
    fields["address"] = tuple(fields.get("address") or ())
    fields["signatories"] = tuple(Person(**p) for p in fields.get("signatories") or ())
    return Laboratory(**fields)


def point_fields(p: dict) -> dict:
    """Where and at what load a recorded point was measured, as the run JSON names it."""
    from bench.records.rows import quantity_of

    keys = ("position", "point_id", "label", "element", "test_pass", "voltage_v", "current_a", "lag_deg")
    quantity, direction = quantity_of(p)
    return {**{k: p[k] for k in keys}, "quantity": quantity, "direction": direction}


#: the recorded kinds whose rows are errors with an uncertainty and a verdict (the run JSON's points)
ERROR_KINDS = ("accuracy", "influence")
#: the energy unit of each quantity (what a point's error and constants are in)
ENERGY_UNITS = {"active": "Wh", "reactive": "varh", "apparent": "VAh"}


def accuracy_results(record: dict, position: int | None = None) -> list[dict]:
    """The accuracy and influence points of a recorded run as the run JSON states them, each with its
    energy quantity, direction and unit (an influence point's error is its variation from the reference
    condition, its ``-ref`` row the error there)."""
    import math

    out = []
    for p in record["points"]:
        if p["kind"] not in ERROR_KINDS or (position is not None and p["position"] != position):
            continue
        res = p.get("result") or {}
        readings = p.get("readings") or []
        out.append(
            {
                **point_fields(p),
                "kind": p["kind"],
                "unit": ENERGY_UNITS[point_fields(p)["quantity"]],
                "frequency_hz": (p.get("planned") or {}).get("frequency_hz"),
                "power_factor": round(math.cos(math.radians(p["lag_deg"])), 4),
                "readings": len(readings),
                "pulses": readings[0]["meter_pulses"] if readings else None,
                "gate_seconds": (sum(r["gate_seconds"] for r in readings) / len(readings))
                if readings
                else None,
                **_result(p),
                "status": p.get("status"),
                "message": (res.get("message") or p.get("message") or ""),
            }
        )
    return out


def register_results(record: dict, position: int | None = None) -> list[dict]:
    """The register tests of a recorded run as plain dicts, for the run JSON and the certificate: one per
    register row, its meter-constant twin folded in as ``meter_constant``."""
    return recorded_results(record, position)


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
        out.append(
            {
                **point_fields(p),
                "status": p["status"],
                "message": (p.get("result") or {}).get("message") or p.get("message") or "",
                "start_kwh": raw.get("start_kwh"),
                "end_kwh": raw.get("end_kwh"),
                "resolution_kwh": raw.get("resolution_kwh", (p.get("planned") or {}).get("resolution_kwh")),
                "advance_kwh": _kwh(raw.get("advance_wh")),
                "reference_kwh": _kwh(raw.get("reference_wh")),
                "test_output_kwh": _kwh(raw.get("test_output_wh")),
                "entry": raw.get("entry", "port"),  # "typed by the technician ..." without a meter port
                "meter_pulses": p["readings"][0]["meter_pulses"] if p.get("readings") else None,
                "kt": p["readings"][0]["kt_wh"] if p.get("readings") else None,
                **_result(p),
                "meter_constant": _result(twin) if twin else None,
            }
        )
    return out


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else wh / 1000.0


def _result(p: dict) -> dict:
    res = p.get("result") or {}
    lo, hi = p.get("limit_lo"), p.get("limit_hi")
    return {
        "error_percent": res.get("error_percent"),
        "expanded_uncertainty_percent": res.get("expanded_percent"),
        "coverage_factor": res.get("coverage_factor"),
        "limit_percent": hi
        if lo is not None and hi is not None and abs(lo + hi) < 1e-12
        else ([lo, hi] if lo is not None else None),
        "verdict": res.get("verdict") or ("fail" if p.get("status") == "failed" else None),
        "decision_rule": res.get("decision_rule"),
    }
