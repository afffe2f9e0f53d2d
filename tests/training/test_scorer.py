import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import get_peft_model

from tests.training import two_process_scoring
from training.config import preset
from training.model import lora_config
from training.prompts import build_prompt
from training.proxy import add_proxy, proxy_active
from training.rewards import RewardWeights, reasoning_perplexity, score_group
from training.scorer import NoverScorer, target_token_nll

ROOT = Path(__file__).resolve().parents[2]

CONFIG = preset("cpu-demo")


@pytest.fixture(scope="module")
def policy(base_and_tokenizer):
    base, tokenizer = base_and_tokenizer
    model = get_peft_model(base, lora_config(CONFIG))
    add_proxy(model)
    yield model, tokenizer
    model.unload()  # give the shared base model back without adapters


def direct_nll(model, tokenizer, prefix: str, target: str) -> list[float]:
    """The textbook computation: one unpadded sequence, full logits, read off the target positions."""
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prefix_ids + target_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return [-log_probs[len(prefix_ids) + k - 1, token].item() for k, token in enumerate(target_ids)]


def test_batched_left_padded_nll_equals_the_direct_computation(policy):
    model, tokenizer = policy
    pairs = [
        ("Q: What is 2+3?\n<think>\n2 plus 3 is 5.\n</think>\n", "\n<answer>\n5\n</answer>"),
        (
            "A much longer question about apples, pears and the number of fruit in a basket?\n<think>\nCount "
            "them one by one: there are three apples and four pears.\n</think>\n",
            "\n<answer>\n7 fruit\n</answer>",
        ),
        ("Short?", " yes"),
    ]
    model.eval()
    batched = target_token_nll(model, tokenizer, [p for p, _ in pairs], [t for _, t in pairs])
    for (prefix, target), got in zip(pairs, batched):
        assert got == pytest.approx(direct_nll(model, tokenizer, prefix, target), abs=2e-4)


def make_completion(reasoning: str, answer: str) -> str:
    # cpu-demo prefills "<think>\n", so the completion starts inside the reasoning block.
    return f"{reasoning}\n</think>\n<answer>\n{answer}\n</answer>"


def test_scores_match_a_direct_computation_and_groups_follow_prompt_identity(policy):
    model, tokenizer = policy
    questions = {
        "q1": ("Tom has 2 apples and buys 3 more. How many apples does he have?", "5"),
        "q2": ("What day comes after Monday?", "Tuesday"),
    }
    prompts = {k: build_prompt(q, CONFIG, tokenizer) for k, (q, _) in questions.items()}
    # Two groups interleaved in one batch, with an invalid rollout in each.
    batch = [
        ("q1", make_completion("2 plus 3 equals 5.", "5")),
        ("q2", make_completion("After Monday comes Tuesday.", "Tuesday")),
        ("q1", "I think it is 5"),
        ("q2", make_completion("Days go Monday, Tuesday, Wednesday.", "Tuesday")),
        ("q1", make_completion("Tom had 2. He buys 3. So 2 + 3 = 5 apples.", "5 apples")),
        ("q2", "<answer>Tuesday</answer>"),
    ]
    scorer = NoverScorer(model, tokenizer, CONFIG, proxy=lambda: proxy_active(model))
    scored = scorer.score(
        [prompts[k] for k, _ in batch],
        [c for _, c in batch],
        [k for k, _ in batch],
        [questions[k][1] for k, _ in batch],
    )

    assert [s.valid for s in scored] == [True, True, False, True, True, False]
    model.eval()
    for (key, _), s in zip(batch, scored):
        if not s.valid:
            assert s.perplexity is None and s.rewards.total == 0.0
            continue
        reasoning_ids = tokenizer(s.reasoning, add_special_tokens=False)["input_ids"]
        prefix = scorer.reasoning_prefix(prompts[key], s.reasoning)
        assert prefix.count("<think>") == prompts[key].count("<think>")  # the prefill is not doubled
        nll = direct_nll(model, tokenizer, prefix, scorer.target(questions[key][1]))
        assert s.reasoning_tokens == len(reasoning_ids)
        assert s.perplexity == pytest.approx(reasoning_perplexity(sum(nll) / len(nll), len(reasoning_ids)), rel=1e-4)
    for key in questions:
        members = [i for i, (k, _) in enumerate(batch) if k == key]
        expected = score_group(
            [scored[i].valid for i in members],
            [scored[i].perplexity for i in members],
            [scored[i].reasoning_tokens for i in members],
            RewardWeights(),
        )
        assert [scored[i].rewards for i in members] == expected


def test_baseline_nll_scores_the_reference_after_an_empty_reasoning_block(policy):
    model, tokenizer = policy
    prompt = build_prompt("What is 1 + 1?", CONFIG, tokenizer)
    scorer = NoverScorer(model, tokenizer, CONFIG)
    [baseline] = scorer.baseline_nll([prompt], ["2"])
    model.eval()
    assert baseline == pytest.approx(
        direct_nll(model, tokenizer, scorer.reasoning_prefix(prompt, ""), scorer.target("2")), abs=2e-4
    )
    assert all(math.isfinite(v) and v >= 0 for v in baseline)
    [tokens] = scorer.target_tokens(["2"])
    assert len(tokens) == len(baseline) and "".join(tokens) == scorer.target("2")


def test_two_processes_rank_exactly_like_one(policy, model_home, tmp_path):
    """Two CPU processes (torchrun, gloo): each scores half the batch, and every group spans both."""
    model, tokenizer = policy
    batch = two_process_scoring.fixed_batch()
    expected = NoverScorer(model, tokenizer, CONFIG).score(
        [build_prompt(two_process_scoring.QUESTIONS[k][0], CONFIG, tokenizer) for k, _, _ in batch],
        [c for _, c, _ in batch],
        [k for k, _, _ in batch],
        [r for _, _, r in batch],
    )
    out = tmp_path / "scores.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "tests.training.two_process_scoring",
            str(model_home),
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["world_size"] == 2
    assert got["rewards"] == [list(dataclasses.astuple(s.rewards)) for s in expected]
    assert [p is None for p in got["perplexity"]] == [s.perplexity is None for s in expected]
    assert [p for p in got["perplexity"] if p is not None] == pytest.approx(
        [s.perplexity for s in expected if s.perplexity is not None], rel=1e-4
    )
    assert any(s.perplexity is None for s in expected) and any(s.rewards.reasoning > 0 for s in expected)
