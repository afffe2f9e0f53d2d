"""What a person may do to an existing run, with the checks that make a refusal say why."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nover_ui.archive import export_run
from nover_ui.downloads import Downloads
from nover_ui.places import EXPORT_KEY
from storage import ACTIVE_STATUSES, InvalidTransition, RunRecord, Status, StorageError, Store
from training.artifacts import ArtifactError, Artifacts
from training.config import ConfigError, RunConfig
from training.job_config import MergeJob

RESUMABLE = (Status.FAILED, Status.CANCELLED)


class ActionRefused(Exception):
    """The action does not apply to this run now; the message says why and what to do instead."""


@dataclass(frozen=True)
class Allowed:
    """Which of the actions that change a run apply to it now: the Runs tab enables only those buttons. Each action
    still checks for itself when asked (the run may have moved on since, or a script may call it)."""

    cancel: bool
    resume: bool
    delete: bool


def allowed_actions(run: RunRecord, checkpoints: int) -> Allowed:
    """What may be done to `run`, which saved `checkpoints` checkpoints.

    >>> from datetime import datetime, timezone
    >>> def run(status, cancel_requested=False):
    ...     return RunRecord(1, "r", status, {}, datetime.now(timezone.utc), None, None, None, None, cancel_requested,
    ...         None, 0, None, None)
    >>> allowed_actions(run("running"), 0), allowed_actions(run("failed"), 1)
    (Allowed(cancel=True, resume=False, delete=False), Allowed(cancel=False, resume=True, delete=True))
    >>> allowed_actions(run("running", cancel_requested=True), 0).cancel  # asked already: it is stopping
    False
    """
    return Allowed(
        cancel=run.status in ACTIVE_STATUSES and not run.cancel_requested,
        resume=run.status in RESUMABLE and checkpoints > 0,
        delete=run.status != Status.RUNNING,
    )


def cancel_run(store: Store, run_id: int) -> RunRecord:
    run = store.get_run(run_id)
    if run.status not in ACTIVE_STATUSES:
        raise ActionRefused(f"run {run_id} is already {run.status}; only queued or running runs can be cancelled")
    return store.request_cancel(run_id)


def resume_run(store: Store, run_id: int) -> RunRecord:
    """Queue a new run, linked to `run_id`, that continues from the latest checkpoint of it."""
    run = store.get_run(run_id)
    if run.status not in RESUMABLE:
        raise ActionRefused(f"run {run_id} is {run.status}; only a failed or cancelled run can be resumed")
    checkpoints = store.list_checkpoints(run_id)
    if not checkpoints:
        raise ActionRefused(
            f"run {run_id} saved no checkpoint (checkpoint_steps={run.config.get('checkpoint_steps')}"
            f", it stopped at step {run.step}); clone it into the Train form to start again"
        )
    return store.create_run(f"{run.name} (resumed from step {checkpoints[-1].step})", run.config, parent_id=run_id)


def clone_config(store: Store, run_id: int) -> tuple[str, RunConfig]:
    """The name ("<name> (copy)") and config a clone of the run starts from; ActionRefused when the run is gone or
    its stored config no longer validates (an imported run's, or one stored before a field changed)."""
    try:
        run = store.get_run(run_id)
        config = RunConfig.from_dict(run.config)
    except (StorageError, ConfigError) as exc:
        raise ActionRefused(f"Cannot clone run {run_id}: {exc}") from None
    return f"{run.name} (copy)", config


def export_archive(store: Store, run_id: int, downloads: Downloads) -> Path:
    """The run archive (archive.py) written to a fresh download file run-<id>.zip; ActionRefused saying why not."""
    try:
        return export_run(store, run_id, downloads.new_path(f"run-{run_id}.zip"))
    except (StorageError, OSError) as exc:
        raise ActionRefused(f"Cannot export run {run_id}: {exc}") from None


def delete_run(store: Store, run_id: int, home: Path, artifacts: Artifacts | None = None) -> list[Path]:
    """Delete the run's rows (storage.Store.delete_run), then its folder home/runs/<id> and its checkpoint
    folders; returns the folders removed. Only folders inside home/runs are touched: a checkpoint path that
    leads elsewhere (stored so, or out through `..` or a symlink) or into another run's folder stays.

    With an artifact store, the run's keys there go too (runs/<id>, and the merged models its merge jobs recorded
    under exports/), with this machine's cached copies. A store that refuses raises ArtifactsLeft, saying what is
    left, after the rows and local folders are gone: the run is deleted either way."""
    exports = _merged_exports(store, run_id, artifacts) if artifacts is not None and artifacts.remote else []
    try:
        checkpoints = store.delete_run(run_id)
    except InvalidTransition as exc:
        raise ActionRefused(str(exc)) from None
    runs_dir = (home / "runs").resolve()
    removed = []
    for path in [home / "runs" / str(run_id), *(Path(c.path) for c in checkpoints)]:
        target = _owned_folder(runs_dir, run_id, path)
        if target is None or not target.exists():
            continue
        if target.is_dir():
            shutil.rmtree(target)  # removes symlinks found inside, never what they point to
        else:
            target.unlink()
        removed.append(target)
    if artifacts is not None and artifacts.remote:
        _remove_from_store(artifacts, run_id, [f"runs/{run_id}", *exports])
    return removed


class ArtifactsLeft(ActionRefused):
    """The run's rows are deleted but some of its files are still in the artifact store; the message says which."""


def _merged_exports(store: Store, run_id: int, artifacts: Artifacts) -> list[str]:
    """The store keys (exports/NAME) of the merged models the run's merge jobs recorded, read before its rows go."""
    keys = []
    for job in store.list_evaluations(run_id=run_id, kind=MergeJob.kind):
        key = artifacts.key_of(str((job.metrics or {}).get("path", "")))
        if key is not None and EXPORT_KEY.fullmatch(key):  # only a merged model's own key, never a folder above it
            keys.append(key)
    return list(dict.fromkeys(keys))


def _remove_from_store(artifacts: Artifacts, run_id: int, keys: list[str]) -> None:
    failed = []
    for key in keys:
        try:
            artifacts.remove(key)
        except ArtifactError as exc:
            failed.append(str(exc))
    if failed:
        raise ArtifactsLeft(
            f"run {run_id} is deleted, but not all of its files in the artifact store: {'; '.join(failed)}; "
            f"remove them there by hand"
        )


def _owned_folder(runs_dir: Path, run_id: int, path: Path) -> Path | None:
    """`path` with symlinks and `..` resolved when it lies strictly inside runs_dir and outside the folder of any
    other run (runs_dir/<other id>); None otherwise."""
    target = path.expanduser().resolve()
    if not target.is_relative_to(runs_dir) or target == runs_dir:
        return None
    first = target.relative_to(runs_dir).parts[0]
    return None if first.isdigit() and first != str(run_id) else target
