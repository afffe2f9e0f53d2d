"""runs keep the last lines of their vLLM server's output (generation in server mode)

Revision ID: 0010
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs stored before had no server: nothing to fill in.
    op.add_column("runs", sa.Column("generation_server_log", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch mode, as in 0004: copying `runs` on SQLite would drop the old table, and with it (ON DELETE
    # CASCADE) every run's rows. A plain DROP COLUMN needs SQLite 3.35 or later.
    op.drop_column("runs", "generation_server_log")
