"""metric summaries: each metric series bucketed at several levels, so a chart of a long run reads few rows

Revision ID: 0008
Revises: 0007
"""

import itertools
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage.summaries import LEVELS, summarise

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BATCH = 50_000


def upgrade() -> None:
    summaries = op.create_table(
        "metric_summaries",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("level", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("first_step", sa.Integer(), nullable=False),
        sa.Column("min_step", sa.Integer(), nullable=True),
        sa.Column("min_value", sa.Double(), nullable=True),
        sa.Column("min_wall", sa.Double(), nullable=True),
        sa.Column("max_step", sa.Integer(), nullable=True),
        sa.Column("max_value", sa.Double(), nullable=True),
        sa.Column("max_wall", sa.Double(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Double(), nullable=False),
        sa.Column("last_wall", sa.Double(), nullable=False),
        sqlite_with_rowid=False,
    )
    # Fill them for the points already stored, one run's key at a time (rows come sorted by the covering index;
    # PostgreSQL streams them), so memory holds one series and one batch however big the database.
    query = sa.text("SELECT run_id, key, step, value, wall_time FROM metrics ORDER BY run_id, key, step")
    rows = op.get_bind().execute(query.execution_options(yield_per=10_000))
    pending: list[dict[str, Any]] = []
    for (run_id, _), series in itertools.groupby(rows, key=lambda row: (row.run_id, row.key)):
        pending += summarise(run_id, [row._asdict() for row in series], LEVELS)
        if len(pending) >= _BATCH:
            op.bulk_insert(summaries, pending)
            pending = []
    if pending:
        op.bulk_insert(summaries, pending)


def downgrade() -> None:
    op.drop_table("metric_summaries")
