"""The Runs tab: every run with its status and progress, re-read from the Store on a timer."""

from __future__ import annotations

import datetime as dt

import gradio as gr
import pandas as pd

from storage import RunRecord, Store

RUN_COLUMNS = ["id", "name", "status", "progress", "created", "started", "finished", "worker", "error"]
COLUMN_WIDTHS = ["50px", "16%", "90px", "120px", "165px", "165px", "165px", "130px", "24%"]
REFRESH_S = 2.0


def runs_frame(runs: list[RunRecord]) -> pd.DataFrame:
    """One row per run, newest first, every cell plain text."""
    rows = [[run.id, run.name, run.status, _progress(run), _when(run.created_at), _when(run.started_at),
             _when(run.finished_at), run.worker_id or "", _first_line(run.error)] for run in runs]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def build_runs(store: Store) -> None:
    runs_df = gr.Dataframe(value=lambda: runs_frame(store.list_runs()), headers=RUN_COLUMNS, datatype="str",
                           interactive=False, label="Runs", wrap=True, column_widths=COLUMN_WIDTHS,
                           elem_id="runs-table")
    refresh_timer = gr.Timer(REFRESH_S)
    refresh_timer.tick(lambda: runs_frame(store.list_runs()), outputs=runs_df, show_progress="hidden",
                       queue=False)


def _progress(run: RunRecord) -> str:
    if run.total_steps:
        return f"{run.step}/{run.total_steps} ({100 * run.step // run.total_steps}%)"
    return str(run.step) if run.step else ""


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _first_line(error: str | None) -> str:
    return error.splitlines()[0] if error else ""
