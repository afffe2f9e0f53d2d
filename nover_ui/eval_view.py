"""Evaluation and playground results, records in, tables and HTML out. All model text is escaped here."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from nover_ui.number_text import delta_text
from nover_ui.prompt_text import question
from nover_ui.safe_text import html_text
from nover_ui.text_diff import render_diff
from storage import ACTIVE_STATUSES, EvaluationRecord, EvaluationSampleRecord, Status

METRIC_COLUMNS = {
    "format_valid_rate": "format-valid",
    "mean_reference_perplexity": "ref. perplexity",
    "verifier_accuracy": "accuracy",
    "mean_answer_chars": "answer chars",
    "samples": "samples",
}
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
    """'base SmolLM2-135M-Instruct' or 'run 3 · step 24'."""
    if evaluation.run_id is None or evaluation.checkpoint_step is None:
        return f"base {evaluation.model.rsplit('/', 1)[-1]}"
    return f"run {evaluation.run_id} · step {evaluation.checkpoint_step}"


def metrics_frame(evaluations: Sequence[EvaluationRecord]) -> pd.DataFrame:
    """The checkpoints x metrics table: one row per evaluation, newest first."""
    rows = []
    for evaluation in sorted(evaluations, key=lambda e: e.id, reverse=True):
        config = evaluation.config or {}
        metrics = evaluation.metrics or {}
        rows.append(
            {
                "id": evaluation.id,
                "model": model_label(evaluation),
                "data": evaluation.dataset,
                "split": config.get("split", ""),
                "status": evaluation.status,
                **{label: _cell(metrics.get(key)) for key, label in METRIC_COLUMNS.items()},
                "error": (evaluation.error or "").split("\n", 1)[0],
            }
        )
    columns = ["id", "model", "data", "split", "status", *METRIC_COLUMNS.values(), "error"]
    return pd.DataFrame(rows, columns=columns)


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
