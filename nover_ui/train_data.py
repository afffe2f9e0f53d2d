"""The Train tab's data: an uploaded file kept, previewed and its columns mapped, and the usable-rows line again
when a column or the split changes. Handlers of the Train tab (nover_ui/train_tab.py wires them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.config_form import COLUMN_FIELDS
from nover_ui.context import Dashboard
from nover_ui.safe_text import markdown_text
from nover_ui.train_form import TrainTab
from nover_ui.uploads import usable_rows
from nover_ui.work_limits import FILE_WORK
from training.config import DEMO_DATASET
from training.data import DataError


@FILE_WORK
def upload(
    temp_path: str | None,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    request: gr.Request | None,
    *,
    dashboard: Dashboard,
    tab: TrainTab,
) -> dict[Any, Any]:
    """Keep an uploaded file, preview it, and map its columns (the ones named like prompt and reference)."""
    if temp_path is None:
        return {tab.data_md: "", tab.preview_df: gr.update(visible=False)}
    try:
        kept = dashboard.keep_upload(temp_path, request)
    except (AccessDenied, DataError) as exc:
        return {tab.data_md: f"**Upload refused:** {markdown_text(str(exc))}", tab.preview_df: gr.update(visible=False)}
    prompt_column = kept.prompt_column or prompt_column
    reference_column = kept.reference_column or reference_column
    summary = f"Columns: {', '.join(markdown_text(c) for c in kept.columns)}.  \n" + usable_rows(
        str(kept.path), prompt_column, reference_column, split_column, split, dashboard.limits
    )
    columns = dict(zip(COLUMN_FIELDS, (prompt_column, reference_column, split_column)))
    return {
        tab.widgets["dataset"]: str(kept.path),
        tab.data_md: summary,
        tab.preview_df: gr.update(value=kept.preview, visible=True),
        **{tab.widgets[name]: gr.update(choices=list(kept.columns), value=value) for name, value in columns.items()},
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
    """The usable-rows line again after a column or split changed."""
    if dataset == DEMO_DATASET or not dataset.strip():
        return {tab.data_md: gr.update()}
    try:
        dashboard.access.require_write(request, "read data files")
        dashboard.places.check_data(dataset)
    except (AccessDenied, DataError) as exc:
        return {tab.data_md: f"**Cannot use this mapping:** {markdown_text(str(exc))}"}
    if not Path(dataset).expanduser().is_file():
        return {tab.data_md: gr.update()}  # a hub id or a dataset folder: the worker reads it
    return {tab.data_md: usable_rows(dataset, prompt_column, reference_column, split_column, split, dashboard.limits)}
