"""The real default model, converted once per test session and shared by the training tests."""

from pathlib import Path

import pytest

MODEL_HOME = Path(__file__).resolve().parents[2] / "test-artifacts" / "model-home"


@pytest.fixture(scope="session")
def model_home() -> Path:
    """A data directory whose converted default model is reused across tests (and test sessions)."""
    MODEL_HOME.mkdir(parents=True, exist_ok=True)
    return MODEL_HOME


@pytest.fixture(scope="session")
def base_and_tokenizer(model_home):
    from training.config import preset
    from training.model import load_model

    return load_model(preset("cpu-demo"), model_home)


@pytest.fixture
def run_home(model_home, tmp_path) -> Path:
    """A data directory of the test's own that shares the converted default model: a run trained with it writes its
    checkpoints here, not into the shared model home, where another test's run of the same id would land."""
    home = tmp_path / "home"
    models = model_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    home.mkdir()
    (home / "models").symlink_to(models, target_is_directory=True)
    return home
