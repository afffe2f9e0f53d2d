"""Files a person downloads: a run's rollouts or an evaluation's samples as Parquet/CSV, a checkpoint or a merged
model as a zip."""

from __future__ import annotations

import dataclasses
import json
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nover_ui.downloads import Downloads
from storage import Store

FORMATS = ("parquet", "csv")


def records_frame(records: Sequence[Any]) -> pd.DataFrame:
    """One row per frozen record, one column per field; nested values (extras, metrics, flags) as JSON text, so CSV
    and Parquet hold the same table."""
    rows = [
        {
            key: json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
            for key, value in dataclasses.asdict(record).items()
        }
        for record in records
    ]
    return pd.DataFrame(rows)


def write_table(records: Sequence[Any], stem: str, fmt: str, downloads: Downloads) -> Path:
    """The records written to a fresh download file named `stem.fmt`; returns its path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not records:
        raise ValueError(f"nothing to export for {stem}: it has no rows yet")
    path = downloads.new_path(f"{stem}.{fmt}")
    frame = records_frame(records)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def evaluation_samples_file(store: Store, evaluation_ids: Sequence[int], fmt: str, downloads: Downloads) -> Path:
    """The samples of the evaluations (in this order) as one table file named after them; ValueError when none has a
    sample (yet)."""
    samples = [sample for evaluation_id in evaluation_ids for sample in store.get_evaluation_samples(evaluation_id)]
    stem = "evaluation-" + "-".join(str(i) for i in evaluation_ids) + "-samples"
    return write_table(samples, stem, fmt, downloads)


def zip_checkpoint(checkpoint_dir: str | Path, stem: str, downloads: Downloads) -> Path:
    """The checkpoint folder (policy and proxy adapters, optimizer state) as a download file `stem.zip`."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {folder} is not on this machine (it may live on the worker that trained the run)"
        )
    target = downloads.new_path(stem)
    return Path(shutil.make_archive(str(target), "zip", root_dir=folder))


def zip_folder(folder: Path, stem: str, downloads: Downloads) -> Path:
    """A folder of weights (a merged model) as a download file `stem.zip`, its files stored uncompressed: safetensors
    barely compress, and deflating hundreds of MB would hold a CPU for a minute."""
    target = downloads.new_path(f"{stem}.zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target
