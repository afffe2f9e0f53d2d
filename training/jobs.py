"""Evaluation and playground jobs: what a worker does with a claimed row of the `evaluations` table.

The UI queues a job with `Store.queue_evaluation(kind, model, dataset, config, run_id, checkpoint_step)`; a
worker claims it when no run is queued, rebuilds its typed config and hands it to its executor
(training/execute.py `run_job`), which calls `execute`: generate with the base `model` (run_id None) or with
`model` plus the run's LoRA adapter saved at `checkpoint_step`, and return one sample row per completion and the
metrics, or raise JobFailed with a one-paragraph message. The executor stores them and ends the job.

`config` is the job's contract as stored: `to_dict()` of an EvaluationJob or PlaygroundJob (training/job_config.py,
which documents every setting), validated when it was queued and rebuilt by the worker with `from_dict`. A row
queued before job configs were typed holds some settings and a partial `run_config` to merge over its run's stored
config; the worker rebuilds it the old way once (`worker._stored_job`), then validates it like any other.

Each sample row: prompt (the question as given, before the template), reference, completion, reasoning,
answer, format_valid, perplexity, correct, extras {"completion_tokens", "example_id", "seed"}. Metrics:
`EvalResult.metrics()` plus `mean_answer_chars` (over format-valid samples); an average over nothing is None.

Training code knows no database: the executor reads what a job needs from the Store (its run's checkpoint
folders by step) and hands it over as plain values.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from peft import PeftModel

from training.config import ConfigError
from training.data import DataError, Example, load_examples
from training.evaluate import EvalResult, evaluate
from training.interface import JobFailed
from training.job_config import EvaluationJob, PlaygroundJob
from training.model import ModelLoadError, load_model


class JobError(ValueError):
    """A job cannot run as queued; the message says what is wrong and what to do."""


def execute(
    job: EvaluationJob | PlaygroundJob, evaluation: Any, checkpoints: Mapping[int, Path], home: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate and score a claimed job's samples: (sample rows, metrics). `job` is the row's validated config,
    `evaluation` the row (its dataset and checkpoint), `checkpoints` its run's checkpoint folders by step (empty for
    a job on the base model). Any failure raises JobFailed with the one paragraph the job keeps."""
    try:
        return _execute(job, evaluation, checkpoints, home)
    except Exception as exc:
        raise JobFailed(describe(exc)) from exc


def _execute(
    job: EvaluationJob | PlaygroundJob, evaluation: Any, checkpoints: Mapping[int, Path], home: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    examples = job_examples(evaluation.dataset, job)  # before the model: bad data fails fast
    checkpoint = (
        None
        if evaluation.run_id is None
        else checkpoint_path(evaluation.run_id, evaluation.checkpoint_step, checkpoints)
    )
    model, tokenizer = load_model(job.run_config, home)
    judge = model
    if checkpoint is not None:
        model = PeftModel.from_pretrained(model, str(checkpoint))
        judge = AdapterDisabled(model) if job.judge == "base" else model
    result = evaluate(model, tokenizer, job.run_config, examples, job.samples, job.seed, judge)
    if isinstance(job, PlaygroundJob) and job.reference is None:
        # Nothing to score against: the perplexity and verdict evaluate() computed for an empty reference mean nothing.
        result = EvalResult(tuple(dataclasses.replace(s, perplexity=None, correct=None) for s in result.samples))
    return sample_rows(result, job.seed), job_metrics(result)


def job_examples(dataset: str, job: EvaluationJob | PlaygroundJob) -> tuple[Example, ...]:
    if isinstance(job, PlaygroundJob):
        reference = job.reference or ""
        return tuple(
            Example(f"prompt {number}", prompt, reference, None) for number, prompt in enumerate(job.prompts, start=1)
        )
    config = job.run_config
    return load_examples(
        dataset,
        config.prompt_column,
        config.reference_column,
        config.split_column,
        job.split,
        job.max_prompts,
        # The run's config name belongs to the run's dataset; another dataset named for the evaluation has its own.
        config_name=config.dataset_config if dataset == config.dataset else None,
    ).examples


def checkpoint_path(run_id: int, step: int, checkpoints: Mapping[int, Path]) -> Path:
    """The folder of run `run_id`'s checkpoint at `step`, given the run's checkpoint folders by step."""
    if step not in checkpoints:
        steps = ", ".join(str(saved) for saved in checkpoints)
        saved = f"its checkpoints are at steps {steps}" if steps else "it has saved no checkpoint yet"
        raise JobError(f"run {run_id} has no checkpoint at step {step}; {saved}. Queue the evaluation for one of them")
    path = checkpoints[step]
    if not (path / "adapter_config.json").is_file():
        raise JobError(
            f"checkpoint of run {run_id} at step {step} is not on this machine: {path} has no "
            f"adapter_config.json. Run the job on the machine that trained the run, or copy the folder (workers that "
            "share an artifact store, --artifacts, fetch checkpoints from it)"
        )
    return path


class AdapterDisabled:
    """The base model under a PEFT model, without a second copy of its weights: each call runs with the adapter
    off. Stands in for a model where evaluate() needs one (parameters(), eval(), calling it)."""

    def __init__(self, model: PeftModel):
        self._model = model

    def parameters(self):  # type: ignore[no-untyped-def]  # torch parameters, as the wrapped PEFT model gives them
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
    if isinstance(exc, (JobError, ConfigError, DataError, ModelLoadError)):
        return str(exc).replace("\n", " ")
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (in {frames[-1].name}, {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")
