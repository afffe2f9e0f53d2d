"""Uploaded data files: check, keep a stable copy for the worker, and describe them for the Train form."""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nover_ui.safe_text import markdown_text
from training.data import USUAL_SPLITS, DataError, LoadedData, load_examples, load_table, read_table, readable_here
from training.messages import ASSISTANT, USER, cell_turn, conversation_pair, messages_column

UPLOAD_LIMIT_BYTES = 50 * 2**20
UPLOAD_ROW_LIMIT = 200_000
UPLOADS_PER_SESSION = 20
UPLOADS_TOTAL_BYTES = 4 * 2**30
UPLOAD_SUFFIXES = (".csv", ".jsonl", ".parquet")
PREVIEW_ROWS = 5
PREVIEW_CHARS = 160
MAX_NAME_CHARS = 255
"""RunConfig.dataset_name's bound."""
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
    name: str
    """The file's own name as sent (RunConfig.dataset_name): shown, never used as a path."""
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
        name=temp_path.name[:MAX_NAME_CHARS],
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


def data_summary(
    path: str,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    limits: UploadLimits = UploadLimits(),
    config_name: str = "",
) -> str:
    """What a data file or saved dataset folder holds and what a run would train on with this column mapping
    (Markdown), or the DataError's advice: the mapped columns, the rows of each split, and the usable rows of the
    training split."""
    try:
        loaded = load_examples(
            path,
            prompt_column,
            reference_column,
            split_column,
            split or None,
            config_name=config_name or None,
            max_bytes=limits.max_bytes,
            row_limit=limits.max_rows,
        )
        splits = (
            load_table(path, split or None, None, limits.max_bytes, limits.max_rows)[0][split_column]
            if split_column in loaded.columns
            else None
        )
    except DataError as exc:
        return f"**Cannot use this mapping:** {markdown_text(str(exc))}"
    if loaded.messages_column:
        conversations = markdown_text(loaded.messages_column)
        mapped = [
            ("prompt", f"{conversations} (last user turn)"),
            ("reference", f"{conversations} (last assistant turn)"),
        ]
        used = {loaded.messages_column}
    else:
        mapped = [("prompt", markdown_text(prompt_column)), ("reference", markdown_text(reference_column))]
        used = {prompt_column, reference_column}
    if splits is not None:
        mapped.append(("split", markdown_text(split_column)))
        used.add(split_column)
    others = [column for column in loaded.columns if column not in used]
    lines = [
        "Mapped: "
        + " · ".join(f"{role} ← {column}" for role, column in mapped)
        + (f"; not used: {', '.join(markdown_text(column) for column in others)}" if others else "")
        + ("" if splits is not None else "; no split column, so every row trains"),
        f"{_split_counts(splits, len(loaded.examples) + loaded.truncated + len(loaded.skipped))}; "
        f"{_usable_text(loaded, split if splits is not None else None)}.",
    ]
    prompts = [example.prompt for example in loaded.examples]
    lines.append(f"Mean prompt {sum(map(len, prompts)) / len(prompts):,.0f} characters.")
    return "  \n".join(lines)


def mapped_preview(preview: pd.DataFrame, prompt_column: str, reference_column: str, split_column: str) -> pd.DataFrame:
    """The first rows with the mapped columns first, headed by their role ('prompt: question'), then the others;
    chat messages shown as the turn a run takes from them (training/messages.py), each cell cut to PREVIEW_CHARS.
    A `messages` column that gives both prompt and reference is shown as its two turns, before the columns."""
    preview = preview.fillna("")
    conversations = messages_column(tuple(preview.columns), prompt_column, reference_column)
    if conversations:
        pairs = [conversation_pair(cell) for cell in preview[conversations]]
        turns = {
            f"prompt: {conversations} (last user turn)": [prompt for prompt, _, _ in pairs],
            f"reference: {conversations} (last assistant turn)": [reference for _, reference, _ in pairs],
        }
        ordered = pd.concat([pd.DataFrame(turns, index=preview.index), preview], axis=1)
    else:
        roles = {prompt_column: "prompt", reference_column: "reference", split_column: "split"}
        mapped = [column for column in roles if column in preview.columns]
        ordered = preview[mapped + [column for column in preview.columns if column not in mapped]].copy()
        for column, role in ((prompt_column, USER), (reference_column, ASSISTANT)):
            if column in mapped:
                ordered[column] = [cell_turn(cell, role)[0] for cell in ordered[column]]
        ordered = ordered.rename(columns={column: f"{roles[column]}: {column}" for column in mapped})
    return ordered.map(lambda text: text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…")


def _split_counts(splits: pd.Series | None, total: int) -> str:
    """'4,000 rows: train 2,000 · validation 1,000 · test 1,000'. Split values other than the usual names are
    counted, not named: the file may not be the asker's to read."""
    if splits is None:
        return f"{total:,} rows"
    counts = splits.fillna("").map(lambda value: str(value).strip()).value_counts()
    named = [f"{value} {n:,}" for value, n in counts.items() if value in USUAL_SPLITS]
    unnamed = [n for value, n in counts.items() if value and value not in USUAL_SPLITS]
    if unnamed:
        named.append(f"{len(unnamed)} other split(s) {sum(unnamed):,}")
    if counts.get("", 0):
        named.append(f"no split {counts['']:,}")
    return f"{len(splits):,} rows: {' · '.join(named)}"


def _usable_text(loaded: LoadedData, split: str | None) -> str:
    """'2,000 usable for training (split 'train')', with the rows skipped and why."""
    usable = len(loaded.examples) + loaded.truncated
    text = f"{usable:,} usable for training" + (f" (split {markdown_text(repr(split))})" if split else "")
    if loaded.skipped:
        reasons = Counter(reason for _, reason in loaded.skipped).most_common()
        text += f", {len(loaded.skipped):,} skipped ({', '.join(f'{n:,} {reason}' for reason, n in reasons)})"
    if loaded.truncated:
        text += f"; using the first {len(loaded.examples):,}"
    return text


@functools.lru_cache(maxsize=16)
def mean_prompt_chars(
    dataset: str,
    prompt_column: str,
    reference_column: str,
    split_column: str,
    split: str,
    limits: UploadLimits = UploadLimits(),
) -> float | None:
    """Mean prompt length of a built-in set, a data file or a saved dataset folder (for the cost estimate); None
    for a hub id, a repository folder or unusable data. The caller checks that the file is one the asker may
    read."""
    if not readable_here(dataset):
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


def file_preview(
    path: str | Path, limits: UploadLimits = UploadLimits(), split: str | None = "train"
) -> tuple[tuple[str, ...], pd.DataFrame]:
    """The columns and first rows of a kept data file or a saved dataset folder (of a DatasetDict, split `split`);
    DataError when it cannot be read within the limits. The caller checks that the asker may read it."""
    table, _ = load_table(str(path), split, None, limits.max_bytes, limits.max_rows)
    return tuple(table.columns), _preview(table)


def _guess(columns: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in names if name in lowered), None)


def _preview(table: pd.DataFrame) -> pd.DataFrame:
    """The first rows whole: mapped_preview reads chat messages out of them before cutting each cell short."""
    return table.head(PREVIEW_ROWS).fillna("")
