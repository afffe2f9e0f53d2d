"""The Metrics tab: the key curves of the selected runs in a header, one chart per metric group for the other
keys that move, and the flat or empty keys folded into one list. Redrawn only when a step lands or the person
changes a control.

A timer reads each selected run's step (one small query) into a State; the charts listen to that State's
change, so an idle dashboard re-reads no metric series at all.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from nover_ui.eval_view import heldout_html
from nover_ui.events import bind
from nover_ui.figures import ChartOptions, header_figure, metric_figures
from nover_ui.metric_layout import (
    EVALUATION_KIND,
    FlatKey,
    flat_label,
    flat_markdown,
    header_title,
    held_out_series,
    layout_keys,
)
from nover_ui.metrics_cache import SeriesCache
from nover_ui.run_picker import many_runs_update
from nover_ui.run_signal import SignalSeen, no_signal_banners
from nover_ui.safe_text import html_text
from nover_ui.shared_reads import READS, Runs, shared_runs
from storage import MetricSeries, RunRecord, Status, StorageError, Store

MAX_CHARTS = 12
HELDOUT_PREFIX = "eval/"
"""Keys of the held-out evaluation during training: a click on one of their points shows its samples."""
POLL_S = 2.0


@dataclass(frozen=True)
class Charts:
    """What the tab draws for the selected runs."""

    header: go.Figure | None
    """The key curves; None when no selected run has any."""
    evaluation: go.Figure | None
    """The held-out metrics (eval/* during training, held-out/* of evaluation jobs); None when no run has any."""
    groups: list[tuple[str, go.Figure]]
    """(group, figure) for the other keys that move, in display order, at most MAX_CHARTS."""
    flat: tuple[FlatKey, ...]
    banners: str
    """The no-signal banners (Markdown), '' when every run has signal."""


def chart_updates(
    store: Store,
    cache: SeriesCache,
    run_ids: list[int],
    smoothing: float,
    x_axis: str,
    log_y: bool = False,
    seen: SignalSeen | None = None,
) -> Charts:
    """The selected runs' series (the cache reads only new steps) and their held-out evaluations, laid out."""
    shared = shared_runs(store)  # read once per change for every page and script (shared_reads)
    runs = [run for run in shared.records if run.id in run_ids]
    names = {run.id: run.name for run in runs}
    metrics = {run.id: _run_series(store, cache, shared, run) for run in runs}
    layout = layout_keys(metrics)
    options = ChartOptions(smoothing, x_axis, log_y)
    titles = {key: header_title(key) for key in layout.header}
    header = header_figure(layout.header, titles, metrics, names, options) if layout.header else None
    evaluation = header_figure(layout.evaluation, {}, metrics, names, options) if layout.evaluation else None
    groups = metric_figures(metrics, names, smoothing, x_axis, log_y=log_y, keys=set(layout.body))[:MAX_CHARTS]
    return Charts(header, evaluation, groups, layout.flat, no_signal_banners(store, runs, seen or SignalSeen()))


def _run_series(store: Store, cache: SeriesCache, shared: Runs, run: RunRecord) -> dict[str, MetricSeries]:
    """The run's series, read once per step for every viewer, with its held-out evaluations."""
    series = READS.get(
        ("metric series", store.url, run.id),
        shared.run_version(run.id),
        functools.partial(cache.get, store, run.id, run.created_at),
    )
    jobs = store.list_evaluations(run_id=run.id, kind=EVALUATION_KIND, statuses=[Status.SUCCEEDED])
    return {**series, **held_out_series(jobs)}


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
    log_cb: gr.Checkbox
    banner_md: gr.Markdown
    """A banner for each selected run with rollouts and none format-valid: what it means and what to try."""
    empty_md: gr.Markdown
    header_plot: gr.Plot
    """The key curves: reward, format-valid rate, perplexity, completion length."""
    eval_plot: gr.Plot
    """The held-out metrics, right under the key curves; a click on an eval/* point shows its samples below."""
    heldout_html: gr.HTML
    """The held-out samples of the eval/* point last clicked (escaped, eval_view.heldout_html)."""
    plots: tuple[gr.Plot, ...]
    flat_acc: gr.Accordion
    """Folded: the keys that never moved (or have no point), with their value."""
    flat_md: gr.Markdown
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


def clicked_point(payload: str) -> tuple[int, str, int] | None:
    """(run, key, step) of a chart click's JSON, None when it is not one.

    >>> clicked_point('{"run": 3, "key": "eval/accuracy", "step": 2}'), clicked_point("nonsense")
    ((3, 'eval/accuracy', 2), None)
    """
    try:
        point = json.loads(payload)
        return int(point["run"]), str(point["key"]), int(point["step"])
    except (ValueError, KeyError, TypeError):
        return None


def show_heldout(payload: str, *, store: Store, tab: MetricsTab) -> dict[Any, Any]:
    """A click on an eval/* point: that evaluation's samples under the chart (other clicks open Traces)."""
    point = clicked_point(payload)
    if point is None or not point[1].startswith(HELDOUT_PREFIX):
        return {tab.heldout_html: gr.skip()}
    run_id, _, step = point
    try:
        evaluation = store.heldout_evaluation(run_id, step)
        samples = store.get_evaluation_samples(evaluation.id) if evaluation is not None else []
    except StorageError as exc:
        return {tab.heldout_html: gr.update(value=f"<p>Cannot read the samples: {html_text(str(exc))}</p>")}
    return {tab.heldout_html: gr.update(value=heldout_html(run_id, step, evaluation, samples), visible=True)}


def draw(
    run_ids: list[int] | None,
    smoothing: float,
    x_axis: str,
    log_y: bool,
    *,
    store: Store,
    cache: SeriesCache,
    seen: SignalSeen,
    tab: MetricsTab,
) -> dict[Any, Any]:
    run_ids = run_ids or []
    charts = chart_updates(store, cache, run_ids, smoothing, x_axis, bool(log_y), seen)
    slots = [gr.update(value=figure, label=group, visible=True) for group, figure in charts.groups]
    slots += [gr.update(value=None, visible=False)] * (MAX_CHARTS - len(slots))
    return {
        tab.empty_md: gr.update(visible=not run_ids),
        tab.banner_md: gr.update(value=charts.banners, visible=bool(charts.banners)),
        tab.header_plot: gr.update(value=charts.header, visible=charts.header is not None),
        tab.eval_plot: gr.update(value=charts.evaluation, visible=charts.evaluation is not None),
        **dict(zip(tab.plots, slots)),
        # The label and text only: a person who opened the section keeps it open across redraws.
        tab.flat_acc: gr.update(label=flat_label(charts.flat), visible=bool(run_ids)),
        tab.flat_md: gr.update(value=flat_markdown(charts.flat)),
    }


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
        log_cb = gr.Checkbox(
            value=False,
            label="log y",
            scale=1,
            elem_id="metrics-log",
            info="Log scale where every value is above 0.",
        )
    banner_md = gr.Markdown(visible=False, elem_id="metrics-banner")
    empty_md = gr.Markdown("Select one or more runs to see their metrics.", elem_id="metrics-empty")
    header_plot = gr.Plot(visible=False, label="key curves", elem_id="metrics-chart-header")
    eval_plot = gr.Plot(visible=False, label="held-out evaluation", elem_id="metrics-chart-eval")
    heldout_html = gr.HTML(visible=False, elem_id="metrics-heldout")
    # Under the key curves, so the page says early which metrics it does not draw and why.
    with gr.Accordion(flat_label(()), open=False, visible=False, elem_id="metrics-flat") as flat_acc:
        flat_md = gr.Markdown(elem_id="metrics-flat-list")
    plots = tuple(gr.Plot(visible=False, elem_id=f"metrics-chart-{i}") for i in range(MAX_CHARTS))
    click_tb = gr.Textbox(elem_id="chart-click", elem_classes=["nover-hidden"], container=False)
    gr.Markdown(
        "Click a point to open that step in Traces (a `flags/*` point opens with that flag filtered); an `eval/*` "
        "point shows that held-out evaluation's samples under its chart."
    )
    metrics = MetricsTab(
        runs_dd=runs_dd,
        smoothing_sl=smoothing_sl,
        x_axis_rd=x_axis_rd,
        log_cb=log_cb,
        banner_md=banner_md,
        empty_md=empty_md,
        header_plot=header_plot,
        eval_plot=eval_plot,
        heldout_html=heldout_html,
        plots=plots,
        flat_acc=flat_acc,
        flat_md=flat_md,
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
        [
            metrics.steps_state.change,
            metrics.runs_dd.change,
            metrics.smoothing_sl.release,
            metrics.x_axis_rd.change,
            metrics.log_cb.change,
        ],
        bind(draw, store=store, cache=SeriesCache(), seen=SignalSeen(), tab=metrics),
        [metrics.runs_dd, metrics.smoothing_sl, metrics.x_axis_rd, metrics.log_cb],
        [
            metrics.empty_md,
            metrics.banner_md,
            metrics.header_plot,
            metrics.eval_plot,
            *metrics.plots,
            metrics.flat_acc,
            metrics.flat_md,
        ],
        show_progress="hidden",
    )
    metrics.click_tb.change(
        bind(show_heldout, store=store, tab=metrics), metrics.click_tb, [metrics.heldout_html], show_progress="hidden"
    )
