"""Uploaded data files: check, keep a stable copy for the worker, and describe them for the Train form."""

from __future__ import annotations

import functools
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from training.data import DataError, is_hub_dataset, load_examples, read_table

UPLOAD_LIMIT_BYTES = 50 * 2**20
UPLOAD_ROW_LIMIT = 200_000
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
        raise DataError(f"{temp_path.name}: unknown file type {suffix or '(no suffix)'!r}; upload a "
                        f"{', '.join(UPLOAD_SUFFIXES)} file (CSV, JSON Lines or Parquet)")
    table = read_table(temp_path, max_bytes=limits.max_bytes)
    if table.empty:
        raise DataError(f"{temp_path.name} has a header but no rows; add at least one row with a prompt and a "
                        f"reference")
    if len(table) > limits.max_rows:
        raise DataError(f"{temp_path.name} has {len(table):,} rows, over this dashboard's limit of "
                        f"{limits.max_rows:,}; upload a sample, or train from the command line (python -m "
                        f"training.run) or with a dataset id")
    digest = hashlib.sha256(temp_path.read_bytes()).hexdigest()[:16]
    uploads_dir.mkdir(parents=True, exist_ok=True)
    kept = uploads_dir / f"{digest}{suffix}"
    if not kept.exists():
        shutil.copyfile(temp_path, kept.with_suffix(".partial"))
        kept.with_suffix(".partial").replace(kept)  # never a half-copied file under the final name
    columns = tuple(table.columns)
    return Upload(path=kept, columns=columns, preview=_preview(table),
                  prompt_column=_guess(columns, PROMPT_NAMES), reference_column=_guess(columns, REFERENCE_NAMES))


def usable_rows(path: str, prompt_column: str, reference_column: str, split_column: str, split: str) -> str:
    """One line on what the run would train on with this column mapping, or the DataError's advice."""
    try:
        loaded = load_examples(path, prompt_column, reference_column, split_column, split or None)
    except DataError as exc:
        return f"**Cannot use this mapping:** {exc}"
    prompts = [example.prompt for example in loaded.examples]
    mean_chars = sum(map(len, prompts)) / len(prompts)
    return f"After cleaning: {loaded.summary()}; mean prompt {mean_chars:.0f} characters."


@functools.lru_cache(maxsize=16)
def mean_prompt_chars(dataset: str, prompt_column: str, reference_column: str, split_column: str,
                      split: str) -> float | None:
    """Mean prompt length of local data (for the cost estimate); None for a hub id or unusable data."""
    if is_hub_dataset(dataset):
        return None
    try:
        examples = load_examples(dataset, prompt_column, reference_column, split_column, split or None).examples
    except DataError:
        return None
    return sum(len(example.prompt) for example in examples) / len(examples)


def _guess(columns: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in names if name in lowered), None)


def _preview(table: pd.DataFrame) -> pd.DataFrame:
    head = table.head(PREVIEW_ROWS).fillna("")
    return head.map(lambda text: text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…")
