"""The verifier-free recipes' math on hand-built groups (training/recipes.py, training/group_rewards.py): no model."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.config import RunConfig
from training.group_rewards import RolloutNumbers, component_weights, group_rewards
from training.recipe_presets import RECIPES
from training.recipes import (
    StdFilter,
    probability_gain,
    recipe_value,
    reference_logprob,
    self_certainty,
    sequence_probability,
    shape_group,
)

NLL = st.floats(min_value=0.0, max_value=30.0)
NLLS = st.lists(NLL, min_size=1, max_size=12)
VALUE = st.floats(min_value=-50.0, max_value=50.0)
GROUP = st.lists(st.one_of(st.none(), VALUE), min_size=1, max_size=8)


@given(NLLS, NLLS)
def test_rlpr_is_a_clipped_probability_gain_in_0_1(with_reasoning, without_reasoning):
    gain = probability_gain(with_reasoning, without_reasoning)
    assert 0.0 <= gain <= 1.0
    assert probability_gain(without_reasoning, without_reasoning) == 0.0  # no reasoning gain, no reward


@given(NLLS, st.integers(min_value=0, max_value=11), st.floats(min_value=0.01, max_value=5.0))
def test_every_reference_recipe_rises_when_a_reference_token_grows_likelier(nll, index, drop):
    index %= len(nll)
    better = list(nll)
    better[index] = max(0.0, nll[index] - drop)
    baseline = [5.0] * len(nll)
    assert probability_gain(better, baseline) >= probability_gain(nll, baseline)
    assert reference_logprob(better) >= reference_logprob(nll)
    assert reference_logprob(better, "mean") >= reference_logprob(nll, "mean")
    assert sequence_probability(better) >= sequence_probability(nll)
    assert 0.0 <= sequence_probability(nll) <= 1.0 and reference_logprob(nll) <= 0.0


@given(NLLS)
def test_the_reference_recipes_agree_with_their_formulas(nll):
    assert math.isclose(reference_logprob(nll), -sum(nll), abs_tol=1e-9)
    assert math.isclose(sequence_probability(nll), math.exp(reference_logprob(nll)), rel_tol=1e-9, abs_tol=1e-300)


@given(st.lists(st.floats(min_value=0.0, max_value=12.0), max_size=20))
def test_self_certainty_is_the_mean_kl_and_never_negative(token_kl):
    value = self_certainty(token_kl)
    assert value >= 0.0
    assert value == (pytest.approx(sum(token_kl) / len(token_kl)) if token_kl else 0.0)


@pytest.mark.parametrize(
    ("reward", "kwargs", "problem"),
    [
        ("rlpr", dict(with_reasoning=[1.0]), "without_reasoning"),
        ("logprob", {}, "with_reasoning"),
        ("self_certainty", {}, "token_kl"),
        ("nover", dict(with_reasoning=[1.0]), "score_group"),
    ],
)
def test_a_recipe_without_its_numbers_says_which_are_missing(reward, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        recipe_value(reward, **kwargs)


def test_bad_nll_is_refused_with_the_field_named():
    with pytest.raises(ValueError, match="nll must hold finite"):
        reference_logprob([math.nan])
    with pytest.raises(ValueError, match="reduction"):
        reference_logprob([1.0], "max")


@given(GROUP, st.sampled_from(["rank", "raw"]), st.randoms())
def test_shaping_ignores_rollout_order(values, shaping, rng):
    order = list(range(len(values)))
    rng.shuffle(order)
    shaped = shape_group(values, shaping)
    shuffled = shape_group([values[i] for i in order], shaping)
    assert shuffled == [shaped[i] for i in order]


@given(GROUP, st.sampled_from(["rank", "raw"]))
def test_an_invalid_rollout_never_earns_more_than_a_valid_one_of_its_group(values, shaping):
    shaped = shape_group(values, shaping)
    invalid = [s for s, v in zip(shaped, values) if v is None]
    valid = [s for s, v in zip(shaped, values) if v is not None]
    if invalid and valid:
        assert max(invalid) <= min(valid)
    if all(v is None or v >= 0 for v in values):
        assert all(s == 0.0 for s in invalid)  # as in NOVER, for every recipe whose values are never negative


@given(GROUP)
def test_rank_shaping_is_monotone_and_bounded(values):
    shaped = shape_group(values, "rank")
    assert all(0.0 <= s <= 1.0 for s in shaped)
    valid = [(v, s) for v, s in zip(values, shaped) if v is not None]
    for v1, s1 in valid:
        for v2, s2 in valid:
            if v1 > v2:
                assert s1 > s2
            if v1 == v2:
                assert s1 == s2


def test_logprob_values_below_zero_put_an_invalid_rollout_at_the_group_floor():
    assert shape_group([-3.0, None, -0.5], "raw") == [-3.0, -3.0, -0.5]
    assert shape_group([None, None], "raw") == [0.0, 0.0]  # nothing valid: no signal either way


def test_components_carry_their_names_and_sum_to_the_weighted_total():
    config = RunConfig(reward="logprob", reward_scorer="policy", reward_shaping="raw", verifier_weight=0.5)
    rollouts = [
        RolloutNumbers("a", True, recipe_value=-2.0, correct=True),
        RolloutNumbers("a", True, recipe_value=-6.0, correct=False),
        RolloutNumbers("a", False),
        RolloutNumbers("b", True, recipe_value=-1.0, correct=False),  # its own group: the floor never crosses
    ]
    out = group_rewards(rollouts, config)
    assert [g.components for g in out] == [
        {"format": 1.0, "logprob": -2.0, "verifier": 1.0},
        {"format": 1.0, "logprob": -6.0, "verifier": 0.0},
        {"format": 0.0, "logprob": -6.0, "verifier": 0.0},
        {"format": 1.0, "logprob": -1.0, "verifier": 0.0},
    ]
    assert [g.breakdown.total for g in out] == [-0.5, -5.0, -6.0, 0.0]
    assert [g.breakdown.reasoning for g in out] == [-2.0, -6.0, -6.0, -1.0]


def test_nover_keeps_its_component_names_and_its_rule():
    config = RunConfig()
    assert list(component_weights(config)) == ["format", "reasoning", "efficiency"]
    out = group_rewards(
        [RolloutNumbers("a", True, 1.2, 40), RolloutNumbers("a", True, 2.0, 50), RolloutNumbers("a", True, 3.0, 30)],
        config,
    )
    assert [round(g.breakdown.total, 3) for g in out] == [2.5, 1.667, 1.333]  # training/rewards.py's worked example


def test_the_std_filter_drops_groups_below_the_ratio_of_the_ema_and_learns_the_ema():
    f = StdFilter(ratio=0.5, decay=0.99)
    assert f.keep([0.1, 0.3]) == [True, True]  # the first step only starts the EMA
    assert f.ema == pytest.approx(0.2)
    assert f.keep([0.05, 0.1, 0.0]) == [False, True, False]  # floor 0.1
    assert f.ema == pytest.approx(0.99 * 0.2 + 0.01 * 0.05)
    with pytest.raises(ValueError, match="decay"):
        StdFilter(0.5, 1.0)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_preset_makes_a_valid_config(name):
    config = RunConfig(**RECIPES[name])
    assert config.reward == RECIPES[name]["reward"]
