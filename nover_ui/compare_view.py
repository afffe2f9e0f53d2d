"""Two rollouts of one prompt side by side: a word diff of their reasoning, the change in reward, perplexity and
reasoning length, and for each the token view of its NOVER reward. Plus a prompt's history chart.

Pure: records in, HTML or a figure out. Text is escaped by the helpers it calls (text_diff, token_gain) or here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from nover_ui.number_text import MISSING, delta_text, number_text
from nover_ui.safe_text import html_text, plotly_text
from nover_ui.text_diff import DIFF_CSS, render_diff
from nover_ui.token_gain import TOKEN_CSS, render_token_gains, token_gains
from storage import PromptStep, RolloutRecord

COMPARE_CSS = (
    DIFF_CSS
    + TOKEN_CSS
    + """
.nover-compare .sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.nover-compare .side { border: 1px solid #d0d5dd; border-radius: 6px; padding: 8px; }
.nover-compare h4 { margin: 0 0 6px 0; }
.nover-compare .label { font-size: 11px; text-transform: uppercase; color: #667085; margin-top: 8px; }
.nover-compare .deltas, .nover-compare .numbers { font-family: monospace; font-size: 13px; margin: 6px 0; }
"""
)


def render_comparison(a: RolloutRecord, b: RolloutRecord, label_a: str, label_b: str) -> str:
    """HTML for rollouts `a` and `b` (labels like "run 3 · step 1 · #2"): deltas b - a on top, then each side's
    reasoning (a word diff against the other side), answer, numbers and the token view of its reference."""
    reasoning_a, reasoning_b = render_diff(_reasoning_text(a), _reasoning_text(b))
    sides = "".join(
        _side(rollout, label, reasoning)
        for rollout, label, reasoning in ((a, label_a, reasoning_a), (b, label_b, reasoning_b))
    )
    return f'<div class="nover-compare">{_deltas(a, b)}<div class="sides">{sides}</div></div>'


def token_view(rollout: RolloutRecord) -> str:
    """The reference coloured by how much this rollout's reasoning changed each token's log-probability."""
    extras = rollout.extras or {}
    target, baseline = extras.get("target_nll"), extras.get("baseline_nll")
    if not target or not baseline or len(target) != len(baseline):
        why = (
            "the rollout is not format-valid, so its reasoning was not scored"
            if not rollout.format_valid
            else "no per-token scores were stored for this rollout"
        )
        return f'<p class="legend">No token view: {why}.</p>'
    tokens = extras.get("target_tokens")
    if not tokens or len(tokens) != len(target):
        tokens = [f"t{i}" for i in range(len(target))]  # runs from before token strings were stored
    return render_token_gains(tokens, token_gains(target, baseline), target, baseline)


UNIT_TICKS_UP_TO = 10
"""Spans of at most this many steps get one tick per step."""


def history_figure(histories: Sequence[tuple[str, Sequence[PromptStep]]]) -> go.Figure:
    """Best and mean reward (left axis) and mean reasoning tokens (right axis) of a prompt over steps."""
    figure = go.Figure()
    all_steps = [h.step for _, history in histories for h in history]
    for name, history in histories:
        name = plotly_text(name)
        steps = [h.step for h in history]
        figure.add_scatter(
            x=steps, y=[h.best_reward for h in history], name=f"{name} best reward", mode="lines+markers"
        )
        figure.add_scatter(
            x=steps,
            y=[h.mean_reward for h in history],
            name=f"{name} mean reward",
            mode="lines+markers",
            line={"dash": "dot"},
        )
        figure.add_scatter(
            x=steps,
            y=[_nan(h.mean_reasoning_tokens) for h in history],
            yaxis="y2",
            name=f"{name} mean reasoning tokens",
            mode="lines+markers",
            line={"dash": "dash"},
        )
    figure.update_layout(
        template="plotly_white",
        height=340,
        margin={"l": 50, "r": 50, "t": 70, "b": 40},
        # Whole steps only: a tick per step over a short span (plotly would add 1.2, 1.4, ...), integers beyond.
        xaxis={
            "title": "step",
            "tickformat": "d",
            **({"tick0": 0, "dtick": 1} if all_steps and max(all_steps) - min(all_steps) <= UNIT_TICKS_UP_TO else {}),
        },
        yaxis={"title": "reward"},
        yaxis2={"title": "reasoning tokens", "overlaying": "y", "side": "right"},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return figure


def _side(rollout: RolloutRecord, label: str, reasoning_html: str) -> str:
    validity = "format-valid" if rollout.format_valid else "format failure"
    answer = html_text(rollout.answer if rollout.answer is not None else MISSING)
    numbers = (
        f"reward {number_text(rollout.reward)} (format {number_text(rollout.reward_format)} · reasoning "
        f"{number_text(rollout.reward_reasoning)} · efficiency {number_text(rollout.reward_efficiency)}) · ppl "
        f"{number_text(rollout.perplexity, 2)} · reasoning tokens {rollout.reasoning_tokens or MISSING}"
    )
    return (
        f'<div class="side"><h4>{html_text(label)} · {validity}</h4>'
        f'<div class="label">reasoning</div>{reasoning_html}'
        f'<div class="label">answer</div><div class="nover-diff">{answer}</div>'
        f'<div class="numbers">{html_text(numbers)}</div>'
        f'<div class="label">reference, coloured by what this reasoning changed</div>{token_view(rollout)}</div>'
    )


def _deltas(a: RolloutRecord, b: RolloutRecord) -> str:
    parts = [
        f"Δ reward {delta_text(a.reward, b.reward)}",
        f"Δ perplexity {delta_text(a.perplexity, b.perplexity, 2)}",
        f"Δ reasoning tokens {delta_text(a.reasoning_tokens, b.reasoning_tokens, 0)}",
    ]
    return f'<div class="deltas">{html_text(" · ".join(parts))} (right minus left)</div>'


def _reasoning_text(rollout: RolloutRecord) -> str:
    return rollout.reasoning if rollout.reasoning is not None else rollout.completion


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
