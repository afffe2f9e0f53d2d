"""The claim path at scale: many worker processes on one PostgreSQL database, the claims per second, every run and job
claimed exactly once, and the dashboard's reads while the workers write, side by side with the same reads idle.

    .venv/bin/python -m bench.bench_claims [--workers 32] [--runs 1000] [--jobs 50] [--steps 1]

Starts a throwaway PostgreSQL server as the tests do (tests/postgres.py), then --workers real worker processes
(bench/claims_worker_entry.py: training.worker's own command line with the stand-in trainer, 16 rollouts and 2
metrics per step, and a stand-in job function; no torch). Once every worker has registered, it queues --runs runs of
--steps steps and --jobs evaluation jobs in one transaction, so all workers meet the whole queue at once, and polls as
an open Runs tab does until every run and job has ended, then stops the workers with SIGTERM (as a scheduler does;
they exit 0). The polls: the cheap version read
(Store.runs_version, every poll) and the table's read (nover_ui/runs_table.py read_runs_data: runs list, latest
step times and rewards, live workers, alerts), which a page makes whenever the version changed, as it does at every
poll while workers write. The same reads are then repeated on the idle database, which by then holds more rows than
the busy one did on average, so the ratio errs against the busy side.

Prints the claims per second (from the first claim to the last, as stamped on the rows), the exactly-once check from
the workers' own logs (each claim prints one line), the distinct workers that claimed, and per read the median and
p95 latency busy and idle with their ratios.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from nover_ui.runs_table import read_runs_data
from storage import Status, Store
from storage.engine import make_engine
from storage.models import Evaluation, Run
from tests.helpers import wait_for
from tests.postgres import INSTALL_HINT, PostgresServer, find_bin_dir
from training.config import preset
from training.job_config import EvaluationJob

ROOT = Path(__file__).resolve().parent.parent
CLAIM_LINE = re.compile(r"worker (\S+): running (?:run (\d+) |evaluation job (\d+))")
"""What a worker prints when it has claimed a run or a job (training/worker.py); one line per claim."""


@dataclass
class ClaimsResult:
    queued: int
    claim_times: list[dt.datetime]
    """started_at of every run and job: stamped in the transaction that claimed it."""
    claims: collections.Counter[tuple[str, int]]
    """(kind, id) -> how many claim lines the workers printed for it; 1 for each, when every claim was exclusive."""
    claimers: collections.Counter[str]
    """Worker id -> claims it printed."""
    statuses: collections.Counter[str]
    exit_codes: list[int]
    busy: dict[str, list[float]] = field(default_factory=dict)
    idle: dict[str, list[float]] = field(default_factory=dict)

    @property
    def claims_per_s(self) -> float:
        span = (max(self.claim_times) - min(self.claim_times)).total_seconds()
        return (len(self.claim_times) - 1) / span if span > 0 else float("inf")

    def claimed_more_than_once(self) -> list[tuple[str, int]]:
        return [key for key, count in self.claims.items() if count != 1]


def queue_all(db_url: str, runs: int, jobs: int, steps: int) -> None:
    """Queue the runs and the jobs in one transaction: every worker sees the whole queue at once."""
    queued = dict(status=Status.QUEUED, created_at=dt.datetime.now(dt.UTC))
    run_config = preset("cpu-demo", max_steps=steps).to_dict()
    job_config = EvaluationJob(run_config=preset("cpu-demo"), split="test", max_prompts=1, samples=1, seed=0).to_dict()
    engine = make_engine(db_url)
    with Session(engine) as s, s.begin():
        s.execute(
            insert(Run),
            [dict(name=f"claim {i}", config=run_config, **queued) for i in range(runs)],
        )
        if jobs:
            s.execute(
                insert(Evaluation),
                [dict(kind="evaluation", model="m", dataset="d", config=job_config, **queued) for _ in range(jobs)],
            )
    engine.dispose()


def unfinished(db_url: str) -> int:
    """Runs and jobs not yet ended: one count each, on a connection of the bench's own."""
    engine = make_engine(db_url)
    with engine.connect() as connection:
        left = sum(
            connection.scalar(select(func.count()).where(table.status.in_([Status.QUEUED, Status.RUNNING]))) or 0
            for table in (Run, Evaluation)
        )
    engine.dispose()
    return left


def timed(reads: dict[str, Callable[[], object]], into: dict[str, list[float]]) -> None:
    for name, read in reads.items():
        start = time.perf_counter()
        read()
        into.setdefault(name, []).append(time.perf_counter() - start)


def run_claims(
    db_url: str,
    home: Path,
    workers: int,
    runs: int,
    jobs: int,
    steps: int = 1,
    poll_s: float = 0.5,
    idle_reads: int = 30,
) -> ClaimsResult:
    """The benchmark's core: start the workers, queue, read while they work, then read idle; see the module doc."""
    store = Store(db_url)  # migrates the database before the workers race to
    env = {**os.environ, "NOVER_UI_DB": db_url}  # as a deployment passes it: not on the workers' command lines
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.claims_worker_entry", "--home", str(home), "--worker-id", f"w{i}"]
            # --exit-when-idle: a safety net only (workers of a bench that crashed end by themselves); the workers
            # start one by one, seconds apart on a busy machine, and wait for the queue, so they are stopped below.
            + ["--exit-when-idle", "300", "--poll", str(poll_s)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(workers)
    ]
    reads = {"runs_version": store.runs_version, "runs table": lambda: read_runs_data(store)}
    result = ClaimsResult(runs + jobs, [], collections.Counter(), collections.Counter(), collections.Counter(), [])
    try:
        wait_for(lambda: len(store.live_workers(600)) == workers, 300, f"{workers} workers to register")
        queue_all(db_url, runs, jobs, steps)
        while True:  # poll as the Runs tab does, back to back: the workers write between any two polls
            timed(reads, result.busy)
            if not unfinished(db_url):
                break
        for process in processes:
            process.terminate()  # SIGTERM, as a scheduler stops a worker: it exits 0 after its current step
        outputs = [process.communicate(timeout=300)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    result.exit_codes = [process.returncode for process in processes]
    for _ in range(min(idle_reads, len(result.busy["runs_version"]))):
        timed(reads, result.idle)
    for output in outputs:
        for worker_id, run_id, job_id in CLAIM_LINE.findall(output):
            result.claims[("run", int(run_id)) if run_id else ("job", int(job_id))] += 1
            result.claimers[worker_id] += 1
    engine = make_engine(db_url)
    with Session(engine) as s:
        for table in (Run, Evaluation):
            for status, started_at in s.execute(select(table.status, table.started_at)):
                result.statuses[status] += 1
                if started_at is not None:
                    result.claim_times.append(started_at)
    engine.dispose()
    store.close()
    return result


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=50, help="evaluation jobs queued with the runs")
    parser.add_argument("--steps", type=int, default=1, help="steps of each run (16 rollouts each)")
    args = parser.parse_args()
    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.exit(f"PostgreSQL is missing (/usr/lib/postgresql/*/bin): {INSTALL_HINT}")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as home:
            started = time.perf_counter()
            result = run_claims(
                server.url(server.new_database()), Path(home), args.workers, args.runs, args.jobs, args.steps
            )
            wall_s = time.perf_counter() - started
    finally:
        server.stop()
    twice = result.claimed_more_than_once()
    print(
        f"{args.workers} workers, {args.runs} runs of {args.steps} step(s) + {args.jobs} evaluation jobs on PostgreSQL "
        f"({os.cpu_count()} CPUs, {wall_s:.0f} s in all)"
    )
    print(
        f"claims: {len(result.claims)} of {result.queued} claimed, {result.claims_per_s:.1f} claims/s from the first "
        f"to the last; claimed more than once: {len(twice)} {twice[:5]}; by {len(result.claimers)} distinct workers "
        f"(claims per worker: min {min(result.claimers.values(), default=0)}, "
        f"max {max(result.claimers.values(), default=0)}); statuses {dict(result.statuses)}; "
        f"worker exit codes {sorted(collections.Counter(result.exit_codes).items())}"
    )
    for name in result.busy:
        busy, idle = result.busy[name], result.idle[name]
        print(
            f"{name:>12}: {len(busy)} reads; median {statistics.median(busy) * 1e3:.1f} ms busy vs "
            f"{statistics.median(idle) * 1e3:.1f} ms idle ({statistics.median(busy) / statistics.median(idle):.2f}x); "
            f"p95 {p95(busy) * 1e3:.1f} ms vs {p95(idle) * 1e3:.1f} ms ({p95(busy) / p95(idle):.2f}x)"
        )


if __name__ == "__main__":
    main()
