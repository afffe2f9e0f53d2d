"""The one real training run the suite shares: 2 cpu-demo steps of the default model on one prompt.

The training tests check what it wrote (metrics, rollouts, checkpoints, which weights moved) and resume it; the
browser tests show it in the dashboard. tests/conftest.py's `trained_home` trains it once and keeps it, with
`python -m tests.trained_run HOME`: in a process of its own, so the test process (Playwright's, for the browser
tests) never loads the training stack.
"""

import hashlib
import json
import sys
from pathlib import Path

from training.config import preset

CONFIG = preset("cpu-demo", max_steps=2, checkpoint_steps=1, max_prompts=1, num_generations=4, max_completion_length=48)
"""One prompt, so the same prompt is sampled at both steps (Compare shows it at two steps); a checkpoint each step.
4 rollouts of up to 48 tokens, not the preset's 8 of 64: the fewest with which some rollouts are format-valid and
others not (the tests read a perplexity and the token view, and the weights move only when a group's rewards differ),
at less than half the step's cost."""
NAME = "trained demo"
WEIGHTS = "weights.json"
"""A digest of every parameter before the first step and after the last, by name (the run's home keeps it)."""


def train_demo_run(home: Path) -> None:
    """Record the run in home's database and train it in this process, as `python -m training.run --db` does."""
    from training.execute import train_now
    from training.interface import Phase
    from training.trainer import build_trainer

    def train_keeping_digests(config, sink, context):
        # training.trainer.train's steps, with the weights' digests taken around trainer.train(): only in this
        # process can a test see the base weights, which no checkpoint holds.
        trainer = build_trainer(config, sink, context)
        before = digests(trainer.model)
        sink.log_phase(Phase.FIRST_GENERATION)
        trainer.train()
        (home / WEIGHTS).write_text(json.dumps({"before": before, "after": digests(trainer.model)}))

    done = train_now(f"sqlite:///{home / 'nover_ui.db'}", NAME, CONFIG, home, train_keeping_digests)
    assert done.status == "succeeded", done.error


def copy_trained_db(trained_home: Path, home: Path) -> None:
    """The shared run's database into `home`, for a test that adds to it (its rows still name trained_home's
    checkpoints)."""
    import sqlite3

    with sqlite3.connect(trained_home / "nover_ui.db") as source, sqlite3.connect(home / "nover_ui.db") as copy:
        source.backup(copy)


def digests(model) -> dict[str, str]:
    """Each parameter's bytes, hashed: equal digests are equal tensors (bit for bit)."""
    import torch

    return {
        name: hashlib.sha256(p.detach().cpu().contiguous().flatten().view(torch.uint8).numpy()).hexdigest()
        for name, p in model.named_parameters()
    }


if __name__ == "__main__":
    train_demo_run(Path(sys.argv[1]))
