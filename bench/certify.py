"""From the records to certificates: one CertificateData per meter per run, built only from the database.

Because the certificate is built from the stored record (never from the engine's memory), regenerating it
later (``meterbench report``) gives the same content and the same content hash, and ``meterbench verify``
can recompute that hash from the records to prove a PDF says what the database says.

Certificate numbers are deterministic and unique across databases:
``MB-<run start date>-<run id>-<4 hex of the run's start time>-P<position>``; the issue date is the date the
run finished.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from bench.certificate_sections import (
    bench_conditions,
    incomplete_test,
    instrument_identity,
    limit_provenance,
    point_measures,
    register_tests,
    resolution_provenance,
    sign_convention,
    test_time_notes,
    unconfirmed_commands_note,
)
from bench.meterport_sections import meterport_tests
from bench.readmodel import RunRecord, laboratory_to_dict
from bench.resultwords import class_text
from bench.retests import describe, retests
from procedures.errors import InputError

#: Record fields that are the utility's asset number: printed as the certificate's "Utility asset no."
ASSET_FIELDS = ("utility_asset_no", "asset_id", "asset_no", "utility_asset")


def certificate_number(run: dict, position: int, revision: int = 0) -> str:
    """``MB-<date>-<run>-<tag>-P<position>``; a certificate issued again after a retest adds ``-R<n>``."""
    import hashlib

    started = str(run.get("started_at") or "")
    tag = hashlib.sha256(f"{started}|{run['id']}".encode()).hexdigest()[:4].upper()
    day = started[:10].replace("-", "") or "00000000"
    return f"MB-{day}-{int(run['id']):05d}-{tag}-P{int(position):02d}" + (f"-R{revision}" if revision else "")


def next_revision(record: dict, position: int) -> int:
    """How many certificates the records already hold for this meter of this run: the next one's revision."""
    return sum(1 for c in record.get("certificates", []) if c["position"] == position)


def _date(text: str | None) -> dt.date:
    if not text:
        return dt.date.today()
    return dt.datetime.fromisoformat(str(text)).date()


def build_certificate_data(
    record: dict, position: int, *, lab=None, approved_by: str | None = None, revision: int | None = None
):
    """The certificate of one position of a recorded run; ``revision`` None = the next one to issue."""
    from bench import __version__
    from procedures.metrology import get_decision_rule
    from reports import model as rm
    from reports.labconfig import default_laboratory

    run = record["run"]
    settings = run.get("settings") or {}
    meters = {int(k): v for k, v in (settings.get("meters") or {}).items()}
    if position not in meters:
        raise InputError(
            "--position",
            f"run {run['id']} has no meter at that position",
            allowed=sorted(meters),
            found=position,
        )
    m = meters[position]
    env = run.get("environment") or {}
    read = RunRecord(record)
    revision = next_revision(record, position) if revision is None else revision
    # the laboratory it was issued under (a revision: the run's), not whatever the lab file says today
    lab = lab or read.laboratory(position, revision) or default_laboratory()
    pts = [p for p in record["points"] if p["position"] == position]
    acc = [
        p
        for p in pts
        if p["kind"] in ("accuracy", "influence")
        and (p.get("result") or {}).get("error_percent") is not None
        # an influence point's reference-condition row (no limit) is information, not a certified result
        and (p["kind"] == "accuracy" or p.get("limit_hi") is not None)
    ]
    points = []
    for p in acc:
        r = p["result"]
        lim = p.get("limit_hi")
        points.append(
            rm.PointResult(
                point_id=p["point_id"],
                label=p["label"],
                element=p["element"],
                voltage_v=p["voltage_v"],
                current_a=p["current_a"],
                pf=round(math.cos(math.radians(p["lag_deg"])), 4),
                angle_deg=p["lag_deg"],
                error_pct=r["error_percent"],
                expanded_u_pct=r["expanded_percent"],
                k=r["coverage_factor"],
                limit_pct=lim if lim else float("nan"),
                verdict=r["verdict"] if r["verdict"] in rm.VERDICTS else "fail",
                stage=p["test_pass"],
                **point_measures(p),
            )
        )
    if not points:
        raise InputError(
            "run",
            f"position {position} of run {run['id']} has no accuracy result to certify",
            allowed="a run whose accuracy points were measured",
        )
    functional = []
    for kind, rows in (("creep", record["creep"]), ("starting", record["starting"])):
        for c in rows:
            if c["position"] != position:
                continue
            pt = next((p for p in pts if p["kind"] == kind), None)
            cond = (
                (
                    f"{pt['voltage_v']:g} V, no current"
                    if kind == "creep"
                    else f"{pt['voltage_v']:g} V, {pt['current_a']:g} A"
                )
                if pt
                else ""
            )
            window = ((pt or {}).get("planned") or {}).get("duration_s")  # the window the plan gave
            within = f" within {window:g} s" if window else ""
            req = (
                (
                    f"at most 1 test pulse in the {window:g} s window"
                    if window
                    else "at most 1 test pulse in the window"
                )
                if kind == "creep"
                else f"meter starts and registers{within}"
            )
            functional.append(
                rm.FunctionalTest(
                    name="No-load (creep)" if kind == "creep" else "Starting load",
                    condition=cond,
                    observed=f"{c['pulses']} pulse(s) in {c['seconds']:.0f} s",
                    requirement=req,
                    verdict=c["verdict"],
                    stage=(pt or {}).get("test_pass", "as-found"),
                )
            )
    averages = []
    for a in record["averages"]:
        if a["position"] != position:
            continue
        from procedures.metrology import get_rule

        try:
            rule = get_rule(a["rule"])
            formula, weights = rule.formula, dict(rule.weights)
        except InputError:
            formula, weights = a["rule"], {}
        # U of the average: the points share the reference (fully correlated), so the weighted U add
        # linearly - conservative, and stated as such in the rule text.
        total = sum(weights.values()) or 1.0
        u = sum(
            w
            / total
            * next(
                (
                    p.expanded_u_pct
                    for p in points
                    if p.label == lbl and p.element == "series" and p.stage == a.get("test_pass", p.stage)
                ),
                0.0,
            )
            for lbl, w in weights.items()
        )
        limit = (read.plan.average_rule or {}).get("limit_percent", 2.0)
        averages.append(
            rm.WeightedAverage(
                rule=a["rule"],
                formula=formula,
                registration_pct=a["value_percent"],
                expanded_u_pct=u,
                k=2.0,
                low_pct=100.0 - limit,
                high_pct=100.0 + limit,
                verdict=a["verdict"],
                stage=a.get("test_pass") or "as-found",
            )
        )
    wiring = None
    mine = [w for w in record["wiring_checks"] if w["position"] == position] or [
        w for w in record["wiring_checks"] if w["position"] is None
    ]
    if mine:
        w = mine[-1]
        phases = tuple(
            rm.PhaseReading(
                phase=ph,
                voltage_v=v["voltage_v"],
                voltage_deg=v["voltage_lag_deg"],
                current_a=v["current_a"],
                current_deg=v["current_lag_deg"],
            )
            for ph, v in sorted((w.get("phasors") or {}).items())
        )
        findings = tuple(f["message"] for f in w["findings"])
        overridden = str(w.get("override_reason") or "") if w["findings"] else ""
        wiring = rm.WiringCheck(
            rotation=w["rotation"] if w["rotation"] in ("ABC", "CBA") else "n/a",
            findings=findings,
            phases=phases,
            # the run went on under the override; the printed result says so, never a plain PASS
            verdict="pass" if not w["findings"] or overridden else "fail",
            override=overridden,
        )
    refs = []
    for inst in record["instruments"]:
        cal = inst.get("calibration")
        if inst["role"] != "reference" or not cal:
            continue
        data = cal.get("data") or cal
        identity, serial = instrument_identity(inst)
        refs.append(
            rm.ReferenceStandard(
                identity=identity,
                serial=serial,
                calibration_certificate=str(data.get("certificate", "")),
                calibration_laboratory=str(data.get("laboratory", "")),
                due_date=_date(data.get("due")),
                uncertainty=f"±{data.get('uncertainty_percent')} % (k = {data.get('coverage_factor')})",
                traceability=str(data.get("traceability", "")),
            )
        )
    rule_name = next((p["result"]["decision_rule"] for p in acc), "simple")
    rule = get_decision_rule(rule_name)
    verdicts = [p.verdict for p in points] + [f.verdict for f in functional] + [a.verdict for a in averages]
    if wiring:
        verdicts.append(wiring.verdict)
    final_stage = "as-left" if any(q.stage == "as-left" for q in points) else "as-found"
    final_stage_points = [p for p in points if p.stage == final_stage]
    registers, register_notes = register_tests(record, position)
    meterport, meterport_notes = meterport_tests(record, position)
    final = (
        [p.verdict for p in final_stage_points]
        + [f.verdict for f in functional]
        + [a.verdict for a in averages]
        + [t.overall_verdict for t in registers if t.stage == final_stage]
        + [t.verdict for t in meterport if t.stage == final_stage]
    )
    if wiring:
        final.append(wiring.verdict)
    overall = "fail" if "fail" in final else ("indeterminate" if "indeterminate" in final else "pass")
    incomplete = incomplete_test(record, position)
    if incomplete and overall == "pass":  # what was measured passed; what was not, cannot be said to
        overall = "indeterminate"
    # what the run recorded of its plan, never today's plan file (a shop's own plan has no shipped twin)
    plan_title, standard = read.plan.title or run["plan_id"], read.plan.standard
    method = rm.Method(
        plan_id=run["plan_id"],
        plan_version=str(run.get("plan_version") or ""),
        plan_sha256=str(run.get("plan_sha256") or ""),
        standard=standard,
        title=plan_title,
        limits=limit_provenance(pts) + resolution_provenance(pts),
    )
    basis = method.limits_basis  # the standard only when every limit applied is confirmed from it
    conformity = (
        f"The meter {'CONFORMS' if overall == 'pass' else 'DOES NOT CONFORM'} to {basis} "
        f"under the decision rule '{rule.name}'."
        if overall != "indeterminate"
        else f"Conformity to {basis} cannot be stated: at least one result lies within the "
        f"expanded uncertainty of its limit (decision rule '{rule.name}')."
        if not incomplete
        else f"Conformity to {basis} cannot be stated: the test was not completed ({incomplete})."
    )
    for v in read.in_service(position):
        conformity += (
            f" In-service verdict ({v.test_pass}, {standard or 'the plan'}): {v.verdict.upper()} - "
            + "; ".join(v.reasons)
            + "."
        )
    simulated, temp, hum, deviations = bench_conditions(env)  # never NaN: a real bench says "not measured"
    for w in record["wiring_checks"]:
        if w["position"] in (position, None) and w.get("override_reason"):
            deviations.append(f"Wiring finding overridden by the operator: {w['override_reason']}")
    if any(p.get("status") == "failed" for p in pts):
        deviations.append(
            "Some points could not be measured: "
            + "; ".join(
                f"{p['label']}: {p.get('message') or (p.get('result') or {}).get('message', '')}"
                for p in pts
                if p.get("status") == "failed"
            )
        )
    deviations += unconfirmed_commands_note((run.get("settings") or {}).get("unconfirmed_commands") or [])
    run_day = _date(run.get("started_at"))
    for ref in refs:  # a reference used past its due date only with --allow-overdue; the reader is told
        if ref.due_date and run_day and ref.due_date < run_day:
            deviations.append(
                f"The reference standard {ref.identity} (serial {ref.serial}) was used on "
                f"{run_day.isoformat()}, past its calibration due date {ref.due_date.isoformat()}; "
                "the operator allowed it (--allow-overdue)."
            )
    for moved in (run.get("settings") or {}).get("resumed_elsewhere") or []:
        deviations.append(
            f"The run was interrupted and finished on other instruments than it started on "
            f"({'; '.join(moved['changes'])}); the technician's reason: {moved['reason']}"
        )
    deviations += register_notes + meterport_notes + test_time_notes(pts)
    deviations += [describe(r) for r in retests(record, position)]
    earlier = read.certificates(position)[:revision]
    if earlier:  # ISO/IEC 17025 §7.8.8: an amended certificate identifies the one it replaces
        deviations.append(
            f"This certificate replaces certificate {earlier[-1]['number']}, which is withdrawn."
        )
    started = _date(run.get("started_at"))
    finished = _date(run.get("finished_at") or run.get("started_at"))
    from bench.people import recorded_name

    operator = recorded_name(run.get("operator"))
    tested_by = rm.Person(operator, "Technician" if operator != "not recorded" else "")
    if approved_by:
        approver = rm.Person(recorded_name(approved_by))
    elif lab.signatories:
        approver = lab.signatories[0]  # the laboratory's authorised signatory, with the role it gives
    else:
        approver = rm.Person(operator)
    from bench.meters import record_field_label

    fields = [tuple(kv) for kv in m.get("record_fields") or ()]

    return rm.CertificateData(
        certificate_number=certificate_number(run, position, revision),
        laboratory=lab,
        customer=rm.Customer(
            name=m.get("customer") or m.get("owner") or "Meter owner not recorded",
            address=tuple(
                part.strip() for part in str(m.get("customer_address") or "").split(";") if part.strip()
            ),
        ),
        meter=rm.MeterIdentity(
            manufacturer=m.get("manufacturer") or "",
            model=m.get("model") or "",
            serial=m["serial"],
            form=m["form"],
            accuracy_class=class_text(m["accuracy_class"]),
            voltage_v=m["voltage_v"],
            kh=m["kh"],
            current_class=m.get("current_class") or "",
            test_amperes=m.get("ta_a"),
            basic_current=m.get("ib_a") or m.get("in_a"),
            max_current=m.get("imax_a"),
            kt=m.get("kt"),
            firmware=m.get("firmware") or "",
            condition_as_received=m.get("condition") or "",
            asset_id=next((v for k, v in fields if k in ASSET_FIELDS), ""),
        ),
        dates=rm.Dates(receipt=started, test=started, issue=max(finished, started)),
        method=method,
        conditions=rm.TestConditions(
            temperature_c=temp,
            humidity_pct=hum,
            voltage_v=m["voltage_v"],
            frequency_hz=float(settings.get("frequency_hz", 60.0)),
            warmup_min=float(settings.get("warmup_s", 0.0)) / 60.0,
        ),
        reference_standards=tuple(refs),
        points=tuple(points),
        decision_rule=rm.DecisionRule(name=rule.name, statement=rule.statement),
        conformity_statement=conformity,
        overall_verdict=overall,
        incomplete=incomplete,
        simulated=simulated,
        tested_by=tested_by,
        approved_by=approver,
        run_id=str(run["id"]),
        bench_name=record["bench"]["name"],
        software_version=f"MeterBench {__version__}",
        deviations=tuple(deviations),
        sign_convention=sign_convention(points),
        weighted_averages=tuple(averages),
        functional_tests=tuple(functional),
        wiring=wiring,
        register_tests=registers,
        meterport_tests=meterport,
        record_fields=tuple((record_field_label(k), v) for k, v in fields if k not in ASSET_FIELDS),
    )


def configured_laboratory(path: str | None = None):
    """The laboratory for certificates: ``path``, else ``$MB_LABORATORY``, else None (the built-in
    demonstration laboratory, which says so on every page)."""
    import os

    from reports.labconfig import load_laboratory

    path = path or os.environ.get("MB_LABORATORY")
    return load_laboratory(path) if path else None


def issue_for_run(
    store,
    run_id: int,
    out_dir: str | Path | None = None,
    *,
    sign: bool = False,
    positions=None,
    signer=None,
    lab=None,
):
    """Issue (and record) a certificate per meter of a run; a position that cannot be certified (no
    accuracy result, ...) is skipped, its reason kept in the returned list's ``not_issued``.

    The certificates are issued as one batch on every core (:func:`reports.issue.issue_batch`, with a
    progress bar on a terminal); each is recorded as it is issued, and any that could not be (a DCC that
    fails its schema, ...) are named with the reason in one InputError once the others are recorded."""
    from reports.issue import issue_batch

    out = Path(out_dir) if out_dir else Path.cwd() / "certificates"
    out.mkdir(parents=True, exist_ok=True)
    record = store.run_record(run_id)
    if sign and signer is None:
        signer = configured_signer()
    batch, position_of, not_issued = [], {}, {}
    wanted = set(positions) if positions else None
    for pos in sorted(p["position"] for p in record["positions"]):
        if wanted and pos not in wanted:
            continue
        try:
            data = build_certificate_data(record, pos, lab=lab)
        except InputError as err:  # never silent: the caller prints why this position has no certificate
            not_issued[pos] = str(err)
            continue
        batch.append(data)
        position_of[data.certificate_number] = (pos, data.laboratory)

    def record_it(cert) -> None:
        pos, laboratory = position_of[cert.certificate_number]
        store.record_certificate(
            run_id,
            pos,
            number=cert.certificate_number,
            content_hash=cert.content_hash,
            pdf_path=str(cert.pdf_path),
            dcc_path=str(cert.dcc_path) if cert.dcc_path else None,
            laboratory=laboratory_to_dict(laboratory),
        )

    # every certificate carries the records' audit chain head as it stood before this batch was issued
    result = issue_batch(batch, out, signer=signer, on_issued=record_it, audit_head=store.audit_head())
    if result.refused:
        raise InputError(
            "certificates",
            f"{len(result.refused)} of {len(batch)} not issued: "
            + "; ".join(r.reason for r in result.refused),
            source=f"run {run_id}",
        )
    return Issued(result.issued, not_issued)


class Issued(list):
    """The certificates issued (a list, as before), and ``not_issued``: position -> the one-line reason
    that position could not be certified (the InputError's text), for the caller to print."""

    def __init__(self, issued=(), not_issued: dict[int, str] | None = None):
        super().__init__(issued)
        self.not_issued = dict(not_issued or {})


def configured_signer():
    """The shop's signing identity: ``MB_SIGNING_IDENTITY`` (a PKCS#12 file, or a PEM key with
    ``MB_SIGNING_CERT``), else the one ``meterbench keys init`` made; passphrase from
    ``MB_SIGNING_PASSPHRASE`` or a prompt (never stored)."""
    import os

    from reports.signing import default_signing_dir, load_signer

    identity = os.environ.get("MB_SIGNING_IDENTITY")
    if identity:
        return load_signer(identity, cert_path=os.environ.get("MB_SIGNING_CERT"))
    found = sorted(default_signing_dir().glob("*.p12"))
    if not found:
        raise InputError(
            "--sign",
            "no signing identity is configured",
            allowed="set MB_SIGNING_IDENTITY to a PKCS#12 file, or run `meterbench keys init`",
        )
    return load_signer(found[0])


def ephemeral_demo_signer(directory: Path):
    """A throw-away self-signed identity for the demo: its passphrase lives only in this process, so no
    secret is ever written; the public certificate is kept beside the certificates for verification."""
    import secrets

    from reports.signing import load_signer, make_demo_identity

    passphrase = secrets.token_urlsafe(24).encode()
    ident = make_demo_identity(
        directory, "MeterBench Demonstration Signer (not a real identity)", passphrase=passphrase
    )
    signer = load_signer(ident.p12_path, passphrase=passphrase)
    ident.p12_path.unlink(missing_ok=True)  # useless without the passphrase; do not leave key material
    return signer, ident.cert_path
