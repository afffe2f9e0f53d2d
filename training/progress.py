"""A Sink wrapper that shows a progress bar (step time, ETA, reward) on the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tqdm import tqdm

from training.interface import Phase, Sink


class ProgressSink:
    def __init__(self, inner: Sink, total_steps: int, first_step: int = 0):
        self.inner = inner
        self.bar = tqdm(total=total_steps, initial=first_step, unit="step", dynamic_ncols=True)

    def log_phase(self, phase: Phase) -> None:
        self.inner.log_phase(phase)
        self.bar.write(f"{phase}...")

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.inner.log_metrics(step, metrics)
        self.bar.update(step - self.bar.n)
        shown = {
            "reward": metrics.get("reward"),
            "valid": metrics.get("rewards/format/mean"),
            "ppl": metrics.get("nover/perplexity/mean"),
            "s/step": metrics.get("step_time"),
        }
        self.bar.set_postfix({key: f"{value:.3g}" for key, value in shown.items() if value is not None})

    def log_rollouts(self, step: int, rows: Sequence[Mapping[str, Any]]) -> None:
        self.inner.log_rollouts(step, rows)

    def log_checkpoint(self, step: int, path: str) -> None:
        self.inner.log_checkpoint(step, path)
        self.bar.write(f"checkpoint at step {step}: {path}")

    def log_evaluation(self, step: int, metrics: dict[str, float], samples: list[dict[str, Any]]) -> None:
        self.inner.log_evaluation(step, metrics, samples)
        shown = ", ".join(f"{key} {value:.3g}" for key, value in metrics.items())
        self.bar.write(f"held-out evaluation at step {step}: {shown}")

    def should_stop(self) -> bool:
        return self.inner.should_stop()

    def close(self) -> None:
        self.bar.close()
