"""Cost of the start-up failure-flag backfill (nover_ui/flag_backfill.py) on a database of old rollouts.

    .venv/bin/python -m bench.bench_flag_backfill [--rollouts 16000] [--runs 4]

Writes `--rollouts` rollouts without flags (as a version before stored flags did), 16 per step (2 groups of 8)
spread over `--runs` runs, into a SQLite file, then times, side by side in one process:
  start     start_flag_backfill(): what the dashboard's start-up waits for (a thread start)
  backlog   Store.flag_backlog: the one query that finds the steps to do
  backfill  the whole backfill (read each step, compute its flags, write them in batches), in the thread
  again     a second backfill with nothing left to do: the cost every later start-up pays
  read      one plain read of every rollout (Store.get_rollouts per run), the yardstick for the ratios
and checks that every rollout got its flags.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from nover_ui.flag_backfill import backfill_flags, start_flag_backfill
from storage import Store
from tests.helpers import rollout_row
from training.config import preset
from training.flags import FLAGS_VERSION

ROLLOUTS_PER_STEP = 16


def old_database(path: Path, rollouts: int, runs: int) -> Store:
    store = Store(f"sqlite:///{path}")
    run_ids = [store.create_run(f"old {i}", preset("cpu-demo").to_dict()).id for i in range(runs)]
    for index in range(rollouts // ROLLOUTS_PER_STEP):
        # Varied rows, so every flag rule does real work: truncated, tagless, looping and long-winded rollouts.
        rows = [
            rollout_row(
                g,
                s,
                prompt=f"question {index} {g}?",
                truncated=s == 7,
                format_valid=s != 6,
                completion="no tags at all" if s == 6 else " ".join(["so the answer is"] * (s % 3 + 1)),
                reasoning_tokens=8 + 30 * (s == 5),
            )
            for g in range(2)
            for s in range(8)
        ]
        store.log_rollouts(run_ids[index % runs], index // runs + 1, rows)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=16_000)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = old_database(Path(folder) / "old.db", args.rollouts, args.runs)
        t0 = time.perf_counter()
        for run in store.list_runs():
            store.get_rollouts(run.id)
        read_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        steps = store.flag_backlog(FLAGS_VERSION)
        backlog_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        thread = start_flag_backfill(store, threading.Event())
        start_s = time.perf_counter() - t0
        thread.join()
        backfill_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        assert backfill_flags(store) == 0
        again_s = time.perf_counter() - t0
        flagged = sum(r.flags is not None for run in store.list_runs() for r in store.get_rollouts(run.id))
        assert flagged == len(steps) * ROLLOUTS_PER_STEP == args.rollouts // ROLLOUTS_PER_STEP * ROLLOUTS_PER_STEP
        store.close()
    print(f"{flagged:,} rollouts in {len(steps):,} steps of {args.runs} runs (SQLite)")
    print(f"   start: {start_s * 1e3:8.2f} ms  (what start-up waits for)")
    print(f" backlog: {backlog_s * 1e3:8.2f} ms")
    print(f"backfill: {backfill_s * 1e3:8.2f} ms  ({backfill_s / flagged * 1e6:.1f} µs per rollout, in the thread)")
    print(f"   again: {again_s * 1e3:8.2f} ms  (a later start-up, nothing to do)")
    print(f"    read: {read_s * 1e3:8.2f} ms  (every rollout read once)")
    print(
        f"ratios: backfill / read {backfill_s / read_s:.2f}x, start / read {start_s / read_s:.4f}x, "
        f"again / read {again_s / read_s:.4f}x"
    )


if __name__ == "__main__":
    main()
