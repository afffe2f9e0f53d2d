"""Browser-free readers of a running dashboard: poll its read endpoints and check what each poll saw; and a
Store that counts its reads, to check that readers share them.

One poll is what a script watching a run does: /list_runs, /get_metrics and /get_rollouts (latest step) of
that run. Used by tests/test_reliability.py, tests/nover_ui/test_api.py and
bench/bench_concurrent_readers.py.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from gradio_client import Client

from storage import Store

ROWS_PER_STEP = 16
"""What the stand-in trainer (tests.helpers.stepping_trainer) writes per step: 2 groups of 8."""


@dataclass
class ReaderLog:
    latencies_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Inconsistent reads and errors, each one line."""
    last_steps: list[int] = field(default_factory=list)
    """The highest metric step each poll saw."""


def poll(client: Client, run_id: int, log: ReaderLog) -> None:
    started = time.perf_counter()
    try:
        runs = client.predict(api_name="/list_runs")
        metrics = client.predict(run_id=run_id, keys=None, api_name="/get_metrics")
        rollouts = client.predict(run_id=run_id, step=None, api_name="/get_rollouts")
    except Exception as exc:  # noqa: BLE001 - any error is a finding, reported with the others
        log.problems.append(f"{type(exc).__name__}: {exc}")
        return
    log.latencies_s.append(time.perf_counter() - started)
    log.problems.extend(inconsistencies(runs, metrics, rollouts, run_id, log.last_steps[-1:]))
    log.last_steps.append(max(metrics["reward"]["steps"], default=0) if "reward" in metrics else 0)


def inconsistencies(
    runs: list[dict], metrics: dict, rollouts: list[dict], run_id: int, previous_step: list[int]
) -> list[str]:
    """What a reader saw that committed whole steps cannot produce."""
    found = []
    if run_id not in [run["id"] for run in runs]:
        found.append(f"run {run_id} missing from /list_runs")
    step_lists = {key: series["steps"] for key, series in metrics.items()}
    steps = step_lists.get("reward", [])
    if steps != list(range(1, len(steps) + 1)):
        found.append(f"reward steps not contiguous from 1: {steps[:3]}...{steps[-3:]}")
    if any(other != steps for other in step_lists.values()):
        found.append("metric keys disagree on their steps (a half-written step)")
    if previous_step and steps and steps[-1] < previous_step[0]:
        found.append(f"steps went back from {previous_step[0]} to {steps[-1]}")
    if steps:  # rollouts are read after metrics, so their latest step is at least the metrics' latest
        rollout_steps = {row["step"] for row in rollouts}
        if len(rollouts) != ROWS_PER_STEP or len(rollout_steps) != 1 or min(rollout_steps) < steps[-1]:
            found.append(
                f"latest rollouts: {len(rollouts)} rows of steps {sorted(rollout_steps)} after metric step {steps[-1]}"
            )
    return found


def read_concurrently(url: str, run_id: int, readers: int, polls: int, interval_s: float = 0.0) -> list[ReaderLog]:
    """`readers` threads, each with its own Client, poll `polls` times at once (poll_together)."""
    clients = [Client(url, verbose=False) for _ in range(readers)]
    try:
        return poll_together(clients, run_id, polls, interval_s)
    finally:
        for client in clients:
            client.close()


def poll_together(clients: list[Client], run_id: int, polls: int, interval_s: float = 0.0) -> list[ReaderLog]:
    """One thread per client polls `polls` times, all starting at once: as fast as it can (interval_s 0), or one
    poll every `interval_s` as a dashboard page does, the readers' polls spread evenly over the interval."""
    logs = [ReaderLog() for _ in clients]
    barrier = threading.Barrier(len(clients))

    def read(index: int, client: Client, log: ReaderLog) -> None:
        barrier.wait()
        start = time.monotonic() + interval_s * index / len(clients)
        for n in range(polls):
            # A reader pacing itself like a page's timer: the next poll is due at its slot, or at once when late.
            time.sleep(max(0.0, start + n * interval_s - time.monotonic()))
            poll(client, run_id, log)

    threads = [threading.Thread(target=read, args=(i, *pair)) for i, pair in enumerate(zip(clients, logs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return logs


class CountingStore(Store):
    """A real Store that counts the reads the dashboard's polled pages and endpoints make, by method name."""

    def __init__(self, url: str):
        super().__init__(url)
        self.reads: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:
            self.reads[name] += 1

    def list_runs(self, *args: Any, **kwargs: Any) -> Any:
        self._count("list_runs")
        return super().list_runs(*args, **kwargs)

    def get_metrics(self, *args: Any, **kwargs: Any) -> Any:
        self._count("get_metrics")
        return super().get_metrics(*args, **kwargs)

    def get_metric_summary(self, *args: Any, **kwargs: Any) -> Any:
        self._count("get_metric_summary")
        return super().get_metric_summary(*args, **kwargs)

    def get_rollouts(self, *args: Any, **kwargs: Any) -> Any:
        self._count("get_rollouts")
        return super().get_rollouts(*args, **kwargs)

    def latest_metrics(self, *args: Any, **kwargs: Any) -> Any:
        self._count("latest_metrics")
        return super().latest_metrics(*args, **kwargs)
