"""What a certificate says, as plain frozen data the bench fills from its records.

Nothing here does I/O. :func:`to_canonical_json` and :func:`content_hash` turn a
:class:`CertificateData` into the bytes and the SHA-256 that tie an issued PDF (and its DCC) to the
database record: the hash is printed on the certificate, carried in its QR code and XMP metadata, and
recomputed from the records by ``meterbench verify``.

Sign convention (printed on every certificate, see :data:`SIGN_CONVENTION`): %R = 100 x meter energy /
reference energy; error = %R - 100; positive = meter fast. Phasor angles lag positive, phase-A voltage at
0 deg.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass

from procedures.errors import InputError

SIGN_CONVENTION = (
    "Percent registration %R = 100 x (energy registered by the meter) / (true energy measured by the "
    "reference standard). Error = %R - 100 %; a positive error means the meter runs fast (registers more "
    "energy than was delivered). Phasor angles are in degrees, lagging positive, with the phase-A voltage "
    "as the 0 deg reference."
)
#: Added to the sign convention on a certificate with received or reactive/apparent points (a certificate
#: without them keeps the text above, so certificates issued before these points existed verify unchanged).
DIRECTION_CONVENTION = (
    " Energy directions: delivered = from the supply to the customer (active power P > 0), received = from "
    "the customer to the supply (P < 0, a net-metering export); a received point's current angle is given "
    "from the reversed current, and its error keeps the same sign: %R = 100 x (energy the meter registered "
    "in that direction) / (the reference's energy), positive = the meter runs fast. Reactive energy is in "
    "varh (positive for a lagging, inductive current), apparent energy in VAh; an influence point's error is "
    "the variation of error from the reference condition (error under the influence - error at the "
    "reference condition)."
)
ENERGY_UNITS = {"active": "Wh", "reactive": "varh", "apparent": "VAh"}

#: Verdicts as words (never colour alone). ``indeterminate`` is for a guard-banded decision rule where the
#: result lies within the uncertainty of the limit.
VERDICTS = ("pass", "fail", "indeterminate", "not tested")
STAGES = ("as-found", "as-left")
#: Provenance status of a limit or figure, as in the standards digest: confirmed / derived / unconfirmed.
PROVENANCE_STATUS = ("C", "D", "U")

CANONICAL_SCHEMA = "meterbench.certificate/1"
_CERT_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_verdict(where: str, value: str) -> None:
    if value not in VERDICTS:
        raise InputError(where, "unknown verdict", allowed=VERDICTS, found=value)


def _check_stage(where: str, value: str) -> None:
    if value not in STAGES:
        raise InputError(where, "unknown stage", allowed=STAGES, found=value)


def _check_finite(where: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise InputError(where, "must be a finite number", found=value)


@dataclass(frozen=True)
class Person:
    """Someone named on the certificate (technician, approver, signatory): the name and, if known, the
    person's role or title ("Meter shop supervisor"), never the heading it is printed under."""

    name: str
    role: str = ""

    @property
    def printed(self) -> str:
        """ "Name, role", or the name alone when no role is known."""
        return f"{self.name}, {self.role}" if self.role.strip() else self.name


@dataclass(frozen=True)
class Laboratory:
    """The shop issuing the certificate (ISO/IEC 17025 §7.8.2.1 b): who and where."""

    name: str
    address: tuple[str, ...]
    city: str
    country_code: str
    accreditation: str
    place_of_test: str
    logo_path: str | None = None
    signatories: tuple[Person, ...] = ()
    email: str = ""
    phone: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InputError("laboratory.name", "must not be empty")
        if not re.fullmatch(r"[A-Z]{2}", self.country_code):
            raise InputError(
                "laboratory.country_code",
                "must be an ISO 3166-1 alpha-2 code",
                allowed="e.g. US, CA, DE",
                found=self.country_code,
            )


@dataclass(frozen=True)
class Customer:
    """The customer (ISO/IEC 17025 §7.8.2.1 b): who the meter was tested for, or its owner."""

    name: str
    address: tuple[str, ...] = ()
    city: str = ""
    country_code: str = "US"
    reference: str = ""


@dataclass(frozen=True)
class MeterIdentity:
    """The item tested: identity, nameplate and condition as received.

    ANSI meters carry ``test_amperes`` (TA) and ``current_class``; IEC meters ``basic_current`` (Ib or In)
    and ``max_current`` (Imax). ``kh`` is Wh per revolution or pulse, ``kt`` the test-output constant.
    """

    manufacturer: str
    model: str
    serial: str
    form: str
    accuracy_class: str
    voltage_v: float
    kh: float
    current_class: str = ""
    test_amperes: float | None = None
    basic_current: float | None = None
    max_current: float | None = None
    kt: float | None = None
    firmware: str = ""
    condition_as_received: str = ""
    asset_id: str = ""

    def __post_init__(self) -> None:
        if not self.serial.strip():
            raise InputError("meter.serial", "must not be empty")
        for name in ("voltage_v", "kh", "test_amperes", "basic_current", "max_current", "kt"):
            val = getattr(self, name)
            _check_finite(f"meter.{name}", val)
            if val is not None and val <= 0:
                raise InputError(f"meter.{name}", "must be positive", found=val)


@dataclass(frozen=True)
class Dates:
    """Dates of receipt, test and issue (ISO/IEC 17025 §7.8.2.1 i)."""

    receipt: dt.date
    test: dt.date
    issue: dt.date

    def __post_init__(self) -> None:
        if not self.receipt <= self.test <= self.issue:
            raise InputError(
                "dates",
                "must satisfy receipt <= test <= issue",
                found=f"{self.receipt} / {self.test} / {self.issue}",
            )


@dataclass(frozen=True)
class LimitProvenance:
    """Where one limit used by the plan comes from, and how sure we are of it.

    ``status`` is ``C`` (confirmed in a primary or quoting source), ``D`` (derived by arithmetic) or ``U``
    (unconfirmed: widely repeated, not seen in a primary source). Certificates flag ``U`` visibly.
    """

    name: str
    value: str
    source: str
    status: str

    def __post_init__(self) -> None:
        if self.status not in PROVENANCE_STATUS:
            raise InputError(
                f"method.limits[{self.name}].status",
                "unknown provenance status",
                allowed=PROVENANCE_STATUS,
                found=self.status,
            )

    @property
    def unconfirmed(self) -> bool:
        return self.status == "U"


@dataclass(frozen=True)
class Method:
    """The test plan used: identity, fingerprint, the standard it follows and where its limits come from."""

    plan_id: str
    plan_version: str
    plan_sha256: str
    standard: str
    title: str
    limits: tuple[LimitProvenance, ...] = ()

    @property
    def limits_basis(self) -> str:
        """Whose limits were applied, as a conformity statement may claim them: the standard only when
        every limit applied is confirmed (or derived) from it, else the plan's shop limits, saying how
        many are not confirmed against the standard."""
        plan = f"plan {self.plan_id} version {self.plan_version}"
        unconfirmed = sum(1 for lim in self.limits if lim.unconfirmed)
        if not self.limits:
            return f"the limits of {plan} (their source was not recorded)"
        if not unconfirmed and self.standard:
            return f"the limits of {self.standard} ({plan})"
        against = f" against {self.standard}" if self.standard else ""
        return (
            f"the limits of {plan} (shop limits, {unconfirmed} of the {len(self.limits)} limits applied "
            f"not confirmed{against}: see Provenance)"
        )


@dataclass(frozen=True)
class TestConditions:
    """Environmental and supply conditions during the test."""

    temperature_c: float | None  # None = not measured (a real bench where none was entered): printed so
    humidity_pct: float | None
    voltage_v: float
    frequency_hz: float
    warmup_min: float

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_finite(f"conditions.{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class ReferenceStandard:
    """A reference standard used, with its calibration and traceability (ISO/IEC 17025 §7.8.4.1 c)."""

    identity: str
    serial: str
    calibration_certificate: str
    calibration_laboratory: str
    due_date: dt.date
    uncertainty: str
    traceability: str


@dataclass(frozen=True)
class PointResult:
    """One accuracy test point: where it was run, the error, its expanded uncertainty and the verdict.

    ``error_pct`` follows :data:`SIGN_CONVENTION`; ``expanded_u_pct`` is U = k u_c in percent (same unit
    as the error); ``limit_pct`` is the symmetric acceptance limit (+/-). ``angle_deg`` is the current's
    lag behind its voltage.
    """

    point_id: str
    label: str
    element: str
    voltage_v: float
    current_a: float
    pf: float
    angle_deg: float
    error_pct: float
    expanded_u_pct: float
    k: float
    limit_pct: float
    verdict: str
    stage: str = "as-left"
    # "" = active energy, delivered, an accuracy point (omitted from the canonical JSON, so a certificate
    # issued before these fields existed hashes as it did)
    quantity: str = field(default="", metadata={"canonical": "omit-empty"})  # reactive, apparent
    direction: str = field(default="", metadata={"canonical": "omit-empty"})  # received
    kind: str = field(default="", metadata={"canonical": "omit-empty"})  # influence (error = variation)

    @property
    def unit(self) -> str:
        """The energy unit the point measured (Wh, varh, VAh)."""
        return ENERGY_UNITS[self.quantity or "active"]

    @property
    def measures(self) -> str:
        """What a printed row adds to the point's name: "" for active energy delivered, else e.g.
        " [varh, received]" and ", variation" for an influence point."""
        parts = [self.unit] if self.quantity else []
        parts += [self.direction] if self.direction else []
        parts += ["variation from reference condition"] if self.kind == "influence" else []
        return f" [{', '.join(parts)}]" if parts else ""

    def __post_init__(self) -> None:
        where = f"results.points[{self.point_id}]"
        if self.quantity not in ("", "reactive", "apparent") or self.direction not in ("", "received"):
            raise InputError(where, "quantity must be reactive or apparent (or empty for active), direction "
                             "received (or empty for delivered)", found=(self.quantity, self.direction))  # fmt: skip
        for name in (
            "voltage_v",
            "current_a",
            "pf",
            "angle_deg",
            "error_pct",
            "expanded_u_pct",
            "k",
            "limit_pct",
        ):
            _check_finite(f"{where}.{name}", getattr(self, name))
        if self.expanded_u_pct < 0 or self.k <= 0 or self.limit_pct <= 0:
            raise InputError(
                where,
                "U must be >= 0, k > 0 and the limit > 0",
                found=(self.expanded_u_pct, self.k, self.limit_pct),
            )
        _check_verdict(f"{where}.verdict", self.verdict)
        _check_stage(f"{where}.stage", self.stage)


@dataclass(frozen=True)
class WeightedAverage:
    """A weighted-average registration with its named jurisdictional rule, e.g. (4 FL + LL) / 5."""

    rule: str
    formula: str
    registration_pct: float
    expanded_u_pct: float
    k: float
    low_pct: float
    high_pct: float
    verdict: str
    stage: str = "as-left"

    def __post_init__(self) -> None:
        _check_verdict("results.weighted_average.verdict", self.verdict)
        _check_stage("results.weighted_average.stage", self.stage)
        _check_finite("results.weighted_average.registration_pct", self.registration_pct)

    @property
    def error_pct(self) -> float:
        return self.registration_pct - 100.0


@dataclass(frozen=True)
class FunctionalTest:
    """A pass/fail functional test: starting load or no-load (creep)."""

    name: str
    condition: str
    observed: str
    requirement: str
    verdict: str
    stage: str = "as-left"

    def __post_init__(self) -> None:
        _check_verdict(f"results.{self.name}.verdict", self.verdict)
        _check_stage(f"results.{self.name}.stage", self.stage)


@dataclass(frozen=True)
class RegisterTest:
    """A register test: the meter's register read before and after one run of energy, compared with the
    reference (register error) and with the test output's pulses x Kt over the same run (meter-constant
    check). Each comparison has its error (%R - 100), U, k, symmetric limit and verdict.
    """

    point_id: str
    label: str
    voltage_v: float
    current_a: float
    pf: float
    start_kwh: float
    end_kwh: float
    resolution_kwh: float
    reference_kwh: float
    test_pulses: int
    kt: float
    error_pct: float
    expanded_u_pct: float
    k: float
    limit_pct: float
    verdict: str
    constant_error_pct: float
    constant_u_pct: float
    constant_k: float
    constant_limit_pct: float
    constant_verdict: str
    stage: str = "as-found"
    # energy the test output stands for over the register's run: the pulses x Kt plus the part-pulse
    # registered before the gate opened and after it closed (what the meter-constant check compares with)
    test_output_kwh: float | None = None

    def __post_init__(self) -> None:
        where = f"results.register[{self.point_id}]"
        for f in fields(self):
            if isinstance(getattr(self, f.name), float):
                _check_finite(f"{where}.{f.name}", getattr(self, f.name))
        if min(self.expanded_u_pct, self.constant_u_pct) < 0 or min(self.k, self.constant_k) <= 0:
            raise InputError(where, "U must be >= 0 and k > 0", found=(self.expanded_u_pct, self.k))
        if (
            min(self.limit_pct, self.constant_limit_pct, self.resolution_kwh, self.reference_kwh, self.kt)
            <= 0
        ):
            raise InputError(where, "limits, resolution, reference energy and Kt must be > 0")
        if self.end_kwh < self.start_kwh:
            raise InputError(f"{where}.end_kwh", "is below the start reading", found=self.end_kwh)
        _check_verdict(f"{where}.verdict", self.verdict)
        _check_verdict(f"{where}.constant_verdict", self.constant_verdict)
        _check_stage(f"{where}.stage", self.stage)

    @property
    def advance_kwh(self) -> float:
        return self.end_kwh - self.start_kwh

    @property
    def overall_verdict(self) -> str:
        both = (self.verdict, self.constant_verdict)
        return next((v for v in ("fail", "indeterminate", "not tested") if v in both), "pass")


@dataclass(frozen=True)
class MeterPortTest:
    """A test of what the meter's own tables hold, read through its optical port (demand, clock, TOU,
    identity): what was observed, the measured value in its unit with U and k, the limit and its source,
    and the verdict. ``value`` is None for a check without a number (TOU tiers, identity)."""

    point_id: str
    label: str
    kind: str
    quantity: str
    observed: str
    unit: str
    value: float | None
    expanded_u: float | None
    k: float | None
    limit: float | None
    limit_source: str
    verdict: str
    stage: str = "as-found"

    def __post_init__(self) -> None:
        where = f"results.meter_port[{self.point_id}]"
        for name in ("value", "expanded_u", "k", "limit"):
            if getattr(self, name) is not None:
                _check_finite(f"{where}.{name}", getattr(self, name))
        if self.value is not None and (
            self.expanded_u is None or self.expanded_u < 0 or not self.k or self.k <= 0
        ):
            raise InputError(
                where, "a measured value needs U >= 0 and k > 0", found=(self.expanded_u, self.k)
            )
        _check_verdict(f"{where}.verdict", self.verdict)
        _check_stage(f"{where}.stage", self.stage)


@dataclass(frozen=True)
class PhaseReading:
    """Measured phasors of one phase in the lagging convention (degrees, V(A) at 0)."""

    phase: str
    voltage_v: float
    voltage_deg: float
    current_a: float
    current_deg: float


@dataclass(frozen=True)
class WiringCheck:
    """Result of the wiring check: supply rotation, findings in words and the phasors measured."""

    rotation: str
    findings: tuple[str, ...]
    phases: tuple[PhaseReading, ...]
    verdict: str
    #: The operator's reason for overriding a finding ("" = none overridden); omitted from the canonical
    #: form while empty, so a certificate without an override hashes as before.
    override: str = field(default="", metadata={"canonical": "omit-empty"})

    def __post_init__(self) -> None:
        _check_verdict("results.wiring.verdict", self.verdict)

    @property
    def result_text(self) -> str:
        """The result as printed: an overridden finding is never called a PASS."""
        if self.override:
            return f"FINDING OVERRIDDEN by the operator (reason: {self.override})"
        return self.verdict.upper()


@dataclass(frozen=True)
class DecisionRule:
    """The decision rule (ISO/IEC 17025 §7.8.6): its name and what it means, in words."""

    name: str
    statement: str


@dataclass(frozen=True)
class CertificateData:
    """Everything one certificate for one meter from one run says."""

    certificate_number: str
    laboratory: Laboratory
    customer: Customer
    meter: MeterIdentity
    dates: Dates
    method: Method
    conditions: TestConditions
    reference_standards: tuple[ReferenceStandard, ...]
    points: tuple[PointResult, ...]
    decision_rule: DecisionRule
    conformity_statement: str
    overall_verdict: str
    tested_by: Person
    approved_by: Person
    run_id: str
    bench_name: str
    software_version: str
    deviations: tuple[str, ...] = ()
    weighted_averages: tuple[WeightedAverage, ...] = ()
    functional_tests: tuple[FunctionalTest, ...] = ()
    wiring: WiringCheck | None = None
    # Omitted from the canonical form while empty, so certificates issued before the register test existed
    # keep their content hash.
    register_tests: tuple[RegisterTest, ...] = field(default=(), metadata={"canonical": "omit-empty"})
    # Shop-defined record fields (title, value), e.g. ("Work order", "WO-1182"); omitted while empty, as above.
    record_fields: tuple[tuple[str, str], ...] = field(default=(), metadata={"canonical": "omit-empty"})
    # demand, clock, TOU and identity tests through the meter's port; omitted while empty, as above.
    meterport_tests: tuple[MeterPortTest, ...] = field(default=(), metadata={"canonical": "omit-empty"})
    # why the test of this meter was not completed (the position stopped early), and what was not
    # measured: such a certificate never states conformity; omitted while empty, as above.
    incomplete: str = field(default="", metadata={"canonical": "omit-empty"})
    # the instruments and the meter were simulated (a bench file with [simulation]): said on page 1 and in
    # every page's footer, whatever laboratory issues it; omitted while False, as above.
    simulated: bool = field(default=False, metadata={"canonical": "omit-empty"})
    sign_convention: str = SIGN_CONVENTION
    title: str = "Certificate of Calibration and Accuracy Test"

    def __post_init__(self) -> None:
        if not _CERT_NO.match(self.certificate_number):
            raise InputError(
                "certificate_number",
                "is not usable as a certificate number and file name",
                allowed="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                found=self.certificate_number,
            )
        _check_verdict("overall_verdict", self.overall_verdict)
        if not self.points:
            raise InputError("results.points", "a certificate needs at least one test point")
        seen = set()
        for p in self.points:
            key = (p.point_id, p.stage)
            if key in seen:
                raise InputError("results.points", "duplicate point id within a stage", found=key)
            seen.add(key)

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages present, in the order as-found then as-left."""
        present = {p.stage for p in self.points}
        return tuple(s for s in STAGES if s in present)

    def points_of(self, stage: str) -> tuple[PointResult, ...]:
        return tuple(p for p in self.points if p.stage == stage)

    @property
    def has_unconfirmed_limits(self) -> bool:
        return any(lim.unconfirmed for lim in self.method.limits)


@dataclass(frozen=True)
class BatchRow:
    """One meter of a run in the batch summary."""

    certificate_number: str
    serial: str
    form: str
    accuracy_class: str
    verdict: str
    weighted_average_pct: float | None
    worst_error_pct: float | None
    content_hash: str = ""

    def __post_init__(self) -> None:
        _check_verdict(f"batch.rows[{self.serial}].verdict", self.verdict)


@dataclass(frozen=True)
class BatchSummary:
    """A run's summary: one row per meter tested."""

    summary_number: str
    laboratory: Laboratory
    run_id: str
    bench_name: str
    plan_id: str
    test_date: dt.date
    tested_by: Person
    rows: tuple[BatchRow, ...]
    software_version: str
    title: str = "Batch Test Summary"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _CERT_NO.match(self.summary_number):
            raise InputError(
                "summary_number",
                "is not usable as a file name",
                allowed="1-64 letters, digits, '.', '_' or '-'",
                found=self.summary_number,
            )

    @property
    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in VERDICTS}
        for r in self.rows:
            out[r.verdict] += 1
        return out


# --- canonical form and hash ---------------------------------------------------------------------------


def _fixed(x: float) -> str:
    # Fixed 6 decimals: values re-read from a database as floats must hash the same as when issued.
    if not math.isfinite(x):
        raise InputError("certificate data", "non-finite number cannot be hashed", found=x)
    text = f"{x:.6f}"
    return "0.000000" if text == "-0.000000" else text


def _canon(obj: object) -> str:
    if obj is None or isinstance(obj, bool):
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return _fixed(obj)
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, dt.datetime | dt.date):
        return json.dumps(obj.isoformat())
    if is_dataclass(obj) and not isinstance(obj, type):
        items = sorted(
            (f.name, getattr(obj, f.name))
            for f in fields(obj)
            if not (f.metadata.get("canonical") == "omit-empty" and not getattr(obj, f.name))
        )
        return "{" + ",".join(f"{json.dumps(k)}:{_canon(v)}" for k, v in items) + "}"
    if isinstance(obj, dict):
        items = sorted((str(k), v) for k, v in obj.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_canon(v)}" for k, v in items) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_canon(v) for v in obj) + "]"
    raise TypeError(f"cannot put {type(obj).__name__} into canonical JSON")


def to_canonical_json(data: CertificateData | BatchSummary) -> bytes:
    """UTF-8 JSON with sorted keys, no spaces, floats as fixed 6-decimal numbers, dates as ISO strings.

    Wrapped as ``{"schema": ..., "data": ...}`` so a future change of layout changes every hash visibly.
    """
    return ('{"data":' + _canon(data) + ',"schema":' + json.dumps(CANONICAL_SCHEMA) + "}").encode("utf-8")


def content_hash(data: CertificateData | BatchSummary) -> str:
    """SHA-256 (hex) of :func:`to_canonical_json` — the fingerprint printed on and embedded in the PDF."""
    return hashlib.sha256(to_canonical_json(data)).hexdigest()


def point_name(point_id: str, label: str) -> str:
    """How a point is named in print: its label, with its id when the two differ (``LL`` not ``LL LL``)."""
    return label if label.strip().casefold() == point_id.strip().casefold() else f"{label} ({point_id})"
