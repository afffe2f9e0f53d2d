"""Data read through Hugging Face `datasets`: a hub dataset (or a dataset repository folder) by id, config name and
split, and a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`.

`datasets` is imported inside the functions that need it (slow to import; it never loads torch): importing this
module stays as light as training.data. A saved folder is checked before `datasets` opens anything: every file its
metadata names must lie inside the folder once symlinks and `..` are resolved (the caller checked only the folder
itself against the places the dashboard may open), and the arrow files of the split read must fit the file limit.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from training.data_files import DataError, as_text, first_line, named_values, size_text

DATASET_INFO, DATASET_STATE, DATASET_DICT = "dataset_info.json", "state.json", "dataset_dict.json"
"""The metadata files `save_to_disk` writes (the names `datasets.load_from_disk` looks for)."""
_LISTED_CONFIGS = re.compile(r"[Aa]vailable(?: configs)?: (\[[^\]]*\])")
"""Where `datasets` lists a repository's config names in its errors: "BuilderConfig 'x' not found. Available:
['main', 'socratic']" (an unknown name) and "Please pick one among the available configs: [...]" (none given)."""


def is_saved_dataset(path: str | Path) -> bool:
    """True for a folder `save_to_disk` wrote: a Dataset (dataset_info.json and state.json) or a DatasetDict
    (dataset_dict.json), as `datasets.load_from_disk` tells them apart."""
    folder = Path(path).expanduser()
    single = (folder / DATASET_INFO).is_file() and (folder / DATASET_STATE).is_file()
    return single or (folder / DATASET_DICT).is_file()


def load_saved(
    path: str | Path, split: str | None, max_bytes: int, row_limit: int | None
) -> tuple[pd.DataFrame, str | None]:
    """The rows of a saved dataset as text cells, and the split they were read as: of a DatasetDict the split named
    `split` ('train' when None), of a single Dataset all its rows (None: a split column may still choose among
    them). DataError when the split is missing, a file lies outside the folder, or the split is over the limits."""
    root = Path(path).expanduser().resolve()
    name = Path(path).name
    part, loaded_split = root, None
    if (root / DATASET_DICT).is_file():
        splits = [str(s) for s in _json(root / DATASET_DICT, name).get("splits") or []]
        loaded_split = split or "train"
        if loaded_split not in splits:
            raise DataError(
                f"{name}: no split {loaded_split!r}; the saved DatasetDict holds "
                f"{named_values(splits) or 'no splits'}; set dataset_split (or eval_split) to one of them"
            )
        part = _inside(root, root / loaded_split, name)
    files = [
        _inside(root, part / str(entry.get("filename", "")), name)
        for entry in _json(part / DATASET_STATE, name).get("_data_files") or []
        if isinstance(entry, dict)
    ]
    size = sum(file.stat().st_size for file in files if file.is_file())
    if size > max_bytes:  # before reading: a huge folder must not take the UI process's memory with it
        where = f"{name} (split {loaded_split!r})" if loaded_split else name
        raise DataError(
            f"{where} holds {size_text(size)} of arrow files, over the {size_text(max_bytes)} limit; save a smaller "
            f"sample of it (Dataset.select), or use a Hugging Face dataset id"
        )
    import datasets

    try:
        dataset = datasets.load_from_disk(str(part))
    except Exception as exc:  # missing or corrupt arrow files: several types, one piece of advice
        raise DataError(
            f"{name} is not a readable saved dataset ({first_line(exc)}); save it again with save_to_disk"
        ) from None
    if not isinstance(dataset, datasets.Dataset):
        raise DataError(f"{name}: split {loaded_split!r} is itself a DatasetDict; point to the folder that holds it")
    if row_limit is not None and dataset.num_rows > row_limit:
        raise DataError(
            f"{name} has {dataset.num_rows:,} rows, over the limit of {row_limit:,}; save a sample of it "
            f"(Dataset.select), or use a Hugging Face dataset id"
        )
    return _frame(dataset), loaded_split


def load_hub(source: str, config_name: str | None, split: str) -> pd.DataFrame:
    """The rows of split `split` of a hub dataset (or a dataset repository folder) in config `config_name` (None:
    its default config) as text cells; DataError with the advice, naming the configs there are when the config
    name is unknown or needed."""
    import datasets

    try:
        dataset = datasets.load_dataset(source, config_name or None, split=split)
    # The hub raises many types (no network, unknown id, unknown split or config, bad files); one kind of advice.
    except Exception as exc:
        raise DataError(_hub_problem(source, config_name, exc)) from exc
    return _frame(dataset)


def _hub_problem(source: str, config_name: str | None, exc: Exception) -> str:
    listed = _LISTED_CONFIGS.search(str(exc))
    if listed:
        try:
            configs = [str(name) for name in ast.literal_eval(listed[1])]
        except (ValueError, SyntaxError):
            configs = []
        if configs:
            which = f"has no config {config_name!r}" if config_name else "needs a config name"
            return (
                f"dataset {source!r} {which}; its configs are {', '.join(map(repr, configs))}; set dataset_config "
                f"to one of them"
            )
    given = f" (config {config_name!r})" if config_name else ""
    return (
        f"could not load dataset {source!r}{given}: {first_line(exc)}; check the id"
        f"{' and dataset_config' if config_name else ''}, or use a local CSV/JSONL/Parquet file"
    )


def _frame(dataset: Any) -> pd.DataFrame:
    frame = dataset.to_pandas()
    frame.columns = [str(column) for column in frame.columns]
    return as_text(frame)


def _json(path: Path, name: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise DataError(
            f"{name}: {path.name} is missing or not valid JSON; save the dataset again with save_to_disk"
        ) from None
    if not isinstance(value, dict):
        raise DataError(f"{name}: {path.name} is not a JSON object; save the dataset again with save_to_disk")
    return value


def _inside(root: Path, path: Path, name: str) -> Path:
    """`path` resolved, when it stays inside `root`: a saved folder may not point `datasets` at other files."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        resolved = None
    if resolved is None or not resolved.is_relative_to(root):
        raise DataError(
            f"{name} names a file outside its own folder (a symlink or '..' in its metadata); copy the dataset's "
            f"files into the folder"
        )
    return resolved
