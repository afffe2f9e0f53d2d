"""The Store's side of the failure-flag backfill: which stored rollouts lack flags of the current flag set, and
storing the flags a caller computed. Storage cannot compute them itself: the rules live in training/flags.py,
which storage does not import (nover_ui/flag_backfill.py does the computing)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import ColumnElement, bindparam, or_, select
from sqlalchemy.orm import Session

from storage.models import Rollout
from storage.records import FlagInput, RolloutRecord, to_record

FLAG_INPUT_COLUMNS = [getattr(Rollout, f.name) for f in dataclasses.fields(FlagInput)]


class FlagBacklog:
    """Mixed into Store: each method runs in one of its session scopes."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]

    def flag_backlog(self, version: int) -> list[tuple[int, int]]:
        """(run id, step) of every step holding a rollout whose flags are missing or were computed by a flag set
        older than `version`, by run and step."""
        query = (
            select(Rollout.run_id, Rollout.step)
            .where(_stale(version))
            .distinct()
            .order_by(Rollout.run_id, Rollout.step)
        )
        with self._session("list rollouts without current flags") as s:
            return [(run_id, step) for run_id, step in s.execute(query)]

    def flag_inputs(self, run_id: int, steps: Sequence[int]) -> list[FlagInput]:
        """Every rollout of these steps of a run (flagged or not: a rollout's flags depend on its group), with only
        the columns the flags read, by step, group and sample; one query (keep `steps` to a few hundred)."""
        query = (
            select(*FLAG_INPUT_COLUMNS)
            .where(Rollout.run_id == run_id, Rollout.step.in_(list(steps)))
            .order_by(Rollout.step, Rollout.group_index, Rollout.sample_index)
        )
        with self._session("read rollouts for their flags") as s:
            return [FlagInput(*row) for row in s.execute(query)]

    def set_rollout_flags(self, flags: Mapping[int, Sequence[str]], version: int) -> None:
        """Store flags computed by flag set `version`, by rollout id, in one transaction. A rollout deleted
        meanwhile, or already flagged by this or a newer flag set (a newer worker), is left as it is."""
        if not flags:
            return
        table = Rollout.__table__
        statement = (
            table.update()
            .where(table.c.id == bindparam("rollout_id"), _stale(version))
            .values(flags=bindparam("new_flags"), flags_version=version)
        )
        rows = [{"rollout_id": rollout_id, "new_flags": list(names)} for rollout_id, names in flags.items()]
        with self._session("store failure flags", write=True) as s:
            s.execute(statement, rows)


def rollout_record(rollout: Rollout, prompt: str, reference: str) -> RolloutRecord:
    """The frozen record of a stored rollout and its prompt's texts; flags as a tuple, so the record stays frozen."""
    flags = None if rollout.flags is None else tuple(rollout.flags)
    return to_record(RolloutRecord, rollout, prompt=prompt, reference=reference, flags=flags)


def _stale(version: int) -> ColumnElement[bool]:
    return or_(Rollout.flags_version.is_(None), Rollout.flags_version < version)
