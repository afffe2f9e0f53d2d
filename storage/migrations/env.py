"""Alembic environment: migrations always run on a connection handed over by storage.migrate."""

from alembic import context

from storage.models import Base

connection = context.config.attributes["connection"]
# render_as_batch lets later revisions alter SQLite tables (SQLite has almost no ALTER TABLE).
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
