"""python -m nover_ui.cli as a person runs it, a subprocess against a SQLite file: list the runs, follow one
(tests/training/test_run.py queues one with python -m training.run --queue)."""

import re
import subprocess
import sys
import threading
from pathlib import Path

from nover_ui.cli import main
from tests.helpers import step_rows

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S, check=False
    )


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


def test_follow_ends_with_the_run_and_its_status(store, db_url, capsys):
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
    assert main(["--db", db_url, "follow", "999"]) == 2  # in this process: no third interpreter to start
    assert "run 999 does not exist" in capsys.readouterr().err


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
