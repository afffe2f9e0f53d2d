"""The Traces tab: one step's groups of rollouts side by side, with filters, sorting and search across a run.

All model and data text reaches the page through traces_view, which escapes it: never live HTML.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.bounds import MAX_SEARCH_CHARS
from nover_ui.events import TRACES, bind, open_tab
from nover_ui.format_guidance import judged_by_tags, no_signal_banner
from nover_ui.run_picker import run_choices
from nover_ui.shared_reads import shared_runs
from nover_ui.traces_view import FILTERS, NO_RANKING_SIGNAL, SORTS, render_search, render_step
from nover_ui.work_limits import BULK_READS
from storage import StorageError, Store
from training.flags import ALL_INVALID_KEY, NO_RANKING_SIGNAL_KEY

SEARCH_LIMIT = 50
PICK_RUN = "<p>Pick a run.</p>"
NO_ROLLOUTS = "<p>This run has no rollouts yet.</p>"


def step_html(store: Store, run_id: int, step: int, filter: str, sort: str) -> str:
    return render_step(store.get_rollouts(run_id, step=step), filter=filter, sort=sort)


def step_banner(store: Store, run_id: int, step: int) -> str:
    """The no-signal banner (Markdown, numbers only) for a step: the whole run's when no step of it has a
    format-valid rollout, else this step's when it has none, else ''. Read as the step is drawn, never polled."""
    run = shared_runs(store).get(run_id)  # the runs list every viewer shares, not one more read
    if run is None or not judged_by_tags(run.tags):
        return ""
    counts = store.format_valid_counts(run_id)
    return no_signal_banner(counts) or no_signal_banner(counts, step)


def step_page(store: Store, tab: TracesTab, run_id: int, step: int, filter: str, sort: str) -> dict[Any, Any]:
    """The banner and the rollouts of one step."""
    return {
        tab.banner_md: step_banner(store, run_id, step),
        tab.traces_html: step_html(store, run_id, step, filter, sort),
    }


def filter_for_metric(key: str) -> str:
    """The Traces filter that shows what a metric counts: 'flags/repetition' -> 'repetition'."""
    if key == ALL_INVALID_KEY:
        return "format failures"
    if key == NO_RANKING_SIGNAL_KEY:
        return NO_RANKING_SIGNAL
    name = key.removeprefix("flags/").replace("_", " ")
    return name if key.startswith("flags/") and name in FILTERS else "all"


def unreadable(exc: StorageError) -> str:
    return f"<p>Cannot read rollouts: {html.escape(str(exc))}</p>"


@dataclass(frozen=True)
class TracesTab:
    run_dd: gr.Dropdown
    step_sl: gr.Slider
    latest_btn: gr.Button
    filter_rd: gr.Radio
    sort_dd: gr.Dropdown
    search_tb: gr.Textbox
    search_btn: gr.Button
    search_html: gr.HTML
    banner_md: gr.Markdown
    traces_html: gr.HTML

    @property
    def page(self) -> set[gr.components.Component]:
        """What opening a step changes: the run, the step slider, the filter, the banner and the rollouts shown."""
        return {self.run_dd, self.step_sl, self.filter_rd, self.banner_md, self.traces_html}


def open_step(
    store: Store, tab: TracesTab, run_id: int, step: int | None, filter: str, sort: str = "sample"
) -> dict[Any, Any]:
    """`step` of the run (its latest when None), clamped to the steps it has, with `filter` chosen."""
    try:
        steps = store.rollout_steps(run_id)
        run = gr.update(choices=run_choices(store), value=run_id)
        if steps is None:
            return {
                tab.run_dd: run,
                tab.step_sl: gr.update(value=1),
                tab.filter_rd: filter,
                tab.banner_md: "",
                tab.traces_html: NO_ROLLOUTS,
            }
        first, last = steps
        step = last if step is None else min(max(step, first), last)
        return {
            tab.run_dd: run,
            # A slider needs a range: a run with one step still gets [step - 1, step].
            tab.step_sl: gr.update(minimum=min(first, last - 1), maximum=last, value=step),
            tab.filter_rd: filter,
            **step_page(store, tab, run_id, step, filter, sort),
        }
    except StorageError as exc:
        return {tab.filter_rd: filter, tab.banner_md: "", tab.traces_html: unreadable(exc)}


def on_open(store: Store, tab: TracesTab, run_id: int | None, filter: str, sort: str) -> dict[Any, Any]:
    """Refresh the run list; the first visit shows the newest run's latest step."""
    choices = run_choices(store)
    if run_id is not None:  # keep what the person (or a chart click) chose
        return {tab.run_dd: gr.update(choices=choices)}
    if not choices:
        return {tab.run_dd: gr.update(choices=[]), tab.traces_html: PICK_RUN}
    return open_step(store, tab, choices[0][1], None, filter, sort)


def latest(store: Store, tab: TracesTab, run_id: int | None, filter: str, sort: str) -> dict[Any, Any]:
    if run_id is None:
        return {tab.traces_html: PICK_RUN}
    return open_step(store, tab, run_id, None, filter, sort)


def show_step(store: Store, tab: TracesTab, run_id: int | None, step: float, filter: str, sort: str) -> dict[Any, Any]:
    if run_id is None:
        return {tab.traces_html: PICK_RUN}
    try:
        return step_page(store, tab, run_id, int(step), filter, sort)
    except StorageError as exc:
        return {tab.banner_md: "", tab.traces_html: unreadable(exc)}


@BULK_READS
def search(store: Store, tab: TracesTab, run_id: int | None, query: str) -> dict[Any, Any]:
    if len(query) > MAX_SEARCH_CHARS:
        found = f"<p>Search for at most {MAX_SEARCH_CHARS} characters of text (this search has {len(query):,}).</p>"
    elif run_id is None:
        found = PICK_RUN
    else:
        rollouts = store.search_rollouts(run_id, query, SEARCH_LIMIT + 1) if query.strip() else []
        found = render_search(rollouts, query, limit=SEARCH_LIMIT)
    return {tab.search_html: found}


def open_clicked_point(store: Store, tab: TracesTab, tabs: gr.Tabs, payload: str) -> dict[Any, Any]:
    """A Metrics chart click (JSON {run, key, step}): switch to Traces at that step, a flag's filter chosen; an
    eval/* point stays on Metrics (its samples are not rollouts)."""
    try:
        point = json.loads(payload)
        run_id, step, key = int(point["run"]), int(point["step"]), str(point["key"])
    except (ValueError, KeyError, TypeError):
        return gr.skip()
    if key.startswith("eval/"):
        return gr.skip()  # a held-out evaluation's point: the Metrics tab shows its samples (metrics_tab.show_heldout)
    return {tabs: open_tab(TRACES), **open_step(store, tab, run_id, step, filter_for_metric(key))}


def build_traces(store: Store, tab: gr.Tab) -> TracesTab:
    """Traces inside `tab`; opening the tab refreshes the run list (and shows the newest run's latest step)."""
    with gr.Row(equal_height=True):
        run_dd = gr.Dropdown(label="Run", scale=3, elem_id="traces-run")
        step_sl = gr.Slider(0, 1, value=1, step=1, label="Step", scale=4, elem_id="traces-step")
        latest_btn = gr.Button("Latest step", scale=1, elem_id="traces-latest")
    with gr.Row():
        filter_rd = gr.Radio(list(FILTERS), value="all", label="Show", scale=3, elem_id="traces-filter")
        sort_dd = gr.Dropdown(list(SORTS), value="sample", label="Sort rollouts by", scale=1)
    with gr.Accordion("Search completions across the run", open=False):
        with gr.Row(equal_height=True):
            search_tb = gr.Textbox(label="Text", placeholder="e.g. </answer>", scale=4, elem_id="traces-query")
            search_btn = gr.Button("Search", scale=1)
        search_html = gr.HTML(elem_id="traces-search")
    banner_md = gr.Markdown(elem_id="traces-banner")
    traces_html = gr.HTML(PICK_RUN, elem_id="traces")
    traces = TracesTab(
        run_dd, step_sl, latest_btn, filter_rd, sort_dd, search_tb, search_btn, search_html, banner_md, traces_html
    )

    view = [run_dd, filter_rd, sort_dd]
    tab.select(bind(on_open, store, traces), view, traces.page, show_progress="hidden")
    # Programmatic changes of the run (a chart click, opening the tab) must not jump to the latest step, so the
    # latest step follows only a person's choice (.input), not every .change.
    gr.on([run_dd.input, latest_btn.click], bind(latest, store, traces), view, traces.page)
    gr.on(
        [step_sl.release, filter_rd.input, sort_dd.input],
        bind(show_step, store, traces),
        [run_dd, step_sl, filter_rd, sort_dd],
        {banner_md, traces_html},
    )
    gr.on([search_btn.click, search_tb.submit], bind(search, store, traces), [run_dd, search_tb], {search_html})
    return traces


def wire_chart_clicks(store: Store, traces: TracesTab, click_tb: gr.Textbox, tabs: gr.Tabs) -> None:
    """A click on a Metrics chart point (written into `click_tb`) opens that step here."""
    click_tb.change(
        bind(open_clicked_point, store, traces, tabs), click_tb, {tabs, *traces.page}, show_progress="hidden"
    )
