"""A database as an older release left it: the schema at one revision, with one finished run stored the old way."""

from alembic import command
from sqlalchemy import Connection, text

from storage.migrate import alembic_config


def old_run(connection: Connection, revision: str, step: int) -> int:
    """Upgrade the empty database behind `connection` to `revision`, store a succeeded run at `step` with raw SQL (no
    code of today writes it), and return its id."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    connection.execute(
        text(
            "INSERT INTO runs (name, status, config, created_at, cancel_requested, step)"
            " VALUES ('old', 'succeeded', '{}', '2025-01-02 03:04:05', :no, :step)"
        ),
        {"no": False, "step": step},
    )
    return connection.execute(text("SELECT id FROM runs")).scalar_one()
