"""Checking and shaping the plain-dict rows callers hand to the Store."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.experiments import NOTES_MAX, clean_tags
from storage.models import DATA_ROW_MAX, Prompt
from storage.records import EvaluationSampleRecord, RolloutRecord, RunRecord
from storage.statuses import ACTIVE_STATUSES, Status

ROLLOUT_KEYS = frozenset(f.name for f in dataclasses.fields(RolloutRecord)) - {"id", "run_id", "step", "prompt_id"}
PROMPT_KEYS = frozenset({"prompt", "reference", "data_row"})
"""Keys of a rollout row stored once per prompt (models.Prompt), not on the rollout. `data_row` (the example's
row, training/data.py Example.id) is optional and not part of the rollout's record."""
ROLLOUT_REQUIRED = frozenset(
    {"group_index", "sample_index", "prompt", "reference", "completion", "reward", "completion_tokens"}
)
SAMPLE_KEYS = frozenset(f.name for f in dataclasses.fields(EvaluationSampleRecord)) - {"id", "evaluation_id"}
SAMPLE_REQUIRED = frozenset({"sample_index", "prompt", "reference", "completion"})
# An imported run gets a new id, no parent and no experiment (all three name rows of its source database); its
# worker's heartbeat, cancel flag and phase meant something only there.
IMPORTED_RUN_KEYS = frozenset(f.name for f in dataclasses.fields(RunRecord)) - {
    "id",
    "parent_id",
    "experiment_id",
    "heartbeat_at",
    "cancel_requested",
    "phase",
}
IMPORTED_RUN_REQUIRED = frozenset({"name", "status", "config", "created_at"})
METRIC_KEYS = frozenset({"step", "key", "value", "wall_time"})


def prompt_key(prompt: str, reference: str) -> str:
    """Identity of a (prompt, reference) pair within a run, and across runs (the Compare tab finds the same
    prompt in another run by it): the same texts always give the same key. The project's one content hash of a
    pair (training identifies examples by their row, training/data.py). Never change it: the keys of every
    stored prompt were computed by it, and a resumed run must find its parent's prompts."""
    return hashlib.sha256(f"{prompt}\0{reference}".encode()).hexdigest()[:32]


def check_rollout_row(row: Mapping[str, Any]) -> None:
    _check_keys("rollout", row, ROLLOUT_KEYS | PROMPT_KEYS, ROLLOUT_REQUIRED)


def without_nul(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with NUL characters in its texts replaced by U+FFFD.

    PostgreSQL text cannot hold NUL (SQLite can), and a model may emit one; the replacement keeps such a step
    from failing its run, and happens on both backends so a run reads the same on either.
    """
    return {key: value.replace("\0", "\ufffd") if isinstance(value, str) else value for key, value in row.items()}


def prompt_ids(s: Session, run_id: int, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Ids of the rows' prompts by key, inserting those this run has not stored yet (with the data row of the
    first row that brings each; two identical rows of one file share one prompt, as they always did)."""
    texts: dict[str, tuple[str, str, str | None]] = {}
    for row in rows:
        key = prompt_key(row["prompt"], row["reference"])
        texts.setdefault(key, (row["prompt"], row["reference"], _data_row(row.get("data_row"))))
    query = select(Prompt.key, Prompt.id).where(Prompt.run_id == run_id, Prompt.key.in_(texts))
    ids = dict(s.execute(query).all())
    new = [
        {"run_id": run_id, "key": key, "prompt": prompt, "reference": reference, "data_row": data_row}
        for key, (prompt, reference, data_row) in texts.items()
        if key not in ids
    ]
    if new:
        s.execute(Prompt.__table__.insert(), new)
        ids = dict(s.execute(query).all())
    return ids


def rollout_values(run_id: int, step: int, row: Mapping[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """Column values of one rollouts row; optional keys the caller left out become NULL/False."""
    values = dict.fromkeys(ROLLOUT_KEYS - ROLLOUT_REQUIRED - PROMPT_KEYS, None)
    values |= {"truncated": False, "format_valid": False}
    values.update((key, value) for key, value in row.items() if key not in PROMPT_KEYS)
    return {**values, "run_id": run_id, "step": step, "prompt_id": ids[prompt_key(row["prompt"], row["reference"])]}


def _data_row(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > DATA_ROW_MAX:
        raise StorageError(f"a rollout row's data_row must be text of 1 to {DATA_ROW_MAX} characters, got {value!r}")
    return value


def imported_run_values(run: Mapping[str, Any], now: Any) -> dict[str, Any]:
    """Column values of a run read back from an archive. A run that was queued or running where it was exported
    is stored as failed: no worker here has it, so it would otherwise wait or look alive forever."""
    _check_keys("imported run", run, IMPORTED_RUN_KEYS, IMPORTED_RUN_REQUIRED)
    if run["status"] not in tuple(Status):
        raise StorageError(f"an imported run's status must be one of {', '.join(Status)}, got {run['status']!r}")
    if not str(run["name"]).strip():
        raise StorageError("an imported run needs a non-empty name")
    values = dict.fromkeys(IMPORTED_RUN_KEYS - IMPORTED_RUN_REQUIRED, None) | {"step": 0} | dict(run)
    # Within the bounds the dashboard's own edits keep (storage/experiments.py), so no import can break a read.
    values["tags"] = clean_tags(values["tags"] or []) or None
    if values["notes"] is not None and len(values["notes"]) > NOTES_MAX:
        raise StorageError(
            f"an imported run's notes have at most {NOTES_MAX:,} characters, got {len(values['notes']):,}"
        )
    if values["status"] in ACTIVE_STATUSES:
        values["error"] = (
            f"imported from an archive written while the run was {values['status']} (at step "
            f"{values['step']}); it cannot continue here: clone it to train again"
            + (f". Its error there: {values['error']}" if values["error"] else "")
        )
        values["status"], values["finished_at"] = Status.FAILED, now
    return values


def metric_values(run_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys("metric", row, METRIC_KEYS, METRIC_KEYS)
    return {**row, "run_id": run_id}


def evaluation_sample_values(evaluation_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys("evaluation sample", row, SAMPLE_KEYS, SAMPLE_REQUIRED)
    values = dict.fromkeys(SAMPLE_KEYS - SAMPLE_REQUIRED, None) | {"format_valid": False}
    return {**values, **without_nul(row), "evaluation_id": evaluation_id}


def _check_keys(kind: str, row: Mapping[str, Any], allowed: frozenset[str], required: frozenset[str]) -> None:
    unknown, missing = set(row) - allowed, required - set(row)
    if unknown or missing:
        raise StorageError(
            f"bad {kind} row: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
            f"allowed keys are {sorted(allowed)}"
        )
