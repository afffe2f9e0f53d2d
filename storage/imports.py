"""The Store's import of a run read back from an archive (nover_ui/archive.py writes and reads the file)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.lifecycle import utcnow
from storage.models import Metric, MetricSummary, Rollout, Run
from storage.records import RunRecord, to_record
from storage.rows import check_rollout_row, imported_run_values, metric_values, prompt_ids, rollout_values, without_nul
from storage.summaries import summarise


class RunImports:
    """Mixed into Store: runs in one of its session scopes and returns a frozen record."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]
    summary_levels: tuple[int, ...]

    def import_run(
        self, run: Mapping[str, Any], metrics: Sequence[Mapping[str, Any]], rollouts: Sequence[Mapping[str, Any]]
    ) -> RunRecord:
        """Store a run read back from an archive as a new run, all of it in one transaction or nothing.

        `run` has RunRecord's keys less id, parent_id, heartbeat_at and cancel_requested; a run that was queued
        or running is stored as failed (see rows.imported_run_values). `metrics` rows have step, key, value and
        wall_time; `rollouts` rows the keys of log_step's rows plus their `step`.
        """
        steps_rows = []
        for row in rollouts:
            if not isinstance(row.get("step"), int):
                raise StorageError(f"an imported rollout needs an integer step, got {row.get('step')!r}")
            rest = {key: value for key, value in row.items() if key != "step"}
            check_rollout_row(rest)
            steps_rows.append((row["step"], without_nul(rest)))
        with self._session("import a run", write=True) as s:
            new = Run(**imported_run_values(run, utcnow()))
            s.add(new)
            s.flush()
            if metrics:
                values = [metric_values(new.id, row) for row in metrics]
                s.execute(Metric.__table__.insert(), values)
                s.execute(MetricSummary.__table__.insert(), summarise(new.id, values, self.summary_levels))
            # Prompts looked up 1000 rows at a time: few queries, and under every backend's bound-parameter limit.
            for start in range(0, len(steps_rows), 1000):
                batch = steps_rows[start : start + 1000]
                ids = prompt_ids(s, new.id, [row for _, row in batch])
                s.execute(Rollout.__table__.insert(), [rollout_values(new.id, step, row, ids) for step, row in batch])
            return to_record(RunRecord, new)
