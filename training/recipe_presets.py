"""The published members of the verifier-free reward family as reward settings (DESIGN.md, "The verifier-free reward
family"): the Train tab's recipe choice and an experiment's recipes apply one over the rest of a config.

Each recipe sets every reward field, so applying one after another leaves nothing of the first. Standard library
only: the UI process reads it.
"""

from __future__ import annotations

from typing import Any

_REFERENCE_DEFAULTS: dict[str, Any] = dict(
    efficiency_weight=0.0, verifier_weight=0.0, logprob_reduction="sum", rlpr_std_filter=False
)

RECIPES: dict[str, dict[str, Any]] = {
    # NOVER (arXiv 2505.16022): the proxy's reasoning perplexity, ranked within the group, plus efficiency.
    "nover": dict(
        reward="nover",
        reward_scorer="proxy",
        reward_shaping="rank",
        format_weight=1.0,
        reasoning_weight=1.0,
        efficiency_weight=1.0,
        verifier_weight=0.0,
        logprob_reduction="sum",
        rlpr_std_filter=False,
    ),
    # RLPR (arXiv 2506.18254): the policy's gain in mean reference-token probability, 0.9 x it + 0.1 x format, and
    # the filter of prompts whose reward spread is low.
    "rlpr": {
        **_REFERENCE_DEFAULTS,
        **dict(
            reward="rlpr",
            reward_scorer="policy",
            reward_shaping="raw",
            format_weight=0.1,
            reasoning_weight=0.9,
            rlpr_std_filter=True,
        ),
    },
    # Log-probability of the reference (arXiv 2602.03979), by the policy.
    "logprob": {
        **_REFERENCE_DEFAULTS,
        **dict(reward="logprob", reward_scorer="policy", reward_shaping="raw", format_weight=1.0, reasoning_weight=1.0),
    },
    # VeriFree (arXiv 2505.21493): the policy's probability of the whole reference, without its supervised term.
    "verifree": {
        **_REFERENCE_DEFAULTS,
        **dict(
            reward="verifree", reward_scorer="policy", reward_shaping="raw", format_weight=1.0, reasoning_weight=1.0
        ),
    },
    # Intuitor (arXiv 2505.19590): the policy's self-certainty over its own completion; no reference.
    "intuitor": {
        **_REFERENCE_DEFAULTS,
        **dict(
            reward="self_certainty",
            reward_scorer="policy",
            reward_shaping="raw",
            format_weight=1.0,
            reasoning_weight=1.0,
        ),
    },
    # The checkable-answer reward the family is compared with.
    "verifier": {
        **_REFERENCE_DEFAULTS,
        **dict(reward="verifier", reward_scorer="proxy", reward_shaping="raw", format_weight=1.0, reasoning_weight=1.0),
    },
}
"""Recipe name -> the RunConfig reward fields it sets. A hybrid is any of them with verifier_weight > 0."""
