"""The Store's tests run on both backends: the embedded SQLite file and a PostgreSQL server."""

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty database of each backend (the test id says which)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nover_ui.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For the few tests of SQLite's own settings, which PostgreSQL does not have."""
    return f"sqlite:///{tmp_path / 'nover_ui.db'}"
