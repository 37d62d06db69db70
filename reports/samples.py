"""Realistic example certificates (a 2S residential and a 9S transformer-rated meter).

Used by the tests, the benchmark and the demo until the bench fills :class:`CertificateData` from its
records. The numbers are invented but physically consistent (2S CL200 240 V TA 30 Kh 7.2; 9S CL20 120 V
TA 2.5 Kh 1.8 = V x TA x elements / 500). The laboratory is the built-in demonstration shop.
"""

from __future__ import annotations

import datetime as dt

from reports.labconfig import default_laboratory
from reports.model import (
    BatchRow,
    BatchSummary,
    CertificateData,
    Customer,
    Dates,
    DecisionRule,
    FunctionalTest,
    LimitProvenance,
    MeterIdentity,
    Method,
    Person,
    PhaseReading,
    PointResult,
    ReferenceStandard,
    TestConditions,
    WeightedAverage,
    WiringCheck,
    content_hash,
)

SOFTWARE_VERSION = "MeterBench 0.1.0"

SIMPLE_ACCEPTANCE = DecisionRule(
    name="Simple acceptance (ILAC-G8:09/2019 §4.2.1, guard band w = 0)",
    statement=(
        "A test point is reported as PASS when its measured error lies within the stated limit and as FAIL "
        "otherwise. The expanded uncertainty U (k = 2, about 95 % coverage) is reported beside each result "
        "but is not subtracted from the limit; the test uncertainty ratio (limit / U) was at least 4:1 at "
        "every point, as ANSI/NCSL Z540.3 practice asks. The meter conforms when every point, the weighted "
        "average, the starting test and the no-load test pass."
    ),
)

REFERENCE = ReferenceStandard(
    identity="Radian Research RD-33 three-phase reference standard",
    serial="RD33-118204",
    calibration_certificate="NIST-traceable cert. 2026-04417",
    calibration_laboratory="Example Metrology Laboratory (ISO/IEC 17025 accredited)",
    due_date=dt.date(2027, 4, 30),
    uncertainty="0.010 % of reading (k = 2) at PF 1; 0.020 % at PF 0.5",
    traceability=(
        "Traceable to the SI through the national measurement institute (NIST) by an unbroken chain of "
        "calibrations, each with stated uncertainty."
    ),
)

_LIMITS_2S = (
    LimitProvenance(
        "FL, LL, PF acceptance", "+/-0.5 %", "ANSI C12.20 class 0.5 used as shop acceptance", "C"
    ),
    LimitProvenance(
        "Weighted average (in service)", "98.0-102.0 %", "ANSI C12.1 as adopted by state commissions", "C"
    ),
    LimitProvenance("Starting load current", "50 mA at 240 V, PF 1", "manufacturer manual, CL200", "C"),
    LimitProvenance(
        "No-load (creep) voltage and window", "110 % voltage, 10 min", "ANSI C12.20 (not seen)", "U"
    ),
)

_LIMITS_9S = (
    LimitProvenance(
        "Series FL, LL, PF acceptance", "+/-0.2 %", "ANSI C12.20 class 0.2 used as shop acceptance", "C"
    ),
    LimitProvenance("Single-element FL acceptance", "+/-0.3 %", "ANSI C12.20 load-performance table", "U"),
    LimitProvenance("Weighted average (NC method 4)", "98.0-102.0 %", "NC rule, ANSI C12.1 practice", "C"),
    LimitProvenance("Starting load current", "5 mA at 120 V, PF 1", "manufacturer manual, CL20", "C"),
    LimitProvenance(
        "No-load (creep) voltage and window", "110 % voltage, 10 min", "ANSI C12.20 (not seen)", "U"
    ),
)


def _point(pid, label, element, v, i, pf, ang, err, u, lim, stage="as-left") -> PointResult:
    verdict = "pass" if abs(err) <= lim else "fail"
    return PointResult(pid, label, element, v, i, pf, ang, err, u, 2.0, lim, verdict, stage)


def _sample_2s(number: str, serial: str) -> CertificateData:
    points = (
        _point("LL", "Light load", "series", 240.0, 3.0, 1.0, 0.0, 0.412, 0.045, 0.5, "as-found"),
        _point("FL", "Full load", "series", 240.0, 30.0, 1.0, 0.0, 0.618, 0.028, 0.5, "as-found"),
        _point("PF", "Power factor 0.5 lag", "series", 240.0, 30.0, 0.5, 60.0, 0.702, 0.061, 0.5, "as-found"),
        _point("LL", "Light load", "series", 240.0, 3.0, 1.0, 0.0, 0.046, 0.045, 0.5),
        _point("FL", "Full load", "series", 240.0, 30.0, 1.0, 0.0, 0.021, 0.028, 0.5),
        _point("PF", "Power factor 0.5 lag", "series", 240.0, 30.0, 0.5, 60.0, -0.087, 0.061, 0.5),
    )
    wa = (
        WeightedAverage("Method 1", "(4 FL + LL) / 5", 100.577, 0.025, 2.0, 98.0, 102.0, "pass", "as-found"),
        WeightedAverage("Method 1", "(4 FL + LL) / 5", 100.026, 0.025, 2.0, 98.0, 102.0, "pass", "as-left"),
    )
    functional = (
        FunctionalTest(
            "starting",
            "50 mA, 240 V, PF 1",
            "meter started within 42 s and kept registering (6 pulses)",
            "starts and keeps registering",
            "pass",
        ),
        FunctionalTest(
            "creep",
            "no current, 264 V (110 %), 10 min",
            "0 test pulses in 10 min",
            "at most 1 test pulse in the window",
            "pass",
        ),
    )
    return CertificateData(
        certificate_number=number,
        laboratory=default_laboratory(),
        customer=Customer(
            "Riverside Electric Cooperative",
            ("410 Grid Avenue",),
            "Springfield, IL 62701",
            "US",
            "PO 2026-3318",
        ),
        meter=MeterIdentity(
            manufacturer="Itron",
            model="CENTRON C1SR",
            serial=serial,
            form="2S",
            accuracy_class="0.5",
            voltage_v=240.0,
            kh=7.2,
            current_class="CL200",
            test_amperes=30.0,
            max_current=200.0,
            kt=0.6,
            firmware="5.3.14",
            condition_as_received="Seal intact, glass clean, no visible damage",
            asset_id="REC-M-0048812",
        ),
        dates=Dates(dt.date(2026, 11, 16), dt.date(2026, 11, 18), dt.date(2026, 11, 18)),
        method=Method(
            "ansi-c12.20-2s",
            "1.2",
            "9c1d2e0f5a7b3c4d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3",
            "ANSI C12.20-2015 / ANSI C12.1-2022 shop practice",
            "2S series test: LL, FL, PF 0.5 lag; starting load; no-load",
            _LIMITS_2S,
        ),
        conditions=TestConditions(23.1, 41.0, 240.0, 60.0, 30.0),
        reference_standards=(REFERENCE,),
        points=points,
        decision_rule=SIMPLE_ACCEPTANCE,
        conformity_statement=(
            "As left, the meter conforms to the shop acceptance limits of ANSI C12.20 accuracy class 0.5 at "
            "all test points and to the ANSI C12.1 in-service weighted-average requirement (98-102 %). It was "
            "adjusted: as found, FL, LL and PF errors exceeded +0.5 %."
        ),
        overall_verdict="pass",
        tested_by=Person("Dana Whitfield", "Meter technician"),
        approved_by=Person("Morgan Reyes", "Meter shop supervisor"),
        run_id="run-2026-11-18-0007",
        bench_name="Bench 2 (simulated)",
        software_version=SOFTWARE_VERSION,
        deviations=("LL run before FL (lowest power first) as the manufacturer recommends.",),
        weighted_averages=wa,
        functional_tests=functional,
    )


def _sample_9s(number: str, serial: str) -> CertificateData:
    pts = []
    for pid, label, i, pf, ang, err in (
        ("LL", "Light load", 0.25, 1.0, 0.0, 0.034),
        ("FL", "Full load", 2.5, 1.0, 0.0, 0.012),
        ("PF", "Power factor 0.5 lag", 2.5, 0.5, 60.0, -0.058),
    ):
        u = {"LL": 0.036, "FL": 0.021, "PF": 0.044}[pid]
        pts.append(_point(pid, label, "series", 120.0, i, pf, ang, err, u, 0.2))
    for el, err in (("A", 0.041), ("B", -0.022), ("C", 0.018)):
        pts.append(_point(f"FL-{el}", f"Full load, element {el}", el, 120.0, 2.5, 1.0, 0.0, err, 0.030, 0.3))
    wiring = WiringCheck(
        rotation="ABC",
        findings=(
            "Phase rotation ABC (1-2-3).",
            "All three currents within 45 deg of their unity-PF position; CT polarity correct.",
            "Voltages within 10 % of phase A; no phase missing.",
        ),
        phases=(
            PhaseReading("A", 120.02, 0.0, 2.501, 0.4),
            PhaseReading("B", 119.97, 120.1, 2.498, 120.3),
            PhaseReading("C", 120.05, 239.9, 2.502, 240.2),
        ),
        verdict="pass",
    )
    return CertificateData(
        certificate_number=number,
        laboratory=default_laboratory(),
        customer=Customer(
            "Riverside Electric Cooperative",
            ("410 Grid Avenue",),
            "Springfield, IL 62701",
            "US",
            "PO 2026-3318",
        ),
        meter=MeterIdentity(
            manufacturer="Landis+Gyr",
            model="E650 S4x",
            serial=serial,
            form="9S",
            accuracy_class="0.2",
            voltage_v=120.0,
            kh=1.8,
            current_class="CL20",
            test_amperes=2.5,
            max_current=20.0,
            kt=0.15,
            firmware="FW 2.11",
            condition_as_received="New, factory sealed",
            asset_id="REC-CT-2201",
        ),
        dates=Dates(dt.date(2026, 11, 16), dt.date(2026, 11, 18), dt.date(2026, 11, 19)),
        method=Method(
            "ansi-c12.20-9s",
            "2.0",
            "4f0b8a9e2d1c3b5a79685746352413021f0e1d2c3b4a59687766554433221100",
            "ANSI C12.20-2015 shop practice, three-phase source",
            "9S polyphase test: LL, FL, PF 0.5 lag in series; FL per element A, B, C; wiring check",
            _LIMITS_9S,
        ),
        conditions=TestConditions(22.8, 38.5, 120.0, 60.0, 35.0),
        reference_standards=(REFERENCE,),
        points=tuple(pts),
        decision_rule=SIMPLE_ACCEPTANCE,
        conformity_statement=(
            "The meter conforms to the shop acceptance limits for ANSI C12.20 accuracy class 0.2 at all series "
            "and single-element test points and to the NC method 4 weighted-average requirement (98-102 %)."
        ),
        overall_verdict="pass",
        tested_by=Person("Dana Whitfield", "Meter technician"),
        approved_by=Person("Morgan Reyes", "Meter shop supervisor"),
        run_id="run-2026-11-18-0008",
        bench_name="Bench 1 (simulated)",
        software_version=SOFTWARE_VERSION,
        weighted_averages=(
            WeightedAverage(
                "NC method 4", "(4 FL + 2 LL + PF) / 7", 100.008, 0.018, 2.0, 98.0, 102.0, "pass"
            ),
        ),
        functional_tests=(
            FunctionalTest(
                "starting",
                "5 mA per phase, 120 V, PF 1",
                "meter started and kept registering",
                "starts and keeps registering",
                "pass",
            ),
            FunctionalTest(
                "creep",
                "no current, 132 V (110 %), 10 min",
                "0 test pulses in 10 min",
                "at most 1 test pulse in the window",
                "pass",
            ),
        ),
        wiring=wiring,
    )


def sample_certificate_data(
    form: str = "2S", *, certificate_number: str | None = None, serial: str | None = None
) -> CertificateData:
    """A complete, realistic :class:`CertificateData` for a ``"2S"`` or ``"9S"`` meter."""
    if form == "2S":
        return _sample_2s(certificate_number or "MB-2026-000117", serial or "98765432")
    if form == "9S":
        return _sample_9s(certificate_number or "MB-2026-000118", serial or "LG-55102841")
    from procedures.errors import InputError

    raise InputError("form", "no sample for this form", allowed=("2S", "9S"), found=form)


def sample_batch_summary(certificates: tuple[CertificateData, ...] | None = None) -> BatchSummary:
    """A batch summary of a run, one row per certificate (the two samples by default)."""
    certs = certificates or (sample_certificate_data("2S"), sample_certificate_data("9S"))
    rows = []
    for c in certs:
        left = c.points_of("as-left") or c.points
        wa = next((w for w in c.weighted_averages if w.stage == "as-left"), None)
        worst = max(left, key=lambda p: abs(p.error_pct)).error_pct
        rows.append(
            BatchRow(
                c.certificate_number,
                c.meter.serial,
                c.meter.form,
                c.meter.accuracy_class,
                c.overall_verdict,
                wa.registration_pct if wa else None,
                worst,
                content_hash(c),
            )
        )
    first = certs[0]
    return BatchSummary(
        summary_number=f"{first.run_id}-summary",
        laboratory=first.laboratory,
        run_id=first.run_id,
        bench_name=first.bench_name,
        plan_id=first.method.plan_id,
        test_date=first.dates.test,
        tested_by=first.tested_by,
        rows=tuple(rows),
        software_version=first.software_version,
    )
