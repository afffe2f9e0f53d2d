"""Which metric keys the Metrics tab draws where: the key curves in a header, the keys that move in their groups'
charts, and the flat or empty keys folded away as one list that says their value.

A TRL run logs about 40 keys a step and many never move (clip ratios at 0 on a short run, a constant learning
rate): as charts they pushed the reward curve off screen. Pure: series in, keys and text out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nover_ui.safe_text import markdown_text
from storage import EvaluationRecord, MetricSeries, Status

HEADER_KEYS: dict[str, str] = {
    "reward": "reward (total)",
    "rewards/format/mean": "format-valid rate",
    "nover/perplexity/mean": "reference perplexity",
    "completions/mean_length": "completion length",
}
"""The curves a person looks at first, in this order, with the title each chart gets. rewards/format/mean is the
format-valid rate: the format reward is 1 for a valid rollout and 0 otherwise. The perplexity is the reference's,
given the reasoning, as the proxy scores it (lower is better)."""

HELD_OUT_PREFIXES = ("eval/", "held-out/")
"""Held-out metrics, drawn in their own chart right under the key curves when a run has them: `eval/*` logged
during training (training/heldout_eval.py), `held-out/*` the evaluation jobs of the run's checkpoints
(held_out_series)."""

EVAL_ORDER = ("eval/format_valid", "eval/perplexity", "eval/accuracy", "eval/answer_length", "eval/reasoning_length")
"""The held-out chart's subplots in this order, then any other held-out key sorted."""

HELD_OUT_METRICS = ("format_valid_rate", "mean_reference_perplexity", "verifier_accuracy", "mean_completion_tokens")
"""The evaluation job metrics (training/evaluate.py EvalResult.metrics) drawn against the checkpoint's step."""

EVALUATION_KIND = "evaluation"  # training.job_config.EvaluationJob.kind; job_config is not imported by the UI's views


@dataclass(frozen=True)
class FlatKey:
    key: str
    value: float | None
    """The one value every point has, across the selected runs; None when there is no (finite) point at all."""


@dataclass(frozen=True)
class MetricLayout:
    header: tuple[str, ...]
    """Key curves present in some run, in HEADER_KEYS order. Drawn even when flat: a reward flat at 0 is what a
    person must see (with the no-signal banner)."""
    evaluation: tuple[str, ...]
    """Held-out metrics present in some run (EVAL_ORDER, then the others sorted), drawn even when flat."""
    body: tuple[str, ...]
    """Every other key that moves, sorted: drawn in its group's chart."""
    flat: tuple[FlatKey, ...]
    """Every other key that does not move or has no point, sorted by key."""


def header_title(key: str) -> str:
    """The chart title of a header key: what it means, and the key that is logged.

    >>> header_title("rewards/format/mean"), header_title("eval/accuracy")
    ('format-valid rate (rewards/format/mean)', 'eval/accuracy')
    """
    if key == "reward":
        return HEADER_KEYS[key]
    return f"{HEADER_KEYS[key]} ({key})" if key in HEADER_KEYS else key


def layout_keys(metrics: Mapping[int, Mapping[str, MetricSeries]]) -> MetricLayout:
    """Sort the keys of every selected run (run id -> key -> series) into header, body and flat."""
    keys = {key for run_metrics in metrics.values() for key in run_metrics}
    held_out = {key for key in keys if key.startswith(HELD_OUT_PREFIXES)}
    header = tuple(key for key in HEADER_KEYS if key in keys)
    evaluation = tuple([key for key in EVAL_ORDER if key in held_out] + sorted(held_out - set(EVAL_ORDER)))
    body: list[str] = []
    flat: list[FlatKey] = []
    for key in sorted(keys - set(header) - held_out):
        moving, value = flat_value(run_metrics[key] for run_metrics in metrics.values() if key in run_metrics)
        if moving:
            body.append(key)
        else:
            flat.append(FlatKey(key, value))
    return MetricLayout(header, evaluation, tuple(body), tuple(flat))


def flat_value(series: Iterable[MetricSeries]) -> tuple[bool, float | None]:
    """(False, v) when every finite point of every series is v (up to float32 rounding), (False, None) when
    none has a finite point, (True, None) when the points differ. A series whose ends differ costs two
    comparisons, a flat one a pass in C over its values, never an array copy.

    >>> flat_value([MetricSeries("lr", (1, 2), (1e-5, 1e-5), (0.0, 0.0))])
    (False, 1e-05)
    >>> flat_value([MetricSeries("k", (1,), (0.0,), (0.0,)), MetricSeries("k", (1,), (1.0,), (0.0,))])
    (True, None)
    >>> flat_value([MetricSeries("k", (), (), ()), MetricSeries("k", (1,), (float("nan"),), (0.0,))])
    (False, None)
    """
    first: float | None = None
    for one in series:
        values = one.values
        if values and math.isfinite(values[0]):
            if math.isfinite(values[-1]) and not _same(values[-1], values[0]):
                return True, None  # most moving series tell at their ends
            if values.count(values[0]) == len(values):
                values = values[:1]  # constant: tuple.count compares in C, 50x faster than the loop below
        for value in values:
            if not math.isfinite(value):
                continue
            if first is None:
                first = value
            elif not _same(value, first):
                return True, None
    return False, first


def _same(value: float, other: float) -> bool:
    """Equal up to float32 rounding: TRL logs float32 means, so 0.375 may arrive as 0.3750000298 one step and
    0.375 the next, which drew as a chart of noise."""
    return math.isclose(value, other, rel_tol=1e-6, abs_tol=1e-12)


def flat_markdown(flat: Sequence[FlatKey]) -> str:
    """The folded section's text: one line per flat key with its value. Keys are shown as text.

    >>> print(flat_markdown([FlatKey("learning_rate", 1e-05), FlatKey("data/skipped_rows", None)]))
    These metrics did not move across the selected runs, so they are listed instead of drawn.
    <BLANKLINE>
    - learning\\_rate = 1e-05 at every point
    - data\\/skipped\\_rows has no points
    """
    if not flat:
        return "Every metric of the selected runs moves; all are drawn above."
    lines = [
        f"- {markdown_text(item.key)} = {item.value:.6g} at every point"
        if item.value is not None
        else f"- {markdown_text(item.key)} has no points"
        for item in flat
    ]
    intro = "These metrics did not move across the selected runs, so they are listed instead of drawn."
    return "\n".join([intro, "", *lines])


def flat_label(flat: Sequence[FlatKey]) -> str:
    """The folded section's title.

    >>> flat_label([FlatKey("kl", 0.0), FlatKey("loss", 0.0)]), flat_label([])
    ('Flat or empty metrics (2): kl, loss', 'Flat or empty metrics (none)')
    """
    if not flat:
        return "Flat or empty metrics (none)"
    names = ", ".join(item.key for item in flat[:6]) + (", ..." if len(flat) > 6 else "")
    return f"Flat or empty metrics ({len(flat)}): {names}"


def held_out_series(evaluations: Iterable[EvaluationRecord]) -> dict[str, MetricSeries]:
    """`held-out/<metric>` series of a run from its succeeded evaluation jobs, one point per checkpoint step;
    where a checkpoint was evaluated more than once, its newest evaluation counts. Base-model jobs (no step),
    playground jobs and metrics with no value (None, NaN) are left out."""
    newest: dict[int, EvaluationRecord] = {}
    for job in evaluations:
        if job.kind == EVALUATION_KIND and job.status == Status.SUCCEEDED and job.checkpoint_step is not None:
            if job.checkpoint_step not in newest or job.id > newest[job.checkpoint_step].id:
                newest[job.checkpoint_step] = job
    points: dict[str, list[tuple[int, float, float]]] = {}
    for step in sorted(newest):
        job = newest[step]
        when = _epoch_seconds(job.finished_at or job.created_at)
        for name in HELD_OUT_METRICS:
            value = (job.metrics or {}).get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                points.setdefault(f"held-out/{name}", []).append((step, float(value), when))
    return {
        key: MetricSeries(key, tuple(p[0] for p in rows), tuple(p[1] for p in rows), tuple(p[2] for p in rows))
        for key, rows in points.items()
    }


def _epoch_seconds(moment: dt.datetime) -> float:
    """The Store keeps times in UTC, naive on SQLite; a metric's wall_time is time.time()."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
