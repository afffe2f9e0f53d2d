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


def bind(handler: Callable[..., Any], **bound: Any) -> Callable[..., Any]:
    """`handler` with the keyword arguments `bound` fixed, as functools.partial would, but readable by Gradio.

    Gradio finds the parameters it must fill itself (gr.Request, gr.SelectData) by their type hints, and a
    functools.partial object has none, so a partial handler would get no request and every write check would
    see an anonymous caller. The bound names leave the signature, so Gradio counts only the inputs it passes.
    """

    @functools.wraps(handler)
    def bound_handler(*args: Any, **kwargs: Any) -> Any:
        return handler(*args, **kwargs, **bound)

    signature = inspect.signature(handler)
    # functools.wraps set __signature__'s fallback (__wrapped__); an explicit one without the bound names wins.
    bound_handler.__signature__ = signature.replace(  # type: ignore[attr-defined]  # a function accepts any attribute
        parameters=[p for p in signature.parameters.values() if p.name not in bound]
    )
    return bound_handler


def open_tab(tab_id: str) -> gr.Tabs:
    """The update that switches the page's gr.Tabs to the tab with this id."""
    return gr.Tabs(selected=tab_id)
