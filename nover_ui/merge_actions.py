"""A checkpoint as a full model, the checked actions: queue its merge for a worker, zip the merged folder, push it to
the Hub. Plain functions of the Store and plain values, so the Evaluate tab and an API endpoint give the same checks
and messages; the caller checks the login first (nover_ui/access.py).

The merge itself needs torch, which the UI never loads: it is a job of kind "merge" (training/job_config.py MergeJob)
that a worker claims like an evaluation, writing HOME/exports/run-ID-step-STEP-merged and recording that path in
the job's metrics. The model card's facts (run name, data name, held-out metrics) are read here, when the person
asks, and travel in the job.
"""

from __future__ import annotations

from pathlib import Path

from nover_ui.dataset_label import dataset_label
from nover_ui.downloads import Downloads
from nover_ui.exports import zip_folder
from nover_ui.hub_push import HubPushError, hub_token, push_to_hub, repo_id_problem
from nover_ui.places import PlaceRefused, Places
from storage import ACTIVE_STATUSES, EvaluationRecord, Status, Store
from training.config import ConfigError, RunConfig
from training.job_config import MergeJob
from training.model_card import ModelCard

MERGE_KIND = MergeJob.kind
EVALUATION_KIND = "evaluation"
EXPORTS = "exports"
"""HOME/exports, where workers write merged models (training/merge_export.py); the only place they are read from."""


class MergeRefused(ValueError):
    """The merge, its download or its push cannot be done as asked; the message says why and what to do."""


def queue_merge(store: Store, run_id: int, step: int, places: Places) -> EvaluationRecord:
    """Queue a merge of run `run_id`'s checkpoint at `step` for a worker; returns the job. A merge of that checkpoint
    already queued or running is returned instead of a second one. StorageError (RunNotFound, CheckpointNotFound
    naming the saved steps) when there is no such checkpoint; ConfigError when the run's config cannot be used."""
    run = store.get_run(run_id)
    store.get_checkpoint(run_id, step)
    pending = [e for e in _merges(store, run_id, step) if e.status in ACTIVE_STATUSES]
    if pending:
        return pending[-1]
    try:
        config = RunConfig.from_dict(run.config)
        places.check_model(config.model)
    except (ConfigError, PlaceRefused) as exc:  # an imported run's config was never checked here
        raise ConfigError("run_id", f"run {run_id}'s stored config cannot be merged: {exc}") from None
    job = MergeJob(run_config=config, card=card_facts(store, run_id, run.name, step, dataset_label(run.config)))
    return store.queue_evaluation(
        job.kind, config.model, config.dataset, job.to_dict(), run_id=run_id, checkpoint_step=step
    )


def card_facts(store: Store, run_id: int, run_name: str, step: int, data_name: str) -> ModelCard:
    """What the model card says beyond the run's config: the held-out metrics the run recorded at `step` and the
    latest finished Evaluate-tab evaluation of that checkpoint."""
    heldout = store.heldout_evaluation(run_id, step)
    evaluations = [
        e
        for e in store.list_evaluations(run_id=run_id, kind=EVALUATION_KIND, statuses=[Status.SUCCEEDED])
        if e.checkpoint_step == step and e.metrics
    ]
    latest = evaluations[-1] if evaluations else None
    return ModelCard(
        run_id=run_id,
        run_name=run_name,
        step=step,
        data_name=data_name,
        heldout={k: v for k, v in (heldout.metrics or {}).items() if k.startswith("eval/")} if heldout else {},
        evaluation_id=latest.id if latest else None,
        evaluation_split=str((latest.config or {}).get("split", "")) if latest else "",
        evaluation_metrics={k: v for k, v in (latest.metrics or {}).items() if _number(v)} if latest else {},
    )


def merge_status(store: Store, job_id: int) -> tuple[str, bool]:
    """(a status line for merge job `job_id`, whether it has ended)."""
    job = store.get_evaluation(job_id)
    where = f"run {job.run_id} at step {job.checkpoint_step}"
    if job.status == Status.SUCCEEDED:
        size = (job.metrics or {}).get("bytes") or 0
        return f"Merged model of {where} is ready ({size / 2**20:,.0f} MB): download its zip or push it.", True
    if job.status == Status.FAILED:
        return f"Merge job #{job.id} of {where} failed: {job.error}", True
    if job.status == Status.CANCELLED:
        return f"Merge job #{job.id} of {where} was cancelled.", True
    return f"Merge job #{job.id} of {where} is {job.status}; a worker runs it after any training run.", False


def merged_path(store: Store, run_id: int, step: int, home: Path, places: Places | None = None) -> Path:
    """The folder of the newest finished merge of the checkpoint; MergeRefused when there is none on this machine.
    A merge a worker published to the artifact store (its URL recorded) is fetched into HOME/artifact-cache first,
    when `places` has that store: only its URLs under exports/ are read."""
    done = [e for e in _merges(store, run_id, step) if e.status == Status.SUCCEEDED]
    if not done:
        raise MergeRefused(f"run {run_id}'s checkpoint at step {step} has not been merged yet: click Merge first")
    location = str((done[-1].metrics or {}).get("path", ""))
    exports = (Path(home) / EXPORTS).resolve()
    try:
        fetched = places.export_folder(location) if places is not None and "://" in location else None
    except PlaceRefused as exc:
        raise MergeRefused(f"the merged model of run {run_id} at step {step} cannot be fetched: {exc}") from None
    folder = fetched or Path(location)
    if fetched is None and "://" in location:
        raise MergeRefused(
            f"the merged model of run {run_id} at step {step} is not in this dashboard's artifact store "
            f"({location.split('://')[0]}:// URL recorded): start it with --artifacts set to the store its worker "
            f"wrote to, or click Merge to build it again"
        )
    outside = fetched is None and not folder.resolve().is_relative_to(exports)
    if outside or not (folder / "config.json").is_file():
        raise MergeRefused(
            f"the merged model of run {run_id} at step {step} is not in this dashboard's {exports} (a worker on "
            f"another machine wrote it, or it was removed): click Merge to build it again"
        )
    return folder


def merged_zip(
    store: Store, run_id: int, step: int, home: Path, downloads: Downloads, places: Places | None = None
) -> Path:
    """The merged folder of the checkpoint as a fresh download file run-ID-step-STEP-merged.zip."""
    return zip_folder(merged_path(store, run_id, step, home, places), f"run-{run_id}-step-{step}-merged", downloads)


def push_merged(
    store: Store,
    run_id: int,
    step: int,
    repo_id: str,
    home: Path,
    token: str | None = None,
    endpoint: str | None = None,
    places: Places | None = None,
) -> str:
    """Push the merged model of the checkpoint to the private Hub repository `repo_id`; returns its URL. `token`
    defaults to the configured one (HF_TOKEN). MergeRefused, naming the fix, before anything is sent when there is
    no token, the repo id is not 'owner/name' or nothing is merged; with the Hub's answer when it refuses."""
    token = token or hub_token()
    if token is None:
        raise MergeRefused("pushing to the Hub needs a token: start the dashboard with HF_TOKEN set to a write token")
    repo_id = repo_id.strip()
    if (problem := repo_id_problem(repo_id)) is not None:
        raise MergeRefused(problem)
    folder = merged_path(store, run_id, step, home, places)
    try:
        return push_to_hub(folder, repo_id, token, private=True, endpoint=endpoint)
    except HubPushError as exc:
        raise MergeRefused(str(exc)) from None


def _merges(store: Store, run_id: int, step: int) -> list[EvaluationRecord]:
    return [e for e in store.list_evaluations(run_id=run_id, kind=MERGE_KIND) if e.checkpoint_step == step]


def _number(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
