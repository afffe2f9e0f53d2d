"""Evaluation and playground jobs: what a worker does with a claimed row of the `evaluations` table.

The UI queues a job with `Store.queue_evaluation(kind, model, dataset, config, run_id, checkpoint_step)`; a
worker claims it when no run is queued and calls `run_evaluation`, which generates with the base `model`
(run_id None) or with `model` plus the run's LoRA adapter saved at `checkpoint_step`, stores one sample row per
completion and ends the job succeeded (with metrics) or failed (with a one-paragraph message).

`config` keys, all optional unless marked:

  kind "evaluation": held-out prompts of the data source named by the job's `dataset`
    run_config   RunConfig fields as a dict: prompt template, tags, sampling (temperature, top_p,
                 max_completion_length), verifier settings, data columns (prompt/reference/split_column).
                 A checkpoint job starts from its run's stored config; these keys override it. The job's
                 `model` always wins over run_config["model"].
    split        rows of this split are evaluated (default "test"; ignored when the data has no split column)
    max_prompts  the first this many prompts of the split (default 8)
    samples      completions per prompt (default 1)
    seed         sampling seed (default 0): the same seed gives two checkpoints the same random draws
    judge        "base" (default): the base model computes the reference perplexities, so checkpoints are
                 compared on one scale; "self": the evaluated model does

  kind "playground": prompts typed by a person (`dataset` is only a label)
    prompts      (required) list of prompt strings
    reference    a reference answer: each format-valid sample then gets the NOVER reasoning perplexity of it
                 and a verifier verdict; without it perplexity and correct stay None
    samples, seed, judge, run_config   as above (samples default 1)

Each sample row: prompt (the question as given, before the template), reference, completion, reasoning,
answer, format_valid, perplexity, correct, extras {"completion_tokens", "example_id", "seed"}. Metrics:
`EvalResult.metrics()` plus `mean_answer_chars` (over format-valid samples); an average over nothing is None.

Training code knows no database: `store` is anything with the methods of `JobStore` (the worker passes its Store).
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from peft import PeftModel

from training.config import ConfigError, RunConfig
from training.data import DataError, Example, load_examples
from training.evaluate import EvalResult, evaluate
from training.model import ModelLoadError, load_model

KINDS = ("evaluation", "playground")
JUDGES = ("base", "self")
_COMMON = {"run_config": {}, "samples": 1, "seed": 0, "judge": "base"}
DEFAULTS: dict[str, dict[str, Any]] = {
    "evaluation": {**_COMMON, "split": "test", "max_prompts": 8},
    "playground": {**_COMMON, "prompts": None, "reference": None},
}


class JobError(ValueError):
    """A job cannot run as queued; the message says what is wrong and what to do."""


class JobStore(Protocol):
    """What a job needs of the Store (training imports no storage; the worker passes its Store)."""

    def get_run(self, run_id: int) -> Any: ...

    def list_checkpoints(self, run_id: int) -> Sequence[Any]: ...

    def log_evaluation_samples(self, evaluation_id: int, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def finish_evaluation(
        self, evaluation_id: int, status: str, metrics: dict[str, Any] | None = None, error: str | None = None
    ) -> Any: ...


@dataclass(frozen=True)
class JobSettings:
    """A job's config with defaults filled in and checked."""

    run_config: RunConfig
    samples: int
    seed: int
    judge: str
    split: str | None = None
    max_prompts: int | None = None
    prompts: tuple[str, ...] = ()
    reference: str | None = None


def run_evaluation(store: JobStore, evaluation: Any, home: Path) -> Any:
    """Run one claimed job (an EvaluationRecord) to its end; returns the Store's final record of it.

    A job cancelled or failed as stale meanwhile makes the Store refuse the samples (InvalidTransition);
    the caller keeps the verdict that is already there.
    """
    try:
        rows, metrics = execute(store, evaluation, home)
    except Exception as exc:
        return store.finish_evaluation(evaluation.id, "failed", error=describe(exc))
    store.log_evaluation_samples(evaluation.id, rows)
    return store.finish_evaluation(evaluation.id, "succeeded", metrics=metrics)


def execute(store: JobStore, evaluation: Any, home: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate and score a job's samples: (sample rows, metrics)."""
    base_config = store.get_run(evaluation.run_id).config if evaluation.run_id is not None else {}
    settings = job_settings(evaluation.kind, evaluation.config or {}, base_config, evaluation.model)
    examples = job_examples(evaluation.kind, evaluation.dataset, settings)  # before the model: bad data fails fast
    checkpoint = (
        None if evaluation.run_id is None else checkpoint_path(store, evaluation.run_id, evaluation.checkpoint_step)
    )
    model, tokenizer = load_model(settings.run_config, home)
    judge = model
    if checkpoint is not None:
        model = PeftModel.from_pretrained(model, str(checkpoint))
        judge = AdapterDisabled(model) if settings.judge == "base" else model
    result = evaluate(model, tokenizer, settings.run_config, examples, settings.samples, settings.seed, judge)
    if evaluation.kind == "playground" and settings.reference is None:
        # Nothing to score against: the perplexity and verdict evaluate() computed for an empty reference mean nothing.
        result = EvalResult(tuple(dataclasses.replace(s, perplexity=None, correct=None) for s in result.samples))
    return sample_rows(result, settings.seed), job_metrics(result)


def job_settings(kind: str, config: Mapping[str, Any], base_config: Mapping[str, Any], model: str) -> JobSettings:
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}; a worker runs {' and '.join(KINDS)} jobs")
    unknown = sorted(set(config) - set(DEFAULTS[kind]))
    if unknown:
        raise JobError(
            f"unknown {kind} setting(s) {', '.join(map(repr, unknown))}; {kind} jobs take {', '.join(DEFAULTS[kind])}"
        )
    values = {**DEFAULTS[kind], **config}
    if not isinstance(values["run_config"], dict):
        raise JobError(f"run_config must be a dict of RunConfig fields, got {values['run_config']!r}")
    try:
        run_config = RunConfig.from_dict({**base_config, **values["run_config"], "model": model})
    except ConfigError as exc:
        raise JobError(f"run_config: {exc}") from None
    for name, low in (("samples", 1), ("seed", 0), ("max_prompts", 1)):
        if name in values and (type(values[name]) is not int or values[name] < low):
            raise JobError(f"{name} must be a whole number >= {low}, got {values[name]!r}")
    if values["judge"] not in JUDGES:
        raise JobError(f"judge must be one of {', '.join(JUDGES)}, got {values['judge']!r}")
    common = dict(run_config=run_config, samples=values["samples"], seed=values["seed"], judge=values["judge"])
    if kind == "evaluation":
        if not isinstance(values["split"], str) or not values["split"].strip():
            raise JobError(f"split must name a split of the data (e.g. 'test'), got {values['split']!r}")
        return JobSettings(**common, split=values["split"].strip(), max_prompts=values["max_prompts"])
    prompts = values["prompts"]
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise JobError(f"prompts must be a non-empty list of non-empty strings, got {prompts!r}")
    reference = values["reference"]
    if reference is not None and not isinstance(reference, str):
        raise JobError(f"reference must be a string or None, got {reference!r}")
    reference = reference.strip() if reference and reference.strip() else None
    return JobSettings(**common, prompts=tuple(p.strip() for p in prompts), reference=reference)


def job_examples(kind: str, dataset: str, settings: JobSettings) -> tuple[Example, ...]:
    if kind == "playground":
        reference = settings.reference or ""
        return tuple(
            Example(f"prompt {number}", prompt, reference, None)
            for number, prompt in enumerate(settings.prompts, start=1)
        )
    config = settings.run_config
    return load_examples(
        dataset,
        config.prompt_column,
        config.reference_column,
        config.split_column,
        settings.split,
        settings.max_prompts,
    ).examples


def checkpoint_path(store: JobStore, run_id: int, step: int) -> Path:
    checkpoints = store.list_checkpoints(run_id)
    found = [c for c in checkpoints if c.step == step]
    if not found:
        steps = ", ".join(str(c.step) for c in checkpoints)
        saved = f"its checkpoints are at steps {steps}" if steps else "it has saved no checkpoint yet"
        raise JobError(f"run {run_id} has no checkpoint at step {step}; {saved}. Queue the evaluation for one of them")
    path = Path(found[0].path)
    if not (path / "adapter_config.json").is_file():
        raise JobError(
            f"checkpoint of run {run_id} at step {step} is not on this machine: {path} has no "
            f"adapter_config.json. Run the job on the machine that trained the run, or copy the folder"
        )
    return path


class AdapterDisabled:
    """The base model under a PEFT model, without a second copy of its weights: each call runs with the adapter
    off. Stands in for a model where evaluate() needs one (parameters(), eval(), calling it)."""

    def __init__(self, model: PeftModel):
        self._model = model

    def parameters(self):  # type: ignore[no-untyped-def]
        return self._model.parameters()

    def eval(self) -> AdapterDisabled:
        self._model.eval()
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._model.disable_adapter():
            return self._model(*args, **kwargs)


def sample_rows(result: EvalResult, seed: int) -> list[dict[str, Any]]:
    return [
        dict(
            sample_index=i,
            prompt=s.example.prompt,
            reference=s.example.reference,
            completion=s.completion,
            reasoning=s.reasoning,
            answer=s.answer,
            format_valid=s.valid,
            perplexity=s.perplexity,
            correct=s.correct,
            extras={"completion_tokens": s.completion_tokens, "example_id": s.example.id, "seed": seed},
        )
        for i, s in enumerate(result.samples)
    ]


def job_metrics(result: EvalResult) -> dict[str, float | None]:
    """EvalResult.metrics() plus the mean answer length, as JSON values (an average over nothing is None)."""
    answers = [len(s.answer or "") for s in result.samples if s.valid]
    metrics = {**result.metrics(), "mean_answer_chars": sum(answers) / len(answers) if answers else math.nan}
    return {key: None if math.isnan(value) else value for key, value in metrics.items()}


def describe(exc: BaseException) -> str:
    """One paragraph: the message of an expected error (it says what to do); type and place of any other."""
    if isinstance(exc, (JobError, DataError, ModelLoadError)):
        return str(exc).replace("\n", " ")
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (in {frames[-1].name}, {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")
