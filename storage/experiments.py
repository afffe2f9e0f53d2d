"""The Store's experiments, and what a person writes on a run: its name, tags and notes.

An experiment is a named grid of runs queued in one transaction (nover_ui/experiment_grid.py builds the grid);
its runs are ordinary runs that carry its id. Tags and notes are the person's own words on a run, for finding and
remembering it; each change counts in `Run.edits`, so the runs' version moves and pages redraw.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import ExperimentNotFound, RunNotFound, StorageError
from storage.lifecycle import utcnow
from storage.models import RUN_NAME_MAX, TAG_MAX, Experiment, Run
from storage.records import ExperimentRecord, RunRecord, to_record
from storage.statuses import Status

MAX_TAGS = 20
NOTES_MAX = 10_000


class Experiments:
    """Mixed into Store: every method runs in one of its session scopes and returns frozen records."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]

    def create_experiment(
        self, name: str, settings: Mapping[str, Any], runs: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> ExperimentRecord:
        """Record an experiment and queue its runs, given as (run name, config), all or nothing."""
        name = run_name(name, "an experiment")
        if not runs:
            raise StorageError("an experiment needs at least one run")
        names = [run_name(run, "a run") for run, _config in runs]
        with self._session("create an experiment", write=True) as s:
            experiment = Experiment(name=name, created_at=utcnow(), settings=dict(settings))
            s.add(experiment)
            s.flush()
            now = utcnow()
            rows = [
                Run(
                    name=run,
                    status=Status.QUEUED,
                    config=dict(config),
                    created_at=now,
                    experiment_id=experiment.id,
                )
                for run, (_name, config) in zip(names, runs)
            ]
            s.add_all(rows)
            s.flush()
            return _experiment_record(experiment, [row.id for row in rows])

    def get_experiment(self, experiment_id: int) -> ExperimentRecord:
        with self._session("read an experiment") as s:
            experiment = s.get(Experiment, experiment_id)
            if experiment is None:
                raise ExperimentNotFound(f"experiment {experiment_id} does not exist")
            return _experiment_record(experiment, _run_ids(s, [experiment_id])[experiment_id])

    def list_experiments(self) -> list[ExperimentRecord]:
        """Experiments, newest first, each with its runs' ids."""
        with self._session("list experiments") as s:
            experiments = list(s.scalars(select(Experiment).order_by(Experiment.id.desc())))
            run_ids = _run_ids(s, [e.id for e in experiments])
            return [_experiment_record(e, run_ids[e.id]) for e in experiments]

    def experiment_runs(self, experiment_id: int) -> list[RunRecord]:
        """An experiment's runs, oldest first (the order its grid queued them)."""
        self.get_experiment(experiment_id)  # refuse an unknown id rather than answer "no runs"
        query = select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)
        with self._session("list an experiment's runs") as s:
            return [to_record(RunRecord, run) for run in s.scalars(query)]

    def rename_run(self, run_id: int, name: str) -> RunRecord:
        name = run_name(name, "a run")
        return self._edit_run(run_id, "rename a run", lambda run: setattr(run, "name", name))

    def set_run_tags(self, run_id: int, tags: Sequence[str]) -> RunRecord:
        """Replace a run's tags: each stripped, empty ones dropped, duplicates kept once in their first place."""
        kept = clean_tags(tags)
        return self._edit_run(run_id, "tag a run", lambda run: setattr(run, "tags", kept or None))

    def set_run_notes(self, run_id: int, notes: str) -> RunRecord:
        if len(notes) > NOTES_MAX:
            raise StorageError(f"notes have at most {NOTES_MAX:,} characters, got {len(notes):,}; shorten them")
        text = notes.strip() or None
        return self._edit_run(run_id, "write a run's notes", lambda run: setattr(run, "notes", text))

    def _edit_run(self, run_id: int, action: str, edit: Callable[[Run], None]) -> RunRecord:
        with self._session(action, write=True) as s:
            run = s.get(Run, run_id)
            if run is None:
                raise RunNotFound(f"run {run_id} does not exist")
            edit(run)
            run.edits += 1
            s.flush()
            return to_record(RunRecord, run)


def run_name(name: str, what: str) -> str:
    """A name stripped and checked: not empty, within the column (PostgreSQL enforces it, SQLite would not)."""
    name = name.strip()
    if not name:
        raise StorageError(f"{what} needs a non-empty name")
    if len(name) > RUN_NAME_MAX:
        raise StorageError(f"{what}'s name has at most {RUN_NAME_MAX} characters, got {len(name)}")
    return name


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Tags as stored: stripped, no empty ones, each once, at most MAX_TAGS of at most TAG_MAX characters.

    >>> clean_tags([" baseline ", "", "lr-sweep", "baseline"])
    ['baseline', 'lr-sweep']
    """
    kept: list[str] = []
    for tag in (t.strip() for t in tags):
        if not tag or tag in kept:
            continue
        if len(tag) > TAG_MAX or "," in tag:
            raise StorageError(f"a tag has at most {TAG_MAX} characters and no comma, got {tag[:TAG_MAX]!r}...")
        kept.append(tag)
    if len(kept) > MAX_TAGS:
        raise StorageError(f"a run has at most {MAX_TAGS} tags, got {len(kept)}; drop some")
    return kept


def _run_ids(s: Session, experiment_ids: Sequence[int]) -> dict[int | None, list[int]]:
    ids: dict[int | None, list[int]] = {experiment_id: [] for experiment_id in experiment_ids}
    query = select(Run.experiment_id, Run.id).where(Run.experiment_id.in_(list(experiment_ids))).order_by(Run.id)
    for experiment_id, run_id in s.execute(query):
        ids[experiment_id].append(run_id)
    return ids


def _experiment_record(experiment: Experiment, run_ids: Sequence[int]) -> ExperimentRecord:
    return to_record(ExperimentRecord, experiment, run_ids=tuple(run_ids))
