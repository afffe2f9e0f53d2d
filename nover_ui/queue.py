"""Turning what a person asked for into queued rows: runs, evaluations and playground jobs. Everything checkable is
checked first, so a refused request creates no row and the person sees why at once rather than in a failed run or
job later. A refusal of one form value is a ConfigError whose `field` names the parameter that carried it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nover_ui.bounds import MAX_SOURCE_CHARS
from nover_ui.experiment_grid import Grid, build_grid
from nover_ui.places import PlaceRefused, Places
from nover_ui.uploads import UploadLimits
from storage import ExperimentRecord, RunRecord, Store
from training.config import HEARTBEAT_TIMEOUT_S, ConfigError, RunConfig, preset
from training.data import DataError, check_config_name, readable_here
from training.heldout import run_data
from training.job_config import EvaluationJob, PlaygroundJob
from training.needs import Capabilities, refusal

BASE = "base"
"""The playground's model choice for the base model (any other choice is a checkpoint's step, as text)."""
NONE = "none"
"""The playground's model choice for no model."""
PLAYGROUND_BASE_PRESET = "cpu-demo"
"""The run configuration of a playground job with no run: its prompt format and sampling settings."""


def queue_run(
    store: Store, name: str, config: dict[str, Any], places: Places, limits: UploadLimits = UploadLimits()
) -> RunRecord:
    """Validate `config` (ConfigError naming the field) and its data (DataError), then queue it as a run
    (checked_config says what is checked)."""
    return store.create_run(name, checked_config(store, config, places, limits).to_dict())


def queue_experiment(
    store: Store, grid: Grid, places: Places, limits: UploadLimits = UploadLimits()
) -> ExperimentRecord:
    """Check every run of the grid as queue_run checks one, then queue them all under the experiment in one
    transaction: a refusal of any run queues none. The runs share their data (experiment_grid.py), so it is
    read once."""
    configs = [
        checked_config(store, config, places, limits, read_data=i == 0) for i, (_, config) in enumerate(grid.runs)
    ]
    runs = [(name, config.to_dict()) for (name, _), config in zip(grid.runs, configs)]
    return store.create_experiment(grid.name, grid.settings, runs)


def queue_experiment_grid(
    store: Store,
    config: dict[str, Any],
    name: str,
    recipes: list[str],
    sweeps: list[tuple[str, str]],
    seeds: float | None,
    places: Places,
    limits: UploadLimits,
    max_runs: int,
) -> ExperimentRecord:
    """The experiment `name` over `config` (experiment_grid.build_grid: recipes x (field, comma list) sweeps x
    seeds, at most `max_runs` runs), checked and queued by queue_experiment; ConfigError or DataError queue nothing."""
    return queue_experiment(store, build_grid(config, name, recipes, sweeps, seeds, max_runs), places, limits)


def checked_config(
    store: Store, config: dict[str, Any], places: Places, limits: UploadLimits, read_data: bool = True
) -> RunConfig:
    """`config` validated (ConfigError naming the field), with its model and data checked (DataError).

    The model and the data must be ones the dashboard may open (places.py); with an artifact store, an upload is
    recorded by its URL there. The demo set, a data file and a folder saved with save_to_disk are loaded and
    cleaned here, within the upload limits; a hub dataset id or a dataset repository folder is left to the worker,
    which may have network access the dashboard lacks and reads such folders without holding the UI. A hub config
    name with data that has no configs is refused (dataset_config).

    What the run needs of its machine (CUDA, bitsandbytes, vllm, bf16, GPUs: training/needs.py) is checked
    against the live workers' recorded capabilities: refused, naming the field and the fix, when none can train
    it. With no live worker (the dashboard's own is still starting, or workers start later) nothing is known,
    so it is queued; a worker that cannot train it leaves it queued, and the Runs tab says why it waits.
    """
    validated = RunConfig.from_dict(config)
    live = [Capabilities.from_dict(worker.capabilities) for worker in store.live_workers(HEARTBEAT_TIMEOUT_S)]
    if (refused := refusal(validated, live)) is not None:
        raise refused
    try:
        places.check_model(validated.model)
    except PlaceRefused as exc:
        raise ConfigError("model", str(exc)) from None
    places.check_data(validated.dataset)
    readable = replace(validated, dataset=places.readable(validated.dataset))
    try:
        check_config_name(readable.dataset, readable.dataset_config)
    except DataError as exc:
        raise ConfigError("dataset_config", str(exc)) from None
    if read_data and readable_here(readable.dataset):
        # The training and held-out prompts as the worker will pick them: a bad eval_split fails here.
        run_data(readable, max_bytes=limits.max_bytes, row_limit=limits.max_rows)
    # With an artifact store an upload is recorded by its URL there, which a worker on any machine can read.
    return replace(validated, dataset=places.recorded(validated.dataset))


def queue_evaluations(
    store: Store,
    run_id: int,
    steps: list[int],
    include_base: bool,
    split: str,
    max_prompts: float | None,
    samples: float | None,
    seed: float | None,
    dataset: str = "",
    places: Places | None = None,
) -> list[int]:
    """One evaluation job per model (the run's base model and each chosen checkpoint) on `dataset` (a file, a
    dataset id; empty: the run's own data); returns their ids.

    Number widgets' values (floats, None when cleared) are checked by EvaluationJob. `places` checks the data and
    the model (None only for tests, which may read any file). ConfigError's field is one of this function's
    parameters; StorageError (RunNotFound) when the run is gone."""
    run_config = _stored_config(store, run_id)
    job = EvaluationJob.from_dict(
        dict(run_config=run_config, split=split, max_prompts=max_prompts, samples=samples, seed=seed, judge="base")
    )
    dataset = dataset.strip()
    if len(dataset) > MAX_SOURCE_CHARS:
        raise ConfigError(
            "dataset", f"dataset has at most {MAX_SOURCE_CHARS:,} characters, got {len(dataset):,}; shorten it"
        )
    if places is not None:  # the run's own data and model too: an imported run's config was never checked here
        _check_place(places.check_data, dataset or run_config.dataset, "dataset" if dataset else "run_id")
        _check_place(places.check_model, run_config.model, "run_id")
        dataset = places.recorded(dataset) if dataset else dataset  # an upload: its URL in the artifact store
    targets = ([None] if include_base else []) + sorted(steps)
    if not targets:
        raise ConfigError("steps", "choose the base model, a checkpoint, or both")
    return [
        store.queue_evaluation(
            job.kind,
            run_config.model,
            dataset or run_config.dataset,
            job.to_dict(),
            run_id=run_id if step is not None else None,
            checkpoint_step=step,
        ).id
        for step in targets
    ]


def queue_playground(
    store: Store,
    run_id: int | None,
    prompt: str,
    reference: str,
    models: list[str],
    seed: float | None,
    places: Places | None = None,
) -> list[tuple[str, int]]:
    """One playground job per chosen model (BASE, or a checkpoint's step as text, of run `run_id`); returns
    (label, job id) pairs. Without a run, the base model answers with the PLAYGROUND_BASE_PRESET settings.

    `places` checks the run's model (None only for tests). ConfigError's field is one of this function's
    parameters; StorageError (RunNotFound) when the run is gone."""
    if not prompt.strip():
        raise ConfigError("prompt", "type a prompt (or pick one of the run's)")
    run_config = _stored_config(store, run_id) if run_id is not None else preset(PLAYGROUND_BASE_PRESET)
    try:
        job = PlaygroundJob.from_dict(
            dict(run_config=run_config, prompts=[prompt], reference=reference, samples=1, seed=seed)
        )
    except ConfigError as exc:
        if exc.field == "prompts":  # the form has one prompt
            raise ConfigError("prompt", str(exc)) from None
        raise
    if places is not None:
        _check_place(places.check_model, run_config.model, "run_id")
    steps = [_checkpoint_step(model) for model in dict.fromkeys(models) if model and model != NONE]
    if not steps:
        raise ConfigError("models", "choose at least one model")
    if run_id is None and any(step is not None for step in steps):
        raise ConfigError("models", "a checkpoint belongs to a run; pick the run first")
    return [
        (
            "base model" if step is None else f"run {run_id} · step {step}",
            store.queue_evaluation(
                job.kind,
                run_config.model,
                job.kind,  # a playground job's data source is only a label
                job.to_dict(),
                run_id=run_id if step is not None else None,
                checkpoint_step=step,
            ).id,
        )
        for step in steps
    ]


def _stored_config(store: Store, run_id: int) -> RunConfig:
    """The run's stored config as its jobs run it (a config stored before a field existed gets its default)."""
    try:
        return RunConfig.from_dict(store.get_run(run_id).config)
    except ConfigError as exc:  # an imported run's config was never checked here
        raise ConfigError("run_id", f"run {run_id}'s stored config cannot be used: {exc}") from None


def _check_place(check: Any, source: str, field: str) -> None:
    try:
        check(source)
    except PlaceRefused as exc:
        raise ConfigError(field, str(exc)) from None


def _checkpoint_step(model: str) -> int | None:
    if model == BASE:
        return None
    try:
        return int(model)
    except ValueError:
        raise ConfigError(
            "models", f"a model is {BASE!r} or a checkpoint's step (e.g. '40'), got {model!r}; pick one from the list"
        ) from None
