"""Failure flags: the usual ways a GRPO rollout or a step goes wrong, named so the Traces tab can filter by them and
the metrics can count them (as `flags/<snake_case>` keys).

Computed once, when the worker writes a step (`flag_step`): each rollout's flags are stored with it, stamped with
FLAGS_VERSION, and counted into the step's metrics; the dashboard only reads them. Rows stored before (or by an
older flag set) are recomputed by the dashboard's start-up backfill (nover_ui/flag_backfill.py) with the same
`flags_of_step`. The tag flags trust the stored `format_valid` (the trainer's rule, with the run's tag names): a
format-valid rollout never gets "missing tags" or "malformed tags"; for the others they say which way the tags
failed. An invalid rollout can have neither, when its four tags are fine but extra text sits outside them.

NOVER ranks the format-valid rollouts of a group against each other; a group with fewer than MIN_RANKED of them
has no ranking signal (a lone valid rollout ranks 1/1 and gets the full reasoning reward, whatever it wrote). That
is NOVER's rule, kept as it is; the step metrics count such groups so a run shows how often it happens.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

from training.config import RunConfig
from training.prompts import PLACEHOLDER, prefill_text
from training.rewards import format_valid


class Rollout(Protocol):
    """What the flags read of a rollout: storage's Rollout has it (training imports no storage), and so
    has a row the trainer reports, once given its step."""

    @property
    def step(self) -> int: ...
    @property
    def group_index(self) -> int: ...
    @property
    def completion(self) -> str: ...
    @property
    def answer(self) -> str | None: ...
    @property
    def reward(self) -> float: ...
    @property
    def reasoning_tokens(self) -> int | None: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def format_valid(self) -> bool: ...


@dataclass(frozen=True)
class TagSettings:
    """How a run's completions are meant to be shaped, as far as the tag flags care."""

    intermediate: str = "think"
    final: str = "answer"
    prefill: str = ""
    """The opening tag a prefilled run put in the prompt ('' when prefill is off): the stored completion lacks it."""

    @classmethod
    def of(cls, config: RunConfig) -> TagSettings:
        return cls(config.intermediate_tag, config.final_tag, prefill_text(config))


ROLLOUT_FLAGS: tuple[str, ...] = (
    "truncated",
    "missing tags",
    "malformed tags",
    "empty answer",
    "repetition",
    "long reasoning",
    "copied placeholder",
)
STEP_FLAGS: tuple[str, ...] = ("all invalid", "zero reward variance", "no ranking signal")
FLAGS_VERSION = 2
"""Stored with each rollout's flags. Raise it whenever a flag is added or a rule changes: the dashboard's start-up
backfill then recomputes every rollout stored with a lower version."""
METRIC_PREFIX = "flags/"
ZERO_VARIANCE_GROUPS_KEY = "flags/groups_with_zero_reward_variance"
ALL_INVALID_KEY = "flags/all_invalid"
"""1 at a step where no rollout was format-valid (no NOVER signal at all), else 0."""
NO_RANKING_SIGNAL_KEY = "flags/groups_without_ranking_signal"
MIN_RANKED = 2
"""Format-valid rollouts a group needs before NOVER's rank compares anything."""

REPETITION_NGRAM = 4
"""Words per n-gram in the repetition check (words split on whitespace, compared lower-cased)."""
REPETITION_MIN_COUNT = 3
"""An n-gram seen this many times (overlapping occurrences count) flags the rollout as repetitive."""
LONG_REASONING_FACTOR = 2.0
"""Reasoning longer than this many times the group's median reasoning length is flagged..."""
LONG_REASONING_MIN_TOKENS = 16
"""...provided it is also longer than this, so a group of 3-token reasonings does not flag a 7-token one."""
ZERO_VARIANCE_TOLERANCE = 1e-9
DEFAULT_TAGS = TagSettings()


def metric_key(flag: str) -> str:
    """'missing tags' -> 'flags/missing_tags'."""
    return METRIC_PREFIX + flag.replace(" ", "_")


def flag_step(
    step: int, rows: Sequence[Mapping[str, Any]], tags: TagSettings = DEFAULT_TAGS
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One step's rows as the trainer reported them, each given its `flags` and `flags_version`, and the step's
    flag counts (see flag_counts) to log with its metrics: what the worker writes."""
    rollouts = [SimpleNamespace(step=step, **row) for row in rows]
    flags = flags_of_step(rollouts, tags)
    flagged = [{**row, "flags": row_flags, "flags_version": FLAGS_VERSION} for row, row_flags in zip(rows, flags)]
    return flagged, flag_counts(rollouts, flags)


def flags_of_step(rollouts: Sequence[Rollout], tags: TagSettings = DEFAULT_TAGS) -> list[list[str]]:
    """Each rollout's ROLLOUT_FLAGS, in the order given; a rollout's group is the rollouts of its step and
    group_index among `rollouts`, so pass whole steps.

    A rollout that started a second answer block and ran into the token limit, in a group of one:

    >>> r = SimpleNamespace(step=0, group_index=0, completion="<think>hm</think><answer>4</answer><answer>4",
    ...     answer="4", reward=0.0, reasoning_tokens=2, truncated=True, format_valid=False)
    >>> flags_of_step([r])
    [['truncated', 'malformed tags']]
    """
    groups = _groups(rollouts)
    return [rollout_flags(r, groups[(r.step, r.group_index)], tags) for r in rollouts]


def rollout_flags(rollout: Rollout, group: Sequence[Rollout], tags: TagSettings = DEFAULT_TAGS) -> list[str]:
    """The ROLLOUT_FLAGS that apply to `rollout`, in ROLLOUT_FLAGS order; `group` is its prompt's group (only
    "long reasoning" looks at it). Tags are matched exactly, as `<think>` and `</think>`, in `tags.prefill` + the
    completion."""
    return [flag for flag in ROLLOUT_FLAGS if has_flag(rollout, group, flag, tags)]


def has_flag(rollout: Rollout, group: Sequence[Rollout], flag: str, tags: TagSettings = DEFAULT_TAGS) -> bool:
    """Whether one flag of ROLLOUT_FLAGS applies, computing only that flag (unknown flag -> ValueError)."""
    if flag not in ROLLOUT_FLAGS:
        raise ValueError(f"unknown flag {flag!r}; choose one of {', '.join(map(repr, ROLLOUT_FLAGS))}")
    return _CHECKS[flag](rollout, group, tags)


def step_flags(rollouts: Sequence[Rollout]) -> list[str]:
    """The STEP_FLAGS that apply to one step's rollouts: "all invalid" when none is format-valid, "zero reward
    variance" when some group's rewards are all equal (GRPO then has no advantage, so no gradient, for that group),
    "no ranking signal" when some group has fewer than MIN_RANKED format-valid rollouts. No rollouts -> no flags."""
    flags = []
    if rollouts and not any(r.format_valid for r in rollouts):
        flags.append("all invalid")
    if _zero_variance_groups(rollouts):
        flags.append("zero reward variance")
    if _groups_without_ranking_signal(rollouts):
        flags.append("no ranking signal")
    return flags


def has_ranking_signal(group: Sequence[Rollout]) -> bool:
    """Whether NOVER's rank compares anything in this group: at least MIN_RANKED of its rollouts are format-valid."""
    return sum(r.format_valid for r in group) >= MIN_RANKED


def flag_counts(rollouts: Sequence[Rollout], flags: Sequence[Sequence[str]] | None = None) -> dict[str, int]:
    """For one step: how many rollouts carry each rollout flag (keyed `flags/truncated`, `flags/missing_tags`, ...,
    every flag present, 0 allowed), how many groups have zero reward variance
    (`flags/groups_with_zero_reward_variance`) and how many have no ranking signal
    (`flags/groups_without_ranking_signal`), and `flags/all_invalid` (1 or 0). Ready to log as metrics.
    `flags` are the rollouts' flags as flags_of_step gives them (computed here with the default tags if None)."""
    counts = {metric_key(flag): 0 for flag in ROLLOUT_FLAGS}
    for row_flags in flags_of_step(rollouts) if flags is None else flags:
        for flag in row_flags:
            counts[metric_key(flag)] += 1
    counts[ZERO_VARIANCE_GROUPS_KEY] = _zero_variance_groups(rollouts)
    counts[NO_RANKING_SIGNAL_KEY] = _groups_without_ranking_signal(rollouts)
    counts[ALL_INVALID_KEY] = int("all invalid" in step_flags(rollouts))
    return counts


def _zero_variance_groups(rollouts: Sequence[Rollout]) -> int:
    return sum(
        max(r.reward for r in group) - min(r.reward for r in group) <= ZERO_VARIANCE_TOLERANCE
        for group in _groups(rollouts).values()
    )


def _groups_without_ranking_signal(rollouts: Sequence[Rollout]) -> int:
    return sum(not has_ranking_signal(group) for group in _groups(rollouts).values())


def _groups(rollouts: Sequence[Rollout]) -> dict[tuple[int, int], list[Rollout]]:
    groups: dict[tuple[int, int], list[Rollout]] = {}
    for rollout in rollouts:
        groups.setdefault((rollout.step, rollout.group_index), []).append(rollout)
    return groups


def _tag_counts(rollout: Rollout, tags: TagSettings) -> list[int]:
    text = tags.prefill + rollout.completion
    return [text.count(f"<{slash}{tag}>") for tag in (tags.intermediate, tags.final) for slash in ("", "/")]


def _missing_tags(rollout: Rollout, _group: Sequence[Rollout], tags: TagSettings) -> bool:
    return not rollout.format_valid and 0 in _tag_counts(rollout, tags)


def _malformed_tags(rollout: Rollout, _group: Sequence[Rollout], tags: TagSettings) -> bool:
    """A tag repeated, or all four present once but not in the order open, close, open, close."""
    if rollout.format_valid:
        return False
    counts = _tag_counts(rollout, tags)
    if any(count > 1 for count in counts):
        return True
    if 0 in counts:
        return False
    text = tags.prefill + rollout.completion
    positions = [text.find(f"<{slash}{tag}>") for tag in (tags.intermediate, tags.final) for slash in ("", "/")]
    return positions != sorted(positions)


def _repetition(rollout: Rollout, _group: Sequence[Rollout], _tags: TagSettings) -> bool:
    words = rollout.completion.lower().split()
    ngrams = Counter(zip(*(words[i:] for i in range(REPETITION_NGRAM))))
    return bool(ngrams) and max(ngrams.values()) >= REPETITION_MIN_COUNT


def _copied_placeholder(rollout: Rollout, _group: Sequence[Rollout], tags: TagSettings) -> bool:
    """The reasoning or the answer is the instructions' PLACEHOLDER itself: blocks read as the format reward reads
    them (the first complete ones, stripped), so an invalid rollout's copied block counts too."""
    _, reasoning, answer = format_valid(tags.prefill + rollout.completion, tags.intermediate, tags.final)
    return PLACEHOLDER in (reasoning, answer)


def _long_reasoning(rollout: Rollout, group: Sequence[Rollout], _tags: TagSettings) -> bool:
    if rollout.reasoning_tokens is None or rollout.reasoning_tokens <= LONG_REASONING_MIN_TOKENS:
        return False
    lengths = [r.reasoning_tokens for r in group if r.reasoning_tokens is not None]
    return rollout.reasoning_tokens > LONG_REASONING_FACTOR * statistics.median(lengths)


_CHECKS: dict[str, Callable[[Rollout, Sequence[Rollout], TagSettings], bool]] = {
    "truncated": lambda rollout, _group, _tags: rollout.truncated,
    "missing tags": _missing_tags,
    "malformed tags": _malformed_tags,
    "empty answer": lambda rollout, _group, _tags: rollout.format_valid and not (rollout.answer or "").strip(),
    "repetition": _repetition,
    "long reasoning": _long_reasoning,
    "copied placeholder": _copied_placeholder,
}
