"""Evaluation and playground jobs on the real default model, run by the worker as the dashboard would queue them."""

import statistics
from pathlib import Path

import pytest
import torch

from training.config import DEFAULT_MODEL, PRESETS, preset
from training.data import load_examples
from training.job_config import EvaluationJob
from training.jobs import AdapterDisabled
from training.model import load_model, lora_config
from training.prompts import build_prompt, completion_with_prefill
from training.rewards import format_valid, reasoning_perplexity, verifier_match
from training.scorer import reasoning_prefix, reference_target, target_token_nll
from training.worker import run_claimed_job, run_worker

GT_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "nover" / "gt.csv"
RUN_CONFIG = {**PRESETS["cpu-demo"], "max_completion_length": 48}
CONFIG = preset("cpu-demo", max_completion_length=48)
# The worked example of the format_example prompt, asked again: the 135M model copies the example's format for
# it, so the sample is format-valid and has a perplexity to check (on NOVER's own data it rarely is; DESIGN.md).
EASY_PROMPT = "Tom has 2 pencils and finds 3 more. How many pencils does Tom have now?"


def no_training(config, sink, context):
    raise AssertionError("no run was queued, so nothing should train")


def direct_perplexity(model, tokenizer, question: str, reference: str, reasoning: str) -> float:
    """NOVER's reasoning perplexity of the reference computed from scratch, as training/evaluate.py defines it."""
    prompt = build_prompt(question, CONFIG, tokenizer)
    [nll] = target_token_nll(
        model, tokenizer, [reasoning_prefix(prompt, reasoning, CONFIG)], [reference_target(reference, CONFIG)]
    )
    tokens = len(tokenizer(reasoning, add_special_tokens=False)["input_ids"])
    return reasoning_perplexity(sum(nll) / len(nll), tokens)


def mean_or_none(values):
    values = list(values)
    return statistics.mean(values) if values else None


@pytest.fixture
def offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no hub retries for ~45 s


def test_an_evaluation_of_held_out_nover_prompts_stores_samples_whose_metrics_it_reports(
    store, model_home, base_and_tokenizer
):
    # As the dashboard queues it (nover_ui/queue.py): the whole contract, its run config resolved. The playground
    # and checkpoint tests below queue rows the older way, a partial run_config the worker merges once.
    settings = EvaluationJob(run_config=CONFIG, split="test", max_prompts=8, samples=1, seed=0)
    job = store.queue_evaluation("evaluation", DEFAULT_MODEL, str(GT_CSV), settings.to_dict())
    assert run_worker(store, no_training, model_home, until_idle=True) == 1
    done = store.get_evaluation(job.id)
    assert done.status == "succeeded", done.error
    assert done.worker_id and done.started_at <= done.finished_at

    samples = store.get_evaluation_samples(job.id)
    examples = load_examples(str(GT_CSV), split="test", max_rows=8).examples
    assert [(s.sample_index, s.prompt, s.reference) for s in samples] == [
        (i, e.prompt, e.reference) for i, e in enumerate(examples)
    ]
    assert [s.extras["example_id"] for s in samples] == [e.id for e in examples]
    assert {s.extras["seed"] for s in samples} == {0}
    for s in samples:
        assert (s.format_valid, s.reasoning, s.answer) == format_valid(completion_with_prefill(s.completion, CONFIG))
        assert 0 < s.extras["completion_tokens"] <= 48
        assert (s.perplexity is not None) == s.format_valid

    valid = [s for s in samples if s.format_valid]
    checked = [s.correct for s in samples if s.correct is not None]
    expected = {
        "samples": 8.0,
        "format_valid_rate": len(valid) / 8,
        "mean_reference_perplexity": mean_or_none(s.perplexity for s in valid),
        "verifier_accuracy": sum(checked) / len(checked) if checked else None,
        "mean_completion_tokens": statistics.mean(s.extras["completion_tokens"] for s in samples),
        "mean_answer_chars": mean_or_none(len(s.answer) for s in valid),
    }
    assert done.metrics.keys() == expected.keys()
    for key, value in expected.items():  # None where there was nothing to average
        assert done.metrics[key] == (None if value is None else pytest.approx(value, rel=1e-9)), key
    if valid:  # the 135M model rarely writes the format on this data; the playground test below always checks it
        model, tokenizer = base_and_tokenizer
        assert valid[0].perplexity == pytest.approx(
            direct_perplexity(model, tokenizer, valid[0].prompt, valid[0].reference, valid[0].reasoning), rel=1e-4
        )


def test_a_playground_job_scores_its_reference_exactly_as_a_direct_computation(store, model_home, base_and_tokenizer):
    job = store.queue_evaluation(
        "playground",
        DEFAULT_MODEL,
        "playground",
        {"prompts": [EASY_PROMPT], "reference": "5", "seed": 3, "run_config": RUN_CONFIG},
    )
    done = run_claimed_job(store, store.claim_next_evaluation("w"), model_home)
    assert done.status == "succeeded", done.error
    [sample] = store.get_evaluation_samples(job.id)
    assert (sample.prompt, sample.reference, sample.extras["seed"]) == (EASY_PROMPT, "5", 3)
    assert sample.format_valid, f"expected the copied example format, got {sample.completion!r}"
    model, tokenizer = base_and_tokenizer
    assert sample.perplexity == pytest.approx(
        direct_perplexity(model, tokenizer, EASY_PROMPT, "5", sample.reasoning), rel=1e-4
    )
    assert sample.correct == verifier_match(sample.answer, "5", CONFIG.verifier_match, CONFIG.numeric_tolerance)
    assert done.metrics["mean_reference_perplexity"] == pytest.approx(sample.perplexity)
    assert done.metrics["mean_answer_chars"] == len(sample.answer)


def test_a_playground_job_without_a_reference_scores_nothing(store, model_home):
    job = store.queue_evaluation(
        "playground", DEFAULT_MODEL, "playground", {"prompts": [EASY_PROMPT], "run_config": RUN_CONFIG}
    )
    done = run_claimed_job(store, store.claim_next_evaluation("w"), model_home)
    [sample] = store.get_evaluation_samples(job.id)
    assert done.status == "succeeded" and sample.completion and sample.reference == ""
    assert (sample.perplexity, sample.correct, sample.extras["seed"]) == (None, None, 0)
    assert done.metrics["mean_reference_perplexity"] is None and done.metrics["verifier_accuracy"] is None


@pytest.fixture
def trained_checkpoint(store, model_home, tmp_path):
    """A run with a LoRA checkpoint at step 4 whose (small, random) adapter weights change the model's outputs."""
    from peft import get_peft_model

    base, _ = load_model(CONFIG, model_home)
    torch.manual_seed(0)  # LoRA's A matrices are drawn from the global generator
    model = get_peft_model(base, lora_config(CONFIG))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # B starts at zero (adapter = identity); nudge it so the adapter matters
                param.copy_(torch.randn(param.shape, generator=generator) * 3e-3)
    path = tmp_path / "runs" / "1" / "checkpoint-4"
    model.save_pretrained(path)
    run = store.create_run("trained", CONFIG.to_dict())
    store.claim_next_run("trainer")
    store.add_checkpoint(run.id, 4, str(path))
    return store.finish_run(run.id, "succeeded"), path


def test_a_checkpoint_is_evaluated_with_its_adapter_and_judged_by_the_base_model_or_itself(
    store, model_home, trained_checkpoint, base_and_tokenizer
):
    from peft import PeftModel

    run, path = trained_checkpoint
    settings = {"prompts": [EASY_PROMPT], "reference": "5", "seed": 3}  # run_config: the run's own
    by_base = store.queue_evaluation("playground", DEFAULT_MODEL, "playground", settings, run.id, 4)
    by_self = store.queue_evaluation(
        "playground", DEFAULT_MODEL, "playground", {**settings, "judge": "self"}, run.id, 4
    )
    assert run_worker(store, no_training, model_home, until_idle=True) == 2
    [base_sample], [self_sample] = (store.get_evaluation_samples(job.id) for job in (by_base, by_self))
    assert store.get_evaluation(by_self.id).status == "succeeded"
    # Same seed, same adapter: the same sample, scored by two judges.
    assert base_sample.completion == self_sample.completion and base_sample.format_valid, base_sample.completion

    base, tokenizer = base_and_tokenizer
    adapted = PeftModel.from_pretrained(load_model(CONFIG, model_home)[0], str(path))
    reasoning = base_sample.reasoning
    by_base_model = direct_perplexity(base, tokenizer, EASY_PROMPT, "5", reasoning)
    by_adapted_model = direct_perplexity(adapted, tokenizer, EASY_PROMPT, "5", reasoning)
    assert base_sample.perplexity == pytest.approx(by_base_model, rel=1e-4)
    assert self_sample.perplexity == pytest.approx(by_adapted_model, rel=1e-4)
    assert by_adapted_model != pytest.approx(by_base_model, rel=1e-4)  # so the two checks above tell them apart
    # The judge stand-in of the base model is the adapted model with its adapter off, not a copy.
    assert direct_perplexity(AdapterDisabled(adapted), tokenizer, EASY_PROMPT, "5", reasoning) == pytest.approx(
        by_base_model, rel=1e-4
    )


def test_an_unknown_model_fails_the_job_saying_what_was_tried(store, model_home, offline):
    job = store.queue_evaluation("playground", "no-such-org/no-such-model-xyz", "playground", {"prompts": ["hi"]})
    assert run_worker(store, no_training, model_home, until_idle=True) == 1
    done = store.get_evaluation(job.id)
    assert done.status == "failed" and store.get_evaluation_samples(job.id) == []
    assert "tried local folder" in done.error and "tried hub id no-such-org/no-such-model-xyz" in done.error
    assert "\n" not in done.error


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"run_config": {"prompt_column": "question"}},
            "no column 'question'; the columns are 'prompt', 'reference', 'split'",
        ),
        ({"split": "dev"}, "no rows of split 'dev'"),
        ({"max_prompt": 8}, "unknown evaluation setting(s) 'max_prompt'; evaluation jobs take run_config, samples"),
        ({"samples": 0}, "samples must be from 1 to 64, got 0"),
        ({"judge": "proxy"}, "judge must be one of base, self, got 'proxy'"),
        ({"run_config": {"temperature": 0}}, "run_config: temperature must be > 0, got 0.0"),
    ],
)
def test_a_job_that_cannot_run_as_queued_fails_before_loading_the_model(store, tmp_path, config, message):
    job = store.queue_evaluation("evaluation", DEFAULT_MODEL, str(GT_CSV), config)
    done = run_claimed_job(store, store.claim_next_evaluation("w"), tmp_path)  # tmp_path: no model to load there
    assert done.status == "failed" and message in done.error, done.error
    assert store.get_evaluation_samples(job.id) == []


@pytest.mark.parametrize("prompts", [[], ["  "], "one prompt", None])
def test_a_playground_job_needs_prompts(store, tmp_path, prompts):
    store.queue_evaluation("playground", DEFAULT_MODEL, "playground", {"prompts": prompts})
    done = run_claimed_job(store, store.claim_next_evaluation("w"), tmp_path)
    assert done.status == "failed" and "prompts must be a non-empty list of non-empty strings" in done.error


def test_a_missing_checkpoint_fails_the_job_naming_the_ones_there_are(store, tmp_path):
    run = store.create_run("r", CONFIG.to_dict())
    store.add_checkpoint(run.id, 2, str(tmp_path / "checkpoint-2"))
    store.queue_evaluation("evaluation", DEFAULT_MODEL, str(GT_CSV), {}, run_id=run.id, checkpoint_step=4)
    store.queue_evaluation("evaluation", DEFAULT_MODEL, str(GT_CSV), {}, run_id=run.id, checkpoint_step=2)
    missing = run_claimed_job(store, store.claim_next_evaluation("w"), tmp_path)
    assert missing.status == "failed"
    assert missing.error.startswith(f"run {run.id} has no checkpoint at step 4; its checkpoints are at steps 2")
    elsewhere = run_claimed_job(store, store.claim_next_evaluation("w"), tmp_path)
    assert elsewhere.status == "failed" and "is not on this machine" in elsewhere.error
