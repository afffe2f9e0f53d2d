"""The banner that says when rollouts got no NOVER signal at all, what that means, and what to try.

NOVER rewards only format-valid rollouts (reasoning and answer in their tags): a step with none has no reward
signal, and a run with none learns nothing. The Runs, Metrics and Traces tabs show this banner above what they
draw, from the stored `format_valid` of each rollout (Store.format_valid_counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TRL_IMPORT_TAG = "trl-import"
"""The tag of a run imported from a plain TRL folder (nover_ui/trl_import.py)."""

WHAT_TO_TRY = (
    "Try, cheapest first: **format_example** (a system line and one worked example turn), "
    "**prefill_intermediate** (start every response with the opening tag), a longer **max_completion_length** "
    "(truncated rollouts cannot close their tags), and a larger model: the 135M default rarely follows the format "
    "on long or unfamiliar prompts."
)


def judged_by_tags(tags: Sequence[str]) -> bool:
    """Whether a run's signal depends on NOVER's tags: not for a run imported from TRL, which trained on its own
    reward functions, so a completion without tags says nothing about its reward.

    >>> judged_by_tags(["sweep"]), judged_by_tags([TRL_IMPORT_TAG])
    (True, False)
    """
    return TRL_IMPORT_TAG not in tags


def no_signal_banner(counts: Mapping[int, tuple[int, int]], step: int | None = None) -> str:
    """Markdown for a run's (valid, total) rollouts per step: '' while there is signal to show.

    With `step`, that step is judged; otherwise the whole run.

    >>> no_signal_banner({1: (0, 8), 2: (3, 8)})
    ''
    >>> no_signal_banner({1: (0, 8), 2: (3, 8)}, step=1).startswith("**Step 1 has no format-valid rollout**")
    True
    >>> no_signal_banner({1: (0, 8), 2: (0, 8)}).startswith("**No format-valid rollout in this run yet**")
    True
    >>> no_signal_banner({})
    ''
    """
    if step is not None:
        valid, total = counts.get(step, (0, 0))
        if total == 0 or valid > 0:
            return ""
        return (
            f"**Step {step} has no format-valid rollout** (0 of {total}): every reward of this step is 0, so the "
            f"step taught the model nothing. {WHAT_TO_TRY}"
        )
    total = sum(total for _, total in counts.values())
    if total == 0 or any(valid for valid, _ in counts.values()):
        return ""
    return (
        f"**No format-valid rollout in this run yet** (0 of {total} over {len(counts)} "
        f"step{'s' if len(counts) != 1 else ''}): NOVER scores only reasoning and answers inside their tags, so "
        f"every reward is 0 and the model is not learning. The data may not fit the model's format. {WHAT_TO_TRY}"
    )
