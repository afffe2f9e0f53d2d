"""Assembles the dashboard from one module per tab. Built inside a function: nothing runs at import."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from nover_ui.access import Access
from nover_ui.api import register_api
from nover_ui.compare_tab import build_compare
from nover_ui.compare_view import COMPARE_CSS
from nover_ui.context import Dashboard
from nover_ui.eval_view import EVAL_CSS
from nover_ui.evaluate_tab import build_evaluate
from nover_ui.events import COMPARE, EVALUATE, EXPERIMENTS, METRICS, PLAYGROUND, RUNS, TRACES, TRAIN
from nover_ui.experiment_form import build_experiment
from nover_ui.experiment_grid import DEFAULT_MAX_RUNS
from nover_ui.experiments_tab import build_experiments
from nover_ui.login import build_login
from nover_ui.metrics_tab import CHART_CLICK_JS, build_metrics
from nover_ui.page_url_events import LinkedViews, wire_page_url
from nover_ui.playground_tab import build_playground
from nover_ui.runs_tab import build_runs
from nover_ui.traces_tab import build_traces, wire_chart_clicks
from nover_ui.traces_view import TRACES_CSS
from nover_ui.train_tab import build_train
from nover_ui.uploads import UploadLimits
from nover_ui.visible_polls import wire_visible_polls
from storage import Store
from training.artifacts import Artifacts

CACHE_CHECK_S = 3600
TITLE = "nover_ui: verifier-free RL (NOVER) runs"
APP_CSS = (
    TRACES_CSS
    + COMPARE_CSS
    + EVAL_CSS
    + """
.field-error .info, .field-error [data-testid="block-info"] + div, .field-error span { color: #b42318; }
.nover-hidden { display: none !important; }
.block.nover-notice { border-left: 4px solid #dc6803; padding-left: 0.75em; }
"""
)
APP_JS = CHART_CLICK_JS
"""Gradio 6 takes CSS and JS at launch(), not in Blocks(): pass css=APP_CSS, js=APP_JS there."""


def build_app(
    store: Store,
    home: Path,
    access: Access | None = None,
    limits: UploadLimits = UploadLimits(),
    notices: Sequence[str] = (),
    data_dirs: tuple[Path, ...] = (),
    max_experiment_runs: int = DEFAULT_MAX_RUNS,
    artifacts: Artifacts | None = None,
) -> gr.Blocks:
    """The whole dashboard over `store`; uploads are kept under home/uploads for the workers to read.

    `access` decides who may change things (default: everyone); `notices` are Markdown lines shown under the
    title (no persistent storage, the demo's "Duplicate this Space"); `data_dirs` are the folders besides
    HOME/uploads and HOME/models whose files the dashboard may open (places.py); `max_experiment_runs` caps
    the runs one experiment queues; `artifacts` is the store uploads go to and checkpoints and merged models come
    from (app.py --artifacts; None keeps every file under `home`).
    """
    access = access or Access()
    dashboard = Dashboard.over(store, home, access, limits, data_dirs, max_experiment_runs, artifacts)
    # Gradio's cached copies of uploads and downloads are removed an hour after they were made.
    with gr.Blocks(title=TITLE, delete_cache=(CACHE_CHECK_S, CACHE_CHECK_S)) as app:
        gr.Markdown(
            f"# {TITLE}"
            + ("  \n*Read-only: runs can be inspected, not queued or changed.*" if access.read_only else "")
        )
        for notice in notices:
            gr.Markdown(notice, elem_classes="nover-notice")
        if access.needs_login:
            build_login(access, app)
        first_tab = RUNS if access.read_only else TRAIN
        with gr.Tabs(selected=first_tab) as tabs:
            with gr.Tab("Train", id=TRAIN) as train_tab:
                train = build_train(dashboard)
                build_experiment(dashboard, train)
            with gr.Tab("Runs", id=RUNS) as runs_tab:
                runs = build_runs(dashboard, train, tabs)
            with gr.Tab("Metrics", id=METRICS) as metrics_tab:
                metrics = build_metrics(store, metrics_tab)
            with gr.Tab("Traces", id=TRACES) as traces_tab:
                traces = build_traces(store, traces_tab)
            with gr.Tab("Compare", id=COMPARE) as compare_tab:
                compare = build_compare(store, compare_tab)
            with gr.Tab("Experiments", id=EXPERIMENTS) as experiments_tab:
                experiments = build_experiments(store, experiments_tab)
            with gr.Tab("Playground", id=PLAYGROUND) as playground_tab:
                playground = build_playground(dashboard, playground_tab)
            with gr.Tab("Evaluate", id=EVALUATE) as evaluate_tab:
                evaluate = build_evaluate(dashboard, evaluate_tab)
        register_api(dashboard)
        wire_chart_clicks(store, traces, metrics.click_tb, tabs)
        tab_items = {TRAIN: train_tab, RUNS: runs_tab, METRICS: metrics_tab, TRACES: traces_tab}
        tab_items |= {COMPARE: compare_tab, EXPERIMENTS: experiments_tab}
        tab_items |= {PLAYGROUND: playground_tab, EVALUATE: evaluate_tab}
        timers = {RUNS: runs.refresh_timer, METRICS: metrics.poll_timer, EXPERIMENTS: experiments.poll_timer}
        timers |= {PLAYGROUND: playground.poll_timer, EVALUATE: evaluate.timer}
        wire_visible_polls(tab_items, timers, first=first_tab)
        linked = LinkedViews(tabs, runs, metrics, traces, compare, evaluate, experiments)
        wire_page_url(app, store, linked, tab_items, timers)
    # Every queued event only through the queue, whose concurrency limits then hold: no direct POST to
    # /gradio_api/run/<name> (heavy handlers also hold a limit of their own, work_limits.py).
    app.queue(api_open=False)
    return app
