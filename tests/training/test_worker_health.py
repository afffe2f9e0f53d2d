"""The worker's health command, as a scheduler's probe runs it: exit code 0 and one line when the database answers at
this code's schema (and the worker asked about is live), 1 and the reason otherwise; never a password."""

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from storage import Store
from storage.migrate import alembic_config, head_revision
from storage.models import Worker
from tests.helpers import free_port
from training.worker import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-pw"


def with_password(url: str) -> str:
    """The test server trusts local connections, so it accepts any password: the one a real deployment would have."""
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def health(*args: str, **env: str) -> tuple[int, str, str]:
    """`python -m training.worker health ARGS` as a probe runs it: a process of its own, settings in its environment."""
    done = subprocess.run(
        [sys.executable, "-m", "training.worker", "health", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def set_last_seen(store: Store, worker_id: str, seconds_ago: float) -> None:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    with store._engine.begin() as connection:
        connection.execute(update(Worker).where(Worker.id == worker_id).values(last_seen_at=then))


def test_a_probe_of_a_live_worker_on_postgresql_passes_without_showing_the_password(postgres_url):
    url = with_password(postgres_url)
    store = Store(url)
    store.register_worker("pod-7", "node-1", {})
    code, out, err = health(NOVER_UI_DB=url, NOVER_UI_WORKER_ID="pod-7")
    assert code == 0, err
    assert out.startswith(f"healthy: {make_url(url).render_as_string(hide_password=True)} at schema {head_revision()}")
    assert re.search(r"; worker 'pod-7' seen \d+ s ago\n$", out) and out.count("\n") == 1
    assert SECRET not in out + err and ":***@" in out
    store.close()


def test_a_database_that_does_not_answer_fails_the_probe_saying_so_without_the_password(capsys):
    url = f"postgresql+psycopg://nover:{SECRET}@127.0.0.1:{free_port()}/nover"
    assert main(["health", "--db", url]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("unhealthy: postgresql+psycopg://nover:***@127.0.0.1:")
    assert "does not answer" in err and SECRET not in err


def test_an_empty_postgresql_database_is_not_ready(postgres_url, capsys):
    assert main(["health", "--db", postgres_url]) == 1
    assert "has no nover_ui tables yet: the app or a worker creates them" in capsys.readouterr().err


def test_a_worker_that_is_gone_or_silent_fails_the_probe(db_url, capsys):
    store = Store(db_url)
    assert main(["health", "--db", db_url]) == 0  # the database alone is healthy
    assert main(["health", "--db", db_url, "--worker-id", "pod-7"]) == 1
    assert "no worker 'pod-7' is recorded: it has not started yet, or it has stopped" in capsys.readouterr().err
    store.register_worker("pod-7", "node-1", {})
    set_last_seen(store, "pod-7", 100)
    assert main(["health", "--db", db_url, "--worker-id", "pod-7", "--max-age", "120"]) == 0
    assert main(["health", "--db", db_url, "--worker-id", "pod-7", "--max-age", "30"]) == 1
    assert "worker 'pod-7' was last seen 100 s ago (more than the 30 s allowed)" in capsys.readouterr().err
    store.close()


def test_a_schema_older_or_newer_than_the_code_fails_the_probe_with_what_to_do(db_url, capsys):
    store = Store(db_url)
    older = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision()).down_revision
    for revision, says in [(older, "older than this code's"), ("f00dfeedbeef", "a newer nover_ui migrated it")]:
        with store._engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        assert main(["health", "--db", db_url]) == 1
        assert says in capsys.readouterr().err
    store.close()


def test_a_missing_sqlite_file_fails_the_probe_and_is_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere.db"
    assert main(["health", "--db", f"sqlite:///{missing}"]) == 1
    assert f"no database file at {missing}" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-age", "0"], "--max-age must be a number of seconds > 0"),
        (["--max-age", "nan"], "--max-age must be a number of seconds > 0"),
        ([], "--db is required (or set NOVER_UI_DB"),
    ],
)
def test_bad_health_flags_are_refused(args, message, capsys, monkeypatch):
    monkeypatch.delenv("NOVER_UI_DB", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["health", *(["--db", "sqlite://"] if args else []), *args])
    assert exited.value.code == 2 and message in capsys.readouterr().err
