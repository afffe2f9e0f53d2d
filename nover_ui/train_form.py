"""The Train tab's components, and the updates that fill its form: shared by the tab's handlers and the Runs
tab's "clone"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.config_form import config_to_values, form_fields
from nover_ui.field_errors import info_text
from training.config import PRESETS, RunConfig

NO_PRESET = "(defaults)"
FIRST_PRESET = "cpu-demo"
"""The form opens on the preset that trains on a laptop CPU in minutes."""
PRESET_CHOICES = (NO_PRESET, *PRESETS)


@dataclass(frozen=True)
class TrainTab:
    preset_dd: gr.Dropdown
    preset_md: gr.Markdown
    """What the chosen preset is for and where its settings come from (training/preset_notes.py)."""
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
    recipe_dd: gr.Dropdown
    """A published reward recipe: sets only the reward fields (nover_ui/recipe_choice.py)."""
    recipe_md: gr.Markdown
    form_state: gr.BrowserState
    """The form as the browser keeps it across a reload (train_state.py)."""
    before_upload_state: gr.BrowserState
    """The data fields as they were before the upload, which clearing the upload puts back (train_data.py)."""

    @property
    def field_inputs(self) -> list[gr.components.Component]:
        """The field widgets in form_fields() order: the order values_to_config reads their values in."""
        return list(self.widgets.values())


def form_values(tab: TrainTab, config: RunConfig) -> dict[Any, Any]:
    """Every field widget set to the config's value (the Runs tab's "clone" uses it too)."""
    return dict(zip(tab.field_inputs, config_to_values(config)))


def field_messages(tab: TrainTab, errors: Mapping[str | None, Exception | str]) -> dict[Any, Any]:
    """Each error in the info line under its field (`errors` by field name, e.g. config_errors' result); every
    other field shows its help again. Both as text: info lines are Markdown, and help carries formulas
    (proxy <- alpha*proxy ...) and errors carry what the person typed."""
    return {
        tab.widgets[field.name]: gr.update(info=f"⚠ {info_text(str(errors[field.name]))}", elem_classes=["field-error"])
        if field.name in errors
        else gr.update(info=help_text(field.name), elem_classes=[])
        for field in form_fields()
    }


def help_text(name: str) -> str:
    """A field's help for its info line, shown as the text it is."""
    return info_text(next(field.help for field in form_fields() if field.name == name))
