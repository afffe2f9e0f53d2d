"""Read back what each tracker wrote for a run, as {metric name: {step: value}}, from its own files.

TensorBoard through its own EventAccumulator; trackio from its project database (table `metrics`: one row per log
call, the values as JSON; the Trainer's step is the logged `train/global_step`); W&B offline from the run's
`.wandb` file, which wandb 0.31 writes as a LevelDB-style log of its protobuf `Record`s (no Python reader ships
with it any more; the history records carry each logged value as JSON).
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from pathlib import Path

Series = dict[str, dict[int, float]]
WANDB_HEADER = b":W&B\xe1\xbe\x00"  # ident, magic 0xBEE1, version 0
BLOCK = 32 * 1024
RECORD_HEADER = struct.Struct("<IHB")  # checksum (CRC-32 of the type byte and the data), length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def tensorboard_series(logdir: Path) -> Series:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


def trackio_series(database: Path, run_name: str) -> Series:
    series: Series = {}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT metrics FROM metrics WHERE run_name = ? ORDER BY step", (run_name,))
        for (text,) in rows:
            add_step(series, json.loads(text))
    return series


def wandb_records(path: Path) -> list:  # type: ignore[type-arg]  # wandb's generated protobuf classes are untyped
    """Every Record of a `.wandb` file, in order; its checksums checked."""
    from wandb.proto import wandb_internal_pb2

    raw = path.read_bytes()
    assert raw.startswith(WANDB_HEADER), f"{path} is not a W&B run file"
    records, pending, offset = [], b"", len(WANDB_HEADER)
    while offset + RECORD_HEADER.size <= len(raw):
        if BLOCK - offset % BLOCK < RECORD_HEADER.size:  # a block's tail too short for a header is padding
            offset += BLOCK - offset % BLOCK
            continue
        checksum, length, kind = RECORD_HEADER.unpack_from(raw, offset)
        data = raw[offset + RECORD_HEADER.size : offset + RECORD_HEADER.size + length]
        offset += RECORD_HEADER.size + length
        if kind == 0:  # zero padding at the end of the file
            break
        assert zlib.crc32(bytes([kind]) + data) == checksum, f"{path}: bad checksum at byte {offset}"
        pending = data if kind in (FULL, FIRST) else pending + data
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def wandb_series(path: Path) -> Series:
    series: Series = {}
    for record in wandb_records(path):
        if record.WhichOneof("record_type") != "history":
            continue
        add_step(
            series, {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
        )
    return series


def add_step(series: Series, logged: dict) -> None:  # type: ignore[type-arg]  # one log call's values, as JSON gave them
    """One log call's numbers at the Trainer's step. TRL also logs its profiling timings straight to W&B and
    trackio, outside the Trainer's logs and without a step: those calls are left out."""
    if "train/global_step" not in logged:
        return
    step = int(logged["train/global_step"])
    for key, value in logged.items():
        if isinstance(value, (int, float)):
            series.setdefault(key, {})[step] = float(value)


def wandb_run(path: Path):  # type: ignore[no-untyped-def]  # wandb's generated protobuf classes are untyped
    """The run record (its name and project) of a `.wandb` file."""
    return next(r.run for r in wandb_records(path) if r.WhichOneof("record_type") == "run")
