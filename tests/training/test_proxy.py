from types import SimpleNamespace

import pytest
import torch
from peft import get_peft_model

from training.config import preset
from training.model import lora_config
from training.proxy import (
    PROXY_ADAPTER,
    ProxySyncCallback,
    adapter_pairs,
    add_proxy,
    load_proxy,
    proxy_active,
    sync_proxy,
)

CONFIG = preset("cpu-demo")


@pytest.fixture
def model(base_and_tokenizer):
    base, _ = base_and_tokenizer
    model = get_peft_model(base, lora_config(CONFIG))
    add_proxy(model)
    yield model
    model.unload()


def perturb_policy(model, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for policy, _ in adapter_pairs(model):
            policy.add_(torch.randn(policy.shape, generator=generator) * 0.05)


def test_the_proxy_starts_as_a_frozen_copy_of_the_policy(model):
    pairs = adapter_pairs(model)
    assert len(pairs) > 0
    assert all(torch.equal(policy, proxy) for policy, proxy in pairs)
    assert all(policy.requires_grad and not proxy.requires_grad for policy, proxy in pairs)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(f".{PROXY_ADAPTER}." not in name for name in trainable)
    assert model.active_adapter == "default"


def test_the_proxy_is_an_adapter_not_a_second_model(model):
    base_params = sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)
    proxy_params = sum(proxy.numel() for _, proxy in adapter_pairs(model))
    assert proxy_params < 0.1 * base_params


def test_sync_moves_the_proxy_by_the_ema_formula(model):
    perturb_policy(model, seed=1)
    before = [(policy.clone(), proxy.clone()) for policy, proxy in adapter_pairs(model)]
    sync_proxy(model, alpha=0.9)
    for (policy, proxy_before), (_, proxy_after) in zip(before, adapter_pairs(model)):
        assert torch.allclose(proxy_after, 0.9 * proxy_before + 0.1 * policy, atol=1e-7)


def test_the_callback_syncs_only_every_n_steps(model):
    callback = ProxySyncCallback(model, every=3, alpha=0.5)
    snapshots = []
    for step in range(1, 8):
        perturb_policy(model, seed=step)
        callback.on_step_end(None, SimpleNamespace(global_step=step), None)
        snapshots.append([proxy.clone() for _, proxy in adapter_pairs(model)])
    changed = [not all(torch.equal(a, b) for a, b in zip(snapshots[i - 1], snapshots[i])) for i in range(1, 7)]
    # Steps 2..7: the proxy moves at steps 3 and 6 only.
    assert changed == [False, True, False, False, True, False]
    assert callback.syncs == 2


def test_proxy_active_runs_the_proxy_and_then_restores_the_policy(model, base_and_tokenizer):
    _, tokenizer = base_and_tokenizer
    perturb_policy(model, seed=7)
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        policy_logits = model(input_ids=ids).logits
        with proxy_active(model):
            proxy_logits = model(input_ids=ids).logits
        with model.disable_adapter():
            base_logits = model(input_ids=ids).logits
    # The proxy is still the untrained copy: it equals the base model, not the perturbed policy.
    assert torch.allclose(proxy_logits, base_logits, atol=1e-5)
    assert not torch.allclose(policy_logits, proxy_logits, atol=1e-3)
    assert model.active_adapter == "default"
    assert all(policy.requires_grad and not proxy.requires_grad for policy, proxy in adapter_pairs(model))


def test_a_saved_proxy_loads_back(model, tmp_path):
    perturb_policy(model, seed=3)
    sync_proxy(model, alpha=0.0)  # proxy := policy
    saved = [proxy.clone() for _, proxy in adapter_pairs(model)]
    model.save_pretrained(tmp_path)  # what a checkpoint holds: default adapter at top, proxy in "ref/"
    with torch.no_grad():
        for _, proxy in adapter_pairs(model):
            proxy.zero_()
    load_proxy(model, tmp_path)
    assert all(torch.equal(a, b) for a, (_, b) in zip(saved, adapter_pairs(model)))
    with pytest.raises(FileNotFoundError, match="has no proxy adapter"):
        load_proxy(model, tmp_path / "missing")


def test_generating_through_the_merged_policy_matches_the_unmerged_one(model, base_and_tokenizer):
    from training.grpo import merged_policy

    _, tokenizer = base_and_tokenizer
    perturb_policy(model, seed=3)
    inputs = tokenizer(["The capital of France is", "Two plus two"], return_tensors="pt", padding=True)
    weights = {name: p.clone() for name, p in model.named_parameters() if "base_layer" in name}
    greedy = dict(do_sample=False, max_new_tokens=12, pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        unmerged = model.generate(**inputs, **greedy)
        with merged_policy(model):
            merged = model.generate(**inputs, **greedy)
            layers = [m for m in model.modules() if hasattr(m, "merged_adapters")]
            assert layers and all(m.merged_adapters == ["default"] for m in layers)  # the proxy stays apart
    assert torch.equal(merged, unmerged)
    # Unmerged again, the base weights are back bit for bit (the few the round trip rounds are written back).
    assert all(torch.equal(p, weights[name]) for name, p in model.named_parameters() if name in weights)
    assert all(policy.requires_grad and not proxy.requires_grad for policy, proxy in adapter_pairs(model))
