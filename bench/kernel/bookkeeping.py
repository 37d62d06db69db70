"""The kernel's bookkeeping: preparing a run (the plan resolved for every meter, every point checked
against what the bench can do), opening its record (with the snapshot a certificate must show), a
retest's choices, the judgement after a retest, the weighted averages and the in-service verdict, and
the source settings of a point."""

from __future__ import annotations

import os
import platform
from datetime import date

from bench.kernel import records as r
from bench.kernel.store_writer import plain
from bench.meters import check_board
from procedures.errors import InputError
from procedures.forms import get_form

PASSES = ("as-found", "as-left")


# ---- preparing -------------------------------------------------------------------------------------
def prepare(k) -> None:
    """Resolve the plan for every meter (one board shares one source) and refuse, before anything is
    energised, a point the bench cannot do."""
    from bench.kernel.registry import check_capabilities
    from bench.kernel.states import Position

    check_board(k.meters)
    bad = [m.position for m in k.meters if m.position not in k.bench.calculators]
    if bad:
        raise InputError(
            "position",
            f"bench {k.bench.name!r} has no error calculator at {bad}",
            allowed=f"1..{k.bench.positions}",
        )
    resolved = {m.position: _resolve(k.plan, m) for m in k.meters}
    first = resolved[k.meters[0].position]

    def key(rp):
        return [(p.id, round(p.voltage_v, 6), round(p.current_a, 9), round(p.lag_deg, 6)) for p in rp.points]

    for m in k.meters[1:]:
        if key(resolved[m.position]) != key(first):
            raise InputError(
                f"position {m.position}",
                "meters on one board must share form, class, TA/Ib and voltage (the source is shared)",
                allowed=f"form {first.form.name}, class {first.accuracy_class}, {first.ta_a:g} A, "
                f"{first.voltage_v:g} V",
                found=f"{m.form} {m.accuracy_class}",
            )
    k.resolved = first
    if first.frequency_hz:  # the plan's supply frequency (an IEC plan: 50 Hz) over the bench's default
        k.settings.frequency_hz = first.frequency_hz
    check_capabilities(k.bench, first)
    k.positions = {m.position: Position(m) for m in k.meters}


def _resolve(plan, m):
    try:
        return plan.resolve(
            get_form(m.form),
            m.accuracy_class,
            ta=m.ta_a,
            ib=m.ib_a,
            in_=m.in_a,
            imax=m.imax_a,
            voltage=m.voltage_v,
            current_class=m.current_class,
        )
    except InputError as exc:
        raise exc.within(f"meter {m.serial} (position {m.position})") from None


def plan_snapshot(rp) -> dict:
    """What the certificate states about the method, as the run had it (never re-read from today's plan
    file): title, standard and text fingerprint, the decision rule's statement, the averaging rule and the
    in-service acceptance and adjustment limits."""
    from procedures.metrology import get_decision_rule

    rule = get_decision_rule(rp.decision_rule)
    ra = rp.average_rule
    average = None
    if ra is not None:
        mr = ra.metrology_rule()
        average = {
            "name": ra.name,
            "title": mr.title,
            "formula": mr.formula,
            "weights": dict(mr.weights),
            "limit_percent": ra.limit_percent,
            "provenance": mr.provenance,
        }
    in_service = in_service_limits(rp)
    return {
        "plan_id": rp.plan_id,
        "version": rp.version,
        "sha256": rp.sha256,
        "title": rp.title,
        "standard": rp.standard,
        "decision_rule": {"name": rule.name, "statement": rule.statement},
        "average_rule": average,
        "in_service": in_service,
    }


def in_service_limits(rp) -> dict | None:
    """An in-service plan's acceptance and adjustment limits (its points' limits are adjustment
    thresholds, ``limit_role = "adjust"``), or None for an acceptance (shop) plan."""
    if rp.average_rule is None or not any(p.limit_role == "adjust" for p in rp.points):
        return None
    return dict(rp.in_service_limits())


def open_run(k) -> int:
    """Record the bench, its instruments and meters, and the run (with the plan's snapshot)."""
    cfg = k.bench.config
    bench_id = k.store.upsert_bench(k.bench.name, k.bench.location, plain(cfg))
    with k.io:
        ref_id, src_id = k.bench.reference.identify(), k.bench.source.identify()
    k.store.upsert_instrument(
        bench_id,
        "reference",
        type(k.bench.reference).__name__,
        cfg.reference.resource,
        ref_id,
        plain(k.bench.reference.calibration),
    )
    k.store.upsert_instrument(
        bench_id, "source", type(k.bench.source).__name__, cfg.source.resource, src_id, None
    )
    with k.store.batch():  # the board's meters in one commit, not one each
        meter_ids = {
            m.position: k.store.upsert_meter(
                m.serial,
                manufacturer=m.manufacturer,
                model=m.model,
                form=m.form,
                accuracy_class=m.accuracy_class,
                current_class=m.current_class,
                voltage_v=m.voltage_v,
                ta_a=m.ta_a,
                ib_a=m.ib_a,
                in_a=m.in_a,
                imax_a=m.imax_a,
                kh=m.kh,
                kt=m.kt,
                firmware=m.firmware,
            )
            for m in k.meters
        }
    rp = k.resolved
    env = {"host": platform.node(), "pid": os.getpid(), "simulated": k.bench.simulator is not None}
    env.update(k.environment)
    s = k.settings
    settings = {
        "frequency_hz": s.frequency_hz,
        "warmup_s": s.warmup_s,
        "passes": list(s.passes),
        "stability_tolerance_percent": s.stability_tolerance_percent,
        "allow_overdue": s.allow_overdue,
        "meters": {m.position: m.to_dict() for m in k.meters},
        "wiring_overrides": {str(p): v for p, v in s.wiring_overrides.items()},
        "plan_title": rp.title,
        "plan_standard": rp.standard,
        "plan": plan_snapshot(rp),
    }
    return k.store.start_run(
        plan_id=rp.plan_id,
        plan_version=rp.version,
        plan_sha256=rp.sha256,
        bench_id=bench_id,
        operator=k.operator,
        environment=env,
        settings=settings,
        positions=meter_ids,
    )


def precheck(k) -> None:
    """The instruments answer, the reference is within its calibration, every meter's constants are sane."""
    with k.io:
        ident = {"source": k.bench.source.identify(), "reference": k.bench.reference.identify()}
    cal = k.bench.reference.calibration
    today = k.settings.today or date.today()
    if cal.overdue(today) and not k.settings.allow_overdue:
        raise InputError(
            "reference calibration",
            f"is overdue since {cal.due.isoformat()}",
            allowed="a reference standard within its calibration interval",
            source=k.bench.name,
        )
    for m in k.meters:
        if not (m.kt > 0 and m.kh > 0 and m.kt < float("inf")):
            raise InputError(f"position {m.position}.kt", "must be > 0", found=m.kt)
    k.publish([r.PreCheck(identity=ident, calibration_due=cal.due.isoformat())])


# ---- resume ----------------------------------------------------------------------------------------
STOPS = ("no pulses", "wiring fault")


CALIBRATION_KEYS = ("certificate", "calibrated", "due", "uncertainty_percent", "coverage_factor")


def same_bench(k, record: dict) -> dict | None:
    """A run resumes on the bench it started on: the same source and reference (as they identify
    themselves) and the same calibration of the reference standard. On another, only with the
    technician's reason (``settings.other_bench``): returns what is recorded about it; None on the same."""
    with k.io:
        now = {"source": k.bench.source.identify(), "reference": k.bench.reference.identify()}
    cal = plain(k.bench.reference.calibration) or {}
    was = {i["role"]: i for i in record["instruments"]}
    differ = [
        f"{role} {(was.get(role) or {}).get('identity') or 'not recorded'} -> {ident}"
        for role, ident in now.items()
        if (was.get(role) or {}).get("identity") != ident
    ]
    old_cal = ((was.get("reference") or {}).get("calibration") or {}).get("data") or {}
    if any(str(old_cal.get(key)) != str(cal.get(key)) for key in CALIBRATION_KEYS):
        differ.append(
            f"reference calibration {old_cal.get('certificate')} due {old_cal.get('due')} -> "
            f"{cal.get('certificate')} due {cal.get('due')}"
        )
    if not differ:
        return None
    reason = (k.settings.other_bench or "").strip()
    if not reason:
        raise InputError(
            "bench",
            f"run {record['run']['id']} started on other instruments ({'; '.join(differ)}); it resumes only "
            "on the bench it started on",
            allowed='that bench, or --other-bench "REASON" (recorded and stated on the certificates)',
        )
    return {"bench": k.bench.name, "changes": differ, "reason": reason}


def restore(k, record: dict) -> None:
    """A resumed run goes on from what its record says, as if it had never stopped: the points recorded
    are not repeated, a position stopped (no pulses, a wiring fault, a dead port) stays stopped and is
    not tested again, a result outside its limit still fails its meter, and the passes are the run's."""
    passes = (record["run"].get("settings") or {}).get("passes")
    if passes:
        k.settings.passes = tuple(passes)
    k.done = {
        (p["position"], p["point_id"], p["test_pass"])
        for p in record["points"]
        if p["status"] in ("done", "failed", "skipped")
    }
    final = k.settings.passes[-1]
    adjust_only = {p.id for p in k.resolved.points if p.limit_role == "adjust"}
    outcomes = {p["position"]: (p["outcome"], p["message"] or "") for p in record["positions"]}
    for pos, st in k.positions.items():
        mine = [p for p in record["points"] if p["position"] == pos]
        outcome, message = outcomes.get(pos, (None, ""))
        dead = next((p for p in mine if p["status"] == "failed"), None)
        if outcome in STOPS or (dead is not None and outcome == "failed"):
            st.to(outcome, message)
            st.stopped = True
        elif dead is not None:  # recorded before a stop was committed with its failure (older records)
            why = dead["message"] or (dead.get("result") or {}).get("message") or "failed"
            st.to("no pulses" if why.startswith("no pulses") else "failed", why)
            st.stopped = True
        elif any(_fails(p, final, adjust_only) for p in mine):
            k.fail_verdict(pos)


def _fails(p: dict, final: str, adjust_only: set[str]) -> bool:
    """This recorded result fails its meter (as the kinds decide it during the run)."""
    verdict = (p.get("result") or {}).get("verdict")
    if p["status"] != "done" or verdict is None:
        return False
    if p["kind"] in ("creep", "starting"):
        return verdict == "fail"
    return (
        p["test_pass"] == final and p["point_id"] not in adjust_only and verdict in ("fail", "indeterminate")
    )


# ---- retest ----------------------------------------------------------------------------------------
def prepare_retest(k, run_id: int, point_id: str, reason: str, positions, test_pass: str | None):
    """Check a retest's request against the run's record; set the kernel up for it. Returns the point,
    the pass and the positions chosen."""
    from bench.kernel.registry import get_kind

    if not reason or not reason.strip():
        raise InputError(
            "reason",
            "a retest needs a reason: it goes on the record and the certificate",
            allowed='text, e.g. "board knocked during the FL gate"',
        )
    record = k.store.run_record(run_id)
    run = record["run"]
    if run["status"] != "finished" or run["outcome"] not in ("passed", "failed"):
        raise InputError(
            "RUN_ID",
            f"run {run_id} is {run['status']} ({run['outcome'] or 'no outcome'})",
            allowed="a finished run that passed or failed (resume an interrupted run first)",
        )
    prepare(k)
    rp = k.resolved
    if run["plan_sha256"] != rp.sha256:
        raise InputError(
            "plan",
            "the plan file changed since this run; a retest must use the same plan",
            allowed=f"{run['plan_id']} with sha256 {run['plan_sha256'][:12]}…",
            found=rp.sha256[:12],
        )
    point = next((p for p in rp.points if p.id == point_id), None)
    if point is None:
        raise InputError(
            "--point",
            "no such point in the run's plan",
            found=point_id,
            allowed=", ".join(p.id for p in rp.points),
        )
    if not get_kind(point.kind).retestable:
        retestable = ", ".join(p.id for p in rp.points if get_kind(p.kind).retestable)
        raise InputError(
            "--point",
            f"a {point.kind} point is not retested alone; run the plan again",
            allowed=retestable,
            found=point_id,
        )
    passes = tuple(tp for tp in PASSES if any(p["test_pass"] == tp for p in record["points"]))
    test_pass = test_pass or passes[-1]
    if test_pass not in passes:
        raise InputError("--pass", "this run has no such pass", allowed=", ".join(passes), found=test_pass)
    earlier = {
        p["position"]: p
        for p in record["points"]
        if p["point_id"] == point_id and p["test_pass"] == test_pass
    }
    outcomes = {p["position"]: p["outcome"] for p in record["positions"]}
    # by default every position that has the point, except those a wiring fault stopped
    chosen = (
        sorted(set(positions))
        if positions
        else sorted(p for p in earlier if outcomes.get(p) != "wiring fault")
    )
    bad = [p for p in chosen if p not in k.positions]
    if bad or not chosen:
        raise InputError(
            "--position",
            f"run {run_id} has no meter at {bad or 'any position'}",
            allowed=", ".join(str(p) for p in sorted(k.positions)),
        )
    wired_wrong = [
        p["position"]
        for p in record["positions"]
        if p["position"] in chosen and p["outcome"] == "wiring fault"
    ]
    if wired_wrong:
        raise InputError(
            "--position",
            f"position {wired_wrong} failed its wiring check; a retest measures "
            "one point and does not check wiring again: correct it and run the plan again",
            allowed=", ".join(str(p) for p in chosen if p not in wired_wrong) or "none",
        )
    for p in record["positions"]:  # untouched positions keep what the run recorded
        st = k.positions.get(p["position"])
        if st is not None:
            st.to(p["outcome"] or "loaded", p["message"] or "")
            st.stopped = st.state not in ("passed", "failed")
    for pos in chosen:
        k.positions[pos].to("testing")
        k.positions[pos].stopped = False
    k.settings.passes = passes
    k.run_id, k.only = run_id, set(chosen)
    k.retest_reasons = dict.fromkeys(chosen, reason.strip())
    k.earlier = {(p["position"], p["point_id"], p["test_pass"]): p["id"] for p in record["points"]}
    k.prior = (run["bench_seconds"] or 0.0, run["wall_seconds"] or 0.0)
    return point, test_pass, chosen


def judge_from_record(k) -> None:
    """After a retest: each retested position passes only if every current result of the plan passes."""
    record = k.store.run_record(k.run_id)
    final = k.settings.passes[-1]
    adjust_only = {p.id for p in k.resolved.points if p.limit_role == "adjust"}
    for pos in sorted(k.only or ()):
        mine = [p for p in record["points"] if p["position"] == pos]
        bad = [
            p
            for p in mine
            if p["status"] in ("failed", "interrupted", "running")
            or (
                p["test_pass"] == final
                and p["point_id"] not in adjust_only
                and (p.get("result") or {}).get("verdict") in ("fail", "indeterminate")
            )
        ]
        bad += [
            a
            for a in record["averages"]
            if a["position"] == pos and a["test_pass"] == final and a["verdict"] == "fail"
        ]
        missing = [p.id for p in k.resolved.points if not any(q["point_id"] == p.id for q in mine)]
        st = k.positions[pos]
        dead = [p for p in bad if p["status"] == "failed" and p["message"].startswith("no pulses")]
        if dead:  # keep the diagnosis: the meter still gives no pulses
            st.to("no pulses", dead[0]["message"])
            st.stopped = True
        elif bad or missing:
            st.to("failed")
            if not bad:
                st.message = "not tested: " + ", ".join(missing)
            elif missing and not any(b.get("result") for b in bad):
                st.message = "not every point has a result"
            else:
                st.message = "a result is outside its limit"
        else:
            st.to("passed", "every result within its limit")


# ---- averages and the in-service verdict -----------------------------------------------------------
def registrations(record: dict, position: int, test_pass: str) -> dict[str, float]:
    """%R by label of a position's series accuracy results in one pass (what an average weighs)."""
    out = {}
    for p in record["points"]:
        err = (p.get("result") or {}).get("error_percent")
        if (
            p["position"] == position
            and p["test_pass"] == test_pass
            and p["kind"] == "accuracy"
            and p["element"] == "series"
            and p["status"] == "done"
            and err is not None
        ):
            out[p["label"]] = 100.0 + err
    return out


def in_service(regs: dict[str, float], creep_ok: bool, snapshot: dict | None):
    """accept / adjust / reject and the reasons, by procedures' C12.1 in-service rule, or None."""
    from procedures.metrology.averages import custom_rule, in_service_verdict

    if not snapshot or not snapshot.get("in_service") or not snapshot.get("average_rule"):
        return None
    ar = snapshot["average_rule"]
    rule = custom_rule(ar["weights"], name=ar["name"], title=ar.get("title"))
    try:
        v = in_service_verdict(regs, rule, creep_ok=creep_ok, **snapshot["in_service"])
    except InputError:
        return None
    word = "reject" if not v.acceptable else ("adjust" if v.adjust else "accept")
    return word, v.average, v.reasons


def averages(k) -> None:
    """Each position's weighted average per pass; on an in-service plan, its in-service verdict too
    (a rejected meter fails; one to adjust passes, and says so)."""
    ra = k.resolved.average_rule
    if ra is None:
        return
    record = k.store.run_record(k.run_id)
    snapshot = plan_snapshot(k.resolved)
    # a resumed run that got as far as its averages keeps them (a retest recomputes them)
    have = set() if k.only is not None else {(a["position"], a["test_pass"]) for a in record["averages"]}
    out = []
    for pos in k.positions:
        if k.only is not None and pos not in k.only:
            continue
        creep_ok = all(c["verdict"] == "pass" for c in record["creep"] if c["position"] == pos)
        for test_pass in k.settings.passes:
            regs = registrations(record, pos, test_pass)
            try:
                value = ra.average(regs)
            except (InputError, KeyError):
                continue  # a point of the rule was not measured: no average to state
            verdict = "pass" if abs(value - 100.0) <= ra.limit_percent + 1e-9 else "fail"
            judged = in_service(regs, creep_ok, snapshot)
            word, reasons = (judged[0], judged[2]) if judged else (None, ())
            average = r.Average(
                position=pos,
                test_pass=test_pass,
                rule=ra.name,
                value_percent=value,
                verdict=verdict,
                in_service=word,
                reasons=tuple(reasons),
            )
            if (pos, test_pass) not in have:
                out.append(average)
            final = test_pass == k.settings.passes[-1]
            if verdict == "fail" or (final and word == "reject"):
                k.fail_verdict(pos)
            elif final and word == "adjust" and not k.positions[pos].message:
                k.positions[pos].message = "acceptable; adjust: " + "; ".join(
                    x for x in reasons if "adjust" in x
                )
    if out:
        k.publish(out)
