"""Reading one data file (CSV, JSON Lines or Parquet) into a frame of text cells, within size and row limits.

What training.data cleans into Examples, and what the Train tab previews. Only pandas at module level (pyarrow,
which pandas uses for Parquet, inside the one reader that needs it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

MAX_FILE_BYTES = 200 * 2**20
USUAL_SPLITS = frozenset({"train", "test", "validation", "valid", "val", "dev", "eval", "evaluation"})


class DataError(ValueError):
    """The data cannot be used; the message says what is wrong and what to do."""


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
            f"{path.name} is {size_text(size)}, over the {size_text(max_bytes)} limit; use a smaller "
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
    return as_text(frame)


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
            f"{path.name} is not a readable CSV file ({first_line(exc)}); check the quoting and "
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
            f"{path.name} is not a readable Parquet file ({first_line(exc)}); check that it was "
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


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as str, or None where missing, whatever types the file format produced."""
    # Built row by row with dtype=object: DataFrame.map would turn the Nones back into NaN.
    cells = [[_cell_text(value) for value in row] for row in frame.itertuples(index=False, name=None)]
    return pd.DataFrame(cells, columns=list(frame.columns), dtype=object)


def _cell_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    value = _plain(value)
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to plain Python, also inside lists and dicts: a Parquet or Arrow list of structs
    arrives as an array of dicts whose list fields are arrays again (chat messages with multimodal content)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def size_text(n: int) -> str:
    """'1.6 KB', '200.0 MB', '12 bytes'."""
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def named_values(values: Iterable[str | None]) -> str:
    """The split names among `values` for a message: the usual names quoted, the others only counted (the data
    may not be the asker's to read).

    >>> named_values(["train", "test", "train", "fold-3", None])
    "'test', 'train', 1 other value(s)"
    """
    present = {value for value in values if value}
    usual = sorted(present & USUAL_SPLITS)
    others = len(present) - len(usual)
    return ", ".join([*map(repr, usual), *([f"{others} other value(s)"] if others else [])])
