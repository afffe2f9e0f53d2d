"""The vLLM server of a run in server mode: `trl vllm-serve` started by the worker on the GPUs the run names, waited
for until it answers, stopped when the run ends however it ends; the last lines of its output stay with the run.

Standard library only: the worker imports it before any training stack, and nothing here imports vllm (the server
is a process of its own). training/execute.py wires it around a run.
"""

from __future__ import annotations

import collections
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from training.config import RunConfig
from training.interface import RunContext, Sink, TrainFn

HEALTH_PATH = "/health"
"""What vLLM's server answers with 200 once it serves; TRL's VLLMClient.check_server polls the same path."""
LOG_LINES = 40
LINE_CHARS = 300
"""The last LOG_LINES lines of the server's output are kept, each cut to LINE_CHARS characters: enough to see why
it failed (a CUDA out-of-memory error, a model it cannot load), small enough to list with the runs."""
POLL_S = 0.25
"""How often the worker asks a starting server whether it answers: a health check costs next to nothing."""
STOP_GRACE_S = 30.0
"""How long a server may take to stop on SIGTERM (vLLM frees its GPU memory then) before it is killed."""


class ServerFailed(Exception):
    """The server exited, or did not answer in time, before the run could use it."""


def starts_server(config: RunConfig) -> bool:
    """True when the worker starts a server for `config`; with no GPUs named, the run uses one already running."""
    return config.generation == "vllm" and config.vllm_mode == "server" and bool(server_gpus(config))


def server_gpus(config: RunConfig) -> list[int]:
    """The GPU numbers of vllm_server_gpus ('1,2' -> [1, 2]; RunConfig has checked them)."""
    return [int(gpu) for gpu in config.vllm_server_gpus.split(",") if gpu.strip()]


def serve_argv(config: RunConfig, model: str, python: str = sys.executable) -> list[str]:
    """`trl vllm-serve` for `model` (a folder or hub id vLLM can load), one tensor-parallel rank per server GPU.

    >>> " ".join(serve_argv(RunConfig(vllm_server_gpus="1,2", vllm_server_port=8001), "/m", "python"))
    'python -m trl.cli.main vllm-serve --model /m --host 127.0.0.1 --port 8001 --tensor_parallel_size 2'
    """
    return [
        python,
        "-m",
        "trl.cli.main",  # the `trl` command, run by this interpreter so no PATH lookup picks another environment
        "vllm-serve",
        "--model",
        model,
        "--host",
        config.vllm_server_host,
        "--port",
        str(config.vllm_server_port),
        "--tensor_parallel_size",
        str(len(server_gpus(config))),
    ]


def serve_model(config: RunConfig, home: Path) -> list[str]:
    """serve_argv for the run's model as this machine loads it (the default model's converted folder under home)."""
    from training.model import resolve_model  # the model stack, once a run needs its model's folder

    return serve_argv(config, resolve_model(config.model, home))


def with_own_server(train_fn: TrainFn, argv: Callable[[RunConfig, Path], list[str]] = serve_model) -> TrainFn:
    """`train_fn` with the run's vLLM server started around it, for a run started from the command line (a worker
    starts its runs' servers itself, training/execute.py, and keeps their lines with the run)."""

    def train(config: RunConfig, sink: Sink, context: RunContext) -> None:
        server = GenerationServer(argv(config, context.home), server_env(config, os.environ), health_url(config))
        try:
            try:
                ready = server.wait_ready(config.vllm_server_timeout, sink.should_stop)
            except ServerFailed as exc:
                raise ServerFailed(f"{exc}; the end of its output:\n\n{server.stop()}") from None
            if ready:
                train_fn(config, sink, context)
        finally:
            print(f"vLLM server, its last lines:\n{server.stop()}", file=sys.stderr)

    return train


def server_env(config: RunConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment with CUDA_VISIBLE_DEVICES naming the server's GPUs. The run's numbers count the GPUs
    the worker sees, so a worker limited to some GPUs maps them onto its own list.

    >>> server_env(RunConfig(vllm_server_gpus="1"), {"CUDA_VISIBLE_DEVICES": "4,5"})["CUDA_VISIBLE_DEVICES"]
    '5'
    >>> server_env(RunConfig(vllm_server_gpus="1,2"), {})["CUDA_VISIBLE_DEVICES"]
    '1,2'
    """
    gpus = server_gpus(config)
    visible = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if visible and max(gpus) >= len(visible):
        raise ServerFailed(
            f"vllm_server_gpus {config.vllm_server_gpus!r} names GPU {max(gpus)}, but this worker sees only "
            f"{len(visible)} (CUDA_VISIBLE_DEVICES={','.join(visible)}); name GPUs below {len(visible)}"
        )
    devices = [visible[gpu] for gpu in gpus] if visible else [str(gpu) for gpu in gpus]
    return {**environ, "CUDA_VISIBLE_DEVICES": ",".join(devices)}


def health_url(config: RunConfig) -> str:
    return f"http://{config.vllm_server_host}:{config.vllm_server_port}{HEALTH_PATH}"


class GenerationServer:
    """One server process: started at construction, its output read into a ring of its last lines."""

    def __init__(self, argv: list[str], env: Mapping[str, str], url: str):
        self.url = url
        self._lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        # A session of its own: vLLM starts engine and tensor-parallel processes, and stopping the whole group
        # frees every GPU the server held, even when the first process has to be killed.
        self._process = subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="vllm-server-output", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout_s: float, should_stop: Callable[[], bool]) -> bool:
        """Wait until the server answers its health check: True then, False when `should_stop` says the run was
        cancelled or the worker shut down first. ServerFailed when it exits or stays silent for timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._answers():
                return True
            if should_stop():
                return False
            try:
                code = self._process.wait(timeout=min(POLL_S, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise ServerFailed(
                        f"the vLLM server did not answer {self.url} within {timeout_s:g} s; raise "
                        f"vllm_server_timeout when a large model needs longer to load"
                    ) from None
            else:
                raise ServerFailed(f"the vLLM server exited with code {code} before it answered {self.url}")

    def stop(self, grace_s: float = STOP_GRACE_S) -> str:
        """Stop the server (SIGTERM to its process group, SIGKILL after grace_s) and return its last lines."""
        if self._process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._process.wait()
        self._reader.join(timeout=grace_s)  # its pipe closes when the last process of the group is gone
        return self.log_tail()

    def log_tail(self) -> str:
        return "\n".join(self._lines)

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self._process.pid, signum)
        except ProcessLookupError:
            pass  # exited meanwhile

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=POLL_S) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):  # not listening yet, or not ready (urllib's errors are OSErrors)
            return False

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.append(line.rstrip("\n")[:LINE_CHARS])
