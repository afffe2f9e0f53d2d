"""The Runs tab: every run with its status and progress, re-read from the Store on a timer, and its actions."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any

import gradio as gr
import pandas as pd

from nover_ui.access import AccessDenied
from nover_ui.archive import export_run
from nover_ui.config_form import config_to_values
from nover_ui.context import Dashboard
from nover_ui.run_actions import ActionRefused, cancel_run, delete_run, resume_run
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.train_tab import TrainForm
from nover_ui.work_limits import BULK_READS
from storage import RunRecord, Status, StorageError, Store
from training.config import ConfigError, RunConfig

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
COLUMN_WIDTHS = ["50px", "14%", "100px", "110px", "80px", "80px", "140px", "140px", "140px", "110px", "20%"]
REFRESH_S = 2.0


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


def run_choices(store: Store) -> list[tuple[str, int]]:
    """(label, id) of every run, newest first: the run pickers of the other tabs."""
    return [(f"#{run.id} {run.name} ({run.status})", run.id) for run in store.list_runs()]


def read_runs(store: Store) -> pd.DataFrame:
    runs = store.list_runs()
    return runs_frame(runs, store.latest_metric([run.id for run in runs if run.step], "step_time"))


def build_runs(dashboard: Dashboard, train: TrainForm, tabs: gr.Tabs) -> None:
    """`train` and `tabs` let "Clone" fill the Train form and switch to it; deleting a run removes its folders
    under HOME/runs."""
    store, access, home = dashboard.store, dashboard.access, dashboard.home
    runs_df = gr.Dataframe(
        value=lambda: read_runs(store),
        headers=RUN_COLUMNS,
        datatype="str",
        interactive=False,
        label="Runs (click a row to select it)",
        wrap=True,
        column_widths=COLUMN_WIDTHS,
        elem_id="runs-table",
    )
    with gr.Row(equal_height=False):
        run_nb = gr.Number(label="Selected run #", value=None, precision=0, scale=1, elem_id="selected-run")
        cancel_btn = gr.Button("Cancel", interactive=not access.read_only, size="md", scale=1, elem_id="cancel-run")
        resume_btn = gr.Button("Resume from last checkpoint", interactive=not access.read_only, size="md", scale=2)
        clone_btn = gr.Button("Clone into Train form", size="md", scale=2, elem_id="clone-run")
        delete_btn = gr.Button("Delete…", variant="stop", interactive=not access.read_only, size="md", scale=1)
        export_btn = gr.Button("Export (zip)", size="md", scale=1, elem_id="export-run")
    with gr.Row(visible=False) as confirm_row:
        confirm_md = gr.Markdown()
        confirm_btn = gr.Button("Yes, delete it", variant="stop")
        keep_btn = gr.Button("Keep it")
    action_md = gr.Markdown(elem_id="run-action")
    export_file = gr.File(label="Run archive (app.py --import reads it back)", visible=False, elem_id="run-export")
    error_tb = gr.Textbox(
        label="Error of the selected run", lines=6, max_lines=30, interactive=False, visible=False, elem_id="run-error"
    )
    command_code = gr.Code(
        label="Command of the selected run (set when a worker starts it)",
        language="shell",
        interactive=False,
        visible=False,
        elem_id="run-command",
    )
    refresh_timer = gr.Timer(REFRESH_S)

    def select_row(frame: pd.DataFrame, evt: gr.SelectData) -> tuple[Any, Any, Any]:
        run_id = int(frame.iloc[evt.index[0]]["id"])
        return run_id, _error_box(store, run_id), _command_box(store, run_id)

    def act(
        action: Callable[[Store, int], Any], done: str, what: str
    ) -> Callable[[float | None, gr.Request], tuple[Any, Any]]:
        def handler(run_id: float | None, request: gr.Request) -> tuple[Any, Any]:
            try:
                access.require_write(request, what)
            except AccessDenied as exc:
                return f"**Refused:** {markdown_text(str(exc))}", read_runs(store)
            if not run_id:  # an empty number field reads as 0 or None
                return "Select a run first (click its row).", read_runs(store)
            try:
                result = action(store, int(run_id))
            except (ActionRefused, StorageError) as exc:
                return f"**Refused:** {markdown_text(str(exc))}", read_runs(store)
            return done.format(run=int(run_id), new=getattr(result, "id", None)), read_runs(store)

        return handler

    def ask_delete(run_id: float | None) -> tuple[Any, Any, Any]:
        if not run_id:
            return gr.update(visible=False), "", "Select a run first (click its row)."
        return (
            gr.update(visible=True),
            (
                f"Delete run **#{int(run_id)}** with all its metrics, rollouts and "
                f"evaluations, and its checkpoint folders?"
            ),
            "",
        )

    @BULK_READS
    def export(run_id: float | None) -> Any:
        if not run_id:
            raise refusal("Select a run first (click its row).")
        try:
            path = dashboard.downloads.new_path(f"run-{int(run_id)}.zip")
            return gr.update(value=str(export_run(store, int(run_id), path)), visible=True)
        except (StorageError, OSError) as exc:
            raise refusal(f"Cannot export run {int(run_id)}: {exc}") from None

    def clone(run_id: float | None) -> list[Any]:
        if not run_id:
            raise refusal("Select a run first (click its row).")
        try:
            run = store.get_run(int(run_id))
            values = config_to_values(RunConfig.from_dict(run.config))
        except (StorageError, ConfigError) as exc:
            raise refusal(f"Cannot clone run {int(run_id)}: {exc}") from None
        return [f"{run.name} (copy)", *values, gr.Tabs(selected="train")]

    runs_df.select(select_row, runs_df, [run_nb, error_tb, command_code])
    cancel_btn.click(act(cancel_run, "Cancel requested for run #{run}.", "cancel runs"), run_nb, [action_md, runs_df])
    resume_btn.click(
        act(resume_run, "Queued run #{new}, resuming run #{run}.", "resume runs"), run_nb, [action_md, runs_df]
    )
    delete_btn.click(ask_delete, run_nb, [confirm_row, confirm_md, action_md])
    confirm_btn.click(
        act(functools.partial(delete_run, home=home), "Deleted run #{run}.", "delete runs"),
        run_nb,
        [action_md, runs_df],
    ).then(lambda: gr.update(visible=False), None, confirm_row)
    keep_btn.click(lambda: gr.update(visible=False), None, confirm_row)
    clone_btn.click(clone, run_nb, [train.name_tb, *train.field_inputs, tabs])
    export_btn.click(export, run_nb, export_file)
    refresh_timer.tick(lambda: read_runs(store), outputs=runs_df, show_progress="hidden", queue=False)


def _command_box(store: Store, run_id: int) -> Any:
    try:
        command = store.get_run(run_id).command
    except StorageError:
        command = None
    return gr.update(value=command or "", visible=bool(command))


def _error_box(store: Store, run_id: int) -> Any:
    try:
        error = store.get_run(run_id).error
    except StorageError:
        error = None
    return gr.update(value=error or "", visible=bool(error))


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
