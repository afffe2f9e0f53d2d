"""A run's or a job's files and the artifact store (training/artifacts.py): what the executor (training/execute.py)
fetches before it trains or runs a job, and what it publishes as they write.

Inputs recorded as store URLs (an uploaded data file, a parent run's checkpoint, the checkpoint a job evaluates) are
fetched into this machine's HOME/artifact-cache and given to the training code as local paths; the stored config and
rows keep the URLs. Outputs (each checkpoint, a merge job's export, the trackers' files) are copied to the store under
the key they have under HOME, and the database records what `Artifacts.publish` returns. Without a store every
function here hands back what it was given: paths as they are.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from training.artifacts import ArtifactError, Artifacts
from training.config import RunConfig

TRACKER_FOLDERS = ("tensorboard", "wandb")
"""The trackers' files under a run's folder (training/trackers.py); trackio's database is shared by every run of a
HOME, so it stays there."""


def local_data(config: RunConfig, artifacts: Artifacts) -> RunConfig:
    """`config` training from a local copy of its data file when the store holds it, else `config` itself."""
    if not artifacts.owns(config.dataset):
        return config
    return config.replace(dataset=str(artifacts.local(config.dataset)))


def local_dataset(dataset: str, artifacts: Artifacts) -> str:
    """A job's dataset as a local path when the store holds it, else as given (a path, a hub id, a built-in set)."""
    return str(artifacts.local(dataset)) if artifacts.owns(dataset) else dataset


def publish_under_home(artifacts: Artifacts, local: Path) -> str:
    """Copy a file or folder under HOME to the store under the key it has below HOME (`runs/3/checkpoint-2`,
    `exports/NAME`); what the database records for it: its URL, or the path itself without a store."""
    if not artifacts.remote:
        return str(local)
    try:
        key = local.resolve().relative_to(artifacts.home.resolve()).as_posix()
    except ValueError:
        raise ArtifactError(
            f"{local} is outside the data directory {artifacts.home}, so it has no key in the artifact store"
        ) from None
    return artifacts.publish(local, key)


def publish_tracker_files(artifacts: Artifacts, workdir: Path) -> None:
    """Copy a finished run's tracker folders (TensorBoard events, W&B offline runs) to the store beside its
    checkpoints. Never raises: the run's ending matters more than its charts' copies, and a failure is one line in
    the worker's log."""
    if not artifacts.remote:
        return
    for name in TRACKER_FOLDERS:
        folder = workdir / name
        if folder.is_dir():
            try:
                publish_under_home(artifacts, folder)
            except Exception as exc:
                print(f"worker: cannot copy {folder.name} of {workdir} to the artifact store: {exc}", file=sys.stderr)


class FetchedCheckpoints(Mapping[int, Path]):
    """A run's checkpoint folders by step, as a job's code takes them (training/jobs.py checkpoint_path): a location
    the store holds is fetched only when the job opens it, so a job on one checkpoint fetches that one alone."""

    def __init__(self, locations: Mapping[int, str], artifacts: Artifacts):
        self._locations = dict(locations)
        self._artifacts = artifacts

    def __getitem__(self, step: int) -> Path:
        return self._artifacts.local(self._locations[step])

    def __iter__(self) -> Iterator[int]:
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)


def published_export(artifacts: Artifacts, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A merge job's metrics with its merged folder (`path`, under HOME/exports) copied to the store and `path` its
    URL; unchanged without a store."""
    if not artifacts.remote or "path" not in metrics:
        return dict(metrics)
    return {**metrics, "path": publish_under_home(artifacts, Path(metrics["path"]))}
