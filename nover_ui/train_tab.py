"""The Train tab: a form generated from RunConfig, data upload with preview and column mapping, queueing.

Handlers first (plain values in, {component: update} out; the data upload's are in train_data.py), then the
builder that makes the tab's components (TrainTab, train_form.py) and wires them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import (
    COLUMN_FIELDS,
    GROUP_TITLES,
    FormField,
    form_fields,
    run_cost,
    values_to_config,
)
from nover_ui.context import Dashboard
from nover_ui.events import bind
from nover_ui.queue import queue_run
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.train_data import remap, upload
from nover_ui.train_form import TrainTab, field_messages, form_values
from nover_ui.uploads import mean_prompt_chars
from nover_ui.work_limits import FILE_WORK, Busy
from storage import StorageError
from training.commands import command_line
from training.config import DEMO_DATASET, PRESETS, ConfigError, RunConfig, preset
from training.data import DataError

NO_PRESET = "(defaults)"
FIRST_PRESET = "cpu-demo"
"""The form opens on the preset that trains on a laptop CPU in minutes."""
MAX_CONFIG_BYTES = 64 * 1024
OPEN_GROUPS = {"model", "data", "run"}
COST_FIELDS = (
    "prompts_per_step",
    "num_generations",
    "max_completion_length",
    "max_steps",
    "reward",
    "dataset",
    "prompt_column",
    "dataset_split",
)


# ---- handlers: plain values in, {component: update} out ---------------------------------------------------


def fill_from_preset(name: str, *, tab: TrainTab) -> dict[Any, Any]:
    return form_values(tab, RunConfig() if name == NO_PRESET else preset(name))


def describe_cost(request: gr.Request | None, *values: Any, dashboard: Dashboard, tab: TrainTab) -> dict[Any, Any]:
    # The request comes first: Gradio passes it only to parameters before *values.
    try:
        config = RunConfig.from_dict(values_to_config(list(values)))
    except ConfigError as exc:
        return {tab.cost_md: f"Cost: not computable until the form is valid ({markdown_text(str(exc))})."}
    return {tab.cost_md: run_cost(config, _prompt_chars(dashboard, config, request))}


def preview(*values: Any, tab: TrainTab) -> dict[Any, Any]:
    """The config as JSON and the command that trains it, or the error under its field."""
    try:
        config = RunConfig.from_dict(values_to_config(list(values)))
    except ConfigError as exc:
        return {
            tab.status_md: f"**Not valid:** {markdown_text(str(exc))}",
            tab.config_code: gr.update(visible=False),
            tab.command_code: gr.update(visible=False),
            **field_messages(tab, exc.field, str(exc)),
        }
    command = command_line(config)
    if config.num_processes > 1:
        command += "\n\n# on several GPUs\n" + command_line(config, launcher="accelerate")
    return {
        tab.status_md: "",
        tab.config_code: gr.update(value=config.to_json(), visible=True),
        tab.command_code: gr.update(value=command, visible=True),
        **field_messages(tab, None, ""),
    }


@FILE_WORK
def queue(
    request: gr.Request | None, preset_name: str, name: str, *values: Any, dashboard: Dashboard, tab: TrainTab
) -> dict[Any, Any]:
    # The request comes first: Gradio passes it only to parameters before *values.
    try:
        dashboard.access.require_write(request, "queue runs")
    except AccessDenied as exc:
        return {tab.status_md: f"**Not queued:** {markdown_text(str(exc))}", **field_messages(tab, None, "")}
    name = name.strip() or f"{preset_name if preset_name != NO_PRESET else 'run'} {time.strftime('%H:%M:%S')}"
    error: Exception
    error_field = None
    try:
        run = queue_run(dashboard.store, name, values_to_config(list(values)), dashboard.places, dashboard.limits)
    except ConfigError as exc:
        error, error_field = exc, exc.field
    except DataError as exc:
        error, error_field = exc, "dataset"
    except StorageError as exc:
        error = exc
    else:
        message = f"Queued run **#{run.id}** ({markdown_text(run.name)}); follow it in the Runs tab."
        return {tab.status_md: message, **field_messages(tab, None, "")}
    return {
        tab.status_md: f"**Not queued:** {markdown_text(str(error))}",
        **field_messages(tab, error_field, str(error)),
    }


def save(*values: Any, dashboard: Dashboard, tab: TrainTab) -> dict[Any, Any]:
    try:
        config = RunConfig.from_dict(values_to_config(list(values)))
    except ConfigError as exc:
        raise refusal(f"Fix the form before saving: {exc}") from None
    path = dashboard.downloads.new_path("nover_config.json")
    path.write_text(config.to_json())
    return {tab.saved_file: gr.update(value=str(path), visible=True)}


def load(path: str, request: gr.Request | None, *, dashboard: Dashboard, tab: TrainTab) -> dict[Any, Any]:
    try:
        dashboard.access.require_write(request, "load configs")
    except AccessDenied as exc:
        raise refusal(str(exc)) from None
    if Path(path).stat().st_size > MAX_CONFIG_BYTES:
        raise refusal(f"Cannot load {Path(path).name}: a config file has at most {MAX_CONFIG_BYTES // 1024} KB")
    try:
        config = RunConfig.from_json(Path(path).read_text())
    except (ConfigError, UnicodeDecodeError) as exc:
        raise refusal(f"Cannot load {Path(path).name}: {exc}") from None
    return form_values(tab, config)


# ---- the builder --------------------------------------------------------------------------------------------


def build_train(dashboard: Dashboard) -> TrainTab:
    access = dashboard.access
    fields = form_fields()
    with gr.Row():
        preset_dd = gr.Dropdown(
            [NO_PRESET, *PRESETS],
            value=FIRST_PRESET,
            label="Preset",
            info="Fills the whole form; edit any field afterwards.",
            scale=1,
        )
        name_tb = gr.Textbox(label="Run name", placeholder="empty: the preset's name and the time", scale=2)
    cost_md = gr.Markdown(
        run_cost(preset(FIRST_PRESET), mean_prompt_chars(DEMO_DATASET, "prompt", "reference", "split", "train")),
        elem_id="run-cost",
    )
    initial = preset(FIRST_PRESET).to_dict()
    widgets: dict[str, gr.components.Component] = {}
    for group, title in GROUP_TITLES.items():
        with gr.Accordion(title, open=group in OPEN_GROUPS):
            if group == "data":
                upload_file = gr.File(
                    label="Upload a CSV, JSONL or Parquet file (or keep the dataset below)",
                    file_types=[".csv", ".jsonl", ".parquet"],
                    height=110,
                    elem_id="data-upload",
                )
                data_md = gr.Markdown(elem_id="data-summary")
                preview_df = gr.Dataframe(label="First rows", visible=False, interactive=False, wrap=True)
            with gr.Row(equal_height=False):
                for field in (f for f in fields if f.group == group):
                    widgets[field.name] = _widget(field, initial[field.name])
    with gr.Row():
        preview_btn = gr.Button("Preview")
        queue_btn = gr.Button("Queue run", variant="primary", interactive=not access.read_only, elem_id="queue-run")
        save_btn = gr.Button("Save config")
        load_btn = gr.UploadButton("Load config", file_types=[".json"])
    status_md = gr.Markdown(
        "Read-only dashboard: runs cannot be queued here." if access.read_only else "", elem_id="train-status"
    )
    saved_file = gr.File(label="Config JSON", visible=False, elem_id="saved-config")
    with gr.Row():
        config_code = gr.Code(label="Config JSON", language="json", visible=False)
        command_code = gr.Code(label="Equivalent command", language="shell", visible=False)
    tab = TrainTab(
        preset_dd=preset_dd,
        name_tb=name_tb,
        cost_md=cost_md,
        upload_file=upload_file,
        data_md=data_md,
        preview_df=preview_df,
        widgets={field.name: widgets[field.name] for field in fields},
        preview_btn=preview_btn,
        queue_btn=queue_btn,
        save_btn=save_btn,
        load_btn=load_btn,
        status_md=status_md,
        saved_file=saved_file,
        config_code=config_code,
        command_code=command_code,
    )
    _wire(tab, dashboard)
    return tab


def _wire(tab: TrainTab, dashboard: Dashboard) -> None:
    widgets, fields = tab.widgets, tab.field_inputs
    column_inputs = [widgets[name] for name in (*COLUMN_FIELDS, "dataset_split")]
    uploaded = [widgets["dataset"], tab.data_md, tab.preview_df, *(widgets[name] for name in COLUMN_FIELDS)]

    tab.preset_dd.change(bind(fill_from_preset, tab=tab), tab.preset_dd, fields)
    cost = bind(describe_cost, dashboard=dashboard, tab=tab)
    gr.on([widgets[name].change for name in COST_FIELDS], cost, fields, [tab.cost_md], show_progress="hidden")
    tab.upload_file.upload(bind(upload, dashboard=dashboard, tab=tab), [tab.upload_file, *column_inputs], uploaded)
    remapped = bind(remap, dashboard=dashboard, tab=tab)
    gr.on([w.input for w in column_inputs], remapped, [widgets["dataset"], *column_inputs], [tab.data_md])
    previewed = [tab.status_md, tab.config_code, tab.command_code, *fields]
    tab.preview_btn.click(bind(preview, tab=tab), fields, previewed)
    queued = bind(queue, dashboard=dashboard, tab=tab)
    tab.queue_btn.click(queued, [tab.preset_dd, tab.name_tb, *fields], [tab.status_md, *fields])
    tab.save_btn.click(bind(save, dashboard=dashboard, tab=tab), fields, [tab.saved_file])
    tab.load_btn.upload(bind(load, dashboard=dashboard, tab=tab), tab.load_btn, fields)


def _prompt_chars(dashboard: Dashboard, config: RunConfig, request: gr.Request | None) -> float | None:
    """The data's mean prompt length for the cost line, when the asker may read the data and the server has a
    free slot to read it; otherwise None (the line then leaves the data out)."""
    if config.dataset != DEMO_DATASET:
        try:
            dashboard.access.require_write(request, "read data files")
            dashboard.places.check_data(config.dataset)
        except (AccessDenied, DataError):
            return None
    try:
        with FILE_WORK.slot(wait_s=0):
            return mean_prompt_chars(
                config.dataset,
                config.prompt_column,
                config.reference_column,
                config.split_column,
                config.dataset_split,
                dashboard.limits,
            )
    except Busy:
        return None


def _widget(field: FormField, value: Any) -> gr.components.Component:
    common = dict(label=field.name, info=field.help, value=value, elem_id=f"field-{field.name}", min_width=220)
    if field.kind is bool:
        return gr.Checkbox(**common)
    if field.choices:
        return gr.Dropdown(list(field.choices), **common)
    if field.name in COLUMN_FIELDS:
        return gr.Dropdown([value], allow_custom_value=True, **common)
    if field.kind is int:
        return gr.Number(precision=0, **common)
    if field.kind is float:
        return gr.Number(**common)
    return gr.Textbox(**common)
