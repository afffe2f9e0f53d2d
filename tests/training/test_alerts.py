"""Alert rules on metrics stored in a real Store, checked the way the worker checks them (execute.RunAlerts after
each step): each default rule fires on its pattern with the right evidence and stays quiet on a healthy run; a
person's rule; one alert per rule, extended while it keeps firing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from storage import Store
from training.alert_thresholds import RuleError, parse_rules
from training.alert_watch import run_rules
from training.config import ConfigError, RunConfig
from training.execute import RunAlerts

HEALTHY = {
    "completions/clipped_ratio": [0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5],
    "frac_reward_zero_std": [0.5, 0.25, 0.5, 0.0, 0.25, 0.5, 0.25, 0.0],
    "completions/mean_length": [40.0, 44.0, 42.0, 46.0, 50.0, 48.0, 52.0, 55.0],
    "entropy": [1.2, 1.1, 1.15, 1.0, 0.9, 0.95, 0.85, 0.8],
    "kl": [0.0, 0.002, 0.004, 0.006, 0.01, 0.012, 0.015, 0.02],
    "reward": [0.2, 0.25, 0.3, 0.32, 0.35, 0.4, 0.42, 0.45],
}
"""Eight steps of a run going well: some truncation, some flat groups, slow drifts."""
HEALTHY_EVAL = {0: 30.0, 2: 25.0, 4: 22.0, 6: 21.0, 8: 20.0}
"""eval/perplexity at steps 0, 2, 4, ...: falling, as it should."""


def train(
    store: Store,
    series: Mapping[str, Sequence[float]],
    evals: Mapping[str, Mapping[int, float]] = {},
    config: RunConfig | None = None,
) -> tuple[int, RunAlerts]:
    """A started run whose steps 1.. log `series` (and the `evals` at their steps), with its alerts checked after
    every step as the worker's sink checks them."""
    run = store.start_run(store.create_run("r", {}).id, "w")
    alerts = RunAlerts(run, run_rules(config or RunConfig()))
    steps = max(len(values) for values in series.values())
    for key, points in evals.items():
        if 0 in points:
            store.log_metrics(run.id, 0, {key: points[0]})
    for step in range(1, steps + 1):
        metrics = {key: values[step - 1] for key, values in series.items() if step <= len(values)}
        metrics |= {key: points[step] for key, points in evals.items() if step in points}
        store.log_metrics(run.id, step, metrics)
        alerts.check(store, step)
    return run.id, alerts


def fired(store: Store, run_id: int) -> dict[str, tuple[str, tuple[int, ...], tuple[float, ...], str]]:
    return {a.rule: (a.metric, a.steps, a.values, a.message) for a in store.list_alerts([run_id]).get(run_id, [])}


def test_a_healthy_run_fires_no_default_rule(store: Store):
    run_id, _ = train(store, HEALTHY, {"eval/perplexity": HEALTHY_EVAL})
    assert fired(store, run_id) == {}


@pytest.mark.parametrize(
    "key, values, rule, steps",
    [
        ("completions/clipped_ratio", [0.5, 1.0, 0.5, 0.75, 1.0, 1.0, 1.0, 0.5], "all_truncated", (5, 6, 7)),
        ("frac_reward_zero_std", [0.75, 0.75, 0.5, 0.75, 1.0, 1.0, 0.25, 0.0], "zero_reward_variance", (4, 5, 6)),
        ("completions/mean_length", [40, 44, 42, 30, 18, 15, 16, 25], "length_collapse", (5, 6, 7)),
        ("completions/mean_length", [40, 44, 42, 60, 90, 100, 70, 60], "length_explosion", (5, 6)),
        ("entropy", [1.2, 1.1, 1.0, 0.6, 0.3, 0.1, 0.05, 0.04], "entropy_collapse", (6, 7, 8)),
        ("kl", [0.0, 0.002, 0.004, 0.006, 0.4, 0.5, 0.01, 0.01], "kl_spike", (5, 6)),
    ],
)
def test_each_default_rule_fires_on_its_pattern_with_its_evidence(store: Store, key, values, rule, steps):
    run_id, _ = train(store, {**HEALTHY, key: values})
    alerts = fired(store, run_id)
    assert list(alerts) == [rule]
    metric, got_steps, got_values, message = alerts[rule]
    assert (metric, got_steps, got_values) == (key, steps, tuple(float(values[s - 1]) for s in steps))
    assert key in message and f"{steps[0]}-{steps[-1]}" in message  # the evidence, stated


def test_held_out_quality_falling_while_the_reward_rises_fires_with_the_eval_points_as_evidence(store: Store):
    format_valid = {0: 0.1, 2: 0.6, 4: 0.5, 6: 0.3, 8: 0.2}  # step 0 (the base model) is not part of the trend
    run_id, _ = train(store, HEALTHY, {"eval/perplexity": HEALTHY_EVAL, "eval/format_valid": format_valid})
    metric, steps, values, message = fired(store, run_id)["heldout_falls_reward_rises"]
    assert (metric, steps, values) == ("eval/format_valid", (2, 4, 6, 8), (0.6, 0.5, 0.3, 0.2))
    assert "eval/format_valid fell from 0.6 to 0.2" in message and "reward rose" in message
    # The same fall while the reward falls too is not that pattern.
    falling = {**HEALTHY, "reward": list(reversed(HEALTHY["reward"]))}
    quiet, _ = train(store, falling, {"eval/format_valid": format_valid})
    assert fired(store, quiet) == {}


def test_a_person_s_rule_fires_and_the_defaults_can_be_turned_off(store: Store):
    config = RunConfig(alert_defaults=False, alert_rules="kl > 0.005 for 3 steps\nreward < 0")
    run_id, _ = train(store, {**HEALTHY, "entropy": [1.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}, config=config)
    alerts = fired(store, run_id)
    assert list(alerts) == ["kl > 0.005 for 3 steps"]  # no entropy_collapse: the defaults are off
    assert alerts["kl > 0.005 for 3 steps"][1] == (4, 5, 6, 7, 8)


def test_an_alert_is_recorded_once_and_extended_while_it_keeps_firing(store: Store):
    kl = [0.0, 0.002, 0.004, 0.006, 0.4, 0.5, 0.6]
    run_id, alerts = train(store, {"kl": kl})
    (alert,) = store.list_alerts([run_id])[run_id]
    assert (alert.rule, alert.steps, alert.last_step) == ("kl_spike", (5, 6, 7), 7)
    version = store.runs_version()
    alerts.check(store, 7)  # nothing new: nothing written
    assert store.runs_version() == version


def test_rule_lines_are_validated_with_the_config_naming_the_line_and_the_fix():
    assert [rule.name for rule in parse_rules("kl>0.5 ; entropy <= 0.1 for 2 steps")] == [
        "kl > 0.5",
        "entropy <= 0.1 for 2 steps",
    ]
    with pytest.raises(ConfigError) as caught:
        RunConfig(alert_rules="kl > 0.5\nentropy falls")
    assert (
        caught.value.field == "alert_rules" and "line 2" in str(caught.value) and "kl > 0.5 for 3" in str(caught.value)
    )
    with pytest.raises(RuleError, match="line 1: 'for N steps' needs N from 1"):
        parse_rules("kl > 1 for 0 steps")
