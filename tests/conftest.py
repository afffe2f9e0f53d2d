import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Store
from tests.object_store import S3Server
from tests.postgres import INSTALL_HINT, PostgresServer, find_bin_dir

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


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
def s3_server():
    """One S3-compatible server (moto) on a loopback port for the session, started on first use; see s3_artifacts."""
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_artifacts(s3_server, monkeypatch) -> str:
    """The URL of an empty artifact store of its own (a bucket on the session's S3 server) for one test, with the
    server's endpoint and credentials in the environment, where the store and the processes a test starts read them."""
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3_server.new_bucket()}/nover"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave files worth looking at (screenshots); git-ignored."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def trained_home(artifacts) -> Path:
    """A data directory whose database holds the finished 2-step run of tests/trained_run.py, with its checkpoints
    and weight digests: one real training for the training tests and the browser tests. Kept under test-artifacts,
    named by a hash of the training and storage code and of the run's own module, so a change to any of them trains
    afresh while reruns do not. Read-only for the tests: one that writes copies it first."""
    sources = sorted((ROOT / "training").glob("*.py")) + sorted((ROOT / "storage").rglob("*.py"))
    sources.append(ROOT / "tests" / "trained_run.py")
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]
    home = artifacts / f"trained-home-{digest}"
    if (home / "done").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    models = artifacts / "model-home" / "models"  # the converted default model, shared with tests/training
    models.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(models, target_is_directory=True)
    trained = subprocess.run(
        [sys.executable, "-m", "tests.trained_run", str(home)], cwd=ROOT, capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stderr[-4000:]
    (home / "done").touch()
    return home


@pytest.fixture(scope="session")
def trl_output(artifacts) -> Path:
    """The output_dir of a real 2-step TRL GRPOTrainer run on the default model (tests/trl_run.py: conversational
    prompts, two reward functions, log_completions=True, a checkpoint at step 2), with the run's arguments as
    JSON beside it (`trl_output.parent / "training_args.json"`, which plain TRL does not write). Trained once in a
    process of its own and kept under test-artifacts, named by a hash of its module. Read-only: copy it to change it."""
    digest = hashlib.sha256((ROOT / "tests" / "trl_run.py").read_bytes()).hexdigest()[:12]
    home = artifacts / f"trl-run-{digest}"
    if (home / "done").exists():
        return home / "grpo-run"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    trained = subprocess.run(
        [sys.executable, "-m", "tests.trl_run", str(home / "grpo-run")], cwd=ROOT, capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stderr[-4000:]
    (home / "done").touch()
    return home / "grpo-run"
