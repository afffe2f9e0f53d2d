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
    # the filter of prompts whose reward spread is low. Checked against OpenBMB/RLPR: verl/workers/reward_manager/
    # prob.py mixes (1 - format_coefficient) x gain + format_coefficient x format with format_coefficient 0.1 and
    # clips the gain at 0 (threshold_0); examples/RLPR/reproduce_qwen.sh filters on the final reward's std with
    # std_filter_beta 0.5 (0.9 for Llama, 1.0 for Gemma) and filter_ema_ratio 0.99: the config's defaults.
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
    # Log-probability of the reference (arXiv 2602.03979), by the policy, summed over the reference tokens (the
    # paper's log p(y | q, z)); the format weight is ours (an invalid rollout gets the group's worst valid value,
    # training.recipes.shape_group, so the format reward is what makes a valid answer strictly better).
    "logprob": {
        **_REFERENCE_DEFAULTS,
        **dict(reward="logprob", reward_scorer="policy", reward_shaping="raw", format_weight=1.0, reasoning_weight=1.0),
    },
    # VeriFree (arXiv 2505.21493): the policy's probability of the whole reference, without its supervised term. No
    # format reward: sail-sg/VeriFree's verifree.py sets the log-probability of a rollout without an answer to -inf,
    # so its reward exp(.) is 0, the same as our invalid -> 0 rule, and adds nothing for a valid format.
    "verifree": {
        **_REFERENCE_DEFAULTS,
        **dict(
            reward="verifree", reward_scorer="policy", reward_shaping="raw", format_weight=0.0, reasoning_weight=1.0
        ),
    },
    # Intuitor (arXiv 2505.19590): the policy's self-certainty over its own completion; no reference. Self-certainty
    # is the sole reward (sunblaze-ucb/Intuitor recipes/*/intuitor/config_demo.yaml weighs its accuracy reward 0), so
    # no format reward either; here an invalid rollout still gets 0 (our rule for every recipe).
    "intuitor": {
        **_REFERENCE_DEFAULTS,
        **dict(
            reward="self_certainty",
            reward_scorer="policy",
            reward_shaping="raw",
            format_weight=0.0,
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

RECIPE_NOTES: dict[str, str] = {
    "nover": "NOVER (arXiv 2505.16022): the lagged proxy's reasoning perplexity of the reference, ranked in the group, "
    "plus efficiency.",
    "rlpr": "RLPR (arXiv 2506.18254): 0.9 x the gain in mean reference-token probability + 0.1 x format, and its "
    "filter of low-spread prompts (EMA decay 0.99, ratio 0.5). Leaves out the paper's dynamic re-sampling of "
    "filtered prompts: a filtered prompt just trains nothing that step.",
    "logprob": "Log-probability of the reference (arXiv 2602.03979), summed over its tokens, by the live policy. "
    "Leaves out nothing; the format weight is this dashboard's.",
    "verifree": "VeriFree (arXiv 2505.21493): the policy's probability of the whole reference. Leaves out VeriFree's "
    "supervised term on the reference (its second loss term is not a reward).",
    "intuitor": "Intuitor (arXiv 2505.19590): the policy's self-certainty over its own completion, no reference, "
    "as the sole reward. Leaves out nothing; an invalid rollout still gets 0 here.",
    "verifier": "The checkable-answer reward (exact, numeric or option-letter match) the family is compared with.",
}
"""One line per recipe under the Train tab's Recipe dropdown: its source and what it leaves out."""
