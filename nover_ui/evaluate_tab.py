"""The Evaluate tab: held-out evaluations of the base model and a run's checkpoints as background jobs, their
checkpoints x metrics table, a prompts x checkpoints grid of answers, and downloads (a checkpoint's adapter, or
merged into a full model: nover_ui/merge_panel.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.dataset_label import dataset_label
from nover_ui.downloads import Downloads
from nover_ui.eval_view import TABLE_COLUMNS, TABLE_WIDTHS, answers_grid, metrics_frame, model_label, no_answer_note
from nover_ui.events import bind
from nover_ui.exports import FORMATS, evaluation_samples_file, write_table, zip_checkpoint
from nover_ui.field_errors import field_errors, not_queued
from nover_ui.merge_panel import build_merge_panel
from nover_ui.queue import queue_evaluations
from nover_ui.run_picker import run_choices
from nover_ui.safe_text import refusal
from nover_ui.work_limits import BULK_READS, FILE_WORK
from storage import ACTIVE_STATUSES, Status, StorageError, Store
from training.config import ConfigError
from training.data import DataError

REFRESH_S = 3.0
SPLITS = ("test", "validation", "train")


@dataclass(frozen=True)
class EvaluateTab:
    run_dd: gr.Dropdown
    steps_cg: gr.CheckboxGroup
    base_cb: gr.Checkbox
    data_tb: gr.Textbox
    data_file: gr.File
    split_dd: gr.Dropdown
    prompts_nb: gr.Number
    samples_nb: gr.Number
    seed_nb: gr.Number
    queue_btn: gr.Button
    status_md: gr.Markdown
    table_df: gr.Dataframe
    note_md: gr.Markdown
    """What a finished evaluation without a format-valid answer means, and what to try."""
    chosen_dd: gr.Dropdown
    grid_btn: gr.Button
    grid_html: gr.HTML
    format_rd: gr.Radio
    rollouts_btn: gr.Button
    samples_btn: gr.Button
    adapter_dd: gr.Dropdown
    adapter_btn: gr.Button
    download_file: gr.File
    version_state: gr.State
    """The evaluations' version (Store.evaluations_version); the table redraws when it changes."""
    queued_state: gr.State
    """The ids this page queued last: the status line's "Queued" goes once they have all ended."""
    timer: gr.Timer

    @property
    def fields(self) -> dict[str, gr.components.Component]:
        """The form's fields by the name a refusal (ConfigError.field) gives them."""
        return {
            "run_id": self.run_dd,
            "steps": self.steps_cg,
            "dataset": self.data_tb,
            "split": self.split_dd,
            "max_prompts": self.prompts_nb,
            "samples": self.samples_nb,
            "seed": self.seed_nb,
        }


def on_open(store: Store, tab: EvaluateTab, run_id: int | None) -> dict[Any, Any]:
    """Refresh the run list, keeping the chosen run (the newest on the first visit)."""
    choices = run_choices(store)
    chosen = run_id if run_id is not None else (choices[0][1] if choices else None)
    return {tab.run_dd: gr.update(choices=choices, value=chosen)}


def poll(store: Store, tab: EvaluateTab) -> dict[Any, Any]:
    try:
        return {tab.version_state: store.evaluations_version(kind="evaluation")}
    except StorageError:
        return {tab.version_state: gr.skip()}  # a busy database: try again on the next tick


def draw(
    store: Store, tab: EvaluateTab, run_id: int | None, chosen: list[int] | None, queued: list[int] | None = None
) -> dict[Any, Any]:
    """The evaluations of the run's data and the finished ones to compare; chosen ones that still exist stay
    chosen. Once every job this page `queued` has ended, the status line's "Queued" goes."""
    try:
        evaluations = store.list_evaluations_of_data(run_id) if run_id is not None else []
    except StorageError:  # the run was deleted since it was picked
        evaluations = []
    runs = store.list_runs() if evaluations else []
    run_names = {run.id: run.name for run in runs}
    upload_names = {run.config.get("dataset", ""): dataset_label(run.config) for run in runs}
    choices = [(f"#{e.id} {model_label(e)}", e.id) for e in evaluations if e.status == Status.SUCCEEDED]
    known = {value for _, value in choices}
    return {
        tab.table_df: metrics_frame(evaluations, run_names, upload_names),
        tab.note_md: no_answer_note(evaluations),
        tab.chosen_dd: gr.update(choices=choices, value=[i for i in chosen or [] if i in known]),
        **_settle_queued(store, tab, queued),
    }


def _settle_queued(store: Store, tab: EvaluateTab, queued: list[int] | None) -> dict[Any, Any]:
    """The status line cleared once none of the `queued` jobs is queued or running any more (a job of another
    run's data is not in the table, so its status is read by id)."""
    if not queued:
        return {}
    active = store.list_evaluations(statuses=list(ACTIVE_STATUSES))
    if any(e.id in queued for e in active):
        return {}
    return {tab.status_md: "", tab.queued_state: []}


def pick_run(store: Store, tab: EvaluateTab, run_id: int | None, chosen: list[int] | None) -> dict[Any, Any]:
    """The run's checkpoints (the last one chosen) and its evaluations."""
    steps = [c.step for c in store.list_checkpoints(run_id)] if run_id is not None else []
    labelled = [(f"step {step}", step) for step in steps]
    return {
        tab.steps_cg: gr.update(choices=labelled, value=steps[-1:]),
        tab.adapter_dd: gr.update(choices=labelled, value=steps[-1] if steps else None),
        **draw(store, tab, run_id, chosen),
    }


@FILE_WORK
def upload(dashboard: Dashboard, tab: EvaluateTab, temp_path: str | None, request: gr.Request) -> dict[Any, Any]:
    if temp_path is None:
        return {tab.data_tb: gr.update()}
    try:
        kept = dashboard.keep_upload(temp_path, request)
    except (AccessDenied, DataError) as exc:
        raise refusal(f"Upload refused: {exc}") from None
    # The box holds the stored copy's path, which the job reads; the info line keeps the name the person knows.
    return {tab.data_tb: gr.update(value=str(kept.path), info=f"Uploaded {Path(temp_path).name}")}


def queue(
    dashboard: Dashboard,
    tab: EvaluateTab,
    run_id: int | None,
    steps: list[int] | None,
    include_base: bool,
    split: str,
    max_prompts: float | None,
    samples: float | None,
    seed: float | None,
    dataset: str | None,
    request: gr.Request,
) -> dict[Any, Any]:
    """Queue one evaluation per chosen model; a refusal shows under the field it names, or in the status line."""
    try:
        dashboard.access.require_write(request, "queue evaluations")
    except AccessDenied as exc:
        return not_queued(tab.status_md, tab.fields, str(exc))
    if run_id is None:
        return {tab.status_md: "Pick a run first.", **field_errors(tab.fields, None)}
    try:
        ids = queue_evaluations(
            dashboard.store,
            run_id,
            steps or [],
            include_base,
            split,
            max_prompts,
            samples,
            seed,
            dataset or "",
            dashboard.places,
        )
    except ConfigError as exc:
        return not_queued(tab.status_md, tab.fields, str(exc), exc.field)
    except (ValueError, StorageError) as exc:
        return not_queued(tab.status_md, tab.fields, str(exc))
    queued = ", ".join(f"#{i}" for i in ids)
    return {
        tab.status_md: f"Queued evaluation(s) {queued}; a worker runs them after any training run.",
        tab.queued_state: ids,
        **field_errors(tab.fields, None),
        **poll(dashboard.store, tab),  # the new rows show at once, not on the next tick
    }


@BULK_READS
def show_grid(store: Store, tab: EvaluateTab, chosen: list[int] | None) -> dict[Any, Any]:
    evaluations = [e for e in store.list_evaluations() if e.id in (chosen or [])]
    return {tab.grid_html: answers_grid(evaluations, {e.id: store.get_evaluation_samples(e.id) for e in evaluations})}


def offer(dashboard: Dashboard, tab: EvaluateTab, make: Callable[..., Path], *args: Any) -> dict[Any, Any]:
    """The file `make(*args, downloads)` writes, offered in the download box; a refusal says why."""
    try:
        return {tab.download_file: gr.update(value=str(make(*args, dashboard.downloads)))}
    except (ValueError, FileNotFoundError, StorageError) as exc:
        raise refusal(str(exc)) from None


@BULK_READS
def rollouts_file(dashboard: Dashboard, tab: EvaluateTab, run_id: int | None, fmt: str) -> dict[Any, Any]:
    if run_id is None:
        raise refusal("Pick a run first.")
    return offer(dashboard, tab, write_table, dashboard.store.get_rollouts(run_id), f"run-{run_id}-rollouts", fmt)


@BULK_READS
def samples_file(dashboard: Dashboard, tab: EvaluateTab, chosen: list[int] | None, fmt: str) -> dict[Any, Any]:
    return offer(dashboard, tab, functools.partial(evaluation_samples_file, dashboard.store), chosen or [], fmt)


@BULK_READS
def adapter_file(dashboard: Dashboard, tab: EvaluateTab, run_id: int | None, step: int | None) -> dict[Any, Any]:
    checkpoints = dashboard.store.list_checkpoints(run_id) if run_id else []
    checkpoint = next((c for c in checkpoints if c.step == step), None)
    if checkpoint is None:
        raise refusal("Pick a run and one of its checkpoints.")
    location = checkpoint.path

    def zipped(downloads: Downloads) -> Path:  # fetched from the artifact store first when it was published there
        return zip_checkpoint(
            dashboard.places.checkpoint_folder(location, int(run_id)), f"run-{run_id}-step-{step}-adapter", downloads
        )

    return offer(dashboard, tab, zipped)


def build_evaluate(dashboard: Dashboard, tab: gr.Tab) -> EvaluateTab:
    store, access = dashboard.store, dashboard.access
    with gr.Row():
        run_dd = gr.Dropdown(label="Run (its data, prompt format and sampling settings)", scale=2, elem_id="eval-run")
        steps_cg = gr.CheckboxGroup(label="Checkpoints", scale=3, elem_id="eval-checkpoints")
        base_cb = gr.Checkbox(value=True, label="Include the base model", scale=1)
    with gr.Row():
        data_tb = gr.Textbox(
            label="Data (empty: the run's own; or a file path / dataset id)", scale=3, elem_id="eval-data"
        )
        data_file = gr.File(
            label="or upload a CSV/JSONL/Parquet file",
            file_types=[".csv", ".jsonl", ".parquet"],
            height=90,
            scale=2,
            elem_id="eval-upload",
        )
    with gr.Row():
        split_dd = gr.Dropdown(list(SPLITS), value="test", label="Held-out split (ignored without a split column)")
        prompts_nb = gr.Number(8, precision=0, label="Prompts", minimum=1, elem_id="eval-prompts")
        samples_nb = gr.Number(1, precision=0, label="Samples per prompt", minimum=1, elem_id="eval-samples")
        seed_nb = gr.Number(0, precision=0, label="Seed", elem_id="eval-seed")
        queue_btn = gr.Button(
            "Run evaluation", variant="primary", interactive=not access.read_only, elem_id="eval-queue"
        )
    status_md = gr.Markdown(elem_id="eval-status")
    table_df = gr.Dataframe(
        headers=TABLE_COLUMNS,
        datatype="str",
        label="Evaluations of the run's data (every run's checkpoints and the base model) x metrics",
        interactive=False,
        wrap=True,
        column_widths=TABLE_WIDTHS,
        elem_id="eval-table",
    )
    note_md = gr.Markdown(elem_id="eval-note")
    with gr.Row():
        chosen_dd = gr.Dropdown(label="Compare the answers of", multiselect=True, scale=4, elem_id="eval-chosen")
        grid_btn = gr.Button("Show answers", scale=1)
    grid_html = gr.HTML(elem_id="eval-grid")
    timer = gr.Timer(REFRESH_S)
    with gr.Accordion("Downloads", open=False):
        with gr.Row():
            format_rd = gr.Radio(list(FORMATS), value="parquet", label="Table format")
            rollouts_btn = gr.Button("Run's rollouts")
            samples_btn = gr.Button("Chosen evaluations' samples")
            adapter_dd = gr.Dropdown(label="Checkpoint", scale=1)
            adapter_btn = gr.Button("Adapter (zip)")
        download_file = gr.File(label="Download", elem_id="eval-download")
        build_merge_panel(dashboard, run_dd, adapter_dd, download_file)
    version_state, queued_state = gr.State(None), gr.State([])
    ev = EvaluateTab(
        run_dd, steps_cg, base_cb, data_tb, data_file, split_dd, prompts_nb, samples_nb, seed_nb, queue_btn,
        status_md, table_df, note_md, chosen_dd, grid_btn, grid_html, format_rd, rollouts_btn, samples_btn, adapter_dd,
        adapter_btn, download_file, version_state, queued_state, timer,
    )  # fmt: skip

    form = [run_dd, steps_cg, base_cb, split_dd, prompts_nb, samples_nb, seed_nb, data_tb]
    tab.select(bind(on_open, store, ev), run_dd, {run_dd}, show_progress="hidden")
    run_dd.change(bind(pick_run, store, ev), [run_dd, chosen_dd], {steps_cg, adapter_dd, table_df, note_md, chosen_dd})
    data_file.upload(bind(upload, dashboard, ev), data_file, {data_tb})
    queue_btn.click(bind(queue, dashboard, ev), form, {status_md, version_state, queued_state, *ev.fields.values()})
    # The timer reads only the version; the table and the choices are redrawn when it changed. Queued: the page
    # fires a State's .change only for events that went through the queue.
    timer.tick(bind(poll, store, ev), None, {version_state}, show_progress="hidden")
    version_state.change(
        bind(draw, store, ev),
        [run_dd, chosen_dd, queued_state],
        {table_df, note_md, chosen_dd, status_md, queued_state},
        show_progress="hidden",
    )
    grid_btn.click(bind(show_grid, store, ev), chosen_dd, {grid_html})
    rollouts_btn.click(bind(rollouts_file, dashboard, ev), [run_dd, format_rd], {download_file})
    samples_btn.click(bind(samples_file, dashboard, ev), [chosen_dd, format_rd], {download_file})
    adapter_btn.click(bind(adapter_file, dashboard, ev), [run_dd, adapter_dd], {download_file})
    return ev
