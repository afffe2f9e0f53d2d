"""Write cost of one training step (16 rollouts + 15 metrics) through the Store, side by side with baselines.

    .venv/bin/python -m bench.bench_store_write [--steps 200]

Three writers run interleaved step by step on separate SQLite files (WAL, same pragmas), so machine noise
hits them alike:
  store     Store.log_step: one transaction with prompts lookup, metrics, rollouts and the heartbeat
  raw       sqlite3 executemany of the same rows into a table of the same shape (the floor)
  per-row   Store.log_rollouts once per rollout (what a naive sink would do)
Prints the median and p95 per step and the ratios to `raw`; then what the metric summaries cost per step: the
summary upsert alone (storage.summaries.write_points, timed inside the step's transaction) for 15 and 40 keys.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from storage import Store
from storage.summaries import LEVELS, write_points
from tests.helpers import step_rows

METRIC_KEYS = [f"metric/{i}" for i in range(15)]
TRL_KEYS = [f"metric/{i}" for i in range(40)]


def raw_writer(path: Path):
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(
        "CREATE TABLE rollouts (id INTEGER PRIMARY KEY, run_id INT, step INT, group_index INT, "
        "sample_index INT, prompt TEXT, reference TEXT, completion TEXT, reasoning TEXT, answer TEXT, "
        "reward REAL, reward_format REAL, reward_reasoning REAL, reward_efficiency REAL, perplexity REAL, "
        "reasoning_tokens INT, completion_tokens INT, advantage REAL, truncated INT, format_valid INT, "
        "extras TEXT)"
    )
    db.execute("CREATE INDEX ix ON rollouts (run_id, step, group_index, sample_index)")
    db.execute("CREATE TABLE metrics (run_id INT, step INT, key TEXT, value REAL, wall_time REAL)")
    db.execute("CREATE UNIQUE INDEX ixm ON metrics (run_id, key, step)")

    def write(step: int, rows: list[dict]) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO metrics VALUES (1, ?, ?, ?, ?)", [(step, key, 0.5, time.time()) for key in METRIC_KEYS]
        )
        db.executemany(
            "INSERT INTO rollouts (run_id, step, group_index, sample_index, prompt, reference, "
            "completion, reasoning, answer, reward, reward_format, reward_reasoning, reward_efficiency, "
            "perplexity, reasoning_tokens, completion_tokens, advantage, truncated, format_valid, "
            "extras) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    step,
                    r["group_index"],
                    r["sample_index"],
                    r["prompt"],
                    r["reference"],
                    r["completion"],
                    r["reasoning"],
                    r["answer"],
                    r["reward"],
                    r["reward_format"],
                    r["reward_reasoning"],
                    r["reward_efficiency"],
                    r["perplexity"],
                    r["reasoning_tokens"],
                    r["completion_tokens"],
                    r["advantage"],
                    r["truncated"],
                    r["format_valid"],
                    json.dumps(r["extras"]),
                )
                for r in rows
            ],
        )
        db.execute("COMMIT")

    return write


def store_writer(path: Path, per_row: bool):
    store = Store(f"sqlite:///{path}")
    run = store.create_run("bench", {})
    store.claim_next_run("bench")

    def write(step: int, rows: list[dict]) -> None:
        if per_row:
            for row in rows:
                store.log_rollouts(run.id, step, [row])
            store.log_metrics(run.id, step, dict.fromkeys(METRIC_KEYS, 0.5))
        else:
            store.log_step(run.id, step, dict.fromkeys(METRIC_KEYS, 0.5), rows, total_steps=10_000, heartbeat=True)

    return write


def summaries_writer(path: Path, keys: list[str], times: list[float]):
    """A step's metrics through the Store's own session, the summary upsert timed apart from the rest."""
    store = Store(f"sqlite:///{path}")
    run = store.create_run("bench", {})

    def write(step: int, rows: list[dict]) -> None:
        with store._session("bench summaries", write=True) as s:
            start = time.perf_counter()
            write_points(s, run.id, step, dict.fromkeys(keys, 0.5 + step % 7), time.time(), store.summary_levels)
            times.append(time.perf_counter() - start)

    return write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    rows = step_rows(groups=2, group_size=8)
    with tempfile.TemporaryDirectory() as tmp:
        writers = {
            "store": store_writer(Path(tmp) / "store.db", per_row=False),
            "raw": raw_writer(Path(tmp) / "raw.db"),
            "per-row": store_writer(Path(tmp) / "per_row.db", per_row=True),
        }
        summary_times: dict[str, list[float]] = {"summaries, 15 keys": [], "summaries, 40 keys": []}
        for (name, samples), keys in zip(summary_times.items(), (METRIC_KEYS, TRL_KEYS)):
            writers[name] = summaries_writer(Path(tmp) / f"{len(keys)}.db", keys, samples)
        times: dict[str, list[float]] = {name: [] for name in writers}
        for step in range(1, args.steps + 1):
            for name, write in writers.items():
                start = time.perf_counter()
                write(step, rows)
                times[name].append(time.perf_counter() - start)
    raw_median = statistics.median(times["raw"])
    print(f"one step = {len(rows)} rollouts + {len(METRIC_KEYS)} metrics, {args.steps} steps each, interleaved")
    # A summaries writer's whole transaction is of no interest: only the upsert inside it, timed apart.
    for name, samples in [*((n, t) for n, t in times.items() if n not in summary_times), *summary_times.items()]:
        median, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[18]
        print(
            f"{name:>8}: median {median * 1e3:6.2f} ms  p95 {p95 * 1e3:6.2f} ms  "
            f"median ratio to raw {median / raw_median:5.2f}"
        )
    share = statistics.median(summary_times["summaries, 15 keys"]) / statistics.median(times["store"])
    print(f"the summary upsert is {share:.0%} of a `store` step (15 keys, levels {', '.join(map(str, LEVELS))})")


if __name__ == "__main__":
    main()
