"""Persistence for nover_ui: SQLAlchemy models, Alembic migrations and the Store facade.

Imports only SQLAlchemy, Alembic and the standard library, so both the UI and the worker can use it.
"""

from storage.errors import InvalidTransition, RunNotFound, StorageError
from storage.records import (
    CheckpointRecord,
    EvaluationRecord,
    EvaluationSampleRecord,
    FlagInput,
    MetricSeries,
    PromptRecord,
    PromptStep,
    RolloutRecord,
    RunRecord,
)
from storage.store import METRIC_KEY_MAX, RUN_NAME_MAX, Store

__all__ = [
    "METRIC_KEY_MAX",
    "RUN_NAME_MAX",
    "CheckpointRecord",
    "EvaluationRecord",
    "EvaluationSampleRecord",
    "FlagInput",
    "InvalidTransition",
    "MetricSeries",
    "PromptRecord",
    "PromptStep",
    "RolloutRecord",
    "RunNotFound",
    "RunRecord",
    "StorageError",
    "Store",
]
