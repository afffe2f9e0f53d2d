"""Training data: read a table of (prompt, reference) rows from any source and clean it into Examples.

Sources: the built-in sets, a CSV/JSON Lines/Parquet file (training/data_files.py), a folder saved with
`save_to_disk`, and a Hugging Face dataset id or dataset repository folder with an optional config name
(training/hf_sources.py). A row's prompt and reference are plain text cells, or chat messages read as TRL reads
them (training/messages.py).

The UI calls `load_examples` when a run is queued, so every problem with the data (a missing file, a
wrong column name, an unknown split, no usable rows) is reported there, with what to do about it, rather
than minutes later inside a worker. Only pandas at module level: `datasets` is imported inside the
functions that need it, and torch never.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from training.config import DEMO_DATASET, INVERSE_DEMO_DATASET
from training.data_files import (
    MAX_FILE_BYTES,
    TABLE_SUFFIXES,
    USUAL_SPLITS,
    DataError,
    named_values,
    read_table,
)
from training.hf_sources import is_saved_dataset, load_hub, load_saved
from training.messages import ASSISTANT, USER, cell_turn, conversation_pair, messages_column

__all__ = [  # what callers import from here; the readers live in data_files.py
    "MAX_FILE_BYTES",
    "TABLE_SUFFIXES",
    "USUAL_SPLITS",
    "DataError",
    "Example",
    "LoadedData",
    "check_config_name",
    "load_examples",
    "load_table",
    "read_table",
    "readable_here",
    "source_kind",
]

SourceKind = Literal["builtin", "file", "saved", "hub"]


@dataclass(frozen=True)
class Example:
    id: str
    """Where the example comes from: "row 12" of its source (rows counted from 1 in source order, header not
    counted, as in LoadedData.skipped), so the same row of the same file has the same id in every run and
    evaluation. What training groups a prompt's rollouts by; deliberately not a content hash: the one content hash
    of a (prompt, reference) pair is the Store's prompt key (storage/rows.py), and two identical rows stay two
    examples, each with its own group."""
    prompt: str
    reference: str
    split: str | None


@dataclass(frozen=True)
class LoadedData:
    examples: tuple[Example, ...]
    skipped: tuple[tuple[int, str], ...]
    """(row number, reason) of each row left out; rows are numbered from 1 in source order, header not counted."""
    columns: tuple[str, ...]
    source: str
    truncated: int = 0
    """Usable rows left out because of max_rows."""
    messages_column: str | None = None
    """The column of chat conversations that gave each row's prompt (last user turn) and reference (last assistant
    turn), when the named prompt and reference columns are absent (training/messages.py)."""

    def summary(self) -> str:
        """One line for people, e.g. '412 usable rows of 420 (8 skipped: 5 empty reference, 3 empty prompt)'."""
        usable = len(self.examples) + self.truncated
        text = f"{_rows(usable, 'usable row')} of {usable + len(self.skipped)}"
        if self.skipped:
            reasons = Counter(reason for _, reason in self.skipped).most_common()
            text += f" ({len(self.skipped)} skipped: {', '.join(f'{n} {reason}' for reason, n in reasons)})"
        if self.truncated:
            text += f"; using the first {len(self.examples)}"
        return text


def source_kind(source: str) -> SourceKind:
    """How `source` is read: a built-in set, a data file (by suffix, even when missing: "not found", not "hub"), a
    folder saved with save_to_disk, or anything else through `datasets.load_dataset` (a hub id, a repository
    folder)."""
    if source in (DEMO_DATASET, INVERSE_DEMO_DATASET):
        return "builtin"
    path = Path(source).expanduser()
    if path.is_file() or (not path.is_dir() and path.suffix.lower() in TABLE_SUFFIXES):
        return "file"
    return "saved" if path.is_dir() and is_saved_dataset(path) else "hub"


def readable_here(source: str) -> bool:
    """True for a source the dashboard reads itself, within its limits (a built-in set, a data file, a saved
    folder); False for what only the worker loads (a hub id, which may need a network the dashboard lacks, or a
    repository folder, read by `datasets` without a size limit)."""
    return source_kind(source) != "hub"


def check_config_name(source: str, config_name: str | None) -> None:
    """DataError when a config name comes with a source that has no configs (a built-in set, a data file, a saved
    folder): refused, not ignored, since whoever typed it expects that config's rows and would train on others."""
    kind = source_kind(source)
    if config_name and kind != "hub":
        what = {"builtin": "a built-in set", "file": "a data file", "saved": "a folder saved with save_to_disk"}[kind]
        raise DataError(
            f"dataset_config {config_name!r} names a config of a Hugging Face dataset, but {source} is {what}, "
            f"which has none; clear dataset_config"
            + (" and choose the split with dataset_split" if kind == "saved" else "")
        )


def load_examples(
    source: str,
    prompt_column: str = "prompt",
    reference_column: str = "reference",
    split_column: str = "split",
    split: str | None = "train",
    max_rows: int | None = None,
    *,
    config_name: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    row_limit: int | None = None,
) -> LoadedData:
    """Load `source` (a built-in set such as 'builtin:demo', a data file, a saved dataset folder, or a Hugging Face
    dataset id or repository folder, in config `config_name`) as Examples.

    `max_rows` keeps the first usable rows; `max_bytes` and `row_limit` refuse a file or saved folder too big to
    read at all.
    """
    if max_rows is not None and max_rows < 1:
        raise DataError(f"max_rows must be at least 1, got {max_rows}; leave it empty to use every row")
    table, loaded_split = load_table(source, split, config_name, max_bytes, row_limit)
    columns = tuple(table.columns)
    conversations = messages_column(columns, prompt_column, reference_column)
    missing = [name for name in (prompt_column, reference_column) if name not in columns]
    if missing and conversations is None:
        raise DataError(
            f"{source}: no column {' or '.join(map(repr, missing))}; the columns are "
            f"{', '.join(map(repr, columns)) or '(none)'}; set prompt_column and reference_column "
            f"to the ones holding the question and the reference answer (or give a 'messages' column of chat turns)"
        )

    has_splits = split_column in columns
    row_splits = [_strip(value) or None for value in table[split_column]] if has_splits else [loaded_split] * len(table)
    if has_splits and split is not None and split not in row_splits:
        raise DataError(_no_split_message(source, split, split_column, row_splits))

    pairs = (
        map(conversation_pair, table[conversations])
        if conversations
        else map(_turns, table[prompt_column], table[reference_column])
    )
    examples: list[Example] = []
    skipped: list[tuple[int, str]] = []
    for number, ((prompt, reference, problem), row_split) in enumerate(zip(pairs, row_splits), start=1):
        if has_splits and split is not None and row_split != split:
            continue
        if problem:
            skipped.append((number, problem))
            continue
        prompt, reference = _strip(prompt), _strip(reference)
        empty = [name for name, text in (("prompt", prompt), ("reference", reference)) if not text]
        if empty:
            skipped.append((number, "empty " + " and ".join(empty)))
            continue
        examples.append(Example(f"row {number}", prompt, reference, row_split))

    if not examples:
        which = f" of split {split!r}" if has_splits and split is not None else ""
        if not skipped:
            raise DataError(f"{source} has no rows{which}; add rows or choose another split")
        raise DataError(
            f"{source} has no usable rows: all {_rows(len(skipped), 'row')}{which} have an empty "
            f"prompt or reference (first: row {skipped[0][0]}, {skipped[0][1]}); check that "
            f"prompt_column and reference_column name the right columns"
        )
    truncated = 0
    if max_rows is not None and len(examples) > max_rows:
        truncated = len(examples) - max_rows
        examples = examples[:max_rows]
    return LoadedData(tuple(examples), tuple(skipped), columns, source, truncated, conversations)


def _turns(prompt: str | None, reference: str | None) -> tuple[str, str, str | None]:
    """A row's prompt and reference text: each cell as it is, or the last user / assistant turn of its messages."""
    prompt_text, prompt_problem = cell_turn(prompt, USER)
    reference_text, reference_problem = cell_turn(reference, ASSISTANT)
    return prompt_text, reference_text, prompt_problem or reference_problem


def _no_split_message(source: str, split: str, split_column: str, row_splits: list[str | None]) -> str:
    # The column's values are not quoted (the file may not be the asker's to read); only the usual split names
    # found in it are, which say nothing else about the file.
    return (
        f"{source}: no rows of split {split!r}; the {split_column!r} column holds "
        f"{named_values(row_splits) or 'only empty values'}; set the split to a value of that column, or "
        f"split_column to the column that names each row's split"
    )


def load_table(
    source: str,
    split: str | None,
    config_name: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    row_limit: int | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """The raw table of text cells and, for a dataset loaded by split name, that name (rows carry it when no
    column does)."""
    check_config_name(source, config_name)
    kind = source_kind(source)
    if kind == "builtin":
        if source == DEMO_DATASET:
            from training.demo_data import demo_rows

            return pd.DataFrame(demo_rows()), None
        from training.inverse_demo_data import inverse_demo_rows

        return pd.DataFrame(inverse_demo_rows()), None
    if kind == "file":
        return read_table(source, max_bytes, row_limit), None
    if kind == "saved":
        return load_saved(source, split, max_bytes, row_limit)
    return load_hub(source, config_name, split or "train"), split or "train"


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


def _rows(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
