"""The Metrics tab's handlers and the chart click that opens Traces, on a real SQLite store."""

import json

import gradio as gr
import pytest

from nover_ui.app import open_clicked_point
from nover_ui.metrics_cache import SeriesCache
from nover_ui.metrics_tab import MAX_CHARTS, draw, poll_steps, refresh_choices
from nover_ui.traces_tab import build_traces
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import build_tabs


@pytest.fixture
def metrics(store, tmp_path):
    return build_tabs(store, tmp_path).metrics


def test_the_run_list_keeps_the_chosen_runs_and_opens_on_the_newest(store, metrics):
    old = store.create_run("old", {})
    new = store.create_run("new", {})
    assert refresh_choices(None, store=store, tab=metrics)[metrics.runs_dd]["value"] == [new.id]
    kept = refresh_choices([old.id, 99], store=store, tab=metrics)[metrics.runs_dd]
    assert kept["value"] == [old.id]  # run 99 is gone
    assert kept["choices"] == [(f"#{new.id} new (queued)", new.id), (f"#{old.id} old (queued)", old.id)]


def test_the_poll_reads_only_steps_and_the_charts_redraw_from_the_series(store, metrics):
    run = store.start_run(store.create_run("r", {}).id, "w")
    store.log_step(run.id, 1, metrics={"reward": 0.5}, heartbeat=True)
    assert poll_steps([run.id], store=store, tab=metrics) == {metrics.steps_state: {run.id: 1}}
    drawn = draw([run.id], 0.0, "step", store=store, cache=SeriesCache(), tab=metrics)
    assert set(drawn) == {metrics.empty_md, *metrics.plots}
    assert drawn[metrics.empty_md]["visible"] is False
    assert [drawn[plot]["visible"] for plot in metrics.plots] == [True] + [False] * (MAX_CHARTS - 1)
    nothing = draw(None, 0.0, "step", store=store, cache=SeriesCache(), tab=metrics)
    assert nothing[metrics.empty_md]["visible"] is True


def test_a_chart_click_opens_that_step_in_traces_and_anything_else_changes_nothing(store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    for step in (1, 2):
        store.log_step(run.id, step, rollouts=[rollout_row(0, 0, reasoning=f"thought at step {step}")])
    with gr.Blocks():
        with gr.Tabs() as tabs:
            with gr.Tab("Traces") as traces_tab:
                traces = build_traces(store, traces_tab)
    click = json.dumps({"run": run.id, "key": "reward", "step": 1, "at": 0})
    opened = open_clicked_point(click, tabs=tabs, traces=traces)
    assert opened[tabs].selected == "traces"
    assert set(opened) == {tabs, *traces.outputs}
    assert any("thought at step 1" in str(update) for update in opened.values())
    assert open_clicked_point("not json", tabs=tabs, traces=traces) == {tabs: gr.skip()}
