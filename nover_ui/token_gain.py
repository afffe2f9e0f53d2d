"""The token view of NOVER's verifier-free reward: how much a rollout's reasoning helped each reference token.

A scored rollout stores, per reference token, `target_nll` (negative log-likelihood given the prompt and this
rollout's reasoning) and `baseline_nll` (the same tokens with no reasoning at all). The gain of a token is
baseline_nll - target_nll, in nats: positive means the reasoning made the token more predictable (its log-probability
rose by that much), negative means the reasoning misled the proxy about it.

Pure helpers. Token strings are untrusted: they pass through `html_text` (nover_ui/safe_text.py) only, and the one
style built from data is a background colour formatted from a float computed here, never from text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nover_ui.number_text import MISSING, is_number, number_text
from nover_ui.safe_text import html_text

NEUTRAL_GAIN = 0.05
"""Gains within ±this many nats count as neither helped nor hurt (and are drawn without colour)."""
FULL_COLOUR_GAIN = 2.0
"""A gain of this many nats (or more) in either direction gets the full colour intensity."""
MAX_ALPHA = 0.75
GAIN_RGB = (46, 158, 91)  # green: the reasoning helped
LOSS_RGB = (214, 69, 65)  # red: the reasoning hurt

TOKEN_CSS = """
.nover-tokens { font-size: 14px; line-height: 1.7; }
.nover-tokens .text { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, monospace; }
.nover-tokens .tok { border-radius: 3px; }
.nover-tokens .tok:hover { outline: 1px solid #8888; }
.nover-tokens .tok.empty::after { content: "∅"; opacity: .5; }
.nover-tokens .tok.unknown { text-decoration: underline dotted #8888; }
.nover-tokens .legend { font-size: 12px; opacity: .85; margin-bottom: 6px; }
"""


def token_gains(target_nll: Sequence[float | None], baseline_nll: Sequence[float | None]) -> list[float]:
    """Per reference token, baseline_nll - target_nll in nats; NaN where either value is missing or non-finite.

    Worked example: a 3-token reference scored 0.4, 2.0, 1.0 nats with the reasoning and 1.6, 2.0, 0.5 without.
    The reasoning raised the first token's log-probability by 1.2, left the second alone and cost the third 0.5:

    >>> [round(g, 6) for g in token_gains([0.4, 2.0, 1.0], [1.6, 2.0, 0.5])]
    [1.2, 0.0, -0.5]
    """
    if len(target_nll) != len(baseline_nll):
        raise ValueError(
            f"target_nll and baseline_nll must score the same reference tokens, got "
            f"{len(target_nll)} and {len(baseline_nll)} values"
        )
    return [
        float(baseline) - float(target) if is_number(target) and is_number(baseline) else math.nan
        for target, baseline in zip(target_nll, baseline_nll)
    ]


def gain_summary(gains: Sequence[float]) -> dict[str, float | int]:
    """{"tokens", "total_gain", "mean_gain", "helped", "hurt"} over the finite gains (NaN ones only count in
    "tokens"); "helped"/"hurt" count gains above NEUTRAL_GAIN / below -NEUTRAL_GAIN; mean is NaN with no finite gain.

    >>> gain_summary([1.2, 0.0, -0.5, float("nan")])
    {'tokens': 4, 'total_gain': 0.7, 'mean_gain': 0.2333333333333333, 'helped': 1, 'hurt': 1}
    """
    finite = [g for g in gains if is_number(g)]
    return {
        "tokens": len(gains),
        "total_gain": math.fsum(finite),
        "mean_gain": math.fsum(finite) / len(finite) if finite else math.nan,
        "helped": sum(g > NEUTRAL_GAIN for g in finite),
        "hurt": sum(g < -NEUTRAL_GAIN for g in finite),
    }


def gain_colour(gain: float) -> str:
    """CSS background for one gain: green for a gain, red for a loss, alpha proportional to |gain| up to
    FULL_COLOUR_GAIN nats, fully transparent within ±NEUTRAL_GAIN or for NaN.

    >>> gain_colour(1.0), gain_colour(-5.0), gain_colour(0.01)
    ('rgba(46,158,91,0.375)', 'rgba(214,69,65,0.750)', 'rgba(0,0,0,0.000)')
    """
    if not is_number(gain) or abs(float(gain)) <= NEUTRAL_GAIN:
        return "rgba(0,0,0,0.000)"
    red, green, blue = GAIN_RGB if gain > 0 else LOSS_RGB
    alpha = MAX_ALPHA * min(abs(float(gain)), FULL_COLOUR_GAIN) / FULL_COLOUR_GAIN
    return f"rgba({red:d},{green:d},{blue:d},{alpha:.3f})"


def render_token_gains(
    tokens: Sequence[str],
    gains: Sequence[float],
    target_nll: Sequence[float | None],
    baseline_nll: Sequence[float | None],
) -> str:
    """HTML: a legend line with the summary, then the reference as one <span class="tok"> per token, coloured by
    gain_colour, with a hover title like "token ' Paris' · gain +1.23 nats · log p with reasoning -0.41 · without
    -1.64". Tokens are shown exactly (pre-wrap); an empty token shows a faint ∅ via CSS, a token whose gain is NaN
    is underlined dotted. All four sequences must have one entry per reference token, else ValueError.
    Style with TOKEN_CSS."""
    lengths = (len(tokens), len(gains), len(target_nll), len(baseline_nll))
    if len(set(lengths)) != 1:
        raise ValueError(
            "tokens, gains, target_nll and baseline_nll need one entry per reference token, got "
            f"{', '.join(map(str, lengths))} entries"
        )
    if not tokens:
        return '<div class="nover-tokens"><p class="legend">no reference tokens scored for this rollout</p></div>'
    spans = "".join(
        _token_html(token, gain, target, baseline)
        for token, gain, target, baseline in zip(tokens, gains, target_nll, baseline_nll)
    )
    return f'<div class="nover-tokens">{_legend_html(gains)}<div class="text">{spans}</div></div>'


def _token_html(token: str, gain: float, target_nll: float | None, baseline_nll: float | None) -> str:
    gain_text = f"{number_text(gain, 2, signed=True)} nats" if is_number(gain) else MISSING
    title = (
        f"token {token!r} · gain {gain_text} · log p with reasoning "
        f"{_log_p(target_nll)} · without {_log_p(baseline_nll)}"
    )
    kind = "tok" + (" empty" if token == "" else "") + ("" if is_number(gain) else " unknown")
    return (
        f'<span class="{kind}" style="background-color: {gain_colour(gain)}" title="{html_text(title)}">'
        f"{html_text(token)}</span>"
    )


def _legend_html(gains: Sequence[float]) -> str:
    summary = gain_summary(gains)
    sample = (
        f'<span class="tok" style="background-color: {gain_colour(FULL_COLOUR_GAIN)}">reasoning helped</span> '
        f'<span class="tok" style="background-color: {gain_colour(-FULL_COLOUR_GAIN)}">reasoning hurt</span>'
    )
    total, mean = (number_text(summary[key], 2, signed=True) for key in ("total_gain", "mean_gain"))
    text = (
        f" · full colour at ±{FULL_COLOUR_GAIN:g} nats · {summary['tokens']} tokens · total gain "
        f"{total} nats · mean {mean}"
        f" · helped {summary['helped']} · hurt {summary['hurt']}"
    )
    return f'<div class="legend">{sample}{html_text(text)}</div>'


def _log_p(nll: float | None) -> str:
    return number_text(-nll, 2) if is_number(nll) else MISSING
