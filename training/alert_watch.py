"""A run's alert rules between steps: the series they read, and which findings are new or changed.

The worker's StoreSink (training/execute.py) feeds the watch after each step's metrics are committed and records
what it returns (Store.record_alert); this module holds no store, only plain values, so training stays free of
`storage`. The watch asks for the metric keys its rules use only, and for the steps since its last look (each step's
metrics commit together, so the new points are the new steps; the last step seen is read again for keys written
after it, as a held-out evaluation's may be). A finding whose evidence did not change since it was recorded is not
returned again, so a rule that keeps firing extends its alert once per step it grows, and a quiet run writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from training.alert_defaults import default_rules
from training.alert_notify import run_link
from training.alert_thresholds import parse_rules
from training.alerts import Fired, Rule, check_rules
from training.config import RunConfig


def run_rules(config: RunConfig) -> tuple[Rule, ...]:
    """The rules a run's config asks for: the defaults unless turned off, then its own (validated with the
    config)."""
    defaults = default_rules(config.max_completion_length) if config.alert_defaults else ()
    return (*defaults, *parse_rules(config.alert_rules))


class AlertWatch:
    """The alert rules of one run and the points of the series they read, as read so far.

    >>> from training.alert_thresholds import threshold_rule
    >>> watch = AlertWatch([threshold_rule("kl", ">", 0.5, 2)])
    >>> watch.keys, watch.since_step
    (('kl',), None)
    >>> watch.add({"kl": ((1, 2), (0.6, 0.7))})
    >>> [(f.rule, f.steps) for f in watch.findings()], watch.since_step
    ([('kl > 0.5 for 2 steps', (1, 2))], 2)
    >>> watch.recorded(watch.findings()[0]); watch.findings()
    []
    """

    def __init__(self, rules: Sequence[Rule]):
        self._rules = tuple(rules)
        self.keys = tuple(sorted({key for rule in self._rules for key in rule.keys}))
        """The metric keys to read: only those the rules use."""
        self.since_step: int | None = None
        """The first step to read next (the last one read, again); None: from the start."""
        self._series: dict[str, dict[int, float]] = {}
        self._recorded: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {}
        """Each rule's evidence as last recorded."""

    def add(self, series: Mapping[str, tuple[Iterable[int], Iterable[float]]]) -> None:
        """New points by key, as (steps, values); a step read again replaces its value."""
        for key, (steps, values) in series.items():
            points = self._series.setdefault(key, {})
            points.update(zip(steps, values))
            if points:
                self.since_step = max(self.since_step or 0, max(points))

    def findings(self) -> list[Fired]:
        """What the rules see now that was not recorded as it is: new alerts and extended evidence."""
        series = {key: tuple(sorted(points.items())) for key, points in self._series.items() if points}
        return [
            fired
            for fired in check_rules(self._rules, series)
            if self._recorded.get(fired.rule) != (fired.steps, fired.values)
        ]

    def recorded(self, finding: Fired) -> None:
        """The finding is stored: not returned again until its evidence changes."""
        self._recorded[finding.rule] = (finding.steps, finding.values)


def alert_payload(finding: Fired, run_id: int, run_name: str, public_url: str | None) -> dict[str, Any]:
    """What the operator's webhook receives: the run, the rule and its evidence, and a link to the run when the
    dashboard's public address is known (else None).

    >>> alert_payload(Fired("kl_spike", "kl", (5,), (0.4,), "kl was 0.4 at step 5"), 3, "demo", None)["link"] is None
    True
    """
    return {
        "run_id": run_id,
        "run_name": run_name,
        "rule": finding.rule,
        "metric": finding.metric,
        "steps": list(finding.steps),
        "values": list(finding.values),
        "message": finding.message,
        "link": run_link(public_url, run_id),
    }
