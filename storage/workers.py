"""The Store's worker registry: each worker process says, when it starts, what its machine can run, and stays
"live" while it idles (its poll loop refreshes it) or works (the heartbeats of its run or job refresh it).

The dashboard reads the live ones to refuse a run none of them can train (nover_ui/queue.py); a row whose worker
has been silent past the heartbeat timeout is simply not live, as a run's stale heartbeat means a dead worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.lifecycle import utcnow
from storage.models import HOST_MAX, WORKER_ID_MAX, Worker
from storage.records import WorkerRecord, to_record


class Workers:
    """Mixed into Store: every method runs in one of its session scopes and returns frozen records."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]

    def register_worker(self, worker_id: str, host: str, capabilities: Mapping[str, Any]) -> WorkerRecord:
        """Record a worker that has just started (a restarted one with the same id starts afresh)."""
        if not worker_id or len(worker_id) > WORKER_ID_MAX:
            raise StorageError(f"a worker id has 1 to {WORKER_ID_MAX} characters, got {len(worker_id)}")
        now = utcnow()
        with self._session("register a worker", write=True) as s:
            worker = s.get(Worker, worker_id)
            if worker is None:
                worker = Worker(id=worker_id)
                s.add(worker)
            worker.host, worker.capabilities = host[:HOST_MAX], dict(capabilities)
            worker.started_at = worker.last_seen_at = now
            s.flush()
            return to_record(WorkerRecord, worker)

    def touch_worker(self, worker_id: str) -> None:
        """The worker is still there (its idle poll loop calls this; heartbeats of its work do the same)."""
        with self._session("refresh a worker", write=True) as s:
            mark_seen(s, worker_id)

    def forget_worker(self, worker_id: str) -> None:
        """A worker that shuts down cleanly leaves at once, rather than looking live until the timeout."""
        with self._session("remove a worker", write=True) as s:
            s.execute(delete(Worker).where(Worker.id == worker_id))

    def live_workers(self, max_age_s: float) -> list[WorkerRecord]:
        """Workers seen within the last `max_age_s` seconds (training/config.py HEARTBEAT_TIMEOUT_S), by id."""
        cutoff = utcnow() - dt.timedelta(seconds=max_age_s)
        query = select(Worker).where(Worker.last_seen_at >= cutoff).order_by(Worker.id)
        with self._session("list live workers") as s:
            return [to_record(WorkerRecord, worker) for worker in s.scalars(query)]


def mark_seen(s: Session, worker_id: str | None) -> None:
    """Refresh a worker's last sign of life inside the caller's transaction (a run's or a job's heartbeat)."""
    if worker_id is not None:
        s.execute(update(Worker).where(Worker.id == worker_id).values(last_seen_at=utcnow()))
