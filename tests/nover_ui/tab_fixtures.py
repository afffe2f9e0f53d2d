"""Each tab built for real inside a Blocks, without a server or a browser: handlers are called with plain values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from nover_ui.access import Access
from nover_ui.context import Dashboard
from nover_ui.uploads import UploadLimits
from storage import Store


def built(builder: Callable[..., Any], over: Any) -> Any:
    """`builder(over, tab)` inside a Blocks and a Tab of its own; returns what the builder returns."""
    with gr.Blocks(), gr.Tabs(), gr.Tab("tab") as tab:
        return builder(over, tab)


def dashboard(store: Store, home: Path, access: Access | None = None) -> Dashboard:
    return Dashboard.over(store, home, access or Access(), UploadLimits())
