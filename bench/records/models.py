"""The records schema: one SQLAlchemy Core table per kind of fact a test run leaves behind.

Tables are Core (not ORM) because the store writes every row through one audited path
(:mod:`bench.records.audit`) and reads them back as plain dicts for certificates and exports. The
Alembic migrations in ``migrations/versions`` create exactly these tables; a test compares the two.

Times are stored as UTC (:class:`UTCDateTime`) and always come back timezone-aware. JSON-ish dicts use
the generic JSON type, which is text-preserving ``json`` (not ``jsonb``) on PostgreSQL, so what was
written is what the audit hash covers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite keeps naive text, so we add UTC back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: records need timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True)


def _fk(name: str, target: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer, sa.ForeignKey(target), nullable=nullable, index=True)


benches = sa.Table(
    "benches",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("location", sa.String(500), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

instruments = sa.Table(
    "instruments",
    metadata,
    _id(),
    _fk("bench_id", "benches.id"),
    sa.Column("role", sa.String(100), nullable=False),
    sa.Column("driver", sa.String(200), nullable=False),
    sa.Column("resource", sa.String(500), nullable=False),
    sa.Column("identity", sa.String(500), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Last time the engine said "this instrument is in this role now"; picks a run's instruments.
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

calibrations = sa.Table(
    "calibrations",
    metadata,
    _id(),
    _fk("instrument_id", "instruments.id"),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)

meters = sa.Table(
    "meters",
    metadata,
    _id(),
    sa.Column("serial", sa.String(100), nullable=False, unique=True),
    sa.Column("manufacturer", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("form", sa.String(20), nullable=False, index=True),
    sa.Column("accuracy_class", sa.String(20), nullable=False),
    sa.Column("current_class", sa.String(20), nullable=True),
    sa.Column("voltage_v", sa.Float, nullable=False),
    sa.Column("ta_a", sa.Float, nullable=True),
    sa.Column("ib_a", sa.Float, nullable=True),
    sa.Column("in_a", sa.Float, nullable=True),
    sa.Column("imax_a", sa.Float, nullable=True),
    sa.Column("kh", sa.Float, nullable=False),
    sa.Column("kt", sa.Float, nullable=False),
    sa.Column("firmware", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    _id(),
    sa.Column("plan_id", sa.String(200), nullable=False),
    sa.Column("plan_version", sa.String(50), nullable=False),
    sa.Column("plan_sha256", sa.String(64), nullable=False),
    _fk("bench_id", "benches.id"),
    sa.Column("operator", sa.String(200), nullable=False),
    sa.Column("environment", sa.JSON, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    # running -> finished | interrupted (-> running again when resumed)
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("outcome", sa.String(20), nullable=True, index=True),  # passed|failed|aborted|error
    sa.Column("started_at", UTCDateTime, nullable=False, index=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("bench_seconds", sa.Float, nullable=True),
    sa.Column("wall_seconds", sa.Float, nullable=True),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("resumes", sa.Integer, nullable=False),
    # Liveness only, not a record: the one column the audit log does not cover (see audit.UNAUDITED).
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

run_instruments = sa.Table(
    "run_instruments",
    metadata,
    _id(),
    _fk("run_id", "runs.id"),
    _fk("instrument_id", "instruments.id"),
    sa.Column("calibration_id", sa.Integer, sa.ForeignKey("calibrations.id"), nullable=True),
)

run_positions = sa.Table(
    "run_positions",
    metadata,
    _id(),
    _fk("run_id", "runs.id"),
    sa.Column("position", sa.Integer, nullable=False),
    _fk("meter_id", "meters.id"),
    # The meter's nameplate as it was when tested; the meters row may change later (firmware).
    sa.Column("meter", sa.JSON, nullable=False),
    sa.Column("outcome", sa.String(20), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.UniqueConstraint("run_id", "position", name="uq_run_positions_run_id_position"),
)

points = sa.Table(
    "points",
    metadata,
    _id(),
    _fk("run_id", "runs.id"),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("point_id", sa.String(100), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("element", sa.String(20), nullable=False),
    sa.Column("test_pass", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("voltage_v", sa.Float, nullable=False),
    sa.Column("current_a", sa.Float, nullable=False),
    sa.Column("lag_deg", sa.Float, nullable=False),
    # the energy measured (active, reactive, apparent) and its direction (delivered, received); NULL on rows
    # written before migration 0003, which all measured active energy delivered (see quantity_of)
    sa.Column("quantity", sa.String(20), nullable=True),
    sa.Column("direction", sa.String(20), nullable=True),
    sa.Column("limit_lo", sa.Float, nullable=True),
    sa.Column("limit_hi", sa.Float, nullable=True),
    sa.Column("limit_provenance", sa.JSON, nullable=False),
    sa.Column("planned", sa.JSON, nullable=False),
    # running -> done | failed | skipped; interrupted when its run's process died mid-point
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
)

readings = sa.Table(
    "readings",
    metadata,
    _id(),
    _fk("point_id", "points.id"),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("meter_pulses", sa.Integer, nullable=False),
    sa.Column("ref_pulses", sa.Float, nullable=False),
    sa.Column("kr_wh", sa.Float, nullable=False),
    sa.Column("kt_wh", sa.Float, nullable=False),
    sa.Column("gate_seconds", sa.Float, nullable=False),
    sa.Column("error_percent", sa.Float, nullable=False),
    sa.Column("instrument_error_percent", sa.Float, nullable=True),
    sa.Column("reference", sa.JSON, nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
)

results = sa.Table(
    "results",
    metadata,
    _id(),
    sa.Column("point_id", sa.Integer, sa.ForeignKey("points.id"), nullable=False, unique=True),
    sa.Column("error_percent", sa.Float, nullable=True),
    sa.Column("expanded_percent", sa.Float, nullable=True),
    sa.Column("coverage_factor", sa.Float, nullable=True),
    sa.Column("dof", sa.Float, nullable=True),
    sa.Column("budget", sa.JSON, nullable=False),
    sa.Column("limit_lo", sa.Float, nullable=True),
    sa.Column("limit_hi", sa.Float, nullable=True),
    sa.Column("verdict", sa.String(30), nullable=True),
    sa.Column("decision_rule", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

wiring_checks = sa.Table(
    "wiring_checks",
    metadata,
    _id(),
    _fk("run_id", "runs.id"),
    sa.Column("position", sa.Integer, nullable=True),  # NULL = the bench supply itself
    sa.Column("rotation", sa.String(10), nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
    sa.Column("phasors", sa.JSON, nullable=False),
    sa.Column("registration_percent", sa.Float, nullable=True),
    sa.Column("override_reason", sa.Text, nullable=True),
    sa.Column("checked_at", UTCDateTime, nullable=False),
)

averages = sa.Table(
    "averages",
    metadata,
    _id(),
    _fk("run_id", "runs.id"),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("test_pass", sa.String(20), nullable=False),
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("value_percent", sa.Float, nullable=False),
    sa.Column("verdict", sa.String(30), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)


def _pulse_test(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        _id(),
        _fk("run_id", "runs.id"),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("pulses", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("verdict", sa.String(30), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


creep = _pulse_test("creep")
starting = _pulse_test("starting")

certificates = sa.Table(
    "certificates",
    metadata,
    _id(),
    _fk("run_id", "runs.id"),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("number", sa.String(100), nullable=False, unique=True),
    sa.Column("content_hash", sa.String(200), nullable=False),
    sa.Column("pdf_path", sa.Text, nullable=False),
    sa.Column("dcc_path", sa.Text, nullable=True),
    sa.Column("issued_at", UTCDateTime, nullable=False),
)

# What a certificate was issued under that no other record holds: the laboratory (name, address,
# accreditation, signatories) as it stood at issue, so the certificate can be rebuilt exactly later.
certificate_snapshots = sa.Table(
    "certificate_snapshots",
    metadata,
    _id(),
    _fk("certificate_id", "certificates.id"),
    sa.Column("laboratory", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("table_name", sa.String(64), nullable=False),
    sa.Column("row_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(10), nullable=False),  # insert | update
    sa.Column("row_json", sa.Text, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_table_row_seq", "table_name", "row_id", "seq"),
)

#: Every table whose rows the store writes and the audit log covers, in dependency order.
AUDITED_TABLES: tuple[sa.Table, ...] = (
    benches,
    instruments,
    calibrations,
    meters,
    runs,
    run_instruments,
    run_positions,
    points,
    readings,
    results,
    wiring_checks,
    averages,
    creep,
    starting,
    certificates,
    certificate_snapshots,
)
TABLES_BY_NAME = {t.name: t for t in AUDITED_TABLES}
