"""The contracts of evaluation and playground jobs: frozen dataclasses that the UI, the database and the worker share.

Standard library only (the UI process imports this module), shaped like training/config.py's RunConfig: each field
carries its help text and bounds in `metadata`, `__post_init__` refuses a bad value with a ConfigError naming the
field, the value and the fix, and `to_dict`/`from_dict` are the JSON stored in the job's row. A job holds its
RunConfig already resolved (the run's stored config, or a preset, with the job's model), so the worker runs what
was checked when the person clicked.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from training.config import ConfigError, RunConfig, field_names
from training.model_card import ModelCard

JUDGES = ("base", "self")
MAX_EVAL_PROMPTS = 10_000
MAX_SAMPLES = 64
MAX_SEED = 2**32 - 1
"""numpy's and torch's seeds are 32-bit."""
MAX_PROMPT_CHARS = 20_000
MAX_PLAYGROUND_PROMPTS = 64
"""A playground job answers prompts typed by a person: a handful, not a data set (that is an evaluation)."""


def _opt(
    default: Any,
    help: str,
    least: int | None = None,
    most: int | None = None,
    choices: tuple[str, ...] | None = None,
    items: int | None = None,
) -> Any:
    """A field with its help text; `least` and `most` bound a whole number, `most` alone a text's length (of each
    text in a tuple), `items` how many texts a tuple holds. Every number and text has a `most`, so no job can store
    a value that breaks a read for others (the run_config carries its own)."""
    metadata = {"help": help, "least": least, "most": most, "choices": choices, "items": items}
    return field(default=default, metadata={key: value for key, value in metadata.items() if value is not None})


@dataclass(frozen=True)
class JobConfig:
    """What every job has: the model's settings."""

    kind: ClassVar[str]
    """The job's kind, stored in its row's `kind` column; JOB_KINDS maps it back to the class."""

    run_config: RunConfig = _opt(
        RunConfig(),
        "The resolved run configuration: model, prompt template, tags, sampling (temperature, top_p, "
        "max_completion_length), verifier settings and data columns. A checkpoint's job uses its run's stored "
        "config; a base-model playground job a preset.",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.run_config, RunConfig):
            raise ConfigError(
                "run_config", f"run_config must be a RunConfig (a JSON object of its fields), got {self.run_config!r}"
            )
        for f in dataclasses.fields(self):
            if "choices" in f.metadata:
                _check_choice(self, f)
            elif _hints(type(self))[f.name] is int:
                _check_whole(self, f)
        self._check_own()

    def _check_own(self) -> None:
        """The checks of a kind's own fields."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: the job's row stores this, and from_dict rebuilds the same job from it."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values = {key: value.to_dict() if hasattr(value, "to_dict") else value for key, value in values.items()}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Build a job from plain values (a database row, a form), refusing unknown keys; missing ones take their
        defaults. Number widgets' whole floats (8.0) count as whole numbers, JSON lists as tuples."""
        if not isinstance(values, dict):
            raise ConfigError(None, f"a {cls.kind} job's config is a JSON object of setting: value, got {values!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            guess = difflib.get_close_matches(unknown[0], names, n=1, cutoff=0.6)
            raise ConfigError(
                unknown[0],
                f"unknown {cls.kind} setting(s) {', '.join(map(repr, unknown))}; {cls.kind} jobs take "
                f"{', '.join(names)}" + (f" (did you mean {guess[0]!r}?)" if guess else ""),
            )
        return cls(**{name: _coerce(cls, name, value) for name, value in values.items()})

    @classmethod
    def is_complete(cls, values: Any) -> bool:
        """Whether `values` holds every setting, with a run_config of every RunConfig field, as to_dict writes them.

        A job queued before job configs were typed held some settings and a partial run_config to merge over its
        run's config; such a row is incomplete, and its reader rebuilds it (`legacy_values`) before from_dict.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return (
            isinstance(values, dict)
            and set(values) == names
            and isinstance(values["run_config"], dict)
            and set(values["run_config"]) == set(field_names())
        )


@dataclass(frozen=True)
class SampledJob(JobConfig):
    """A job that generates: how many samples to draw, with which seed, judged by whom."""

    samples: int = _opt(1, "Completions drawn per prompt.", least=1, most=MAX_SAMPLES)
    seed: int = _opt(
        0, "Sampling seed: the same seed gives two checkpoints the same random draws.", least=0, most=MAX_SEED
    )
    judge: str = _opt(
        "base",
        "Which model computes the reference perplexities: 'base' (the base model, so checkpoints are compared on "
        "one scale) or 'self' (the evaluated model).",
        choices=JUDGES,
    )


@dataclass(frozen=True)
class EvaluationJob(SampledJob):
    """Held-out prompts of the data source named by the job row's `dataset`."""

    kind: ClassVar[str] = "evaluation"

    split: str = _opt("test", "Rows of this split are evaluated; ignored when the data has no split column.", most=128)
    max_prompts: int = _opt(8, "The first this many prompts of the split.", least=1, most=MAX_EVAL_PROMPTS)

    def _check_own(self) -> None:
        if not isinstance(self.split, str) or not self.split.strip():
            raise ConfigError("split", f"split must name a split of the data (e.g. 'test'), got {self.split!r}")
        object.__setattr__(self, "split", self.split.strip())
        _check_length(self, "split", self.split)


@dataclass(frozen=True)
class PlaygroundJob(SampledJob):
    """Prompts typed by a person (the job row's `dataset` is only a label)."""

    kind: ClassVar[str] = "playground"

    prompts: tuple[str, ...] = _opt(
        (), "The prompts to answer, as a person typed them.", most=MAX_PROMPT_CHARS, items=MAX_PLAYGROUND_PROMPTS
    )
    reference: str | None = _opt(
        None,
        "A reference answer: each format-valid sample then gets the NOVER reasoning perplexity of it and a "
        "verifier verdict; without one (empty) they stay None.",
        most=MAX_PROMPT_CHARS,
    )

    def _check_own(self) -> None:
        prompts = self.prompts
        if not isinstance(prompts, tuple) or not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            shown = list(prompts) if isinstance(prompts, tuple) else prompts
            raise ConfigError(
                "prompts", f"prompts must be a non-empty list of non-empty strings, got {shown!r}; type a prompt"
            )
        items = _metadata(self, "prompts")["items"]
        if len(prompts) > items:
            raise ConfigError(
                "prompts", f"prompts holds at most {items} prompts, got {len(prompts)}; queue the rest apart"
            )
        object.__setattr__(self, "prompts", tuple(p.strip() for p in prompts))
        for prompt in self.prompts:
            _check_length(self, "prompts", prompt, "each prompt")
        if self.reference is not None and not isinstance(self.reference, str):
            raise ConfigError("reference", f"reference must be a string or None, got {self.reference!r}")
        object.__setattr__(self, "reference", (self.reference or "").strip() or None)
        _check_length(self, "reference", self.reference or "")


@dataclass(frozen=True)
class MergeJob(JobConfig):
    """The policy adapter of the job row's checkpoint merged into a full-precision copy of its base model, saved with
    its tokenizer and a model card (training/merge_export.py) under the worker's HOME/exports."""

    kind: ClassVar[str] = "merge"

    card: ModelCard = _opt(
        ModelCard(0, "", 0),
        "The facts of the model card that the run's config does not hold: the run's name and data name, its eval/* "
        "metrics at the checkpoint's step and the latest evaluation of the checkpoint.",
    )

    def _check_own(self) -> None:
        if not isinstance(self.card, ModelCard):
            raise ConfigError("card", f"card must be a ModelCard (a JSON object of its facts), got {self.card!r}")


Job = EvaluationJob | PlaygroundJob | MergeJob
JobClass = type[EvaluationJob] | type[PlaygroundJob] | type[MergeJob]
JOB_KINDS: dict[str, JobClass] = {job.kind: job for job in (EvaluationJob, PlaygroundJob, MergeJob)}
"""Every kind of job a worker runs, by the name stored in a job row's `kind` column; the only list of them."""


def job_class(kind: str) -> JobClass:
    if kind not in JOB_KINDS:
        raise ConfigError("kind", f"unknown job kind {kind!r}; a worker runs {', '.join(JOB_KINDS)} jobs")
    return JOB_KINDS[kind]


def job_from_dict(kind: str, values: dict[str, Any]) -> Job:
    """The job of a row: its `kind` and its config as to_dict wrote it."""
    return job_class(kind).from_dict(values)


def legacy_values(config: dict[str, Any], base_run_config: dict[str, Any], model: str) -> dict[str, Any]:
    """A job config queued before job configs were typed, as from_dict takes it: its run_config merged over the
    run's stored config (`base_run_config`, empty for a base-model job) with the row's `model` on top, as the
    worker used to merge it on every read; missing settings then take their defaults."""
    run_config = config.get("run_config", {})
    if not isinstance(run_config, dict):
        return dict(config)  # from_dict refuses it, saying what run_config must be
    return {**config, "run_config": {**base_run_config, **run_config, "model": model}}


def _metadata(job: JobConfig, name: str) -> Any:
    return next(f.metadata for f in dataclasses.fields(job) if f.name == name)


def _coerce(cls: type[JobConfig], name: str, value: Any) -> Any:
    if name == "run_config" and isinstance(value, dict):
        try:
            return RunConfig.from_dict(value)
        except ConfigError as exc:
            raise ConfigError("run_config", f"run_config: {exc}") from None
    if name == "card" and isinstance(value, dict):
        return ModelCard.from_dict(value)
    if isinstance(value, float) and value.is_integer() and _hints(cls).get(name) is int:
        return int(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _hints(cls: type[JobConfig]) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # a few microseconds, for a job built once per click or claim


def _check_choice(job: JobConfig, f: dataclasses.Field[Any]) -> None:
    value = getattr(job, f.name)
    if value not in f.metadata["choices"]:
        raise ConfigError(f.name, f"{f.name} must be one of {', '.join(f.metadata['choices'])}, got {value!r}")


def _check_whole(job: JobConfig, f: dataclasses.Field[Any]) -> None:
    value, least, most = getattr(job, f.name), f.metadata["least"], f.metadata["most"]
    # bool is a subclass of int in Python; a checkbox value in a number field is a mistake, not a 1.
    if type(value) is not int:
        raise ConfigError(f.name, f"{f.name} must be a whole number from {least:,} to {most:,}, got {value!r}")
    if not least <= value <= most:
        shown = f"{value:,}" if abs(value) < 10**30 else f"{value:.3g}"
        raise ConfigError(f.name, f"{f.name} must be from {least:,} to {most:,}, got {shown}")


def _check_length(job: JobConfig, name: str, text: str, what: str | None = None) -> None:
    most = _metadata(job, name)["most"]
    if len(text) > most:
        raise ConfigError(name, f"{what or name} has at most {most:,} characters, got {len(text):,}; shorten it")
