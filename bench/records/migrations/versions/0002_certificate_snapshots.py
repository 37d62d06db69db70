"""Certificate snapshots: the laboratory a certificate was issued under, so it can be rebuilt exactly.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

A table of its own (not a column on certificates), so rows audited before it existed stay as audited.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "certificate_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("laboratory", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_snapshots_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_snapshots")),
    )
    op.create_index(
        op.f("ix_certificate_snapshots_certificate_id"),
        "certificate_snapshots",
        ["certificate_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_certificate_snapshots_certificate_id"), table_name="certificate_snapshots")
    op.drop_table("certificate_snapshots")
