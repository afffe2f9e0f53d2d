import pytest

from training.config import preset
from training.data import load_examples
from training.evaluate import evaluate
from training.prompts import build_prompt, completion_with_prefill
from training.rewards import format_valid, reasoning_perplexity
from training.scorer import reasoning_prefix, reference_target, target_token_nll

CONFIG = preset("cpu-demo", max_completion_length=48)


def test_evaluation_samples_agree_with_a_direct_recomputation(base_and_tokenizer):
    model, tokenizer = base_and_tokenizer
    examples = load_examples("builtin:demo", split="test", max_rows=3).examples
    result = evaluate(model, tokenizer, CONFIG, examples, samples=2, seed=0)
    assert len(result.samples) == 6
    for sample in result.samples:
        ok, reasoning, answer = format_valid(completion_with_prefill(sample.completion, CONFIG), "think", "answer")
        assert (sample.valid, sample.reasoning, sample.answer) == (ok, reasoning, answer)
        if ok:
            prompt = build_prompt(sample.example.prompt, CONFIG, tokenizer)
            [nll] = target_token_nll(
                model,
                tokenizer,
                [reasoning_prefix(prompt, reasoning, CONFIG)],
                [reference_target(sample.example.reference, CONFIG)],
            )
            tokens = len(tokenizer(reasoning, add_special_tokens=False)["input_ids"])
            assert sample.perplexity == pytest.approx(reasoning_perplexity(sum(nll) / len(nll), tokens), rel=1e-4)
        else:
            assert sample.perplexity is None and sample.correct is False
    metrics = result.metrics()
    assert metrics["format_valid_rate"] == sum(s.valid for s in result.samples) / 6
    # Same seed, same samples: evaluations of two checkpoints are compared on equal terms.
    again = evaluate(model, tokenizer, CONFIG, examples, samples=2, seed=0)
    assert [s.completion for s in again.samples] == [s.completion for s in result.samples]
