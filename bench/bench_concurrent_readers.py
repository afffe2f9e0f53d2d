"""Poll latency of the dashboard's read endpoints with 8 concurrent readers vs 1, while a run writes steps.

    .venv/bin/python -m bench.bench_concurrent_readers [--rounds 3] [--polls 5] [--step-seconds 0.2]

Starts the real app on a temporary home (tests/app_entry.py: its worker trains with the stand-in trainer,
16 rollouts and 10 metrics per step), queues one long run, then alternates rounds of 1 reader and of 8
readers (gradio_client, one thread and one Client each; one poll = /list_runs + /get_metrics + /get_rollouts
of the running run, tests/readers.py), so machine noise and the growing run hit both alike. Prints the
median and p95 poll latency of each, their ratio, and any inconsistent read.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from storage import Store
from tests.app_process import AppProcess
from tests.readers import read_concurrently


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--polls", type=int, default=5, help="polls per reader per round")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--step-seconds", type=float, default=0.2, help="the stand-in trainer's step time")
    args = parser.parse_args()
    latencies: dict[int, list[float]] = {1: [], args.readers: []}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as home:
        app = AppProcess(Path(home), step_s=args.step_seconds)
        store = Store(app.db_url)
        try:
            client = app.start()
            run = app.queue_endless_run(client, store, steps=2)
            first_step = store.latest_step(run["id"])
            for _ in range(args.rounds):
                for readers in latencies:
                    for log in read_concurrently(app.url, run["id"], readers, args.polls):
                        latencies[readers].extend(log.latencies_s)
                        problems.extend(log.problems)
            last_step = store.latest_step(run["id"])
            client.predict(run_id=run["id"], api_name="/cancel_run")
        finally:
            app.stop()
            store.close()
    print(f"run steps {first_step} -> {last_step} while reading ({args.step_seconds} s per step)")
    for readers, values in latencies.items():
        print(
            f"{readers} reader(s): {len(values)} polls, median {statistics.median(values) * 1e3:.0f} ms, "
            f"p95 {p95(values) * 1e3:.0f} ms"
        )
    ratio = statistics.median(latencies[args.readers]) / statistics.median(latencies[1])
    print(f"median poll latency, {args.readers} readers / 1 reader: {ratio:.1f}x")
    print(f"inconsistent reads or errors: {len(problems)}" + "".join(f"\n  {p}" for p in problems[:10]))


if __name__ == "__main__":
    main()
