"""The Train form's model, derived from RunConfig: which widget each field gets, and values <-> config.

Pure: no Gradio here, so the mapping is tested without a browser and the form cannot drift from the config.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from training.config import RunConfig

GROUP_TITLES = {
    "model": "Model",
    "data": "Data",
    "prompt": "Prompt",
    "rewards": "Rewards",
    "grpo": "GRPO",
    "generation": "Generation",
    "lora": "LoRA / QLoRA",
    "proxy": "Proxy",
    "run": "Run length",
    "evaluation": "Held-out evaluation",
    "alerts": "Alerts",
}
COLUMN_FIELDS = ("prompt_column", "reference_column", "split_column")
"""Fields filled from an uploaded file's header: offered as a dropdown of its columns."""


@dataclass(frozen=True)
class FormField:
    name: str
    group: str
    kind: type
    """int, float, str or bool: the widget holds this type (a number field for a number)."""
    optional: bool
    help: str
    choices: tuple[str, ...] | None
    default: Any


def form_fields() -> list[FormField]:
    """Every RunConfig field, in declaration order (which is already grouped)."""
    hints = typing.get_type_hints(RunConfig)
    fields = []
    for f in dataclasses.fields(RunConfig):
        args = [t for t in typing.get_args(hints[f.name]) if t is not type(None)]
        fields.append(
            FormField(
                name=f.name,
                group=f.metadata["group"],
                kind=args[0] if args else hints[f.name],
                optional=type(None) in typing.get_args(hints[f.name]),
                help=f.metadata["help"],
                choices=f.metadata.get("choices"),
                default=f.default,
            )
        )
    return fields


def values_to_config(values: list[Any]) -> dict[str, Any]:
    """Widget values (in form_fields() order) as plain config values; ConfigError comes later, from RunConfig.

    Number widgets hand back floats (8.0) or None when cleared: a cleared optional field means "none", and a
    cleared required one keeps None so validation names the field rather than silently using a default.
    """
    config = {}
    for field, value in zip(form_fields(), values, strict=True):
        if field.kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if field.optional and field.kind in (int, float) and value == 0:
            value = None  # a number widget cannot be blank once touched: 0 stands for "none" (e.g. all prompts)
        if field.kind is str and value is None:
            value = ""
        config[field.name] = value
    return config


def config_to_values(config: RunConfig) -> list[Any]:
    values = config.to_dict()
    return [values[field.name] for field in form_fields()]


def run_cost(config: RunConfig, prompt_chars: float | None = None) -> str:
    """What one step and the whole run will process, in the units GRPO spends: rollouts and tokens.

    Prompt tokens are estimated at 4 characters a token from the data's mean prompt length when known.
    """
    rollouts = config.prompts_per_step * config.num_generations
    generated = rollouts * config.max_completion_length
    lines = [
        f"**{config.prompts_per_step} prompt(s) x {config.num_generations} rollouts = {rollouts} rollouts "
        f"per step**, {config.max_steps} steps: {rollouts * config.max_steps:,} rollouts in all.",
        f"Generated tokens: at most {generated:,} per step, {generated * config.max_steps:,} per run.",
    ]
    if prompt_chars:
        prompt_tokens = round(prompt_chars / 4) * rollouts
        lines.append(
            f"Prompt tokens: about {prompt_tokens:,} per step from the data (mean prompt {prompt_chars:.0f} "
            f"characters), plus the instruction template around each prompt."
        )
    if config.reward == "nover":
        lines.append(
            f"NOVER scoring: the reference scored after each of the {rollouts} rollouts, batched through the proxy."
        )
    return "  \n".join(lines)
