import os
from pathlib import Path

import pytest

from storage import Store
from tests.postgres import INSTALL_HINT, PostgresServer, find_bin_dir

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nover_ui.db'}"


@pytest.fixture
def store(db_url: str):
    store = Store(db_url)
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session, started on first use; see postgres_url."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is missing (/usr/lib/postgresql/*/bin); .ci/run installs it ({INSTALL_HINT})")
        pytest.skip(f"PostgreSQL is not installed here ({INSTALL_HINT})")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of an empty database of its own on the session's PostgreSQL server, for one test."""
    name = postgres_server.new_database()
    yield postgres_server.url(name)
    postgres_server.release_database(name)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave files worth looking at (screenshots); git-ignored."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
