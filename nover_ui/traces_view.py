"""Rollout traces as HTML: one step's groups side by side, and search hits across a run.

Pure helpers, records in and HTML strings out. Prompts, references and model output are untrusted text: every
piece of it passes through `html_text` (nover_ui/safe_text.py, the only place text enters the HTML), and all
markup is the constants below, with `class` as the only attribute, so no data can become a tag, an attribute or
a script. Failure flags are read as stored with each rollout (training/flags.py computes them), never computed
here; whether a group has a ranking signal follows training/flags.py's rule, from the stored `format_valid`.

A group shows its question and reference first; the whole prompt as the policy saw it (system line, worked example,
chat markup) is folded under them, since with a worked example it runs long and would push the question out of view.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import groupby

from nover_ui.number_text import MISSING, is_number, number_text
from nover_ui.prompt_text import question
from nover_ui.safe_text import html_text
from storage import RolloutRecord
from training.flags import ROLLOUT_FLAGS, has_ranking_signal

FLAG_FILTERS: tuple[str, ...] = tuple(flag for flag in ROLLOUT_FLAGS if flag != "truncated")
NO_RANKING_SIGNAL = "no ranking signal"
"""A group's marker when fewer than two of its rollouts are format-valid, and the filter keeping only such groups."""
FILTERS: tuple[str, ...] = (
    "all",
    "format failures",
    "truncated",
    "top reward",
    "bottom reward",
    *FLAG_FILTERS,
    NO_RANKING_SIGNAL,
)
NOT_COMPUTED = "flags not computed"
"""The badge of a rollout stored before its flags were (the start-up backfill has not reached it yet)."""
SORTS: tuple[str, ...] = ("sample", "reward", "perplexity", "advantage")

TRACES_CSS = """
.nover-traces { font-size: 14px; line-height: 1.4; }
.nover-traces .group { border: 1px solid #8885; border-radius: 8px; padding: 10px; margin-bottom: 14px; }
.nover-traces .group-head, .nover-traces .hits-head { font-weight: 600; margin-bottom: 6px; }
.nover-traces .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 10px;
                       margin-top: 10px; }
.nover-traces .card { border: 1px solid #8885; border-left: 5px solid; border-radius: 6px; padding: 8px; }
.nover-traces .card.valid { border-left-color: #2e9e5b; }
.nover-traces .card.invalid { border-left-color: #d64541; background: #d645410d; }
.nover-traces .badge { font-size: 11px; padding: 1px 7px; border-radius: 9px; margin-left: 6px; }
.nover-traces .badge.valid { background: #2e9e5b33; }
.nover-traces .badge.invalid { background: #d6454133; }
.nover-traces .badge.truncated { background: #e8a33d44; }
.nover-traces .badge.pending { background: #8883; font-style: italic; }
.nover-traces .badge.no-signal { background: #e8a33d44; font-weight: 600; }
.nover-traces .no-signal-why { font-weight: 400; opacity: .85; }
.nover-traces .block { margin: 6px 0; padding: 4px 6px; border-radius: 4px; border-left: 3px solid #8886; }
.nover-traces .block.reasoning { background: #4a7fd914; border-left-color: #4a7fd9; }
.nover-traces .block.answer { background: #2e9e5b14; border-left-color: #2e9e5b; }
.nover-traces .block.completion { background: #d6454110; border-left-color: #d64541; }
.nover-traces .label { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; opacity: .7; }
.nover-traces .text { white-space: pre-wrap; overflow-wrap: anywhere; }
.nover-traces summary { cursor: pointer; }
.nover-traces .nums { font-family: ui-monospace, monospace; font-size: 12px; opacity: .85; }
.nover-traces .empty { opacity: .7; font-style: italic; }
.nover-traces .hits li { margin-bottom: 8px; }
.nover-traces mark { padding: 0 1px; border-radius: 2px; }
"""


def perplexity_ranks(group: Sequence[RolloutRecord]) -> dict[int, int]:
    """Rollout id -> rank of its reasoning perplexity within its group, 1 = lowest perplexity (best); only rollouts
    with a finite perplexity get a rank; ties share the lower rank (competition ranking: 1, 1, 3).

    Format failures are never ranked, whatever their perplexity field says: NOVER ranks only valid rollouts.
    """
    perplexities = {r.id: r.perplexity for r in group if r.format_valid and is_number(r.perplexity)}
    ordered = sorted(perplexities.values())
    return {rollout_id: bisect_left(ordered, value) + 1 for rollout_id, value in perplexities.items()}


def groups_of_step(rollouts: Sequence[RolloutRecord]) -> list[list[RolloutRecord]]:
    """Split one step's rollouts into groups by group_index (ascending), each ordered by sample_index. Groups are
    identified by (group_index), rows may come in any order."""
    # Keyed on the step too, so rows of two steps passed by mistake never merge into one group.
    ordered = sorted(rollouts, key=lambda r: (r.step, r.group_index, r.sample_index))
    return [list(group) for _, group in groupby(ordered, key=lambda r: (r.step, r.group_index))]


def select(group: Sequence[RolloutRecord], filter: str, sort: str, top_k: int = 2) -> list[RolloutRecord]:
    """Apply one of FILTERS ('top reward'/'bottom reward' keep the top_k highest/lowest reward rollouts of the group;
    a flag keeps the rollouts whose stored flags have it, so none whose flags are not computed yet; 'no ranking
    signal' keeps the whole group when it has none, else nothing) then one of SORTS
    ('reward' and 'advantage' descending, 'perplexity' ascending with missing perplexity last, 'sample' by
    sample_index). Unknown filter or sort -> ValueError naming the allowed values."""
    _require(filter, FILTERS, "filter")
    _require(sort, SORTS, "sort")
    by_sample = sorted(group, key=lambda r: r.sample_index)
    if filter == "format failures":
        kept = [r for r in by_sample if not r.format_valid]
    elif filter == "truncated":
        kept = [r for r in by_sample if r.truncated]
    elif filter == "top reward":
        kept = sorted(by_sample, key=_descending(lambda r: r.reward))[:top_k]
    elif filter == "bottom reward":
        kept = sorted(by_sample, key=_ascending(lambda r: r.reward))[:top_k]
    elif filter in FLAG_FILTERS:
        kept = [r for r in by_sample if filter in (r.flags or ())]
    elif filter == NO_RANKING_SIGNAL:
        kept = [] if has_ranking_signal(group) else by_sample
    else:
        kept = by_sample
    sort_keys = {
        "sample": lambda r: r.sample_index,
        "reward": _descending(lambda r: r.reward),
        "perplexity": _ascending(lambda r: r.perplexity),
        "advantage": _descending(lambda r: r.advantage),
    }
    return sorted(kept, key=sort_keys[sort])


def render_step(
    rollouts: Sequence[RolloutRecord],
    filter: str = "all",
    sort: str = "sample",
    collapse_chars: int = 600,
) -> str:
    """HTML for one step: per group its question and reference once (the whole prompt folded below them, when it
    holds more than the question), a "no ranking signal" marker with its reason when fewer than two rollouts are
    format-valid, then the selected rollouts as a grid of cards
    (reasoning and answer apart, badges for the format and the stored flags, reward components, perplexity rank,
    advantage, token counts). Texts longer than collapse_chars are folded into <details>; missing numbers show as
    '–'."""
    _require(filter, FILTERS, "filter")
    _require(sort, SORTS, "sort")
    if not rollouts:
        return _wrap('<p class="empty">no rollouts at this step</p>')
    sections = [_group_html(group, filter, sort, collapse_chars) for group in groups_of_step(rollouts)]
    return _wrap("".join(sections))


def render_search(rollouts: Sequence[RolloutRecord], query: str, limit: int = 50, context_chars: int = 80) -> str:
    """HTML list of search hits across a run (the caller already fetched the matching rollouts): per hit the step,
    group, sample, reward, and a snippet of the completion around the first case-insensitive match of `query`
    (context_chars either side), with the matched text wrapped in <mark> (the snippet escaped piecewise so <mark> is
    the only markup). At most `limit` hits, with a line saying how many were not shown. Empty query or no hits -> a
    short message."""
    if not query.strip():
        return _wrap('<p class="empty">type something to search the completions</p>')
    if not rollouts:
        return _wrap(f'<p class="empty">no rollouts match “{html_text(query)}”</p>')
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    hits = "".join(_hit_html(r, pattern, context_chars) for r in rollouts[:limit])
    head = f'<p class="hits-head">{html_text(str(len(rollouts)))} hits for “{html_text(query)}”</p>'
    hidden = len(rollouts) - limit
    more = f'<p class="empty">{html_text(str(hidden))} more hits not shown</p>' if hidden > 0 else ""
    return _wrap(f'{head}<ol class="hits">{hits}</ol>{more}')


def _wrap(inner_html: str) -> str:
    return f'<div class="nover-traces">{inner_html}</div>'


def _require(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, allowed))}")


def _ascending(value_of: Callable[[RolloutRecord], float | None]) -> Callable[[RolloutRecord], tuple[bool, float, int]]:
    """Sort key: smallest first, missing values last, ties in sample order."""
    return lambda r: (*_missing_last(value_of(r), 1.0), r.sample_index)


def _descending(
    value_of: Callable[[RolloutRecord], float | None],
) -> Callable[[RolloutRecord], tuple[bool, float, int]]:
    """Sort key: largest first, missing values last, ties in sample order."""
    return lambda r: (*_missing_last(value_of(r), -1.0), r.sample_index)


def _missing_last(value: float | None, sign: float) -> tuple[bool, float]:
    return (True, 0.0) if value is None or math.isnan(value) else (False, sign * value)


def _count(value: int | None) -> str:
    return MISSING if value is None else str(value)


def _group_html(group: list[RolloutRecord], filter: str, sort: str, collapse_chars: int) -> str:
    # Ranks come from the whole group, so a filtered view still shows each rollout's place among all of them.
    ranks = perplexity_ranks(group)
    first = group[0]
    head = (
        f'<div class="group-head">step {html_text(str(first.step))} · group {html_text(str(first.group_index))} · '
        f"{html_text(str(len(group)))} rollouts{_no_signal_marker(group)}</div>"
    )
    chosen = select(group, filter, sort)
    if chosen:
        body = '<div class="cards">' + "".join(_card_html(r, ranks, collapse_chars) for r in chosen) + "</div>"
    else:
        body = f'<p class="empty">no rollouts match “{html_text(filter)}”{_not_computed_note(group, filter)}</p>'
    return f'<section class="group">{head}{_prompt_html(first, collapse_chars)}{body}</section>'


def _no_signal_marker(group: list[RolloutRecord]) -> str:
    """NOVER's rank compares the format-valid rollouts of a group: with fewer than two it compares nothing, yet a
    lone valid rollout still gets the full reasoning reward. Said here, where that reward shows."""
    if has_ranking_signal(group):
        return ""
    valid = sum(r.format_valid for r in group)
    if valid == 1:
        why = f"only 1 of {len(group)} rollouts is format-valid: its rank 1/1 carries no comparison"
    else:
        why = f"none of the {len(group)} rollouts is format-valid: nothing to rank, every reasoning reward is 0"
    return (
        f'<span class="badge no-signal">{html_text(NO_RANKING_SIGNAL)}</span>'
        f'<span class="no-signal-why"> — {html_text(why)}</span>'
    )


def _prompt_html(first: RolloutRecord, collapse_chars: int) -> str:
    """The group's question and reference, then the whole prompt folded (when it holds more than the question)."""
    asked = question(first.prompt)
    texts = _text_block("question", asked, "prompt", collapse_chars)
    texts += _text_block("reference", first.reference, "reference", collapse_chars)
    if asked.strip() == first.prompt.strip():
        return texts
    summary = (
        f"the whole prompt as the model saw it, system line and any worked example included "
        f"({len(first.prompt):,} characters)"
    )
    return (
        f'{texts}<details class="block prompt full-prompt"><summary class="label">{html_text(summary)}</summary>'
        f'<div class="text">{html_text(first.prompt)}</div></details>'
    )


def _not_computed_note(group: list[RolloutRecord], filter: str) -> str:
    if filter in FLAG_FILTERS and any(r.flags is None for r in group):
        return " (the flags of some rollouts here are not computed yet)"
    return ""


def _badge_kind(flag: str) -> str:
    return "pending" if flag == NOT_COMPUTED else "truncated"


def _card_html(rollout: RolloutRecord, ranks: dict[int, int], collapse_chars: int) -> str:
    validity = "valid" if rollout.format_valid else "invalid"
    # "truncated" is a column of its own, so a rollout without computed flags still shows it.
    flags = rollout.flags if rollout.flags is not None else ["truncated"] * rollout.truncated + [NOT_COMPUTED]
    badges = (
        f'<span class="badge {validity}">{"format-valid" if rollout.format_valid else "format failure"}</span>'
        + "".join(f'<span class="badge {_badge_kind(flag)}">{html_text(flag)}</span>' for flag in flags)
    )
    head = f'<header><span class="sample">#{html_text(str(rollout.sample_index))}</span>{badges}</header>'
    if rollout.format_valid:
        texts = _text_block("reasoning", rollout.reasoning or "", "reasoning", collapse_chars) + _text_block(
            "answer", rollout.answer or "", "answer", collapse_chars
        )
    else:
        texts = _text_block("completion (not format-valid)", rollout.completion, "completion", collapse_chars)
    return f'<article class="card {validity}">{head}{texts}{_numbers_html(rollout, ranks)}</article>'


def _numbers_html(rollout: RolloutRecord, ranks: dict[int, int]) -> str:
    rank = ranks.get(rollout.id)
    perplexity = f"ppl {number_text(rollout.perplexity, 2)}"
    if rank is not None:
        perplexity += f" · rank {rank}/{len(ranks)}"
    lines = [
        f"reward {number_text(rollout.reward)}",
        _components_line(rollout),
        f"{perplexity} · adv {number_text(rollout.advantage, signed=True)}",
        f"tokens {_count(rollout.reasoning_tokens)} reasoning / {_count(rollout.completion_tokens)} completion",
    ]
    return '<div class="nums">' + "".join(f"<div>{html_text(line)}</div>" for line in lines) + "</div>"


def _components_line(rollout: RolloutRecord) -> str:
    """Every reward component by name where the rollout stored them (extras["rewards"], runs of any recipe), with
    the recipe's raw value; the three columns otherwise (runs stored before the recipes). Plain text: the caller
    escapes it, and names from extras are untrusted like everything stored."""
    extras = rollout.extras or {}
    components = extras.get("rewards")
    if not isinstance(components, dict) or not components:
        return (
            f"format {number_text(rollout.reward_format)} · reasoning {number_text(rollout.reward_reasoning)} · "
            f"efficiency {number_text(rollout.reward_efficiency)}"
        )
    parts = [f"{name} {number_text(value if is_number(value) else None)}" for name, value in components.items()]
    if is_number(extras.get("recipe_value")):
        parts.append(f"raw value {number_text(extras['recipe_value'])}")
    return " · ".join(parts)


def _text_block(label: str, text: str, kind: str, collapse_chars: int) -> str:
    if len(text) > collapse_chars:
        body = f"<details><summary>{html_text(text[:collapse_chars])}…</summary>{html_text(text)}</details>"
    else:
        body = html_text(text)
    return f'<div class="block {kind}"><div class="label">{html_text(label)}</div><div class="text">{body}</div></div>'


def _hit_html(rollout: RolloutRecord, pattern: re.Pattern[str], context_chars: int) -> str:
    meta = (
        f"step {rollout.step} · group {rollout.group_index} · sample {rollout.sample_index} · "
        f"reward {number_text(rollout.reward)}"
    )
    snippet = _snippet_html(rollout.completion, pattern, context_chars)
    return f'<li><div class="nums">{html_text(meta)}</div><div class="text">{snippet}</div></li>'


def _snippet_html(completion: str, pattern: re.Pattern[str], context_chars: int) -> str:
    """The completion around the first match, escaped piece by piece so <mark> is its only markup."""
    match = pattern.search(completion)
    if match is None:  # the caller matched another field: show the completion's start
        cut = completion[: 2 * context_chars]
        return html_text(cut) + ("…" if len(cut) < len(completion) else "")
    start, end = max(0, match.start() - context_chars), min(len(completion), match.end() + context_chars)
    before = ("…" if start > 0 else "") + completion[start : match.start()]
    after = completion[match.end() : end] + ("…" if end < len(completion) else "")
    return f"{html_text(before)}<mark>{html_text(match.group())}</mark>{html_text(after)}"
