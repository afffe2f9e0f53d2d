"""evaluations become jobs a worker claims: settings, kind, worker, start and heartbeat times

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evaluations", sa.Column("kind", sa.String(length=16), server_default="evaluation", nullable=False))
    op.add_column("evaluations", sa.Column("config", sa.JSON(), nullable=True))
    op.add_column("evaluations", sa.Column("worker_id", sa.String(length=200), nullable=True))
    op.add_column("evaluations", sa.Column("started_at", sa.DateTime(), nullable=True))
    op.add_column("evaluations", sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    op.create_index("ix_evaluations_status", "evaluations", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_evaluations_status", table_name="evaluations")
    # Batch mode: SQLite before 3.35 cannot drop a column, so the table is copied without them.
    with op.batch_alter_table("evaluations") as batch:
        for column in ("heartbeat_at", "started_at", "worker_id", "config", "kind"):
            batch.drop_column(column)
