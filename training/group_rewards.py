"""From per-rollout numbers to every reward component, one prompt's group at a time: pure, standard library only.

The scorer measures (format, perplexity or recipe value, verifier match); this module turns a step's rollouts into
the components TRL weighs and logs as `rewards/<component>/mean`, and that each stored rollout keeps in its extras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from training.config import RunConfig
from training.recipes import shape_group
from training.rewards import RewardBreakdown, RewardWeights, score_group


@dataclass(frozen=True)
class RolloutNumbers:
    """What the scorer measured of one rollout; the fields a recipe does not use stay None."""

    example_id: str
    valid: bool
    perplexity: float | None = None
    """NOVER's reasoning perplexity (valid rollouts of a nover run)."""
    reasoning_tokens: int | None = None
    recipe_value: float | None = None
    """The raw value of a recipe other than NOVER (valid rollouts only)."""
    correct: bool | None = None
    """The verifier's match, for a hybrid."""


@dataclass(frozen=True)
class GroupedReward:
    breakdown: RewardBreakdown
    """reasoning: the recipe's component; total: the weighted sum of every component, as TRL sums them."""
    components: dict[str, float]
    """Every component by name, unweighted, e.g. {"format": 1.0, "rlpr": 0.12, "verifier": 1.0}."""


def recipe_component(reward: str) -> str:
    """The component (and TRL reward function) name of a recipe: NOVER's keeps its old key `reasoning`.

    >>> recipe_component("nover"), recipe_component("rlpr")
    ('reasoning', 'rlpr')
    """
    return "reasoning" if reward == "nover" else reward


def component_weights(config: RunConfig) -> dict[str, float]:
    """Each component's weight, in the order TRL gets the reward functions.

    >>> component_weights(RunConfig(reward="rlpr", verifier_weight=0.5))
    {'format': 1.0, 'rlpr': 1.0, 'verifier': 0.5}
    """
    weights = {"format": config.format_weight, recipe_component(config.reward): config.reasoning_weight}
    if config.reward == "nover":
        weights["efficiency"] = config.efficiency_weight
    if config.reward != "verifier" and config.verifier_weight > 0:
        weights["verifier"] = config.verifier_weight
    return weights


def group_rewards(rollouts: Sequence[RolloutNumbers], config: RunConfig) -> list[GroupedReward]:
    """Every rollout's components, rollouts grouped by example id (ranks and floors never cross groups).

    Two valid RLPR rollouts and an invalid one, a hybrid with verifier weight 0.5:

    >>> out = group_rewards(
    ...     [RolloutNumbers("a", True, recipe_value=0.2, correct=True), RolloutNumbers("a", False)],
    ...     RunConfig(reward="rlpr", reward_scorer="policy", reward_shaping="raw", verifier_weight=0.5),
    ... )
    >>> [(g.components, g.breakdown.total) for g in out]
    [({'format': 1.0, 'rlpr': 0.2, 'verifier': 1.0}, 1.7), ({'format': 0.0, 'rlpr': 0.0, 'verifier': 0.0}, 0.0)]
    """
    weights = component_weights(config)
    name = recipe_component(config.reward)
    groups: dict[str, list[int]] = {}
    for index, rollout in enumerate(rollouts):
        groups.setdefault(rollout.example_id, []).append(index)
    out: list[GroupedReward | None] = [None] * len(rollouts)
    for members in groups.values():
        group = [rollouts[i] for i in members]
        for i, components in zip(members, _group_components(group, config, name)):
            if "verifier" in weights and config.reward != "verifier":
                components["verifier"] = 1.0 if rollouts[i].valid and rollouts[i].correct else 0.0
            total = sum(weights[key] * value for key, value in components.items())
            breakdown = RewardBreakdown(
                components["format"], components[name], components.get("efficiency", 0.0), total
            )
            out[i] = GroupedReward(breakdown, components)
    return out  # type: ignore[return-value]  # every slot was filled by its group above


def _group_components(group: list[RolloutNumbers], config: RunConfig, name: str) -> list[dict[str, float]]:
    formats = [1.0 if r.valid else 0.0 for r in group]
    if config.reward == "nover":
        # NOVER's rule, unchanged; the weights are applied by the caller, so score_group gets units.
        valid, perplexity = [r.valid for r in group], [r.perplexity for r in group]
        scored = score_group(valid, perplexity, [r.reasoning_tokens for r in group], RewardWeights())
        return [{"format": f, name: s.reasoning, "efficiency": s.efficiency} for f, s in zip(formats, scored)]
    if config.reward == "verifier":
        return [{"format": f, name: 1.0 if r.valid and r.correct else 0.0} for f, r in zip(formats, group)]
    values = shape_group([r.recipe_value if r.valid else None for r in group], config.reward_shaping)
    return [{"format": f, name: v} for f, v in zip(formats, values)]
