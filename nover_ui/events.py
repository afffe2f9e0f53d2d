"""What every tab's event wiring shares: binding a module-level handler to its tab, and opening a tab.

Handlers are module-level functions of plain values that return `{component: update}`; the tab's dataclass, the
Dashboard or the Store are bound to them here when the builder wires its events.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr

# The tabs' ids (gr.Tab(id=...)), which open_tab selects.
TRAIN = "train"
RUNS = "runs"
METRICS = "metrics"
TRACES = "traces"
COMPARE = "compare"
PLAYGROUND = "playground"
EVALUATE = "evaluate"
EXPERIMENTS = "experiments"


def bind(handler: Callable[..., Any], *fixed: Any, **named: Any) -> Callable[..., Any]:
    """`handler` with its first arguments (`fixed`) and the keyword arguments `named` fixed, as functools.partial
    would, but readable by Gradio.

    A bare partial would lose what Gradio reads from the function: its name (an event's API endpoint is named after
    it) and its type hints (a parameter typed gr.Request or gr.SelectData is filled only when Gradio can read the
    hint; without it every write check would see an anonymous caller). The closure keeps both, and its signature
    shows only the parameters left for the event's inputs, so Gradio counts just those.
    """

    @functools.wraps(handler)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return handler(*fixed, *args, **kwargs, **named)

    signature = inspect.signature(handler)
    left = list(signature.parameters.values())[len(fixed) :]
    # functools.wraps set __signature__'s fallback (__wrapped__); an explicit one without the bound names wins.
    bound.__signature__ = signature.replace(  # type: ignore[attr-defined]  # a function accepts any attribute
        parameters=[p for p in left if p.name not in named]
    )
    return bound


def open_tab(tab_id: str) -> gr.Tabs:
    """The update that switches the page's gr.Tabs to the tab with this id."""
    return gr.Tabs(selected=tab_id)
