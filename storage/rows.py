"""Checking and shaping the plain-dict rows callers hand to the Store."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.models import Prompt
from storage.records import EvaluationSampleRecord, RolloutRecord

ROLLOUT_KEYS = frozenset(f.name for f in dataclasses.fields(RolloutRecord)) - {"id", "run_id", "step", "prompt_id"}
ROLLOUT_REQUIRED = frozenset({"group_index", "sample_index", "prompt", "reference", "completion", "reward",
                              "completion_tokens"})
SAMPLE_KEYS = frozenset(f.name for f in dataclasses.fields(EvaluationSampleRecord)) - {"id", "evaluation_id"}
SAMPLE_REQUIRED = frozenset({"sample_index", "prompt", "reference", "completion"})


def prompt_key(prompt: str, reference: str) -> str:
    """Identity of a (prompt, reference) pair within a run: the same texts always give the same key."""
    return hashlib.sha256(f"{prompt}\0{reference}".encode()).hexdigest()[:32]


def check_rollout_row(row: Mapping[str, Any]) -> None:
    _check_keys("rollout", row, ROLLOUT_KEYS, ROLLOUT_REQUIRED)


def prompt_ids(s: Session, run_id: int, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Ids of the rows' prompts by key, inserting those this run has not stored yet."""
    texts = {prompt_key(row["prompt"], row["reference"]): (row["prompt"], row["reference"]) for row in rows}
    query = select(Prompt.key, Prompt.id).where(Prompt.run_id == run_id, Prompt.key.in_(texts))
    ids = dict(s.execute(query).all())
    new = [{"run_id": run_id, "key": key, "prompt": prompt, "reference": reference}
           for key, (prompt, reference) in texts.items() if key not in ids]
    if new:
        s.execute(Prompt.__table__.insert(), new)
        ids = dict(s.execute(query).all())
    return ids


def rollout_values(run_id: int, step: int, row: Mapping[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """Column values of one rollouts row; optional keys the caller left out become NULL/False."""
    values = dict.fromkeys(ROLLOUT_KEYS - ROLLOUT_REQUIRED, None) | {"truncated": False, "format_valid": False}
    values.update((key, value) for key, value in row.items() if key not in ("prompt", "reference"))
    return {**values, "run_id": run_id, "step": step, "prompt_id": ids[prompt_key(row["prompt"], row["reference"])]}


def evaluation_sample_values(evaluation_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys("evaluation sample", row, SAMPLE_KEYS, SAMPLE_REQUIRED)
    values = dict.fromkeys(SAMPLE_KEYS - SAMPLE_REQUIRED, None) | {"format_valid": False}
    return {**values, **row, "evaluation_id": evaluation_id}


def _check_keys(kind: str, row: Mapping[str, Any], allowed: frozenset[str], required: frozenset[str]) -> None:
    unknown, missing = set(row) - allowed, required - set(row)
    if unknown or missing:
        raise StorageError(f"bad {kind} row: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
                           f"allowed keys are {sorted(allowed)}")
