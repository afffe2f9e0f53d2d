"""The Runs table: one row of plain text per run, with its progress, step time and ETA (read_runs fills it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from storage import RunRecord, Status, Store

RUN_COLUMNS = [
    "id",
    "name",
    "status",
    "progress",
    "step time",
    "ETA",
    "created",
    "started",
    "finished",
    "worker",
    "error",
]
COLUMN_WIDTHS: list[str | int] = [
    "50px",
    "14%",
    "100px",
    "110px",
    "80px",
    "80px",
    "140px",
    "140px",
    "140px",
    "110px",
    "20%",
]


def runs_frame(runs: list[RunRecord], step_times: Mapping[int, float] | None = None) -> pd.DataFrame:
    """One row per run, newest first, every cell plain text."""
    step_times = step_times or {}
    rows = [
        [
            run.id,
            run.name,
            run.status,
            _progress(run),
            _duration(step_times.get(run.id)),
            _eta(run, step_times),
            _when(run.created_at),
            _when(run.started_at),
            _when(run.finished_at),
            run.worker_id or "",
            _first_line(run.error),
        ]
        for run in runs
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def read_runs(store: Store) -> pd.DataFrame:
    runs = store.list_runs()
    return runs_frame(runs, store.latest_metric([run.id for run in runs if run.step], "step_time"))


def _progress(run: RunRecord) -> str:
    if run.total_steps:
        return f"{run.step}/{run.total_steps} ({100 * run.step // run.total_steps}%)"
    return str(run.step) if run.step else ""


def _eta(run: RunRecord, step_times: Mapping[int, float]) -> str:
    if run.status != Status.RUNNING or not run.total_steps or run.id not in step_times:
        return ""
    return _duration(step_times[run.id] * max(run.total_steps - run.step, 0))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {secs:02d}s"


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _first_line(error: str | None) -> str:
    return error.splitlines()[0] if error else ""
