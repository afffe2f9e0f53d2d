import dataclasses
import itertools
import math
import random
import re
from typing import Any

import pytest

from nover_ui.traces_view import (
    FILTERS,
    NOT_COMPUTED,
    SORTS,
    TRACES_CSS,
    groups_of_step,
    perplexity_ranks,
    render_search,
    render_step,
    select,
)
from storage import RolloutRecord
from tests.helpers import TagCollector, chatml, parsed
from training.config import RunConfig
from training.flags import FLAGS_VERSION, flags_of_step
from training.prompts import build_messages, build_prompt, user_turn

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ALLOWED_TAGS = {"div", "section", "article", "header", "span", "p", "details", "summary", "ol", "li", "mark"}
_ids = itertools.count(1)


def rollout(group: int = 0, sample: int = 0, **overrides: Any) -> RolloutRecord:
    fields = dict(
        id=next(_ids),
        run_id=1,
        step=3,
        group_index=group,
        sample_index=sample,
        prompt_id=group,
        prompt=f"question {group}?",
        reference=f"reference {group}",
        completion=f"<think>why {sample}</think><answer>ans {sample}</answer>",
        reasoning=f"why {sample}",
        answer=f"ans {sample}",
        reward=1.5,
        reward_format=1.0,
        reward_reasoning=0.5,
        reward_efficiency=0.0,
        perplexity=3.25,
        reasoning_tokens=4,
        completion_tokens=12,
        advantage=0.1,
        truncated=False,
        format_valid=True,
        extras=None,
        flags=(),
        flags_version=FLAGS_VERSION,
    )
    fields.update(overrides)
    return RolloutRecord(**fields)


def flagged(rollouts: list[RolloutRecord]) -> list[RolloutRecord]:
    """The rollouts with the flags the worker stores with them."""
    flags = flags_of_step(rollouts)
    return [dataclasses.replace(r, flags=tuple(f), flags_version=FLAGS_VERSION) for r, f in zip(rollouts, flags)]


def invalid(group: int = 0, sample: int = 0, **overrides: Any) -> RolloutRecord:
    values = dict(
        completion=f"no tags {sample}",
        reasoning=None,
        answer=None,
        reward=0.0,
        reward_reasoning=0.0,
        reward_format=0.0,
        reward_efficiency=0.0,
        perplexity=None,
        reasoning_tokens=None,
    )
    return rollout(group, sample, format_valid=False, **{**values, **overrides})


def assert_only_own_markup(markup: str) -> TagCollector:
    page = parsed(markup)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS
    for _, attrs in page.tags:
        assert list(attrs) in ([], ["class"]), attrs
    lowered = markup.lower()
    assert "<script" not in lowered and "<img" not in lowered and "javascript:" not in lowered
    return page


def test_perplexity_ranks_use_competition_ranking_and_skip_unranked_rollouts():
    group = [
        rollout(sample=0, perplexity=2.0),
        rollout(sample=1, perplexity=1.5),
        rollout(sample=2, perplexity=2.0),
        rollout(sample=3, perplexity=5.0),
        rollout(sample=4, perplexity=None),
        rollout(sample=5, perplexity=math.nan),
        invalid(sample=6),
        invalid(sample=7, perplexity=0.5),
        rollout(sample=8, perplexity=math.inf),
    ]
    ranks = perplexity_ranks(group)
    assert ranks == {group[1].id: 1, group[0].id: 2, group[2].id: 2, group[3].id: 4}
    assert perplexity_ranks([]) == {}


def test_groups_of_step_regroups_shuffled_rows_in_order():
    rows = [rollout(group=g, sample=s) for g in (4, 1) for s in range(5)]
    random.Random(0).shuffle(rows)
    groups = groups_of_step(rows)
    assert [[(r.group_index, r.sample_index) for r in group] for group in groups] == [
        [(1, s) for s in range(5)],
        [(4, s) for s in range(5)],
    ]
    assert groups_of_step([]) == []


@pytest.fixture
def mixed_group() -> list[RolloutRecord]:
    return [
        rollout(sample=0, reward=1.5, perplexity=3.0, advantage=0.2),
        invalid(sample=1, advantage=-1.1),
        rollout(sample=2, reward=2.5, perplexity=1.2, advantage=1.0, truncated=True),
        rollout(sample=3, reward=0.9, perplexity=math.nan, advantage=None),
        invalid(sample=4, truncated=True, reward=0.1, advantage=-0.9),
    ]


@pytest.mark.parametrize(
    "filter, samples",
    [
        ("all", [0, 1, 2, 3, 4]),
        ("format failures", [1, 4]),
        ("truncated", [2, 4]),
        ("top reward", [0, 2]),
        ("bottom reward", [1, 4]),
    ],
)
def test_each_filter_keeps_its_rollouts(mixed_group, filter, samples):
    assert [r.sample_index for r in select(mixed_group[::-1], filter, "sample")] == samples


def test_top_k_sets_how_many_extremes_are_kept(mixed_group):
    assert [r.sample_index for r in select(mixed_group, "top reward", "reward", top_k=3)] == [2, 0, 3]
    assert [r.sample_index for r in select(mixed_group, "bottom reward", "reward", top_k=1)] == [1]


@pytest.mark.parametrize(
    "sort, samples",
    [
        ("sample", [0, 1, 2, 3, 4]),
        ("reward", [2, 0, 3, 4, 1]),
        ("perplexity", [2, 0, 1, 3, 4]),
        ("advantage", [2, 0, 4, 1, 3]),
    ],
)
def test_each_sort_orders_rollouts_with_missing_values_last(mixed_group, sort, samples):
    assert [r.sample_index for r in select(mixed_group[::-1], "all", sort)] == samples


def test_unknown_filter_or_sort_names_the_allowed_values(mixed_group):
    with pytest.raises(ValueError, match="unknown filter 'best'.*'format failures'"):
        select(mixed_group, "best", "sample")
    with pytest.raises(ValueError, match="unknown sort 'ppl'.*'perplexity'"):
        render_step(mixed_group, sort="ppl")
    assert set(FILTERS) == {
        "all",
        "format failures",
        "truncated",
        "top reward",
        "bottom reward",
        "missing tags",
        "malformed tags",
        "empty answer",
        "repetition",
        "long reasoning",
        "copied placeholder",
        "no ranking signal",
    }
    assert set(SORTS) == {"sample", "reward", "perplexity", "advantage"}


@pytest.mark.parametrize("collapse_chars", [600, 30])  # texts shown whole, and folded into <details>
def test_hostile_text_is_shown_as_text_and_never_becomes_markup(collapse_chars):
    hostile = f"{SCRIPT} and {IMG}"
    group = [
        rollout(sample=0, prompt=hostile, reference=hostile, reasoning=hostile, answer=hostile, completion=hostile),
        invalid(sample=1, prompt=hostile, reference=hostile, completion=hostile + " \"quoted\" 'single'"),
        rollout(sample=2, prompt=hostile, reasoning=hostile * 20),
    ]
    markup = render_step(group, collapse_chars=collapse_chars)
    page = assert_only_own_markup(markup)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "&quot;quoted&quot; &#x27;single&#x27;" in markup
    shown = "".join(page.text)
    assert shown.count(SCRIPT) >= 6 and IMG in shown  # the reader sees the text exactly as the model wrote it


def test_reasoning_and_answer_are_shown_in_separate_blocks():
    markup = render_step([rollout(reasoning="step by step", answer="42"), invalid(sample=1, completion="just 42")])
    assert re.search(
        r'class="block reasoning"><div class="label">reasoning</div><div class="text">step by step</div>', markup
    )
    assert re.search(r'class="block answer"><div class="label">answer</div><div class="text">42</div>', markup)
    assert '<div class="label">completion (not format-valid)</div><div class="text">just 42</div>' in markup
    assert markup.count('class="block reasoning"') == 1  # the invalid rollout shows no reasoning block
    assert "format-valid</span>" in markup and "format failure</span>" in markup
    assert '<article class="card valid">' in markup and '<article class="card invalid">' in markup


def test_long_text_is_collapsed_into_details_with_the_full_text_inside():
    long_reasoning = "x" * 50 + "TAIL"
    markup = render_step([rollout(reasoning=long_reasoning, answer="short")], collapse_chars=20)
    assert f"<details><summary>{'x' * 20}…</summary>{long_reasoning}</details>" in markup
    assert markup.count("<details>") == 1  # the short answer, prompt and reference stay open


def test_badges_numbers_and_rank_line():
    group = [
        rollout(
            sample=0,
            perplexity=1.834,
            reward=2.125,
            reward_reasoning=0.875,
            reward_efficiency=0.25,
            advantage=0.5321,
            reasoning_tokens=120,
            completion_tokens=180,
            truncated=True,
            flags=("truncated",),
        ),
        rollout(sample=1, perplexity=2.5, advantage=-0.25),
        invalid(sample=2, advantage=math.nan),
    ]
    cards = render_step(group).split("<article")[1:]
    assert '<span class="badge truncated">truncated</span>' in cards[0]
    assert "truncated" not in cards[1]
    assert "ppl 1.83 · rank 1/2 · adv +0.532" in cards[0]
    assert "reward 2.125" in cards[0] and "format 1.000 · reasoning 0.875 · efficiency 0.250" in cards[0]
    assert "tokens 120 reasoning / 180 completion" in cards[0]
    assert "ppl 2.50 · rank 2/2 · adv -0.250" in cards[1]
    assert "ppl – · adv –" in cards[2] and "tokens – reasoning / 12 completion" in cards[2]


def test_prompt_and_reference_appear_once_per_group_and_cards_sit_in_a_grid():
    rows = [rollout(group=g, sample=s, prompt=f"unique prompt {g}") for g in range(2) for s in range(8)]
    markup = render_step(rows)
    assert markup.count("unique prompt 0") == 1 and markup.count("unique prompt 1") == 1
    assert markup.count('<section class="group">') == 2 and markup.count("<article") == 16
    assert markup.startswith('<div class="nover-traces">') and markup.endswith("</div>")
    assert "repeat(auto-fill, minmax(280px, 1fr))" in TRACES_CSS and "white-space: pre-wrap" in TRACES_CSS


def test_a_filter_that_empties_a_group_says_so_and_empty_steps_say_so():
    markup = render_step([rollout(group=0), invalid(group=1)], filter="format failures")
    assert markup.count("no rollouts match") == 1 and markup.count("<article") == 1
    assert "no rollouts at this step" in render_step([])


def test_every_css_selector_is_scoped_under_nover_traces():
    selectors = [s.strip() for rule in TRACES_CSS.split("}") if "{" in rule for s in rule.split("{")[0].split(",")]
    assert selectors and all(s.startswith(".nover-traces") for s in selectors), selectors


def test_search_marks_the_first_match_with_context_and_escapes_around_it():
    hit = rollout(
        completion="<i>before</i> the Needle and the needle <i>after</i>", step=7, group=2, sample=5, reward=1.25
    )
    markup = render_search([hit], "needle", context_chars=10)
    assert "&lt;/i&gt; the <mark>Needle</mark> and the n…" in markup
    assert "step 7 · group 2 · sample 5 · reward 1.250" in markup
    page = assert_only_own_markup(markup)
    assert [tag for tag, _ in page.tags].count("mark") == 1


def test_a_query_that_looks_like_markup_is_escaped_too():
    markup = render_search([rollout(completion=f"say <b>bold</b> {SCRIPT}")], "<b>")
    assert "<mark>&lt;b&gt;</mark>bold&lt;/b&gt; &lt;script&gt;" in markup
    assert "“&lt;b&gt;”" in markup
    assert_only_own_markup(markup)


def test_search_limits_hits_and_reports_what_it_left_out():
    markup = render_search([rollout(sample=s, completion=f"hit {s}") for s in range(7)], "hit", limit=3)
    assert markup.count("<li>") == 3 and "4 more hits not shown" in markup
    assert "more hits" not in render_search([rollout(completion="hit")], "hit", limit=3)


def test_search_without_query_or_hits_gives_a_short_message():
    assert "<li>" not in render_search([rollout(completion="anything")], "  ")
    assert "no rollouts match" in render_search([], "needle")


def test_a_flag_filter_keeps_the_flagged_rollouts_and_cards_show_their_flags():
    looping, fine = flagged([invalid(sample=0, completion="go on go on go on go on go on go on"), rollout(sample=1)])
    assert select([looping, fine], "repetition", "sample") == [looping]
    assert select([looping, fine], "missing tags", "sample") == [looping]
    page = render_step([looping, fine], filter="repetition")
    assert page.count("<article") == 1 and ">repetition</span>" in page and ">missing tags</span>" in page


def test_flags_are_read_as_stored_never_recomputed():
    # Stored flags that the text would not give (a later flag set, another run's tags) are what the view shows.
    stored = rollout(sample=0, completion="go on go on go on go on go on go on", flags=("long reasoning",))
    assert select([stored], "long reasoning", "sample") == [stored]
    assert select([stored], "repetition", "sample") == []
    page = render_step([stored])
    assert ">long reasoning</span>" in page and "repetition" not in page


def test_rollouts_without_computed_flags_say_so_and_match_no_flag_filter():
    old = invalid(sample=0, completion="go on go on go on go on go on go on", truncated=True, flags=None)
    old_fine = rollout(sample=1, flags=None, flags_version=None)
    page = render_step([old, old_fine])
    cards = page.split("<article")[1:]
    assert f'<span class="badge pending">{NOT_COMPUTED}</span>' in cards[0] and NOT_COMPUTED in cards[1]
    assert '<span class="badge truncated">truncated</span>' in cards[0]  # its own column, always known
    assert "truncated" not in cards[1]
    assert select([old, old_fine], "repetition", "sample") == []
    assert select([old, old_fine], "truncated", "sample") == [old]
    assert "flags of some rollouts here are not computed yet" in render_step([old, old_fine], filter="repetition")
    assert "not computed yet" not in render_step([rollout()], filter="repetition")


def test_a_group_with_fewer_than_two_valid_rollouts_is_marked_no_ranking_signal_with_the_reason():
    lone = [rollout(group=0, sample=0, reasoning="...", reward=2.0)] + [invalid(0, s) for s in range(1, 8)]
    none_valid = [invalid(1, s) for s in range(3)]
    ranked = [rollout(group=2, sample=s, perplexity=1.0 + s) for s in range(2)] + [invalid(2, 2)]
    markup = render_step(lone + none_valid + ranked)
    sections = markup.split('<section class="group">')[1:]
    head = '<div class="group-head">step 3 · group 0 · 8 rollouts<span class="badge no-signal">no ranking signal</span>'
    assert sections[0].startswith(head)
    assert "only 1 of 8 rollouts is format-valid: its rank 1/1 carries no comparison" in sections[0]
    assert "rank 1/1" in sections[0].split("<article")[1]  # the card the marker explains
    assert "none of the 3 rollouts is format-valid" in sections[1]
    assert "no ranking signal" not in sections[2] and "rank 2/2" in sections[2]
    assert_only_own_markup(markup)


def test_the_no_ranking_signal_filter_keeps_whole_groups_without_signal():
    lone = [rollout(group=0, sample=0), invalid(0, 1)]
    ranked = [rollout(group=1, sample=s) for s in range(2)]
    assert select(lone, "no ranking signal", "sample") == lone
    assert select(ranked, "no ranking signal", "sample") == []
    markup = render_step(lone + ranked, filter="no ranking signal")
    assert markup.count("<article") == 2 and markup.count("no rollouts match") == 1


@pytest.mark.parametrize("rendering", ["chatml", "plain"])
def test_the_question_and_reference_show_first_and_the_whole_prompt_is_folded_below(rendering):
    config = RunConfig(format_example=True, prefill_intermediate=True)
    asked = f"Which is larger, 3 or {SCRIPT}?"
    prompt = chatml(build_messages(asked, config)) if rendering == "chatml" else build_prompt(asked, config)
    markup = render_step([rollout(prompt=prompt, reference="3")], collapse_chars=60)
    page = assert_only_own_markup(markup)
    question_at = markup.index('<div class="label">question</div>')
    reference_at = markup.index('<div class="label">reference</div>')
    folded_at = markup.index('<details class="block prompt full-prompt">')
    assert question_at < reference_at < folded_at < markup.index("<article")
    shown_question = markup[question_at:reference_at]
    assert "Which is larger, 3 or &lt;script&gt;" in shown_question and "Tom has 2 pencils" not in shown_question
    assert "You are a helpful assistant" not in markup[:folded_at]  # the system line and the example are folded
    assert prompt in "".join(page.text)  # the whole prompt, as text, inside the fold
    assert user_turn(asked, config).startswith(asked) and f"({len(prompt):,} characters)" in markup


def test_a_prompt_that_is_only_its_question_is_not_folded():
    markup = render_step([rollout(prompt="  What is 2+2?\n")])
    assert "full-prompt" not in markup and '<div class="label">question</div>' in markup


def test_a_card_names_every_stored_reward_component_escaped():
    extras = {"rewards": {"format": 1.0, "rlpr": 0.125, "<b>verifier</b>": 1.0}, "recipe_value": 0.125}
    markup = render_step([rollout(extras=extras)])
    assert "format 1.000 · rlpr 0.125 · &lt;b&gt;verifier&lt;/b&gt; 1.000 · raw value 0.125" in markup
    assert_only_own_markup(markup)
    old = render_step([rollout(extras=None)])  # a run stored before the recipes: the three columns
    assert "format " in old and "efficiency " in old
