"""Poll latency and database reads of the dashboard's read endpoints with many concurrent readers vs 1, while a
run writes steps.

    .venv/bin/python -m bench.bench_concurrent_readers [--rounds 3] [--polls 5] [--readers 8 20] [--step-seconds 0.2]

Starts the real app on a temporary home (bench/counted_app_entry.py: tests/app_entry.py's app, whose worker trains
with the stand-in trainer, 16 rollouts and 10 metrics per step, and which counts the Store reads of the dashboard
process), queues one long run, then alternates rounds of 1 reader and of each --readers count (gradio_client, one
thread and one Client each; one poll = /list_runs + /get_metrics + /get_rollouts of the running run,
tests/readers.py), so machine noise and the growing run hit every count alike. Each reader polls every --interval
seconds (the Runs tab's REFRESH_S by default: what a viewer's page does), the readers spread over the interval;
--interval 0 polls back to back, a throughput test in which N readers on a CPU-bound server wait N times as long.

Prints per reader count the median and p95 poll latency, the ratio of medians to 1 reader, and the database reads
per change: reads of the runs list, of the metrics and of the rollouts divided by the changes the app saw (the
distinct Store.runs_version values its endpoints read; the run's every step changes it). Shared reads keep these
at most 1 whatever the number of readers (below 1 where a change came and went between two polls of an
endpoint); without them every poll reads each. Also the cheap version reads per poll, and any inconsistent read.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path

from nover_ui.runs_tab import REFRESH_S
from storage import Store
from tests.app_process import AppProcess
from tests.helpers import wait_for
from tests.readers import read_concurrently

READS = {
    "runs list": ("list_runs",),
    "metrics": ("get_metrics",),
    "latest rollout step": ("rollout_steps",),
    "rollouts": ("get_rollouts",),
}
"""What a poll reads, by the Store methods that read it (bench/counted_app_entry.py counts them)."""


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def store_reads(home: Path, since: float) -> collections.Counter[str]:
    """The app's Store reads so far, as counted at a moment after `since` (its counter file is rewritten often)."""

    def counted() -> dict | None:
        try:
            snapshot = json.loads((home / "store_reads.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return snapshot if snapshot["at"] > since else None

    return collections.Counter(wait_for(counted, 10, "the app's read counts")["counts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--polls", type=int, default=5, help="polls per reader per round")
    parser.add_argument("--readers", type=int, nargs="+", default=[8, 20], help="reader counts compared with 1")
    parser.add_argument("--step-seconds", type=float, default=0.2, help="the stand-in trainer's step time")
    parser.add_argument(
        "--interval",
        type=float,
        default=REFRESH_S,
        help="seconds between one reader's polls, as a dashboard page polls (default); 0: back to back, which "
        "measures the server's throughput rather than what a viewer waits",
    )
    args = parser.parse_args()
    counts = [1, *args.readers]
    latencies: dict[int, list[float]] = {n: [] for n in counts}
    reads: dict[int, collections.Counter[str]] = {n: collections.Counter() for n in counts}
    problems: dict[int, list[str]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory() as home:
        app = AppProcess(Path(home), step_s=args.step_seconds, entry="bench.counted_app_entry")
        store = Store(app.db_url)
        try:
            client = app.start()
            run = app.queue_endless_run(client, store, steps=2)
            first_step = store.latest_step(run["id"])
            for _ in range(args.rounds):
                for readers in counts:
                    before = store_reads(Path(home), time.time())
                    logs = read_concurrently(app.url, run["id"], readers, args.polls, args.interval)
                    reads[readers] += store_reads(Path(home), time.time()) - before
                    for log in logs:
                        latencies[readers].extend(log.latencies_s)
                        problems[readers].extend(log.problems)
            last_step = store.latest_step(run["id"])
            client.predict(run_id=run["id"], api_name="/cancel_run")
        finally:
            app.stop()
            store.close()
    print(
        f"run steps {first_step} -> {last_step} while reading ({args.step_seconds} s per step); each reader polls "
        + (f"every {args.interval} s" if args.interval else "back to back")
    )
    one = statistics.median(latencies[1])
    for readers in counts:
        values, changes = latencies[readers], reads[readers]["runs_version changes"]
        per_change = ", ".join(
            f"{what} {sum(reads[readers][method] for method in methods) / max(changes, 1):.2f}"
            for what, methods in READS.items()
        )
        print(
            f"{readers:>3} reader(s): {len(values)} polls, median {statistics.median(values) * 1e3:.0f} ms, "
            f"p95 {p95(values) * 1e3:.0f} ms, {statistics.median(values) / one:.2f}x 1 reader's median; "
            f"{changes} changes, database reads per change: {per_change}; "
            f"version reads per poll {reads[readers]['runs_version'] / max(len(values), 1):.1f}; "
            f"inconsistent reads or errors: {len(problems[readers])}"
            + "".join(f"\n    {problem}" for problem in problems[readers][:5])
        )


if __name__ == "__main__":
    main()
