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
    values_to_config,
)
from nover_ui.context import Dashboard
from nover_ui.dataset_label import dataset_label
from nover_ui.events import bind
from nover_ui.queue import queue_run
from nover_ui.recipe_choice import NO_RECIPE, RECIPE_CHOICES, recipe_fields, recipe_note
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.train_cost import cost_text, describe_cost, errors_text
from nover_ui.train_data import DATA_FIELDS, clear_upload, remap, upload
from nover_ui.train_form import (
    FIRST_PRESET,
    NO_PRESET,
    PRESET_CHOICES,
    TrainTab,
    field_messages,
    form_values,
    help_text,
)
from nover_ui.train_state import BEFORE_UPLOAD_KEY, FORM_KEY, restore, save_js
from nover_ui.uploads import mean_prompt_chars
from nover_ui.work_limits import FILE_WORK
from storage import StorageError
from training.commands import command_line
from training.config import (
    BUILTIN_DATASETS,
    DEMO_DATASET,
    TRACKERS,
    ConfigError,
    RunConfig,
    config_errors,
    preset,
)
from training.data import DataError
from training.preset_notes import preset_notes

MAX_CONFIG_BYTES = 64 * 1024
OPEN_GROUPS = {"model", "data", "run"}
COST_FIELDS = (
    "model",
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
    """The whole form reset to the preset, also when it is the one already chosen: every field, its help line,
    and the data (presets use the demo set or the default dataset, so an upload is cleared)."""
    config = RunConfig() if name == NO_PRESET else preset(name)
    return {
        **{
            widget: gr.update(value=value, info=help_text(field_name), elem_classes=[])
            for (field_name, widget), value in zip(tab.widgets.items(), form_values(tab, config).values())
        },
        **{tab.widgets[field_name]: gr.update(choices=[value], value=value) for field_name, value in _columns(config)},
        tab.upload_file: None,
        tab.before_upload_state: None,
        tab.data_md: "",
        tab.preview_df: gr.update(value=None, visible=False),
    }


def apply_recipe(name: str, *, tab: TrainTab) -> dict[Any, Any]:
    """The recipe's reward fields set over the form (nothing else changes), and its note: source, what it leaves out.
    It only fills the form, as a preset does; queueing checks the login."""
    return {
        tab.recipe_md: recipe_note(name),
        **{tab.widgets[field_name]: gr.update(value=value) for field_name, value in recipe_fields(name).items()},
    }


def preset_help(name: str) -> str:
    """What the preset is for and where its settings come from, as Markdown that shows each line literally."""
    return "  \n".join(markdown_text(line) for line in preset_notes(name))


def preview(*values: Any, tab: TrainTab) -> dict[Any, Any]:
    """The config as JSON and the command that trains it, or every error under its field."""
    errors = config_errors(values_to_config(list(values)))
    if errors:
        return {
            tab.status_md: f"**Not valid:** {errors_text(errors)}",
            tab.config_code: gr.update(visible=False),
            tab.command_code: gr.update(visible=False),
            **field_messages(tab, errors),
        }
    config = RunConfig.from_dict(values_to_config(list(values)))
    command = command_line(config)
    if config.num_machines > 1:  # each machine's worker adds its --machine_rank and rank 0's address and port
        command += "\n\n# on several machines (a worker on each)\n" + command_line(config, launcher="accelerate")
    elif config.num_processes > 1:
        command += "\n\n# on several GPUs\n" + command_line(config, launcher="accelerate")
    return {
        tab.status_md: "",
        tab.config_code: gr.update(value=config.to_json(), visible=True),
        tab.command_code: gr.update(value=command, visible=True),
        **field_messages(tab, {}),
    }


@FILE_WORK
def queue(
    request: gr.Request | None, preset_name: str, name: str, *values: Any, dashboard: Dashboard, tab: TrainTab
) -> dict[Any, Any]:
    # The request comes first: Gradio passes it only to parameters before *values.
    try:
        dashboard.access.require_write(request, "queue runs")
    except AccessDenied as exc:
        return {tab.status_md: f"**Not queued:** {markdown_text(str(exc))}", **field_messages(tab, {})}
    config = values_to_config(list(values))
    errors = config_errors(config)
    if errors:
        return {tab.status_md: f"**Not queued:** {errors_text(errors)}", **field_messages(tab, errors)}
    name = name.strip() or f"{preset_name if preset_name != NO_PRESET else 'run'} {time.strftime('%H:%M:%S')}"
    data = markdown_text(dataset_label(config))
    error: Exception
    error_field = None
    try:
        run = queue_run(dashboard.store, name, config, dashboard.places, dashboard.limits)
    except ConfigError as exc:
        error, error_field = exc, exc.field
    except DataError as exc:
        error, error_field = exc, "dataset"
    except StorageError as exc:
        error = exc
    else:
        message = f"Queued run **#{run.id}** ({markdown_text(run.name)}) on {data}; follow it in the Runs tab."
        return {tab.status_md: message, **field_messages(tab, {})}
    return {
        tab.status_md: f"**Not queued** (data: {data}): {markdown_text(str(error))}",
        **field_messages(tab, {error_field: error} if error_field else {}),
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
            list(PRESET_CHOICES),
            value=FIRST_PRESET,
            label="Preset",
            info="Fills the whole form (picking it again resets it); edit any field afterwards.",
            scale=1,
        )
        name_tb = gr.Textbox(label="Run name", placeholder="empty: the preset's name and the time", scale=2)
    preset_md = gr.Markdown(preset_help(FIRST_PRESET), elem_id="preset-notes")
    cost_md = gr.Markdown(
        cost_text(
            dashboard,
            preset(FIRST_PRESET),
            mean_prompt_chars(DEMO_DATASET, "prompt", "reference", "split", "train"),
        ),
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
            if group == "rewards":
                recipe_dd = gr.Dropdown(
                    list(RECIPE_CHOICES),
                    value=NO_RECIPE,
                    label="Recipe",
                    info="Sets only the reward fields below to a published recipe; the rest of the form stays.",
                    elem_id="recipe",
                )
                recipe_md = gr.Markdown(elem_id="recipe-note")
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
        form_state=gr.BrowserState(None, storage_key=FORM_KEY),
        before_upload_state=gr.BrowserState(None, storage_key=BEFORE_UPLOAD_KEY),
        preset_dd=preset_dd,
        preset_md=preset_md,
        recipe_dd=recipe_dd,
        recipe_md=recipe_md,
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
    data_fields = [widgets[name] for name in DATA_FIELDS]
    shown_data = [tab.data_md, tab.preview_df]
    uploaded = [*data_fields, tab.before_upload_state, *shown_data]

    preset_outputs = [*fields, tab.upload_file, tab.before_upload_state, *shown_data]
    # select, not change: picking the chosen preset again resets the form, and a restored preset fills nothing.
    tab.preset_dd.select(bind(fill_from_preset, tab=tab), tab.preset_dd, preset_outputs)
    # change, not select: a preset restored with the form (train_state.py) gets its notes too.
    tab.preset_dd.change(preset_help, tab.preset_dd, tab.preset_md, show_progress="hidden")
    tab.recipe_dd.select(bind(apply_recipe, tab=tab), tab.recipe_dd, [tab.recipe_md, *fields], show_progress="hidden")
    cost = bind(describe_cost, dashboard=dashboard, tab=tab)
    gr.on([widgets[name].change for name in COST_FIELDS], cost, fields, [tab.cost_md], show_progress="hidden")
    upload_inputs = [tab.upload_file, *(widgets[name] for name in ("dataset", "dataset_name", "dataset_config"))]
    upload_inputs += column_inputs
    tab.upload_file.upload(
        bind(upload, dashboard=dashboard, tab=tab), [*upload_inputs, tab.before_upload_state], uploaded
    )
    tab.upload_file.clear(bind(clear_upload, tab=tab), tab.before_upload_state, uploaded)
    # A typed dataset is not the uploaded file any more: its name goes, in the browser alone.
    widgets["dataset"].input(None, None, widgets["dataset_name"], js="() => ''")
    remapped = bind(remap, dashboard=dashboard, tab=tab)
    # A typed path (a data file, a saved dataset folder) is summarised as soon as it is typed, as after a column change.
    remap_triggers = [w.input for w in (widgets["dataset"], *column_inputs)]
    gr.on(remap_triggers, remapped, [widgets["dataset"], *column_inputs], [tab.data_md])
    previewed = [tab.status_md, tab.config_code, tab.command_code, *fields]
    tab.preview_btn.click(bind(preview, tab=tab), fields, previewed)
    queued = bind(queue, dashboard=dashboard, tab=tab)
    tab.queue_btn.click(queued, [tab.preset_dd, tab.name_tb, *fields], [tab.status_md, *fields])
    tab.save_btn.click(bind(save, dashboard=dashboard, tab=tab), fields, [tab.saved_file])
    tab.load_btn.upload(bind(load, dashboard=dashboard, tab=tab), tab.load_btn, fields)
    # The form survives a reload: saved in the browser on every change (no request), restored on load.
    gr.on(
        [tab.preset_dd.change, *(widget.change for widget in fields)],
        None,
        [tab.preset_dd, *fields],
        [tab.form_state],
        js=save_js(),
        show_progress="hidden",
    )
    page = gr.context.Context.root_block  # the Blocks being built: only it has a load event
    assert page is not None, "build_train runs inside a gr.Blocks"
    restored = [tab.preset_dd, *fields, *shown_data]
    page.load(bind(restore, dashboard=dashboard, tab=tab), tab.form_state, restored, show_progress="hidden")


def _columns(config: RunConfig) -> list[tuple[str, str]]:
    return [(name, getattr(config, name)) for name in COLUMN_FIELDS]


def _widget(field: FormField, value: Any) -> gr.components.Component:
    common = dict(
        label=field.name, info=help_text(field.name), value=value, elem_id=f"field-{field.name}", min_width=220
    )
    if field.kind is bool:
        return gr.Checkbox(**common)
    if field.choices:
        return gr.Dropdown(list(field.choices), **common)
    if field.name in COLUMN_FIELDS:
        return gr.Dropdown([value], allow_custom_value=True, **common)
    if field.name == "report_to":  # one tracker or all to pick, any comma list of them to type
        return gr.Dropdown(["none", *TRACKERS, ",".join(TRACKERS)], allow_custom_value=True, **common)
    if field.name == "dataset":  # the built-in sets to pick, a path or a hub id to type (an upload fills it in)
        return gr.Dropdown(list(BUILTIN_DATASETS), allow_custom_value=True, **common)
    if field.kind is int:
        return gr.Number(precision=0, **common)
    if field.kind is float:
        return gr.Number(**common)
    if field.name == "alert_rules":  # one rule per line
        return gr.Textbox(lines=3, max_lines=20, **common)
    return gr.Textbox(**common)
