"""A stored experiment of 2 variants x 2 seeds with held-out metrics logged by hand (no training), shared by the
Experiments view's unit, handler and browser tests."""

from __future__ import annotations

from dataclasses import dataclass

from storage import ExperimentRecord, RunRecord, Status, Store

EVAL_STEPS = (0, 2, 4)
FORMAT_VALID = {
    ("nover", 1): (0.25, 0.5, 0.75),
    ("nover", 2): (0.25, 0.75, 0.5),
    ("rlpr", 1): (0.25, 0.375),  # still running: evaluated at steps 0 and 2 so far
    ("rlpr", 2): (0.25, 0.5, 0.625),
}
PERPLEXITY = {
    ("nover", 1): (4.0, 3.0, 2.0),
    ("nover", 2): (4.0, 2.5, 3.0),
    ("rlpr", 1): (4.0, 3.5),
    ("rlpr", 2): (4.0, 3.0, 3.5),
}
ANSWER_LENGTH = {("nover", 1): 10.0, ("nover", 2): 14.0, ("rlpr", 1): 20.0, ("rlpr", 2): 30.0}
"""Every evaluation of the run gives this answer length."""


@dataclass(frozen=True)
class StoredExperiment:
    experiment: ExperimentRecord
    runs: dict[tuple[str, int], RunRecord]
    """By (reward, seed), as stored at the end."""


def store_experiment(store: Store, name: str = "recipes") -> StoredExperiment:
    """Queue the grid (reward nover/rlpr x seed 1/2), run each, log its eval/* metrics, finish all but rlpr seed 1."""
    grid = [("nover", 1), ("nover", 2), ("rlpr", 1), ("rlpr", 2)]
    configs = [
        (f"{reward}-s{seed}", {"reward": reward, "seed": seed, "learning_rate": 1e-05, "eval_steps": 2})
        for reward, seed in grid
    ]
    experiment = store.create_experiment(name, {"seeds": [1, 2]}, configs)
    for key, run_id in zip(grid, experiment.run_ids):
        store.start_run(run_id, "w")
        for step, format_valid, perplexity in zip(EVAL_STEPS, FORMAT_VALID[key], PERPLEXITY[key]):
            metrics = {
                "eval/format_valid": format_valid,
                "eval/perplexity": perplexity,
                "eval/answer_length": ANSWER_LENGTH[key],
            }
            store.log_step(run_id, step, metrics=metrics, total_steps=4, heartbeat=True)
        if key != ("rlpr", 1):
            store.finish_run(run_id, Status.SUCCEEDED)
    runs = {key: store.get_run(run_id) for key, run_id in zip(grid, experiment.run_ids)}
    return StoredExperiment(experiment, runs)
