"""The NOVER proxy: a lagged copy of the policy, kept as a second LoRA adapter on the same base weights.

The public NOVER code deep-copied the whole model for its proxy (twice the memory); an adapter costs only the
LoRA weights. The adapter is named "ref" because TRL's GRPOTrainer uses a PEFT adapter of that name as its
KL reference, so with beta > 0 the proxy is the KL reference too, as in the paper.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import TrainerCallback

from training.config import RunConfig

POLICY_ADAPTER = "default"
PROXY_ADAPTER = "ref"


def scores_with_proxy(config: RunConfig) -> bool:
    """Whether the reward is scored by the proxy adapter: a model-scored recipe (every one but the verifier) whose
    reward_scorer is 'proxy'. 'policy' scores with the live adapter."""
    return config.reward != "verifier" and config.reward_scorer == "proxy"


def needs_proxy(config: RunConfig) -> bool:
    """The proxy adapter exists when it scores the reward, or when beta > 0 (it is the KL reference too). A run that
    scores with the policy (or by the verifier) with beta 0 keeps no second adapter (nor saves one in checkpoints)."""
    return scores_with_proxy(config) or config.beta > 0


def add_proxy(model: PeftModel) -> None:
    """Add the frozen proxy adapter, initialised as an exact copy of the policy adapter."""
    model.add_adapter(PROXY_ADAPTER, model.peft_config[POLICY_ADAPTER])
    with torch.no_grad():
        for policy, proxy in adapter_pairs(model):
            proxy.copy_(policy)
    for _policy, proxy in adapter_pairs(model):
        proxy.requires_grad_(False)


def adapter_pairs(model: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(policy, proxy) parameter pairs of every LoRA weight."""
    params = dict(model.named_parameters())
    return [
        (param, params[name.replace(f".{POLICY_ADAPTER}.", f".{PROXY_ADAPTER}.")])
        for name, param in params.items()
        if f".{POLICY_ADAPTER}." in name
    ]


def sync_proxy(model: torch.nn.Module, alpha: float) -> None:
    """proxy <- alpha * proxy + (1 - alpha) * policy, over the LoRA weights."""
    with torch.no_grad():
        for policy, proxy in adapter_pairs(model):
            proxy.mul_(alpha).add_(policy.detach().to(proxy.dtype), alpha=1.0 - alpha)


@contextlib.contextmanager
def proxy_active(model: PeftModel) -> Iterator[None]:
    """Run the model as the proxy for the duration of the block, then restore the policy adapter."""
    previous = model.active_adapter
    model.set_adapter(PROXY_ADAPTER, inference_mode=True)  # inference_mode: the proxy never becomes trainable
    try:
        yield
    finally:
        model.set_adapter(previous)  # the policy trainable again, every other adapter frozen


def load_proxy(model: PeftModel, checkpoint: Path) -> None:
    """Restore the proxy adapter saved in a checkpoint (PEFT saves a non-default adapter in a subfolder)."""
    weights = checkpoint / PROXY_ADAPTER / "adapter_model.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"checkpoint {checkpoint} has no proxy adapter ({weights} is missing)")
    set_peft_model_state_dict(model, load_file(str(weights)), adapter_name=PROXY_ADAPTER)


class ProxySyncCallback(TrainerCallback):
    """Moves the proxy towards the policy every `every` optimizer steps (paper: 100 steps, alpha 0.9)."""

    def __init__(self, model: PeftModel, every: int, alpha: float):
        self.model, self.every, self.alpha = model, every, alpha
        self.syncs = 0

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # a transformers TrainerCallback hook; transformers types it loosely
        if state.global_step % self.every == 0:
            sync_proxy(self.model, self.alpha)
            self.syncs += 1
