"""One real step for every way a prompt can be asked: each prior-prompt template, the raw prompt format (with the
paper's linear learning-rate decay) and the inverse preset on its bundled data. 2 rollouts of 16 tokens each, all
on the one shared default model.

Without the worked example (format_example off): it is what makes these prompts long (about 240 tokens with it, 100
without), and a step's time grows with the prompt's length; each template's worked example is built and checked by
tests/training/test_prompts.py, and the steps here check the template's instruction, the prompt as stored and the
target tokens, none of which needs it."""

import threading

import pytest

from storage import Store
from training.config import PROMPT_TEMPLATES, RunConfig, preset
from training.data import load_examples
from training.execute import StoreSink
from training.interface import RunContext
from training.prompts import build_prompt, instruction
from training.trainer import build_trainer

pytestmark = pytest.mark.slow
TINY = dict(num_generations=2, max_completion_length=16, max_steps=1, checkpoint_steps=0, format_example=False)
CONFIGS = {
    **{template: preset("cpu-demo", prompt_template=template, **TINY) for template in PROMPT_TEMPLATES[1:]},
    "raw": preset("cpu-demo", prompt_format="raw", lr_scheduler_type="linear", **TINY),
    "inverse": preset("inverse", **TINY),
}


def train_one_step(config: RunConfig, loaded, model_home, tmp_path) -> tuple[Store, int, list[float]]:
    """Train `config` 1 step on the shared model: the store, the run and the scheduler's rate after the step."""
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    run = store.create_run("one step", config.to_dict())
    store.claim_next_run("test")
    sink = StoreSink(store, run.id, config.max_steps, threading.Event())
    context = RunContext(run_id=run.id, home=model_home, workdir=tmp_path / "run")
    trainer = build_trainer(config, sink, context, loaded)
    try:
        trainer.train()
    finally:
        trainer.model.unload()  # the shared model without this run's adapters, for the next test
    return store, run.id, trainer.lr_scheduler.get_last_lr()


@pytest.mark.parametrize("name", CONFIGS)
def test_one_step_trains_and_stores_the_prompts_as_built(name, base_and_tokenizer, model_home, tmp_path):
    config = CONFIGS[name]
    store, run_id, rate_after = train_one_step(config, base_and_tokenizer, model_home, tmp_path)
    _, tokenizer = base_and_tokenizer
    examples = load_examples(
        config.dataset, config.prompt_column, config.reference_column, config_name=config.dataset_config
    ).examples
    built = {build_prompt(e.prompt, config, tokenizer): e.reference for e in examples}
    rollouts = store.get_rollouts(run_id)
    assert [r.step for r in rollouts] == [1, 1]
    for rollout in rollouts:
        assert built[rollout.prompt] == rollout.reference  # the prompt as build_prompt makes it, with its reference
        target = "".join(rollout.extras["target_tokens"]).strip()
        assert target == f"<{config.final_tag}>\n{rollout.reference}\n</{config.final_tag}>"
    prompt = rollouts[0].prompt
    if config.prompt_format == "raw":
        assert prompt.startswith("Question: ") and "<|im_start|>" not in prompt
    else:
        assert "<|im_start|>user" in prompt
    # The logged rate is the one the step used (the full rate either way); after it, linear decay is at 0.
    expected = 0.0 if config.lr_scheduler_type == "linear" else pytest.approx(config.learning_rate)
    assert rate_after and rate_after == [expected] * len(rate_after)  # one rate per parameter group
    if name in PROMPT_TEMPLATES:
        assert instruction(name, config.intermediate_tag, config.final_tag) in prompt
