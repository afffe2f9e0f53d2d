"""A run keeps the last lines of its vLLM server's output (migration 0010), on SQLite and PostgreSQL."""

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from storage import RunNotFound, Status, Store
from storage.migrate import alembic_config
from tests.storage.old_schema import old_run

LINES = "INFO loading model\nINFO 8 GPU blocks\0\nERROR CUDA out of memory"


def test_a_run_keeps_its_server_lines_after_it_ended_and_the_runs_version_moves(store):
    run = store.create_run("r", {"max_steps": 1})
    assert run.generation_server_log is None  # no server yet (and most runs never have one)
    store.start_run(run.id, "w")
    store.finish_run(run.id, Status.FAILED, "the vLLM server exited")
    before = store.runs_version()
    kept = store.set_generation_server_log(run.id, LINES)  # the worker stops the server after the run's end
    assert kept.generation_server_log == LINES.replace("\0", "\ufffd") == store.get_run(run.id).generation_server_log
    assert [r.generation_server_log for r in store.list_runs()] == [kept.generation_server_log]
    assert store.runs_version() != before  # a page showing the run redraws with its lines
    with pytest.raises(RunNotFound):
        store.set_generation_server_log(run.id + 1, LINES)


def test_runs_stored_at_revision_0009_upgrade_without_lines_and_the_migration_downgrades(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        run_id = old_run(connection, "0009", step=2)
    engine.dispose()
    store = Store(db_url)  # upgrades to head
    old = store.get_run(run_id)
    assert (old.step, old.generation_server_log) == (2, None)
    store.set_generation_server_log(run_id, "INFO ready")
    with store._engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
        assert connection.execute(text("SELECT step FROM runs")).scalar_one() == 2  # the run itself stays
    assert "generation_server_log" not in {c["name"] for c in inspect(store._engine).get_columns("runs")}
    store.close()
