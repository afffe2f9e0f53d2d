"""Held-out evaluation during a real 1-step run of the default model (2 rollouts x 16 tokens, eval every step):
eval/* metrics at steps 0 and 1, one 'heldout' evaluation row with samples per evaluation, the base model as judge,
and no held-out prompt among the training rollouts."""

import threading

import pytest
import torch

from storage import HELDOUT_KIND, Store
from training.config import preset
from training.execute import StoreSink
from training.heldout import heldout_settings, run_data
from training.heldout_eval import evaluate_heldout
from training.interface import RunContext
from training.prompts import build_prompt
from training.scorer import score_reasoning
from training.trainer import build_trainer

pytestmark = pytest.mark.slow
CONFIG = preset(
    "cpu-demo",
    num_generations=2,
    max_completion_length=16,
    max_steps=1,
    checkpoint_steps=0,
    eval_steps=1,
    eval_prompts=2,
    eval_samples=2,
)


def test_a_run_evaluates_its_held_out_prompts_at_step_0_and_every_eval_steps(base_and_tokenizer, model_home, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    run = store.create_run("held out", CONFIG.to_dict())
    store.claim_next_run("test")
    sink = StoreSink(store, run.id, CONFIG.max_steps, threading.Event(), evaluation_config=heldout_settings(CONFIG))
    trainer = build_trainer(CONFIG, sink, RunContext(run.id, model_home, tmp_path / "run"), base_and_tokenizer)
    try:
        trainer.train()
        judged_by_base_model(trainer.model, base_and_tokenizer)
    finally:
        trainer.model.unload()

    metrics = store.get_metrics(run.id)
    assert metrics["eval/format_valid"].steps == (0, 1)
    assert all(0.0 <= value <= 1.0 for value in metrics["eval/format_valid"].values)
    assert store.get_metrics(run.id, ["data/heldout_prompts"])["data/heldout_prompts"].values == (2.0,)
    evaluations = store.list_evaluations(run_id=run.id, kind=HELDOUT_KIND)
    assert [(e.checkpoint_step, e.status) for e in evaluations] == [(0, "succeeded"), (1, "succeeded")]
    assert evaluations[0].config["judge"] == "base"
    heldout = run_data(CONFIG).heldout
    for evaluation in evaluations:
        assert evaluation.metrics["eval/format_valid"] in metrics["eval/format_valid"].values
        samples = store.get_evaluation_samples(evaluation.id)
        assert len(samples) == 4  # 2 prompts x 2 samples
        assert {s.prompt for s in samples} == {e.prompt for e in heldout}
    assert store.heldout_evaluation(run.id, 1).id == evaluations[1].id
    assert store.list_evaluations(run_id=run.id, kind="evaluation") == []  # not a job of the Evaluate tab

    _, tokenizer = base_and_tokenizer
    held_prompts = {build_prompt(e.prompt, CONFIG, tokenizer) for e in heldout}
    trained = {r.prompt for r in store.get_rollouts(run.id)}
    assert trained and trained.isdisjoint(held_prompts)


def judged_by_base_model(model, base_and_tokenizer) -> None:
    """With the policy adapter moved far from the base, the evaluation still scores with the base model: a sample's
    perplexity equals the base model's own score of it, and the policy's mode, adapter and RNG are as before."""
    _, tokenizer = base_and_tokenizer
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name and ".default." in name:
                weight.add_(0.05)  # the policy now differs from the base
    model.train()
    before = torch.get_rng_state()
    example = run_data(CONFIG).heldout[0]
    prompt = build_prompt(example.prompt, CONFIG, tokenizer)
    completion = f"reasoning\n</think>\n<answer>\n{example.reference}\n</answer>"  # the prefill opened <think>
    with model.disable_adapter():
        base_score = score_reasoning(model, tokenizer, CONFIG, [prompt], [completion], [example.reference])[0]
    policy_score = score_reasoning(model, tokenizer, CONFIG, [prompt], [completion], [example.reference])[0]
    assert base_score.valid and base_score.perplexity != pytest.approx(policy_score.perplexity)

    metrics, samples = evaluate_heldout(model, tokenizer, CONFIG, [example])
    assert model.training and model.active_adapter == "default"
    assert torch.equal(torch.get_rng_state(), before)
    for sample in samples:
        if sample["format_valid"]:
            with model.disable_adapter():
                again = score_reasoning(model, tokenizer, CONFIG, [prompt], [sample["completion"]], [example.reference])
            assert sample["perplexity"] == pytest.approx(again[0].perplexity, rel=1e-5)
