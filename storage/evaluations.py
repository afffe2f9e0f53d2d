"""The Store's evaluation and playground jobs: queued by the UI, claimed and run by a worker like a run.

A job moves queued -> running -> succeeded | failed | cancelled (`storage.lifecycle.transition`); its worker
beats while it runs, and a job whose worker fell silent is failed by whoever looks (`fail_stale_evaluations`).

A held-out evaluation made by a trainer during its run (kind HELDOUT_KIND) is no job: it is recorded finished, with
its samples and the run's eval/* metrics at that step, by `record_heldout_evaluation`, and never queued or claimed.
The Evaluate tab lists jobs of kind "evaluation" only; the Metrics tab opens a held-out one from its chart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from storage.errors import EvaluationNotFound, InvalidTransition, RunNotFound, StorageError
from storage.lifecycle import STALE_RUN_ERROR, claim_oldest, transition, utcnow
from storage.models import JOB_KIND_MAX, Evaluation, EvaluationSample, Run
from storage.records import EvaluationRecord, EvaluationSampleRecord, to_record
from storage.rows import evaluation_sample_values
from storage.statuses import ACTIVE_STATUSES, TERMINAL_STATUSES, Status
from storage.summaries import insert_metrics
from storage.workers import mark_seen

HELDOUT_KIND = "heldout"
"""The kind of an Evaluation a trainer recorded during its run (training/heldout_eval.py), beside the job kinds."""


class EvaluationJobs:
    """Mixed into Store: every method runs in one of its session scopes and returns frozen records."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]
    summary_levels: tuple[int, ...]

    def queue_evaluation(
        self,
        kind: str,
        model: str,
        dataset: str,
        config: dict[str, Any],
        run_id: int | None = None,
        checkpoint_step: int | None = None,
    ) -> EvaluationRecord:
        """Queue a job for the workers: a held-out evaluation or a playground generation.

        The model is the base `model` (run_id None) or `model` with the adapter of run `run_id` saved at
        `checkpoint_step`; `config` holds the job's settings (a to_dict() of training/job_config.py, validated by
        the caller). `dataset` is the data source of an evaluation and a label (e.g. 'playground') of a playground
        job.
        """
        # Which kinds exist is training's to say (training/job_config.py JOB_KINDS), and its caller validated the
        # job against it; the Store only keeps the value within its column, which PostgreSQL would enforce.
        if not kind.strip() or len(kind) > JOB_KIND_MAX:
            raise StorageError(f"a job's kind is a name of 1 to {JOB_KIND_MAX} characters, got {kind!r}")
        if not model.strip():
            raise StorageError("an evaluation needs a model id or folder, got an empty string")
        if not isinstance(config, dict):
            raise StorageError(f"an evaluation's config is a dict of settings, got {type(config).__name__}")
        if (run_id is None) != (checkpoint_step is None):
            raise StorageError(
                f"a checkpoint is named by both run_id and checkpoint_step, got run_id={run_id} "
                f"and checkpoint_step={checkpoint_step}; give both, or neither for the base model"
            )
        with self._session(f"queue a job ({kind})", write=True) as s:
            if run_id is not None and s.get(Run, run_id) is None:
                raise RunNotFound(f"run {run_id} does not exist")
            evaluation = Evaluation(
                kind=kind,
                run_id=run_id,
                model=model.strip(),
                checkpoint_step=checkpoint_step,
                dataset=dataset,
                config=dict(config),
                status=Status.QUEUED,
                created_at=utcnow(),
            )
            s.add(evaluation)
            s.flush()
            return to_record(EvaluationRecord, evaluation)

    def record_heldout_evaluation(
        self,
        run_id: int,
        step: int,
        config: dict[str, Any],
        metrics: Mapping[str, float],
        samples: Sequence[Mapping[str, Any]],
    ) -> EvaluationRecord:
        """Record a held-out evaluation of running run `run_id` at `step` in one transaction: `metrics` (its eval/*
        keys) as the run's metrics at that step, and one succeeded Evaluation of kind HELDOUT_KIND
        (checkpoint_step=step, the run's model and data, `config` its settings) holding the metrics and `samples`
        (keys as EvaluationSampleRecord, without the ids). InvalidTransition when the run is no longer running."""
        if not isinstance(config, dict):
            raise StorageError(f"an evaluation's config is a dict of settings, got {type(config).__name__}")
        with self._session(f"record the held-out evaluation of run {run_id} at step {step}", write=True) as s:
            run = s.get(Run, run_id)
            if run is None:
                raise RunNotFound(f"run {run_id} does not exist")
            if run.status != Status.RUNNING:
                raise InvalidTransition(f"run {run_id} is {run.status}, not running; its trainer must stop")
            now = utcnow()
            if metrics:
                insert_metrics(s, run_id, step, metrics, self.summary_levels, time.time())
            evaluation = Evaluation(
                kind=HELDOUT_KIND,
                run_id=run_id,
                model=str(run.config.get("model") or "?"),
                checkpoint_step=step,
                dataset=str(run.config.get("dataset", "")),
                config=dict(config),
                # Made and ended by the trainer, never queued: it starts life finished.
                status=Status.SUCCEEDED,
                metrics=dict(metrics),
                created_at=now,
                started_at=now,
                finished_at=now,
            )
            s.add(evaluation)
            s.flush()
            if samples:
                s.execute(
                    EvaluationSample.__table__.insert(),
                    [evaluation_sample_values(evaluation.id, row) for row in samples],
                )
            return to_record(EvaluationRecord, evaluation)

    def heldout_evaluation(self, run_id: int, step: int) -> EvaluationRecord | None:
        """Run `run_id`'s held-out evaluation made during training at `step` (the newest if several), or None."""
        query = (
            select(Evaluation)
            .where(Evaluation.run_id == run_id, Evaluation.kind == HELDOUT_KIND, Evaluation.checkpoint_step == step)
            .order_by(Evaluation.id.desc())
            .limit(1)
        )
        with self._session("read a held-out evaluation") as s:
            found = s.scalars(query).first()
            return None if found is None else to_record(EvaluationRecord, found)

    def get_evaluation(self, evaluation_id: int) -> EvaluationRecord:
        with self._session("read an evaluation") as s:
            return to_record(EvaluationRecord, _evaluation(s, evaluation_id))

    def list_evaluations(
        self, run_id: int | None = None, kind: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[EvaluationRecord]:
        """Evaluations and playground jobs, oldest first, optionally of one run, one kind, some statuses."""
        query = select(Evaluation).order_by(Evaluation.id)
        if run_id is not None:
            query = query.where(Evaluation.run_id == run_id)
        if kind is not None:
            query = query.where(Evaluation.kind == kind)
        if statuses is not None:
            query = query.where(Evaluation.status.in_(statuses))
        with self._session("list evaluations") as s:
            return [to_record(EvaluationRecord, e) for e in s.scalars(query)]

    def list_evaluations_of_data(self, run_id: int, kind: str = "evaluation") -> list[EvaluationRecord]:
        """Jobs of `kind` on run `run_id`'s data (the same stored file or dataset id) whichever model they evaluated
        (any run's checkpoint, the base model), and the run's own ones on other data, base-model ones queued from
        it included; oldest first. RunNotFound when the run is gone."""
        with self._session("list the evaluations of a run's data") as s:
            run = s.get(Run, run_id)
            if run is None:
                raise RunNotFound(f"run {run_id} does not exist")
            config, dataset = run.config, run.config.get("dataset", "")
            # A base-model job names no run: the ones on other data are told by the run config they were queued with.
            query = (
                select(Evaluation)
                .where(
                    Evaluation.kind == kind,
                    or_(Evaluation.dataset == dataset, Evaluation.run_id == run_id, Evaluation.run_id.is_(None)),
                )
                .order_by(Evaluation.id)
            )
            return [
                to_record(EvaluationRecord, e)
                for e in s.scalars(query)
                if e.dataset == dataset or e.run_id == run_id or (e.config or {}).get("run_config") == config
            ]

    def evaluations_version(
        self, kind: str | None = None, ids: Sequence[int] | None = None
    ) -> tuple[int, int, str, str, str]:
        """(count, highest id, latest queued, started and ended times) of the jobs of one kind or with these ids:
        one small read that changes whenever such a job is queued, deleted, starts or ends, so a page polls it
        and redraws only on change."""
        query = select(
            func.count(),
            func.max(Evaluation.id),
            # SQLite may reuse a deleted highest id: the queued time still tells the new job from the old one.
            func.max(Evaluation.created_at),
            func.max(Evaluation.started_at),
            func.max(Evaluation.finished_at),
        )
        if kind is not None:
            query = query.where(Evaluation.kind == kind)
        if ids is not None:
            query = query.where(Evaluation.id.in_(list(ids)))
        with self._session("read the jobs' version") as s:
            count, last_id, *times = s.execute(query).one()
        # Plain values (0 and "" for none), so the page's state compares two versions by value.
        created, started, finished = (str(time or "") for time in times)
        return count, last_id or 0, created, started, finished

    def claim_next_evaluation(self, worker_id: str) -> EvaluationRecord | None:
        """Atomically move the oldest queued evaluation to running for this worker; None when none is queued."""
        with self._session("claim an evaluation", write=True) as s:
            evaluation = claim_oldest(s, Evaluation, worker_id)
            return None if evaluation is None else to_record(EvaluationRecord, evaluation)

    def heartbeat_evaluation(self, evaluation_id: int) -> None:
        with self._session("record an evaluation heartbeat", write=True) as s:
            evaluation = _running_evaluation(s, evaluation_id)
            evaluation.heartbeat_at = utcnow()
            mark_seen(s, evaluation.worker_id)  # a worker busy with a job is live

    def cancel_evaluation(self, evaluation_id: int) -> EvaluationRecord:
        """Cancel a queued or running evaluation at once (a running one's results are then discarded by its
        worker when it ends); one that has already ended is left as it is."""
        with self._session("cancel an evaluation", write=True) as s:
            evaluation = _evaluation(s, evaluation_id)
            if evaluation.status in ACTIVE_STATUSES:
                transition(evaluation, Status.CANCELLED)
            return to_record(EvaluationRecord, evaluation)

    def log_evaluation_samples(self, evaluation_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store samples of a running evaluation (keys as EvaluationSampleRecord, without the ids)."""
        with self._session("log evaluation samples", write=True) as s:
            _running_evaluation(s, evaluation_id)
            if rows:
                s.execute(
                    EvaluationSample.__table__.insert(), [evaluation_sample_values(evaluation_id, row) for row in rows]
                )

    def finish_evaluation(
        self, evaluation_id: int, status: Status, metrics: dict[str, Any] | None = None, error: str | None = None
    ) -> EvaluationRecord:
        if status not in TERMINAL_STATUSES:
            raise StorageError(f"an evaluation finishes as one of {', '.join(TERMINAL_STATUSES)}, not {status!r}")
        with self._session("finish an evaluation", write=True) as s:
            evaluation = _evaluation(s, evaluation_id)
            transition(evaluation, status, error)
            evaluation.metrics = metrics
            return to_record(EvaluationRecord, evaluation)

    def fail_stale_evaluations(self, max_age_s: float) -> list[int]:
        """Fail running evaluations whose worker has not beaten for max_age_s seconds; returns their ids."""
        now = utcnow()
        cutoff = now - dt.timedelta(seconds=max_age_s)
        with self._session("fail stale evaluations", write=True) as s:
            stale = s.scalars(
                select(Evaluation).where(Evaluation.status == Status.RUNNING, Evaluation.heartbeat_at < cutoff)
            ).all()
            for evaluation in stale:
                age = (now - evaluation.heartbeat_at).total_seconds() if evaluation.heartbeat_at else max_age_s
                transition(evaluation, Status.FAILED, STALE_RUN_ERROR.format(age=age))
            return [evaluation.id for evaluation in stale]

    def get_evaluation_samples(self, evaluation_id: int) -> list[EvaluationSampleRecord]:
        query = (
            select(EvaluationSample)
            .where(EvaluationSample.evaluation_id == evaluation_id)
            .order_by(EvaluationSample.sample_index)
        )
        with self._session("read evaluation samples") as s:
            return [to_record(EvaluationSampleRecord, sample) for sample in s.scalars(query)]


def _evaluation(s: Session, evaluation_id: int) -> Evaluation:
    evaluation = s.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise EvaluationNotFound(f"evaluation {evaluation_id} does not exist")
    return evaluation


def _running_evaluation(s: Session, evaluation_id: int) -> Evaluation:
    evaluation = _evaluation(s, evaluation_id)
    if evaluation.status != Status.RUNNING:
        raise InvalidTransition(f"evaluation {evaluation_id} is {evaluation.status}, not running; its worker must stop")
    return evaluation
