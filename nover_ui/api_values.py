"""What every API endpoint shares: records as JSON values, refusals as the client's AppError, and shared reads.

A refusal raises gr.Error, which gradio_client raises as an AppError carrying the message a person sees in the UI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from gradio import FileData

from nover_ui.run_actions import ActionRefused
from nover_ui.safe_text import api_error
from nover_ui.shared_reads import READS
from nover_ui.work_limits import BULK_READS, Busy
from storage import StorageError
from training.config import ConfigError
from training.data import DataError

T = TypeVar("T")
READERS_AT_ONCE = 32
"""Polls of the read endpoints served at once. A poll of unchanged data is a lookup in the shared reads, so
readers need not wait in line for each other (Gradio's default is one at a time per endpoint); a changed run is
read once for all of them, holding a BULK_READS slot."""
REFUSALS = (ActionRefused, ConfigError, DataError, StorageError, ValueError, FileNotFoundError)
"""What the UI's handlers show as a refusal; an endpoint turns each into the client's AppError."""


@contextmanager
def refused_as_api_error() -> Iterator[None]:
    """Inside the block, a refusal (REFUSALS) becomes the AppError a script gets, with the same message."""
    try:
        yield
    except REFUSALS as exc:
        raise api_error(str(exc)) from None


def reading(read: Callable[..., T], *args: Any) -> T:
    with refused_as_api_error():
        return read(*args)


def shared(key: Hashable, version: Hashable, read: Callable[[], T]) -> T:
    """`read()` once per (key, version) for every reader; the one read holds a BULK_READS slot, the readers
    who find it done or wait for it hold none."""

    def limited_read() -> T:
        try:
            with BULK_READS.slot():
                return read()
        except Busy as exc:
            raise api_error(str(exc)) from None

    return READS.get(key, version, limited_read)


def plain(record: Any) -> dict:
    """A frozen record as JSON values: times as ISO strings, NaN/inf as None (JSON has neither)."""
    return {key: _json_value(value) for key, value in dataclasses.asdict(record).items()}


def number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def download(path: Path) -> FileData:
    """A file the client downloads (gradio_client saves it and returns its local path)."""
    return FileData(path=str(path), orig_name=path.name)


def uploaded_path(file: Any, what: str) -> Path:
    """The path of a file the client uploaded (gradio_client.handle_file). Gradio keeps uploads in its upload
    folder; a path elsewhere is a name on this server, which the API never opens for a client."""
    folder = Path(gr.utils.get_upload_folder()).resolve()
    path = Path(file.get("path", "") if isinstance(file, dict) else getattr(file, "path", "") or "")
    try:
        inside = path.resolve().is_relative_to(folder) and path.resolve() != folder
    except (OSError, RuntimeError, ValueError):
        inside = False
    if not inside:
        raise api_error(
            f"{what}: send the file itself with gradio_client.handle_file(path); a path on the server is not read"
        )
    return path


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
