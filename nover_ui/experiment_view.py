"""An experiment's runs side by side: grouped into variants (runs whose configs differ only in `seed`), each
variant's final and best held-out metrics as a mean with a 95% Student-t interval over its seeds, and the config
fields in which the runs differ.

Pure: run records and `eval/*` series in, pandas tables out (the curves are in experiment_curves.py). Names and
config values are untrusted text; the tables hold them as plain strings, which the Experiments tab shows in a
gr.Dataframe of datatype "str" (text, never markup).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nover_ui.number_text import MISSING
from nover_ui.seed_stats import SeedInterval, seed_interval
from storage import MetricSeries, RunRecord, Status

SEED_FIELD = "seed"
EVAL_METRICS = ("eval/format_valid", "eval/accuracy", "eval/perplexity", "eval/answer_length", "eval/reasoning_length")
"""The held-out metrics the worker logs during training (DESIGN.md's vocabulary), in the table's order."""
BEST: Mapping[str, Any] = {"eval/format_valid": max, "eval/accuracy": max, "eval/perplexity": min}
"""How a metric's best value is picked over its eval steps; a length is neither better long nor short, so it
(and any other eval/* key) shows its final value only."""
INTERVAL_NOTE = "95% Student-t interval over seeds (n per row): mean ± t(0.975, n-1) · s / √n."
LABEL_MAX = 60
"""A variant's label is cut here (a long prompt template as a field value); the diff table shows values whole."""


@dataclass(frozen=True)
class Variant:
    """Runs whose configs are equal but for their seed."""

    label: str
    """The values of the fields that set this variant apart from the others ('reward=rlpr'), or 'all runs'."""
    runs: tuple[RunRecord, ...]


def eval_keys(series: Mapping[int, Mapping[str, MetricSeries]]) -> list[str]:
    """The eval/* keys some run has a point of: the known ones in EVAL_METRICS' order, any other sorted after.

    >>> one = MetricSeries("eval/perplexity", (0,), (3.0,), (0.0,))
    >>> eval_keys({1: {"eval/perplexity": one, "eval/zeta": one, "reward": one}})
    ['eval/perplexity', 'eval/zeta']
    """
    present = {key for run in series.values() for key, s in run.items() if key.startswith("eval/") and s.steps}
    return [key for key in EVAL_METRICS if key in present] + sorted(present - set(EVAL_METRICS))


def differing_fields(runs: Sequence[RunRecord]) -> list[str]:
    """The config fields whose values are not the same in every run (a field a run lacks counts as a value of its
    own), sorted by name with `seed` last."""
    fields = sorted({key for run in runs for key in run.config})
    differ = [key for key in fields if len({_canonical(run.config.get(key, _ABSENT)) for run in runs}) > 1]
    return [key for key in differ if key != SEED_FIELD] + [key for key in differ if key == SEED_FIELD]


def variants(runs: Sequence[RunRecord]) -> list[Variant]:
    """The runs grouped by their config without `seed`, in the order of each variant's first run."""
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        without_seed = {key: value for key, value in run.config.items() if key != SEED_FIELD}
        groups.setdefault(_canonical(without_seed), []).append(run)
    # The reward first: recipes set several reward fields at once, and the reward names the recipe.
    apart = sorted((key for key in differing_fields(runs) if key != SEED_FIELD), key=lambda key: key != "reward")
    return [Variant(_label(members[0], apart), tuple(members)) for members in groups.values()]


def diff_table(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """Field x run: one row per config field that differs between the runs (seed last), one column per run
    ('#3 name'); a field a run lacks shows as MISSING. One row saying so when every field is the same."""
    columns = ["field"] + [f"#{run.id} {run.name}" for run in runs]
    fields = differing_fields(runs)
    if not fields:
        return pd.DataFrame([["(every field is the same in every run)"] + [""] * len(runs)], columns=columns)
    rows = [[key] + [value_text(run.config.get(key, _ABSENT)) for run in runs] for key in fields]
    return pd.DataFrame(rows, columns=columns)


def results_table(runs: Sequence[RunRecord], series: Mapping[int, Mapping[str, MetricSeries]]) -> pd.DataFrame:
    """One row per variant: its label, its runs' status, and for each eval/* key present its final value (at the
    run's last eval step) and, where BEST names a direction, its best, each as mean ± interval over seeds (n).

    `series` maps run id -> key -> series. A run still going counts with its latest eval so far, and the status
    column says it is still going.
    """
    keys = eval_keys(series)
    columns = ["variant", "runs"]
    for key in keys:
        columns += [f"{key} final"] + ([f"{key} best"] if key in BEST else [])
    rows = []
    for variant in variants(runs):
        row = [variant.label, runs_text(variant.runs)]
        for key in keys:
            per_run = [series.get(run.id, {}).get(key) for run in variant.runs]
            row.append(_cell(seed_interval([last_value(s) for s in per_run if s is not None])))
            if key in BEST:
                row.append(_cell(seed_interval([best_value(s, BEST[key]) for s in per_run if s is not None])))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def last_value(series: MetricSeries) -> float:
    """The value at the series' last step with a finite value (NaN when none has one)."""
    return next((v for v in reversed(series.values) if math.isfinite(v)), math.nan)


def best_value(series: MetricSeries, pick: Any) -> float:
    """max or min (`pick`) over the series' finite values (NaN when none is finite)."""
    finite = [v for v in series.values if math.isfinite(v)]
    return pick(finite) if finite else math.nan


def runs_text(runs: Sequence[RunRecord]) -> str:
    """Each run's id, seed and status: '#3 seed 1 succeeded · #4 seed 2 running (step 5/10)'."""
    parts = []
    for run in runs:
        status = run.status
        if run.status == Status.RUNNING:
            status += f" (step {run.step}" + (f"/{run.total_steps})" if run.total_steps else ")")
        parts.append(f"#{run.id} seed {value_text(run.config.get(SEED_FIELD, _ABSENT))} {status}")
    return " · ".join(parts)


def value_text(value: Any) -> str:
    """A config value as text: strings as they are, other values as JSON, MISSING for a field a run lacks.

    >>> value_text("rlpr"), value_text(1e-05), value_text(True), value_text([1, 2]), value_text(_ABSENT)
    ('rlpr', '1e-05', 'true', '[1, 2]', '–')
    """
    if value is _ABSENT:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


class _Absent:
    """A field a run's config does not have (None is a value a field can hold)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _canonical(value: Any) -> str:
    if value is _ABSENT:
        return "\0absent"
    return json.dumps(value, sort_keys=True, default=str)


def _label(run: RunRecord, apart: Sequence[str]) -> str:
    if not apart:
        return "all runs"
    label = ", ".join(f"{key}={value_text(run.config.get(key, _ABSENT))}" for key in apart)
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _cell(interval: SeedInterval | None) -> str:
    return MISSING if interval is None else interval.text()
