"""The app's background duties: keep the worker processes running, and fail runs whose worker died."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from storage import StorageError, Store

STALE_CHECK_INTERVAL_S = 15.0
FIRST_RESTART_DELAY_S = 5.0
RESTART_DELAY_FACTOR = 3.0
MAX_RESTART_DELAY_S = 300.0
HEALTHY_AFTER_S = 600.0
"""A worker that ran this long before exiting was healthy: its replacement starts after the first delay again."""


def restart_delay(previous_s: float | None, lived_s: float) -> float:
    """Seconds before restarting a worker that exited after `lived_s`, given the delay before its own start
    (None for a first start): 5 s, then 15, 45, 135, 300 s while workers keep dying within 10 minutes. A worker
    that cannot start (its database unwritable, a broken install) then costs a few restarts an hour, not a loop."""
    if previous_s is None or lived_s >= HEALTHY_AFTER_S:
        return FIRST_RESTART_DELAY_S
    return min(previous_s * RESTART_DELAY_FACTOR, MAX_RESTART_DELAY_S)


class WorkerSupervisor:
    """Keeps `count` copies of a command running: restarts one that dies, stops them all on exit."""

    def __init__(
        self, command: list[str], count: int, check_interval_s: float = 1.0, env: Mapping[str, str] | None = None
    ):
        """`env`: the workers' environment (None: this process's), which carries what must stay out of their
        command line, visible to every user of the machine (the alert webhook's URL holds its secret)."""
        self._command, self._count, self._env = command, count, env
        self._check_interval_s = check_interval_s
        self._procs: list[subprocess.Popen[bytes]] = []
        self._started_at: list[float] = []
        self._backoff_s: list[float | None] = []
        self._restart_at: list[float | None] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self.restarts = 0

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [proc.pid for proc in self._procs]

    def start(self) -> None:
        with self._lock:
            for _ in range(self._count):
                self._procs.append(self._spawn())
                self._started_at.append(time.monotonic())
                self._backoff_s.append(None)
                self._restart_at.append(None)
        if self._count:
            self._thread.start()

    def stop(self, grace_s: float = 30.0) -> None:
        """Ask every worker to finish its current step (SIGTERM), then kill what is left after grace_s."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + grace_s
            for proc in self._procs:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A new session: Ctrl+C in the terminal reaches only the app, which then stops the workers in order.
        return subprocess.Popen(self._command, start_new_session=True, env=self._env)

    def _watch(self) -> None:
        while not self._stopping.wait(self._check_interval_s):
            with self._lock:
                for slot, proc in enumerate(self._procs):
                    if proc.poll() is None:
                        continue
                    now = time.monotonic()
                    if self._restart_at[slot] is None:
                        delay = restart_delay(self._backoff_s[slot], now - self._started_at[slot])
                        self._backoff_s[slot] = delay
                        self._restart_at[slot] = now + delay
                        print(
                            f"nover_ui: worker {proc.pid} exited with code {proc.returncode}; restarting it "
                            f"in {delay:.0f} s",
                            file=sys.stderr,
                        )
                    if now >= self._restart_at[slot]:
                        self._procs[slot] = self._spawn()
                        self._started_at[slot] = now
                        self._restart_at[slot] = None
                        self.restarts += 1


def watch_stale_runs(store: Store, timeout_s: float, stop: threading.Event, resume: bool = False) -> None:
    """Fail runs and evaluation jobs whose worker died (no heartbeat), also when no worker is left to notice."""
    while not stop.wait(STALE_CHECK_INTERVAL_S):
        try:
            for run_id in store.fail_stale_runs(timeout_s, resume=resume):
                print(f"nover_ui: run {run_id} failed: {store.get_run(run_id).error}", file=sys.stderr)
            for job_id in store.fail_stale_evaluations(timeout_s):
                print(f"nover_ui: evaluation job {job_id} failed: its worker stopped responding", file=sys.stderr)
        except StorageError as exc:
            print(f"nover_ui: stale-run check failed: {exc}", file=sys.stderr)
