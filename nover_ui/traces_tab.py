"""The Traces tab: one step's groups of rollouts side by side, with filters, sorting and search across a run.

All model and data text reaches the page through traces_view, which escapes it: never live HTML.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from nover_ui.traces_view import FILTERS, SORTS, render_search, render_step
from storage import StorageError, Store

SEARCH_LIMIT = 50


def step_html(store: Store, run_id: int, step: int, filter: str, sort: str) -> str:
    return render_step(store.get_rollouts(run_id, step=step), filter=filter, sort=sort)


def build_traces(store: Store, tab: gr.Tab) -> None:
    """Traces inside `tab`; opening the tab refreshes the run list."""
    with gr.Row(equal_height=True):
        run_dd = gr.Dropdown(label="Run", scale=3, elem_id="traces-run")
        step_sl = gr.Slider(0, 1, value=1, step=1, label="Step", scale=4, elem_id="traces-step")
        latest_btn = gr.Button("Latest step", scale=1, elem_id="traces-latest")
    with gr.Row():
        filter_rd = gr.Radio(list(FILTERS), value="all", label="Show", scale=3)
        sort_dd = gr.Dropdown(list(SORTS), value="sample", label="Sort rollouts by", scale=1)
    with gr.Accordion("Search completions across the run", open=False):
        with gr.Row(equal_height=True):
            search_tb = gr.Textbox(label="Text", placeholder="e.g. </answer>", scale=4, elem_id="traces-query")
            search_btn = gr.Button("Search", scale=1)
        search_html = gr.HTML(elem_id="traces-search")
    traces_html = gr.HTML("<p>Pick a run.</p>", elem_id="traces")

    def refresh_runs(selected: int | None) -> Any:
        choices = [(f"#{run.id} {run.name} ({run.status})", run.id) for run in store.list_runs()]
        if selected is None and choices:
            selected = choices[0][1]
        return gr.update(choices=choices, value=selected)

    def go_to_latest(run_id: int | None, filter: str, sort: str) -> tuple[Any, str]:
        if run_id is None:
            return gr.update(), "<p>Pick a run.</p>"
        try:
            steps = store.rollout_steps(run_id)
            if steps is None:
                return gr.update(value=1), "<p>This run has no rollouts yet.</p>"
            first, last = steps
            # A slider needs a range: a run with one step still gets [step - 1, step].
            return (gr.update(minimum=min(first, last - 1), maximum=last, value=last),
                    step_html(store, run_id, last, filter, sort))
        except StorageError as exc:
            return gr.update(), f"<p>Cannot read rollouts: {html.escape(str(exc))}</p>"

    def show_step(run_id: int | None, step: float, filter: str, sort: str) -> str:
        if run_id is None:
            return "<p>Pick a run.</p>"
        try:
            return step_html(store, run_id, int(step), filter, sort)
        except StorageError as exc:
            return f"<p>Cannot read rollouts: {html.escape(str(exc))}</p>"

    def search(run_id: int | None, query: str) -> str:
        if run_id is None:
            return "<p>Pick a run.</p>"
        return render_search(store.search_rollouts(run_id, query, SEARCH_LIMIT + 1) if query.strip() else [],
                             query, limit=SEARCH_LIMIT)

    view_inputs = [run_dd, step_sl, filter_rd, sort_dd]
    gr.on([tab.select, run_dd.focus], refresh_runs, run_dd, run_dd, show_progress="hidden")
    gr.on([run_dd.change, latest_btn.click], go_to_latest, [run_dd, filter_rd, sort_dd], [step_sl, traces_html])
    gr.on([step_sl.release, filter_rd.change, sort_dd.change], show_step, view_inputs, traces_html)
    gr.on([search_btn.click, search_tb.submit], search, [run_dd, search_tb], search_html)
