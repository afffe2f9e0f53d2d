"""The terminal commands as a person runs them, as subprocesses against a SQLite file: queue a run for the workers
(python -m training.run --queue), list the runs and follow one (python -m nover_ui.cli)."""

import re
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers import step_rows
from training.config import PRESETS, RunConfig

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S, check=False
    )


def test_queue_puts_a_checked_run_on_the_worker_queue_and_refuses_a_bad_config(store, db_url):
    queued = run(
        "training.run", "--queue", "--db", db_url, "--preset", "cpu-demo", "--set", "max_steps=3", "--name", "q"
    )
    assert queued.returncode == 0, queued.stderr
    (listed,) = store.list_runs()
    assert (int(queued.stdout), listed.name, listed.status, listed.config["max_steps"]) == (listed.id, "q", "queued", 3)
    # The preset with the --set over it, every field filled in, as the dashboard stores a config.
    assert listed.config == RunConfig.from_dict({**PRESETS["cpu-demo"], "max_steps": 3}).to_dict()

    bad = run("training.run", "--queue", "--db", db_url, "--set", "num_generations=1")
    assert bad.returncode != 0 and "num_generations must be >= 2" in bad.stderr
    missing = run("training.run", "--queue", "--db", db_url, "--set", "dataset=/no/such/file.csv")
    assert missing.returncode == 2 and "data file not found: /no/such/file.csv" in missing.stderr
    assert len(store.list_runs()) == 1


def test_runs_lists_every_run_with_its_progress_and_reward(store, db_url):
    done = store.start_run(store.create_run("finished one", {"max_steps": 2}).id, "w")
    store.log_step(done.id, 1, metrics={"reward": 0.25}, rollouts=step_rows(1, 2), heartbeat=True)
    store.log_step(done.id, 2, metrics={"reward": 1.5}, rollouts=step_rows(1, 2), heartbeat=True)
    store.finish_run(done.id, "succeeded")
    waiting = store.create_run("waiting\x1b[31m red", {"max_steps": 8})
    listed = run("nover_ui.cli", "--db", db_url, "runs")
    assert listed.returncode == 0, listed.stderr
    header, *rows = [re.split(r"\s{2,}", line.strip()) for line in listed.stdout.splitlines()]
    assert header == ["id", "name", "status", "step", "reward"]
    assert rows == [
        [str(waiting.id), "waiting [31m red", "queued", "0/8", "–"],  # no escape sequence reaches the terminal
        [str(done.id), "finished one", "succeeded", "2/2", "1.500"],
    ]


def follow(db_url: str, run_id: int) -> subprocess.Popen:
    """`follow` started, returned once it printed that it follows the run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nover_ui.cli", "--db", db_url, "follow", str(run_id), "--every", "0.2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = _line_within(process, DEADLINE_S)
    assert first.startswith(f"following run {run_id}"), first + process.stderr.read()
    return process


def test_follow_ends_with_the_run_and_its_status(store, db_url):
    run_id = store.start_run(store.create_run("followed", {"max_steps": 2}).id, "w").id
    process = follow(db_url, run_id)
    store.log_step(run_id, 1, metrics={"reward": 0.5, "loss": 0.1}, rollouts=step_rows(1, 2), heartbeat=True)
    store.log_step(run_id, 2, metrics={"reward": 1.0, "loss": 0.05}, rollouts=step_rows(1, 2), heartbeat=True)
    store.finish_run(run_id, "succeeded")
    out, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0 and out.splitlines()[-1] == f"run {run_id} succeeded", err
    assert "2/2" in err and "reward=1" in err  # the bar's last state: every step, the latest reward

    failing = store.start_run(store.create_run("failing", {"max_steps": 2}).id, "w").id
    process = follow(db_url, failing)
    store.finish_run(failing, "failed", "out of memory")
    out, _ = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 1 and out.splitlines()[-1] == f"run {failing} failed: out of memory"
    unknown = run("nover_ui.cli", "--db", db_url, "follow", "999")
    assert unknown.returncode == 2 and "run 999 does not exist" in unknown.stderr


def _line_within(process: subprocess.Popen, timeout_s: float) -> str:
    """The process's next stdout line, read on a thread so a silent process fails the test at the deadline."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not line:
        process.kill()
        raise AssertionError(f"no line from {process.args} within {timeout_s} s")
    return line[0].rstrip("\n")
