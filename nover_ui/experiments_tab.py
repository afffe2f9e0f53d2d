"""The Experiments tab: an experiment's runs grouped into variants, with their final and best held-out metrics
(mean ± a 95% Student-t interval over seeds), the eval curves overlaid, and the config fields in which the runs
differ. Read-only: no login, a concurrency limit on each read.

A timer (only while the tab is shown, visible_polls.py) reads a cheap version into a State; the tables and curves
listen to that State's change, so an idle page re-reads no series.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.events import bind
from nover_ui.experiment_curves import curve_figures
from nover_ui.experiment_view import EVAL_METRICS, INTERVAL_NOTE, diff_table, results_table, variants
from nover_ui.work_limits import BULK_READS
from storage import ExperimentNotFound, MetricSeries, StorageError, Store

POLL_S = 2.0
MAX_CURVES = 8
"""Curve slots: the five known eval/* metrics and room for a few more."""
EVAL_MARKER = "eval/format_valid"
"""The held-out metric every evaluation logs: its last step per run tells that an evaluation landed."""
POLLS_AT_ONCE = 16
"""Version reads are two small queries: many pages may poll together."""
DRAWS_AT_ONCE = 4
"""A redraw reads every run's eval series (a few points each) and builds up to MAX_CURVES figures."""
NO_EXPERIMENT = "No experiment yet: queue one from the Train tab (a grid of recipes or values times seeds)."


@dataclass(frozen=True)
class ExperimentsTab:
    experiment_dd: gr.Dropdown
    empty_md: gr.Markdown
    note_md: gr.Markdown
    """Says what the ± means: a 95% Student-t interval over seeds, n per row."""
    results_df: gr.Dataframe
    """Variant x (final, best) held-out metrics."""
    curve_plots: tuple[gr.Plot, ...]
    diff_df: gr.Dataframe
    """Config field x run, for the fields in which the runs differ (seed last)."""
    version_state: gr.State
    """What experiment_version returned when this page last looked: the view redraws only when it moves."""
    poll_timer: gr.Timer


def experiment_choices(store: Store) -> list[tuple[str, int]]:
    """(label, id) of every experiment, newest first."""
    return [(f"#{e.id} {e.name} ({len(e.run_ids)} runs)", e.id) for e in store.list_experiments()]


def experiment_version(store: Store, experiment_id: int) -> Hashable:
    """What changes whenever the view would: the runs' version (steps, statuses, renames of every run) and the
    last evaluated step of each of the experiment's runs. The latter because an evaluation may be written at a
    step the run had already reported (step 0 on the base model, the step just trained), which moves no count."""
    experiment = store.get_experiment(experiment_id)
    evaluated = store.latest_metrics(experiment.run_ids, EVAL_MARKER)
    return (experiment_id, store.runs_version(), tuple((run, s.steps[-1]) for run, s in sorted(evaluated.items())))


# ---- handlers: plain values in, {component: update} out ---------------------------------------------------


def refresh_choices(selected: int | None, *, store: Store, tab: ExperimentsTab) -> dict[Any, Any]:
    """The experiment list re-read: the chosen one stays chosen (while it exists); none chosen opens the newest."""
    choices = experiment_choices(store)
    known = [experiment_id for _, experiment_id in choices]
    value = selected if selected in known else (known[0] if known else None)
    return {tab.experiment_dd: gr.update(choices=choices, value=value), tab.empty_md: gr.update(visible=not known)}


def poll_version(experiment_id: int | None, *, store: Store, tab: ExperimentsTab) -> dict[Any, Any]:
    if experiment_id is None:
        return {tab.version_state: gr.skip()}
    try:
        return {tab.version_state: experiment_version(store, int(experiment_id))}
    except StorageError:  # a busy database, or the experiment is gone: the next tick or a pick says more
        return {tab.version_state: gr.skip()}


@BULK_READS
def draw(experiment_id: int | None, *, store: Store, tab: ExperimentsTab) -> dict[Any, Any]:
    """The table, the curves and the diff of the experiment."""
    hidden = [gr.update(value=None, visible=False)] * MAX_CURVES
    if experiment_id is None:
        return {tab.results_df: None, tab.diff_df: None, **dict(zip(tab.curve_plots, hidden))}
    try:
        runs = store.experiment_runs(int(experiment_id))
        series: dict[int, dict[str, MetricSeries]] = {
            run.id: store.get_metrics(run.id, keys=list(EVAL_METRICS)) for run in runs
        }
    except ExperimentNotFound:
        return {tab.results_df: None, tab.diff_df: None, **dict(zip(tab.curve_plots, hidden))}
    figures = curve_figures(variants(runs), series)[:MAX_CURVES]
    slots = [gr.update(value=figure, label=key, visible=True) for key, figure in figures]
    return {
        tab.results_df: results_table(runs, series),
        tab.diff_df: diff_table(runs),
        **dict(zip(tab.curve_plots, slots + hidden[len(slots) :])),
    }


# ---- the builder --------------------------------------------------------------------------------------------


def build_experiments(store: Store, tab: gr.Tab) -> ExperimentsTab:
    """The view inside `tab`; opening the tab refreshes the experiment list."""
    experiment_dd = gr.Dropdown(
        label="Experiment",
        elem_id="experiment-pick",
        info="Newest first. Runs whose configs differ only in their seed form one variant.",
    )
    empty_md = gr.Markdown(NO_EXPERIMENT, visible=False, elem_id="experiments-empty")
    gr.Markdown("### Held-out metrics by variant: final (last evaluation) and best")
    note_md = gr.Markdown(INTERVAL_NOTE, elem_id="experiment-note")
    results_df = gr.Dataframe(datatype="str", interactive=False, wrap=True, elem_id="experiment-table")
    gr.Markdown("### Held-out curves (one colour per variant; its seeds differ by dash and marker)")
    curve_plots = tuple(gr.Plot(visible=False, elem_id=f"experiment-curve-{i}") for i in range(MAX_CURVES))
    gr.Markdown("### Fields in which the runs differ")
    diff_df = gr.Dataframe(datatype="str", interactive=False, wrap=True, elem_id="experiment-diff")
    experiments = ExperimentsTab(
        experiment_dd=experiment_dd,
        empty_md=empty_md,
        note_md=note_md,
        results_df=results_df,
        curve_plots=curve_plots,
        diff_df=diff_df,
        version_state=gr.State(None),
        poll_timer=gr.Timer(POLL_S),
    )
    _wire(experiments, store, tab)
    return experiments


def _wire(experiments: ExperimentsTab, store: Store, tab: gr.Tab) -> None:
    dd = experiments.experiment_dd
    gr.on(
        [tab.select, dd.focus],
        bind(refresh_choices, store=store, tab=experiments),
        dd,
        [dd, experiments.empty_md],
        show_progress="hidden",
        concurrency_limit=POLLS_AT_ONCE,
        concurrency_id="experiments-reads",
    )
    # Through the queue: only a queued event's result tells the page that a State changed (Gradio 6).
    experiments.poll_timer.tick(
        bind(poll_version, store=store, tab=experiments),
        dd,
        [experiments.version_state],
        show_progress="hidden",
        concurrency_limit=POLLS_AT_ONCE,
        concurrency_id="experiments-reads",
    )
    gr.on(
        [experiments.version_state.change, dd.change],
        bind(draw, store=store, tab=experiments),
        dd,
        [experiments.results_df, experiments.diff_df, *experiments.curve_plots],
        show_progress="hidden",
        concurrency_limit=DRAWS_AT_ONCE,
        concurrency_id="experiments-draw",
    )
