"""The Train tab's cost line: what a step processes, how long a step and the run should take (from this dashboard's
timed runs, or a stated rule), and what to fix in the data first. Handlers of the Train tab (train_tab.py wires
them)."""

from __future__ import annotations

import statistics
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import run_cost, values_to_config
from nover_ui.context import Dashboard
from nover_ui.run_estimate import TimedRun, data_warnings, estimate_lines, timed_runs
from nover_ui.runs_table import STEP_TIME_WINDOW
from nover_ui.safe_text import markdown_text
from nover_ui.train_form import TrainTab
from nover_ui.uploads import mean_prompt_chars
from nover_ui.work_limits import FILE_WORK, Busy
from training.config import BUILTIN_DATASETS, ConfigError, RunConfig, config_errors
from training.data import DataError

TIMED_RUNS_READ = 20
"""How many of the newest started runs the step-time estimate looks at."""


def describe_cost(request: gr.Request | None, *values: Any, dashboard: Dashboard, tab: TrainTab) -> dict[Any, Any]:
    # The request comes first: Gradio passes it only to parameters before *values.
    errors = config_errors(values_to_config(list(values)))
    if errors:
        return {tab.cost_md: f"Cost: not computable until the form is valid ({errors_text(errors)})."}
    config = RunConfig.from_dict(values_to_config(list(values)))
    return {tab.cost_md: cost_text(dashboard, config, prompt_chars(dashboard, config, request))}


def cost_text(dashboard: Dashboard, config: RunConfig, prompt_chars: float | None) -> str:
    """The cost line: what a step processes, how long a step and the run should take, and what to fix first."""
    lines = [run_cost(config, prompt_chars), *estimate_lines(config, timed_here(dashboard))]
    lines += [f"⚠ **{warning}**" for warning in data_warnings(config, prompt_chars)]
    return "  \n".join(lines)


def timed_here(dashboard: Dashboard) -> list[TimedRun]:
    """The newest runs that started, with their recent mean step time: what estimates are scaled from."""
    # The newest runs that started: one index seek each, whatever the number of runs stored.
    runs = [run for run in dashboard.store.list_runs() if run.started_at is not None][:TIMED_RUNS_READ]
    recent = dashboard.store.latest_metrics([run.id for run in runs], "step_time", last=STEP_TIME_WINDOW)
    step_times = {run_id: statistics.fmean(series.values) for run_id, series in recent.items()}
    return timed_runs(runs, step_times)


def prompt_chars(dashboard: Dashboard, config: RunConfig, request: gr.Request | None) -> float | None:
    """The data's mean prompt length for the cost line, when the asker may read the data and the server has a
    free slot to read it; otherwise None (the line then leaves the data out)."""
    if config.dataset not in BUILTIN_DATASETS:
        try:
            dashboard.access.require_write(request, "read data files")
            dashboard.places.check_data(config.dataset)
        except (AccessDenied, DataError):
            return None
    try:
        with FILE_WORK.slot(wait_s=0):
            return mean_prompt_chars(
                dashboard.places.readable(config.dataset),  # an upload's URL in the artifact store: the file
                config.prompt_column,
                config.reference_column,
                config.split_column,
                config.dataset_split,
                dashboard.limits,
            )
    except (Busy, DataError):
        return None


def errors_text(errors: dict[str | None, ConfigError]) -> str:
    """'2 fields need a fix: num_generations, temperature (each says why under it).', or the one error itself."""
    if len(errors) == 1:
        return markdown_text(str(next(iter(errors.values()))))
    names = ", ".join(markdown_text(name or "config") for name in errors)
    return f"{len(errors)} fields need a fix: {names} (each says why under it)."
