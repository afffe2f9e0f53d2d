"""The Train tab: a form generated from RunConfig, data upload with preview and column mapping, queueing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import (
    COLUMN_FIELDS,
    GROUP_TITLES,
    FormField,
    config_to_values,
    form_fields,
    run_cost,
    values_to_config,
)
from nover_ui.context import Dashboard
from nover_ui.queue import queue_run
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.uploads import mean_prompt_chars, usable_rows
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


@dataclass
class TrainForm:
    """The handles other tabs need: the Runs tab's "clone" fills these."""

    name_tb: gr.Textbox
    field_inputs: list[gr.components.Component]


def build_train(dashboard: Dashboard) -> TrainForm:
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
    field_inputs = [widgets[field.name] for field in fields]
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

    def fill_from_preset(name: str) -> list[Any]:
        return config_to_values(RunConfig() if name == NO_PRESET else preset(name))

    def describe_cost(request: gr.Request, *values: Any) -> str:
        try:
            config = RunConfig.from_dict(values_to_config(list(values)))
        except ConfigError as exc:
            return f"Cost: not computable until the form is valid ({markdown_text(str(exc))})."
        return run_cost(config, _prompt_chars(dashboard, config, request))

    @FILE_WORK
    def upload(
        temp_path: str | None,
        prompt_column: str,
        reference_column: str,
        split_column: str,
        split: str,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        if temp_path is None:
            return gr.update(), "", gr.update(visible=False), *(gr.update() for _ in COLUMN_FIELDS)
        try:
            kept = dashboard.keep_upload(temp_path, request)
        except (AccessDenied, DataError) as exc:
            return (
                gr.update(),
                f"**Upload refused:** {markdown_text(str(exc))}",
                gr.update(visible=False),
                *(gr.update() for _ in COLUMN_FIELDS),
            )
        prompt_column = kept.prompt_column or prompt_column
        reference_column = kept.reference_column or reference_column
        choices = list(kept.columns)
        summary = f"Columns: {', '.join(markdown_text(c) for c in kept.columns)}.  \n" + usable_rows(
            str(kept.path), prompt_column, reference_column, split_column, split, dashboard.limits
        )
        return (
            str(kept.path),
            summary,
            gr.update(value=kept.preview, visible=True),
            gr.update(choices=choices, value=prompt_column),
            gr.update(choices=choices, value=reference_column),
            gr.update(choices=choices, value=split_column),
        )

    @FILE_WORK
    def remap(
        dataset: str, prompt_column: str, reference_column: str, split_column: str, split: str, request: gr.Request
    ) -> Any:
        if dataset == DEMO_DATASET or not dataset.strip():
            return gr.update()
        try:
            access.require_write(request, "read data files")
            dashboard.places.check_data(dataset)
        except (AccessDenied, DataError) as exc:
            return f"**Cannot use this mapping:** {markdown_text(str(exc))}"
        if not Path(dataset).expanduser().is_file():
            return gr.update()  # a hub id or a dataset folder: the worker reads it
        return usable_rows(dataset, prompt_column, reference_column, split_column, split, dashboard.limits)

    def preview(*values: Any) -> tuple[Any, ...]:
        try:
            config = RunConfig.from_dict(values_to_config(list(values)))
        except ConfigError as exc:
            return (
                f"**Not valid:** {markdown_text(str(exc))}",
                gr.update(visible=False),
                gr.update(visible=False),
                *_field_messages(fields, exc.field, str(exc)),
            )
        command = command_line(config)
        if config.num_processes > 1:
            command += "\n\n# on several GPUs\n" + command_line(config, launcher="accelerate")
        return (
            "",
            gr.update(value=config.to_json(), visible=True),
            gr.update(value=command, visible=True),
            *_field_messages(fields, None, ""),
        )

    @FILE_WORK
    def queue(request: gr.Request, preset_name: str, name: str, *values: Any) -> tuple[Any, ...]:
        # The request comes first: Gradio passes it only to parameters before *values.
        try:
            access.require_write(request, "queue runs")
        except AccessDenied as exc:
            return (f"**Not queued:** {markdown_text(str(exc))}", *_field_messages(fields, None, ""))
        name = name.strip() or f"{preset_name if preset_name != NO_PRESET else 'run'} {time.strftime('%H:%M:%S')}"
        try:
            run = queue_run(dashboard.store, name, values_to_config(list(values)), dashboard.places, dashboard.limits)
        except ConfigError as exc:
            return (f"**Not queued:** {markdown_text(str(exc))}", *_field_messages(fields, exc.field, str(exc)))
        except DataError as exc:
            return (f"**Not queued:** {markdown_text(str(exc))}", *_field_messages(fields, "dataset", str(exc)))
        except StorageError as exc:
            return (f"**Not queued:** {markdown_text(str(exc))}", *_field_messages(fields, None, ""))
        return (
            f"Queued run **#{run.id}** ({markdown_text(run.name)}); follow it in the Runs tab.",
            *_field_messages(fields, None, ""),
        )

    def save(*values: Any) -> Any:
        try:
            config = RunConfig.from_dict(values_to_config(list(values)))
        except ConfigError as exc:
            raise refusal(f"Fix the form before saving: {exc}") from None
        path = dashboard.downloads.new_path("nover_config.json")
        path.write_text(config.to_json())
        return gr.update(value=str(path), visible=True)

    def load(path: str, request: gr.Request) -> list[Any]:
        try:
            access.require_write(request, "load configs")
        except AccessDenied as exc:
            raise refusal(str(exc)) from None
        if Path(path).stat().st_size > MAX_CONFIG_BYTES:
            raise refusal(f"Cannot load {Path(path).name}: a config file has at most {MAX_CONFIG_BYTES // 1024} KB")
        try:
            config = RunConfig.from_json(Path(path).read_text())
        except (ConfigError, UnicodeDecodeError) as exc:
            raise refusal(f"Cannot load {Path(path).name}: {exc}") from None
        return config_to_values(config)

    column_inputs = [widgets[name] for name in (*COLUMN_FIELDS, "dataset_split")]
    preset_dd.change(fill_from_preset, preset_dd, field_inputs)
    gr.on([widgets[name].change for name in COST_FIELDS], describe_cost, field_inputs, cost_md, show_progress="hidden")
    upload_file.upload(
        upload,
        [upload_file, *column_inputs],
        [widgets["dataset"], data_md, preview_df, *(widgets[name] for name in COLUMN_FIELDS)],
    )
    gr.on(
        [widgets[name].input for name in (*COLUMN_FIELDS, "dataset_split")],
        remap,
        [widgets["dataset"], *column_inputs],
        data_md,
    )
    preview_btn.click(preview, field_inputs, [status_md, config_code, command_code, *field_inputs])
    queue_btn.click(queue, [preset_dd, name_tb, *field_inputs], [status_md, *field_inputs])
    save_btn.click(save, field_inputs, saved_file)
    load_btn.upload(load, load_btn, field_inputs)
    return TrainForm(name_tb=name_tb, field_inputs=field_inputs)


def _prompt_chars(dashboard: Dashboard, config: RunConfig, request: gr.Request) -> float | None:
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


def _field_messages(fields: list[FormField], error_field: str | None, message: str) -> list[Any]:
    """Put a validation error in the info line under its field; every other field shows its help again."""
    return [
        gr.update(info=f"⚠ {message}", elem_classes=["field-error"])
        if field.name == error_field
        else gr.update(info=field.help, elem_classes=[])
        for field in fields
    ]
