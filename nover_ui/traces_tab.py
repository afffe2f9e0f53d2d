"""The Traces tab: one step's groups of rollouts side by side, with filters, sorting and search across a run.

All model and data text reaches the page through traces_view, which escapes it: never live HTML.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.bounds import MAX_SEARCH_CHARS
from nover_ui.run_picker import run_choices
from nover_ui.traces_view import FILTERS, SORTS, render_search, render_step
from nover_ui.work_limits import BULK_READS
from storage import StorageError, Store

SEARCH_LIMIT = 50
PICK_RUN = "<p>Pick a run.</p>"


def step_html(store: Store, run_id: int, step: int, filter: str, sort: str) -> str:
    return render_step(store.get_rollouts(run_id, step=step), filter=filter, sort=sort)


def filter_for_metric(key: str) -> str:
    """The Traces filter that shows what a metric counts: 'flags/repetition' -> 'repetition'."""
    if key == "flags/all_invalid":
        return "format failures"
    name = key.removeprefix("flags/").replace("_", " ")
    return name if key.startswith("flags/") and name in FILTERS else "all"


@dataclass
class TracesView:
    """What another tab needs to open a run's step here: the components and the function that fills them."""

    outputs: list[gr.components.Component]
    open_step: Callable[[int, int, str], list[Any]]


def build_traces(store: Store, tab: gr.Tab) -> TracesView:
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
    traces_html = gr.HTML(PICK_RUN, elem_id="traces")

    def open_step(run_id: int, step: int | None, filter: str, sort: str = "sample") -> list[Any]:
        """Updates for [run, step slider, filter, page]: `step` of the run, or its latest when None."""
        try:
            steps = store.rollout_steps(run_id)
            if steps is None:
                return [
                    gr.update(choices=run_choices(store), value=run_id),
                    gr.update(value=1),
                    filter,
                    "<p>This run has no rollouts yet.</p>",
                ]
            first, last = steps
            step = last if step is None else min(max(step, first), last)
            # A slider needs a range: a run with one step still gets [step - 1, step].
            return [
                gr.update(choices=run_choices(store), value=run_id),
                gr.update(minimum=min(first, last - 1), maximum=last, value=step),
                filter,
                step_html(store, run_id, step, filter, sort),
            ]
        except StorageError as exc:
            return [gr.update(), gr.update(), filter, f"<p>Cannot read rollouts: {html.escape(str(exc))}</p>"]

    def open_tab(run_id: int | None, filter: str, sort: str) -> list[Any]:
        if run_id is not None:  # keep what the person (or a chart click) chose; only refresh the list
            return [gr.update(choices=run_choices(store)), gr.skip(), gr.skip(), gr.skip()]
        choices = run_choices(store)
        if not choices:
            return [gr.update(choices=[]), gr.skip(), gr.skip(), PICK_RUN]
        return open_step(choices[0][1], None, filter, sort)

    def latest(run_id: int | None, filter: str, sort: str) -> list[Any]:
        return open_step(run_id, None, filter, sort) if run_id is not None else [gr.skip()] * 3 + [PICK_RUN]

    def show_step(run_id: int | None, step: float, filter: str, sort: str) -> str:
        if run_id is None:
            return PICK_RUN
        try:
            return step_html(store, run_id, int(step), filter, sort)
        except StorageError as exc:
            return f"<p>Cannot read rollouts: {html.escape(str(exc))}</p>"

    @BULK_READS
    def search(run_id: int | None, query: str) -> str:
        if len(query) > MAX_SEARCH_CHARS:
            return f"<p>Search for at most {MAX_SEARCH_CHARS} characters of text (this search has {len(query):,}).</p>"
        if run_id is None:
            return PICK_RUN
        return render_search(
            store.search_rollouts(run_id, query, SEARCH_LIMIT + 1) if query.strip() else [], query, limit=SEARCH_LIMIT
        )

    outputs = [run_dd, step_sl, filter_rd, traces_html]
    view_inputs = [run_dd, step_sl, filter_rd, sort_dd]
    # Programmatic changes of the run (a chart click, opening the tab) must not jump to the latest step, so the
    # latest step follows only a person's choice (.input), not every .change.
    tab.select(open_tab, [run_dd, filter_rd, sort_dd], outputs, show_progress="hidden")
    gr.on([run_dd.input, latest_btn.click], latest, [run_dd, filter_rd, sort_dd], outputs)
    gr.on([step_sl.release, filter_rd.input, sort_dd.input], show_step, view_inputs, traces_html)
    gr.on([search_btn.click, search_tb.submit], search, [run_dd, search_tb], search_html)
    return TracesView(outputs=outputs, open_step=open_step)
