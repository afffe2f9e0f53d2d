"""The verifier-free recipes on the real default model: the scorer's one pass against a direct computation, then one
real step of each recipe (2 rollouts x 16 tokens, all on the one shared model) with its stored rows checked."""

import dataclasses
import math
import threading

import pytest
import torch
from peft import get_peft_model

from storage import Store
from training.config import preset
from training.execute import StoreSink
from training.group_rewards import component_weights
from training.interface import RunContext
from training.model import lora_config
from training.prompts import build_prompt
from training.proxy import PROXY_ADAPTER
from training.recipes import recipe_value
from training.scorer import NoverScorer
from training.trainer import build_trainer

pytestmark = pytest.mark.slow
TINY = dict(num_generations=2, max_completion_length=16, max_steps=1, checkpoint_steps=0, beta=0.0)
POLICY = dict(reward_scorer="policy", reward_shaping="raw", efficiency_weight=0.0)
CONFIGS = {
    "rlpr": preset("cpu-demo", reward="rlpr", rlpr_std_filter=True, **POLICY, **TINY),
    "logprob": preset("cpu-demo", reward="logprob", **POLICY, **TINY),
    "verifree": preset("cpu-demo", reward="verifree", **POLICY, **TINY),
    "self_certainty": preset("cpu-demo", reward="self_certainty", **POLICY, **TINY),
    "rlpr+verifier": preset("cpu-demo", reward="rlpr", verifier_weight=0.5, **POLICY, **TINY),
}


def test_one_pass_feeds_every_reference_recipe_and_self_certainty_matches_its_formula(base_and_tokenizer):
    base, tokenizer = base_and_tokenizer
    config = CONFIGS["rlpr"]
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


@pytest.mark.parametrize("name", CONFIGS)
def test_one_step_of_each_recipe_stores_every_component(name, base_and_tokenizer, model_home, tmp_path):
    config = CONFIGS[name]
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    run = store.create_run(name, config.to_dict())
    store.claim_next_run("test")
    sink = StoreSink(store, run.id, config.max_steps, threading.Event())
    trainer = build_trainer(config, sink, RunContext(run.id, model_home, tmp_path / "run"), base_and_tokenizer)
    try:
        assert PROXY_ADAPTER not in trainer.model.peft_config  # scored by the policy with beta 0: no proxy
        trainer.train()
    finally:
        trainer.model.unload()
    rollouts = store.get_rollouts(run.id)
    metrics = store.get_metrics(run.id)
    components = list(component_weights(config))
    recipe = components[1]
    assert len(rollouts) == 2
    for key in components:
        assert metrics[f"rewards/{key}/mean"].steps == (1,), key
    for r in rollouts:
        rewards = r.extras["rewards"]
        assert list(rewards) == components
        assert (rewards["format"], rewards[recipe]) == (r.reward_format, r.reward_reasoning)
        weighted = sum(w * rewards[k] for k, w in component_weights(config).items())
        assert r.reward == pytest.approx(weighted)
        assert ("recipe_value" in r.extras) == r.format_valid
        if config.reward != "self_certainty":  # the token view: every reference-based recipe
            assert len(r.extras["baseline_nll"]) == len(r.extras["target_tokens"]) > 0
    if config.rlpr_std_filter:
        assert metrics["rlpr/filtered_frac"].values == (0.0,)  # the first step only starts the EMA
