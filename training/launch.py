"""Running one run in several processes: the `accelerate launch` command a worker starts, and its supervision.

The worker (training/worker.py) claims the run; the executor (training/execute.py) records `run_command(config)`
on it and calls `launch` with `launch_argv(...)`: the recorded command plus the flags that point the processes
at the claimed run (and, for a run over several machines, this machine's place: training/machines.py). Rank 0 of
the launched processes writes the run's rows and ends it; `launch` only waits, relays a shutdown, stops the
processes when told to, and reports.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from training.commands import DB_ENV, run_command
from training.config import RunConfig

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The command's config file path is relative to it."""
LOG_TAIL_LINES = 40
KILL_AFTER_S = 5.0
"""How long processes told to stop (SIGTERM) get before they are killed, when their run cannot go on."""


@dataclass(frozen=True)
class LaunchOutcome:
    returncode: int
    interrupted: bool
    """The launcher was asked to stop (the worker shutting down) before it ended."""
    log_tail: str
    """The last lines of the processes' output, for the run's error when none of them ended the run."""
    stopped_for: str | None = None
    """Why `watch` stopped the processes, when it did."""


@dataclass(frozen=True)
class MachinePlace:
    """Where one machine stands in a run over several: its rank and machine rank 0's address and port."""

    rank: int
    main_address: str
    main_port: int


def launch_argv(
    config: RunConfig,
    run_id: int,
    home: Path,
    resume_from: Path | None = None,
    resume_interrupted: bool = False,
    machine: MachinePlace | None = None,
    artifacts_url: str | None = None,
) -> list[str]:
    """The recorded command of a claimed run, run with this Python, plus the flags naming the run to train, on
    several machines this machine's place among them and, with an artifact store, its URL. Neither the database URL
    nor the store's credentials are among them: they may hold a password, which `ps` would show to every user of the
    machine; `launch_env` passes the database URL, and the processes inherit the store's credentials."""
    # comments=True: an uploaded file's command ends with a "# data: <file name>" comment, as a shell reads it.
    words = shlex.split(run_command(config, resume_from), comments=True)
    assert words[:2] == ["accelerate", "launch"], f"run {run_id} is not a several-process run: {words[:3]}"
    at = words.index("--config_file") + 1
    words[at] = str(PROJECT_DIR / words[at])
    if machine is not None:
        # accelerate's flags go before `-m`; they override the config file's values (training/accelerate/*.yaml).
        words[words.index("-m") : words.index("-m")] = [
            "--machine_rank",
            str(machine.rank),
            "--main_process_ip",
            machine.main_address,
            "--main_process_port",
            str(machine.main_port),
        ]
    # `python -m accelerate.commands.launch` is `accelerate launch` without relying on PATH holding the venv.
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *words[2:],
        "--run-id",
        str(run_id),
        "--home",
        str(home),
        "--interrupted",
        "resume" if resume_interrupted else "fail",
        *(["--artifacts", artifacts_url] if artifacts_url else []),
    ]


def launch_env(db_url: str) -> dict[str, str]:
    """The environment the launched processes find the database in (training/commands.py DB_ENV), added to this
    process's own."""
    return {DB_ENV: db_url}


def launch(
    argv: list[str],
    log_path: Path,
    shutdown: threading.Event,
    poll_s: float = 1.0,
    env: Mapping[str, str] | None = None,
    watch: Callable[[], str | None] | None = None,
    kill_after_s: float = KILL_AFTER_S,
) -> LaunchOutcome:
    """Run `argv` in its own process group with its output in `log_path`, until it exits. It runs in this
    process's folder, so a relative database path means the same file to it, and imports this project; `env`
    (launch_env) is added to this process's environment.

    When `shutdown` is set, SIGTERM goes to the launcher's group once; torchrun passes it on to every process
    and kills those still running 30 s later. When `watch` (asked at every poll) gives a reason to stop (a machine
    of the run missing or gone), the group gets SIGTERM and, `kill_after_s` later, SIGKILL: processes waiting for
    a machine that will never answer would otherwise wait out torch's distributed timeouts (many minutes). If
    this thread is interrupted (a second signal to the worker), the launcher is killed; the processes then notice
    it is gone and stop after their step.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))
    with open(log_path, "wb") as log:  # a file, not a pipe: nobody would read a pipe while waiting
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {}), "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
        )
    interrupted = False
    stopped_for: str | None = None
    kill_at = None
    launched: list[psutil.Process] = []
    try:
        while True:
            try:
                returncode = process.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                if shutdown.is_set() and not interrupted:
                    _signal_group(process.pid, signal.SIGTERM)
                    interrupted = True
                if stopped_for is None and watch is not None and (stopped_for := watch()) is not None:
                    # torchrun starts each process in a session of its own: a signal to the launcher's group
                    # reaches only torchrun, so the processes are listed now, while they are still its children.
                    launched = _descendants(process.pid)
                    _signal_group(process.pid, signal.SIGTERM)
                    kill_at = time.monotonic() + kill_after_s
                if kill_at is not None and time.monotonic() >= kill_at:
                    _kill([*launched, *_descendants(process.pid)])
                    _signal_group(process.pid, signal.SIGKILL)
                    kill_at = None
    except BaseException:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if stopped_for is not None:
        _kill(launched)  # none of its processes outlives the launcher, whatever torchrun managed
    return LaunchOutcome(returncode, interrupted, tail(log_path, LOG_TAIL_LINES), stopped_for)


def _descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):  # gone already (psutil checks that the pid was not reused)
            process.kill()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has gone already
        os.killpg(pid, signum)


def tail(path: Path, lines: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return "".join(deque(file, maxlen=lines)).rstrip()
