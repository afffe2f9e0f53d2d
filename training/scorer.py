"""NOVER scoring: format check, reasoning perplexity of the reference, and, for a training step, group rewards.

`score_reasoning` is NOVER's judgement of completions, the one place it is computed: training
(`NoverScorer.score`, with the proxy adapter as judge) and held-out evaluation (training/evaluate.py, with the
base or evaluated model as judge) both call it. One `NoverScorer.score` call per step computes every rollout's
reasoning perplexity once, batched. Groups are formed by prompt identity (not by position), so the ranking is
right for any batch layout; under several processes the per-rollout numbers are gathered before ranking.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from training.config import RunConfig
from training.prompts import completion_with_prefill
from training.rewards import RewardBreakdown, RewardWeights, format_valid, reasoning_perplexity, score_group

SCORE_BATCH_SIZE = 16
Gather = Callable[[list], list]
"""Concatenates a list from every process in rank order (accelerate's gather_object); identity for one."""


@dataclass(frozen=True)
class ReasoningScore:
    """NOVER's judgement of one completion: its parts, and how predictable its reasoning makes the reference."""

    valid: bool
    reasoning: str | None
    answer: str | None
    reasoning_tokens: int | None
    """None when format-invalid, as the two fields below."""
    target_nll: tuple[float, ...] | None
    """Per-token NLL of the reference target given the prompt and this completion's reasoning."""
    perplexity: float | None


@dataclass(frozen=True)
class ScoredRollout:
    example_id: str
    valid: bool
    reasoning: str | None
    answer: str | None
    reasoning_tokens: int | None
    perplexity: float | None
    rewards: RewardBreakdown
    target_nll: tuple[float, ...] | None
    """Per-token NLL of the reference given this rollout's reasoning (None when format-invalid)."""


def target_token_nll(
    model: torch.nn.Module,
    tokenizer,
    prefixes: Sequence[str],
    targets: Sequence[str],
    batch_size: int = SCORE_BATCH_SIZE,
) -> list[list[float]]:
    """NLL of each target token given prefix + the target tokens before it, for each (prefix, target) pair.

    Prefix and target are tokenized separately and their ids concatenated, so the target positions are exact
    (no token straddles the boundary). Rows are left-padded so every target ends the row and only the last
    positions' logits are computed.
    """
    results: list[list[float]] = []
    device = next(model.parameters()).device
    for start in range(0, len(prefixes), batch_size):
        prefix_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prefixes[start : start + batch_size]]
        target_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in targets[start : start + batch_size]]
        rows = [p + t for p, t in zip(prefix_ids, target_ids)]
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)  # (B, L)
        attention_mask = torch.zeros_like(input_ids)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row) :] = torch.tensor(row)
            attention_mask[i, width - len(row) :] = 1
        # Left padding shifts real tokens right; positions must count from each row's first real token.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        keep = max(map(len, target_ids)) + 1
        with torch.no_grad():
            logits = model(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                position_ids=position_ids.to(device),
                logits_to_keep=keep,
                use_cache=False,  # one pass, nothing to continue: a key/value cache would only hold memory
            ).logits  # (B, keep, V)
        log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, keep-1, V): predicts the last keep-1
        tail = input_ids[:, width - keep + 1 :].to(device)  # (B, keep-1)
        token_nll = -log_probs.gather(-1, tail.unsqueeze(-1)).squeeze(-1)  # (B, keep-1)
        for i, target in enumerate(target_ids):
            results.append(token_nll[i, token_nll.shape[1] - len(target) :].tolist())
    return results


def reasoning_prefix(prompt: str, reasoning: str, config: RunConfig) -> str:
    """The prompt as the policy saw it, then the reasoning block (a prefilled opening tag belongs to the block)."""
    tag = config.intermediate_tag
    opening = f"<{tag}>\n"
    if config.prefill_intermediate and prompt.endswith(opening):
        prompt = prompt[: -len(opening)]
    return f"{prompt}<{tag}>\n{reasoning}\n</{tag}>\n"


def reference_target(reference: str, config: RunConfig) -> str:
    """The scored text: the reference wrapped in the final tags."""
    return f"\n<{config.final_tag}>\n{reference}\n</{config.final_tag}>"


def score_reasoning(
    judge: torch.nn.Module,
    tokenizer,
    config: RunConfig,
    prompts: Sequence[str],
    completions: Sequence[str],
    references: Sequence[str],
) -> list[ReasoningScore]:
    """Parse each completion (after the prompt's prefill) and, when it is format-valid, score its reasoning: the
    judge's per-token NLL of the reference target after the prompt and the reasoning block, and the reasoning
    perplexity of the mean NLL. `prompts` are exactly what the policy saw; the judge's mode (eval, adapter) is
    the caller's to set."""
    tags = (config.intermediate_tag, config.final_tag)
    parsed = [format_valid(completion_with_prefill(c, config), *tags) for c in completions]
    valid_rows = [i for i, (ok, _, _) in enumerate(parsed) if ok]
    prefixes = [reasoning_prefix(prompts[i], parsed[i][1] or "", config) for i in valid_rows]
    targets = [reference_target(references[i], config) for i in valid_rows]
    nll = dict(zip(valid_rows, target_token_nll(judge, tokenizer, prefixes, targets))) if valid_rows else {}
    scores = []
    for i, (ok, reasoning, answer) in enumerate(parsed):
        if i not in nll:
            scores.append(ReasoningScore(ok, reasoning, answer, None, None, None))
            continue
        tokens = len(tokenizer(reasoning or "", add_special_tokens=False)["input_ids"])
        perplexity = reasoning_perplexity(sum(nll[i]) / len(nll[i]), tokens)
        scores.append(ReasoningScore(ok, reasoning, answer, tokens, tuple(nll[i]), perplexity))
    return scores


class NoverScorer:
    """Scores rollouts with a proxy model; `proxy()` is a context manager that makes the model act as it."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        config: RunConfig,
        proxy: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        gather: Gather = lambda items: items,
        process_index: int = 0,
    ):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.weights = RewardWeights(config.format_weight, config.reasoning_weight, config.efficiency_weight)
        self._proxy, self._gather, self._process_index = proxy, gather, process_index

    def score(
        self, prompts: Sequence[str], completions: Sequence[str], example_ids: Sequence[str], references: Sequence[str]
    ) -> list[ScoredRollout]:
        """Score this process's rollouts; prompts are exactly what the policy saw (prefill included)."""
        with self._scoring_mode():
            scores = score_reasoning(self.model, self.tokenizer, self.config, prompts, completions, references)

        # Tagged with the process index so each process can pick its own rows out of everyone's ranking.
        local = [
            (self._process_index, example_id, score.valid, score.perplexity, score.reasoning_tokens)
            for example_id, score in zip(example_ids, scores)
        ]
        everyone = self._gather(local)
        ranked = self._rank([row[1:] for row in everyone])
        rewards = [reward for row, reward in zip(everyone, ranked) if row[0] == self._process_index]
        return [
            ScoredRollout(
                example_id,
                score.valid,
                score.reasoning,
                score.answer,
                score.reasoning_tokens,
                score.perplexity,
                reward,
                score.target_nll,
            )
            for example_id, score, reward in zip(example_ids, scores, rewards)
        ]

    def baseline_nll(self, prompts: Sequence[str], references: Sequence[str]) -> list[list[float]]:
        """Per-token NLL of each reference after an empty reasoning block: what the reasoning is compared to."""
        with self._scoring_mode():
            return target_token_nll(
                self.model,
                self.tokenizer,
                [self.reasoning_prefix(p, "") for p in prompts],
                [self.target(r) for r in references],
            )

    def target_tokens(self, references: Sequence[str]) -> list[list[str]]:
        """Each reference target as the text of its tokens, aligned with target_nll/baseline_nll entries.

        The dashboard shows per-token gains next to these strings; its process cannot load a tokenizer.
        """
        ids = [self.tokenizer(self.target(r), add_special_tokens=False)["input_ids"] for r in references]
        return [[self.tokenizer.decode([token]) for token in row] for row in ids]

    def reasoning_prefix(self, prompt: str, reasoning: str) -> str:
        return reasoning_prefix(prompt, reasoning, self.config)

    def target(self, reference: str) -> str:
        return reference_target(reference, self.config)

    def _rank(self, rollouts: list[tuple[str, bool, float | None, int | None]]) -> list[RewardBreakdown]:
        groups: dict[str, list[int]] = {}
        for index, (example_id, *_rest) in enumerate(rollouts):
            groups.setdefault(example_id, []).append(index)
        rewards: list[RewardBreakdown | None] = [None] * len(rollouts)
        for members in groups.values():
            scored = score_group(
                [rollouts[i][1] for i in members],
                [rollouts[i][2] for i in members],
                [rollouts[i][3] for i in members],
                self.weights,
            )
            for i, breakdown in zip(members, scored):
                rewards[i] = breakdown
        return rewards  # type: ignore[return-value]  # every slot was filled by its group above

    @contextlib.contextmanager
    def _scoring_mode(self) -> Iterator[None]:
        # Dropout off while scoring: a reward must not depend on a dropout draw.
        was_training = self.model.training
        self.model.eval()
        try:
            with self._proxy():
                yield
        finally:
            self.model.train(was_training)


def mean_finite(values: Sequence[float | None]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
