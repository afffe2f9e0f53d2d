"""run_machines: the machines a run spans (num_machines > 1), one row per machine rank claimed

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Starts empty: runs stored before ran on one machine, which needs no row.
    op.create_table(
        "run_machines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("machine_rank", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        # The claim: two workers inserting the same rank of a run cannot both commit, on any backend.
        sa.UniqueConstraint("run_id", "machine_rank", name="uq_run_machines_run_rank"),
    )
    op.create_index("ix_run_machines_run_id", "run_machines", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_run_machines_run_id", table_name="run_machines")
    op.drop_table("run_machines")
