"""Initial records schema: benches, instruments, meters, runs, points, readings, results, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Written out in full (not imported from models.py) so later model changes never rewrite history;
tests/test_records_store.py checks the models still match what the migrations build.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Stored as UTC; SQLite keeps naive text, PostgreSQL timestamptz (see models.UTCDateTime).
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("row_json", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_table_row_seq", "audit_log", ["table_name", "row_id", "seq"], unique=False)
    op.create_table(
        "benches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benches")),
        sa.UniqueConstraint("name", name=op.f("uq_benches_name")),
    )
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=False),
        sa.Column("manufacturer", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("form", sa.String(length=20), nullable=False),
        sa.Column("accuracy_class", sa.String(length=20), nullable=False),
        sa.Column("current_class", sa.String(length=20), nullable=True),
        sa.Column("voltage_v", sa.Float(), nullable=False),
        sa.Column("ta_a", sa.Float(), nullable=True),
        sa.Column("ib_a", sa.Float(), nullable=True),
        sa.Column("in_a", sa.Float(), nullable=True),
        sa.Column("imax_a", sa.Float(), nullable=True),
        sa.Column("kh", sa.Float(), nullable=False),
        sa.Column("kt", sa.Float(), nullable=False),
        sa.Column("firmware", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("serial", name=op.f("uq_meters_serial")),
    )
    op.create_index(op.f("ix_meters_form"), "meters", ["form"], unique=False)
    op.create_table(
        "instruments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bench_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("driver", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=500), nullable=False),
        sa.Column("identity", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("seen_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["bench_id"], ["benches.id"], name=op.f("fk_instruments_bench_id_benches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
    )
    op.create_index(op.f("ix_instruments_bench_id"), "instruments", ["bench_id"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=200), nullable=False),
        sa.Column("plan_version", sa.String(length=50), nullable=False),
        sa.Column("plan_sha256", sa.String(length=64), nullable=False),
        sa.Column("bench_id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("bench_seconds", sa.Float(), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("resumes", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["bench_id"], ["benches.id"], name=op.f("fk_runs_bench_id_benches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_bench_id"), "runs", ["bench_id"], unique=False)
    op.create_index(op.f("ix_runs_outcome"), "runs", ["outcome"], unique=False)
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"], unique=False)
    op.create_index(op.f("ix_runs_status"), "runs", ["status"], unique=False)
    op.create_table(
        "averages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("test_pass", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("value_percent", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=30), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_averages_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_averages")),
    )
    op.create_index(op.f("ix_averages_run_id"), "averages", ["run_id"], unique=False)
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_calibrations_instrument_id_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibrations")),
    )
    op.create_index(op.f("ix_calibrations_instrument_id"), "calibrations", ["instrument_id"], unique=False)
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=200), nullable=False),
        sa.Column("pdf_path", sa.Text(), nullable=False),
        sa.Column("dcc_path", sa.Text(), nullable=True),
        sa.Column("issued_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_certificates_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("number", name=op.f("uq_certificates_number")),
    )
    op.create_index(op.f("ix_certificates_run_id"), "certificates", ["run_id"], unique=False)
    op.create_table(
        "creep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("pulses", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=30), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_creep_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creep")),
    )
    op.create_index(op.f("ix_creep_run_id"), "creep", ["run_id"], unique=False)
    op.create_table(
        "points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("element", sa.String(length=20), nullable=False),
        sa.Column("test_pass", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("voltage_v", sa.Float(), nullable=False),
        sa.Column("current_a", sa.Float(), nullable=False),
        sa.Column("lag_deg", sa.Float(), nullable=False),
        sa.Column("limit_lo", sa.Float(), nullable=True),
        sa.Column("limit_hi", sa.Float(), nullable=True),
        sa.Column("limit_provenance", sa.JSON(), nullable=False),
        sa.Column("planned", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_points_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points")),
    )
    op.create_index(op.f("ix_points_run_id"), "points", ["run_id"], unique=False)
    op.create_table(
        "run_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("meter", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["meters.id"], name=op.f("fk_run_positions_meter_id_meters")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_positions_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_positions")),
        sa.UniqueConstraint("run_id", "position", name="uq_run_positions_run_id_position"),
    )
    op.create_index(op.f("ix_run_positions_meter_id"), "run_positions", ["meter_id"], unique=False)
    op.create_index(op.f("ix_run_positions_run_id"), "run_positions", ["run_id"], unique=False)
    op.create_table(
        "starting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("pulses", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=30), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_starting_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_starting")),
    )
    op.create_index(op.f("ix_starting_run_id"), "starting", ["run_id"], unique=False)
    op.create_table(
        "wiring_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("rotation", sa.String(length=10), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("phasors", sa.JSON(), nullable=False),
        sa.Column("registration_percent", sa.Float(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("checked_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_wiring_checks_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wiring_checks")),
    )
    op.create_index(op.f("ix_wiring_checks_run_id"), "wiring_checks", ["run_id"], unique=False)
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("meter_pulses", sa.Integer(), nullable=False),
        sa.Column("ref_pulses", sa.Float(), nullable=False),
        sa.Column("kr_wh", sa.Float(), nullable=False),
        sa.Column("kt_wh", sa.Float(), nullable=False),
        sa.Column("gate_seconds", sa.Float(), nullable=False),
        sa.Column("error_percent", sa.Float(), nullable=False),
        sa.Column("instrument_error_percent", sa.Float(), nullable=True),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("taken_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["point_id"], ["points.id"], name=op.f("fk_readings_point_id_points")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readings")),
    )
    op.create_index(op.f("ix_readings_point_id"), "readings", ["point_id"], unique=False)
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("error_percent", sa.Float(), nullable=True),
        sa.Column("expanded_percent", sa.Float(), nullable=True),
        sa.Column("coverage_factor", sa.Float(), nullable=True),
        sa.Column("dof", sa.Float(), nullable=True),
        sa.Column("budget", sa.JSON(), nullable=False),
        sa.Column("limit_lo", sa.Float(), nullable=True),
        sa.Column("limit_hi", sa.Float(), nullable=True),
        sa.Column("verdict", sa.String(length=30), nullable=True),
        sa.Column("decision_rule", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["point_id"], ["points.id"], name=op.f("fk_results_point_id_points")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint("point_id", name=op.f("uq_results_point_id")),
    )
    op.create_table(
        "run_instruments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["calibration_id"],
            ["calibrations.id"],
            name=op.f("fk_run_instruments_calibration_id_calibrations"),
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_run_instruments_instrument_id_instruments")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_instruments_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_instruments")),
    )
    op.create_index(
        op.f("ix_run_instruments_instrument_id"), "run_instruments", ["instrument_id"], unique=False
    )
    op.create_index(op.f("ix_run_instruments_run_id"), "run_instruments", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_table("run_instruments")
    op.drop_table("results")
    op.drop_table("readings")
    op.drop_table("wiring_checks")
    op.drop_table("starting")
    op.drop_table("run_positions")
    op.drop_table("points")
    op.drop_table("creep")
    op.drop_table("certificates")
    op.drop_table("calibrations")
    op.drop_table("averages")
    op.drop_table("runs")
    op.drop_table("instruments")
    op.drop_table("meters")
    op.drop_table("benches")
    op.drop_table("audit_log")
