"""rollouts store their failure flags and the flag set that computed them

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows already stored get NULL: the dashboard's start-up backfill computes their flags.
    op.add_column("rollouts", sa.Column("flags", sa.JSON(), nullable=True))
    op.add_column("rollouts", sa.Column("flags_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Not batch mode, as in 0004: copying `rollouts` on SQLite is slow on big tables and not needed for a
    # plain DROP COLUMN (SQLite 3.35 or later).
    op.drop_column("rollouts", "flags_version")
    op.drop_column("rollouts", "flags")
