"""Alert rules a person writes, one per line: `kl > 0.5 for 3 steps`, read into threshold rules.

Standard library only: the config validates its alert_rules field with parse_rules (training/config_checks.py), and
the worker checks the rules it returns (training/alert_watch.py). A line that cannot be read raises RuleError with
the line's number and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from training.alerts import Fired, Rule, Series, last_streak, number_text, span_text, steps_word, values_text

MAX_RULES = 20
MAX_STEPS_FOR = 10_000
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
_RULE_LINE = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_./:-]+)\s*(?P<op>>=|<=|>|<)\s*(?P<number>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)"
    r"(\s+for\s+(?P<steps>\d+)\s+steps?)?\s*$"
)
RULE_SYNTAX = "a metric key, then > >= < or <=, a number, and optionally 'for N steps', e.g. 'kl > 0.5 for 3 steps'"


class RuleError(ValueError):
    """A rule line that cannot be read; the message names the line and the fix."""


def parse_rules(text: str) -> tuple[Rule, ...]:
    """One rule per non-blank line (or separated by ';'): `metric op number [for N steps]`, op one of > >= < <=.

    >>> [rule.name for rule in parse_rules("kl > 0.5 for 3 steps\\n\\n reward<0.1")]
    ['kl > 0.5 for 3 steps', 'reward < 0.1']
    >>> parse_rules("kl is high")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    training.alert_thresholds.RuleError: line 1 must be a rule: a metric key, then ... got 'kl is high'
    """
    lines = [line.strip() for line in re.split(r"[\n;]", text) if line.strip()]
    if len(lines) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules, got {len(lines)}; keep the ones you need")
    rules = []
    for number, line in enumerate(lines, start=1):
        match = _RULE_LINE.match(line)
        if match is None:
            raise RuleError(f"line {number} must be a rule: {RULE_SYNTAX}; got {_shown(line)}")
        steps = int(match["steps"]) if match["steps"] else 1
        if not 1 <= steps <= MAX_STEPS_FOR:
            raise RuleError(f"line {number}: 'for N steps' needs N from 1 to {MAX_STEPS_FOR}, got {steps}")
        rules.append(threshold_rule(match["metric"], match["op"], float(match["number"]), steps))
    names = [rule.name for rule in rules]
    for number, name in enumerate(names, start=1):
        if name in names[: number - 1]:
            raise RuleError(f"line {number} repeats an earlier rule, got {_shown(name)} twice; remove one of them")
    return tuple(rules)


def threshold_rule(metric: str, op: str, threshold: float, steps: int = 1) -> Rule:
    """`metric op threshold` at `steps` logged steps in a row (the latest such streak).

    >>> rule = threshold_rule("kl", ">", 0.5, 2)
    >>> rule.check({"kl": [(1, 0.6), (2, 0.1), (3, 0.7), (4, 0.9)]}).message
    'kl was 0.7, 0.9 at steps 3-4 (rule: kl > 0.5 for 2 steps)'
    """
    name = f"{metric} {op} {number_text(threshold)}" + (f" for {steps} steps" if steps > 1 else "")
    compare = _OPERATORS[op]

    def check(series: Series) -> Fired | None:
        streak = last_streak(series.get(metric, ()), lambda value: compare(value, threshold), steps)
        if streak is None:
            return None
        return Fired.from_points(
            name,
            metric,
            streak,
            f"{metric} was {values_text(streak)} at {steps_word(streak)} {span_text(streak)} (rule: {name})",
        )

    return Rule(name, (metric,), check)


def _shown(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")
