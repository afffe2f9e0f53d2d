"""One real step for every way a prompt can be asked, every reward recipe and every TRL loss beyond the default one:
each prior-prompt template, the raw prompt format (with the paper's linear learning-rate decay), the inverse preset on
its bundled data; rlpr (with its std filter), logprob, verifree, self_certainty and the rlpr + verifier hybrid; the
cispo, luspo and vespo losses. 2 rollouts of 16 tokens each, all on the one shared default model.

A step proves the same about a prompt whatever the recipe and the loss, so each run combines a way of asking with a
recipe and a loss: 7 runs (a trainer built and a step each) check the 15 cases.
self_certainty scores no reference, so its rows have no target tokens: it goes with the raw format, whose checks
need none.

Without the worked example (format_example off): it is what makes these prompts long (about 240 tokens with it, 100
without), and a step's time grows with the prompt's length; each template's worked example is built and checked by
tests/training/test_prompts.py, and the steps here check the template's instruction, the prompt as stored, the target
tokens and the rows each recipe writes, none of which needs it. The scorer's one pass for every recipe is checked
against a direct computation in tests/training/test_recipe_training.py."""

import math
import threading

import pytest

from storage import Store
from training.config import PROMPT_TEMPLATES, REFERENCE_REWARDS, RunConfig, preset
from training.data import load_examples
from training.execute import StoreSink
from training.group_rewards import component_weights
from training.interface import RunContext
from training.prompts import build_prompt, instruction
from training.proxy import PROXY_ADAPTER
from training.trainer import build_trainer

pytestmark = pytest.mark.slow
TINY = dict(num_generations=2, max_completion_length=16, max_steps=1, checkpoint_steps=0, format_example=False)
POLICY = dict(reward_scorer="policy", reward_shaping="raw", efficiency_weight=0.0, beta=0.0)
"""How the recipes other than NOVER were published: scored by the live policy, raw values, no KL term."""
CONFIGS = {
    "reasoning+rlpr+cispo": preset(
        "cpu-demo",
        prompt_template="reasoning",
        reward="rlpr",
        rlpr_std_filter=True,
        loss_type="cispo",
        epsilon_high=5.0,
        **POLICY,
        **TINY,
    ),
    "planning+logprob+luspo": preset(
        "cpu-demo", prompt_template="planning", reward="logprob", loss_type="luspo", **POLICY, **TINY
    ),
    "code+verifree": preset("cpu-demo", prompt_template="code", reward="verifree", **POLICY, **TINY),
    "knowledge+rlpr+verifier": preset(
        "cpu-demo", prompt_template="knowledge", reward="rlpr", verifier_weight=0.5, **POLICY, **TINY
    ),
    "null-example": preset("cpu-demo", prompt_template="null-example", **TINY),
    "inverse": preset("inverse", **TINY),
    "raw+self_certainty+vespo": preset(
        "cpu-demo",
        prompt_format="raw",
        lr_scheduler_type="linear",
        reward="self_certainty",
        loss_type="vespo",
        **POLICY,
        **TINY,
    ),
}


def test_the_runs_cover_every_template_recipe_and_loss():
    configs = CONFIGS.values()
    assert {c.prompt_template for c in configs if c.prompt_format == "chat"} >= set(PROMPT_TEMPLATES[1:])
    assert any(c.prompt_format == "raw" and c.lr_scheduler_type == "linear" for c in configs)
    assert {c.reward for c in configs} >= {"rlpr", "logprob", "verifree", "self_certainty"}
    assert any(c.rlpr_std_filter for c in configs) and any(c.verifier_weight > 0 for c in configs)
    assert {c.loss_type for c in configs} >= {"cispo", "luspo", "vespo"}


def train_one_step(config: RunConfig, loaded, model_home, tmp_path) -> tuple[Store, int, list[float]]:
    """Train `config` 1 step on the shared model: the store, the run and the scheduler's rate after the step."""
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    run = store.create_run("one step", config.to_dict())
    store.claim_next_run("test")
    sink = StoreSink(store, run.id, config.max_steps, threading.Event())
    context = RunContext(run_id=run.id, home=model_home, workdir=tmp_path / "run")
    trainer = build_trainer(config, sink, context, loaded)
    try:
        if config.reward_scorer == "policy" and config.beta == 0:
            assert PROXY_ADAPTER not in trainer.model.peft_config  # scored by the policy with beta 0: no proxy
        trainer.train()
    finally:
        trainer.model.unload()  # the shared model without this run's adapters, for the next test
    return store, run.id, trainer.lr_scheduler.get_last_lr()


@pytest.mark.parametrize("name", CONFIGS)
def test_one_step_trains_and_stores_the_prompts_as_built_and_every_component(
    name, base_and_tokenizer, model_home, tmp_path
):
    config = CONFIGS[name]
    store, run_id, rate_after = train_one_step(config, base_and_tokenizer, model_home, tmp_path)
    rollouts = store.get_rollouts(run_id)
    metrics = store.get_metrics(run_id)
    assert [r.step for r in rollouts] == [1, 1]
    loss = metrics["loss"]
    assert loss.steps == (1,) and math.isfinite(loss.values[0])
    # The logged rate is the one the step used (the full rate either way); after it, linear decay is at 0.
    expected = 0.0 if config.lr_scheduler_type == "linear" else pytest.approx(config.learning_rate)
    assert rate_after and rate_after == [expected] * len(rate_after)  # one rate per parameter group
    assert_prompts_as_built(config, rollouts, base_and_tokenizer[1])
    if config.reward != "nover":
        assert_recipe_components(config, rollouts, metrics)


def assert_prompts_as_built(config: RunConfig, rollouts, tokenizer) -> None:
    """Each rollout's prompt is the one build_prompt makes, with its reference, and its target tokens (for every
    recipe that scores the reference) are the reference in the final tags."""
    examples = load_examples(
        config.dataset, config.prompt_column, config.reference_column, config_name=config.dataset_config
    ).examples
    built = {build_prompt(e.prompt, config, tokenizer): e.reference for e in examples}
    for rollout in rollouts:
        assert built[rollout.prompt] == rollout.reference
        if config.reward in REFERENCE_REWARDS:
            target = "".join(rollout.extras["target_tokens"]).strip()
            assert target == f"<{config.final_tag}>\n{rollout.reference}\n</{config.final_tag}>"
    prompt = rollouts[0].prompt
    if config.prompt_format == "raw":
        assert prompt.startswith("Question: ") and "<|im_start|>" not in prompt
    else:
        assert "<|im_start|>user" in prompt
    if config.prompt_template in PROMPT_TEMPLATES[1:]:
        assert instruction(config.prompt_template, config.intermediate_tag, config.final_tag) in prompt


def assert_recipe_components(config: RunConfig, rollouts, metrics) -> None:
    """Every component of the recipe (and the verifier, in a hybrid) is stored per rollout and as a metric, and they
    add up to the reward with their weights."""
    weights = component_weights(config)
    components = list(weights)
    recipe = components[1]
    for key in components:
        assert metrics[f"rewards/{key}/mean"].steps == (1,), key
    for r in rollouts:
        rewards = r.extras["rewards"]
        assert list(rewards) == components
        assert (rewards["format"], rewards[recipe]) == (r.reward_format, r.reward_reasoning)
        assert r.reward == pytest.approx(sum(w * rewards[k] for k, w in weights.items()))
        assert ("recipe_value" in r.extras) == r.format_valid
        if config.reward != "self_certainty":  # the token view: every reference-based recipe
            assert len(r.extras["baseline_nll"]) == len(r.extras["target_tokens"]) > 0
    if config.rlpr_std_filter:
        assert metrics["rlpr/filtered_frac"].values == (0.0,)  # the first step only starts the EMA
