import math

import pytest

from training.rewards import (
    RewardBreakdown,
    RewardWeights,
    format_valid,
    reasoning_perplexity,
    score_group,
    verifier_match,
    verifier_rewards,
)

# --- format_valid ---


def test_valid_completion_with_newlines_around_tags():
    assert format_valid("<think>\n step one\n step two \n</think>\n\n<answer>\n42\n</answer>\n") == (
        True,
        "step one\n step two",
        "42",
    )


@pytest.mark.parametrize(
    "completion",
    [
        "Sure! <think>r</think><answer>a</answer>",  # text before the reasoning
        "<think>r</think><answer>a</answer> Hope this helps.",  # text after the answer
        "<think>r</think><answer>a</answer><answer>b</answer>",  # two answer blocks
        "<think>r</think><answer>a</answer><answer>a</answer>",  # two identical answer blocks
        "<think>r <answer>a</answer></think><answer>a</answer>",  # answer nested in the reasoning
        "<think>r <answer>a</answer></think>",  # only a nested answer
        "<think>r</think><answer><answer>a</answer>",  # stray opening tag inside the answer
        "<think>r<answer>a</answer>",  # reasoning never closed
        "<answer>a</answer><think>r</think>",  # swapped order
        "<think>r</think>",  # no answer at all
        "",
    ],
)
def test_invalid_completions(completion):
    assert format_valid(completion)[0] is False


def test_truncated_completion_is_invalid_but_keeps_its_complete_reasoning():
    assert format_valid("<think>\nlong thoughts\n</think>\n<answer>\nforty") == (False, "long thoughts", None)
    assert format_valid("<think>\nlong thou") == (False, None, None)


def test_invalid_completion_still_returns_its_first_blocks():
    assert format_valid("Sure! <think>r</think><answer>a</answer>") == (False, "r", "a")


def test_custom_tags_for_inverse_incentive_training():
    completion = "<story>\nOnce upon a time.\n</story>\n<guideline>Be vivid.</guideline>"
    assert format_valid(completion, "story", "guideline") == (True, "Once upon a time.", "Be vivid.")
    assert format_valid(completion)[0] is False
    assert format_valid("<think>r</think><answer>a</answer>", "story", "guideline") == (False, None, None)


def test_empty_blocks_are_well_formed():
    assert format_valid("<think></think><answer> </answer>") == (True, "", "")


def test_identical_tags_are_rejected():
    with pytest.raises(ValueError, match="distinct"):
        format_valid("<x>r</x><x>a</x>", "x", "x")


# --- reasoning_perplexity ---


def test_perplexity_divides_the_nll_by_one_plus_log10_tokens():
    assert reasoning_perplexity(2.0, 100) == pytest.approx(math.exp(2.0 / 3.0))
    assert reasoning_perplexity(2.0, 1) == pytest.approx(math.exp(2.0))
    assert reasoning_perplexity(0.0, 50) == 1.0


@pytest.mark.parametrize("tokens", [0, -3])
def test_perplexity_without_reasoning_tokens_uses_divisor_one(tokens):
    assert reasoning_perplexity(1.5, tokens) == pytest.approx(math.exp(1.5))


@pytest.mark.parametrize("nll", [-0.1, float("nan"), float("inf")])
def test_perplexity_rejects_impossible_nll(nll):
    with pytest.raises(ValueError, match="mean_nll"):
        reasoning_perplexity(nll, 10)


# --- score_group ---


def approx_parts(results):
    return [pytest.approx((r.format, r.reasoning, r.efficiency, r.total)) for r in results]


def parts(results):
    return [(r.format, r.reasoning, r.efficiency, r.total) for r in results]


def test_four_valid_rollouts_by_hand():
    # Perplexity ranks: #3 (1.2) -> 4/4, #1 (1.5) -> 3/4, #0 (2.0) -> 2/4, #2 (3.0) -> 1/4.
    # Efficiency (lower perplexity AND fewer tokens than j, out of 3 others):
    #   #0 (2.0, 50) beats #2 (3.0, 60)                   -> 1/3
    #   #1 (1.5, 30) beats #0 and #2                      -> 2/3
    #   #2 (3.0, 60) beats nobody                         -> 0
    #   #3 (1.2, 40) beats #0 and #2, not #1 (30 tokens)  -> 2/3
    results = score_group([True] * 4, [2.0, 1.5, 3.0, 1.2], [50, 30, 60, 40])
    assert parts(results) == approx_parts(
        [
            RewardBreakdown(1.0, 0.5, 1 / 3, 1 + 0.5 + 1 / 3),
            RewardBreakdown(1.0, 0.75, 2 / 3, 1 + 0.75 + 2 / 3),
            RewardBreakdown(1.0, 0.25, 0.0, 1.25),
            RewardBreakdown(1.0, 1.0, 2 / 3, 1 + 1 + 2 / 3),
        ]
    )


def test_tied_perplexities_share_the_mean_reward_and_never_beat_each_other():
    # Ranks 0 and 1 are tied: both get (3/3 + 2/3) / 2 = 5/6. The tie is strict-less for neither, so each of
    # the two only beats #2 (higher perplexity and more tokens): 1/2.
    results = score_group([True] * 3, [1.0, 1.0, 2.0], [10, 20, 30])
    assert [r.reasoning for r in results] == pytest.approx([5 / 6, 5 / 6, 1 / 3])
    assert [r.efficiency for r in results] == pytest.approx([0.5, 0.5, 0.0])


def test_all_tied_gets_the_mean_rank_reward():
    results = score_group([True] * 4, [1.7] * 4, [5, 6, 7, 8])
    assert [r.reasoning for r in results] == pytest.approx([5 / 8] * 4)
    assert [r.efficiency for r in results] == [0.0] * 4


def test_all_invalid_scores_zero_everywhere():
    results = score_group([False] * 3, [None, None, None], [None, 12, None])
    assert parts(results) == [(0.0, 0.0, 0.0, 0.0)] * 3


def test_a_single_valid_rollout_ranks_first_and_beats_nobody():
    results = score_group([False, True, False], [None, 4.2, None], [None, 17, None])
    assert parts(results) == [(0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 0.0, 2.0), (0.0, 0.0, 0.0, 0.0)]


def test_mixed_group_ranks_only_the_valid_rollouts():
    # Valid: #0 (2.0, 20), #2 (1.0, 10), #3 (3.0, 5). Ranks: #2 -> 1, #0 -> 2/3, #3 -> 1/3.
    # #2 beats #0 only (#3 has fewer tokens): 1/2; #0 beats nobody (#3 is shorter); #3 beats nobody.
    results = score_group([True, False, True, True, False], [2.0, 0.5, 1.0, 3.0, None], [20, 1, 10, 5, None])
    assert parts(results) == approx_parts(
        [
            RewardBreakdown(1.0, 2 / 3, 0.0, 1 + 2 / 3),
            RewardBreakdown(0.0, 0.0, 0.0, 0.0),
            RewardBreakdown(1.0, 1.0, 0.5, 2.5),
            RewardBreakdown(1.0, 1 / 3, 0.0, 1 + 1 / 3),
            RewardBreakdown(0.0, 0.0, 0.0, 0.0),
        ]
    )


def test_weights_scale_each_component_and_format_only_for_invalid():
    weights = RewardWeights(format=0.5, reasoning=2.0, efficiency=0.1)
    results = score_group([True, True, False], [1.0, 2.0, None], [10, 20, None], weights)
    assert [r.total for r in results] == pytest.approx([0.5 + 2.0 * 1.0 + 0.1 * 1.0, 0.5 + 2.0 * 0.5, 0.0])
    assert results[0].efficiency == 1.0  # components are reported unweighted


@pytest.mark.parametrize(
    "ppl,tokens",
    [
        ([2.0, 1.5, 3.0, 1.2, None, 2.5], [50, 30, 60, 40, None, 45]),
        ([1.0, 1.0, 2.0, 1.0, None, 2.0], [10, 20, 30, 10, None, 5]),  # ties in perplexity and tokens
    ],
)
def test_permuting_the_group_permutes_the_rewards(ppl, tokens):
    valid = [p is not None for p in ppl]
    base = score_group(valid, ppl, tokens)
    for perm in ([5, 4, 3, 2, 1, 0], [2, 0, 4, 1, 5, 3], [3, 5, 1, 0, 2, 4]):
        shuffled = score_group([valid[i] for i in perm], [ppl[i] for i in perm], [tokens[i] for i in perm])
        assert parts(shuffled) == approx_parts([base[i] for i in perm])


def test_valid_rollout_without_perplexity_is_a_caller_bug():
    with pytest.raises(ValueError, match="rollout 1"):
        score_group([True, True], [1.0, None], [3, 4])
    with pytest.raises(ValueError, match="rollout 0"):
        score_group([True], [1.0], [None])


def test_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match="lengths 2, 1 and 2"):
        score_group([True, True], [1.0], [3, 4])


# --- verifier_match ---


@pytest.mark.parametrize(
    "answer,reference,expected",
    [
        ("Paris", "paris", True),
        ("  Paris. ", "Paris", True),
        ("the cat", "cat", True),
        ("An apple", "apple", True),
        ("New   York\ncity", "new york city", True),
        ("\\boxed{Paris}", "Paris", True),
        ("$\\boxed{x^{2}}$", "x^{2}", True),
        ("Paris, France", "Paris", False),
        ("cats", "cat", False),
        ("theory", "ory", False),
        ("\\boxed{a} + \\boxed{b}", "a} + \\boxed{b", False),
        (None, "Paris", False),
    ],
)
def test_exact_mode(answer, reference, expected):
    assert verifier_match(answer, reference, mode="exact") is expected


@pytest.mark.parametrize(
    "answer,reference,expected",
    [
        ("42", "42", True),
        ("The answer is 42.", "42", True),
        ("12", "120", False),
        ("120", "12", False),
        ("1,234", "1234", True),
        ("$1,234,567.50", "1234567.5", True),
        ("-3.5", "-3.5", True),
        ("-3.5", "3.5", False),
        ("x = −7", "-7", True),
        ("3/4", "0.75", True),
        ("It is 1/2 of the cake", "0.5", True),
        ("50%", "50", True),
        ("first 3 apples, then 7", "7", True),
        ("first 3 apples, then 7", "3", False),
        ("\\boxed{17}", "17", True),
        ("1.0000001", "1", True),
        ("1.01", "1", False),
        ("0.0000000001", "0", True),
        ("no number here", "5", False),
        ("5", "no number", False),
        ("2", "Natalia sold 48/2 = 24 clips in May.\n#### 72", False),
        ("72", "Natalia sold 48/2 = 24 clips in May.\n#### 72", True),
    ],
)
def test_numeric_mode(answer, reference, expected):
    assert verifier_match(answer, reference, mode="numeric") is expected


def test_numeric_tolerance_is_relative_for_large_values():
    assert verifier_match("1000001", "1000000", mode="numeric", tolerance=1e-5)
    assert not verifier_match("1000100", "1000000", mode="numeric", tolerance=1e-5)


@pytest.mark.parametrize(
    "answer,reference,expected",
    [
        ("B", "B", True),
        ("b", "(B)", True),
        ("(B)", "B.", True),
        ("B) 42 apples", "B", True),
        ("The answer is B.", "B) 42 apples", True),
        ("the answer is (c) because it is larger", "Option C", True),
        ("Answer: D", "D", True),
        ("option e", "E", True),
        ("C", "B", False),
        ("AB", "B", False),
        ("A or B", "B", False),
        ("(A) is wrong, so (B)", "B", False),
        ("the answer is a triangle", "A", False),
        ("", "A", False),
    ],
)
def test_option_mode(answer, reference, expected):
    assert verifier_match(answer, reference, mode="option") is expected


@pytest.mark.parametrize(
    "answer,reference,expected",
    [
        ("(B)", "B", True),  # option
        ("AB", "B", False),
        ("It is 1,200.", "1200", True),  # numeric
        ("12", "120", False),
        ("the cat", "Cat", True),  # exact
        ("12 apples", "12 apples", True),
        ("12", "12 apples", False),
    ],
)
def test_auto_mode_picks_by_the_reference(answer, reference, expected):
    assert verifier_match(answer, reference) is expected


def test_unknown_mode_lists_the_modes():
    with pytest.raises(ValueError, match="auto, exact, numeric, option"):
        verifier_match("1", "1", mode="fuzzy")
    with pytest.raises(ValueError, match="fuzzy"):
        verifier_rewards([None], "1", [False], mode="fuzzy")


# --- verifier_rewards ---


def test_verifier_rewards_give_correctness_only_to_valid_rollouts():
    results = verifier_rewards(["42", "41", "42", None], "42", [True, True, False, False], format_weight=0.5)
    assert parts(results) == [(1.0, 1.0, 0.0, 1.5), (1.0, 0.0, 0.0, 0.5), (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)]


def test_verifier_rewards_length_mismatch():
    with pytest.raises(ValueError, match="lengths 2 and 1"):
        verifier_rewards(["a", "b"], "a", [True])


def test_the_worked_examples_in_the_docstrings_hold():
    import doctest

    import training.rewards

    assert doctest.testmod(training.rewards).failed == 0
