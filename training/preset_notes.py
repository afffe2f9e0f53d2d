"""Where each preset's settings come from, shown under the Train tab's preset choice (nover_ui/train_tab.py).

PAPER names the sources of the `paper` preset: the NOVER paper (Liu et al., 2025, arXiv 2505.16022, "NOVER:
Incentive Training for Language Models via Verifier-Free Reinforcement Learning"), the paper-era public code
(github.com/thinkwee/NOVER, first release: its README, config_manager.py and data_loader.py), or this project where
neither fixes a value. Standard library only: the UI process reads it.
"""

from __future__ import annotations

from training.config import PRESETS

_PAPER = "NOVER paper (Liu et al., 2025)"
_CODE = "paper-era NOVER code"
_SETUP = f"{_PAPER}, its training settings (DESIGN.md)"

PAPER: dict[str, str] = {
    "model": f"{_PAPER}, Table 1: NOVER trains the Qwen2.5 base models (3B, 7B); the Instruct models are baselines",
    "prompt_format": f"{_CODE}, README 'Data': plain 'Question: ... Answer the question and return in the following "
    "format' prompts, no chat template and no system prompt",
    "num_generations": f"{_SETUP}: 8 rollouts per prompt",
    "prompts_per_step": "this project: 4 prompts (32 rollouts) a step, sized for one GPU",
    "gradient_accumulation_steps": "this project: 2 micro-batches of 16 rollouts, sized for one GPU",
    "max_completion_length": "this project: 1,024 tokens for one GPU (the later public config allows 2,048)",
    "temperature": f"{_SETUP}: sampling temperature 0.6",
    "learning_rate": f"{_SETUP}: learning rate 1e-5",
    "lr_scheduler_type": f"{_CODE}, config_manager.py: no scheduler set, so transformers' default linear decay to 0 "
    "with no warmup",
    "beta": f"{_SETUP}: KL coefficient 0.1 against the proxy",
    "epsilon": f"{_SETUP}: lower clip 0.1 (DAPO's clip-higher)",
    "epsilon_high": f"{_SETUP}: upper clip 0.2",
    "lora_r": f"{_SETUP}: LoRA rank 16",
    "lora_alpha": f"{_SETUP}: LoRA alpha 32",
    "lora_dropout": f"{_SETUP}: LoRA dropout 0.1",
    "proxy_sync_steps": f"{_PAPER}, method: the proxy follows the policy every 100 steps",
    "proxy_alpha": f"{_PAPER}, method: proxy EMA weight 0.9",
    "max_steps": "this project: 1,000 steps (the paper trains a fixed number of epochs over its data)",
    "checkpoint_steps": f"{_CODE}: a checkpoint every 100 steps (save_steps)",
    "gradient_checkpointing": f"{_CODE}, config_manager.py: gradient checkpointing on",
}
"""For every setting of the `paper` preset, where its value comes from."""

SUMMARIES: dict[str, str] = {
    "cpu-demo": "Trains on a laptop CPU in minutes: the bundled easy questions, a worked example and a prefilled tag "
    "so the 135M default model writes format-valid rollouts; a constant learning rate over its 24 steps.",
    "paper": "The NOVER paper's recipe for one GPU: the Qwen2.5-7B base model on raw prompts. Each setting's source:",
    "inverse": "Inverse incentive training on the bundled story prompts (builtin:inverse-demo): the story is the "
    "incentivised part, the guideline the scored one.",
}
"""One line on what each preset is for."""


def preset_notes(name: str) -> list[str]:
    """What the preset is for and, for the paper preset, one 'setting = value: source' line per setting.

    >>> preset_notes("paper")[1][:38]
    "model = 'Qwen/Qwen2.5-7B': NOVER paper"
    """
    lines = [SUMMARIES[name]] if name in SUMMARIES else []
    if name == "paper":
        lines += [f"{field} = {PRESETS[name][field]!r}: {source}" for field, source in PAPER.items()]
    return lines
