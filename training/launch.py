"""Running one run in several processes: the `accelerate launch` command a worker starts, and its supervision.

The worker (training/worker.py) claims the run; the executor (training/execute.py) records `run_command(config)`
on it and calls `launch` with `launch_argv(...)`: the recorded command plus the flags that point the processes
at the claimed run. Rank 0 of the launched processes writes the run's rows and ends it; `launch` only waits,
relays a shutdown and reports.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from training.commands import run_command
from training.config import RunConfig

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The command's config file path is relative to it."""
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class LaunchOutcome:
    returncode: int
    interrupted: bool
    """The launcher was asked to stop (the worker shutting down) before it ended."""
    log_tail: str
    """The last lines of the processes' output, for the run's error when none of them ended the run."""


def launch_argv(
    config: RunConfig,
    run_id: int,
    db_url: str,
    home: Path,
    resume_from: Path | None = None,
    resume_interrupted: bool = False,
    artifacts_url: str | None = None,
) -> list[str]:
    """The recorded command of a claimed run, run with this Python, plus the flags naming the run to train and, with
    an artifact store, its URL (the store's credentials stay in the environment the processes inherit)."""
    # comments=True: an uploaded file's command ends with a "# data: <file name>" comment, as a shell reads it.
    words = shlex.split(run_command(config, resume_from), comments=True)
    assert words[:2] == ["accelerate", "launch"], f"run {run_id} is not a several-process run: {words[:3]}"
    at = words.index("--config_file") + 1
    words[at] = str(PROJECT_DIR / words[at])
    # `python -m accelerate.commands.launch` is `accelerate launch` without relying on PATH holding the venv.
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *words[2:],
        "--run-id",
        str(run_id),
        "--db",
        db_url,
        "--home",
        str(home),
        "--interrupted",
        "resume" if resume_interrupted else "fail",
        *(["--artifacts", artifacts_url] if artifacts_url else []),
    ]


def launch(argv: list[str], log_path: Path, shutdown: threading.Event, poll_s: float = 1.0) -> LaunchOutcome:
    """Run `argv` in its own process group with its output in `log_path`, until it exits. It runs in this
    process's folder, so a relative database path means the same file to it, and imports this project.

    When `shutdown` is set, SIGTERM goes to the launcher's group once; torchrun passes it on to every process
    and kills those still running 30 s later. If this thread is interrupted (a second signal to the worker),
    the launcher is killed; the processes then notice it is gone and stop after their step.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))
    with open(log_path, "wb") as log:  # a file, not a pipe: nobody would read a pipe while waiting
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
        )
    interrupted = False
    try:
        while True:
            try:
                returncode = process.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                if shutdown.is_set() and not interrupted:
                    os.killpg(process.pid, signal.SIGTERM)
                    interrupted = True
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    return LaunchOutcome(returncode, interrupted, tail(log_path, LOG_TAIL_LINES))


def tail(path: Path, lines: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return "".join(deque(file, maxlen=lines)).rstrip()
