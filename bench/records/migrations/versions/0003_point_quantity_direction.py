"""A point's energy quantity (active, reactive, apparent) and direction (delivered, received).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Nullable columns with no default: the rows written before this revision keep NULL there, so their
audited JSON (which has no such keys) still matches them (the audit compares a missing key as NULL);
readers take NULL as active energy delivered, which is all those runs measured
(bench.records.rows.quantity_of).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("points") as batch:
        batch.add_column(sa.Column("quantity", sa.String(20), nullable=True))
        batch.add_column(sa.Column("direction", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("points") as batch:
        batch.drop_column("direction")
        batch.drop_column("quantity")
