"""covering index for reading metric series

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_metrics_run_key_step_value", "metrics", ["run_id", "key", "step", "value", "wall_time"])


def downgrade() -> None:
    op.drop_index("ix_metrics_run_key_step_value", table_name="metrics")
