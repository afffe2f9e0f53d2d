"""A run as one file: export its record, metrics and rollouts, import them back as a new run elsewhere.

The archive is a zip of three Parquet files, written with ZIP_STORED (Parquet compresses each column itself):

- `run.parquet`: one row: name, status, config (the RunConfig as JSON text), times, step, worker, error, command,
  its vLLM server's last lines, the run's id and parent id in the source database, and `archive_version`;
- `metrics.parquet`: key, step, value, wall_time;
- `rollouts.parquet`: every stored field of every rollout, its prompt and reference inline (Parquet's
  dictionary encoding stores each distinct text once), its extras as JSON text and its failure flags as a list.

Why this shape: one file to download or copy; each table typed and columnar, so floats, nulls, booleans and UTC
times come back exactly and pandas, DuckDB or Polars read a member as it is; three tables because their rows
differ. Checkpoint folders (adapter weights) and evaluations are not included: the weights are not rows (the
Evaluate tab zips one checkpoint), and an imported run owns no files, so deleting it can never remove another
run's checkpoints. Reading checks everything (members, columns, types, nulls, JSON) before the one transaction
that writes, so a bad file writes nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage import METRIC_KEY_MAX, RUN_NAME_MAX, RunRecord, StorageError, Store

ARCHIVE_VERSION = 1
UTC_TIME = pa.timestamp("us", tz="UTC")
RUN_SCHEMA = pa.schema(
    [
        pa.field("archive_version", pa.int32(), False),
        pa.field("source_id", pa.int64(), False),
        pa.field("source_parent_id", pa.int64()),
        pa.field("name", pa.string(), False),
        pa.field("status", pa.string(), False),
        pa.field("config", pa.string(), False),
        pa.field("created_at", UTC_TIME, False),
        pa.field("started_at", UTC_TIME),
        pa.field("finished_at", UTC_TIME),
        pa.field("worker_id", pa.string()),
        pa.field("error", pa.string()),
        pa.field("step", pa.int64(), False),
        pa.field("total_steps", pa.int64()),
        pa.field("command", pa.string()),
        pa.field("generation_server_log", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("notes", pa.string()),
    ]
)
METRIC_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), False),
        pa.field("step", pa.int64(), False),
        pa.field("value", pa.float64(), False),
        pa.field("wall_time", pa.float64(), False),
    ]
)
ROLLOUT_SCHEMA = pa.schema(
    [
        *(pa.field(name, pa.int64(), False) for name in ("step", "group_index", "sample_index")),
        *(pa.field(name, pa.string(), False) for name in ("prompt", "reference", "completion")),
        pa.field("reasoning", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("reward", pa.float64(), False),
        *(
            pa.field(name, pa.float64())
            for name in ("reward_format", "reward_reasoning", "reward_efficiency", "perplexity")
        ),
        pa.field("reasoning_tokens", pa.int64()),
        pa.field("completion_tokens", pa.int64(), False),
        pa.field("advantage", pa.float64()),
        pa.field("truncated", pa.bool_(), False),
        pa.field("format_valid", pa.bool_(), False),
        pa.field("extras", pa.string()),
        pa.field("flags", pa.list_(pa.string())),
        pa.field("flags_version", pa.int64()),
    ]
)
LATER_COLUMNS = frozenset({"flags", "flags_version", "generation_server_log", "tags", "notes"})
"""Columns added after archive version 1 was first written: an archive without them reads as all null (its
rollouts then get their failure flags from the dashboard's start-up backfill; its run kept no vLLM server lines,
tags or notes)."""
MAX_CONFIG_CHARS = 64 * 1024
MEMBERS = {"run.parquet": RUN_SCHEMA, "metrics.parquet": METRIC_SCHEMA, "rollouts.parquet": ROLLOUT_SCHEMA}


class ArchiveError(ValueError):
    """The file is not a readable run archive; the message names the member, column or row at fault."""


def export_run(store: Store, run_id: int, out: Path) -> Path:
    """Write run `run_id` to `out`; returns the path."""
    run = store.get_run(run_id)
    series = store.get_metrics(run_id).values()
    rollouts = store.get_rollouts(run_id)
    run_columns = {
        "archive_version": ARCHIVE_VERSION,
        "source_id": run.id,
        "source_parent_id": run.parent_id,
        **{name: getattr(run, name) for name in RUN_SCHEMA.names[3:]},
        "config": json.dumps(run.config),
        "tags": list(run.tags),
    }
    tables = {
        "run.parquet": {name: [value] for name, value in run_columns.items()},
        "metrics.parquet": {
            "key": [s.key for s in series for _ in s.steps],
            "step": [step for s in series for step in s.steps],
            "value": [value for s in series for value in s.values],
            "wall_time": [time for s in series for time in s.wall_times],
        },
        "rollouts.parquet": {
            name: [_json_or_none(getattr(r, name)) if name == "extras" else getattr(r, name) for r in rollouts]
            for name in ROLLOUT_SCHEMA.names
        },
    }
    partial = out.with_name(out.name + ".partial")  # a failed export never leaves a file that looks complete
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
            for member, columns in tables.items():
                buffer = io.BytesIO()
                pq.write_table(pa.Table.from_pydict(columns, schema=MEMBERS[member]), buffer, compression="zstd")
                archive.writestr(member, buffer.getvalue())
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def import_run(store: Store, path: Path) -> tuple[RunRecord, dict[str, Any]]:
    """Read the archive at `path` back as a new run; returns it and the archive's run row (its source ids)."""
    run_row, metrics, rollouts = read_archive(path)
    run = {
        key: value for key, value in run_row.items() if key not in ("archive_version", "source_id", "source_parent_id")
    }
    return store.import_run(run, metrics, rollouts), run_row


def read_archive(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The archive's run row, metric rows and rollout rows, each checked against its schema."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name: _read_member(archive, name, schema) for name, schema in MEMBERS.items()}
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path} is not a zip archive written by --export, or it is truncated ({exc})") from None
    if len(members["run.parquet"]) != 1:
        raise ArchiveError(f"run.parquet in {path} must hold one run, it holds {len(members['run.parquet'])} rows")
    run = members["run.parquet"][0]
    if run["archive_version"] != ARCHIVE_VERSION:
        raise ArchiveError(
            f"{path} is archive version {run['archive_version']}; this nover_ui reads version "
            f"{ARCHIVE_VERSION} (a newer nover_ui wrote it?)"
        )
    run["config"] = _parse_json("run.parquet", 0, "config", run["config"])
    for name in ("created_at", "started_at", "finished_at"):  # Arrow gives zoneinfo's UTC; the Store's is this
        run[name] = run[name] and run[name].astimezone(dt.UTC)
    if not isinstance(run["config"], dict):
        raise ArchiveError(f"run.parquet: config must be a JSON object, got {type(run['config']).__name__}")
    # Bounds, so that no imported value can break or slow a read for other clients (the API's JSON among them).
    _check_json_numbers(run["config"], "run.parquet: config")
    if len(json.dumps(run["config"])) > MAX_CONFIG_CHARS:
        raise ArchiveError(
            f"run.parquet: config has over {MAX_CONFIG_CHARS:,} characters of JSON; a run config has about 1,500"
        )
    if len(run["name"]) > RUN_NAME_MAX:
        raise ArchiveError(
            f"run.parquet: the run's name has {len(run['name']):,} characters, over the "
            f"{RUN_NAME_MAX} a run name may have"
        )
    for index, row in enumerate(members["rollouts.parquet"]):
        if row["extras"] is not None:
            row["extras"] = _parse_json("rollouts.parquet", index, "extras", row["extras"])
            _check_json_numbers(row["extras"], f"rollouts.parquet row {index}: extras")
    seen: set[tuple[str, int]] = set()
    for row in members["metrics.parquet"]:
        if len(row["key"]) > METRIC_KEY_MAX:
            raise ArchiveError(
                f"metrics.parquet: a metric key has {len(row['key']):,} characters, over the "
                f"{METRIC_KEY_MAX} a key may have"
            )
        if (row["key"], row["step"]) in seen:
            raise ArchiveError(f"metrics.parquet holds step {row['step']} of {row['key']!r} twice")
        seen.add((row["key"], row["step"]))
    return run, members["metrics.parquet"], members["rollouts.parquet"]


def archive_command(store: Store, export_id: int | None, out: Path | None, import_path: Path | None) -> int:
    """`app.py --export` / `--import`: prints the written path or the new run's id; 0 on success, 2 on error."""
    try:
        if export_id is not None:
            print(export_run(store, export_id, out or Path(f"run-{export_id}.zip")))
        else:
            run, source = import_run(store, import_path)
            print(
                f"nover_ui: imported run #{source['source_id']} ({run.name!r}, {run.status}) as run #{run.id}",
                file=sys.stderr,
            )
            print(run.id)
    except (ArchiveError, StorageError, OSError) as exc:
        print(f"nover_ui: {exc}", file=sys.stderr)
        return 2
    return 0


def _read_member(archive: zipfile.ZipFile, name: str, schema: pa.Schema) -> list[dict[str, Any]]:
    try:
        data = archive.read(name)
    except KeyError:
        raise ArchiveError(
            f"{archive.filename} has no {name} (it holds {', '.join(archive.namelist()) or 'nothing'})"
            f": not a run archive written by --export"
        ) from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveError(f"{name} is not a readable Parquet file ({exc})") from None
    for column in LATER_COLUMNS & set(schema.names) - set(table.column_names):
        table = table.append_column(schema.field(column), pa.nulls(table.num_rows, schema.field(column).type))
    missing = [column for column in schema.names if column not in table.column_names]
    unknown = [column for column in table.column_names if column not in schema.names]
    if missing or unknown:
        raise ArchiveError(f"{name} has the wrong columns: missing {missing}, unexpected {unknown}")
    columns = []
    for field in schema:
        column = table.column(field.name)
        try:
            column = column.cast(field.type)  # safe casts only: int32 -> int64 passes, 1.5 -> int64 fails
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ArchiveError(f"{name}: column {field.name} is {column.type}, expected {field.type} ({exc})") from None
        if not field.nullable and column.null_count:
            raise ArchiveError(f"{name}: column {field.name} has {column.null_count} empty value(s)")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema).to_pylist()


def _parse_json(member: str, index: int, column: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArchiveError(f"{member} row {index}: {column} is not JSON ({exc})") from None


def _check_json_numbers(value: Any, where: str) -> None:
    """Integers must fit in 64 bits: JSON readers (the API's among them) fail on larger ones."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ArchiveError(f"{where} holds an integer beyond 64 bits ({len(str(item))} digits)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
