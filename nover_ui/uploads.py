"""Uploaded data files: check, keep a stable copy for the worker, and describe them for the Train form."""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nover_ui.safe_text import markdown_text
from training.config import DEMO_DATASET
from training.data import DataError, load_examples, read_table

UPLOAD_LIMIT_BYTES = 50 * 2**20
UPLOAD_ROW_LIMIT = 200_000
UPLOADS_PER_SESSION = 20
UPLOADS_TOTAL_BYTES = 4 * 2**30
UPLOAD_SUFFIXES = (".csv", ".jsonl", ".parquet")
PREVIEW_ROWS = 5
PREVIEW_CHARS = 160
PROMPT_NAMES = ("prompt", "question", "instruction", "input", "query", "problem")
REFERENCE_NAMES = ("reference", "answer", "response", "output", "target", "solution", "completion")


@dataclass(frozen=True)
class UploadLimits:
    """Set by `python app.py --max-upload-mb / --max-upload-rows` (NOVER_UI_MAX_UPLOAD_MB / _ROWS)."""

    max_bytes: int = UPLOAD_LIMIT_BYTES
    max_rows: int = UPLOAD_ROW_LIMIT
    """Also the most any data file may hold to be parsed by the dashboard (column mapping, cost, queueing)."""
    per_session: int = UPLOADS_PER_SESSION
    """Uploads one login (or one page, without logins) may keep."""
    total_bytes: int = UPLOADS_TOTAL_BYTES
    """What HOME/uploads may hold in all; uploads are kept while runs may read them, so a full folder refuses."""


@dataclass(frozen=True)
class Upload:
    path: Path
    """The kept copy, named by content hash: the worker reads it later, after Gradio has removed its temp file."""
    columns: tuple[str, ...]
    preview: pd.DataFrame
    prompt_column: str | None
    reference_column: str | None


def accept_upload(temp_path: str | Path, uploads_dir: Path, limits: UploadLimits = UploadLimits()) -> Upload:
    """Read an uploaded CSV/JSONL/Parquet file (DataError if unreadable, empty or too big) and keep a copy.

    The sender's file name never becomes a path: the copy is named by its content hash plus one of the
    known suffixes.
    """
    temp_path = Path(temp_path)
    suffix = temp_path.suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(
            f"{temp_path.name}: unknown file type {suffix or '(no suffix)'!r}; upload a "
            f"{', '.join(UPLOAD_SUFFIXES)} file (CSV, JSON Lines or Parquet)"
        )
    table = read_table(temp_path, max_bytes=limits.max_bytes, max_rows=limits.max_rows)
    if table.empty:
        raise DataError(
            f"{temp_path.name} has a header but no rows; add at least one row with a prompt and a reference"
        )
    digest = hashlib.sha256(temp_path.read_bytes()).hexdigest()[:16]
    uploads_dir.mkdir(parents=True, exist_ok=True)
    kept = uploads_dir / f"{digest}{suffix}"
    if not kept.exists():
        held = sum(path.stat().st_size for path in uploads_dir.iterdir() if path.is_file())
        if held + temp_path.stat().st_size > limits.total_bytes:
            raise DataError(
                f"the dashboard's upload folder is full ({held / 2**20:,.0f} MB of "
                f"{limits.total_bytes / 2**20:,.0f} MB); ask its operator to delete old uploads"
            )
        shutil.copyfile(temp_path, kept.with_suffix(".partial"))
        kept.with_suffix(".partial").replace(kept)  # never a half-copied file under the final name
    columns = tuple(table.columns)
    return Upload(
        path=kept,
        columns=columns,
        preview=_preview(table),
        prompt_column=_guess(columns, PROMPT_NAMES),
        reference_column=_guess(columns, REFERENCE_NAMES),
    )


class SessionQuota:
    """Counts the uploads each session keeps, refusing past `limits.per_session` (sessions tracked at most
    10,000, the oldest forgotten first)."""

    def __init__(self, limits: UploadLimits):
        self._limits = limits
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, session: str) -> None:
        """DataError when `session` has kept as many uploads as it may."""
        with self._lock:
            used = self._counts.get(session, 0)
        if used >= self._limits.per_session:
            raise DataError(
                f"this session has uploaded {used} files, the most one session may; queue a run "
                f"with one of them, or ask the dashboard's operator"
            )

    def record(self, session: str) -> None:
        with self._lock:
            self._counts[session] = self._counts.get(session, 0) + 1
            self._counts.move_to_end(session)
            while len(self._counts) > 10_000:
                self._counts.popitem(last=False)


def discard(temp_path: str | Path) -> None:
    """Remove a refused upload from Gradio's cache at once (kept ones go with Gradio's periodic clean-up)."""
    Path(temp_path).unlink(missing_ok=True)


def usable_rows(
    path: str,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    limits: UploadLimits = UploadLimits(),
) -> str:
    """One line on what the run would train on with this column mapping, or the DataError's advice."""
    try:
        loaded = load_examples(
            path,
            prompt_column,
            reference_column,
            split_column,
            split or None,
            max_bytes=limits.max_bytes,
            row_limit=limits.max_rows,
        )
    except DataError as exc:
        return f"**Cannot use this mapping:** {markdown_text(str(exc))}"
    prompts = [example.prompt for example in loaded.examples]
    mean_chars = sum(map(len, prompts)) / len(prompts)
    return f"After cleaning: {loaded.summary()}; mean prompt {mean_chars:.0f} characters."


@functools.lru_cache(maxsize=16)
def mean_prompt_chars(
    dataset: str,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    limits: UploadLimits = UploadLimits(),
) -> float | None:
    """Mean prompt length of the demo set or a data file (for the cost estimate); None for a hub id, a dataset
    folder or unusable data. The caller checks that the file is one the asker may read."""
    if dataset != DEMO_DATASET and not Path(dataset).expanduser().is_file():
        return None
    try:
        examples = load_examples(
            dataset,
            prompt_column,
            reference_column,
            split_column,
            split or None,
            max_bytes=limits.max_bytes,
            row_limit=limits.max_rows,
        ).examples
    except DataError:
        return None
    return sum(len(example.prompt) for example in examples) / len(examples)


def _guess(columns: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in names if name in lowered), None)


def _preview(table: pd.DataFrame) -> pd.DataFrame:
    head = table.head(PREVIEW_ROWS).fillna("")
    return head.map(lambda text: text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…")
