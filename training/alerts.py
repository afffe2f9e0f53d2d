"""What an alert rule is and what it returns: the evidence it saw in a run's metric series, stated in words.

Standard library only: the UI imports the config, which validates a person's rules (training/alert_thresholds.py),
and the worker checks the rules after each step (training/alert_watch.py). A rule never judges a run; it returns the
metric, the steps and the values that met its condition, and a message that states them ("completions/clipped_ratio
was 1 at steps 4-6: every completion hit max_completion_length 16"). What they mean is for the person to decide.

Series are `{metric key: ((step, value), ...)}` ordered by step, as the Store holds them. The rules every run gets
are in training/alert_defaults.py; the ones a person writes (`kl > 0.5 for 3 steps`) in
training/alert_thresholds.py. This module holds what both share: the records, checking rules over series, finding a
streak, and writing steps and values the same way in every message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Points = Sequence[tuple[int, float]]
Series = Mapping[str, Points]

MAX_EVIDENCE = 100
"""Points of evidence kept (the latest): a rule that fires for thousands of steps says so in its message."""


@dataclass(frozen=True)
class Fired:
    """What a rule saw: the metric, the steps and values that met its condition, and a message stating them."""

    rule: str
    metric: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    message: str

    @classmethod
    def from_points(cls, rule: str, metric: str, points: Points, message: str) -> Fired:
        """The finding with the latest MAX_EVIDENCE of `points` as its evidence."""
        kept = points[-MAX_EVIDENCE:]
        return cls(rule, metric, tuple(step for step, _ in kept), tuple(value for _, value in kept), message)


@dataclass(frozen=True)
class Rule:
    """A named check of a run's series; `keys` are the metrics it reads (the watch reads only those)."""

    name: str
    keys: tuple[str, ...]
    check: Callable[[Series], Fired | None]


def check_rules(rules: Sequence[Rule], series: Series) -> list[Fired]:
    """What each rule saw in `series`, in the rules' order."""
    return [fired for rule in rules if (fired := rule.check(series)) is not None]


def last_streak(points: Points, holds: Callable[[float], bool], at_least: int) -> list[tuple[int, float]] | None:
    """The latest run of consecutive logged points where `holds`, if it is at least `at_least` long."""
    best: list[tuple[int, float]] | None = None
    current: list[tuple[int, float]] = []
    for point in points:
        if holds(point[1]):
            current.append(point)
            if len(current) >= at_least:
                best = list(current)
        else:
            current = []
    return best


def span_text(points: Points) -> str:
    """Steps 4, 5, 6 as '4-6'; steps that are not consecutive listed."""
    steps = [step for step, _ in points]
    if len(steps) > 1 and steps == list(range(steps[0], steps[-1] + 1)):
        return f"{steps[0]}-{steps[-1]}"
    return ", ".join(str(step) for step in steps)


def steps_word(points: Points) -> str:
    return "step" if len(points) == 1 else "steps"


def values_text(points: Points) -> str:
    shown = [number_text(value) for _, value in points]
    return ", ".join(shown) if len(shown) <= 6 else f"{', '.join(shown[:3])}, ..., {', '.join(shown[-2:])}"


def number_text(value: float) -> str:
    return f"{value:.3g}"
