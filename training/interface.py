"""The contract between training code and whoever runs it: a trainer reports only through a Sink, a job either
returns its results or raises JobFailed.

The training code never sees the database: the executor (training/execute.py) binds a Sink to the Store and
writes a job's results, tests pass a MemorySink or a stand-in job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from training.config import RunConfig


class Phase(StrEnum):
    """What a trainer is doing before its first step lands, reported through Sink.log_phase (the dashboard shows it
    beside the run's status, since a start can take minutes with nothing else to show)."""

    LOADING_MODEL = "loading the model"
    CONVERTING_MODEL = "converting the model"
    """Once per data directory: the bundled GGUF into a safetensors folder (training/model.py)."""
    STARTING_GENERATION_SERVER = "starting the vLLM server"
    """Server mode: the worker waits until the run's vLLM server answers (training/vllm_server.py)."""
    FIRST_GENERATION = "first generation"
    """The first step: generating and scoring its rollouts, then the optimizer step."""


class Sink(Protocol):
    def log_phase(self, phase: Phase) -> None:
        """Report what the trainer does next while no step lands; the first step's metrics end it."""

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Report one optimizer step's metrics; marks the step as complete."""

    def log_rollouts(self, step: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Report the rollouts scored for a step (keys as storage.RolloutRecord, without ids)."""

    def log_checkpoint(self, step: int, path: str) -> None:
        """Report a checkpoint written to path."""

    def log_evaluation(self, step: int, metrics: dict[str, float], samples: list[dict[str, Any]]) -> None:
        """Report a held-out evaluation made at `step` (0: before the first update): its eval/* metrics, which
        become the run's metrics at that step, and its samples (keys as storage.EvaluationSampleRecord, without
        ids)."""

    def should_stop(self) -> bool:
        """True when the trainer should stop after the current step (cancel or shutdown)."""


@dataclass(frozen=True)
class RunContext:
    """What a trainer needs besides its config."""

    run_id: int
    home: Path
    """The data directory (converted models live under home/models)."""
    workdir: Path
    """Folder for this run's checkpoints and scratch files."""
    resume_from: Path | None = None
    """Checkpoint folder to continue from (a resumed run), or None for a fresh start."""
    name: str = ""
    """The run's name, which its trackers show (training/trackers.py)."""


TrainFn = Callable[[RunConfig, Sink, RunContext], None]


class JobFailed(Exception):
    """An evaluation or playground job ended without results; the message is the one paragraph its row keeps."""


@dataclass
class MemorySink:
    """A Sink that keeps everything in memory, for tests and scripts; `stop` asks the trainer to stop."""

    metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    rollouts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    checkpoints: list[tuple[int, str]] = field(default_factory=list)
    evaluations: dict[int, tuple[dict[str, float], list[dict[str, Any]]]] = field(default_factory=dict)
    """(metrics, samples) of each held-out evaluation by step; its metrics are also in `metrics` at that step."""
    phases: list[Phase] = field(default_factory=list)
    stop: bool = False

    def log_phase(self, phase: Phase) -> None:
        self.phases.append(phase)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.metrics.setdefault(step, {}).update(metrics)

    def log_rollouts(self, step: int, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rollouts.setdefault(step, []).extend(dict(row) for row in rows)

    def log_checkpoint(self, step: int, path: str) -> None:
        self.checkpoints.append((step, path))

    def log_evaluation(self, step: int, metrics: dict[str, float], samples: list[dict[str, Any]]) -> None:
        self.evaluations[step] = (dict(metrics), [dict(sample) for sample in samples])
        self.metrics.setdefault(step, {}).update(metrics)

    def should_stop(self) -> bool:
        return self.stop
