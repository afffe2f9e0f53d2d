"""How long a run will take, and whether its data fits its model, before it is queued.

Pure: records and numbers in, plain lines out (numbers and run ids only, no names, so callers may put them in
Markdown as they are). The Train tab's cost line shows them (nover_ui/train_tab.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from storage import RunRecord
from training.config import DEFAULT_MODEL, RunConfig

RULE_S_PER_TOKEN = 0.026
"""Seconds per generated token of a step with the default model on a 2-core CPU: a TRL GRPO step of 8 rollouts x
64 tokens took 12-15 s there (DESIGN.md). Used only while no run of the model has been timed here."""
CHARS_PER_TOKEN = 4
"""A rough English tokenizer average: enough to compare a prompt with a completion budget."""
LONG_FOR_COMPLETION = 0.5
"""Prompts longer than this share of max_completion_length (in tokens) rarely get reasoning and an answer in."""
SMALL_MODEL_PROMPT_TOKENS = 64
"""The default 135M model gave 0-1 format-valid rollouts of 32-48 on NaturalReasoning questions (~120 tokens),
and some on short everyday questions (~13 tokens, the demo set): DESIGN.md's table."""


@dataclass(frozen=True)
class TimedRun:
    """A run of this dashboard with a measured step time."""

    run_id: int
    model: str
    rollouts: int
    completion_length: int
    step_time_s: float

    @property
    def tokens(self) -> int:
        """The generated-token budget of its steps: what step time grows with."""
        return self.rollouts * self.completion_length


def timed_runs(runs: Sequence[RunRecord], step_times: Mapping[int, float]) -> list[TimedRun]:
    """The runs with a step time (the mean of their recent step_time values), newest first."""
    timed = []
    for run in runs:
        seconds = step_times.get(run.id)
        config = run.config
        try:
            rollouts = int(config["prompts_per_step"]) * int(config["num_generations"])
            length = int(config["max_completion_length"])
        except (KeyError, TypeError, ValueError):  # an imported run's config may lack them
            continue
        if seconds and seconds > 0 and rollouts > 0 and length > 0:
            timed.append(TimedRun(run.id, str(config.get("model", "")), rollouts, length, float(seconds)))
    return sorted(timed, key=lambda run: run.run_id, reverse=True)


def estimate_lines(config: RunConfig, timed: Sequence[TimedRun]) -> list[str]:
    """The step time and run time of `config` and what they are based on.

    >>> config = RunConfig(max_steps=1_000_000, num_generations=8, max_completion_length=64)
    >>> line = estimate_lines(config, [TimedRun(3, DEFAULT_MODEL, 8, 128, 20.0)])[0]
    >>> line[:70]
    'Estimated step time about 10 s, run time about 116 days (1,000,000 ste'
    >>> line[70:]  # doctest: +NORMALIZE_WHITESPACE
    'ps): run #3 of the same model took 20 s a step for 8 rollouts x 128 tokens here,
     scaled by rollouts x completion length.'
    """
    estimate = step_estimate(config, timed)
    if estimate is None:
        return [
            "Estimated time: unknown; no run of this model has been timed here yet (the Runs tab shows the step "
            "time once its first steps land)."
        ]
    step_s, source = estimate
    return [
        f"Estimated step time about {duration_text(step_s)}, run time about "
        f"{duration_text(step_s * config.max_steps)} ({config.max_steps:,} steps): {source}."
    ]


def step_estimate(config: RunConfig, timed: Sequence[TimedRun]) -> tuple[float, str] | None:
    """Seconds a step of `config` should take and what that is based on; None when nothing is known (a model
    other than the default that no run here has timed)."""
    tokens = config.prompts_per_step * config.num_generations * config.max_completion_length
    shape = f"{config.prompts_per_step * config.num_generations} rollouts x {config.max_completion_length} tokens"
    same_model = [run for run in timed if run.model == config.model]
    if same_model:
        base = min(same_model, key=lambda run: (abs(run.tokens - tokens), -run.run_id))  # the closest, newest
        exact = base.tokens == tokens
        source = (
            f"run #{base.run_id} of the same model took {duration_text(base.step_time_s)} a step for "
            f"{base.rollouts} rollouts x {base.completion_length} tokens here"
            + ("" if exact else ", scaled by rollouts x completion length")
        )
        return base.step_time_s * tokens / base.tokens, source
    if config.model == DEFAULT_MODEL:
        source = (
            f"no run of this model timed here yet, so a rule: {RULE_S_PER_TOKEN * 1000:.0f} ms per generated token "
            f"({shape}), as the default model on a 2-core CPU (a GPU is faster)"
        )
        return RULE_S_PER_TOKEN * tokens, source
    return None


def data_warnings(config: RunConfig, prompt_chars: float | None) -> list[str]:
    """What to fix before training when the data's prompts are long for the completion budget or the model.

    >>> data_warnings(RunConfig(max_completion_length=64), 468.0)[0][:60]
    'Prompts are long for max_completion_length: the mean prompt '
    >>> data_warnings(RunConfig(max_completion_length=256, model="Qwen/Qwen2.5-7B-Instruct"), 468.0)
    []
    """
    if not prompt_chars:
        return []
    prompt_tokens = prompt_chars / CHARS_PER_TOKEN
    warnings = []
    if prompt_tokens > LONG_FOR_COMPLETION * config.max_completion_length:
        warnings.append(
            f"Prompts are long for max_completion_length: the mean prompt is about {prompt_tokens:,.0f} tokens "
            f"({prompt_chars:,.0f} characters) and a rollout may write {config.max_completion_length:,}, so "
            f"many will be cut off before the closing tag and score 0. Raise max_completion_length "
            f"(to {_round_up(4 * prompt_tokens):,} or more) or use shorter prompts."
        )
    if config.model == DEFAULT_MODEL and prompt_tokens > SMALL_MODEL_PROMPT_TOKENS:
        warnings.append(
            f"The small default model rarely writes a format-valid rollout for prompts this long (about "
            f"{prompt_tokens:,.0f} tokens); without valid rollouts NOVER has no signal. Use a larger model (on a "
            f"GPU), or keep format_example and prefill_intermediate on and try a few steps first."
        )
    return warnings


def duration_text(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable.

    >>> [duration_text(s) for s in (4.24, 90, 7200, 3 * 86400, 2.5 * 365.25 * 86400)]
    ['4.2 s', '1.5 min', '2.0 h', '3.0 days', '2.5 years']
    """
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= (2 if unit in ("years", "days") else 1) * size:
            return f"{seconds / size:,.1f} {unit}" if seconds < 100 * size else f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _round_up(tokens: float) -> int:
    """Up to a multiple of 64, as completion budgets usually are."""
    return max(64, -(-int(tokens) // 64) * 64)
