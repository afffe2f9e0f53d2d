"""The Metrics tab: Plotly charts of the selected runs, one per metric group, redrawn only when a step lands.

A timer reads each selected run's step (one small query) into a State; the charts listen to that State's
change, so an idle dashboard re-reads no metric series at all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.events import bind
from nover_ui.figures import metric_figures
from nover_ui.metrics_cache import SeriesCache
from nover_ui.run_picker import many_runs_update
from nover_ui.shared_reads import READS, shared_runs
from storage import StorageError, Store

MAX_CHARTS = 12
POLL_S = 2.0


def chart_updates(store: Store, cache: SeriesCache, run_ids: list[int], smoothing: float, x_axis: str) -> list[Any]:
    """One update per chart slot: the group's figure, or hidden when there are fewer groups."""
    shared = shared_runs(store)  # read once per change for every page and script (shared_reads)
    runs = {run.id: run for run in shared.records if run.id in run_ids}
    names = {run_id: run.name for run_id, run in runs.items()}
    metrics = {
        run_id: READS.get(
            ("metric series", store.url, run_id),
            shared.run_version(run_id),
            functools.partial(cache.get, store, run_id, run.created_at),
        )
        for run_id, run in runs.items()
    }
    figures = metric_figures(metrics, names, smoothing=smoothing, x_axis=x_axis)[:MAX_CHARTS]
    updates = [gr.update(value=figure, label=group, visible=True) for group, figure in figures]
    return updates + [gr.update(value=None, visible=False)] * (MAX_CHARTS - len(updates))


CHART_CLICK_JS = """
() => {
  // A click on a point of a Metrics chart writes {run, key, step} into the hidden #chart-click box; Python then
  // opens that step in Traces. Plotly reports clicks through its own emitter, attached to each new chart.
  const attach = () => document.querySelectorAll('[id^="metrics-chart-"] .js-plotly-plot').forEach((plot) => {
    if (plot.dataset.noverClick || typeof plot.on !== 'function') return;
    plot.dataset.noverClick = '1';
    plot.on('plotly_click', (event) => {
      const point = event.points[0];
      const meta = point.data.meta || {};
      const box = document.querySelector('#chart-click textarea, #chart-click input');
      if (meta.run === undefined || point.customdata === undefined || !box) return;
      box.value = JSON.stringify({run: meta.run, key: meta.key, step: point.customdata, at: Date.now()});
      box.dispatchEvent(new Event('input', {bubbles: true}));
    });
  });
  new MutationObserver(attach).observe(document.body, {childList: true, subtree: true});
}
"""
"""Passed to launch(js=...) by app.py, with the CSS."""


@dataclass(frozen=True)
class MetricsTab:
    runs_dd: gr.Dropdown
    smoothing_sl: gr.Slider
    x_axis_rd: gr.Radio
    empty_md: gr.Markdown
    plots: tuple[gr.Plot, ...]
    click_tb: gr.Textbox
    """Where a click on a chart point lands, as JSON {run, key, step}; app.py opens that step in Traces."""
    steps_state: gr.State
    """Each selected run's step as last seen by this page: the charts redraw only when it moves."""
    poll_timer: gr.Timer


# ---- handlers: plain values in, {component: update} out ---------------------------------------------------


def refresh_choices(selected: list[int] | None, *, store: Store, tab: MetricsTab) -> dict[Any, Any]:
    """The run list re-read; the chosen runs stay chosen, and a first visit shows the newest run."""
    return {tab.runs_dd: many_runs_update(store, selected)}


def poll_steps(run_ids: list[int] | None, *, store: Store, tab: MetricsTab) -> dict[Any, Any]:
    try:
        return {tab.steps_state: store.run_steps(run_ids or [])}
    except StorageError:
        return {tab.steps_state: gr.skip()}  # a busy database: try again on the next tick


def draw(
    run_ids: list[int] | None, smoothing: float, x_axis: str, *, store: Store, cache: SeriesCache, tab: MetricsTab
) -> dict[Any, Any]:
    run_ids = run_ids or []
    charts = chart_updates(store, cache, run_ids, smoothing, x_axis)
    return {tab.empty_md: gr.update(visible=not run_ids), **dict(zip(tab.plots, charts))}


# ---- the builder --------------------------------------------------------------------------------------------


def build_metrics(store: Store, tab: gr.Tab) -> MetricsTab:
    """Charts inside `tab`; opening the tab refreshes the run list."""
    with gr.Row():
        runs_dd = gr.Dropdown(
            label="Runs",
            multiselect=True,
            scale=4,
            elem_id="metrics-runs",
            info="Runs overlaid in every chart; each run keeps its colour.",
        )
        smoothing_sl = gr.Slider(
            0,
            0.99,
            value=0.0,
            step=0.01,
            label="Smoothing",
            scale=2,
            info="Exponential moving average; the raw values stay faint behind.",
        )
        x_axis_rd = gr.Radio(["step", "time"], value="step", label="x axis", scale=1)
    empty_md = gr.Markdown("Select one or more runs to see their metrics.", elem_id="metrics-empty")
    plots = tuple(gr.Plot(visible=False, elem_id=f"metrics-chart-{i}") for i in range(MAX_CHARTS))
    click_tb = gr.Textbox(elem_id="chart-click", elem_classes=["nover-hidden"], container=False)
    gr.Markdown("Click a point to open that step in Traces (a `flags/*` point opens with that flag filtered).")
    metrics = MetricsTab(
        runs_dd=runs_dd,
        smoothing_sl=smoothing_sl,
        x_axis_rd=x_axis_rd,
        empty_md=empty_md,
        plots=plots,
        click_tb=click_tb,
        steps_state=gr.State({}),
        poll_timer=gr.Timer(POLL_S),
    )
    _wire(metrics, store, tab)
    return metrics


def _wire(metrics: MetricsTab, store: Store, tab: gr.Tab) -> None:
    refresh = bind(refresh_choices, store=store, tab=metrics)
    gr.on([tab.select, metrics.runs_dd.focus], refresh, metrics.runs_dd, [metrics.runs_dd], show_progress="hidden")
    poll = bind(poll_steps, store=store, tab=metrics)
    # Through the queue: only a queued event's result tells the page that a State changed (Gradio 6).
    metrics.poll_timer.tick(poll, metrics.runs_dd, [metrics.steps_state], show_progress="hidden")
    gr.on(
        [metrics.steps_state.change, metrics.runs_dd.change, metrics.smoothing_sl.release, metrics.x_axis_rd.change],
        bind(draw, store=store, cache=SeriesCache(), tab=metrics),
        [metrics.runs_dd, metrics.smoothing_sl, metrics.x_axis_rd],
        [metrics.empty_md, *metrics.plots],
        show_progress="hidden",
    )
