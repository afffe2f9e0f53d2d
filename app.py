"""Start nover_ui: open the database, start the training worker process(es), serve the dashboard.

    python app.py [--host 127.0.0.1] [--port 7860] [--home ./.nover_ui] [--db URL] [--workers 1] [--share]
                  [--root-path /prefix] [--read-only]

Every flag has an environment variable (NOVER_UI_HOST, NOVER_UI_PORT, NOVER_UI_HOME, NOVER_UI_DB,
NOVER_UI_WORKERS, NOVER_UI_ROOT_PATH, NOVER_UI_READ_ONLY); a flag wins over its variable.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home; must precede the gradio import

from nover_ui.app import APP_CSS, APP_JS, build_app  # noqa: E402
from nover_ui.uploads import UPLOAD_LIMIT_BYTES  # noqa: E402
from storage import StorageError, Store  # noqa: E402

STALE_CHECK_INTERVAL_S = 15.0
HEARTBEAT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    home: Path
    db: str
    workers: int
    share: bool
    root_path: str
    heartbeat_timeout_s: float
    read_only: bool


def parse_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> Settings:
    parser = argparse.ArgumentParser(prog="python app.py", description="nover_ui: a dashboard for NOVER runs.")
    parser.add_argument("--host", default=env.get("NOVER_UI_HOST", "127.0.0.1"),
                        help="address to listen on; 0.0.0.0 for every interface (env NOVER_UI_HOST)")
    parser.add_argument("--port", type=int, default=int(env.get("NOVER_UI_PORT", "7860")),
                        help="port of the dashboard (env NOVER_UI_PORT, default 7860)")
    parser.add_argument("--home", type=Path, default=Path(env.get("NOVER_UI_HOME", ".nover_ui")),
                        help="data directory: database, models, checkpoints (env NOVER_UI_HOME, default ./.nover_ui)")
    parser.add_argument("--db", default=env.get("NOVER_UI_DB"),
                        help="database URL (env NOVER_UI_DB); default sqlite:///HOME/nover_ui.db")
    parser.add_argument("--workers", type=int, default=int(env.get("NOVER_UI_WORKERS", "1")),
                        help="training worker processes to start; 0 serves the UI only (env NOVER_UI_WORKERS)")
    parser.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    parser.add_argument("--root-path", default=env.get("NOVER_UI_ROOT_PATH", ""),
                        help="URL prefix when served behind a reverse proxy (env NOVER_UI_ROOT_PATH)")
    parser.add_argument("--read-only", action="store_true",
                        default=env.get("NOVER_UI_READ_ONLY", "").lower() in ("1", "true", "yes"),
                        help="show runs but refuse to queue, cancel, resume or delete any (env NOVER_UI_READ_ONLY)")
    parser.add_argument("--heartbeat-timeout", type=float, default=HEARTBEAT_TIMEOUT_S,
                        help="seconds without a heartbeat after which a running run is marked failed")
    args = parser.parse_args(argv)
    if args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    home = args.home.expanduser().resolve()
    return Settings(host=args.host, port=args.port, home=home, db=args.db or f"sqlite:///{home / 'nover_ui.db'}",
                    workers=args.workers, share=args.share, root_path=args.root_path,
                    heartbeat_timeout_s=args.heartbeat_timeout, read_only=args.read_only)


def worker_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "training.worker", "--db", settings.db, "--home", str(settings.home),
            "--heartbeat-timeout", str(settings.heartbeat_timeout_s), "--parent-pid", str(os.getpid())]


class WorkerSupervisor:
    """Keeps `count` copies of a command running: restarts one that dies, stops them all on exit."""

    def __init__(self, command: list[str], count: int, check_interval_s: float = 1.0, max_backoff_s: float = 60.0):
        self._command, self._count = command, count
        self._check_interval_s, self._max_backoff_s = check_interval_s, max_backoff_s
        self._procs: list[subprocess.Popen[bytes]] = []
        self._started_at: list[float] = []
        self._backoff_s: list[float] = []
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
                self._backoff_s.append(1.0)
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
        return subprocess.Popen(self._command, start_new_session=True)

    def _watch(self) -> None:
        while not self._stopping.wait(self._check_interval_s):
            with self._lock:
                for slot, proc in enumerate(self._procs):
                    if proc.poll() is None:
                        continue
                    now = time.monotonic()
                    if self._restart_at[slot] is None:
                        # A worker that keeps crashing right after start waits longer each time.
                        lived_s = now - self._started_at[slot]
                        self._backoff_s[slot] = 1.0 if lived_s > 60 else min(2 * self._backoff_s[slot],
                                                                             self._max_backoff_s)
                        self._restart_at[slot] = now + self._backoff_s[slot]
                        print(f"nover_ui: worker {proc.pid} exited with code {proc.returncode}; restarting it "
                              f"in {self._backoff_s[slot]:.0f} s", file=sys.stderr)
                    if now >= self._restart_at[slot]:
                        self._procs[slot] = self._spawn()
                        self._started_at[slot] = now
                        self._restart_at[slot] = None
                        self.restarts += 1


def watch_stale_runs(store: Store, timeout_s: float, stop: threading.Event) -> None:
    """Fail runs and evaluation jobs whose worker died (no heartbeat), also when no worker is left to notice."""
    while not stop.wait(STALE_CHECK_INTERVAL_S):
        try:
            for run_id in store.fail_stale_runs(timeout_s):
                print(f"nover_ui: run {run_id} failed: its worker stopped responding", file=sys.stderr)
            for job_id in store.fail_stale_evaluations(timeout_s):
                print(f"nover_ui: evaluation job {job_id} failed: its worker stopped responding", file=sys.stderr)
        except StorageError as exc:
            print(f"nover_ui: stale-run check failed: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        store = Store(settings.db)
    except StorageError as exc:
        print(f"nover_ui: {exc}", file=sys.stderr)
        return 2
    supervisor = WorkerSupervisor(worker_command(settings), settings.workers)
    stop = threading.Event()
    threading.Thread(target=watch_stale_runs, args=(store, settings.heartbeat_timeout_s, stop), daemon=True).start()
    supervisor.start()
    try:
        app = build_app(store, settings.home, settings.read_only)
        # Start-up objects (gradio, plotly, pandas) live as long as the process: keeping them out of every
        # garbage collection makes reading 10^5 metric points about twice as fast (bench/bench_dashboard.py).
        gc.freeze()
        app.launch(server_name=settings.host, server_port=settings.port, share=settings.share,
                   root_path=settings.root_path or None, css=APP_CSS, js=APP_JS,
                   max_file_size=UPLOAD_LIMIT_BYTES)
    except KeyboardInterrupt:
        pass  # Ctrl+C while the server was still starting
    except OSError as exc:
        print(f"nover_ui: cannot serve on {settings.host}:{settings.port} ({exc}); pass another --port",
              file=sys.stderr)
        return 2
    finally:
        stop.set()
        supervisor.stop()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
