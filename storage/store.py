"""The Store: every read and write of nover_ui's database goes through it.

Each public method runs in one session scope (one transaction) and returns frozen records. Status changes
go through `storage.lifecycle.transition`, which also stamps the started/finished times. The methods of
evaluation and playground jobs live in `storage.evaluations`, those of the failure-flag backfill in
`storage.flag_backlog`, those of the worker registry in `storage.workers`, experiments with runs' tags and notes in
`storage.experiments`, alerts in `storage.alerts`, and the machines of runs that span several in `storage.machines`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Float, case, cast, delete, exists, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.alerts import Alerts
from storage.engine import WRITE_OPTION, make_engine
from storage.errors import CheckpointNotFound, InvalidTransition, RunNotFound, StorageError
from storage.evaluations import EvaluationJobs
from storage.experiments import Experiments
from storage.flag_backlog import FlagBacklog, rollout_record
from storage.imports import RunImports
from storage.lifecycle import STALE_RUN_ERROR, claim_oldest, fail_interrupted, transition, utcnow
from storage.machines import Machines
from storage.migrate import upgrade_to_head
from storage.models import (
    PHASE_MAX,
    RUN_NAME_MAX,
    Alert,
    Checkpoint,
    Evaluation,
    EvaluationSample,
    Metric,
    MetricSummary,
    Prompt,
    Rollout,
    Run,
    RunMachine,
)
from storage.records import (
    CheckpointRecord,
    MetricSeries,
    PromptRecord,
    PromptStep,
    RolloutRecord,
    RunRecord,
    to_record,
)
from storage.rows import check_rollout_row, prompt_ids, rollout_values, without_nul
from storage.statuses import ACTIVE_STATUSES, CANCELLING, Status
from storage.summaries import LEVELS, MetricSummaries, check_levels, insert_metrics, raw_series
from storage.workers import Workers, mark_seen


class Store(EvaluationJobs, RunImports, FlagBacklog, MetricSummaries, Workers, Experiments, Alerts, Machines):
    def __init__(self, url: str, summary_levels: Sequence[int] = LEVELS):
        """`summary_levels`: steps per bucket of the metric summaries it writes and reads (tests use small ones;
        a database keeps the levels it was written with, so one database is opened with one set)."""
        self.url = url
        self.summary_levels = check_levels(summary_levels)
        self._engine = make_engine(url)
        try:
            upgrade_to_head(self._engine)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise StorageError(
                f"cannot open database {self._engine.url!r}: {getattr(exc, 'orig', exc)}. "
                "Check the path or server address, that it exists and that you may write "
                "to it."
            ) from None
        self._read_sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self._engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    def close(self) -> None:
        self._engine.dispose()

    @contextlib.contextmanager
    def _session(self, action: str, write: bool = False) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error, SQLAlchemy errors as StorageError."""
        session = (self._write_sessions if write else self._read_sessions)()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"could not {action}: {getattr(exc, 'orig', None) or exc}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # ---- run lifecycle ----------------------------------------------------------------------------

    def create_run(self, name: str, config: dict[str, Any], parent_id: int | None = None) -> RunRecord:
        if not name.strip():
            raise StorageError("a run needs a non-empty name")
        if len(name.strip()) > RUN_NAME_MAX:  # PostgreSQL enforces the column's length, SQLite would not
            raise StorageError(f"a run name has at most {RUN_NAME_MAX} characters, got {len(name.strip())}")
        with self._session("create a run", write=True) as s:
            run = Run(
                name=name.strip(), status=Status.QUEUED, config=dict(config), created_at=utcnow(), parent_id=parent_id
            )
            s.add(run)
            s.flush()
            return to_record(RunRecord, run)

    def get_run(self, run_id: int) -> RunRecord:
        with self._session("read a run") as s:
            return to_record(RunRecord, _run(s, run_id))

    def list_runs(
        self, statuses: Sequence[str] | None = None, experiment_id: int | None = None, tag: str | None = None
    ) -> list[RunRecord]:
        """Runs, newest first; only those with one of `statuses`, of the experiment, with the tag, when given."""
        query = select(Run).order_by(Run.id.desc())
        if statuses is not None:
            query = query.where(Run.status.in_(statuses))
        if experiment_id is not None:
            query = query.where(Run.experiment_id == experiment_id)
        with self._session("list runs") as s:
            runs = [to_record(RunRecord, run) for run in s.scalars(query)]
        # Tags are a JSON list, which SQLite and PostgreSQL search differently; a Runs table's rows filter fast here.
        return runs if tag is None else [run for run in runs if tag in run.tags]

    def claim_next_run(
        self, worker_id: str, can_run: Callable[[dict[str, Any]], bool] | None = None
    ) -> RunRecord | None:
        """Atomically move the oldest queued run to running for this worker; None when nothing is queued.

        `can_run` (a stored config -> whether this worker's machine can train it) passes over the runs it cannot,
        leaving them queued for a worker that can; the oldest of the others is claimed."""
        with self._session("claim a run", write=True) as s:
            run = claim_oldest(s, Run, worker_id, can_run)
            return None if run is None else to_record(RunRecord, run)

    def start_run(self, run_id: int, worker_id: str) -> RunRecord:
        """Claim one particular queued run (a run started from the command line rather than the queue)."""
        with self._session("start a run", write=True) as s:
            run = _run(s, run_id)
            transition(run, Status.RUNNING)
            run.worker_id, run.heartbeat_at = worker_id, utcnow()
            return to_record(RunRecord, run)

    def heartbeat(self, run_id: int, step: int | None = None, total_steps: int | None = None) -> None:
        with self._session("record a heartbeat", write=True) as s:
            _beat(s, _running_run(s, run_id), step, total_steps)

    def request_cancel(self, run_id: int) -> RunRecord:
        """Cancel a queued run at once; ask a running one to stop after its current step (its phase says
        CANCELLING until it has)."""
        with self._session("cancel a run", write=True) as s:
            run = _run(s, run_id)
            if run.status == Status.QUEUED:
                transition(run, Status.CANCELLED)
            elif run.status == Status.RUNNING:
                run.cancel_requested, run.phase = True, CANCELLING
            return to_record(RunRecord, run)

    def set_phase(self, run_id: int, phase: str | None) -> RunRecord:
        """Say what a running run does while no step lands (loading the model, the first generation), or None
        once steps flow; its worker writes it. A run asked to cancel keeps CANCELLING until it ends."""
        if phase is not None and len(phase) > PHASE_MAX:
            raise StorageError(f"a run's phase has at most {PHASE_MAX} characters, got {len(phase)}: {phase!r}")
        with self._session("record a run's phase", write=True) as s:
            run = _running_run(s, run_id)
            if not run.cancel_requested:
                run.phase = phase
            return to_record(RunRecord, run)

    def set_run_command(self, run_id: int, command: str) -> RunRecord:
        """Record the command line that trains the run (shown on its page); the worker sets it when it starts."""
        with self._session("record a run's command", write=True) as s:
            run = _run(s, run_id)
            run.command = command
            return to_record(RunRecord, run)

    def set_generation_server_log(self, run_id: int, lines: str) -> RunRecord:
        """Keep the last lines of the run's vLLM server output (shown on its page); its worker writes them when the
        server stopped or failed to start, which may be after the run ended."""
        with self._session("record a run's generation server output", write=True) as s:
            run = _run(s, run_id)
            run.generation_server_log = lines.replace("\0", "\ufffd")  # PostgreSQL text holds no NUL
            return to_record(RunRecord, run)

    def is_cancel_requested(self, run_id: int) -> bool:
        with self._session("read a cancel flag") as s:
            return _run(s, run_id).cancel_requested

    def finish_run(self, run_id: int, status: Status, error: str | None = None) -> RunRecord:
        with self._session("finish a run", write=True) as s:
            run = _run(s, run_id)
            transition(run, status, error)
            return to_record(RunRecord, run)

    def fail_stale_runs(self, max_age_s: float, resume: bool = False) -> list[int]:
        """Fail running runs whose worker has not beaten for max_age_s seconds; returns their ids.

        With `resume`, each is continued by a new queued run from its last checkpoint (the app's
        --interrupted resume), in the same transaction.
        """
        now = utcnow()
        cutoff = now - dt.timedelta(seconds=max_age_s)
        with self._session("fail stale runs", write=True) as s:
            # Locked rows are being failed by another process (PostgreSQL): skip them rather than resume twice.
            stale = s.scalars(
                select(Run)
                .where(Run.status == Status.RUNNING, Run.heartbeat_at < cutoff)
                .with_for_update(skip_locked=True)
            ).all()
            for run in stale:
                age = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else max_age_s
                fail_interrupted(s, run, STALE_RUN_ERROR.format(age=age), resume)
            return [run.id for run in stale]

    def interrupt_run(self, run_id: int, error: str, resume: bool = False) -> RunRecord:
        """Fail a running run its own worker could not finish (shut down); with `resume`, as fail_stale_runs."""
        with self._session("fail an interrupted run", write=True) as s:
            run = _run(s, run_id, lock=True)  # waits for a concurrent stale check, then sees its verdict
            fail_interrupted(s, run, error, resume)
            return to_record(RunRecord, run)

    def delete_run(self, run_id: int) -> list[CheckpointRecord]:
        """Delete a run and every row that refers to it: metrics, prompts, rollouts, checkpoints, and the evaluation
        and playground jobs of its checkpoints with their samples (base-model evaluations stay; runs resumed from
        it lose only the link). Returns its checkpoints, whose files the caller may remove.

        Refused while the run or one of its jobs runs, or while a run waits to resume from its checkpoints.
        """
        with self._session("delete a run", write=True) as s:
            run = _run(s, run_id)
            if run.status == Status.RUNNING:
                raise InvalidTransition(f"run {run_id} is running; cancel it and wait for it to stop first")
            job = s.scalar(
                select(Evaluation.id).where(Evaluation.run_id == run_id, Evaluation.status == Status.RUNNING)
            )
            if job is not None:
                raise InvalidTransition(f"job {job} on run {run_id}'s checkpoints is running; wait for it to end")
            child = s.scalar(select(Run.id).where(Run.parent_id == run_id, Run.status.in_(ACTIVE_STATUSES)))
            if child is not None:
                raise InvalidTransition(f"run {child} resumes from run {run_id}'s checkpoints; cancel it first")
            checkpoints = [
                to_record(CheckpointRecord, c) for c in s.scalars(select(Checkpoint).where(Checkpoint.run_id == run_id))
            ]
            # Explicit rather than left to ON DELETE CASCADE, so no table depends on the backend enforcing it.
            jobs = select(Evaluation.id).where(Evaluation.run_id == run_id)
            s.execute(delete(EvaluationSample).where(EvaluationSample.evaluation_id.in_(jobs)))
            for table in (Evaluation, Rollout, Prompt, Metric, MetricSummary, Checkpoint, Alert, RunMachine):
                s.execute(delete(table).where(table.run_id == run_id))
            s.execute(update(Run).where(Run.parent_id == run_id).values(parent_id=None))
            s.execute(delete(Run).where(Run.id == run_id))
            return checkpoints

    # ---- per-step data ----------------------------------------------------------------------------

    def log_metrics(self, run_id: int, step: int, metrics: Mapping[str, float]) -> None:
        self.log_step(run_id, step, metrics=metrics)

    def log_rollouts(self, run_id: int, step: int, rows: Sequence[Mapping[str, Any]]) -> None:
        self.log_step(run_id, step, rollouts=rows)

    def log_step(
        self,
        run_id: int,
        step: int,
        metrics: Mapping[str, float] | None = None,
        rollouts: Sequence[Mapping[str, Any]] = (),
        total_steps: int | None = None,
        heartbeat: bool = False,
    ) -> None:
        """Write one step's metrics and rollouts (and optionally a heartbeat) in one transaction."""
        for row in rollouts:
            check_rollout_row(row)
        rollouts = [without_nul(row) for row in rollouts]
        with self._session(f"log step {step} of run {run_id}", write=True) as s:
            run = _run(s, run_id)
            if heartbeat:
                _beat(s, _running_run(s, run_id), step, total_steps)
            if metrics:
                insert_metrics(s, run.id, step, metrics, self.summary_levels, time.time())
            if rollouts:
                ids = prompt_ids(s, run.id, rollouts)
                s.execute(Rollout.__table__.insert(), [rollout_values(run.id, step, row, ids) for row in rollouts])

    def get_metrics(
        self, run_id: int, keys: Sequence[str] | None = None, since_step: int | None = None
    ) -> dict[str, MetricSeries]:
        """A run's metric series by key, ordered by step; only steps >= since_step when given (a chart's update).
        A chart of a whole run reads get_metric_summary instead."""
        with self._session("read metrics") as s:
            return raw_series(s, run_id, keys, since_step)

    def get_rollouts(
        self,
        run_id: int,
        step: int | None = None,
        prompt_id: int | None = None,
        group_index: int | None = None,
        limit: int | None = None,
    ) -> list[RolloutRecord]:
        """Rollouts of a run ordered by step, group and sample, optionally narrowed to one step/prompt/group."""
        query = (
            select(Rollout, Prompt.prompt, Prompt.reference)
            .join(Prompt, Rollout.prompt_id == Prompt.id)
            .where(Rollout.run_id == run_id)
            .order_by(Rollout.step, Rollout.group_index, Rollout.sample_index)
        )
        if step is not None:
            query = query.where(Rollout.step == step)
        if prompt_id is not None:
            query = query.where(Rollout.prompt_id == prompt_id)
        if group_index is not None:
            query = query.where(Rollout.group_index == group_index)
        if limit is not None:
            query = query.limit(limit)
        with self._session("read rollouts") as s:
            return [rollout_record(rollout, prompt, reference) for rollout, prompt, reference in s.execute(query)]

    def search_rollouts(self, run_id: int, text: str, limit: int = 50) -> list[RolloutRecord]:
        """Rollouts of a run whose completion contains `text` (case-insensitive), oldest step first."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = (
            select(Rollout, Prompt.prompt, Prompt.reference)
            .join(Prompt, Rollout.prompt_id == Prompt.id)
            .where(Rollout.run_id == run_id, Rollout.completion.ilike(pattern, escape="\\"))
            .order_by(Rollout.step, Rollout.group_index, Rollout.sample_index)
            .limit(limit)
        )
        with self._session("search rollouts") as s:
            return [rollout_record(rollout, prompt, reference) for rollout, prompt, reference in s.execute(query)]

    def rollout_steps(self, run_id: int) -> tuple[int, int] | None:
        """(first, last) step with rollouts, or None before the first; served by the (run, step) index."""
        with self._session("read rollout steps") as s:
            first, last = s.execute(
                select(func.min(Rollout.step), func.max(Rollout.step)).where(Rollout.run_id == run_id)
            ).one()
        return None if first is None else (first, last)

    def format_valid_counts(self, run_id: int) -> dict[int, tuple[int, int]]:
        """(format-valid rollouts, all rollouts) of each step that has rollouts: one grouped read over the
        (run, step) index, for the pages that say when a step or a whole run got no NOVER signal."""
        valid = func.sum(case((Rollout.format_valid, 1), else_=0))
        query = (
            select(Rollout.step, valid, func.count())
            .where(Rollout.run_id == run_id)
            .group_by(Rollout.step)
            .order_by(Rollout.step)
        )
        with self._session("count format-valid rollouts") as s:
            return {step: (int(n_valid or 0), int(total)) for step, n_valid, total in s.execute(query)}

    def has_format_valid(self, run_id: int) -> bool:
        """Whether any rollout of the run is format-valid: it stops at the first one, where format_valid_counts
        reads them all (0.7 s for 10,000 steps of 16 here), so a page asks this first on each redraw."""
        query = select(exists().where(Rollout.run_id == run_id, Rollout.format_valid))
        with self._session("look for a format-valid rollout") as s:
            return bool(s.scalar(query))

    def run_steps(self, run_ids: Sequence[int]) -> dict[int, int]:
        """Each run's last reported step: one small read, so a page can poll it and redraw only on change."""
        with self._session("read run steps") as s:
            rows = s.execute(select(Run.id, Run.step).where(Run.id.in_(list(run_ids))))
            return {run_id: step for run_id, step in rows}

    def runs_version(self) -> tuple[int, ...]:
        """A small value that changes whenever a row of the Runs table would: (runs, highest id, runs started,
        runs finished, runs with a command, runs with a generation server's output, steps of all runs, planned
        steps of all runs, renames and tag or note edits, alerts and their last steps, a checksum of the phases).
        One aggregate over the runs table and a read of the few runs with a phase, so a page can poll it and
        redraw only on change.

        Counts, not latest times: a worker whose clock runs behind would stamp an earlier time, and a count still
        moves. A heartbeat alone changes nothing shown, so it is left out (a run beats while loading its model).
        Phases are text that moves from one value to the next, which no count or sum would see: their checksum
        does."""
        query = select(
            func.count(),
            func.coalesce(func.max(Run.id), 0),
            func.count(Run.started_at),
            func.count(Run.finished_at),
            func.count(Run.command),
            func.count(Run.generation_server_log),
            func.coalesce(func.sum(Run.step), 0),
            func.coalesce(func.sum(Run.total_steps), 0),
            func.coalesce(func.sum(Run.edits), 0),
            select(func.count()).select_from(Alert).scalar_subquery(),
            select(func.coalesce(func.sum(Alert.last_step), 0)).scalar_subquery(),
        )
        runs = Run.__table__.c  # plain columns: this runs on every poll of every page
        phases = select(runs.id, runs.phase).where(runs.phase.is_not(None)).order_by(runs.id)
        with self._session("read the runs' version") as s:
            counts = tuple(int(value) for value in s.execute(query).one())
            phased = [tuple(row) for row in s.execute(phases)]
        return (*counts, zlib.crc32(repr(phased).encode()))

    def latest_metrics(self, run_ids: Sequence[int], key: str, last: int = 1) -> dict[int, MetricSeries]:
        """The last `last` logged points of one metric key for each run that has it, oldest first (the Runs
        table's reward, and its step time as a recent mean with the time of the latest step for an ETA)."""
        table = Metric.__table__.c
        with self._session(f"read the latest {key}") as s:
            series = {}
            for run_id in run_ids:  # one index range per run, (run_id, key, step) descending
                rows = s.execute(
                    select(table.step, table.value, table.wall_time)
                    .where(table.run_id == run_id, table.key == key)
                    .order_by(table.step.desc())
                    .limit(last)
                ).all()
                if rows:
                    steps, values, wall_times = zip(*reversed(rows))
                    series[run_id] = MetricSeries(key, steps, values, wall_times)
            return series

    def list_prompts(self, run_id: int) -> list[PromptRecord]:
        """The run's prompts with the steps that sampled them: those sampled at most steps first, then the most
        sampled."""
        query = (
            select(Prompt, Rollout.step, func.count())
            .join(Rollout, Rollout.prompt_id == Prompt.id)
            .where(Rollout.run_id == run_id)
            .group_by(Prompt.id, Rollout.step)
            .order_by(Prompt.id, Rollout.step)
        )
        with self._session("list prompts") as s:
            steps: dict[int, list[tuple[int, int]]] = {}
            prompts = {}
            for prompt, step, n in s.execute(query):
                prompts[prompt.id] = prompt
                steps.setdefault(prompt.id, []).append((step, n))
            records = [
                to_record(
                    PromptRecord,
                    prompts[prompt_id],
                    rollouts=sum(n for _, n in counts),
                    steps=tuple(step for step, _ in counts),
                )
                for prompt_id, counts in steps.items()
            ]
        return sorted(records, key=lambda p: (-len(p.steps), -p.rollouts, p.id))

    def find_prompt(self, run_id: int, like: int) -> int | None:
        """The id of run `run_id`'s prompt that is the same data point as prompt `like` (of any run): the same
        data row and reference, so runs with other prompt templates or models line up; for prompts stored
        without their row, the same content key (prompt and reference as rendered)."""
        with self._session("find a prompt") as s:
            source = s.get(Prompt, like)
            if source is None:
                return None
            if source.run_id == run_id:
                return source.id
            if source.data_row is not None:
                by_row = s.scalar(
                    select(Prompt.id)
                    .where(
                        Prompt.run_id == run_id,
                        Prompt.data_row == source.data_row,
                        Prompt.reference == source.reference,
                    )
                    .order_by(Prompt.id)
                    .limit(1)
                )
                if by_row is not None:
                    return by_row
            return s.scalar(select(Prompt.id).where(Prompt.run_id == run_id, Prompt.key == source.key))

    def prompt_history(self, prompt_id: int) -> list[PromptStep]:
        """Per step, the prompt's group summarised (served by the (prompt_id, step) index)."""
        # PostgreSQL averages an integer column as numeric (a Decimal in Python): cast it to a float.
        query = (
            select(
                Rollout.step,
                func.count(),
                func.sum(case((Rollout.format_valid, 1), else_=0)),
                func.max(Rollout.reward),
                func.avg(Rollout.reward),
                cast(func.avg(Rollout.reasoning_tokens), Float),
            )
            .where(Rollout.prompt_id == prompt_id)
            .group_by(Rollout.step)
            .order_by(Rollout.step)
        )
        with self._session("read a prompt's history") as s:
            return [
                PromptStep(step, n, int(valid), best, mean, tokens)
                for step, n, valid, best, mean, tokens in s.execute(query)
            ]

    def latest_step(self, run_id: int) -> int | None:
        """Highest step with logged metrics or rollouts; None before the first step."""
        with self._session("read the latest step") as s:
            steps = [
                s.scalar(select(func.max(table.step)).where(table.run_id == run_id)) for table in (Metric, Rollout)
            ]
        return max((step for step in steps if step is not None), default=None)

    # ---- checkpoints ------------------------------------------------------------------------------

    def add_checkpoint(self, run_id: int, step: int, path: str) -> CheckpointRecord:
        with self._session("record a checkpoint", write=True) as s:
            checkpoint = Checkpoint(run_id=_run(s, run_id).id, step=step, path=path, created_at=utcnow())
            s.add(checkpoint)
            s.flush()
            return to_record(CheckpointRecord, checkpoint)

    def list_checkpoints(self, run_id: int) -> list[CheckpointRecord]:
        with self._session("list checkpoints") as s:
            query = select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.step)
            return [to_record(CheckpointRecord, c) for c in s.scalars(query)]

    def get_checkpoint(self, run_id: int, step: int) -> CheckpointRecord:
        """The run's checkpoint saved at `step`; CheckpointNotFound names the steps it has (RunNotFound: no run)."""
        with self._session("read a checkpoint") as s:
            _run(s, run_id)
            query = select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.step)
            checkpoints = s.scalars(query).all()
            found = [c for c in checkpoints if c.step == step]
            if not found:
                steps = ", ".join(str(c.step) for c in checkpoints)
                saved = f"its checkpoints are at steps {steps}" if steps else "it has saved no checkpoint yet"
                raise CheckpointNotFound(f"run {run_id} has no checkpoint at step {step}; {saved}. Pick one of them")
            return to_record(CheckpointRecord, found[0])


def _run(s: Session, run_id: int, lock: bool = False) -> Run:
    run = s.get(Run, run_id, with_for_update=lock)
    if run is None:
        raise RunNotFound(f"run {run_id} does not exist")
    return run


def _running_run(s: Session, run_id: int) -> Run:
    run = _run(s, run_id)
    if run.status != Status.RUNNING:
        raise InvalidTransition(f"run {run_id} is {run.status}, not running; its worker must stop")
    return run


def _beat(s: Session, run: Run, step: int | None, total_steps: int | None) -> None:
    run.heartbeat_at = utcnow()
    # A worker busy with a run is live: its run's heartbeat says so, with no beat of its own.
    mark_seen(s, run.worker_id)
    if step is not None:
        run.step = step
    if total_steps is not None:
        run.total_steps = total_steps
