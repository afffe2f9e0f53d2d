"""User-given strings (run names, column names, metric keys, paths in messages) shown as the text they are.

Markdown would turn `[x](https://...)` into a link and a backtick would break out of a code span; Plotly renders
a subset of HTML (`<a href>`, `<span style>`, `<br>`) in trace names, titles and annotations. Both are escaped
here, once, so a name can never become markup.
"""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
"""Every ASCII punctuation character: CommonMark lets any of them be backslash-escaped."""


def markdown_text(text: str) -> str:
    """`text` for a Markdown component, shown literally on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def plotly_text(text: str) -> str:
    """`text` for a Plotly name, title or annotation: its HTML subset escaped as entities, which Plotly shows as
    the characters themselves."""
    return html.escape(str(text), quote=False)
