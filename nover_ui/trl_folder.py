"""Reading the files of a plain TRL GRPO output folder, checked, before anything is made of them.

What TRL 1.16 writes there (trl/trainer/grpo_trainer.py, transformers' Trainer):
- `completions/completions_{global_step:05d}.parquet` at each logging step when `log_completions=True`: columns
  step, prompt, completion, one per reward function (named after it), any `log_extra` columns, advantage. Prompts
  and completions are text, or message lists for a conversational dataset. Each file holds the rollouts of the
  generation batch logged last, so completions exist only at logging steps.
- `checkpoint-N/trainer_state.json` at each save (and `trainer_state.json` at the top when the script calls
  `trainer.save_state()`): `log_history`, one entry of TRL's metrics per logging step (`step`, `reward`,
  `rewards/<name>/mean`, `loss`, `kl`, ...), plus `global_step`, `max_steps`, `save_steps`.
- `adapter_config.json` (PEFT runs) or `config.json` beside the weights, naming the model.
- `training_args.bin`: the arguments as a pickle. Never read: unpickling a file runs whatever code it holds, and
  needs torch. A run whose arguments were saved as JSON (`args.to_json_string()`) as `training_args.json` at the
  top of the folder has them read from there.

Every size is checked before a file is read whole, and no message quotes what a file holds (only its path and the
names of its columns): the files come from whoever uploads them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nover_ui.uploads import UPLOAD_LIMIT_BYTES, UPLOAD_ROW_LIMIT

CHECKPOINT = re.compile(r"checkpoint-(\d+)")
COMPLETIONS = re.compile(r"completions_(\d+)\.parquet")
REQUIRED_COLUMNS = ("step", "prompt", "completion")
NOT_REWARDS = frozenset({*REQUIRED_COLUMNS, "advantage", "image", "images"})
"""Columns of a completions file that are never a reward function's (images: TRL's multimodal logs)."""
MAX_FILES = 10_000
MAX_JSON_BYTES = 64 * 2**20


class TrlFolderError(ValueError):
    """The folder cannot be imported as a TRL run; the message names the file or column at fault and the fix."""


@dataclass(frozen=True)
class TrlLimits:
    """Bounds on what one import reads; the dashboard's upload limits by default."""

    max_bytes: int = UPLOAD_LIMIT_BYTES
    """The completions files together."""
    max_rows: int = UPLOAD_ROW_LIMIT
    """Rollouts in all the completions files together (read from the files' footers before any row)."""
    max_files: int = MAX_FILES
    """Completions files."""
    max_members: int = 20_000
    """Members an uploaded zip may list at all (a TRL folder holds about 10 per checkpoint and one file per logging
    step), checked before any is unpacked."""


@dataclass(frozen=True)
class TrlFolder:
    """What a TRL output folder holds, read and checked."""

    name: str
    completion_files: tuple[str, ...]
    """Relative paths of the completions files read, in step order."""
    rows: list[dict[str, Any]]
    """Every completions row, in file order; reward and advantage cells are floats or None (NaN, null)."""
    reward_names: tuple[str, ...]
    """The reward functions: named by the metrics' `rewards/<name>/mean` keys when there are metrics, else every
    column of the completions besides step, prompt, completion and advantage."""
    extra_columns: tuple[str, ...]
    """Completions columns that are neither required, nor rewards, nor advantage (TRL's log_extra)."""
    state: dict[str, Any] | None
    state_file: str | None
    """The newest trainer_state.json (highest global_step; the top-level one on a tie)."""
    state_mtime: float | None
    args: dict[str, Any] | None
    """training_args.json, when the folder has one."""
    adapter: dict[str, Any] | None
    model_config: dict[str, Any] | None
    has_pickled_args: bool
    """A training_args.bin is there (and was not read)."""


def read_trl_folder(folder: Path, limits: TrlLimits = TrlLimits()) -> TrlFolder:
    """The checked contents of the TRL output folder `folder`; TrlFolderError saying what is wrong otherwise."""
    if not folder.is_dir():
        raise TrlFolderError(f"{folder} is not a folder: give the output_dir of a TRL GRPO run")
    files = _completion_files(folder, limits)
    state_file = _newest_state(folder)
    if not files and state_file is None:
        raise TrlFolderError(
            f"{folder.name} holds neither completions/completions_*.parquet nor a trainer_state.json: not a TRL "
            f"output_dir (train with log_completions=True and save_steps so that TRL writes them)"
        )
    state = _read_json(folder, state_file) if state_file else None
    if state is not None and not isinstance(state.get("log_history", []), list):
        raise TrlFolderError(f"{state_file}: log_history must be a list of entries")
    reward_names = _reward_names_of(state)
    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    for relative in files:
        table = _read_completions(folder, relative)
        if not reward_names:  # no metrics name them: every other column is a reward
            reward_names = tuple(name for name in table.column_names if name not in NOT_REWARDS)
        _check_columns(relative, table, reward_names)
        columns += [name for name in table.column_names if name not in columns]
        rows += _numbers_cleaned(table.to_pylist(), (*reward_names, "advantage"))
    return TrlFolder(
        name=folder.name,
        completion_files=tuple(files),
        rows=rows,
        reward_names=reward_names,
        extra_columns=tuple(name for name in columns if name not in NOT_REWARDS and name not in reward_names),
        state=state,
        state_file=state_file,
        state_mtime=(folder / state_file).stat().st_mtime if state_file else None,
        args=_optional_json(folder, "training_args.json"),
        adapter=_first_json(folder, state_file, "adapter_config.json"),
        model_config=_first_json(folder, state_file, "config.json"),
        has_pickled_args=any(folder.glob("training_args.bin")) or any(folder.glob("checkpoint-*/training_args.bin")),
    )


def _completion_files(folder: Path, limits: TrlLimits) -> list[str]:
    """The completions files in step order, after checking their count, bytes and rows (rows from the footers)."""
    found = sorted(
        (int(match.group(1)), path)
        for path in (folder / "completions").glob("*.parquet")
        if (match := COMPLETIONS.fullmatch(path.name)) and path.is_file()
    )
    if len(found) > limits.max_files:
        raise TrlFolderError(f"completions/ holds {len(found):,} files, over the {limits.max_files:,} one import reads")
    total_bytes = sum(path.stat().st_size for _, path in found)
    if total_bytes > limits.max_bytes:
        raise TrlFolderError(
            f"completions/ holds {total_bytes / 2**20:,.1f} MB, over the {limits.max_bytes / 2**20:,.0f} MB one import "
            f"reads; import a copy with fewer completions files"
        )
    rows = 0
    for _, path in found:
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError):
            raise TrlFolderError(f"completions/{path.name} is not a readable Parquet file") from None
    if rows > limits.max_rows:
        raise TrlFolderError(
            f"completions/ holds {rows:,} rollouts, over the {limits.max_rows:,} one import reads; import a copy "
            f"with fewer completions files"
        )
    return [f"completions/{path.name}" for _, path in found]


def _newest_state(folder: Path) -> str | None:
    """The relative path of the trainer_state.json with the highest global_step (by its checkpoint's number; the
    top-level one, written by save_state() at the end, wins a tie and is read to find its step)."""
    candidates: list[tuple[float, str]] = [
        (int(match.group(1)), f"{path.name}/trainer_state.json")
        for path in folder.iterdir()
        if (match := CHECKPOINT.fullmatch(path.name)) and (path / "trainer_state.json").is_file()
    ]
    if (folder / "trainer_state.json").is_file():
        top = _read_json(folder, "trainer_state.json")
        step = top.get("global_step")
        candidates.append((step + 0.5 if isinstance(step, int) else math.inf, "trainer_state.json"))
    return max(candidates)[1] if candidates else None


def _reward_names_of(state: dict[str, Any] | None) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for entry in (state or {}).get("log_history", []):
        if isinstance(entry, dict):
            for key in entry:
                if key.startswith("rewards/") and key.endswith("/mean"):
                    names.setdefault(key[len("rewards/") : -len("/mean")])
    return tuple(names)


def _read_completions(folder: Path, relative: str) -> pa.Table:
    try:
        return pq.read_table(folder / relative)
    except (pa.ArrowException, OSError):
        raise TrlFolderError(f"{relative} is not a readable Parquet file") from None


def _check_columns(relative: str, table: pa.Table, reward_names: tuple[str, ...]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if missing:
        raise TrlFolderError(
            f"{relative} has no {' or '.join(missing)} column (it has {', '.join(table.column_names) or 'none'}): "
            f"TRL's completions files have step, prompt, completion and one column per reward function"
        )
    step = table.schema.field("step").type
    if not pa.types.is_integer(step) or table.column("step").null_count:
        raise TrlFolderError(f"{relative}: column step must hold whole numbers in every row, it holds {step}")
    for name in (*reward_names, "advantage"):
        if name not in table.column_names:
            if name != "advantage":
                raise TrlFolderError(
                    f"{relative} has no column for the reward function {name} that the metrics name; add it, or "
                    f"import the folder without its trainer_state.json"
                )
            continue
        kind = table.schema.field(name).type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind)):
            role = "the advantage" if name == "advantage" else "a reward"
            raise TrlFolderError(f"{relative}: column {name} holds {kind}, not numbers, so it cannot be {role}")


def _numbers_cleaned(rows: list[dict[str, Any]], numeric: tuple[str, ...]) -> list[dict[str, Any]]:
    """Reward and advantage cells as floats, NaN and infinities as None (TRL logs NaN for a reward function that
    skipped a completion; JSON and the database hold neither)."""
    for row in rows:
        for name in numeric:
            value = row.get(name)
            row[name] = float(value) if value is not None and math.isfinite(value) else None
    return rows


def _read_json(folder: Path, relative: str) -> dict[str, Any]:
    path = folder / relative
    if path.stat().st_size > MAX_JSON_BYTES:
        raise TrlFolderError(f"{relative} is over {MAX_JSON_BYTES // 2**20} MB, more than one import reads")
    try:
        value = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise TrlFolderError(f"{relative} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except (UnicodeDecodeError, RecursionError):
        raise TrlFolderError(f"{relative} is not valid JSON text") from None
    if not isinstance(value, dict):
        raise TrlFolderError(f"{relative} must hold a JSON object")
    return value


def _optional_json(folder: Path, relative: str) -> dict[str, Any] | None:
    return _read_json(folder, relative) if (folder / relative).is_file() else None


def _first_json(folder: Path, state_file: str | None, name: str) -> dict[str, Any] | None:
    """`name` at the top of the folder (trainer.save_model()), else beside the newest trainer_state.json."""
    places = [name] + ([str(Path(state_file).parent / name)] if state_file else [])
    return next((_read_json(folder, place) for place in places if (folder / place).is_file()), None)


def entry_value(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, dict) else None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
