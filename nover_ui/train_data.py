"""The Train tab's data: an uploaded file kept, previewed and its columns mapped; the summary again when a column
or the split changes; and the form's data as it was when the upload is cleared. Handlers of the Train tab
(nover_ui/train_tab.py wires them)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import COLUMN_FIELDS
from nover_ui.context import Dashboard
from nover_ui.safe_text import markdown_text
from nover_ui.train_form import TrainTab, help_text
from nover_ui.uploads import data_summary, mapped_preview
from nover_ui.work_limits import FILE_WORK
from training.config import BUILTIN_DATASETS
from training.data import DataError, readable_here

DATA_FIELDS = ("dataset", "dataset_name", "dataset_config", *COLUMN_FIELDS)
"""What an upload sets, and what clearing it puts back (remembered in TrainTab.before_upload_state)."""


@FILE_WORK
def upload(
    temp_path: str | None,
    dataset: str,
    dataset_name: str,
    dataset_config: str,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    before_upload: dict[str, Any] | None,
    request: gr.Request | None,
    *,
    dashboard: Dashboard,
    tab: TrainTab,
) -> dict[Any, Any]:
    """Keep an uploaded file, preview it, and map its columns (the ones named like prompt and reference; a
    `messages` column of chat turns when neither is there); remember the form's data before the first upload, for
    clear_upload. The hub config name goes: a file has no configs."""
    if temp_path is None:
        return {tab.data_md: "", tab.preview_df: gr.update(visible=False)}
    try:
        kept = dashboard.keep_upload(temp_path, request)
    except (AccessDenied, DataError) as exc:
        return {tab.data_md: f"**Upload refused:** {markdown_text(str(exc))}", tab.preview_df: gr.update(visible=False)}
    if not before_upload:  # a second upload replaces the first; clearing still goes back to before both
        before_upload = dict(
            zip(DATA_FIELDS, (dataset, dataset_name, dataset_config, prompt_column, reference_column, split_column))
        )
    columns = {
        "prompt_column": kept.prompt_column or prompt_column,
        "reference_column": kept.reference_column or reference_column,
        "split_column": split_column,
    }
    return {
        tab.widgets["dataset"]: str(kept.path),
        tab.widgets["dataset_name"]: kept.name,
        tab.widgets["dataset_config"]: "",
        tab.before_upload_state: before_upload,
        **data_shown(tab, dashboard, str(kept.path), kept.name, kept.columns, columns, split, kept.preview),
    }


def data_shown(
    tab: TrainTab,
    dashboard: Dashboard,
    path: str,
    name: str,
    columns: tuple[str, ...],
    mapping: dict[str, str],
    split: str,
    preview: Any,
) -> dict[Any, Any]:
    """The summary, the preview and the column dropdowns of a data file the asker may read."""
    summary = f"**{markdown_text(name)}**: columns {', '.join(markdown_text(c) for c in columns)}.  \n" + data_summary(
        path, *mapping.values(), split, dashboard.limits
    )
    return {
        tab.data_md: summary,
        tab.preview_df: gr.update(value=mapped_preview(preview, *mapping.values()), visible=True),
        **{tab.widgets[name]: gr.update(choices=list(columns), value=value) for name, value in mapping.items()},
    }


def clear_upload(before_upload: dict[str, Any] | None, *, tab: TrainTab) -> dict[Any, Any]:
    """The upload box was cleared: the data goes back to what the form had before the upload, so the next run
    cannot silently train on the file that is no longer shown (empty, with a note under the field, when that is
    not known)."""
    restored = {name: (before_upload or {}).get(name, "") for name in DATA_FIELDS}
    if not before_upload:
        restored.update(prompt_column="prompt", reference_column="reference", split_column="split")
    note = (
        gr.update(value=restored["dataset"], info=help_text("dataset"), elem_classes=[])
        if restored["dataset"]
        else gr.update(
            value="",
            info="⚠ Upload a file, or name a dataset (builtin:demo, builtin:inverse-demo, a hub id).",
            elem_classes=["field-error"],
        )
    )
    return {
        tab.widgets["dataset"]: note,
        tab.widgets["dataset_name"]: restored["dataset_name"],
        tab.widgets["dataset_config"]: restored["dataset_config"],
        **{tab.widgets[name]: gr.update(choices=[restored[name]], value=restored[name]) for name in COLUMN_FIELDS},
        tab.before_upload_state: None,
        tab.data_md: "Upload cleared: the data is back to what the form had before it.",
        tab.preview_df: gr.update(value=None, visible=False),
    }


@FILE_WORK
def remap(
    dataset: str,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    request: gr.Request | None,
    *,
    dashboard: Dashboard,
    tab: TrainTab,
) -> dict[Any, Any]:
    """The data summary again after the data, a column or the split changed: of a data file or a saved dataset
    folder (a hub id or a repository folder is left to the worker, which reads it when the run starts)."""
    if dataset in BUILTIN_DATASETS or not dataset.strip():
        return {tab.data_md: gr.update()}
    try:
        dashboard.access.require_write(request, "read data files")
        dashboard.places.check_data(dataset)
    except (AccessDenied, DataError) as exc:
        return {tab.data_md: f"**Cannot use this mapping:** {markdown_text(str(exc))}"}
    try:
        dataset = dashboard.places.readable(dataset)  # an upload's URL in the artifact store: the file itself
    except DataError as exc:
        return {tab.data_md: f"**Cannot use this mapping:** {markdown_text(str(exc))}"}
    if not readable_here(dataset):
        return {tab.data_md: gr.update()}
    return {tab.data_md: data_summary(dataset, prompt_column, reference_column, split_column, split, dashboard.limits)}
