"""The page's URL follows the view, and a link opens it (page_url.py says how): wired once by app.py over the
components the tabs' dataclasses expose, so no tab builder knows about URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.compare_tab import CompareTab, show
from nover_ui.evaluate_tab import EvaluateTab
from nover_ui.events import COMPARE, EVALUATE, EXPERIMENTS, METRICS, PLAYGROUND, RUNS, TRACES, TRAIN, bind, open_tab
from nover_ui.experiments_tab import ExperimentsTab, refresh_choices
from nover_ui.metrics_tab import MetricsTab
from nover_ui.page_url import READY_SCRIPT, View, parse_view, url_script
from nover_ui.run_picker import many_runs_update, run_choices
from nover_ui.runs_tab import RunsTab
from nover_ui.traces_tab import TracesTab, open_step
from nover_ui.visible_polls import timer_states
from storage import StorageError, Store

TABS = (TRAIN, RUNS, METRICS, TRACES, COMPARE, EXPERIMENTS, PLAYGROUND, EVALUATE)


@dataclass(frozen=True)
class LinkedViews:
    """The page's tabs and the tabs whose run (and step), or experiment, a link can choose."""

    tabs: gr.Tabs
    runs: RunsTab
    metrics: MetricsTab
    traces: TracesTab
    compare: CompareTab
    evaluate: EvaluateTab
    experiments: ExperimentsTab | None = None

    def pickers(self) -> dict[str, list[Any]]:
        """Each linked tab's run picker, and Traces' step slider after it (url_script's order)."""
        return {
            RUNS: [self.runs.run_nb],
            METRICS: [self.metrics.runs_dd],
            TRACES: [self.traces.run_dd, self.traces.step_sl],
            COMPARE: [self.compare.run_dd],
            EVALUATE: [self.evaluate.run_dd],
        }

    def opened(self) -> set[Any]:
        """What opening a link may change."""
        compare = {*self.compare.picks, self.compare.history_plot, self.compare.compare_html}
        experiments = [self.experiments.experiment_dd, self.experiments.empty_md] if self.experiments else []
        return {self.tabs, *self.traces.page, *compare, *(picks[0] for picks in self.pickers().values()), *experiments}


def open_link(request: gr.Request, *, store: Store, views: LinkedViews, timers: dict[str, gr.Timer]) -> dict[Any, Any]:
    """On page load: the tab, run and step the URL's query names, each checked (parse_view); nothing otherwise.
    Opening a tab this way fires no select event, so the tab's poll is started here (visible_polls)."""
    view = parse_view(
        dict(request.query_params),
        TABS,
        lambda run_id: _exists(store.get_run, run_id),
        lambda experiment_id: _exists(store.get_experiment, experiment_id),
    )
    if view.tab is None:
        # Not {}: Gradio 6 reads an empty dict as one output value and fails the event, so the .then that lets
        # the URL follow the view never ran on a page opened without a query.
        return {views.tabs: gr.skip()}
    chosen = _run_chosen(store, views, view) if view.run is not None else {}
    if view.tab == EXPERIMENTS and views.experiments is not None:  # its list, on the linked (or newest) experiment
        chosen = refresh_choices(view.experiment, store=store, tab=views.experiments)
    return {views.tabs: open_tab(view.tab), **timer_states(view.tab, timers), **chosen}


def wire_page_url(
    app: gr.Blocks, store: Store, views: LinkedViews, tab_items: dict[str, gr.Tab], timers: dict[str, gr.Timer]
) -> None:
    """Browser-only events keep the URL current as tabs, runs and steps are picked; one load event opens a link."""
    pickers = views.pickers()
    for tab_id, item in tab_items.items():
        shown = pickers.get(tab_id, [])
        script = url_script(tab_id, run=bool(shown), step=len(shown) > 1)
        if tab_id == EXPERIMENTS and views.experiments is not None:
            shown = [views.experiments.experiment_dd]
            script = url_script(tab_id, experiment=True)
        item.select(None, shown, None, js=script, api_visibility="private")
        for picker in shown:  # a row click, a picker, a step: whatever chose it, the URL names it
            picker.change(None, shown, None, js=script, api_visibility="private")
    app.load(
        bind(open_link, store=store, views=views, timers=timers),
        None,
        views.opened() | set(timers.values()),
        api_visibility="private",
        show_progress="hidden",
    ).then(None, js=READY_SCRIPT, api_visibility="private")


def _run_chosen(store: Store, views: LinkedViews, view: View) -> dict[Any, Any]:
    """The run (and, in Traces, the step) chosen in the linked tab; a tab without a run picker ignores it."""
    run_id = view.run
    if view.tab == RUNS:
        return {views.runs.run_nb: run_id}
    if view.tab == METRICS:
        return {views.metrics.runs_dd: many_runs_update(store, [run_id])}
    if view.tab == TRACES and run_id is not None:
        return open_step(store, views.traces, run_id, view.step, "all")
    if view.tab == COMPARE:  # the run with its prompts and both sides, as picking the run there would show them
        return show(store, views.compare, run_id, *[None] * 7, changed="run")
    if view.tab == EVALUATE:
        return {views.evaluate.run_dd: gr.update(choices=run_choices(store), value=run_id)}
    return {}


def _exists(read: Callable[[int], object], record_id: int) -> bool:
    try:
        read(record_id)
    except StorageError:  # gone, or unreadable now: the link opens without it
        return False
    return True
