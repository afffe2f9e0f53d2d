"""Scoring: format check, reasoning perplexity of the reference, and, for a training step, every recipe's rewards.

`score_reasoning` is NOVER's judgement of completions for held-out evaluation (training/evaluate.py, with the base or
evaluated model as judge). A training step calls `NoverScorer.score` once: the same prefixes, targets and perplexity,
plus the reference with no reasoning, all in one batched pass (the recipes' math is training/recipes.py, the group
rewards training/group_rewards.py). Groups are formed by prompt identity (not by position), so the ranking is right
for any batch layout; under several processes the per-rollout numbers are gathered before ranking.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from training.certainty import token_self_certainty
from training.config import REFERENCE_REWARDS, RunConfig
from training.group_rewards import RolloutNumbers, group_rewards
from training.prompts import completion_with_prefill
from training.recipes import recipe_value
from training.rewards import RewardBreakdown, format_valid, reasoning_perplexity, verifier_match

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
    baseline_nll: tuple[float, ...] | None = None
    """Per-token NLL of the reference with no reasoning (reference-based recipes; the same for a whole group)."""
    components: dict[str, float] = field(default_factory=dict)
    """Every reward component by name, unweighted (training.group_rewards)."""
    recipe_value: float | None = None
    """The recipe's raw value before shaping (recipes other than NOVER and the verifier; valid rollouts)."""


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
    """Scores a step's rollouts under the run's recipe with its scoring model: the proxy adapter (`proxy()`, a context
    manager that makes the model act as it) or the live policy (`proxy` left as a null context).

    Reference-based recipes (nover, rlpr, logprob, verifree) take ONE batched pass: the reference after each valid
    rollout's reasoning, and after no reasoning once per distinct prompt (RLPR's debiasing term and the token view's
    baseline). Self-certainty takes one pass over prompt + completion tokens. The verifier needs no model.
    """

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
        self._proxy, self._gather, self._process_index = proxy, gather, process_index

    def score(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        example_ids: Sequence[str],
        references: Sequence[str],
        completion_ids: Sequence[Sequence[int]] | None = None,
    ) -> list[ScoredRollout]:
        """Score this process's rollouts; prompts are exactly what the policy saw (prefill included).
        `completion_ids` (TRL passes them) are needed by self-certainty only."""
        c = self.config
        tags = (c.intermediate_tag, c.final_tag)
        parsed = [format_valid(completion_with_prefill(text, c), *tags) for text in completions]
        valid_rows = [i for i, (ok, _, _) in enumerate(parsed) if ok]
        with_nll: dict[int, list[float]] = {}
        baseline: dict[int, list[float]] = {}
        token_kl: dict[int, list[float]] = {}
        if c.reward in REFERENCE_REWARDS:
            with self._scoring_mode():
                with_nll, baseline = self._reference_pass(prompts, parsed, valid_rows, references)
        elif c.reward == "self_certainty" and valid_rows:
            if completion_ids is None:
                raise ValueError("reward 'self_certainty' needs completion_ids, the completions' token ids")
            with self._scoring_mode():
                kls = token_self_certainty(
                    self.model,
                    [self.tokenizer(prompts[i])["input_ids"] for i in valid_rows],  # tokenized as TRL tokenizes them
                    [completion_ids[i] for i in valid_rows],
                    self.tokenizer.pad_token_id,
                )
            token_kl = dict(zip(valid_rows, kls))

        numbers = []
        for i, (ok, reasoning, answer) in enumerate(parsed):
            perplexity = tokens = value = None
            if i in with_nll:
                tokens = len(self.tokenizer(reasoning or "", add_special_tokens=False)["input_ids"])
                perplexity = reasoning_perplexity(sum(with_nll[i]) / len(with_nll[i]), tokens)
            if ok and c.reward not in ("nover", "verifier"):
                value = recipe_value(c.reward, with_nll.get(i), baseline.get(i), token_kl.get(i), c.logprob_reduction)
            correct = None
            if ok and (c.reward == "verifier" or c.verifier_weight > 0):
                correct = verifier_match(answer, references[i], c.verifier_match, c.numeric_tolerance)
            numbers.append(RolloutNumbers(example_ids[i], ok, perplexity, tokens, value, correct))

        # Tagged with the process index so each process can pick its own rows out of everyone's rewards.
        everyone = self._gather([(self._process_index, n) for n in numbers])
        grouped = group_rewards([n for _, n in everyone], c)
        mine = [g for (index, _), g in zip(everyone, grouped) if index == self._process_index]
        return [
            ScoredRollout(
                n.example_id,
                ok,
                reasoning,
                answer,
                n.reasoning_tokens,
                n.perplexity,
                g.breakdown,
                tuple(with_nll[i]) if i in with_nll else None,
                tuple(baseline[i]) if i in baseline else None,
                g.components,
                n.recipe_value,
            )
            for i, ((ok, reasoning, answer), n, g) in enumerate(zip(parsed, numbers, mine))
        ]

    def _reference_pass(
        self,
        prompts: Sequence[str],
        parsed: Sequence[tuple[bool, str | None, str | None]],
        valid_rows: Sequence[int],
        references: Sequence[str],
    ) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
        """Per-token NLL of the reference after each valid rollout's reasoning, and after an empty reasoning block
        for every rollout (computed once per distinct prompt), both in one target_token_nll call."""
        distinct: dict[tuple[str, str], list[int]] = {}
        for i, (prompt, reference) in enumerate(zip(prompts, references)):
            distinct.setdefault((prompt, reference), []).append(i)
        prefixes = [self.reasoning_prefix(prompts[i], parsed[i][1] or "") for i in valid_rows]
        prefixes += [self.reasoning_prefix(prompt, "") for prompt, _ in distinct]
        targets = [self.target(references[i]) for i in valid_rows] + [self.target(r) for _, r in distinct]
        nll = target_token_nll(self.model, self.tokenizer, prefixes, targets)
        with_nll = dict(zip(valid_rows, nll))
        baseline = {i: nll[len(valid_rows) + k] for k, rows in enumerate(distinct.values()) for i in rows}
        return with_nll, baseline

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
