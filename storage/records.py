"""Frozen records the Store returns: plain values, safe to pass between threads, never lazily loaded."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class RunRecord:
    id: int
    name: str
    status: str
    """A storage.statuses.Status value (a Status equals its string)."""
    config: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    worker_id: str | None
    cancel_requested: bool
    error: str | None
    step: int
    total_steps: int | None
    parent_id: int | None
    command: str | None = None
    phase: str | None = None
    """What a running run does while no step lands (Run.phase); None otherwise."""
    generation_server_log: str | None = None
    """The last lines of the run's vLLM server output (Run.generation_server_log); None without one."""
    experiment_id: int | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None

    def __post_init__(self) -> None:
        # The column holds a JSON list (or NULL for runs stored before tags existed).
        object.__setattr__(self, "tags", tuple(self.tags or ()))


@dataclass(frozen=True)
class ExperimentRecord:
    id: int
    name: str
    created_at: dt.datetime
    settings: dict[str, Any]
    run_ids: tuple[int, ...]
    """Its runs, oldest first."""


@dataclass(frozen=True)
class AlertRecord:
    """A rule that fired on a run (storage.models.Alert), with the steps and values that made it fire."""

    id: int
    run_id: int
    rule: str
    metric: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    last_step: int
    message: str
    created_at: dt.datetime
    updated_at: dt.datetime
    notified_at: dt.datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "values", tuple(self.values))


@dataclass(frozen=True)
class MetricSeries:
    """One metric key of one run, ordered by step."""

    key: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    wall_times: tuple[float, ...]


@dataclass(frozen=True)
class RolloutRecord:
    id: int
    run_id: int
    step: int
    group_index: int
    sample_index: int
    prompt_id: int
    prompt: str
    reference: str
    completion: str
    reasoning: str | None
    answer: str | None
    reward: float
    reward_format: float | None
    reward_reasoning: float | None
    reward_efficiency: float | None
    perplexity: float | None
    reasoning_tokens: int | None
    completion_tokens: int
    advantage: float | None
    truncated: bool
    format_valid: bool
    extras: dict[str, Any] | None
    flags: tuple[str, ...] | None = None
    """Failure flags (training/flags.py) stored with the rollout; None: not computed yet."""
    flags_version: int | None = None


@dataclass(frozen=True)
class FlagInput:
    """What the failure flags read of a stored rollout (Store.flag_inputs): the backfill needs no texts but the
    completion, and reading only these columns keeps it fast."""

    id: int
    step: int
    group_index: int
    completion: str
    answer: str | None
    reward: float
    reasoning_tokens: int | None
    truncated: bool
    format_valid: bool
    flags_version: int | None


@dataclass(frozen=True)
class PromptRecord:
    """A (prompt, reference) pair of a run; Store.find_prompt finds the same data point in another run."""

    id: int
    run_id: int
    key: str
    """Content hash of prompt and reference (storage/rows.py prompt_key)."""
    prompt: str
    reference: str
    data_row: str | None
    """The example's row in its data ("row 12"); None when stored before rows were kept."""
    rollouts: int
    steps: tuple[int, ...]
    """The steps that sampled it, in order."""


@dataclass(frozen=True)
class PromptStep:
    """One prompt's group at one step, summarised: the points of its history chart."""

    step: int
    rollouts: int
    format_valid: int
    best_reward: float
    mean_reward: float
    mean_reasoning_tokens: float | None


@dataclass(frozen=True)
class CheckpointRecord:
    id: int
    run_id: int
    step: int
    path: str
    created_at: dt.datetime


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    kind: str
    """A key of training.job_config.JOB_KINDS."""
    run_id: int | None
    model: str
    checkpoint_step: int | None
    dataset: str
    config: dict[str, Any] | None
    """The job's settings, as queued (training/job_config.py)."""
    status: str
    """A storage.statuses.Status value."""
    metrics: dict[str, Any] | None
    """Set when it succeeded; JSON values, a metric with nothing to average over is None."""
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    worker_id: str | None


@dataclass(frozen=True)
class EvaluationSampleRecord:
    id: int
    evaluation_id: int
    sample_index: int
    prompt: str
    reference: str
    completion: str
    reasoning: str | None
    answer: str | None
    format_valid: bool
    perplexity: float | None
    correct: bool | None
    extras: dict[str, Any] | None


@dataclass(frozen=True)
class WorkerRecord:
    """A registered worker process (Store.register_worker) and what its machine can run."""

    id: str
    host: str
    started_at: dt.datetime
    last_seen_at: dt.datetime
    capabilities: dict[str, Any]
    """training/needs.py Capabilities.to_dict(): plain JSON values."""


@dataclass(frozen=True)
class MachineRecord:
    """One machine of a run that spans several (storage.models.RunMachine)."""

    run_id: int
    machine_rank: int
    worker_id: str
    host: str
    address: str | None
    port: int | None
    joined_at: dt.datetime
    heartbeat_at: dt.datetime
    ended_at: dt.datetime | None
    exit_code: int | None


@dataclass(frozen=True)
class MachineClaim:
    """A rank of a multi-machine run claimed by a joining worker (Store.claim_machine_rank)."""

    run: RunRecord
    machine: MachineRecord
    """The claimed rank."""
    main: MachineRecord
    """Machine rank 0: the address and port to connect to."""


R = TypeVar("R", bound="DataclassInstance")


def to_record(record_type: type[R], row: Any, **extra: Any) -> R:
    """Copy the record's fields from an ORM row (or any object with those attributes)."""
    values = {
        f.name: extra[f.name] if f.name in extra else getattr(row, f.name) for f in dataclasses.fields(record_type)
    }
    return record_type(**values)
