"""Status changes of runs and evaluation jobs: the allowed transitions and the times they stamp."""

from __future__ import annotations

import datetime as dt
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import InvalidTransition
from storage.models import TERMINAL_STATUSES, Evaluation, Run

NEXT_STATUSES = {
    "queued": {"running", "cancelled", "failed"},
    "running": {"succeeded", "failed", "cancelled"},
}
STALE_RUN_ERROR = "worker stopped responding (no heartbeat for {age:.0f} s)"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def transition(row: Run | Evaluation, status: str, error: str | None = None) -> None:
    """The one place a run's or an evaluation's status changes; stamps started_at and finished_at."""
    if status not in NEXT_STATUSES.get(row.status, ()):
        raise InvalidTransition(f"{type(row).__name__.lower()} {row.id} cannot go from {row.status} to {status}")
    now = utcnow()
    row.status = status
    if status == "running":
        row.started_at = now
    if status in TERMINAL_STATUSES:
        row.finished_at = now
        row.error = error


def claim_oldest(s: Session, table: type[Run] | type[Evaluation], worker_id: str) -> Run | Evaluation | None:
    """Move the oldest queued row of `table` to running for this worker; None when nothing is queued."""
    # SKIP LOCKED lets concurrent PostgreSQL workers pass over a row another one is claiming;
    # SQLite serialises write transactions instead (BEGIN IMMEDIATE) and ignores the clause.
    query = (select(table).where(table.status == "queued").order_by(table.id).limit(1)
             .with_for_update(skip_locked=True))
    row = s.scalars(query).first()
    if row is None:
        return None
    transition(row, "running")
    row.worker_id = worker_id
    row.heartbeat_at = utcnow()
    return row
