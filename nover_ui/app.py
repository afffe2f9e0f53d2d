"""Assembles the dashboard from one module per tab. Built inside a function: nothing runs at import."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import Access
from nover_ui.api import register_api
from nover_ui.compare_tab import build_compare
from nover_ui.compare_view import COMPARE_CSS
from nover_ui.eval_view import EVAL_CSS
from nover_ui.evaluate_tab import build_evaluate
from nover_ui.login import build_login
from nover_ui.metrics_tab import CHART_CLICK_JS, build_metrics
from nover_ui.playground_tab import build_playground
from nover_ui.runs_tab import build_runs
from nover_ui.traces_tab import build_traces, filter_for_metric
from nover_ui.traces_view import TRACES_CSS
from nover_ui.train_tab import build_train
from nover_ui.uploads import UploadLimits
from storage import Store

TITLE = "nover_ui: verifier-free RL (NOVER) runs"
APP_CSS = TRACES_CSS + COMPARE_CSS + EVAL_CSS + """
.field-error .info, .field-error [data-testid="block-info"] + div, .field-error span { color: #b42318; }
.nover-hidden { display: none !important; }
.block.nover-notice { border-left: 4px solid #dc6803; padding-left: 0.75em; }
"""
APP_JS = CHART_CLICK_JS
"""Gradio 6 takes CSS and JS at launch(), not in Blocks(): pass css=APP_CSS, js=APP_JS there."""


def build_app(store: Store, home: Path, access: Access | None = None, limits: UploadLimits = UploadLimits(),
              notices: Sequence[str] = ()) -> gr.Blocks:
    """The whole dashboard over `store`; uploads are kept under home/uploads for the workers to read.

    `access` decides who may change things (default: everyone); `notices` are Markdown lines shown under the
    title (no persistent storage, the demo's "Duplicate this Space").
    """
    access = access or Access()
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}" + ("  \n*Read-only: runs can be inspected, not queued or changed.*"
                                    if access.read_only else ""))
        for notice in notices:
            gr.Markdown(notice, elem_classes="nover-notice")
        if access.needs_login:
            build_login(access)
        with gr.Tabs(selected="runs" if access.read_only else "train") as tabs:
            with gr.Tab("Train", id="train"):
                train = build_train(store, home / "uploads", access, limits)
            with gr.Tab("Runs", id="runs"):
                build_runs(store, train, tabs, access, home)
            with gr.Tab("Metrics", id="metrics") as metrics_tab:
                chart_click_tb = build_metrics(store, metrics_tab)
            with gr.Tab("Traces", id="traces") as traces_tab:
                traces = build_traces(store, traces_tab)
            with gr.Tab("Compare", id="compare") as compare_tab:
                build_compare(store, compare_tab)
            with gr.Tab("Playground", id="playground") as playground_tab:
                build_playground(store, playground_tab, access)
            with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
                build_evaluate(store, evaluate_tab, home / "uploads", access, limits)
        register_api(store, access)

        def open_clicked_point(payload: str) -> list[Any]:
            try:
                point = json.loads(payload)
                run_id, step, key = int(point["run"]), int(point["step"]), str(point["key"])
            except (ValueError, KeyError, TypeError):
                return [gr.skip()] * (1 + len(traces.outputs))
            return [gr.Tabs(selected="traces"), *traces.open_step(run_id, step, filter_for_metric(key))]

        chart_click_tb.change(open_clicked_point, chart_click_tb, [tabs, *traces.outputs], show_progress="hidden")
    return app
