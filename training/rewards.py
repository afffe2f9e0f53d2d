"""NOVER's reward math, and a verifier reward to compare it with: small pure functions, standard library only.

The trainer computes perplexities with the proxy model and hands plain numbers to `score_group`; everything
here is deterministic and cheap, so the rules of DESIGN.md ("NOVER in one page") are tested without a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

MATCH_MODES = ("auto", "exact", "numeric", "option")


def _first_block(text: str, tag: str) -> str | None:
    """Contents of the first `<tag>...</tag>`, the close being the first one after the open; None if incomplete."""
    opening, closing = f"<{tag}>", f"</{tag}>"
    start = text.find(opening)
    end = text.find(closing, start + len(opening)) if start >= 0 else -1
    return text[start + len(opening) : end] if end >= 0 else None


def format_valid(
    completion: str, intermediate_tag: str = "think", final_tag: str = "answer"
) -> tuple[bool, str | None, str | None]:
    """NOVER's format rule: the completion is exactly one intermediate block followed by one final block.

    Valid iff the completion without whitespace equals `<think>R</think><answer>A</answer>` without whitespace,
    R and A being the first blocks' contents; stricter than the literal rule, neither block may contain one of
    the four tags (else `<answer>x<answer>x</answer>` or a copy of the answer nested in the reasoning would pass).
    Returns (valid, reasoning, answer): each the stripped contents of the first *complete* block, None when the
    block is missing or unclosed, returned even when the completion is invalid. So a completion truncated
    inside the answer gives (False, reasoning, None); callers must score only valid rollouts.

    >>> format_valid("<think>\\n2+2 is 4\\n</think>\\n<answer> 4 </answer>\\n")
    (True, '2+2 is 4', '4')
    >>> format_valid("<think>2+2 is 4</think><answer>4")
    (False, '2+2 is 4', None)
    """
    if not intermediate_tag or not final_tag or intermediate_tag == final_tag:
        raise ValueError(
            f"the intermediate and final tags must be two distinct names, got {intermediate_tag!r} and {final_tag!r}"
        )
    reasoning = _first_block(completion, intermediate_tag)
    answer = _first_block(completion, final_tag)
    valid = False
    if reasoning is not None and answer is not None:
        tags = [f"<{s}{t}>" for t in (intermediate_tag, final_tag) for s in ("", "/")]
        nested = any(tag in block for tag in tags for block in (reasoning, answer))
        expected = f"<{intermediate_tag}>{reasoning}</{intermediate_tag}><{final_tag}>{answer}</{final_tag}>"
        valid = not nested and "".join(completion.split()) == "".join(expected.split())
    return valid, _strip(reasoning), _strip(answer)


def _strip(text: str | None) -> str | None:
    return None if text is None else text.strip()


def reasoning_perplexity(mean_nll: float, reasoning_tokens: int) -> float:
    """P_r = exp(mean_nll / max(1, 1 + log10(|t|))): longer reasoning earns a gentler exponent.

    Zero (or negative) tokens use the divisor 1, since log10 is undefined there.

    >>> round(reasoning_perplexity(2.0, 100), 4)  # exp(2 / 3)
    1.9477
    """
    if not math.isfinite(mean_nll) or mean_nll < 0:
        raise ValueError(
            f"mean_nll must be a finite, non-negative negative log-likelihood, got {mean_nll!r} "
            "(a NaN or inf usually means an empty target or an overflow in the proxy's loss)"
        )
    divisor = max(1.0, 1.0 + math.log10(reasoning_tokens)) if reasoning_tokens > 0 else 1.0
    return math.exp(mean_nll / divisor)


@dataclass(frozen=True)
class RewardWeights:
    format: float = 1.0
    reasoning: float = 1.0
    efficiency: float = 1.0


@dataclass(frozen=True)
class RewardBreakdown:
    """Every component is kept, not only the total, so the dashboard can plot each one."""

    format: float
    reasoning: float
    efficiency: float
    total: float


def rank_lowest_first(values: Sequence[float]) -> list[float]:
    """(n - k)/n for rank k ascending; tied values share the mean of their ranks' rewards, so order is irrelevant."""
    n = len(values)
    order = sorted(range(n), key=values.__getitem__)
    rewards = [0.0] * n
    k = 0
    while k < n:
        m = 1
        while k + m < n and values[order[k + m]] == values[order[k]]:
            m += 1
        shared = (n - k - (m - 1) / 2) / n  # mean of (n-k)/n ... (n-k-m+1)/n
        for idx in order[k : k + m]:
            rewards[idx] = shared
        k += m
    return rewards


def score_group(
    valid: Sequence[bool],
    perplexity: Sequence[float | None],
    reasoning_tokens: Sequence[int | None],
    weights: RewardWeights = RewardWeights(),
) -> list[RewardBreakdown]:
    """NOVER rewards of ONE group (the G rollouts of one prompt); ranks never cross groups.

    Three valid rollouts with perplexities (1.2, 2.0, 3.0) and tokens (40, 50, 30), weights 1/1/1:
    R_r = (3/3, 2/3, 1/3); R_e: the first beats the second on both counts (1/2), the second beats nobody
    (the third is shorter), so R_e = (1/2, 0, 0) and totals = (2.5, 1.667, 1.333).

    >>> [round(r.total, 3) for r in score_group([True] * 3, [1.2, 2.0, 3.0], [40, 50, 30])]
    [2.5, 1.667, 1.333]
    """
    if not len(valid) == len(perplexity) == len(reasoning_tokens):
        raise ValueError(
            f"valid, perplexity and reasoning_tokens must have one entry per rollout, got lengths "
            f"{len(valid)}, {len(perplexity)} and {len(reasoning_tokens)}"
        )
    kept = [i for i, v in enumerate(valid) if v]
    ppl: dict[int, float] = {}
    tokens: dict[int, int] = {}
    for i in kept:
        p, t = perplexity[i], reasoning_tokens[i]
        if p is None or math.isnan(p) or t is None:
            raise ValueError(
                f"rollout {i} is format-valid but has perplexity {p!r} and reasoning_tokens "
                f"{t!r}; every valid rollout needs both"
            )
        ppl[i], tokens[i] = p, t
    n = len(kept)
    rank = dict(zip(kept, rank_lowest_first([ppl[i] for i in kept])))
    out = []
    for i in range(len(valid)):
        if i not in rank:
            out.append(RewardBreakdown(0.0, 0.0, 0.0, 0.0))
            continue
        beaten = sum(1 for j in kept if ppl[i] < ppl[j] and tokens[i] < tokens[j])
        r_e = beaten / (n - 1) if n > 1 else 0.0
        total = weights.format + weights.reasoning * rank[i] + weights.efficiency * r_e
        out.append(RewardBreakdown(1.0, rank[i], r_e, total))
    return out


# --- the verifier reward, for comparison runs on data with checkable answers ---

# A number: optional minus (not after a word, so "x-5" and "3-4" end in 5 and 4), thousands separators,
# decimals, an exponent, an optional "/denominator" and "%". Percent signs are dropped: datasets write the
# answer to "what percent ..." both as "50" and "50%".
_NUMBER = re.compile(
    r"""
    (?<![\w.])(?P<sign>[-−])?
    (?P<num>(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)
    (?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?(?:\s*%)?""",
    re.X,
)
# A choice letter leading the text: "B", "(B)", "B.", "B) text", "Option B".
_OPTION_LEAD = re.compile(r"\s*(?:(?:option|choice)\s*)?[(\[]?\s*([a-j])\s*(?:[)\].:]|$)", re.I)
# A choice letter inside free text: "(B)", "[b]", "the answer is B". A lowercase letter counts after a keyword
# only when it stands alone, since "the answer is a triangle" uses the article.
_OPTION_ANYWHERE = re.compile(
    r"[(\[]\s*([A-Ja-j])\s*[)\]]"
    r"|(?i:\b(?:option|choice|answer)(?:\s+is)?\s*:?\s*)"
    r"([A-J](?![\w'])|[a-j](?=\s*(?:[).:;,]|$)))"
)
_ARTICLE = re.compile(r"(?:a|an|the)\s+")


def _unwrap(text: str) -> str:
    """Drop surrounding whitespace, a final period, `$...$` and a `\\boxed{...}` that wraps the whole text."""
    text = text.strip().rstrip(".").strip().strip("$").strip()
    if text.startswith("\\boxed{") and text.endswith("}"):
        depth, closes_at = 0, -1
        for closes_at, ch in enumerate(text[6:], 6):  # noqa: B007 - where the loop stopped is the answer
            depth += (ch == "{") - (ch == "}")
            if depth == 0:
                break
        if closes_at == len(text) - 1:  # the brace that opens the box closes at the very end
            text = text[7:-1].strip()
    return text


def _normalise(text: str) -> str:
    text = " ".join(_unwrap(text).casefold().split()).rstrip(".,;:!? ")
    return _ARTICLE.sub("", text, count=1)


def _value(match: re.Match[str]) -> float | None:
    value = float(match["num"].replace(",", ""))
    if match["den"]:
        den = float(match["den"])
        if den == 0:
            return None
        value /= den
    return -value if match["sign"] else value


def _last_number(text: str) -> float | None:
    matches = list(_NUMBER.finditer(text))
    return _value(matches[-1]) if matches else None


def _option(text: str, lead_only: bool) -> str | None:
    """The one choice letter the text names, or None when it names none or several."""
    lead = _OPTION_LEAD.match(text)
    letters = {lead.group(1).upper()} if lead else set()
    if not lead_only:
        letters |= {(m.group(1) or m.group(2)).upper() for m in _OPTION_ANYWHERE.finditer(text)}
    return letters.pop() if len(letters) == 1 else None


def _resolve_mode(mode: str, reference: str) -> str:
    if mode not in MATCH_MODES:
        raise ValueError(f"unknown verifier match mode {mode!r}; choose one of {', '.join(MATCH_MODES)}")
    if mode != "auto":
        return mode
    if _option(reference, lead_only=True):
        return "option"
    single = _NUMBER.fullmatch(_unwrap(reference))
    return "numeric" if single and _value(single) is not None else "exact"


def verifier_match(answer: str | None, reference: str, mode: str = "auto", tolerance: float = 1e-6) -> bool:
    """Whether an extracted answer matches a checkable reference.

    "exact" compares normalised text (case, outer whitespace and trailing punctuation, inner whitespace runs,
    a leading article and a `\\boxed{}` wrapper are ignored); "numeric" compares the LAST number of the
    answer with the last of the reference within relative `tolerance` (absolute near 0); "option" compares
    multiple-choice letters A-J, and an answer naming several letters matches nothing. "auto" picks option,
    then numeric (reference is a single number), then exact. A reference without a number never matches in
    numeric mode (one odd row should cost a zero reward, not the run).

    >>> verifier_match("The answer is 1,234.", "1234"), verifier_match("12", "120"), verifier_match("AB", "B")
    (True, False, False)
    """
    mode = _resolve_mode(mode, reference)
    if answer is None:
        return False
    if mode == "exact":
        return _normalise(answer) == _normalise(reference)
    if mode == "option":
        want = _option(reference, lead_only=True)
        return want is not None and _option(answer, lead_only=False) == want
    got_number, want_number = _last_number(answer), _last_number(reference)
    return (
        got_number is not None
        and want_number is not None
        and math.isclose(got_number, want_number, rel_tol=tolerance, abs_tol=tolerance)
    )


def verifier_rewards(
    answers: Sequence[str | None],
    reference: str,
    valid: Sequence[bool],
    mode: str = "auto",
    tolerance: float = 1e-6,
    format_weight: float = 1.0,
) -> list[RewardBreakdown]:
    """Verifier rewards of one group, in NOVER's shape: the reasoning slot carries 0/1 correctness.

    >>> [r.total for r in verifier_rewards(["4", "5", "4"], "4", [True, True, False])]
    [2.0, 1.0, 0.0]
    """
    if len(answers) != len(valid):
        raise ValueError(
            f"answers and valid must have one entry per rollout, got lengths {len(answers)} and {len(valid)}"
        )
    mode = _resolve_mode(mode, reference)  # once per group, and a bad mode fails even if nothing is valid
    out = []
    for answer, ok in zip(answers, valid):
        correct = 1.0 if ok and verifier_match(answer, reference, mode, tolerance) else 0.0
        r_f = 1.0 if ok else 0.0
        out.append(RewardBreakdown(r_f, correct, 0.0, format_weight * r_f + correct))
    return out


def checkable(reference: str, mode: str = "auto") -> bool:
    """Whether a verifier's verdict against `reference` means right or wrong: with 'auto', only where the reference
    is an option letter or a single number (a free-text reference compared exactly rejects every paraphrase, so its
    "accuracy" would measure wording); any mode chosen explicitly is the person's call and counts everywhere.

    >>> checkable("42"), checkable("(B)"), checkable("Paris"), checkable("Paris", "exact")
    (True, True, False, True)
    """
    return _resolve_mode(mode, reference) != "exact" if mode == "auto" else True
