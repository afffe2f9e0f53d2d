"""The Train form kept across a page reload: the field values, the chosen preset, the uploaded file (its stored
copy's path and its own name, which are the dataset and dataset_name fields) and the column mapping.

The browser keeps them (gr.BrowserState, in its localStorage): a script in the page saves the form on every
change, without a request to the server; on load, `restore` puts them back. What comes back from the browser is
input from a person like any other: values of the wrong type are dropped, and a data path is kept only when it
lies inside the dashboard's places (nover_ui/places.py) and the file still exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import COLUMN_FIELDS, form_fields
from nover_ui.context import Dashboard
from nover_ui.safe_text import markdown_text
from nover_ui.train_data import data_shown
from nover_ui.train_form import PRESET_CHOICES, TrainTab, help_text
from nover_ui.uploads import file_preview
from nover_ui.work_limits import FILE_WORK, Busy
from training.config import BUILTIN_DATASETS
from training.data import DataError, readable_here

FORM_KEY = "nover-train-form"
BEFORE_UPLOAD_KEY = "nover-train-before-upload"
"""localStorage keys; the values are encrypted with a secret the server makes at start-up (BrowserState's
default), so a form saved before a restart is not read back."""


def save_js() -> str:
    """The script that turns the preset and the field values (event inputs, in form_fields() order) into the
    saved form. It runs in the browser: saving sends nothing to the server."""
    names = json.dumps([field.name for field in form_fields()])
    values = f"Object.fromEntries({names}.map((name, i) => [name, values[i]]))"
    return f"(preset, ...values) => ({{preset: preset, values: {values}}})"


@FILE_WORK
def restore(saved: Any, request: gr.Request | None, *, dashboard: Dashboard, tab: TrainTab) -> dict[Any, Any]:
    """The form as the browser saved it (nothing changes when it saved none): the preset, every field value of
    the right type, and the data file with its preview when the asker may still read it; a note otherwise."""
    if not isinstance(saved, dict) or not isinstance(saved.get("values"), dict):
        return {tab.preset_dd: gr.skip()}  # not {}: Gradio reads an empty dict as one output's value and fails
    values = _typed_values(saved["values"])
    updates: dict[Any, Any] = {}
    if saved.get("preset") in PRESET_CHOICES:
        updates[tab.preset_dd] = gr.update(value=saved["preset"])
    dataset = values.get("dataset")
    name = values.get("dataset_name") or ""
    if isinstance(dataset, str) and "://" in dataset and _accepted(dashboard, dataset):
        pass  # an upload's URL in the artifact store (a cloned run's data): kept as it is
    elif isinstance(dataset, str) and _is_path(dashboard, dataset):
        owned = dashboard.places.owns(dataset) and Path(dataset).expanduser().exists()
        if owned and readable_here(dataset):  # a data file or a saved dataset folder
            updates.update(_shown_file(dashboard, tab, dataset, name, values, request))
        elif owned and Path(dataset).expanduser().is_dir():
            pass  # a dataset repository folder: kept as it is, for the worker to read
        else:
            values.update(dataset="", dataset_name="")
            updates[tab.data_md] = (
                f"The data chosen before the reload ({markdown_text(name or Path(dataset).name)}) is gone or "
                f"not one this dashboard may read; upload it again or name a dataset."
            )
    for field_name, value in values.items():
        widget = tab.widgets[field_name]
        if field_name == "dataset" and not value:
            updates[widget] = gr.update(
                value="", info="⚠ Upload a file, or name a dataset.", elem_classes=["field-error"]
            )
        elif widget not in updates:
            updates[widget] = gr.update(value=value)
    return updates or {tab.preset_dd: gr.skip()}


def _shown_file(
    dashboard: Dashboard, tab: TrainTab, path: str, name: str, values: dict[str, Any], request: gr.Request | None
) -> dict[Any, Any]:
    """The summary and preview of a kept file again, when the asker may read data files (else only a note)."""
    try:
        dashboard.access.require_write(request, "read data files")
        columns, preview = file_preview(path, dashboard.limits, str(values.get("dataset_split") or "") or None)
    except (AccessDenied, DataError) as exc:
        return {tab.data_md: f"Data: {markdown_text(name or Path(path).name)} ({markdown_text(str(exc))})"}
    except Busy:
        return {tab.data_md: f"Data: {markdown_text(name or Path(path).name)}"}
    mapping = {column: str(values.get(column) or "") for column in COLUMN_FIELDS}
    shown = data_shown(
        tab, dashboard, path, name or Path(path).name, columns, mapping, str(values.get("dataset_split") or ""), preview
    )
    shown[tab.widgets["dataset"]] = gr.update(value=path, info=help_text("dataset"), elem_classes=[])
    return shown


def _accepted(dashboard: Dashboard, dataset: str) -> bool:
    try:
        dashboard.places.check_data(dataset)
    except DataError:
        return False
    return True


def _is_path(dashboard: Dashboard, dataset: str) -> bool:
    return bool(dataset.strip()) and dataset not in BUILTIN_DATASETS and not dashboard.places.is_hub_id(dataset)


def _typed_values(saved: dict[Any, Any]) -> dict[str, Any]:
    """The saved values a widget of the field may hold: a bool for a checkbox, a number for a number field (or
    None when it may be empty), a string for a text field or a choice among its choices; the rest is dropped."""
    values = {}
    for field in form_fields():
        value = saved.get(field.name)
        if field.kind is bool:
            ok = isinstance(value, bool)
        elif field.kind in (int, float):
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or value is None
        else:
            ok = isinstance(value, str) and (field.choices is None or value in field.choices)
        if ok:
            values[field.name] = value
    return values
