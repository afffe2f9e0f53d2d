"""prompts keep the data row of their example, so runs with other templates or models can be matched

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Prompts already stored get NULL: they are matched across runs by their content key, as before.
    op.add_column("prompts", sa.Column("data_row", sa.String(length=64), nullable=True))
    op.create_index("ix_prompts_run_row", "prompts", ["run_id", "data_row"])


def downgrade() -> None:
    op.drop_index("ix_prompts_run_row", table_name="prompts")
    op.drop_column("prompts", "data_row")
