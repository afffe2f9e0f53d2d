"""Held-out evaluation of a model (base or with a trained adapter): sample, then score with NOVER's own scoring
(training/scorer.py `score_reasoning`) and the verifier.

Metrics: format-valid rate, mean NOVER reasoning perplexity of the reference (computed by the evaluated model
itself, over its format-valid samples), verifier accuracy where references are checkable, answer lengths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from training.config import RunConfig
from training.data import Example
from training.prompts import build_prompt
from training.rewards import verifier_match
from training.scorer import score_reasoning

GENERATION_BATCH = 8


@dataclass(frozen=True)
class EvalSample:
    example: Example
    completion: str
    valid: bool
    reasoning: str | None
    answer: str | None
    perplexity: float | None
    correct: bool | None
    completion_tokens: int


@dataclass(frozen=True)
class EvalResult:
    samples: tuple[EvalSample, ...]

    def metrics(self) -> dict[str, float]:
        valid = [s for s in self.samples if s.valid]
        perplexities = [s.perplexity for s in valid if s.perplexity is not None]
        checked = [s.correct for s in self.samples if s.correct is not None]
        return {
            "samples": float(len(self.samples)),
            "format_valid_rate": len(valid) / len(self.samples) if self.samples else math.nan,
            "mean_reference_perplexity": sum(perplexities) / len(perplexities) if perplexities else math.nan,
            "verifier_accuracy": sum(checked) / len(checked) if checked else math.nan,
            "mean_completion_tokens": sum(s.completion_tokens for s in self.samples) / max(1, len(self.samples)),
        }


def per_prompt_perplexity(result: EvalResult) -> dict[str, float]:
    """Mean reasoning perplexity of each prompt's format-valid samples (prompts with none are left out)."""
    by_prompt: dict[str, list[float]] = {}
    for sample in result.samples:
        if sample.perplexity is not None:
            by_prompt.setdefault(sample.example.id, []).append(sample.perplexity)
    return {key: sum(values) / len(values) for key, values in by_prompt.items()}


def paired_perplexity(before: EvalResult, after: EvalResult) -> tuple[float, float, int]:
    """Mean reference perplexity before and after over the prompts where both produced a valid sample.

    Comparing plain means is biased once the valid rate changes: a model that starts answering the hard
    prompts in format adds their (higher) perplexities to its mean. Pairing by prompt removes that.
    """
    a, b = per_prompt_perplexity(before), per_prompt_perplexity(after)
    shared = sorted(a.keys() & b.keys())
    if not shared:
        return math.nan, math.nan, 0
    return sum(a[k] for k in shared) / len(shared), sum(b[k] for k in shared) / len(shared), len(shared)


def generate(
    model, tokenizer, prompts: Sequence[str], config: RunConfig, samples: int, seed: int
) -> list[list[tuple[str, int]]]:
    """`samples` sampled completions (text, token count) per prompt, with the run's sampling settings."""
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    results: list[list[tuple[str, int]]] = []
    per_batch = max(1, GENERATION_BATCH // samples)
    for start in range(0, len(prompts), per_batch):
        batch = tokenizer(
            list(prompts[start : start + per_batch]), return_tensors="pt", padding=True, add_special_tokens=False
        ).to(device)
        with torch.no_grad():
            output = model.generate(
                **batch,
                do_sample=True,
                temperature=config.temperature,
                top_p=config.top_p,
                max_new_tokens=config.max_completion_length,
                num_return_sequences=samples,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :]  # (B*samples, T)
        for row in range(0, len(new_tokens), samples):
            group = []
            for ids in new_tokens[row : row + samples]:
                ids = ids[ids != tokenizer.pad_token_id]
                group.append((tokenizer.decode(ids, skip_special_tokens=True), len(ids)))
            results.append(group)
    return results


def evaluate(  # type: ignore[no-untyped-def]  # model, tokenizer and judge are torch/transformers objects
    model, tokenizer, config: RunConfig, examples: Sequence[Example], samples: int = 4, seed: int = 0, judge=None
) -> EvalResult:
    """Sample `samples` completions per example and score them.

    `judge` is the model that computes the reference perplexities (default: the evaluated model). Comparing
    checkpoints with one fixed judge (e.g. the base model) measures how predictable each model's reasoning
    makes the reference, rather than how each model's own calibration drifted during training.
    """
    judge = judge if judge is not None else model
    model.eval()
    judge.eval()
    prompts = [build_prompt(e.prompt, config, tokenizer) for e in examples]
    generated = generate(model, tokenizer, prompts, config, samples, seed)
    drawn = [  # (example, prompt, completion, completion tokens), one per sample
        (example, prompt, completion, n_tokens)
        for example, prompt, group in zip(examples, prompts, generated)
        for completion, n_tokens in group
    ]
    scores = score_reasoning(
        judge, tokenizer, config, [d[1] for d in drawn], [d[2] for d in drawn], [d[0].reference for d in drawn]
    )
    rows = []
    for (example, _prompt, completion, n_tokens), score in zip(drawn, scores):
        correct = score.valid and verifier_match(
            score.answer, example.reference, config.verifier_match, config.numeric_tolerance
        )
        rows.append(
            EvalSample(
                example, completion, score.valid, score.reasoning, score.answer, score.perplexity, correct, n_tokens
            )
        )
    return EvalResult(tuple(rows))
