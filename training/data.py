"""Training data: read a table of (prompt, reference) rows and clean it into Examples.

The UI calls `load_examples` when a run is queued, so every problem with the data (a missing file, a
wrong column name, an unknown split, no usable rows) is reported there, with what to do about it, rather
than minutes later inside a worker. Only pandas at module level: `datasets` is imported inside the one
branch that needs it, and torch never.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from training.config import DEMO_DATASET, INVERSE_DEMO_DATASET

MAX_FILE_BYTES = 200 * 2**20
USUAL_SPLITS = frozenset({"train", "test", "validation", "valid", "val", "dev", "eval", "evaluation"})


class DataError(ValueError):
    """The data cannot be used; the message says what is wrong and what to do."""


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


# ---- reading files --------------------------------------------------------------------------------------


def read_table(path: str | Path, max_bytes: int = MAX_FILE_BYTES, max_rows: int | None = None) -> pd.DataFrame:
    """Read a CSV, JSON Lines or Parquet file (by suffix) into a frame of text cells, None where missing.

    A file over `max_bytes` is refused before it is opened; one over `max_rows` rows as soon as the reader has
    seen one row too many, so a long file of short lines costs no more than the limit allows.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"data file not found: {path}; check the path (relative paths start at the folder the worker runs in)"
        )
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path.name}: unknown file type {path.suffix or '(no suffix)'!r}; use one of "
            f"{', '.join(_READERS)} (CSV, JSON Lines or Parquet)"
        )
    size = path.stat().st_size
    if size > max_bytes:
        # Checked before reading: a huge upload must not take the UI process's memory with it.
        raise DataError(
            f"{path.name} is {_size(size)}, over the {_size(max_bytes)} limit; use a smaller "
            f"file (fewer rows) or a Hugging Face dataset id"
        )
    if size == 0:
        raise DataError(
            f"{path.name} is empty; it needs a header with the prompt and reference columns and at least one row"
        )
    frame = reader(path, max_rows)
    if max_rows is not None and len(frame) > max_rows:
        raise _too_many_rows(path, max_rows)
    if len(frame.columns) == 0:  # e.g. JSON Lines of empty objects: rows, but nothing in them
        raise DataError(f"{path.name} has no columns; it needs named prompt and reference fields in every row")
    frame.columns = [str(column) for column in frame.columns]
    return _as_text(frame)


def _read_csv(path: Path, max_rows: int | None) -> pd.DataFrame:
    try:
        # Everything as text, and only truly empty cells as missing: a reference "None" or "NA" is an answer.
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], nrows=None if max_rows is None else max_rows + 1
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} has no header row; the first line must name the columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path.name} is not a readable CSV file ({_first_line(exc)}); check the quoting and "
            f"that every row has as many fields as the header, and save it as UTF-8"
        ) from None


def _read_jsonl(path: Path, max_rows: int | None) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path.name} is not UTF-8 text; save it as UTF-8 JSON Lines") from None
    if not text.strip():
        raise DataError(f"{path.name} has only blank lines; write one JSON object per line")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        # A plain JSON array of objects is what many tools export under .json; accept it too.
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}); check the file, or "
                f"save it as JSON Lines (.jsonl)"
            ) from None
        except RecursionError:
            raise DataError(_TOO_DEEP.format(where=path.name)) from None
        kept = records if max_rows is None else records[: max_rows + 1]
        return _records_frame(path, list(enumerate(kept, start=1)), "item")
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if max_rows is not None and len(records) > max_rows:
            break  # one over the limit is enough for read_table to refuse the file
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path.name} line {number} is not valid JSON ({exc.msg}); each line of a JSON "
                f"Lines file must hold one complete JSON object"
            ) from None
        except RecursionError:
            raise DataError(_TOO_DEEP.format(where=f"{path.name} line {number}")) from None
    return _records_frame(path, records, "line")


def _records_frame(path: Path, records: list[tuple[int, Any]], unit: str) -> pd.DataFrame:
    for number, record in records:
        if not isinstance(record, dict):
            raise DataError(
                f"{path.name} {unit} {number} is a JSON {type(record).__name__}, not an object; "
                f'write each row as {{"prompt": ..., "reference": ...}}'
            )
        try:
            # JSON may escape half a surrogate pair ("\ud800"), which no UTF-8 text (the database, the hash of
            # an example) can hold; later cells are written back as JSON text, which must not recurse too deep.
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(
                f"{path.name} {unit} {number} holds an escaped lone surrogate (\\ud800-\\udfff), "
                f"which is not a character; remove it or write the character itself"
            ) from None
        except RecursionError:
            raise DataError(_TOO_DEEP.format(where=f"{path.name} {unit} {number}")) from None
    return pd.DataFrame.from_records([record for _, record in records])


def _read_parquet(path: Path, max_rows: int | None) -> pd.DataFrame:
    import pyarrow.parquet as pq  # pandas' own Parquet engine

    try:
        # The row count is in the file's footer: a file over the limit is refused without reading its rows.
        too_many = max_rows is not None and pq.ParquetFile(path).metadata.num_rows > max_rows
        frame = None if too_many else pd.read_parquet(path)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError, its IO errors are OSErrors
        raise DataError(
            f"{path.name} is not a readable Parquet file ({_first_line(exc)}); check that it was "
            f"written as Parquet, or rename it to its real type"
        ) from None
    if frame is None and max_rows is not None:  # frame is None only when the footer was over max_rows
        raise _too_many_rows(path, max_rows)
    return frame


def _too_many_rows(path: Path, max_rows: int) -> DataError:
    return DataError(
        f"{path.name} has more than {max_rows:,} rows, over the limit of {max_rows:,}; use a sample "
        f"of it, or a Hugging Face dataset id"
    )


_TOO_DEEP = "{where} nests lists or objects too deeply to read; write the prompt and reference as plain text fields"
_READERS: dict[str, Callable[[Path, int | None], pd.DataFrame]] = {
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
    ".json": _read_jsonl,
    ".parquet": _read_parquet,
}
TABLE_SUFFIXES = tuple(_READERS)
"""A source ending in one of these is a file, never a dataset id."""


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as str, or None where missing, whatever types the file format produced."""
    # Built row by row with dtype=object: DataFrame.map would turn the Nones back into NaN.
    cells = [[_cell_text(value) for value in row] for row in frame.itertuples(index=False, name=None)]
    return pd.DataFrame(cells, columns=list(frame.columns), dtype=object)


def _cell_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays (Parquet list columns) to plain Python
        value = value.tolist()
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


# ---- choosing and cleaning rows -------------------------------------------------------------------------


def load_examples(
    source: str,
    prompt_column: str = "prompt",
    reference_column: str = "reference",
    split_column: str = "split",
    split: str | None = "train",
    max_rows: int | None = None,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    row_limit: int | None = None,
) -> LoadedData:
    """Load `source` (a built-in set such as 'builtin:demo', a data file, a dataset folder or a Hugging Face dataset
    id) as Examples.

    `max_rows` keeps the first usable rows; `max_bytes` and `row_limit` refuse a file too big to read at all.
    """
    if max_rows is not None and max_rows < 1:
        raise DataError(f"max_rows must be at least 1, got {max_rows}; leave it empty to use every row")
    table, loaded_split = _load_table(source, split, max_bytes, row_limit)
    columns = tuple(table.columns)
    missing = [name for name in (prompt_column, reference_column) if name not in columns]
    if missing:
        raise DataError(
            f"{source}: no column {' or '.join(map(repr, missing))}; the columns are "
            f"{', '.join(map(repr, columns)) or '(none)'}; set prompt_column and reference_column "
            f"to the ones holding the question and the reference answer"
        )

    has_splits = split_column in columns
    row_splits = [_strip(value) or None for value in table[split_column]] if has_splits else [loaded_split] * len(table)
    if has_splits and split is not None and split not in row_splits:
        raise DataError(_no_split_message(source, split, split_column, row_splits))

    examples: list[Example] = []
    skipped: list[tuple[int, str]] = []
    rows = zip(table[prompt_column], table[reference_column], row_splits)
    for number, (prompt, reference, row_split) in enumerate(rows, start=1):
        if has_splits and split is not None and row_split != split:
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
    return LoadedData(tuple(examples), tuple(skipped), columns, source, truncated)


def _no_split_message(source: str, split: str, split_column: str, row_splits: list[str | None]) -> str:
    # The column's values are not quoted (the file may not be the asker's to read); only the usual split names
    # found in it are, which say nothing else about the file.
    present = {value for value in row_splits if value}
    usual = sorted(present & USUAL_SPLITS)
    others = len(present) - len(usual)
    found = ", ".join([*map(repr, usual), *([f"{others} other value(s)"] if others else [])])
    return (
        f"{source}: no rows of split {split!r}; the {split_column!r} column holds "
        f"{found or 'only empty values'}; set the split to a value of that column, or split_column to the "
        f"column that names each row's split"
    )


def _load_table(
    source: str, split: str | None, max_bytes: int, row_limit: int | None
) -> tuple[pd.DataFrame, str | None]:
    """The raw table and, for a dataset loaded by split name, that name (rows carry it when no column does)."""
    if source == DEMO_DATASET:
        from training.demo_data import demo_rows

        return pd.DataFrame(demo_rows()), None
    if source == INVERSE_DEMO_DATASET:
        from training.inverse_demo_data import inverse_demo_rows

        return pd.DataFrame(inverse_demo_rows()), None
    path = Path(source).expanduser()
    # A name with a table suffix is meant as a file even when it does not exist: say "not found", not "hub".
    if path.is_file() or (not path.is_dir() and path.suffix.lower() in _READERS):
        return read_table(path, max_bytes, row_limit), None
    return _load_dataset(source, split or "train"), split or "train"


def _load_dataset(source: str, split: str) -> pd.DataFrame:
    import datasets  # slow to import and only needed here; keeps file and demo loading light

    try:
        dataset = datasets.load_dataset(source, split=split)
    # The hub raises many types (no network, unknown id, unknown split, bad files); all need the same advice.
    except Exception as exc:
        raise DataError(
            f"could not load dataset {source!r}: {_first_line(exc)}; check the id, or use a local "
            f"CSV/JSONL/Parquet file"
        ) from exc
    frame = dataset.to_pandas()
    frame.columns = [str(column) for column in frame.columns]
    return _as_text(frame)


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _rows(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
