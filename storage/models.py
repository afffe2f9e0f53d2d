"""SQLAlchemy table definitions. Only the Store touches these; everyone else sees frozen records."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite's INTEGER PRIMARY KEY is its rowid (fast, auto-incrementing) only when spelled INTEGER;
# PostgreSQL gets a 64-bit key for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Column lengths also checked in Python before a write: PostgreSQL enforces them, SQLite would store more.
RUN_NAME_MAX = 200
METRIC_KEY_MAX = 200
JOB_KIND_MAX = 16
PHASE_MAX = 40
DATA_ROW_MAX = 64
WORKER_ID_MAX = 200
HOST_MAX = 255
TAG_MAX = 40
ALERT_RULE_MAX = 200


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC and returned timezone-aware, so comparisons agree on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given to a UTC column; use datetime.now(timezone.utc)")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    # Every model maps one plain Table; saying so lets the type checker see `.insert()` and `.c`.
    __table__: ClassVar[Table]


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(RUN_NAME_MAX))
    status: Mapped[str] = mapped_column(String(16), index=True)
    """A storage.statuses.Status value."""
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The RunConfig as a plain dict (RunConfig.to_dict)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """Last sign of life of the worker running it; a stale one means the worker died."""
    worker_id: Mapped[str | None] = mapped_column(String(200))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    step: Mapped[int] = mapped_column(default=0)
    """Optimizer steps completed."""
    total_steps: Mapped[int | None]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    """The run this one was resumed or cloned from."""
    command: Mapped[str | None] = mapped_column(Text)
    """The command line that trains this config (`python -m training.run ...` or `accelerate launch ...`), set by
    the worker when it starts the run."""
    phase: Mapped[str | None] = mapped_column(String(PHASE_MAX))
    """What a running run is doing while no step lands: starting (loading or converting the model, the first
    generation) or stopping (storage.statuses.CANCELLING). None once steps flow and after the run ended."""
    generation_server_log: Mapped[str | None] = mapped_column(Text)
    """The last lines a run's vLLM server printed (server mode, training/vllm_server.py), kept when the server
    stopped or failed to start; None for a run without one."""

    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"), index=True)
    """The experiment whose grid queued this run; None for a run queued alone."""
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)
    edits: Mapped[int] = mapped_column(default=0, server_default="0")
    """Counts renames and changes of tags or notes, so the runs' version moves when one changes what a page shows."""

    def __repr__(self) -> str:
        return f"Run(id={self.id}, name={self.name!r}, status={self.status}, step={self.step}/{self.total_steps})"


class Experiment(Base):
    """A named grid of runs queued together: recipes and/or field values times seeds, sharing data and held-out
    evaluation settings."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(RUN_NAME_MAX))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    """How the grid was built (the UI's plain-JSON description: recipes, swept fields and values, seeds)."""

    def __repr__(self) -> str:
        return f"Experiment(id={self.id}, name={self.name!r})"


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (
        Index("ix_metrics_run_key_step", "run_id", "key", "step", unique=True),
        # Covers a chart's read (run, key -> step, value, wall_time) so it never visits the table's pages,
        # which concurrent runs interleave; the unique index above stays to refuse a step logged twice.
        Index("ix_metrics_run_key_step_value", "run_id", "key", "step", "value", "wall_time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int]
    key: Mapped[str] = mapped_column(String(METRIC_KEY_MAX))
    value: Mapped[float]
    wall_time: Mapped[float]
    """Unix seconds when the step was logged (for plotting against time)."""

    def __repr__(self) -> str:
        return f"Metric(run={self.run_id}, step={self.step}, {self.key}={self.value})"


class MetricSummary(Base):
    """One bucket of a metric series at one level of coarseness: the steps `bucket * level` to
    `(bucket + 1) * level - 1` of one key of one run, summarised as the bucket's lowest and highest value and its
    last point, each with its step and time. A chart of a long run reads these instead of every point
    (storage/summaries.py writes and reads them)."""

    __tablename__ = "metric_summaries"
    # Rows live in primary-key order (SQLite: no rowid), so a chart's read of one run and level is one range scan.
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    """Steps per bucket (one of storage.summaries.LEVELS)."""
    key: Mapped[str] = mapped_column(String(METRIC_KEY_MAX), primary_key=True)
    bucket: Mapped[int] = mapped_column(primary_key=True)
    """step // level."""
    points: Mapped[int]
    """Points logged in the bucket."""
    first_step: Mapped[int]
    min_step: Mapped[int | None]
    """Step of the lowest value (the earliest of equal ones); None, as the value, when every value was NaN."""
    min_value: Mapped[float | None]
    min_wall: Mapped[float | None]
    max_step: Mapped[int | None]
    max_value: Mapped[float | None]
    max_wall: Mapped[float | None]
    last_step: Mapped[int]
    last_value: Mapped[float]
    last_wall: Mapped[float]

    def __repr__(self) -> str:
        return f"MetricSummary(run={self.run_id}, {self.key} steps {self.first_step}..{self.last_step} / {self.level})"


class Prompt(Base):
    """A (prompt, reference) pair of one run, stored once however many rollouts and steps reuse it."""

    __tablename__ = "prompts"
    __table_args__ = (
        Index("ix_prompts_run_key", "run_id", "key", unique=True),
        Index("ix_prompts_run_row", "run_id", "data_row"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    """Content hash of prompt and reference; the identity of a prompt within its run."""
    prompt: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    data_row: Mapped[str | None] = mapped_column(String(DATA_ROW_MAX))
    """Where the example comes from in its data ("row 12", training/data.py Example.id); with the reference it
    finds the same data point in a run with another prompt template or model. NULL for prompts stored before it
    was kept (they are matched by `key`)."""

    def __repr__(self) -> str:
        return f"Prompt(id={self.id}, run={self.run_id}, key={self.key}, row={self.data_row})"


class Rollout(Base):
    __tablename__ = "rollouts"
    __table_args__ = (
        Index("ix_rollouts_run_step", "run_id", "step", "group_index", "sample_index"),
        Index("ix_rollouts_prompt_step", "prompt_id", "step"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int]
    group_index: Mapped[int]
    """Position of the prompt's group within the step."""
    sample_index: Mapped[int]
    """Position of the rollout within its group."""
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    completion: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    reward: Mapped[float]
    reward_format: Mapped[float | None]
    reward_reasoning: Mapped[float | None]
    reward_efficiency: Mapped[float | None]
    perplexity: Mapped[float | None]
    """NOVER reasoning perplexity P_r of the reference; None for a format-invalid rollout."""
    reasoning_tokens: Mapped[int | None]
    completion_tokens: Mapped[int]
    advantage: Mapped[float | None]
    """The advantage used in the loss for this rollout."""
    truncated: Mapped[bool] = mapped_column(default=False)
    format_valid: Mapped[bool] = mapped_column(default=False)
    extras: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Anything else per rollout (per-token NLLs of the reference), as JSON."""
    flags: Mapped[list[str] | None] = mapped_column(JSON)
    """The failure flags that apply (names from training/flags.py), computed once when the step was written or by
    the dashboard's start-up backfill; None until then."""
    flags_version: Mapped[int | None]
    """The training/flags.py FLAGS_VERSION that computed `flags`; a lower one makes the backfill recompute them."""

    def __repr__(self) -> str:
        return f"Rollout(run={self.run_id}, step={self.step}, group={self.group_index}, sample={self.sample_index})"


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (Index("ix_checkpoints_run_step", "run_id", "step", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int]
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"Checkpoint(run={self.run_id}, step={self.step}, path={self.path!r})"


class Evaluation(Base):
    """A job a worker claims like a run: a held-out evaluation or a playground generation, of a base model
    (run_id None) or of one checkpoint of a run. Its status moves like a run's (queued -> running -> ended)."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(JOB_KIND_MAX), default="evaluation", server_default="evaluation")
    """Which job it is: a key of training.job_config.JOB_KINDS (held-out prompts of a dataset, or prompts typed by
    a person). The Store keeps what its caller validated; a worker refuses a kind it does not know."""
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(Text)
    """Base model id or folder the evaluation generated with."""
    checkpoint_step: Mapped[int | None]
    dataset: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The job's settings (training/job_config.py: a job's to_dict()); None for evaluations recorded before jobs
    existed, and older keys for jobs queued before job configs were typed (the worker rebuilds those)."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    """A storage.statuses.Status value, moving as a run's does."""
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """Last sign of life of the worker running it; a stale one means the worker died."""
    worker_id: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return (
            f"Evaluation(id={self.id}, kind={self.kind}, run={self.run_id}, step={self.checkpoint_step}, "
            f"status={self.status})"
        )


class EvaluationSample(Base):
    __tablename__ = "evaluation_samples"
    __table_args__ = (Index("ix_evaluation_samples_eval_index", "evaluation_id", "sample_index", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    sample_index: Mapped[int]
    prompt: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    completion: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    format_valid: Mapped[bool] = mapped_column(default=False)
    perplexity: Mapped[float | None]
    correct: Mapped[bool | None]
    """Verifier verdict where the data allows one."""
    extras: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"EvaluationSample(evaluation={self.evaluation_id}, index={self.sample_index})"


class Worker(Base):
    """A worker process and what its machine can run (training/capabilities.py), so the dashboard can refuse a
    run no live worker can train, and a worker can leave such a run queued for one that can."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(WORKER_ID_MAX), primary_key=True)
    """The worker id the runs it claims record (host:pid by default)."""
    host: Mapped[str] = mapped_column(String(HOST_MAX))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """Refreshed while it idles and by the heartbeats of what it runs; one older than the heartbeat timeout means
    the worker is gone."""
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    """training/needs.py Capabilities as a dict: CUDA, GPUs, bf16, bitsandbytes, vllm, the torch version."""

    def __repr__(self) -> str:
        return f"Worker(id={self.id!r}, host={self.host!r}, last_seen_at={self.last_seen_at})"


class RunMachine(Base):
    """One machine of a run that spans several (RunConfig.num_machines > 1): rank 0 is the worker that claimed the
    run, the others are workers on other machines that joined it. The unique (run, rank) pair is the join's claim."""

    __tablename__ = "run_machines"
    __table_args__ = (UniqueConstraint("run_id", "machine_rank", name="uq_run_machines_run_rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    machine_rank: Mapped[int]
    worker_id: Mapped[str] = mapped_column(String(WORKER_ID_MAX))
    host: Mapped[str] = mapped_column(String(HOST_MAX))
    address: Mapped[str | None] = mapped_column(String(HOST_MAX))
    """Rank 0 only: the address the other machines reach it at (accelerate's --main_process_ip)."""
    port: Mapped[int | None]
    """Rank 0 only: the port they connect to (accelerate's --main_process_port)."""
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """Its worker's last sign of life while its processes run; a stale one fails the run naming the machine."""
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None]
    """How its launched processes exited; a non-zero code while the run runs means the machine dropped out."""

    def __repr__(self) -> str:
        return f"RunMachine(run_id={self.run_id}, machine_rank={self.machine_rank}, host={self.host!r})"


class Alert(Base):
    """A rule on a run's metrics that fired, with its evidence: the steps and values that made it fire. One row per
    (run, rule): a rule that keeps firing extends its evidence rather than adding rows."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("run_id", "rule", name="uq_alerts_run_rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(ALERT_RULE_MAX))
    """The rule's name (a default rule's id, or the text of a rule the run's config added)."""
    metric: Mapped[str] = mapped_column(String(METRIC_KEY_MAX))
    evidence: Mapped[dict[str, list[Any]]] = mapped_column(JSON)
    """{"steps": [...], "values": [...]}: the metric's values at the steps that made the rule fire, finite numbers
    only (JSON has no NaN)."""
    last_step: Mapped[int]
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the operator's webhook took it; None when there is no webhook or it has not answered yet."""

    def __repr__(self) -> str:
        return f"Alert(run={self.run_id}, rule={self.rule!r}, last_step={self.last_step})"
