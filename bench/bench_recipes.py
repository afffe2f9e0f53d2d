"""Which verifier-free reward works best on the demo data? An experiment of recipes x seeds, judged on held-out prompts.

    .venv/bin/python -m bench.bench_recipes [--recipes nover,rlpr,logprob,verifier] [--seeds 2] [--steps 10]

Builds the grid as the Train tab's "Queue experiment" does (nover_ui/experiment_grid.py: the cpu-demo preset at
small settings, each recipe's reward fields applied over it, times the seeds), queues it with the dashboard's checks
(nover_ui/queue.py), trains every run with a worker in this process, which evaluates the held-out prompts (the demo
data's test split) at step 0 and every --eval-steps steps, and prints the Experiments tab's table: each recipe's
final and best held-out metrics as a mean with its 95% Student-t interval over the seeds, and the training reward's
first and last steps. Not a test: the numbers are what this model at these settings gives.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from nover_ui.experiment_grid import build_grid
from nover_ui.experiment_view import EVAL_METRICS, INTERVAL_NOTE, results_table, variants
from nover_ui.places import Places
from nover_ui.queue import queue_experiment
from storage import Store
from training.config import preset
from training.trainer import train
from training.worker import run_worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="nover,rlpr,logprob,verifier")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--eval-prompts", type=int, default=8)
    parser.add_argument("--eval-samples", type=int, default=2)
    parser.add_argument("--generations", type=int, default=4, help="rollouts per prompt")
    parser.add_argument("--tokens", type=int, default=48, help="max_completion_length")
    parser.add_argument("--home", type=Path, default=Path("test-artifacts/model-home"))
    args = parser.parse_args()

    form = preset(
        "cpu-demo",
        max_steps=args.steps,
        checkpoint_steps=0,
        num_generations=args.generations,
        max_completion_length=args.tokens,
        eval_steps=args.eval_steps,
        eval_prompts=args.eval_prompts,
        eval_samples=args.eval_samples,
        max_prompts=None,  # the whole train split: cpu-demo's 4 prompts would be learnt by heart
    )
    grid = build_grid(form.to_dict(), "recipes", args.recipes.split(","), [], args.seeds)
    home = args.home.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        run_home = Path(scratch)
        (run_home / "models").symlink_to(home / "models", target_is_directory=True)
        store = Store(f"sqlite:///{run_home / 'bench.db'}")
        experiment = queue_experiment(store, grid, Places(run_home))
        print(
            f"{len(grid.runs)} runs: {args.recipes} x {args.seeds} seeds; {args.steps} steps of "
            f"{args.generations} rollouts x {args.tokens} tokens; held-out {args.eval_prompts} prompts x "
            f"{args.eval_samples} samples at step 0 and every {args.eval_steps} steps",
            flush=True,
        )
        started = time.perf_counter()
        run_worker(store, train, run_home, until_idle=True, poll_s=0.5)
        minutes = (time.perf_counter() - started) / 60
        runs = store.experiment_runs(experiment.id)
        series = {run.id: store.get_metrics(run.id, keys=[*EVAL_METRICS, "reward"]) for run in runs}
        print(f"trained in {minutes:.1f} min; statuses: {', '.join(sorted({run.status for run in runs}))}")
        with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_colwidth", 40):
            print(results_table(runs, series).to_string(index=False))
            print(INTERVAL_NOTE)
            print(reward_table(runs, series).to_string(index=False))
        store.close()


def reward_table(runs, series) -> pd.DataFrame:  # type: ignore[no-untyped-def]  # records and series as read above
    """Each recipe's training reward: mean over its seeds of the first and last 3 steps (its own scale: recipes'
    rewards are not comparable with each other, only with themselves over time)."""
    rows = []
    for variant in variants(runs):
        firsts, lasts = [], []
        for run in variant.runs:
            reward = series[run.id].get("reward")
            if reward is not None and reward.values:
                firsts.append(statistics.fmean(reward.values[:3]))
                lasts.append(statistics.fmean(reward.values[-3:]))
        rows.append(
            [variant.label, statistics.fmean(firsts) if firsts else None, statistics.fmean(lasts) if lasts else None]
        )
    return pd.DataFrame(rows, columns=["variant", "reward, first 3 steps", "reward, last 3 steps"])


if __name__ == "__main__":
    main()
