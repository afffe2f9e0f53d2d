"""The verifier-free reward recipes besides NOVER (DESIGN.md, "The verifier-free reward family"): small pure functions
of the numbers the scorer computes, standard library only. NOVER's own rule stays `training.rewards.score_group`.

A recipe turns one format-valid rollout into a raw value (`recipe_value`); `shape_group` turns the values of one
prompt's group into the rewards GRPO sees; `StdFilter` is RLPR's filter of prompts whose rewards hardly differ.
Every per-token input is a negative log-likelihood (NLL), p = exp(-nll).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from training.rewards import rank_lowest_first

SHAPINGS = ("rank", "raw")
REDUCTIONS = ("sum", "mean")


def _finite_nll(nll: Sequence[float], name: str) -> None:
    if not nll:
        raise ValueError(f"{name} is empty: a reference target has at least one token")
    bad = [v for v in nll if not math.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"{name} must hold finite, non-negative per-token NLLs, got {bad[0]!r}")


def probability_gain(with_reasoning: Sequence[float], without_reasoning: Sequence[float]) -> float:
    """RLPR (Yu et al., arXiv 2506.18254, eq. 3 and its debiasing): max(0, mean_i p(y_i | q, z) - mean_i p(y_i | q)),
    the mean reference-token probability after the reasoning, less the same without it, clipped at 0 as the
    public code's `threshold_0` shaping does.

    Token probabilities (0.5, 1.0) after the reasoning, (0.25, 0.5) without it: 0.75 - 0.375.

    >>> probability_gain([math.log(2), 0.0], [math.log(4), math.log(2)])
    0.375
    """
    _finite_nll(with_reasoning, "with_reasoning")
    _finite_nll(without_reasoning, "without_reasoning")
    with_mean = statistics.fmean(math.exp(-v) for v in with_reasoning)
    without_mean = statistics.fmean(math.exp(-v) for v in without_reasoning)
    return max(0.0, with_mean - without_mean)


def reference_logprob(nll: Sequence[float], reduction: str = "sum") -> float:
    """log p(y | q, z) = sum_i log p(y_i | q, z) (Kwiatkowski et al., arXiv 2602.03979), or its 'mean' over the
    reference tokens. Never positive.

    >>> reference_logprob([1.0, 3.0]), reference_logprob([1.0, 3.0], "mean")
    (-4.0, -2.0)
    """
    _finite_nll(nll, "nll")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    total = -math.fsum(nll)
    return total / len(nll) if reduction == "mean" else total


def sequence_probability(nll: Sequence[float]) -> float:
    """VeriFree (Zhou et al., arXiv 2505.21493): p(y | q, z) = prod_i p(y_i | q, z), in [0, 1].

    >>> round(sequence_probability([math.log(2), math.log(4)]), 12)
    0.125
    """
    _finite_nll(nll, "nll")
    return math.exp(-math.fsum(nll))


def self_certainty(token_kl: Sequence[float]) -> float:
    """Intuitor (Zhao et al., arXiv 2505.19590): the mean over the completion's tokens of KL(U || p(. | q, o_<t)),
    each KL computed by the scoring model (training.certainty); 0 for an empty completion. Never negative.

    >>> self_certainty([0.5, 1.5, 4.0])
    2.0
    """
    bad = [v for v in token_kl if not math.isfinite(v) or v < -1e-6]  # a KL is >= 0, up to float rounding
    if bad:
        raise ValueError(f"token_kl must hold finite, non-negative KL divergences, got {bad[0]!r}")
    return max(0.0, statistics.fmean(token_kl)) if token_kl else 0.0


def recipe_value(
    reward: str,
    with_reasoning: Sequence[float] | None = None,
    without_reasoning: Sequence[float] | None = None,
    token_kl: Sequence[float] | None = None,
    logprob_reduction: str = "sum",
) -> float:
    """The raw value of one format-valid rollout under `reward` (rlpr, logprob, verifree or self_certainty).

    >>> recipe_value("verifree", with_reasoning=[math.log(2)])
    0.5
    """
    if reward == "self_certainty":
        if token_kl is None:
            raise ValueError("reward 'self_certainty' needs token_kl, the completion's per-token KL(U || p)")
        return self_certainty(token_kl)
    if with_reasoning is None:
        raise ValueError(f"reward {reward!r} needs with_reasoning, the reference's per-token NLL after the reasoning")
    if reward == "rlpr":
        if without_reasoning is None:
            raise ValueError("reward 'rlpr' needs without_reasoning, the reference's per-token NLL without reasoning")
        return probability_gain(with_reasoning, without_reasoning)
    if reward == "logprob":
        return reference_logprob(with_reasoning, logprob_reduction)
    if reward == "verifree":
        return sequence_probability(with_reasoning)
    raise ValueError(f"recipe_value has no rule for reward {reward!r}; NOVER's is training.rewards.score_group")


def rank_rewards(values: Sequence[float]) -> list[float]:
    """NOVER's group rank with a higher value better: the best of n gets 1, the worst 1/n; ties share the mean of
    their ranks' rewards, so the order of the rollouts does not matter.

    >>> rank_rewards([0.1, 0.7, 0.4, 0.7])
    [0.25, 0.875, 0.5, 0.875]
    """
    return rank_lowest_first([-value for value in values])  # NOVER ranks perplexities, the lowest first


def shape_group(values: Sequence[float | None], shaping: str) -> list[float]:
    """The recipe component of ONE group's rollouts; None marks a format-invalid rollout.

    'rank' ranks the valid values as NOVER ranks perplexities (the best of n valid gets 1) and gives an invalid
    rollout 0. 'raw' passes each valid value through; an invalid rollout gets min(0, the group's lowest valid
    value). That is 0, as in NOVER, for every recipe whose values are never negative (rlpr, verifree,
    self-certainty), and for the log-probability, whose values are all negative, it is the group's worst valid
    value: were it 0, breaking the format would out-earn every valid answer and the policy would learn to break
    it. A floor rather than a shift keeps valid values as they are (GRPO's group normalisation ignores a shift
    anyway), and an invalid rollout never earns more than a valid one of its group.

    >>> shape_group([-4.0, None, -1.0], "raw"), shape_group([0.2, None, 0.5], "raw")
    ([-4.0, -4.0, -1.0], [0.2, 0.0, 0.5])
    >>> shape_group([0.2, None, 0.5], "rank")
    [0.5, 0.0, 1.0]
    """
    if shaping not in SHAPINGS:
        raise ValueError(f"shaping must be one of {', '.join(SHAPINGS)}, got {shaping!r}")
    valid_at = {i: v for i, v in enumerate(values) if v is not None}
    valid = list(valid_at.values())
    if any(not math.isfinite(v) for v in valid):
        raise ValueError(f"every valid rollout needs a finite recipe value, got {valid}")
    if shaping == "rank":
        ranked = dict(zip(valid_at, rank_rewards(valid)))
        return [ranked.get(i, 0.0) for i in range(len(values))]
    floor = min([0.0, *valid])
    return [valid_at.get(i, floor) for i in range(len(values))]


class StdFilter:
    """RLPR's standard-deviation filter (arXiv 2506.18254, section 2.3; settings from OpenBMB/RLPR's
    examples/RLPR/reproduce_qwen.sh: std_filter_beta 0.5, filter_ema_ratio 0.99, filter_target final_reward_std).

    Each step, `keep(stds)` takes the reward std of every group and says which groups train: a group whose std is
    below `ratio` x the EMA of past steps' mean group std trains nothing. Then the EMA takes this step's mean:
    ema <- decay * ema + (1 - decay) * mean(stds). The first step only starts the EMA and keeps every group (the
    public code also collects a few steps before it filters; the ratio compares a std with an average of stds, so
    population or sample std gives the same decision at a fixed group size).

    >>> f = StdFilter(ratio=0.5, decay=0.9)
    >>> f.keep([0.2, 0.4]), f.keep([0.1, 0.5]), round(f.ema, 4)
    ([True, True], [False, True], 0.3)
    """

    def __init__(self, ratio: float = 0.5, decay: float = 0.99):
        if not ratio >= 0 or not 0 <= decay < 1:
            raise ValueError(f"StdFilter needs ratio >= 0 and decay in [0, 1), got ratio {ratio!r}, decay {decay!r}")
        self.ratio, self.decay = ratio, decay
        self.ema: float | None = None

    def keep(self, stds: Sequence[float]) -> list[bool]:
        floor = None if self.ema is None else self.ratio * self.ema
        decision = [floor is None or std >= floor for std in stds]
        finite = [s for s in stds if math.isfinite(s)]
        if finite:
            mean = statistics.fmean(finite)
            self.ema = mean if self.ema is None else self.decay * self.ema + (1 - self.decay) * mean
        return decision


def group_std(values: Sequence[float]) -> float:
    """Population standard deviation of one group's total rewards (0 for a group of one).

    >>> group_std([1.0, 3.0])
    1.0
    """
    return statistics.pstdev(values) if len(values) > 1 else 0.0
