"""Intuitor's self-certainty (arXiv 2505.19590): per completion token, KL(U || p(. | q, o_<t)), by one batched pass.

KL(U || p) = sum_j (1/V) log((1/V) / p_j) = -log V - (1/V) sum_j log p_j. It is 0 for a uniform next-token
distribution and grows as the model grows sure; the reward (training.recipes.self_certainty) averages it over the
completion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

CERTAINTY_BATCH_SIZE = 8


def token_self_certainty(
    model: torch.nn.Module,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = CERTAINTY_BATCH_SIZE,
) -> list[list[float]]:
    """For each (prompt, completion) pair, the KL(U || p) of the distribution that predicted each completion token.

    Rows are left-padded so every completion ends its row and only the completion positions' logits are computed,
    as in training.scorer.target_token_nll. An empty completion gives an empty list.
    """
    results: list[list[float]] = []
    device = next(model.parameters()).device
    for start in range(0, len(prompt_ids), batch_size):
        prompts = prompt_ids[start : start + batch_size]
        completions = completion_ids[start : start + batch_size]
        rows = [list(p) + list(c) for p, c in zip(prompts, completions)]
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)  # (B, L)
        attention_mask = torch.zeros_like(input_ids)  # (B, L)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row) :] = torch.tensor(row)
            attention_mask[i, width - len(row) :] = 1
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): count from each row's first token
        longest = max(map(len, completions))
        if longest == 0:
            results.extend([] for _ in rows)
            continue
        with torch.no_grad():
            logits = model(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                position_ids=position_ids.to(device),
                logits_to_keep=longest + 1,
                use_cache=False,
            ).logits  # (B, longest+1, V)
            log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, longest, V): predicts the last longest
            kl = -math.log(log_probs.shape[-1]) - log_probs.mean(dim=-1)  # (B, longest)
        for i, completion in enumerate(completions):
            results.append(kl[i, kl.shape[1] - len(completion) :].tolist() if completion else [])
    return results
