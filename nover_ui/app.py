"""Assembles the dashboard from one module per tab. Built inside a function: nothing runs at import."""

from __future__ import annotations

import gradio as gr

from nover_ui.runs_tab import build_runs
from storage import Store

TITLE = "nover_ui: verifier-free RL (NOVER) runs"


def build_app(store: Store) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}")
        with gr.Tab("Runs"):
            build_runs(store)
    return app
