"""User-given strings (run names, column names, metric keys, paths in messages) and model output shown as the text
they are.

HTML views (traces, evaluations, diffs, token gains, comparisons) let text in only through `html_text`. Markdown
would turn `[x](https://...)` into a link and a backtick would break out of a code span; Plotly renders
a subset of HTML (`<a href>`, `<span style>`, `<br>`) in trace names, titles and annotations. Both are escaped
here, once, so a name can never become markup.
"""

from __future__ import annotations

import html
import re

import gradio as gr

_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation character: CommonMark lets any of them be backslash-escaped."""


def html_text(text: str) -> str:
    """`text` for an HTML page or attribute value: every character that could start markup or end a quoted
    attribute (& < > " ') as an entity, so the reader sees the text exactly as written and nothing else."""
    return html.escape(text, quote=True)


def markdown_text(text: str) -> str:
    """`text` for a Markdown component, shown literally on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def plotly_text(text: str) -> str:
    """`text` for a Plotly name, title or annotation: its HTML subset escaped as entities, which Plotly shows as
    the characters themselves."""
    return html.escape(str(text), quote=False)


def refusal(message: str) -> gr.Error:
    """The error a handler raises to refuse: Gradio renders its message as HTML in the page (and hands it as
    is to gradio_client), so the names and paths in it are escaped; expected refusals print no traceback."""
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def api_error(message: str) -> gr.Error:
    """The error an API endpoint raises to refuse: a script gets the message as it is, with no traceback
    printed on the server."""
    return gr.Error(message, print_exception=False)
