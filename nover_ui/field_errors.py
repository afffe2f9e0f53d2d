"""A refused form's error under the field it names (`ConfigError.field`), as Gradio updates of the form's fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from nover_ui.safe_text import markdown_text


def field_errors(fields: Mapping[str, Any], error_field: str | None, message: str = "") -> dict[Any, Any]:
    """{component: update} for every field in `fields` (form field name -> component): the message in the info
    line of the one named `error_field`, in the error colour (app.py's .field-error); every other line cleared.

    An empty string clears a line: Gradio drops None values from an update, so None would leave an old error.
    """
    return {
        component: gr.update(info=f"⚠ {message}", elem_classes=["field-error"])
        if name == error_field
        else gr.update(info="", elem_classes=[])
        for name, component in fields.items()
    }


def not_queued(
    status_md: Any, fields: Mapping[str, Any], message: str, error_field: str | None = None
) -> dict[Any, Any]:
    """A refused request: why in the status line, and under the field the refusal names when the form has it."""
    return {status_md: f"**Not queued:** {markdown_text(message)}", **field_errors(fields, error_field, message)}
