"""Assembles the dashboard from one module per tab. Built inside a function: nothing runs at import."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from nover_ui.api import register_api
from nover_ui.metrics_tab import build_metrics
from nover_ui.runs_tab import build_runs
from nover_ui.traces_tab import build_traces
from nover_ui.traces_view import TRACES_CSS
from nover_ui.train_tab import build_train
from storage import Store

TITLE = "nover_ui: verifier-free RL (NOVER) runs"
APP_CSS = TRACES_CSS + """
.field-error .info, .field-error [data-testid="block-info"] + div, .field-error span { color: #b42318; }
"""
"""Gradio 6 takes CSS at launch(), not in Blocks(): pass css=APP_CSS there."""


def build_app(store: Store, home: Path, read_only: bool = False) -> gr.Blocks:
    """The whole dashboard over `store`; uploads are kept under home/uploads for the workers to read."""
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}" + ("  \n*Read-only: runs can be inspected, not queued or changed.*"
                                    if read_only else ""))
        with gr.Tabs(selected="runs" if read_only else "train") as tabs:
            with gr.Tab("Train", id="train"):
                train = build_train(store, home / "uploads", read_only)
            with gr.Tab("Runs", id="runs"):
                build_runs(store, train, tabs, read_only)
            with gr.Tab("Metrics", id="metrics") as metrics_tab:
                build_metrics(store, metrics_tab)
            with gr.Tab("Traces", id="traces") as traces_tab:
                build_traces(store, traces_tab)
        register_api(store, read_only)
    return app
