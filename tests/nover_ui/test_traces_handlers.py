"""The Traces tab's handlers on a real SQLite Store: the run, step, filter and page they set."""

import json

import gradio as gr
import pytest

from nover_ui.traces_tab import (
    NO_ROLLOUTS,
    PICK_RUN,
    build_traces,
    filter_for_metric,
    latest,
    on_open,
    open_clicked_point,
    open_step,
    search,
    show_step,
)
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import built


@pytest.fixture
def traces(store):
    return built(build_traces, store)


def run_with_steps(store, name, steps):
    run = store.start_run(store.create_run(name, {}).id, "w")
    for step in steps:
        store.log_step(run.id, step, rollouts=[rollout_row(0, s, reasoning=f"{name} step {step} #{s}") for s in (0, 1)])
    return run


def test_the_first_visit_opens_the_newest_runs_latest_step(store, traces):
    run_with_steps(store, "old", [1])
    new = run_with_steps(store, "new", [1, 2, 3])
    shown = on_open(store, traces, None, "all", "sample")
    assert set(shown) == traces.page
    assert shown[traces.run_dd]["value"] == new.id
    assert [label for label, _ in shown[traces.run_dd]["choices"]][0].startswith(f"#{new.id} new")
    assert (shown[traces.step_sl]["minimum"], shown[traces.step_sl]["maximum"], shown[traces.step_sl]["value"]) == (
        1,
        3,
        3,
    )
    assert "new step 3 #0" in shown[traces.traces_html] and "step 2" not in shown[traces.traces_html]


def test_a_later_visit_keeps_the_chosen_run_and_step_and_only_refreshes_the_list(store, traces):
    first = run_with_steps(store, "first", [1, 2])
    run_with_steps(store, "second", [1])
    shown = on_open(store, traces, first.id, "all", "sample")
    assert list(shown) == [traces.run_dd]
    assert "value" not in shown[traces.run_dd] and len(shown[traces.run_dd]["choices"]) == 2


def test_no_run_yet(store, traces):
    assert on_open(store, traces, None, "all", "sample") == {
        traces.run_dd: gr.update(choices=[]),
        traces.traces_html: PICK_RUN,
    }
    assert latest(store, traces, None, "all", "sample") == {traces.traces_html: PICK_RUN}
    assert show_step(store, traces, None, 1, "all", "sample") == {traces.traces_html: PICK_RUN}


def test_a_step_is_clamped_to_the_runs_steps_and_a_one_step_run_still_gets_a_range(store, traces):
    run = run_with_steps(store, "r", [4])
    shown = open_step(store, traces, run.id, 9, "format failures")
    assert (shown[traces.step_sl]["minimum"], shown[traces.step_sl]["maximum"], shown[traces.step_sl]["value"]) == (
        3,
        4,
        4,
    )
    assert shown[traces.filter_rd] == "format failures"
    empty = run_with_steps(store, "empty", [])
    assert open_step(store, traces, empty.id, None, "all")[traces.traces_html] == NO_ROLLOUTS


def test_moving_the_slider_redraws_only_the_page(store, traces):
    run = run_with_steps(store, "r", [1, 2])
    shown = show_step(store, traces, run.id, 1.0, "all", "sample")
    assert set(shown) == {traces.banner_md, traces.traces_html} and "r step 1 #1" in shown[traces.traces_html]
    assert shown[traces.banner_md] == ""  # every rollout of it is format-valid
    assert "no rollouts at this step" in show_step(store, traces, 999, 1.0, "all", "sample")[traces.traces_html]


def test_search_finds_text_across_steps_and_refuses_an_overlong_query(store, traces):
    run = run_with_steps(store, "r", [1, 2])
    found = search(store, traces, run.id, "r1")[traces.search_html]
    assert found.count("<mark>") == 2  # sample 1 at both steps
    assert "at most 200 characters" in search(store, traces, run.id, "x" * 201)[traces.search_html]
    assert search(store, traces, None, "r1") == {traces.search_html: PICK_RUN}


def test_a_chart_click_switches_to_traces_at_that_step_with_the_flag_filtered(store, traces):
    run = run_with_steps(store, "r", [1, 2, 3])
    tabs = gr.Tabs()
    payload = json.dumps({"run": run.id, "key": "flags/missing_tags", "step": 2, "at": 1})
    shown = open_clicked_point(store, traces, tabs, payload)
    assert set(shown) == {tabs, *traces.page}
    assert shown[tabs].selected == "traces"
    assert (shown[traces.step_sl]["value"], shown[traces.filter_rd]) == (2, "missing tags")
    assert open_clicked_point(store, traces, tabs, "{not json") == gr.skip()


def test_a_step_or_a_run_without_format_valid_rollouts_gets_the_banner_above_it(store, traces):
    run = store.start_run(store.create_run("mixed", {}).id, "w")
    store.log_step(run.id, 1, rollouts=[rollout_row(0, s, format_valid=False) for s in range(3)])
    store.log_step(run.id, 2, rollouts=[rollout_row(0, s, format_valid=s == 0) for s in range(3)])
    step_1 = show_step(store, traces, run.id, 1.0, "all", "sample")[traces.banner_md]
    assert step_1.startswith("**Step 1 has no format-valid rollout** (0 of 3)") and "format_example" in step_1
    assert show_step(store, traces, run.id, 2.0, "all", "sample")[traces.banner_md] == ""
    assert open_step(store, traces, run.id, 1, "all")[traces.banner_md] == step_1

    hopeless = store.start_run(store.create_run("hopeless", {}).id, "w")
    for step in (1, 2):
        store.log_step(hopeless.id, step, rollouts=[rollout_row(0, s, format_valid=False) for s in range(2)])
    banner = latest(store, traces, hopeless.id, "all", "sample")[traces.banner_md]
    assert banner.startswith("**No format-valid rollout in this run yet** (0 of 4 over 2 steps)")


def test_each_flag_metric_opens_the_filter_that_shows_what_it_counts():
    assert filter_for_metric("flags/copied_placeholder") == "copied placeholder"
    assert filter_for_metric("flags/groups_without_ranking_signal") == "no ranking signal"
    assert filter_for_metric("flags/all_invalid") == "format failures"
    assert filter_for_metric("reward") == "all"
