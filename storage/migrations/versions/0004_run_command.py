"""runs remember the command line that trains them

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("command", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch mode: copying `runs` on SQLite would drop the old table, and with it (ON DELETE CASCADE) every
    # run's rows. A plain DROP COLUMN needs SQLite 3.35 or later.
    op.drop_column("runs", "command")
