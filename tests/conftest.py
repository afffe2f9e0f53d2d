from pathlib import Path

import pytest

from storage import Store

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
def artifacts() -> Path:
    """Where tests leave files worth looking at (screenshots); git-ignored."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
