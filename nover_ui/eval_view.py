"""Evaluation and playground results, records in, tables and HTML out. All model text is escaped here."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from nover_ui.dataset_label import dataset_label
from nover_ui.format_guidance import WHAT_TO_TRY
from nover_ui.number_text import delta_text, is_number, number_text
from nover_ui.prompt_text import question
from nover_ui.safe_text import html_text, markdown_text
from nover_ui.text_diff import render_diff
from storage import ACTIVE_STATUSES, EvaluationRecord, EvaluationSampleRecord, Status

METRIC_COLUMNS = {
    # metric key: (column, decimals); "samples" is a count, so it shows as a whole number.
    "samples": ("samples", 0),
    "format_valid_rate": ("format-valid", 3),
    "mean_reference_perplexity": ("ref. perplexity", 2),
    "verifier_accuracy": ("accuracy", 3),
    "mean_answer_chars": ("answer chars", 1),
}
SCORED = ("mean_reference_perplexity", "verifier_accuracy", "mean_answer_chars")
"""The metrics measured over format-valid answers only: with none, they say so instead of staying blank."""
NO_ANSWER = "no valid answer"
TABLE_COLUMNS = ["#", "run", "model", "data", "split", "status", *(c for c, _ in METRIC_COLUMNS.values()), "note"]
TABLE_WIDTHS: list[str | int] = [
    "48px", "12%", "14%", "12%", "64px", "104px", "84px", "96px", "104px", "96px", "96px", "16%",
]  # fmt: skip
"""Narrow numbers, room for the names: one letter per column was all a long path left them."""
EVAL_CSS = """
.nover-eval table { border-collapse: collapse; width: 100%; font-size: 13px; }
.nover-eval th, .nover-eval td { border: 1px solid #d0d5dd; padding: 6px; vertical-align: top; text-align: left; }
.nover-eval .text { white-space: pre-wrap; overflow-wrap: anywhere; }
.nover-eval .invalid { background: #fdecec; }
.nover-eval .meta { font-family: monospace; font-size: 12px; color: #475467; }
.nover-eval .sides { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.nover-eval .side { border: 1px solid #d0d5dd; border-radius: 6px; padding: 8px; }
.nover-eval .label { font-size: 11px; text-transform: uppercase; color: #667085; margin-top: 6px; }
"""


def model_label(evaluation: EvaluationRecord) -> str:
    """'base SmolLM2-135M-Instruct' (a hub id's or a folder's last part) or 'run 3 · step 24'."""
    if evaluation.run_id is None or evaluation.checkpoint_step is None:
        return f"base {evaluation.model.rstrip('/').rsplit('/', 1)[-1]}"
    return f"run {evaluation.run_id} · step {evaluation.checkpoint_step}"


def data_label(evaluation: EvaluationRecord, upload_names: Mapping[str, str] | None = None) -> str:
    """The evaluation's data as a person named it: the run's own data by the run's label (an upload's file name),
    another stored file by the name a run gave it (`upload_names`, stored path -> name), else its file name."""
    run_config = (evaluation.config or {}).get("run_config") or {}
    if isinstance(run_config, dict) and run_config.get("dataset") == evaluation.dataset:
        return dataset_label(run_config)
    return (upload_names or {}).get(evaluation.dataset) or dataset_label({"dataset": evaluation.dataset})


def valid_count(evaluation: EvaluationRecord) -> tuple[int, int] | None:
    """(format-valid, all) samples of a finished evaluation; None when its metrics do not say."""
    metrics = evaluation.metrics or {}
    samples, rate = metrics.get("samples"), metrics.get("format_valid_rate")
    if not (is_number(samples) and is_number(rate)):
        return None
    return round(samples * rate), round(samples)


def metrics_frame(
    evaluations: Sequence[EvaluationRecord],
    run_names: Mapping[int, str] | None = None,
    upload_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The checkpoints x metrics table: one row per evaluation, newest first, with the run it belongs to
    (`run_names`: id -> name) and its data by name."""
    rows = []
    for evaluation in sorted(evaluations, key=lambda e: e.id, reverse=True):
        run_id = evaluation.run_id
        rows.append(
            [
                str(evaluation.id),
                "–" if run_id is None else f"#{run_id} {(run_names or {}).get(run_id, '')}".strip(),
                model_label(evaluation),
                data_label(evaluation, upload_names),
                str((evaluation.config or {}).get("split", "")),
                evaluation.status,
                *_metric_cells(evaluation),
                _note(evaluation),
            ]
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def no_answer_note(evaluations: Sequence[EvaluationRecord]) -> str:
    """Markdown under the table for finished evaluations without one format-valid sample: what that means and what
    to try ('' when every one has some). Names are escaped: a model's name is text from whoever queued it."""
    empty = [e for e in evaluations if _unscored(e)]
    if not empty:
        return ""
    lines = [
        f"- **#{e.id} {markdown_text(model_label(e))}: {_unscored_text(e)}**: its perplexity, accuracy and "
        "answer length have nothing to measure."
        for e in sorted(empty, key=lambda e: e.id, reverse=True)
    ]
    return "\n".join(lines) + f"\n\nThe model did not answer in the run's format. {WHAT_TO_TRY}"


def answers_grid(
    evaluations: Sequence[EvaluationRecord], samples: Mapping[int, Sequence[EvaluationSampleRecord]]
) -> str:
    """A prompts x models table of answers: one row per (prompt, reference), one column per evaluation."""
    if not evaluations:
        return '<div class="nover-eval"><p>Choose finished evaluations to compare.</p></div>'
    prompts: dict[tuple[str, str], dict[int, list[EvaluationSampleRecord]]] = {}
    for evaluation in evaluations:
        for sample in samples.get(evaluation.id, []):
            prompts.setdefault((sample.prompt, sample.reference), {}).setdefault(evaluation.id, []).append(sample)
    pair = len(evaluations) == 2  # two models: a diff column says what changed between them
    head = "".join(f"<th>{html_text(model_label(e))}</th>" for e in evaluations)
    head += "<th>word diff, left → right</th>" if pair else ""
    body = []
    for (prompt, reference), by_evaluation in prompts.items():
        cells = "".join(
            f"<td>{''.join(_answer_html(s) for s in by_evaluation.get(e.id, []))}</td>" for e in evaluations
        )
        if pair:
            cells += f"<td>{_diff_html(*(by_evaluation.get(e.id, []) for e in evaluations))}</td>"
        body.append(
            f'<tr><td><div class="text">{html_text(question(prompt))}</div>'
            f'<div class="label">reference</div><div class="text">{html_text(reference)}</div></td>{cells}</tr>'
        )
    return (
        f'<div class="nover-eval"><table><thead><tr><th>prompt</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def playground_html(results: Sequence[tuple[str, EvaluationRecord, Sequence[EvaluationSampleRecord]]]) -> str:
    """Each model's answer side by side: reasoning and answer apart, the seed, the reference perplexity."""
    sides = []
    for label, job, samples in results:
        if job.status in ACTIVE_STATUSES:
            body = f"<p>{html_text(job.status)}…</p>"
        elif job.status != Status.SUCCEEDED:
            body = f'<p class="text">{html_text(job.status)}: {html_text(job.error or "")}</p>'
        else:
            body = "".join(_sample_html(sample) for sample in samples)
        sides.append(f'<div class="side"><b>{html_text(label)}</b>{body}</div>')
    return f'<div class="nover-eval"><div class="sides">{"".join(sides)}</div></div>'


def _sample_html(sample: EvaluationSampleRecord) -> str:
    extras = sample.extras or {}
    meta = (
        f"seed {extras.get('seed', '–')} · {'format-valid' if sample.format_valid else 'format failure'} · "
        f"ref. perplexity {_cell(sample.perplexity)}"
    )
    if sample.format_valid:
        texts = (
            f'<div class="label">reasoning</div><div class="text">{html_text(sample.reasoning or "")}</div>'
            f'<div class="label">answer</div><div class="text">{html_text(sample.answer or "")}</div>'
        )
    else:
        texts = f'<div class="label">completion</div><div class="text">{html_text(sample.completion)}</div>'
    return f'{texts}<div class="meta">{html_text(meta)}</div>'


def _diff_html(left: Sequence[EvaluationSampleRecord], right: Sequence[EvaluationSampleRecord]) -> str:
    """The first sample of each side: what the right one added (ins) to the left one's text, and the changes."""
    if not left or not right:
        return ""
    a, b = left[0], right[0]
    _, new_side = render_diff(a.completion, b.completion)
    changes = (
        f"Δ ppl {delta_text(a.perplexity, b.perplexity)} · Δ reasoning words "
        f"{delta_text(_words(a.reasoning), _words(b.reasoning), 0)}"
    )
    return f'{new_side}<div class="meta">{html_text(changes)}</div>'


def _words(text: str | None) -> float | None:
    return None if text is None else float(len(text.split()))


def _answer_html(sample: EvaluationSampleRecord) -> str:
    text = sample.answer if sample.format_valid else sample.completion
    verdict = {True: " · correct", False: " · wrong", None: ""}[sample.correct]
    meta = f"ppl {_cell(sample.perplexity)}{verdict}"
    css = "text" if sample.format_valid else "text invalid"
    return f'<div class="{css}">{html_text(text or "")}</div><div class="meta">{html_text(meta)}</div>'


def _cell(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.3f}"


def _metric_cells(evaluation: EvaluationRecord) -> list[str]:
    """A finished evaluation's metrics: a missing one (no checkable reference) shows as a dash, and those measured
    over valid answers say so when there were none; a queued, running or failed one has none yet."""
    if evaluation.status != Status.SUCCEEDED:
        return [""] * len(METRIC_COLUMNS)
    metrics = evaluation.metrics or {}
    unscored = _unscored(evaluation)
    return [
        NO_ANSWER if unscored and key in SCORED else number_text(metrics.get(key), digits)
        for key, (_, digits) in METRIC_COLUMNS.items()
    ]


def _unscored(evaluation: EvaluationRecord) -> bool:
    counts = valid_count(evaluation)
    return evaluation.status == Status.SUCCEEDED and counts is not None and counts[0] == 0 < counts[1]


def _unscored_text(evaluation: EvaluationRecord) -> str:
    _, total = valid_count(evaluation) or (0, 0)
    return f"0 of {total} format-valid: no answer was scored"


def _note(evaluation: EvaluationRecord) -> str:
    """The first line of a failure, or what an evaluation without a valid answer means."""
    if _unscored(evaluation):
        return _unscored_text(evaluation)
    return (evaluation.error or "").split("\n", 1)[0]


def heldout_html(
    run_id: int, step: int, evaluation: EvaluationRecord | None, samples: Sequence[EvaluationSampleRecord]
) -> str:
    """The samples of run `run_id`'s held-out evaluation during training at `step`, one row each: the question, the
    reference, the sample (reasoning and answer apart, escaped) and its verdict."""
    if evaluation is None:
        return f"<p>Run {run_id} has no held-out evaluation at step {step}.</p>"
    verdicts = {True: "correct", False: "wrong", None: "not checkable"}
    rows = "".join(
        f'<tr><td class="text">{html_text(s.prompt)}</td><td class="text">{html_text(s.reference or "")}</td>'
        f"<td>{_sample_html(s)}</td><td>{verdicts[s.correct]}</td></tr>"
        for s in samples
    )
    title = f"Held-out samples of run {run_id} at step {step} (judged by the base model)"
    head = "<tr><th>question</th><th>reference</th><th>sample</th><th>verifier</th></tr>"
    return f'<div class="nover-eval"><p><b>{html_text(title)}</b></p><table>{head}{rows}</table></div>'
