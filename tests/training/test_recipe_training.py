"""The verifier-free recipes on the real default model: the scorer's one pass against a direct computation. One real
step of each recipe, with its stored rows checked, is in tests/training/test_every_prompt_trains.py (each run there
also checks a prompt template or a loss)."""

import dataclasses
import math

import pytest
import torch
from peft import get_peft_model

from training.config import preset
from training.model import lora_config
from training.prompts import build_prompt
from training.recipes import recipe_value
from training.scorer import NoverScorer

pytestmark = pytest.mark.slow
CONFIG = preset(
    "cpu-demo",
    reward="rlpr",
    rlpr_std_filter=True,
    reward_scorer="policy",
    reward_shaping="raw",
    efficiency_weight=0.0,
    num_generations=2,
    max_completion_length=16,
    max_steps=1,
    checkpoint_steps=0,
    beta=0.0,
)


def test_one_pass_feeds_every_reference_recipe_and_self_certainty_matches_its_formula(base_and_tokenizer):
    base, tokenizer = base_and_tokenizer
    config = CONFIG
    model = get_peft_model(base, lora_config(config))
    try:
        prompt = build_prompt("What is 2 + 3?", config, tokenizer)
        completions = [
            "2 plus 3 is 5.\n</think>\n<answer>\n5\n</answer>",
            "no format",
            "3 and 2 make 5.\n</think>\n<answer>\n5\n</answer>",
        ]
        calls = []
        hook = model.register_forward_pre_hook(lambda *_: calls.append(1))
        batch = ([prompt] * 3, completions, ["q"] * 3, ["5"] * 3)
        scored = {
            reward: NoverScorer(model, tokenizer, dataclasses.replace(config, reward=reward)).score(*batch)
            for reward in ("rlpr", "logprob", "verifree")
        }
        assert len(calls) == 3  # one batched pass per recipe: with reasoning and without, together
        for reward, rollouts in scored.items():
            assert [r.valid for r in rollouts] == [True, False, True]
            assert rollouts[0].baseline_nll == rollouts[1].baseline_nll == rollouts[2].baseline_nll  # once per prompt
            for r in rollouts:
                if r.valid:
                    expected = recipe_value(reward, r.target_nll, r.baseline_nll)
                    assert r.recipe_value == expected == r.components[reward]
                else:
                    assert r.recipe_value is None and r.components["format"] == 0.0

        ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in completions]
        calls.clear()
        certainty = NoverScorer(model, tokenizer, dataclasses.replace(config, reward="self_certainty"))
        rollouts = certainty.score(*batch, completion_ids=ids)
        assert len(calls) == 1 and rollouts[1].components["self_certainty"] == 0.0
        hook.remove()
        model.eval()
        prompt_ids = tokenizer(prompt)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids + ids[0]])).logits[0, len(prompt_ids) - 1 : -1]
        log_p = torch.log_softmax(logits.float(), dim=-1)  # (T, V)
        direct = (-math.log(log_p.shape[-1]) - log_p.mean(-1)).mean().item()
        assert rollouts[0].recipe_value == pytest.approx(direct, rel=1e-4)
    finally:
        model.unload()
