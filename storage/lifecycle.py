"""Status changes of runs and evaluation jobs: the allowed transitions, the times they stamp, and the phase an
ended run no longer has."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import InvalidTransition
from storage.models import RUN_NAME_MAX, Checkpoint, Evaluation, Run
from storage.statuses import TERMINAL_STATUSES, Status

NEXT_STATUSES: dict[str, set[Status]] = {  # keyed by str: a row read back holds the plain stored string
    Status.QUEUED: {Status.RUNNING, Status.CANCELLED, Status.FAILED},
    Status.RUNNING: {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED},
}
_Claimable = TypeVar("_Claimable", Run, Evaluation)
STALE_RUN_ERROR = "worker stopped responding (no heartbeat for {age:.0f} s)"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def transition(row: Run | Evaluation, status: Status, error: str | None = None) -> None:
    """The one place a run's or an evaluation's status changes; stamps started_at and finished_at."""
    if status not in NEXT_STATUSES.get(row.status, set()):
        raise InvalidTransition(f"{type(row).__name__.lower()} {row.id} cannot go from {row.status} to {status}")
    now = utcnow()
    row.status = status
    if status == Status.RUNNING:
        row.started_at = now
    if status in TERMINAL_STATUSES:
        row.finished_at = now
        row.error = error
        if isinstance(row, Run):
            row.phase = None  # an ended run is doing nothing any more


def fail_interrupted(s: Session, run: Run, error: str, resume: bool) -> None:
    """Fail a run whose worker went away; with `resume`, queue a run continuing it from its last checkpoint.

    Both happen in the caller's one transaction, on a row the caller read under a lock (or SQLite's write
    lock), so whichever process notices the interruption first resumes the run, and any other finds it
    already failed (InvalidTransition, or no longer stale) and queues nothing.
    """
    transition(run, Status.FAILED, error)
    if not resume or run.cancel_requested:  # a run someone asked to stop stays stopped
        return
    checkpoint = s.scalars(
        select(Checkpoint).where(Checkpoint.run_id == run.id).order_by(Checkpoint.step.desc()).limit(1)
    ).first()
    if checkpoint is None:
        # Resuming needs new progress each time, which also keeps a run that kills its worker from looping.
        run.error = (
            f"{error}; not resumed: it saved no checkpoint (checkpoint_steps={run.config.get('checkpoint_steps')})"
        )
        return
    suffix = f" (resumed from step {checkpoint.step})"
    # Cut to the column's length: PostgreSQL would refuse a longer name and with it the whole stale check.
    name = run.name[: RUN_NAME_MAX - len(suffix)] + suffix
    resumed = Run(name=name, status=Status.QUEUED, config=dict(run.config), created_at=utcnow(), parent_id=run.id)
    s.add(resumed)
    s.flush()
    run.error = f"{error}; resumed from step {checkpoint.step} as run {resumed.id}"


def claim_oldest(
    s: Session, table: type[_Claimable], worker_id: str, can_run: Callable[[dict[str, Any]], bool] | None = None
) -> _Claimable | None:
    """Move the oldest queued row of `table` (that `can_run` accepts, given its stored config) to running for this
    worker; None when there is none."""
    # SKIP LOCKED lets concurrent PostgreSQL workers pass over a row another one is claiming;
    # SQLite serialises write transactions instead (BEGIN IMMEDIATE) and ignores the clause.
    queued = select(table).where(table.status == Status.QUEUED).order_by(table.id)
    if can_run is None:
        row = s.scalars(queued.limit(1).with_for_update(skip_locked=True)).first()
    else:
        # The configs are read without a lock (locking every queued row would hide them all from other workers
        # while this one looks); the first this worker can run is then locked and claimed only if it is still
        # queued and no other worker holds it, else the next one is tried.
        candidates = s.execute(select(table.id, table.config).where(table.status == Status.QUEUED).order_by(table.id))
        row = None
        for row_id, config in candidates.all():
            if can_run(config or {}):
                locked = queued.where(table.id == row_id).with_for_update(skip_locked=True)
                if (row := s.scalars(locked).first()) is not None:
                    break
    if row is None:
        return None
    transition(row, Status.RUNNING)
    row.worker_id = worker_id
    row.heartbeat_at = utcnow()
    return row
