"""A refused form's error under the field it names (`ConfigError.field`), as Gradio updates of the form's fields."""

from __future__ import annotations

import re
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
        component: gr.update(info=f"⚠ {info_text(message)}", elem_classes=["field-error"])
        if name == error_field
        else gr.update(info="", elem_classes=[])
        for name, component in fields.items()
    }


def not_queued(
    status_md: Any, fields: Mapping[str, Any], message: str, error_field: str | None = None
) -> dict[Any, Any]:
    """A refused request: why in the status line, and under the field the refusal names when the form has it."""
    return {status_md: f"**Not queued:** {markdown_text(message)}", **field_errors(fields, error_field, message)}


def info_text(text: str) -> str:
    """`text` for a component's info line, shown as the text it is. Gradio 6 renders an info line with a few
    patterns of its own (`code`, [link](url), **bold**, *em*, _em_), after escaping HTML, and knows no backslash
    escapes: markdown_text's `\\*` shows as a backslash and still starts emphasis. So the characters those patterns
    need are swapped for look-alikes they do not match: * for the asterisk operator, ` for a modifier grave, an
    underscore that could open emphasis for a fullwidth one, and a zero-width space between ] and (.

    >>> info_text("proxy <- alpha*proxy + (1-alpha)*policy; `x` [a](b) _c_ top_p")
    'proxy <- alpha∗proxy + (1-alpha)∗policy; ˋxˋ [a]\u200b(b) ＿c＿ top_p'
    """
    flat = " ".join(text.splitlines()).replace("*", "∗").replace("`", "ˋ").replace("](", "]\u200b(")
    return _LONE_UNDERSCORE.sub("＿", flat)


_LONE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9_])_|_(?![A-Za-z0-9_])")
"""An underscore Gradio's _em_ pattern could take: not inside a word (top_p stays as it is)."""
