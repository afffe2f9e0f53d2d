"""The Train tab's components, and the updates that fill its form: shared by the tab's handlers and the Runs
tab's "clone"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.config_form import config_to_values, form_fields
from training.config import RunConfig


@dataclass(frozen=True)
class TrainTab:
    preset_dd: gr.Dropdown
    name_tb: gr.Textbox
    cost_md: gr.Markdown
    upload_file: gr.File
    data_md: gr.Markdown
    preview_df: gr.Dataframe
    widgets: dict[str, gr.components.Component]
    """One widget per RunConfig field, by field name, in form_fields() order."""
    preview_btn: gr.Button
    queue_btn: gr.Button
    save_btn: gr.Button
    load_btn: gr.UploadButton
    status_md: gr.Markdown
    saved_file: gr.File
    config_code: gr.Code
    command_code: gr.Code

    @property
    def field_inputs(self) -> list[gr.components.Component]:
        """The field widgets in form_fields() order: the order values_to_config reads their values in."""
        return list(self.widgets.values())


def form_values(tab: TrainTab, config: RunConfig) -> dict[Any, Any]:
    """Every field widget set to the config's value (the Runs tab's "clone" uses it too)."""
    return dict(zip(tab.field_inputs, config_to_values(config)))


def field_messages(tab: TrainTab, error_field: str | None, message: str) -> dict[Any, Any]:
    """Put a validation error in the info line under its field; every other field shows its help again."""
    return {
        tab.widgets[field.name]: gr.update(info=f"⚠ {message}", elem_classes=["field-error"])
        if field.name == error_field
        else gr.update(info=field.help, elem_classes=[])
        for field in form_fields()
    }
