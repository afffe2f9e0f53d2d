"""Each tab built for real inside a Blocks, as the app builds them, without a server or a browser: handler tests
get the real components as keys and call the handlers with plain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import Access
from nover_ui.context import Dashboard
from nover_ui.events import RUNS, TRAIN
from nover_ui.metrics_tab import MetricsTab, build_metrics
from nover_ui.runs_tab import RunsTab, build_runs
from nover_ui.train_form import TrainTab
from nover_ui.train_tab import build_train
from nover_ui.uploads import UploadLimits
from storage import Store
from training.artifacts import Artifacts


@dataclass(frozen=True)
class Built:
    dashboard: Dashboard
    tabs: gr.Tabs
    train: TrainTab
    runs: RunsTab
    metrics: MetricsTab


def build_tabs(store: Store, home: Path, access: Access | None = None, artifacts: Artifacts | None = None) -> Built:
    """The Train, Runs and Metrics tabs, which refer to each other (Clone fills the Train form); `artifacts`: the
    dashboard's artifact store (app.py --artifacts)."""
    dashboard = Dashboard.over(store, home, access or Access(), UploadLimits(), (home,), artifacts=artifacts)
    with gr.Blocks():
        with gr.Tabs() as tabs:
            with gr.Tab("Train", id=TRAIN):
                train = build_train(dashboard)
            with gr.Tab("Runs", id=RUNS):
                runs = build_runs(dashboard, train, tabs)
            with gr.Tab("Metrics") as metrics_tab:
                metrics = build_metrics(store, metrics_tab)
    return Built(dashboard, tabs, train, runs, metrics)


def built(builder: Callable[..., Any], over: Any) -> Any:
    """`builder(over, tab)` inside a Blocks and a Tab of its own; returns what the builder returns."""
    with gr.Blocks(), gr.Tabs(), gr.Tab("tab") as tab:
        return builder(over, tab)


def dashboard(store: Store, home: Path, access: Access | None = None) -> Dashboard:
    return Dashboard.over(store, home, access or Access(), UploadLimits())
