"""The real app as a child process (tests/app_entry.py: its workers train with the stand-in trainer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from gradio_client import Client

from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


class AppProcess:
    """`python app.py --home HOME --port FREE ARGS` whose workers' steps take step_s; output in HOME/app.log.
    `entry` is the module that runs it (a benchmark's may wrap the app to measure it)."""

    def __init__(
        self,
        home: Path,
        *args: str,
        step_s: float = 0.05,
        env: dict[str, str] | None = None,
        entry: str = "tests.app_entry",
    ):
        self.home, self.args, self.port, self.entry = home, args, free_port(), entry
        self.env = {**os.environ, "NOVER_TEST_STEP_SECONDS": str(step_s), **(env or {})}
        self.log = home / "app.log"
        self.db_url = f"sqlite:///{home / 'nover_ui.db'}"
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Client:
        """Start (or restart, same port) and wait until a gradio_client connects."""
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.entry,
                    "--port",
                    str(self.port),
                    "--home",
                    str(self.home),
                    *self.args,
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return wait_for(self.client, 120, "the app to serve")

    def client(self) -> Client | None:
        try:
            return Client(self.url, verbose=False)
        except Exception:  # noqa: BLE001 - not serving yet; any connection error looks alike
            assert self.proc.poll() is None, f"the app exited:\n{self.log.read_text()}"
            return None

    def queue_endless_run(self, client: Client, store: Any, steps: int, checkpoint_steps: int = 0) -> dict:
        """Queue a run through the API that trains until stopped, and wait until `steps` steps are committed."""
        run = client.predict(
            config={"max_steps": 100_000, "checkpoint_steps": checkpoint_steps}, name="endless", api_name="/queue_run"
        )
        wait_for(lambda: (store.latest_step(run["id"]) or 0) >= steps, 60, f"{steps} committed steps")
        return run

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """Ctrl+C: the app stops its workers (each ends its current step) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (an orphan adopted by a non-reaping init)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def worker_pid(worker_id: str) -> int:
    """The pid in a run's worker_id (host:pid, the default a worker gives itself)."""
    return int(worker_id.rsplit(":", 1)[1])
