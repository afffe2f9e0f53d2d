"""Binding module-level event handlers to one dashboard's objects, in a form Gradio reads like a plain function."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def bind(handler: Callable[..., Any], *fixed: Any) -> Callable[..., Any]:
    """`handler` with its first arguments fixed (the Store, the tab's components), like functools.partial.

    A bare partial would lose what Gradio reads from the function: its name (an event's API endpoint is named
    after it) and its type hints (a parameter typed `gr.Request` is filled with the request only when Gradio
    can read the hint). The closure keeps both and shows only the parameters left for the event's inputs.
    """

    @functools.wraps(handler)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return handler(*fixed, *args, **kwargs)

    bound.__signature__ = inspect.signature(functools.partial(handler, *fixed))  # type: ignore[attr-defined]  # a function's signature override, read by inspect
    return bound
