"""Two real workers with HOME folders of their own and no shared disk, on the real default model: one artifact store
(a real S3-compatible server on a loopback port) and one database are all they share. Data uploaded elsewhere is
trained by worker A; the run resumed from A's checkpoint is claimed by worker B, which fetches it from the store; the
store's credentials reach neither the database, nor a run's command, nor a worker's log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import MetaData, create_engine, select

from storage import Status, Store
from tests.object_store import CREDENTIALS
from training.artifacts import ARTIFACTS_ENV, CACHE, Artifacts
from training.config import preset

ROOT = Path(__file__).resolve().parents[2]
CONFIG = preset(
    "cpu-demo",
    max_steps=1,
    checkpoint_steps=1,
    max_prompts=1,
    num_generations=2,
    max_completion_length=16,
    format_example=False,
)
"""The smallest run that trains a step and saves a checkpoint of it (adapter, proxy, optimizer): one prompt without
the worked example, 2 rollouts of at most 16 tokens."""
DATA = "prompt,reference\nWhat is 2 + 3?,5\nWhat colour is the sky on a clear day?,blue\n"


def machine(tmp_path: Path, name: str, model_home: Path) -> Path:
    """A HOME of its own sharing only the converted default model (read-only), as tests/conftest.py's trained_home."""
    home = tmp_path / name
    home.mkdir()
    (home / "models").symlink_to(model_home / "models", target_is_directory=True)
    return home


def worker(db_url: str, home: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """Run the real worker (real trainer) until it has run one queued run; its log (stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "training.worker", "--db", db_url, "--home", str(home), "--once", *flags],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout + done.stderr


def every_value(db_url: str) -> list[str]:
    """Every value of every row of every table of the database, as text."""
    engine = create_engine(db_url)
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return [
            str(value)
            for table in metadata.sorted_tables
            for row in connection.execute(select(table))
            for value in row
            if value is not None
        ]


def test_a_run_moves_between_machines_through_the_store_alone(db_url, s3_artifacts, model_home, tmp_path):
    store = Store(db_url)
    dashboard = tmp_path / "dashboard"
    (dashboard / "uploads").mkdir(parents=True)
    (dashboard / "uploads" / "9f.csv").write_text(DATA)
    data = Artifacts(s3_artifacts, dashboard).publish(dashboard / "uploads" / "9f.csv", "uploads/9f.csv")
    run = store.create_run("uploaded elsewhere", CONFIG.replace(dataset=data).to_dict())
    home_a, home_b = machine(tmp_path, "a", model_home), machine(tmp_path, "b", model_home)

    log_a = worker(db_url, home_a, "--artifacts", s3_artifacts)

    trained = store.get_run(run.id)
    assert trained.status == Status.SUCCEEDED, trained.error
    [checkpoint] = store.list_checkpoints(run.id)
    assert checkpoint.path == f"{s3_artifacts}/runs/{run.id}/checkpoint-1"
    resumed = store.create_run("resumed", {**trained.config, "max_steps": 2}, parent_id=run.id)

    log_b = worker(db_url, home_b, env={ARTIFACTS_ENV: s3_artifacts})  # the store's URL from the environment

    done = store.get_run(resumed.id)
    assert done.status == Status.SUCCEEDED, done.error
    assert store.get_metrics(resumed.id)["reward"].steps == (2,)  # continued from step 1, not from scratch
    assert [c.path for c in store.list_checkpoints(resumed.id)] == [f"{s3_artifacts}/runs/{resumed.id}/checkpoint-2"]
    # B held A's checkpoint and the upload only as fetched copies; A held the upload only so too.
    assert (home_b / CACHE / "runs" / str(run.id) / "checkpoint-1" / "optimizer.pt").is_file()
    assert (home_b / CACHE / "uploads" / "9f.csv").read_text() == DATA
    assert sorted(path.name for path in (home_b / "runs").iterdir()) == [str(resumed.id)]
    assert not (home_a / "uploads").exists() and not (home_b / "uploads").exists()
    assert (home_a / CACHE / "uploads" / "9f.csv").read_text() == DATA
    assert trained.config["dataset"] == data and done.command and data in done.command

    texts = every_value(db_url)
    for secret in CREDENTIALS.values():
        assert not any(secret in text for text in texts), "a credential in the database"
        assert secret not in (trained.command or "") + (done.command or "")
        assert secret not in log_a + log_b
    store.close()
