"""A worker whose HOME turns read-only mid-run (chattr +i: the database file and the run's folder with it) fails
the run once with the real error, and no process dies of SIGBUS from SQLite's memory-mapped WAL index."""

import os
import subprocess
import threading

import pytest

from storage import StorageError, Store
from tests.helpers import rollout_row, wait_for
from training import execute
from training.config import RunConfig, preset


def immutable(path, on: bool) -> None:
    result = subprocess.run(["chattr", "-R", "+i" if on else "-i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"chattr is needed here (root on ext4): {result.stderr}")
        pytest.skip(f"chattr does not work here: {result.stderr.strip()}")


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    yield home
    subprocess.run(["chattr", "-R", "-i", str(home)], capture_output=True)  # never leave what pytest cannot remove


def test_a_run_fails_once_with_the_real_error_when_home_turns_read_only(home, capfd, monkeypatch):
    monkeypatch.setattr(execute, "RECORD_RETRY_S", 0.05)
    store = Store(f"sqlite:///{home / 'nover_ui.db'}")
    run = store.create_run("r", preset("cpu-demo", max_steps=5).to_dict())
    claimed = store.claim_next_run("w")

    def trainer(config, sink, context):
        context.workdir.mkdir(parents=True)
        for step in range(1, config.max_steps + 1):
            sink.log_rollouts(step, [rollout_row()])
            sink.log_metrics(step, {"reward": 1.0})
            if step == 2:
                immutable(home, True)  # as an operator (or a failing disk) would, between two steps
            (context.workdir / f"checkpoint-{step}").mkdir()  # what TRL's save does first

    ended = {}
    thread = threading.Thread(
        target=lambda: ended.update(
            run=execute.run_training(
                store, claimed, RunConfig.from_dict(claimed.config), trainer, home, heartbeat_interval_s=3600
            )
        )
    )
    thread.start()
    seen = []
    try:
        wait_for(
            lambda: seen.append(capfd.readouterr().err) or "cannot record how run" in "".join(seen),
            30,
            "the worker to wait for a writable database",
        )
        with pytest.raises(StorageError, match="is not writable"):  # reads fail cleanly too, no SIGBUS
            store.get_run(run.id)
    finally:
        immutable(home, False)
    thread.join(timeout=60)
    done = store.get_run(run.id)
    assert ended["run"] == done and done.status == "failed" and done.step == 2
    assert done.error.startswith(
        f"cannot write {home / 'runs' / str(run.id) / 'checkpoint-2'}: Operation not permitted (PermissionError)"
    )
    store.close()
