import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import StorageError, Store
from storage.migrate import current_revision, head_revision
from storage.models import Base


def test_a_new_database_is_migrated_to_head_on_open(store):
    assert current_revision(store._engine) == head_revision()
    tables = set(inspect(store._engine).get_table_names())
    assert {
        "runs",
        "metrics",
        "prompts",
        "rollouts",
        "checkpoints",
        "evaluations",
        "evaluation_samples",
        "workers",
    } <= tables


def test_migrations_build_exactly_the_schema_the_models_describe(store):
    # A model changed without a new migration (or the reverse) shows up here as a difference.
    with store._engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_reopening_keeps_rows_and_revision(db_url):
    first = Store(db_url)
    run = first.create_run("kept", {"a": 1})
    first.close()
    again = Store(db_url)
    assert again.get_run(run.id).config == {"a": 1}
    assert current_revision(again._engine) == head_revision()


def test_a_database_from_a_newer_version_is_refused_clearly(store, db_url):
    with store._engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d'")
    with pytest.raises(StorageError, match="f00d.*newer nover_ui"):
        Store(db_url)
