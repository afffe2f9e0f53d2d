"""The Metrics tab's handlers and the chart click that opens Traces, on a real SQLite store."""

import pytest

from nover_ui.metrics_cache import SeriesCache
from nover_ui.metrics_tab import MAX_CHARTS, draw, poll_steps, refresh_choices
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
