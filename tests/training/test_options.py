"""Real steps of the default model on CPU for each training option (issue 14), the rows checked in the database.

Tiny steps (2 rollouts of 16 tokens, short prompts where the signal does not matter) and several independent options
per run keep the cost down; the GRPOConfig mapping of every option is unit-tested in test_grpo_args.py.
"""

import math
import threading

import pytest
import torch
from bitsandbytes.nn import Linear4bit
from peft import PeftModel
from transformers import TrainerCallback

from storage import Store
from training.config import RunConfig, preset
from training.execute import StoreSink, run_training
from training.interface import RunContext
from training.model import load_model
from training.proxy import POLICY_ADAPTER, PROXY_ADAPTER, load_proxy
from training.trainer import build_trainer, train

pytestmark = pytest.mark.slow


def tiny(**options):
    return preset("cpu-demo", num_generations=2, max_completion_length=16, checkpoint_steps=0, **options)


def plumbing(**options):
    """tiny() without the worked example, for runs that check only that an option trains and stores its rows: the
    example makes the prompt about 240 tokens long instead of 100, and a step's time grows with the prompt; the runs
    that compare the weights with the rollouts' signal keep it, since it is what makes a format-valid rollout
    possible."""
    return tiny(format_example=False, **options)


def lora(params, adapter):
    return {name: p for name, p in params.items() if "lora_" in name and f".{adapter}." in name}


def moved(before, after):
    return any(not torch.equal(before[name], after[name]) for name in before)


def learned(rollouts):
    """Whether any rollout carried a signal: 2 rollouts of 16 tokens often both miss the format and tie at reward
    0, and then GRPO's loss (and the KL against a proxy still equal to the policy) has no gradient."""
    return any(r.advantage != 0 for r in rollouts)


class Trained:
    """One run trained by build_trainer into a SQLite store, with its weights before and after training."""

    def __init__(self, home, model_home, config: RunConfig, watch=None):
        self.config = config
        self.store = Store(f"sqlite:///{home / 'nover_ui.db'}")
        self.run_id = self.store.create_run("options", config.to_dict()).id
        self.store.claim_next_run("test")
        sink = StoreSink(self.store, self.run_id, config.max_steps, threading.Event())
        self.context = RunContext(run_id=self.run_id, home=model_home, workdir=home / "runs" / str(self.run_id))
        self.trainer = build_trainer(config, sink, self.context)
        self.watch = watch
        if watch is not None:
            self.trainer.add_callback(watch)  # after ProxySyncCallback: it sees each step's sync done
        self.before = {name: p.detach().clone() for name, p in self.trainer.model.named_parameters()}
        self.trainer.train()
        self.after = {name: p.detach().clone() for name, p in self.trainer.model.named_parameters()}
        self.store.finish_run(self.run_id, "succeeded")
        self.metrics = self.store.get_metrics(self.run_id)
        self.rollouts = self.store.get_rollouts(self.run_id)


def assert_trl_advantages(rollouts, scale_rewards):
    """Each stored advantage is the one TRL computed from the stored rewards (TRL 1.16, one group per step:
    reward minus the group mean, divided by the unbiased std + 1e-4 unless scale_rewards is none)."""
    for step in {r.step for r in rollouts}:
        rewards = torch.tensor([r.reward for r in rollouts if r.step == step])
        expected = rewards - rewards.mean()
        if scale_rewards != "none":
            expected = expected / (rewards.std() + 1e-4)
        stored = [r.advantage for r in rollouts if r.step == step]
        assert stored == pytest.approx(expected.tolist(), abs=1e-4)


@pytest.fixture(scope="module")
def kl_run(model_home, tmp_path_factory):
    """beta 0.1 with gradient checkpointing, top_p 0.9, batch-scaled rewards and the bnpo loss; no proxy sync due."""
    config = tiny(
        max_steps=2,
        beta=0.1,
        gradient_checkpointing=True,
        top_p=0.9,
        scale_rewards="batch",
        loss_type="bnpo",
        proxy_sync_steps=100,
    )
    return Trained(tmp_path_factory.mktemp("kl"), model_home, config)


def test_beta_reports_a_finite_kl_against_a_proxy_the_optimizer_never_touches(kl_run):
    kl = kl_run.metrics["kl"]
    assert kl.steps == (1, 2) and all(math.isfinite(v) and v >= 0 for v in kl.values)  # k3 is never negative
    assert moved(lora(kl_run.before, POLICY_ADAPTER), lora(kl_run.after, POLICY_ADAPTER)) == learned(kl_run.rollouts)
    proxy = lora(kl_run.before, PROXY_ADAPTER)
    assert proxy and not moved(proxy, lora(kl_run.after, PROXY_ADAPTER))  # no sync was due in 2 steps


def test_gradient_checkpointing_top_p_and_batch_scaling_train_and_store_their_rollouts(kl_run):
    assert kl_run.trainer.model.base_model.model.is_gradient_checkpointing
    assert kl_run.metrics["loss"].steps == (1, 2)
    assert [r.step for r in kl_run.rollouts] == [1, 1, 2, 2]
    assert_trl_advantages(kl_run.rollouts, "batch")


class Snapshots(TrainerCallback):
    """The LoRA weights at the end of every optimizer step."""

    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.steps.append({name: p.detach().clone() for name, p in model.named_parameters() if "lora_" in name})


@pytest.fixture(scope="module")
def qlora_run(model_home, tmp_path_factory):
    """4-bit base, two optimisation passes over one generation, unscaled advantages, dr_grpo, a sync every step."""
    config = tiny(
        max_steps=2,
        quantization="4bit",
        num_iterations=2,
        scale_rewards="none",
        loss_type="dr_grpo",
        proxy_sync_steps=1,
    )
    return Trained(tmp_path_factory.mktemp("qlora"), model_home, config, watch=Snapshots())


def test_4bit_trains_both_adapters_on_a_4bit_base(qlora_run):
    model = qlora_run.trainer.model
    assert any(isinstance(module, Linear4bit) for module in model.modules())
    base = {name: p for name, p in qlora_run.before.items() if "lora_" not in name}
    assert not moved(base, qlora_run.after)
    assert moved(lora(qlora_run.before, POLICY_ADAPTER), lora(qlora_run.after, POLICY_ADAPTER)) == learned(
        qlora_run.rollouts
    )
    # Synced after every step: proxy <- alpha * proxy + (1 - alpha) * policy, whatever the policy did.
    alpha, proxy = qlora_run.config.proxy_alpha, lora(qlora_run.before, PROXY_ADAPTER)
    assert len(qlora_run.watch.steps) == 2
    for weights in qlora_run.watch.steps:
        for name, value in lora(weights, PROXY_ADAPTER).items():
            policy = weights[name.replace(f".{PROXY_ADAPTER}.", f".{POLICY_ADAPTER}.")]
            expected = alpha * proxy[name] + (1 - alpha) * policy.to(value.dtype)
            rtol = 1e-5 if value.dtype == torch.float32 else 1e-2  # the sync's own rounding, in the proxy's dtype
            assert torch.allclose(value, expected, rtol=rtol, atol=1e-7)
        proxy = lora(weights, PROXY_ADAPTER)


def test_two_iterations_log_each_rollout_once_with_the_advantage_trl_used(qlora_run):
    # TRL generates once every num_iterations optimizer steps: step 2 reuses step 1's rollouts.
    assert qlora_run.metrics["loss"].steps == (1, 2)
    assert [r.step for r in qlora_run.rollouts] == [1, 1]
    assert_trl_advantages(qlora_run.rollouts, "none")


def test_a_4bit_checkpoint_reloads_both_adapters(qlora_run, model_home):
    checkpoint = qlora_run.context.workdir / "checkpoint-2"
    base, _ = load_model(qlora_run.config, model_home)
    model = PeftModel.from_pretrained(base, str(checkpoint))
    model.add_adapter(PROXY_ADAPTER, model.peft_config[POLICY_ADAPTER])
    load_proxy(model, checkpoint)
    reloaded = dict(model.named_parameters())
    for adapter in (POLICY_ADAPTER, PROXY_ADAPTER):
        trained = lora(qlora_run.after, adapter)
        assert trained and all(torch.equal(reloaded[name], value) for name, value in trained.items())


@pytest.fixture(scope="module")
def verifier_run(model_home, tmp_path_factory):
    """The verifier reward with beta 0 (no proxy needed) and the sapo loss."""
    return Trained(
        tmp_path_factory.mktemp("verifier"), model_home, plumbing(max_steps=1, reward="verifier", loss_type="sapo")
    )


def test_a_verifier_run_builds_and_saves_no_proxy(verifier_run):
    assert PROXY_ADAPTER not in verifier_run.trainer.model.peft_config
    checkpoint = verifier_run.context.workdir / "checkpoint-1"
    assert (checkpoint / "adapter_model.safetensors").exists() and not (checkpoint / PROXY_ADAPTER).exists()
    assert set(verifier_run.metrics) >= {"loss", "rewards/verifier/mean"}
    assert [r.step for r in verifier_run.rollouts] == [1, 1]
    for r in verifier_run.rollouts:
        assert r.perplexity is None and r.reward == pytest.approx(r.reward_format + r.reward_reasoning)


def test_a_verifier_run_resumes_from_its_checkpoint_with_another_loss(verifier_run, run_home):
    store = verifier_run.store
    child = store.create_run(
        "resumed", {**verifier_run.config.to_dict(), "max_steps": 2, "loss_type": "grpo"}, parent_id=verifier_run.run_id
    )
    claimed = store.claim_next_run("test")
    done = run_training(store, claimed, RunConfig.from_dict(claimed.config), train, run_home)
    assert done.status == "succeeded", done.error
    assert store.get_metrics(child.id)["loss"].steps == (2,)
