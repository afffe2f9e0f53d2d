"""The alert rules every run gets unless its config turns them off (alert_defaults): what GRPO users meet most.

Each is a small pure function over a run's metric series (TRL's own metric keys, DESIGN.md's vocabulary) that
returns the evidence it saw (training/alerts.py's Fired) or None. The thresholds below say why they are where they
are; a rule fires on a streak of steps, never on one odd step.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from training.alerts import Fired, Points, Rule, Series, last_streak, number_text, span_text, steps_word, values_text

TRUNCATED_RATIO = 0.999
"""completions/clipped_ratio at or above this is every completion cut at max_completion_length (a float mean of
0/1 flags: 1.0 up to rounding)."""
TRUNCATED_STEPS = 2
"""Two steps in a row: one step of long completions happens; two mean the length limit shapes what is learned."""
ZERO_STD_FRACTION = 0.5
"""frac_reward_zero_std above this: most groups have one reward for every rollout, so their advantages are 0 and
they teach nothing (DAPO's dynamic sampling, arXiv 2503.14476, drops such groups for this reason)."""
ZERO_STD_STEPS = 3
"""Several steps in a row: a single step of identical rewards is common early on with small groups."""
BASELINE_STEPS = 3
"""Length and entropy are compared with their mean over the first this many logged steps (after step 0)."""
LENGTH_COLLAPSE_RATIO = 0.5
LENGTH_EXPLOSION_RATIO = 2.0
"""completions/mean_length below 0.5x or above 2x its first steps' mean: halving or doubling in length is far
beyond the step-to-step noise of a group mean, and both are the length drifts GRPO runs report."""
LENGTH_STEPS = 2
"""Two steps in a row, so one odd batch of prompts does not fire it."""
ENTROPY_COLLAPSE_RATIO = 0.2
"""entropy below a fifth of its first steps' mean: the policy has nearly stopped exploring, so its groups soon
share one completion and one reward (the entropy collapse of DAPO, arXiv 2503.14476, section 3.1)."""
ENTROPY_STEPS = 2
KL_SPIKE_RATIO = 5.0
"""kl above 5x the median of its earlier values: a jump, not a drift (KL grows slowly in a healthy run)."""
KL_SPIKE_FLOOR = 0.05
"""...and above this, so that the tiny values of the first steps (the policy still equals its reference, kl ~ 0)
do not make any small rise a spike."""
KL_HISTORY = 3
"""Earlier points a spike needs before it is one: a median of fewer says little."""
HELDOUT_POINTS = 2
"""Held-out evaluations after step 0 needed to say quality fell: step 0 is the base model, so the trend is read
over the evaluations of the trained policy."""
PERPLEXITY_RISE = 1.05
"""eval/perplexity rising by more than 5% from the first to the last of those evaluations, never falling between."""
RATE_FALL = 0.05
"""eval/format_valid or eval/accuracy falling by more than 5 points, never rising between: with 8 prompts x 2
samples one sample is 6 points, so this is at least one sample lost."""
REWARD_WINDOW = 3
"""The training reward at an evaluation is its mean over the last this many steps up to it (one step is noisy)."""


def default_rules(max_completion_length: int | None = None) -> tuple[Rule, ...]:
    """The rules every run gets unless its config turns them off (alert_defaults)."""
    return (
        Rule("all_truncated", ("completions/clipped_ratio",), lambda s: all_truncated(s, max_completion_length)),
        Rule("zero_reward_variance", ("frac_reward_zero_std",), zero_reward_variance),
        Rule("length_collapse", ("completions/mean_length",), length_collapse),
        Rule("length_explosion", ("completions/mean_length",), length_explosion),
        Rule("entropy_collapse", ("entropy",), entropy_collapse),
        Rule("kl_spike", ("kl",), kl_spike),
        Rule("heldout_falls_reward_rises", (*HELDOUT_TRENDS, "reward"), heldout_falls_reward_rises),
    )


def all_truncated(series: Series, max_completion_length: int | None = None) -> Fired | None:
    """Every completion cut at the length limit for TRUNCATED_STEPS steps in a row (the latest such streak).

    >>> all_truncated({"completions/clipped_ratio": [(1, 0.5), (2, 1.0), (3, 1.0)]}, 16).message
    'completions/clipped_ratio was 1 at steps 2-3: every completion hit max_completion_length 16'
    >>> all_truncated({"completions/clipped_ratio": [(1, 1.0), (2, 0.5)]}) is None
    True
    """
    key = "completions/clipped_ratio"
    streak = last_streak(series.get(key, ()), lambda value: value >= TRUNCATED_RATIO, TRUNCATED_STEPS)
    if streak is None:
        return None
    limit = f" {max_completion_length}" if max_completion_length else ""
    return Fired.from_points(
        "all_truncated",
        key,
        streak,
        f"{key} was 1 at steps {span_text(streak)}: every completion hit max_completion_length{limit}",
    )


def zero_reward_variance(series: Series) -> Fired | None:
    """Most groups with one reward for all their rollouts for ZERO_STD_STEPS steps in a row.

    >>> print(zero_reward_variance({"frac_reward_zero_std": [(1, 0.25), (2, 0.75), (3, 1.0), (4, 0.75)]}).message)
    ... # doctest: +NORMALIZE_WHITESPACE
    frac_reward_zero_std was 0.75, 1, 0.75 at steps 2-4: in most groups every rollout got the same reward,
    so their advantages were 0
    """
    key = "frac_reward_zero_std"
    streak = last_streak(series.get(key, ()), lambda value: value > ZERO_STD_FRACTION, ZERO_STD_STEPS)
    if streak is None:
        return None
    return Fired.from_points(
        "zero_reward_variance",
        key,
        streak,
        f"{key} was {values_text(streak)} at steps {span_text(streak)}: in most groups every rollout got the same "
        f"reward, so their advantages were 0",
    )


def length_collapse(series: Series) -> Fired | None:
    """completions/mean_length below LENGTH_COLLAPSE_RATIO x its first steps' mean for LENGTH_STEPS steps in a row.

    >>> length_collapse({"completions/mean_length": [(1, 60.0), (2, 62.0), (3, 58.0), (4, 40.0), (5, 25.0),
    ...     (6, 20.0)]}).message
    'completions/mean_length was 25, 20 at steps 5-6, 0.417x, 0.333x its mean of 60 over steps 1-3'
    """
    return _against_baseline(
        series, "length_collapse", "completions/mean_length", lambda ratio: ratio < LENGTH_COLLAPSE_RATIO, LENGTH_STEPS
    )


def length_explosion(series: Series) -> Fired | None:
    """completions/mean_length above LENGTH_EXPLOSION_RATIO x its first steps' mean for LENGTH_STEPS steps in a row.

    >>> length_explosion({"completions/mean_length": [(1, 10.0), (2, 10.0), (3, 10.0), (4, 21.0), (5, 30.0)]}).steps
    (4, 5)
    """
    return _against_baseline(
        series,
        "length_explosion",
        "completions/mean_length",
        lambda ratio: ratio > LENGTH_EXPLOSION_RATIO,
        LENGTH_STEPS,
    )


def entropy_collapse(series: Series) -> Fired | None:
    """entropy below ENTROPY_COLLAPSE_RATIO x its first steps' mean for ENTROPY_STEPS steps in a row.

    >>> entropy_collapse({"entropy": [(1, 1.0), (2, 1.2), (3, 0.8), (4, 0.1), (5, 0.05)]}).values
    (0.1, 0.05)
    >>> entropy_collapse({"entropy": [(1, 1.0), (2, 1.2), (3, 0.8), (4, 0.6), (5, 0.5)]}) is None
    True
    """
    return _against_baseline(
        series, "entropy_collapse", "entropy", lambda ratio: ratio < ENTROPY_COLLAPSE_RATIO, ENTROPY_STEPS
    )


def kl_spike(series: Series) -> Fired | None:
    """kl above KL_SPIKE_RATIO x the median of its earlier values (and above KL_SPIKE_FLOOR): the latest such run of
    steps.

    >>> kl_spike({"kl": [(1, 0.0), (2, 0.01), (3, 0.02), (4, 0.02), (5, 0.4)]}).message
    'kl was 0.4 at step 5, 26.7x the median of 0.015 over steps 1-4'
    >>> kl_spike({"kl": [(1, 0.0), (2, 0.01), (3, 0.02), (4, 0.03), (5, 0.04)]}) is None
    True
    """
    points = list(series.get("kl", ()))
    spikes: list[tuple[int, float, float]] = []  # (index, value, median before it)
    for index in range(KL_HISTORY, len(points)):
        median = statistics.median(value for _, value in points[:index])
        value = points[index][1]
        if value > KL_SPIKE_FLOOR and value > KL_SPIKE_RATIO * median:
            spikes.append((index, value, median))
    if not spikes:
        return None
    last = [spikes[-1]]
    for spike in reversed(spikes[:-1]):  # the consecutive spikes ending at the latest one
        if spike[0] != last[0][0] - 1:
            break
        last.insert(0, spike)
    streak = [points[index] for index, _, _ in last]
    first_index, _, median = last[0]
    history = points[:first_index]
    times = f"{number_text(streak[-1][1] / median)}x the median" if median > 0 else "above the median"
    return Fired.from_points(
        "kl_spike",
        "kl",
        streak,
        f"kl was {values_text(streak)} at {steps_word(streak)} {span_text(streak)}, {times} of "
        f"{number_text(median)} over steps {history[0][0]}-{history[-1][0]}",
    )


HELDOUT_TRENDS: dict[str, str] = {
    "eval/perplexity": "rose",
    "eval/format_valid": "fell",
    "eval/accuracy": "fell",
}
"""The held-out metrics (training/evaluate during training) whose worsening the reward-hacking rule looks for, and
which way is worse."""


def heldout_falls_reward_rises(series: Series) -> Fired | None:
    """A held-out metric worsening at each of its evaluations after step 0 while the training reward rose over the
    same steps (the reward measured as its mean over REWARD_WINDOW steps up to each evaluation).

    >>> fired = heldout_falls_reward_rises({"eval/perplexity": [(0, 9.0), (2, 8.0), (4, 9.0), (6, 10.0)],
    ...     "reward": [(1, 0.2), (2, 0.3), (3, 0.4), (4, 0.5), (5, 0.6), (6, 0.7)]})
    >>> print(fired.message)  # doctest: +NORMALIZE_WHITESPACE
    eval/perplexity rose from 8 to 10 over the held-out evaluations at steps 2, 4, 6
    while reward rose from 0.25 to 0.6
    >>> fired.steps, fired.values
    ((2, 4, 6), (8.0, 9.0, 10.0))
    """
    reward = list(series.get("reward", ()))
    for key, way in HELDOUT_TRENDS.items():
        points = [(step, value) for step, value in series.get(key, ()) if step > 0]
        if len(points) < HELDOUT_POINTS or not _worsens(points, way):
            continue
        before, after = _window_mean(reward, points[0][0]), _window_mean(reward, points[-1][0])
        if before is None or after is None or not after > before:
            continue
        return Fired.from_points(
            "heldout_falls_reward_rises",
            key,
            points,
            f"{key} {way} from {number_text(points[0][1])} to {number_text(points[-1][1])} over the held-out "
            f"evaluations at steps {', '.join(str(step) for step, _ in points)} while reward rose from "
            f"{number_text(before)} to {number_text(after)}",
        )
    return None


def _against_baseline(
    series: Series, rule: str, key: str, holds: Callable[[float], bool], at_least: int
) -> Fired | None:
    points = [(step, value) for step, value in series.get(key, ()) if step > 0]
    baseline_points = points[:BASELINE_STEPS]
    if len(baseline_points) < BASELINE_STEPS:
        return None
    baseline = statistics.fmean(value for _, value in baseline_points)
    if baseline <= 0:
        return None
    streak = last_streak(points[BASELINE_STEPS:], lambda value: holds(value / baseline), at_least)
    if streak is None:
        return None
    ratios = ", ".join(f"{number_text(value / baseline)}x" for _, value in streak)
    return Fired.from_points(
        rule,
        key,
        streak,
        f"{key} was {values_text(streak)} at {steps_word(streak)} {span_text(streak)}, {ratios} its mean of "
        f"{number_text(baseline)} over steps {span_text(baseline_points)}",
    )


def _worsens(points: Points, way: str) -> bool:
    values = [value for _, value in points]
    pairs = list(zip(values, values[1:]))
    if way == "rose":
        return all(b >= a for a, b in pairs) and values[0] > 0 and values[-1] > PERPLEXITY_RISE * values[0]
    return all(b <= a for a, b in pairs) and values[0] - values[-1] > RATE_FALL


def _window_mean(points: Sequence[tuple[int, float]], step: int) -> float | None:
    window = [value for at, value in points if at <= step][-REWARD_WINDOW:]
    return statistics.fmean(window) if window else None
