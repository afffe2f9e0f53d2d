"""Dashboard read paths (a Traces step, the Metrics charts) on a 10k-rollout and a 1M-rollout database, side by side.

    .venv/bin/python -m bench.bench_dashboard [--reps 30] [--no-heavy | --heavy-only]

Each timing runs from the Store call to the finished HTML or figures, through the functions the tabs call:
  traces   nover_ui.traces_tab.step_html: store.get_rollouts(run, step) + render_step, a random (run, step)
  metrics  nover_ui.metrics_tab.chart_updates for 5 runs: list_runs, series per run, metric_figures, twice:
           "first open" with an empty series cache (each series read at the detail a chart needs:
           Store.get_metric_summary), and "new step" after one more step landed in each run (the cache reads
           only that step: the redraw a live run causes every step)
and the same pieces timed apart, plus figure.to_json() (what gr.Plot sends the browser; not in the total).
Like app.py, the process freezes its start-up objects out of the garbage collector (gc.freeze) before timing.

Two databases, built alike, 20 runs, 16 rollouts a step (2 groups x 8), one 'reward' point per metric step:
  small  31 rollout steps a run (9,920 rollouts); runs 1-5 have 10,000 metric steps, runs 6-20 none (50,000)
  big    3,125 rollout steps a run (1,000,000 rollouts); every run has 10,000 metric steps (200,000)
The 5 charted runs hold the same metrics in both, so the big/small ratio isolates the other runs' and steps'
rows. Rows are written step by step across all runs, as concurrent runs would interleave them. A third
database ("heavy", 5 runs, metrics only) times the realistic case of 40 keys a step: 2,000,000 points charted,
target a median under 500 ms. A fourth ("long") holds one run of 1,000 and one of 100,000 steps, 40 keys each:
the first open of the long one should cost at most 1.3x the short one's. The bulk-inserted points get their
summaries as Store.log_metrics would have written them (bench/summary_rows.py).
Target: median under 300 ms, and no growth from small to big. Timed calls alternate between the databases
(same seeded random steps), so machine load hits both alike; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from bench.summary_rows import SUMMARY_COLUMNS, check_summary_rows, summary_rows
from nover_ui.figures import metric_figures
from nover_ui.metrics_cache import MAX_POINTS, SeriesCache
from nover_ui.metrics_tab import chart_updates
from nover_ui.traces_tab import step_html
from nover_ui.traces_view import render_step
from storage import Status, Store
from storage.rows import prompt_key
from storage.summaries import LEVELS
from training.config import RunConfig

RUNS, CHARTED, METRIC_STEPS = 20, 5, 10_000
GROUPS, GROUP_SIZE, PROMPTS_PER_RUN = 2, 8, 256
TARGET_MS = 300.0
HEAVY_TARGET_MS = 500.0
LONG_RATIO = 1.3
HEAVY_KEYS = (
    "reward",
    "reward_std",
    "rewards/format/mean",
    "rewards/reasoning/mean",
    "rewards/efficiency/mean",
    "nover/perplexity/mean",
    "completions/mean_length",
    "completions/clipped_ratio",
    "kl",
    "loss",
    "grad_norm",
    "learning_rate",
    "entropy",
    "step_time",
    "frac_reward_zero_std",
    # TRL's other per-step keys: the realistic 40 a step.
    *(f"rewards/{name}/std" for name in ("format", "reasoning", "efficiency")),
    "nover/perplexity/std",
    "nover/perplexity/min",
    "nover/perplexity/max",
    "completions/min_length",
    "completions/max_length",
    "completions/mean_terminated_length",
    "completions/min_terminated_length",
    "completions/max_terminated_length",
    "clip_ratio/low_mean",
    "clip_ratio/low_min",
    "clip_ratio/high_mean",
    "clip_ratio/high_max",
    "clip_ratio/region_mean",
    "num_tokens",
    "epoch",
    "flags/missing_tags",
    "flags/malformed_tags",
    "flags/repetition",
    "flags/truncated",
    "flags/copied_placeholder",
    "nover/no_signal_groups",
    "data/prompts",
)
LONG_STEPS = (1_000, 100_000)
"""The one-run case: first open of a run at each length, 40 keys a step; the ratio should stay near 1."""
WORDS = (
    "so the sum of both terms is then we check each case first since divide by two which gives a total "
    "value for x and y hence answer must be wait let me recount carefully"
).split()
ROLLOUT_SQL = (
    "INSERT INTO rollouts (run_id, step, group_index, sample_index, prompt_id, completion, reasoning, "
    "answer, reward, reward_format, reward_reasoning, reward_efficiency, perplexity, reasoning_tokens, "
    "completion_tokens, advantage, truncated, format_valid, extras) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Spec:
    name: str
    runs: int
    rollout_steps: int
    """Steps with rollouts in every run (16 rollouts each)."""
    other_metric_steps: int
    """Metric steps of the runs not charted; the 5 charted runs always have METRIC_STEPS."""
    keys: tuple[str, ...]
    steps: tuple[int, ...] = ()
    """Metric steps of each run when given (the one-run case), else METRIC_STEPS/other_metric_steps."""


SMALL = Spec("small", RUNS, rollout_steps=31, other_metric_steps=0, keys=("reward",))
BIG = Spec("big", RUNS, rollout_steps=3_125, other_metric_steps=METRIC_STEPS, keys=("reward",))
HEAVY = Spec("heavy", CHARTED, rollout_steps=0, other_metric_steps=0, keys=HEAVY_KEYS)
LONG = Spec("long", len(LONG_STEPS), rollout_steps=0, other_metric_steps=0, keys=HEAVY_KEYS, steps=LONG_STEPS)


def metric_steps(spec: Spec, run_index: int) -> int:
    if spec.steps:
        return spec.steps[run_index]
    return METRIC_STEPS if run_index < CHARTED else spec.other_metric_steps


def prompt_rows(run_ids: list[int]):
    for i, run_id in enumerate(run_ids):
        for k in range(PROMPTS_PER_RUN):
            prompt = (
                f"Problem {run_id}.{k}: a shop sells {k + 3} pens for {k + 7} dollars. "
                "How much do 12 pens cost? Think first, then give the answer."
            )
            reference = f"{12 * (k + 7) / (k + 3):.2f} dollars"
            yield i * PROMPTS_PER_RUN + k + 1, run_id, prompt_key(prompt, reference), prompt, reference


def rollout_rows(spec: Spec, run_ids: list[int], rng: random.Random):
    thoughts = [" ".join(rng.choices(WORDS, k=52)) for _ in range(64)]  # ~270 chars, ~300 with the tags
    extras = [
        json.dumps(
            {
                "target_nll": [round(rng.uniform(0, 4), 3) for _ in range(8)],
                "baseline_nll": [round(rng.uniform(0, 6), 3) for _ in range(8)],
            }
        )
        for _ in range(64)
    ]
    for step in range(1, spec.rollout_steps + 1):
        for i, run_id in enumerate(run_ids):
            for group in range(GROUPS):
                prompt_id = i * PROMPTS_PER_RUN + (step * GROUPS + group) % PROMPTS_PER_RUN + 1
                for sample in range(GROUP_SIZE):
                    thought, answer = thoughts[rng.randrange(64)], f"{rng.uniform(0, 100):.2f} dollars"
                    if rng.random() < 0.15:  # a format failure: no tags, nothing parsed, no perplexity
                        row = (thought, None, None, 0.0, 0.0, 0.0, -0.1, None, None)
                    else:
                        reasoning = rng.random()
                        row = (
                            f"<think>{thought}</think><answer>{answer}</answer>",
                            thought,
                            answer,
                            1.0 + reasoning,
                            1.0,
                            reasoning,
                            0.0,
                            rng.uniform(1.5, 30.0),
                            60,
                        )
                    yield (
                        run_id,
                        step,
                        group,
                        sample,
                        prompt_id,
                        *row,
                        80,
                        rng.gauss(0, 1),
                        int(rng.random() < 0.05),
                        int(row[1] is not None),
                        extras[rng.randrange(64)],
                    )


def metric_rows(spec: Spec, run_ids: list[int], rng: random.Random):
    t0 = time.time() - 7 * 86_400
    for step in range(1, max(metric_steps(spec, i) for i in range(spec.runs)) + 1):
        for i, run_id in enumerate(run_ids):
            if step <= metric_steps(spec, i):
                for key in spec.keys:
                    yield run_id, step, key, math.tanh(step / 4000) + rng.gauss(0, 0.2), t0 + i * 60 + step * 6.0


def insert(db: sqlite3.Connection, sql: str, rows, batch: int = 50_000) -> None:
    rows = iter(rows)
    while chunk := list(islice(rows, batch)):
        db.execute("BEGIN")
        db.executemany(sql, chunk)
        db.execute("COMMIT")


def build(path: Path, spec: Spec) -> float:
    """Schema through the Store (Alembic), runs through its lifecycle, bulk rows through raw sqlite3."""
    start, part = time.perf_counter(), path.with_suffix(".part")
    store = Store(f"sqlite:///{part}")
    run_ids = []
    for i in range(spec.runs):
        run = store.create_run(f"bench-{i + 1:02d}", RunConfig().to_dict())
        store.start_run(run.id, "bench")
        last = max(spec.rollout_steps, metric_steps(spec, i))
        store.heartbeat(run.id, last, last)
        store.finish_run(run.id, Status.SUCCEEDED)
        run_ids.append(run.id)
    store.close()
    rng = random.Random(spec.name)
    db = sqlite3.connect(part, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # a crash only loses this scratch file
    insert(db, "INSERT INTO prompts (id, run_id, key, prompt, reference) VALUES (?, ?, ?, ?, ?)", prompt_rows(run_ids))
    insert(db, ROLLOUT_SQL, rollout_rows(spec, run_ids, rng))
    insert(
        db,
        "INSERT INTO metrics (run_id, step, key, value, wall_time) VALUES (?, ?, ?, ?, ?)",
        metric_rows(spec, run_ids, rng),
    )
    insert(db, SUMMARY_SQL, all_summary_rows(db))
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    part.rename(path)
    return time.perf_counter() - start


SUMMARY_SQL = f"INSERT INTO metric_summaries ({', '.join(SUMMARY_COLUMNS)}) VALUES ({', '.join('?' * 15)})"


def all_summary_rows(db: sqlite3.Connection):
    """What Store.log_metrics would have written beside the bulk-inserted points: each series' summaries."""
    series = db.execute("SELECT DISTINCT run_id, key FROM metrics").fetchall()
    for i, (run_id, key) in enumerate(series):
        steps, values, walls = map(
            np.asarray,
            zip(
                *db.execute(
                    "SELECT step, value, wall_time FROM metrics WHERE run_id = ? AND key = ? ORDER BY step",
                    (run_id, key),
                )
            ),
        )
        if i == 0:
            check_summary_rows(run_id, key, steps, values, walls, LEVELS)
        yield from summary_rows(run_id, key, steps, values, walls, LEVELS)


def open_db(folder: Path, spec: Spec) -> Store:
    path = folder / f"dashboard_{spec.name}.db"
    print(f"{spec.name:>5}: built in {build(path, spec):5.1f} s", end="", flush=True)
    with open(path, "rb") as f:  # read the file once so every timing starts from the OS page cache
        while f.read(1 << 24):
            pass
    db = sqlite3.connect(path)
    counts = [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("rollouts", "metrics")]
    length = db.execute("SELECT avg(length(completion)) FROM rollouts").fetchone()[0] or 0
    db.close()
    texts = f"(completion ~{length:.0f} chars)" if counts[0] else ""
    print(f"  {counts[0]:>9,} rollouts {texts:<24}{counts[1]:>9,} metric points  {path.stat().st_size / 2**20:5.0f} MB")
    return Store(f"sqlite:///{path}")


def read_metrics(store: Store, run_ids: list[int]):
    """The Store half of chart_updates, done the same way."""
    names = {run.id: run.name for run in store.list_runs() if run.id in run_ids}
    return names, {run_id: store.get_metric_summary(run_id, MAX_POINTS) for run_id in run_ids if run_id in names}


def timed(samples: list[float], fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    samples.append(time.perf_counter() - start)
    return result


def measure(
    stores: dict[str, Store], specs: dict[str, Spec], reps: int, warmup: int = 3, traces: bool = True
) -> dict[tuple[str, str], list[float]]:
    """Alternating between the databases, the whole tab call and then its pieces on another random step."""
    rng = random.Random(0)
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    charted = list(range(1, CHARTED + 1))
    live_caches = {name: SeriesCache() for name in stores}
    for rep in range(warmup + reps):
        steps = [rng.random() for _ in range(4)]
        for name, store in stores.items():
            spec = specs[name]
            t = times if rep >= warmup else defaultdict(list)
            if traces:
                picks = [(1 + int(steps[i] * spec.runs), 1 + int(steps[i + 2] * spec.rollout_steps)) for i in (0, 1)]
                timed(t["traces: step_html (total)", name], step_html, store, *picks[0], "all", "sample")
                rows = timed(t["  store.get_rollouts", name], store.get_rollouts, picks[1][0], step=picks[1][1])
                timed(t["  render_step", name], render_step, rows)
            timed(
                t["metrics, first open: chart_updates (total)", name],
                chart_updates,
                store,
                SeriesCache(),
                charted,
                0.0,
                "step",
            )
            for run_id in charted:  # a step lands in every charted run, then the tab redraws
                store.log_metrics(run_id, METRIC_STEPS + 1 + rep, {key: rng.random() for key in spec.keys})
            timed(
                t["metrics, new step: chart_updates (total)", name],
                chart_updates,
                store,
                live_caches[name],
                charted,
                0.0,
                "step",
            )
            names, metrics = timed(t["  list_runs + get_metric_summary x5", name], read_metrics, store, charted)
            figures = timed(t["  metric_figures", name], metric_figures, metrics, names, 0.0, "step")
            timed(
                t["  figure.to_json (gr.Plot, not in total)", name],
                lambda figures=figures: [f.to_json() for _, f in figures],
            )
    return times


def measure_long(store: Store, reps: int, warmup: int = 2) -> dict[int, list[float]]:
    """First open (empty series cache) of each one-run chart, alternating between the runs."""
    times: dict[int, list[float]] = {steps: [] for steps in LONG_STEPS}
    for rep in range(warmup + reps):
        for run_id, steps in enumerate(LONG_STEPS, start=1):
            samples = times[steps] if rep >= warmup else []
            timed(samples, chart_updates, store, SeriesCache(), [run_id], 0.0, "step")
    return times


def stats(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1e3, statistics.quantiles(samples, n=20)[18] * 1e3


def verdict(what: str, medians: list[float], target_ms: float = TARGET_MS) -> str:
    if not what.endswith("(total)"):
        return ""
    return f"{'pass' if max(medians) < target_ms else 'FAIL'} (< {target_ms:.0f} ms median)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--no-heavy", action="store_true", help="skip the 40-keys-a-step metrics cases")
    only.add_argument("--heavy-only", action="store_true", help="only the 40-keys-a-step metrics cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = {} if args.heavy_only else {spec.name: spec for spec in (SMALL, BIG)}
        stores = {name: open_db(folder, spec) for name, spec in specs.items()}
        heavy = None if args.no_heavy else open_db(folder, HEAVY)
        long = None if args.no_heavy else open_db(folder, LONG)
        gc.freeze()
        load = os.getloadavg()[0]
        times = measure(stores, specs, args.reps) if stores else {}
        print(
            f"\n{args.reps} timed calls each after 3 warm-ups, {os.cpu_count()} cores, load average "
            f"{load:.2f} before / {os.getloadavg()[0]:.2f} after; ms"
        )
        print(f"{'what':<42}{'small median':>13}{'p95':>8}{'big median':>12}{'p95':>8}{'big/small':>11}")
        for what in dict.fromkeys(what for what, _ in times):
            (small, small_p95), (big, big_p95) = stats(times[what, "small"]), stats(times[what, "big"])
            print(
                f"{what:<42}{small:>13.1f}{small_p95:>8.1f}{big:>12.1f}{big_p95:>8.1f}{big / small:>11.2f}  "
                f"{verdict(what, [small, big])}"
            )
        if heavy is not None:
            reps = max(5, args.reps // 3)
            heavy_times = measure({"heavy": heavy}, {"heavy": HEAVY}, reps, warmup=1, traces=False)
            print(
                f"\nheavy: {CHARTED} runs x {METRIC_STEPS:,} steps x {len(HEAVY_KEYS)} keys charted, "
                f"{reps} timed calls after 1 warm-up; ms"
            )
            print(f"{'what':<42}{'median':>13}{'p95':>8}")
            for (what, _), samples in heavy_times.items():
                median, p95 = stats(samples)
                print(f"{what:<42}{median:>13.1f}{p95:>8.1f}  {verdict(what, [median], HEAVY_TARGET_MS)}")
            heavy.close()
        if long is not None:
            reps = max(5, args.reps // 3)
            long_times = measure_long(long, reps)
            (short, short_p95), (longest, long_p95) = (stats(long_times[steps]) for steps in LONG_STEPS)
            print(f"\none run, {len(HEAVY_KEYS)} keys, first open (chart_updates), {reps} calls after 2 warm-ups; ms")
            print(f"{'steps':<42}{LONG_STEPS[0]:>13,}{'p95':>8}{LONG_STEPS[1]:>12,}{'p95':>8}{'ratio':>11}")
            print(
                f"{'metrics, first open (total)':<42}{short:>13.1f}{short_p95:>8.1f}{longest:>12.1f}{long_p95:>8.1f}"
                f"{longest / short:>11.2f}  {'pass' if longest / short <= LONG_RATIO else 'FAIL'} (<= {LONG_RATIO})"
            )
            long.close()
        for store in stores.values():
            store.close()


if __name__ == "__main__":
    main()
