import itertools
from typing import Any

import pytest

from storage import RolloutRecord
from training.config import RunConfig
from training.flags import (
    FLAGS_VERSION,
    LONG_REASONING_MIN_TOKENS,
    MIN_RANKED,
    REPETITION_MIN_COUNT,
    REPETITION_NGRAM,
    ROLLOUT_FLAGS,
    STEP_FLAGS,
    TagSettings,
    flag_counts,
    flag_step,
    flags_of_step,
    has_flag,
    has_ranking_signal,
    metric_key,
    rollout_flags,
    step_flags,
)
from training.prompts import PLACEHOLDER, build_messages, format_line, instruction, nover_instruction

_ids = itertools.count(1)
VALID = "<think>\nadd the two numbers\n</think>\n<answer> 4 </answer>"


def rollout(group: int = 0, sample: int = 0, **overrides: Any) -> RolloutRecord:
    fields = dict(
        id=next(_ids),
        run_id=1,
        step=3,
        group_index=group,
        sample_index=sample,
        prompt_id=group,
        prompt="2+2?",
        reference="4",
        completion=VALID,
        reasoning="add the two numbers",
        answer="4",
        reward=1.5,
        reward_format=1.0,
        reward_reasoning=0.5,
        reward_efficiency=0.0,
        perplexity=3.25,
        reasoning_tokens=10,
        completion_tokens=20,
        advantage=0.1,
        truncated=False,
        format_valid=True,
        extras=None,
    )
    fields.update(overrides)
    return RolloutRecord(**fields)


def invalid(completion: str, **overrides: Any) -> RolloutRecord:
    values = dict(
        completion=completion,
        reasoning=None,
        answer=None,
        reward=0.0,
        reward_format=0.0,
        reward_reasoning=0.0,
        reward_efficiency=0.0,
        perplexity=None,
        reasoning_tokens=None,
    )
    return rollout(format_valid=False, **{**values, **overrides})


def flags_of(r: RolloutRecord, group: list[RolloutRecord] | None = None, **tags: str) -> list[str]:
    return rollout_flags(r, group if group is not None else [r], TagSettings(**tags))


def test_a_clean_valid_rollout_has_no_flag():
    assert flags_of(rollout()) == []


def test_truncated():
    assert flags_of(rollout(truncated=True)) == ["truncated"]
    assert "truncated" in flags_of(invalid("<think>and then", truncated=True))


@pytest.mark.parametrize(
    "completion",
    [
        "just an answer: 4",
        "<think>a</think> 4",
        "<answer>4</answer>",
        "<think>a</think><answer>4",
        "<think>a<answer>4</answer>",
        "think>a</think><answer>4</answer>",
    ],
)
def test_missing_tags_when_any_of_the_four_tags_is_absent(completion):
    assert "missing tags" in flags_of(invalid(completion))


@pytest.mark.parametrize(
    "completion", ["Sure! <think>a</think><answer>4</answer>", "<think>a</think><answer>4</answer> done"]
)
def test_stray_text_outside_well_formed_tags_is_neither_missing_nor_malformed(completion):
    assert flags_of(invalid(completion)) == []


def test_a_format_valid_rollout_never_has_tag_flags_even_if_its_text_lacks_the_default_tags():
    # Scored with custom tags, viewed with the defaults: the stored validity wins.
    story = rollout(completion="<story>once</story><rubric>kind</rubric>")
    assert flags_of(story) == []
    assert flags_of(story, intermediate="story", final="rubric") == []


def test_custom_tag_names_are_used():
    completion = "<story>once</story><rubric>kind</rubric><rubric>again</rubric>"
    assert flags_of(invalid(completion), intermediate="story", final="rubric") == ["malformed tags"]
    assert flags_of(invalid(completion)) == ["missing tags"]


@pytest.mark.parametrize(
    "completion",
    [
        "<think>a</think><answer>4</answer><answer>5</answer>",
        "<think>a</think><think>b</think><answer>4</answer>",
        "</think>a<think><answer>4</answer>",
        "<answer>4</answer><think>a</think>",
        "<think>a<answer>4</think></answer>",
    ],
)
def test_malformed_tags_when_repeated_or_out_of_order(completion):
    assert flags_of(invalid(completion)) == ["malformed tags"]


def test_a_repeated_tag_with_another_missing_is_both_missing_and_malformed():
    assert flags_of(invalid("<think>a<think>b</think>")) == ["missing tags", "malformed tags"]


def test_empty_answer_only_for_format_valid_rollouts():
    assert flags_of(rollout(completion="<think>a</think><answer> \n </answer>", answer="")) == ["empty answer"]
    assert flags_of(rollout(answer="  ")) == ["empty answer"]
    assert flags_of(rollout(answer=None)) == ["empty answer"]
    assert "empty answer" not in flags_of(invalid("<think>a</think><answer></answer> extra", answer=""))


def test_repetition_threshold_edge():
    phrase = "so the answer is"
    assert REPETITION_NGRAM == 4 and REPETITION_MIN_COUNT == 3
    below = rollout(completion=f"<think> {phrase} 4, {phrase} 4 </think><answer>4</answer>")
    at = rollout(completion=f"<think> {phrase} 4, {phrase} 4, {phrase} </think><answer>4</answer>")
    assert "repetition" not in flags_of(below)
    assert flags_of(at) == ["repetition"]


def test_repetition_counts_overlapping_ngrams_and_ignores_case_and_spacing():
    assert flags_of(invalid("no no no no no no")) == ["missing tags", "repetition"]  # (no,no,no,no) 3 times
    assert "repetition" not in flags_of(invalid("no no no no no"))
    assert "repetition" in flags_of(invalid("Wait let me check.\nwait LET me check. wait let  me check."))
    assert "repetition" not in flags_of(invalid("one two three"))


def test_long_reasoning_compares_with_the_group_median():
    group = [rollout(sample=i, reasoning_tokens=n) for i, n in enumerate([20, 10, 30, 41, 40])]
    group.append(invalid("cut off", sample=5, reasoning_tokens=None))  # median of 10, 20, 30, 40, 41 is 30
    assert [has_flag(r, group, "long reasoning") for r in group] == [False] * 6
    longer = rollout(sample=6, reasoning_tokens=61)
    group.append(longer)  # median of 10, 20, 30, 40, 41, 61 is 35: 61 is not above 70
    assert not has_flag(longer, group, "long reasoning")
    assert has_flag(longer, group[:3] + [longer], "long reasoning")  # median 20, 61 > 40


def test_long_reasoning_needs_a_minimum_length():
    short = [rollout(sample=i, reasoning_tokens=n) for i, n in enumerate([2, 3, 3])]
    at_minimum = rollout(sample=3, reasoning_tokens=LONG_REASONING_MIN_TOKENS)
    above = rollout(sample=4, reasoning_tokens=LONG_REASONING_MIN_TOKENS + 1)
    assert not has_flag(at_minimum, short + [at_minimum], "long reasoning")
    assert has_flag(above, short + [above], "long reasoning")
    assert rollout_flags(above, short + [above]) == ["long reasoning"]


def test_the_placeholder_is_what_every_instruction_shows_in_both_tags():
    assert PLACEHOLDER == "..." and format_line("story", "rubric") == "<story> ... </story> <rubric> ... </rubric>"
    shown = [nover_instruction("think", "answer"), instruction("planning", "think", "answer")]
    system = build_messages("2+2?", RunConfig(format_example=True))[0]["content"]
    assert all(format_line("think", "answer") in text for text in [*shown, system])


@pytest.mark.parametrize(
    "completion",
    [
        "<think> ... </think><answer>No+++</answer>",  # the case of issue 13: a copied reasoning, rank 1/1
        "<think>add 2 and 2</think>\n<answer>\n...\n</answer>",
        format_line("think", "answer"),  # the instruction's format line copied whole
    ],
)
def test_a_reasoning_or_answer_copied_from_the_placeholder_is_flagged(completion):
    assert "copied placeholder" in flags_of(rollout(completion=completion))


@pytest.mark.parametrize(
    "completion",
    [
        "<think>....</think><answer>4</answer>",
        "<think>... so it is 4</think><answer>4</answer>",
        "<think>a</think><answer>4...</answer>",
        "... <answer>4</answer>",  # no reasoning block: the text outside tags is not a copied block
    ],
)
def test_text_that_only_contains_the_placeholder_is_not_flagged(completion):
    assert "copied placeholder" not in flags_of(invalid(completion))


def test_the_placeholder_flag_reads_blocks_as_the_format_reward_does():
    # An invalid rollout's complete reasoning block counts; the prefill and the run's tags are honoured.
    assert flags_of(invalid("<think>...</think> and then", truncated=True)) == [
        "truncated",
        "missing tags",
        "copied placeholder",
    ]
    assert "copied placeholder" in flags_of(invalid(" ...\n</think><answer>4</answer>"), prefill="<think>\n")
    assert "copied placeholder" not in flags_of(invalid(" ...\n</think><answer>4</answer>"))
    story = rollout(completion="<story>...</story><rubric>kind</rubric>")
    assert flags_of(story, intermediate="story", final="rubric") == ["copied placeholder"]
    assert flags_of(story) == []


def test_several_flags_at_once_in_vocabulary_order():
    r = invalid("<answer> loop loop loop loop loop loop", truncated=True, reasoning_tokens=100)
    group = [r] + [rollout(sample=i, reasoning_tokens=10) for i in range(1, 4)]
    assert rollout_flags(r, group) == ["truncated", "missing tags", "repetition", "long reasoning"]
    assert [flag for flag in ROLLOUT_FLAGS if has_flag(r, group, flag)] == rollout_flags(r, group)


def test_unknown_flag_names_the_vocabulary():
    with pytest.raises(ValueError, match="unknown flag 'loops'.*'repetition'"):
        has_flag(rollout(), [], "loops")


def test_step_flags():
    assert STEP_FLAGS == ("all invalid", "zero reward variance", "no ranking signal")
    mixed = [rollout(sample=0, reward=2.0), rollout(sample=1, reward=1.0)]
    assert step_flags(mixed) == []
    unranked = ["all invalid", "no ranking signal"]
    assert step_flags([invalid("x", sample=0, reward=0.0), invalid("y", sample=1, reward=0.1)]) == unranked
    assert step_flags([invalid("x", sample=0), invalid("y", sample=1)]) == [
        "all invalid",
        "zero reward variance",
        "no ranking signal",
    ]
    flat_group = [rollout(group=1, sample=0, reward=1.5), rollout(group=1, sample=1, reward=1.5 + 1e-12)]
    assert step_flags(mixed + flat_group) == ["zero reward variance"]
    lone_valid = [rollout(group=2, sample=0, reward=2.0), invalid("x", group=2, sample=1)]
    assert step_flags(mixed + lone_valid) == ["no ranking signal"]
    assert step_flags([]) == []


def test_a_group_needs_two_format_valid_rollouts_for_a_ranking_signal():
    assert MIN_RANKED == 2
    assert not has_ranking_signal([])
    assert not has_ranking_signal([rollout(sample=0)] + [invalid("x", sample=s) for s in range(1, 8)])
    assert has_ranking_signal([rollout(sample=0), rollout(sample=1)] + [invalid("x", sample=2)])


def test_flag_counts_on_a_mixed_step():
    group_a = [
        rollout(sample=0, reward=2.0),
        rollout(sample=1, reward=1.0, truncated=True, answer=" "),
        invalid("<think> again again again again again again", sample=2, truncated=True, reasoning_tokens=90),
        invalid("<think>a</think><answer>1</answer><answer>2</answer>", sample=3),
    ]
    group_b = [invalid("nothing", group=1, sample=0), invalid("<answer>x</answer>", group=1, sample=1)]
    group_c = [rollout(group=2, sample=0, reward=1.25)]
    counts = flag_counts(group_b + group_a[::-1] + group_c)
    assert counts == {
        "flags/truncated": 2,
        "flags/missing_tags": 3,
        "flags/malformed_tags": 1,
        "flags/empty_answer": 1,
        "flags/repetition": 1,
        "flags/long_reasoning": 1,
        "flags/copied_placeholder": 0,
        "flags/groups_with_zero_reward_variance": 2,
        "flags/groups_without_ranking_signal": 2,  # group b: no valid rollout, group c: one
        "flags/all_invalid": 0,
    }
    assert set(counts) == {metric_key(flag) for flag in ROLLOUT_FLAGS} | {
        "flags/groups_with_zero_reward_variance",
        "flags/groups_without_ranking_signal",
        "flags/all_invalid",
    }
    assert flag_counts(group_b)["flags/all_invalid"] == 1


def test_flag_counts_of_an_empty_step_has_every_key_at_zero():
    counts = flag_counts([])
    assert len(counts) == len(ROLLOUT_FLAGS) + 3 and set(counts.values()) == {0}
    assert metric_key("missing tags") == "flags/missing_tags"


def test_a_prefilled_opening_tag_counts_as_written():
    # A prefilled run's completions start after "<think>\n": the tag is in the prompt, not in the text.
    closed_twice = invalid("why</think><answer>4</answer></answer>")
    assert flags_of(closed_twice) == ["missing tags", "malformed tags"]
    assert flags_of(closed_twice, prefill="<think>\n") == ["malformed tags"]
    unfinished = invalid("why</think><answer>4")
    assert flags_of(unfinished, prefill="<think>\n") == ["missing tags"]
    prefilled = TagSettings(prefill="<think>\n")
    assert flag_counts([unfinished], flags_of_step([unfinished], prefilled))["flags/missing_tags"] == 1


def test_tag_settings_of_a_run_config():
    assert TagSettings.of(RunConfig()) == TagSettings("think", "answer", "")
    story = RunConfig(intermediate_tag="story", final_tag="rubric", prefill_intermediate=True)
    assert TagSettings.of(story) == TagSettings("story", "rubric", "<story>\n")


def test_flags_of_step_gives_each_rollout_its_flags_in_order_with_its_own_group():
    # Sample 2 of group 0 is long only next to group 0's short reasonings, not among group 1's long ones.
    group_a = [rollout(sample=i, reasoning_tokens=10) for i in range(2)] + [rollout(sample=2, reasoning_tokens=40)]
    group_b = [rollout(group=1, sample=i, reasoning_tokens=40) for i in range(3)]
    looping = invalid("<think> go on go on go on go on go on go on", group=1, sample=3, truncated=True)
    rows = [group_b[0], group_a[2], looping, *group_a[:2], *group_b[1:]]
    assert flags_of_step(rows) == [[], ["long reasoning"], ["truncated", "missing tags", "repetition"], [], [], [], []]
    assert flags_of_step([]) == []
    custom = invalid("<story>a</story><rubric>b</rubric><rubric>c</rubric>")
    assert flags_of_step([custom], TagSettings("story", "rubric")) == [["malformed tags"]]


def test_flag_step_stamps_each_row_and_counts_the_same_flags():
    rows = [
        dict(
            group_index=0,
            sample_index=0,
            completion="cut",
            answer=None,
            reward=0.0,
            reasoning_tokens=None,
            truncated=True,
            format_valid=False,
        ),
        dict(
            group_index=0,
            sample_index=1,
            completion=VALID,
            answer="4",
            reward=1.0,
            reasoning_tokens=4,
            truncated=False,
            format_valid=True,
        ),
    ]
    flagged, counts = flag_step(7, rows)
    assert [(row["flags"], row["flags_version"]) for row in flagged] == [
        (["truncated", "missing tags"], FLAGS_VERSION),
        ([], FLAGS_VERSION),
    ]
    assert [{k: v for k, v in row.items() if k not in ("flags", "flags_version")} for row in flagged] == rows
    assert counts["flags/truncated"] == counts["flags/missing_tags"] == 1 and counts["flags/all_invalid"] == 0


def test_the_worked_example_in_the_docstrings_holds():
    import doctest

    import training.flags

    result = doctest.testmod(training.flags)
    assert result.attempted >= 1 and result.failed == 0
