"""Persistence for nover_ui: SQLAlchemy models, Alembic migrations and the Store facade.

Imports only SQLAlchemy, Alembic and the standard library, so both the UI and the worker can use it.
"""

from storage.errors import (
    CheckpointNotFound,
    EvaluationNotFound,
    ExperimentNotFound,
    InvalidTransition,
    NotFound,
    RunNotFound,
    StorageError,
)
from storage.evaluations import HELDOUT_KIND
from storage.models import METRIC_KEY_MAX, RUN_NAME_MAX
from storage.records import (
    AlertRecord,
    CheckpointRecord,
    EvaluationRecord,
    EvaluationSampleRecord,
    ExperimentRecord,
    FlagInput,
    MachineClaim,
    MachineRecord,
    MetricSeries,
    PromptRecord,
    PromptStep,
    RolloutRecord,
    RunRecord,
    WorkerRecord,
)
from storage.statuses import ACTIVE_STATUSES, TERMINAL_STATUSES, Status
from storage.store import Store

__all__ = [
    "ACTIVE_STATUSES",
    "AlertRecord",
    "HELDOUT_KIND",
    "METRIC_KEY_MAX",
    "RUN_NAME_MAX",
    "TERMINAL_STATUSES",
    "CheckpointNotFound",
    "CheckpointRecord",
    "EvaluationNotFound",
    "EvaluationRecord",
    "EvaluationSampleRecord",
    "ExperimentNotFound",
    "ExperimentRecord",
    "FlagInput",
    "MachineClaim",
    "MachineRecord",
    "InvalidTransition",
    "MetricSeries",
    "NotFound",
    "PromptRecord",
    "PromptStep",
    "RolloutRecord",
    "RunNotFound",
    "RunRecord",
    "Status",
    "StorageError",
    "Store",
    "WorkerRecord",
]
