"""The Compare tab's handlers on a real SQLite Store: one prompt followed across steps and runs."""

import pytest

from nover_ui.compare_tab import (
    PICK_FIRST,
    build_compare,
    compare,
    pick_prompt,
    pick_run,
    pick_side_run,
    pick_step,
    refresh_runs,
)
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import built


@pytest.fixture
def tab(store):
    return built(build_compare, store)


def run_over_steps(store, name, steps, rewards=(0.5, 1.5)):
    run = store.start_run(store.create_run(name, {}).id, "w")
    for step in steps:
        rows = [rollout_row(0, s, reward=r, reasoning=f"{name} {step} {s}") for s, r in enumerate(rewards)]
        store.log_step(run.id, step, rollouts=rows)
    return run


def test_the_first_visit_picks_the_newest_run_and_a_later_one_keeps_the_choice(store, tab):
    old = run_over_steps(store, "old", [1])
    new = run_over_steps(store, "new", [1])
    first = refresh_runs(store, tab, None)
    assert set(first) == {tab.run_dd, tab.left.run_dd, tab.right.run_dd}
    assert first[tab.run_dd]["value"] == new.id
    assert "value" not in first[tab.left.run_dd] and len(first[tab.right.run_dd]["choices"]) == 2
    assert refresh_runs(store, tab, old.id)[tab.run_dd]["value"] == old.id


def test_a_run_offers_its_prompts_and_both_sides_follow_it(store, tab):
    run = run_over_steps(store, "r", [1, 2])
    [prompt] = store.list_prompts(run.id)
    picked = pick_run(store, tab, run.id)
    assert picked[tab.prompt_dd]["value"] == prompt.key
    assert picked[tab.prompt_dd]["choices"] == [("question 0? (4 rollouts)", prompt.key)]
    assert picked[tab.left.run_dd]["value"] == picked[tab.right.run_dd]["value"] == run.id


def test_left_opens_on_the_first_step_right_on_the_last_each_on_its_best_rollout(store, tab):
    run = run_over_steps(store, "r", [1, 2, 3], rewards=(0.5, 1.5))
    key = store.list_prompts(run.id)[0].key
    assert pick_side_run(store, tab.left, run.id, key) == {
        tab.left.step_dd: {"__type__": "update", "choices": [1, 2, 3], "value": 1}
    }
    assert pick_side_run(store, tab.right, run.id, key)[tab.right.step_dd]["value"] == 3
    assert pick_side_run(store, tab.right, None, key)[tab.right.step_dd] == {
        "__type__": "update",
        "choices": [],
        "value": None,
    }
    rollouts = pick_step(store, tab.left, run.id, key, 1)[tab.left.sample_dd]
    assert rollouts["value"] == 1 and [value for _, value in rollouts["choices"]] == [0, 1]
    assert rollouts["choices"][1][0] == "#1 reward 1.500"


def test_two_rollouts_side_by_side_and_the_history_of_both_runs(store, tab):
    left = run_over_steps(store, "left", [1, 2])
    right = run_over_steps(store, "right", [1])
    key = store.list_prompts(left.id)[0].key
    shown = compare(store, tab, key, left.id, 1, 0, right.id, 1, 1)[tab.compare_html]
    assert f"run {left.id} · step 1 · #0" in shown and f"run {right.id} · step 1 · #1" in shown
    assert "Δ reward +1.000" in shown
    missing = compare(store, tab, key, left.id, 1, 0, right.id, 7, 0)[tab.compare_html]
    assert missing == "<p>Pick a step and a rollout on both sides.</p>"
    assert compare(store, tab, None, None, None, None, None, None, None) == {tab.compare_html: PICK_FIRST}
    figure = pick_prompt(store, tab, key, left.id, right.id)[tab.history_plot]
    assert [trace.name for trace in figure.data if trace.name.endswith("best reward")] == [
        f"#{left.id} best reward",
        f"#{right.id} best reward",
    ]
    assert list(figure.data[0].x) == [1, 2]
    same_run = pick_prompt(store, tab, key, left.id, left.id)[tab.history_plot]
    assert len(same_run.data) == 3  # one run: its history once
    assert pick_prompt(store, tab, None, left.id, right.id) == {tab.history_plot: None}
