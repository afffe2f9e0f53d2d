"""Failure flags: the usual ways a GRPO rollout or a step goes wrong, named so the Traces tab can filter by them and
the metrics can count them (as `flags/<snake_case>` keys).

Pure functions over rollouts: the Store's records (the dashboard) or the rows a step is written with (the worker
counts the flags into the step's metrics). The tag flags trust the stored `format_valid` (the trainer's rule, with
the run's tag names): a format-valid rollout never gets "missing tags" or "malformed tags"; for the others they say
which way the tags failed. An invalid rollout can have neither, when its four tags are fine but extra text sits
outside them.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol


class RolloutRecord(Protocol):
    """What the flags read of a rollout (storage's RolloutRecord has it; training imports no storage)."""

    step: int
    group_index: int
    completion: str
    answer: str | None
    reward: float
    reasoning_tokens: int | None
    truncated: bool
    format_valid: bool


ROLLOUT_FLAGS: tuple[str, ...] = (
    "truncated",
    "missing tags",
    "malformed tags",
    "empty answer",
    "repetition",
    "long reasoning",
)
STEP_FLAGS: tuple[str, ...] = ("all invalid", "zero reward variance")
METRIC_PREFIX = "flags/"
ZERO_VARIANCE_GROUPS_KEY = "flags/groups_with_zero_reward_variance"
ALL_INVALID_KEY = "flags/all_invalid"
"""1 at a step where no rollout was format-valid (no NOVER signal at all), else 0."""

REPETITION_NGRAM = 4
"""Words per n-gram in the repetition check (words split on whitespace, compared lower-cased)."""
REPETITION_MIN_COUNT = 3
"""An n-gram seen this many times (overlapping occurrences count) flags the rollout as repetitive."""
LONG_REASONING_FACTOR = 2.0
"""Reasoning longer than this many times the group's median reasoning length is flagged..."""
LONG_REASONING_MIN_TOKENS = 16
"""...provided it is also longer than this, so a group of 3-token reasonings does not flag a 7-token one."""
ZERO_VARIANCE_TOLERANCE = 1e-9


def metric_key(flag: str) -> str:
    """'missing tags' -> 'flags/missing_tags'."""
    return METRIC_PREFIX + flag.replace(" ", "_")


def rollout_flags(
    rollout: RolloutRecord,
    group: Sequence[RolloutRecord],
    intermediate_tag: str = "think",
    final_tag: str = "answer",
    prefill: str = "",
) -> list[str]:
    """The ROLLOUT_FLAGS that apply to `rollout`, in ROLLOUT_FLAGS order; `group` is its prompt's group (only
    "long reasoning" looks at it). Tags are matched exactly, as `<think>` and `</think>`, in `prefill` (the
    opening tag a prefilled run put in the prompt, which the stored completion lacks) + the completion.

    A rollout that started a second answer block and ran into the token limit:

    >>> r = RolloutRecord(id=1, run_id=1, step=0, group_index=0, sample_index=0, prompt_id=0, prompt="", reference="",
    ...     completion="<think>hm</think><answer>4</answer><answer>4", reasoning="hm", answer="4", reward=0.0,
    ...     reward_format=0.0, reward_reasoning=0.0, reward_efficiency=0.0, perplexity=None, reasoning_tokens=2,
    ...     completion_tokens=20, advantage=None, truncated=True, format_valid=False, extras=None)
    >>> rollout_flags(r, [r])
    ['truncated', 'malformed tags']
    """
    return [flag for flag in ROLLOUT_FLAGS if has_flag(rollout, group, flag, intermediate_tag, final_tag, prefill)]


def has_flag(
    rollout: RolloutRecord,
    group: Sequence[RolloutRecord],
    flag: str,
    intermediate_tag: str = "think",
    final_tag: str = "answer",
    prefill: str = "",
) -> bool:
    """Whether one flag of ROLLOUT_FLAGS applies, computing only that flag (unknown flag -> ValueError)."""
    if flag not in ROLLOUT_FLAGS:
        raise ValueError(f"unknown flag {flag!r}; choose one of {', '.join(map(repr, ROLLOUT_FLAGS))}")
    return _CHECKS[flag](rollout, group, (intermediate_tag, final_tag, prefill))


def step_flags(rollouts: Sequence[RolloutRecord]) -> list[str]:
    """The STEP_FLAGS that apply to one step's rollouts: "all invalid" when none is format-valid, "zero reward
    variance" when some group's rewards are all equal (GRPO then has no advantage, so no gradient, for that group).
    No rollouts -> no flags."""
    flags = []
    if rollouts and not any(r.format_valid for r in rollouts):
        flags.append("all invalid")
    if _zero_variance_groups(rollouts):
        flags.append("zero reward variance")
    return flags


def flag_counts(
    rollouts: Sequence[RolloutRecord], intermediate_tag: str = "think", final_tag: str = "answer", prefill: str = ""
) -> dict[str, int]:
    """For one step: how many rollouts carry each rollout flag (keyed `flags/truncated`, `flags/missing_tags`, ...,
    every flag present, 0 allowed) and how many groups have zero reward variance
    (`flags/groups_with_zero_reward_variance`), and `flags/all_invalid` (1 or 0). Ready to log as metrics."""
    counts = {metric_key(flag): 0 for flag in ROLLOUT_FLAGS}
    for group in _groups(rollouts):
        for rollout in group:
            for flag in rollout_flags(rollout, group, intermediate_tag, final_tag, prefill):
                counts[metric_key(flag)] += 1
    counts[ZERO_VARIANCE_GROUPS_KEY] = _zero_variance_groups(rollouts)
    counts[ALL_INVALID_KEY] = int("all invalid" in step_flags(rollouts))
    return counts


def _zero_variance_groups(rollouts: Sequence[RolloutRecord]) -> int:
    return sum(
        max(r.reward for r in group) - min(r.reward for r in group) <= ZERO_VARIANCE_TOLERANCE
        for group in _groups(rollouts)
    )


def _groups(rollouts: Sequence[RolloutRecord]) -> list[list[RolloutRecord]]:
    groups: dict[tuple[int, int], list[RolloutRecord]] = {}
    for rollout in rollouts:
        groups.setdefault((rollout.step, rollout.group_index), []).append(rollout)
    return list(groups.values())


Tags = tuple[str, str, str]
"""(intermediate tag, final tag, prefill)."""


def _tag_counts(rollout: RolloutRecord, tags: Tags) -> list[int]:
    text = tags[2] + rollout.completion
    return [text.count(f"<{slash}{tag}>") for tag in tags[:2] for slash in ("", "/")]


def _missing_tags(rollout: RolloutRecord, _group: Sequence[RolloutRecord], tags: Tags) -> bool:
    return not rollout.format_valid and 0 in _tag_counts(rollout, tags)


def _malformed_tags(rollout: RolloutRecord, _group: Sequence[RolloutRecord], tags: Tags) -> bool:
    """A tag repeated, or all four present once but not in the order open, close, open, close."""
    if rollout.format_valid:
        return False
    counts = _tag_counts(rollout, tags)
    if any(count > 1 for count in counts):
        return True
    if 0 in counts:
        return False
    text = tags[2] + rollout.completion
    positions = [text.find(f"<{slash}{tag}>") for tag in tags[:2] for slash in ("", "/")]
    return positions != sorted(positions)


def _repetition(rollout: RolloutRecord, _group: Sequence[RolloutRecord], _tags: Tags) -> bool:
    words = rollout.completion.lower().split()
    ngrams = Counter(zip(*(words[i:] for i in range(REPETITION_NGRAM))))
    return bool(ngrams) and max(ngrams.values()) >= REPETITION_MIN_COUNT


def _long_reasoning(rollout: RolloutRecord, group: Sequence[RolloutRecord], _tags: Tags) -> bool:
    if rollout.reasoning_tokens is None or rollout.reasoning_tokens <= LONG_REASONING_MIN_TOKENS:
        return False
    lengths = [r.reasoning_tokens for r in group if r.reasoning_tokens is not None]
    return rollout.reasoning_tokens > LONG_REASONING_FACTOR * statistics.median(lengths)


_CHECKS: dict[str, Callable[[RolloutRecord, Sequence[RolloutRecord], Tags], bool]] = {
    "truncated": lambda rollout, _group, _tags: rollout.truncated,
    "missing tags": _missing_tags,
    "malformed tags": _malformed_tags,
    "empty answer": lambda rollout, _group, _tags: rollout.format_valid and not (rollout.answer or "").strip(),
    "repetition": _repetition,
    "long reasoning": _long_reasoning,
}
