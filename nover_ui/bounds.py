"""Upper bounds on what a person may ask of the dashboard outside a RunConfig (whose fields carry their own):
evaluation and playground jobs, searches. Each refusal names the field, the value and the limit."""

from __future__ import annotations

import math

MAX_EVAL_PROMPTS = 10_000
MAX_SAMPLES = 64
MAX_SEED = 2**32 - 1
"""numpy's and torch's seeds are 32-bit."""
MAX_PROMPT_CHARS = 20_000
MAX_SEARCH_CHARS = 200
MAX_SOURCE_CHARS = 1024


def whole_number(name: str, value: float | None, low: int, high: int) -> int:
    """`value` (a number widget's float, or None when cleared) as an int in [low, high]; ValueError otherwise."""
    if value is None or not math.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}, got {value}")
    if not low <= value <= high:
        shown = f"{int(value):,}" if abs(value) < 1e30 else f"{value:.3g}"
        raise ValueError(f"{name} must be from {low:,} to {high:,}, got {shown}")
    return int(value)


def bounded_text(name: str, text: str, most: int) -> str:
    if len(text) > most:
        raise ValueError(f"{name} has at most {most:,} characters, got {len(text):,}; shorten it")
    return text
