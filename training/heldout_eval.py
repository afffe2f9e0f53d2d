"""Held-out evaluation during training: at step 0 (before the first update, the policy then equals the base model),
every `eval_steps` steps and at the last step, the policy answers the held-out prompts (training/heldout.py) with
the run's sampling and the result goes to the sink as `eval/*` metrics and samples.

One implementation of the evaluation: training/evaluate.py `evaluate`, with the base model as judge (the adapter
disabled, no second copy of the weights), so every recipe's reasoning is judged by the same ruler:

- `eval/format_valid`: the fraction of samples in the think/answer format;
- `eval/perplexity`: NOVER's reasoning perplexity of the reference by the base model, mean over format-valid
  samples (left out at a step with none);
- `eval/accuracy`: the verifier's verdict (rewards.verifier_match, the run's verifier_match mode) over the samples
  whose reference is checkable (rewards.checkable: with 'auto', a number or an option letter); an invalid sample
  counts as wrong; left out when no held-out reference is checkable;
- `eval/answer_length`, `eval/reasoning_length`: tokens of the answer and the reasoning, mean over format-valid
  samples.

The evaluation must not disturb training: it runs in eval mode (no dropout) and gives back the training mode, the
active adapter, and torch's random state (CPU and CUDA), so the rollouts that follow are those of a run without it;
its own sampling is seeded with heldout_seed, the same in every run of an experiment. The last step is evaluated
even when it is no multiple of eval_steps: the final point is the one runs are compared by. Under several processes
the main one evaluates while the others wait at a barrier (simple, and nothing collective runs meanwhile). A resumed
run does not redo step 0; a run cancelled mid-way skips the evaluation of its last step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from accelerate import PartialState
from peft import PeftModel
from transformers import TrainerCallback

from training.config import RunConfig
from training.data import Example
from training.evaluate import EvalResult, evaluate
from training.interface import Sink
from training.jobs import AdapterDisabled, sample_rows
from training.rewards import checkable


def heldout_metrics(result: EvalResult, config: RunConfig, tokenizer: Any) -> dict[str, float]:
    """The eval/* metrics of one evaluation; a mean over nothing is left out (a chart draws no point)."""
    valid = [s for s in result.samples if s.valid]
    checked = [bool(s.correct) for s in result.samples if checkable(s.example.reference, config.verifier_match)]

    def tokens(text: str | None) -> int:
        return len(tokenizer(text or "", add_special_tokens=False)["input_ids"])

    metrics = {
        "eval/format_valid": len(valid) / len(result.samples) if result.samples else math.nan,
        "eval/perplexity": _mean([s.perplexity for s in valid if s.perplexity is not None]),
        "eval/accuracy": _mean([float(c) for c in checked]),
        "eval/answer_length": _mean([float(tokens(s.answer)) for s in valid]),
        "eval/reasoning_length": _mean([float(tokens(s.reasoning)) for s in valid]),
    }
    return {key: value for key, value in metrics.items() if math.isfinite(value)}


def evaluate_heldout(
    model: PeftModel, tokenizer: Any, config: RunConfig, examples: Sequence[Example]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Evaluate the policy (`model`'s active adapter) on `examples`, judged by the base model: (metrics, sample
    rows). Training's mode, active adapter and random state are as before when it returns."""
    was_training, adapter = model.training, model.active_adapter
    device = next(model.parameters()).device
    cuda = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):  # training's CPU and CUDA generators restored on the way out
            result = evaluate(
                model, tokenizer, config, examples, config.eval_samples, config.heldout_seed, AdapterDisabled(model)
            )
    finally:
        model.set_adapter(adapter)
        model.train(was_training)
    return heldout_metrics(result, config, tokenizer), sample_rows(result, config.heldout_seed)


class HeldOutEvaluation(TrainerCallback):
    """Evaluates the held-out prompts at step 0 (unless resumed), every `eval_steps` steps and at the last step, and
    reports to the sink. Added after SinkCallback, so a step at which the sink asked to stop is not evaluated."""

    def __init__(
        self,
        model: PeftModel,
        tokenizer: Any,
        config: RunConfig,
        examples: Sequence[Example],
        sink: Sink,
        resumed: bool,
    ):
        self.model, self.tokenizer, self.config, self.examples = model, tokenizer, config, tuple(examples)
        self.sink, self.resumed = sink, resumed

    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        if not self.resumed and state.global_step == 0:
            self._evaluate(state, 0)

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        step, last = state.global_step, state.global_step >= state.max_steps
        if last or (not control.should_training_stop and step % self.config.eval_steps == 0):
            self._evaluate(state, step)

    def _evaluate(self, state: Any, step: int) -> None:
        if state.is_world_process_zero:
            metrics, samples = evaluate_heldout(self.model, self.tokenizer, self.config, self.examples)
            self.sink.log_evaluation(step, metrics, samples)
        if PartialState().num_processes > 1:
            PartialState().wait_for_everyone()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
