"""Numbers as the views show them: fixed decimals, a sign where a change is meant, and one mark for "no value".

Pure helpers shared by the Traces, Compare, token-gain and Evaluate views, so a missing perplexity or a change
of reward reads the same on every tab.
"""

from __future__ import annotations

import math
import numbers
from typing import TypeGuard

MISSING = "–"
"""What a missing, NaN or infinite value shows as."""


def is_number(value: object) -> TypeGuard[float]:
    """A finite real number. numbers.Real, not float: a numpy float32 is a fair input and is not a float subclass;
    a bool is not a number here."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def number_text(value: float | None, digits: int = 3, signed: bool = False) -> str:
    """`value` with `digits` decimals, with a + before positive ones when `signed`; MISSING when it has none.

    >>> number_text(1.8349, 2), number_text(0.5321, signed=True), number_text(None), number_text(float("nan"))
    ('1.83', '+0.532', '–', '–')
    """
    if is_number(value):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return MISSING


def delta_text(old: float | None, new: float | None, digits: int = 3) -> str:
    """The change from `old` to `new`, signed; MISSING when either has no value.

    >>> delta_text(2.5, 1.25), delta_text(3, 5, 0), delta_text(None, 1.0)
    ('-1.250', '+2', '–')
    """
    if is_number(old) and is_number(new):
        return number_text(new - old, digits, signed=True)
    return MISSING
