"""Bounded heavy work: at most a few handlers parse files or read whole runs at once, on every route.

Gradio's queue limits concurrency only for requests that go through it; events with `queue=False` and direct
HTTP calls run at once. A semaphore inside the handler holds whichever way the call came in. A call that finds
every slot taken waits briefly, then is refused with a message (never queued without bound, so threads and
memory stay bounded).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from nover_ui.safe_text import refusal

Handler = TypeVar("Handler", bound=Callable[..., Any])

BUSY_WAIT_S = 5.0


class Busy(Exception):
    """Every slot stayed taken; the message says so and to try again."""


class WorkLimit:
    def __init__(self, what: str, slots: int, wait_s: float = BUSY_WAIT_S):
        self.what, self.slots, self._wait_s = what, slots, wait_s
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextlib.contextmanager
    def slot(self, wait_s: float | None = None) -> Iterator[None]:
        """Hold one slot for the block; Busy when none frees up within `wait_s` (default: the limit's)."""
        if not self._semaphore.acquire(timeout=self._wait_s if wait_s is None else wait_s):
            raise Busy(f"The server is busy {self.what} for {self.slots} other request(s); try again in a few seconds.")
        try:
            yield
        finally:
            self._semaphore.release()

    def __call__(self, handler: Handler) -> Handler:
        """Decorate a Gradio handler (Busy becomes the error a person or a script sees); functools.wraps keeps its
        signature, which Gradio reads for its inputs."""

        @functools.wraps(handler)
        def limited(*args: Any, **kwargs: Any) -> Any:
            try:
                with self.slot():
                    return handler(*args, **kwargs)
            except Busy as exc:
                raise refusal(str(exc)) from None

        return cast(Handler, limited)  # functools.wraps gave it the handler's name and signature


FILE_WORK = WorkLimit("reading data files", slots=2)
"""Upload checks, column mapping, cost estimates from the data, queueing: each parses a file of up to the
upload limits (hundreds of MB of memory for a big CSV)."""
BULK_READS = WorkLimit("reading or exporting whole runs", slots=2)
"""Exports, downloads, searches and metric series: each may read a whole run's rows."""
RUN_EDITS = WorkLimit("saving run names, tags and notes", slots=2)
"""Renames, tags and notes of runs: short writes, bounded so a script cannot queue writes without end."""
HUB_PUSHES = WorkLimit("pushing a model to the Hub", slots=1)
"""Uploads of merged models (hundreds of MB each, for minutes): one at a time, so they cannot take the uplink."""
