"""experiments (a named grid of runs), runs' experiment, tags, notes and edit count, and alerts on runs' metrics

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Runs stored before belong to no experiment and have no tags or notes: NULL says so. Plain ADD COLUMN, not
    # batch mode, as in 0004: copying `runs` on SQLite would drop the old table and cascade its rows away. SQLite
    # takes a foreign key only inside ADD COLUMN itself (no ALTER ... ADD CONSTRAINT), so it gets the clause there;
    # without ON DELETE, which SQLAlchemy cannot read back from an inline clause (experiments are never deleted).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE runs ADD COLUMN experiment_id INTEGER REFERENCES experiments(id)")
    else:
        op.add_column("runs", sa.Column("experiment_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_runs_experiment_id", "runs", "experiments", ["experiment_id"], ["id"])
    op.create_index("ix_runs_experiment_id", "runs", ["experiment_id"])
    op.add_column("runs", sa.Column("tags", sa.JSON(), nullable=True))
    op.add_column("runs", sa.Column("notes", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("edits", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "rule", name="uq_alerts_run_rule"),
    )
    op.create_index("ix_alerts_run_id", "alerts", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_run_id", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_runs_experiment_id", table_name="runs")
    if op.get_bind().dialect.name != "sqlite":  # on SQLite the column's clause goes with the column
        op.drop_constraint("fk_runs_experiment_id", "runs", type_="foreignkey")
    for column in ("edits", "notes", "tags", "experiment_id"):
        op.drop_column("runs", column)
    op.drop_table("experiments")
