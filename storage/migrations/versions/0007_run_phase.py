"""runs say what they do while no step lands: loading or converting the model, the first generation, cancelling

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs stored before have no phase: the ended ones need none, a running one gets its next from its worker.
    op.add_column("runs", sa.Column("phase", sa.String(length=40), nullable=True))


def downgrade() -> None:
    # Not batch mode, as in 0004: copying `runs` on SQLite would drop the old table, and with it (ON DELETE
    # CASCADE) every run's rows. A plain DROP COLUMN needs SQLite 3.35 or later.
    op.drop_column("runs", "phase")
