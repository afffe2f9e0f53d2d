"""What makes a run config's values wrong: a field of the wrong type, out of its bounds, or settings that conflict.

Standard library only, like training/config.py, whose RunConfig.__post_init__ and config_errors call these checks.
The import rules allow no cycle between modules, not even a type-only import, so this module never imports
training.config: a check takes the config as an argument (typed Any for that reason) and returns (field, message)
pairs, which training/config.py raises or collects as ConfigError. Every message names the field, the value and the
fix ("num_generations must be >= 2 to compute group advantages and NOVER's ranks, got 1").
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator
from typing import Any

from training.alert_thresholds import RuleError, parse_rules
from training.machine_checks import machine_problems

Problem = tuple[str, str]
"""(field, message): one thing wrong with a config, the message naming the value and the fix."""

CISPO_MIN_EPSILON_HIGH = 1.0
"""With loss_type cispo, TRL caps the importance ratio at epsilon_high itself (ScaleRL's eps_max, 5.0 recommended):
a cap below 1 would shrink every on-policy token's weight."""
VLLM_GROUP_PORT = 51216
"""The port TRL's weight-update group uses beside a vLLM server (GRPOConfig.vllm_group_port's default): the server's
own port must be another."""
LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0")
"""Where a server the worker starts itself can listen: the worker's own machine."""
TRACKERS = ("trackio", "tensorboard", "wandb")
"""What report_to may name: the trackers TRL reports to that the project installs and tests."""
ALERT_RULES_MOST = 4000
MAX_ROLLOUTS_PER_STEP = 65_536
"""Generous for any GPU node of today, and what keeps one step from being an accidental denial of service."""


def value_problems(config: Any) -> Iterator[Problem]:
    """What is wrong with the values, once each field has the right type: the more specific advice first, so
    __post_init__ raises the most useful one and config_errors keeps it for its field."""
    for name in (
        "model",
        "dataset",
        "prompt_column",
        "reference_column",
        "intermediate_tag",
        "final_tag",
        "lora_target_modules",
    ):
        if not getattr(config, name).strip():
            yield (name, f"{name} must not be empty")
    for tag_field in ("intermediate_tag", "final_tag"):
        tag = getattr(config, tag_field)
        if tag.strip() and not tag.replace("_", "").replace("-", "").isalnum():
            yield (
                tag_field,
                f"{tag_field} must be a bare tag name of letters, digits, '-' or "
                f"'_' (write 'think', not '<think>'), got {tag!r}",
            )
    if config.intermediate_tag == config.final_tag:
        yield ("final_tag", f"final_tag must differ from intermediate_tag, both are {config.final_tag!r}")
    if config.prompt_column == config.reference_column:
        yield (
            "reference_column",
            f"reference_column must differ from prompt_column, both are {config.prompt_column!r}",
        )
    if config.report_to.strip() != "none" and (
        not config.trackers() or any(name not in TRACKERS for name in config.trackers())
    ):
        yield (
            "report_to",
            f"report_to must be 'none' or trackers from {', '.join(TRACKERS)} separated by commas, got "
            f"{config.report_to!r}",
        )
    yield from _at_least(config, "num_generations", 2, "to compute group advantages and NOVER's ranks")
    for name in (
        "prompts_per_step",
        "gradient_accumulation_steps",
        "max_completion_length",
        "num_iterations",
        "lora_r",
        "lora_alpha",
        "proxy_sync_steps",
        "max_steps",
        "num_processes",
    ):
        yield from _at_least(config, name, 1)
    yield from _at_least(config, "checkpoint_steps", 0)
    yield from _at_least(config, "seed", 0)
    if config.max_prompts is not None:
        yield from _at_least(config, "max_prompts", 1, "(leave it empty to use every prompt)")
    for name in ("learning_rate", "temperature", "max_grad_norm", "numeric_tolerance"):
        if not getattr(config, name) > 0:
            yield (name, f"{name} must be > 0, got {getattr(config, name)}")
    for name in (
        "format_weight",
        "reasoning_weight",
        "efficiency_weight",
        "verifier_weight",
        "beta",
        "epsilon_high",
        "rlpr_std_ratio",
    ):
        if getattr(config, name) < 0:
            yield (name, f"{name} must be >= 0, got {getattr(config, name)}")
    yield from _in_range(config, "top_p", 0.0, 1.0, low_open=True)
    yield from _in_range(config, "epsilon", 0.0, 1.0, high_open=True)
    yield from _in_range(config, "lora_dropout", 0.0, 1.0, high_open=True)
    yield from _in_range(config, "proxy_alpha", 0.0, 1.0)
    yield from _in_range(config, "rlpr_std_ema", 0.0, 1.0, high_open=True)
    yield from _in_range(config, "heldout_fraction", 0.0, 0.9, low_open=True)
    yield from _at_least(config, "eval_steps", 0)
    yield from _at_least(config, "eval_prompts", 1)
    yield from _at_least(config, "eval_samples", 1)
    yield from _at_least(config, "heldout_seed", 0)
    if config.eval_steps and config.eval_split == config.dataset_split:
        yield (
            "eval_split",
            f"eval_split must differ from dataset_split, both are {config.eval_split!r}: held-out prompts must "
            "never train",
        )
    try:
        if len(config.alert_rules) <= ALERT_RULES_MOST:  # longer text is refused below, saying so
            parse_rules(config.alert_rules)
    except RuleError as exc:
        yield ("alert_rules", f"alert_rules {exc}")
    if config.reward == "verifier" and config.verifier_weight > 0:
        yield (
            "verifier_weight",
            "verifier_weight adds the verifier to a verifier-free recipe, but reward is already 'verifier'; set "
            "it to 0, or pick a verifier-free reward for a hybrid",
        )
    if config.format_weight + config.reasoning_weight + config.efficiency_weight + config.verifier_weight == 0:
        yield (
            "format_weight",
            "format_weight, reasoning_weight, efficiency_weight and verifier_weight are "
            "all 0, so every reward would be 0; set at least one above 0",
        )
    yield from _generation_problems(config)
    yield from machine_problems(config)
    if config.loss_type == "cispo" and config.epsilon_high < CISPO_MIN_EPSILON_HIGH:
        yield (
            "epsilon_high",
            f"with loss_type cispo, epsilon_high caps the importance ratio itself and must be >= "
            f"{CISPO_MIN_EPSILON_HIGH}, got {config.epsilon_high}; ScaleRL recommends 5.0",
        )
    if config.learning_rate >= 1:
        yield ("learning_rate", f"learning_rate must be below 1 (LoRA uses ~1e-5 to 1e-4), got {config.learning_rate}")
    # After the checks above, which give more specific advice for the fields they cover.
    for f in dataclasses.fields(config):
        yield from _at_most(config, f.name, f.metadata.get("most"))
    counts = (config.prompts_per_step, config.num_generations, config.num_processes, config.gradient_accumulation_steps)
    if min(counts) < 1:
        return  # refused above; the products below would mislead (or divide by zero)
    completions = config.prompts_per_step * config.num_generations
    if completions > MAX_ROLLOUTS_PER_STEP:
        yield (
            "prompts_per_step",
            f"prompts_per_step x num_generations must be at most "
            f"{MAX_ROLLOUTS_PER_STEP:,} rollouts per step, got {completions:,}; lower one of them",
        )
    elif config.num_machines >= 1 and completions % (config.world_size * config.gradient_accumulation_steps):
        names, values = "num_processes", f"{config.num_processes}"
        if config.num_machines > 1:  # every process of every machine takes its share of the step
            names, values = f"{names} x num_machines", f"{values} x {config.num_machines}"
        yield (
            "prompts_per_step",
            f"prompts_per_step x num_generations ({completions} rollouts per "
            f"step) must divide evenly over {names} x gradient_accumulation_steps "
            f"({values} x {config.gradient_accumulation_steps}); change one of them",
        )


def _generation_problems(config: Any) -> Iterator[Problem]:
    """The generation settings: the vLLM server's port, host and GPUs, and what vLLM cannot be combined with."""
    yield from _in_range(config, "vllm_gpu_memory_utilization", 0.0, 1.0, low_open=True)
    yield from _in_range(config, "vllm_server_port", 1, 65_535)
    if config.vllm_server_port == VLLM_GROUP_PORT:
        yield (
            "vllm_server_port",
            f"vllm_server_port must not be {VLLM_GROUP_PORT}: TRL's weight-update group uses that port beside "
            f"the server; pick another, e.g. 8000",
        )
    if not config.vllm_server_timeout > 0:
        yield ("vllm_server_timeout", f"vllm_server_timeout must be > 0, got {config.vllm_server_timeout}")
    host = config.vllm_server_host
    if not host.strip() or any(c.isspace() or c in "/:@[]" for c in host):
        yield (
            "vllm_server_host",
            f"vllm_server_host must be a bare host name or address (write 'localhost', not "
            f"'http://localhost:8000'; the port is vllm_server_port), got {host!r}",
        )
    gpus = config.vllm_server_gpus.split(",") if config.vllm_server_gpus.strip() else []
    if not all(g.strip().isdigit() for g in gpus) or len({int(g) for g in gpus if g.strip().isdigit()}) < len(gpus):
        yield (
            "vllm_server_gpus",
            f"vllm_server_gpus must be distinct GPU numbers separated by commas, e.g. '1' or '1,2', got "
            f"{config.vllm_server_gpus!r}",
        )
        gpus = []
    if config.generation != "vllm":
        return
    if config.device == "cpu":
        yield (
            "generation",
            "generation 'vllm' generates on a CUDA GPU but device is 'cpu'; set device to auto or cuda, or "
            "generation to transformers",
        )
    if config.quantization == "4bit":
        # Measured on the default model (bitsandbytes 0.50, CPU): 5 merge/unmerge round trips of one LoRA
        # layer changed 1.6% of its packed nf4 bytes, a mean drift of 7% of the mean weight.
        yield (
            "quantization",
            "quantization '4bit' cannot generate with vLLM: before each generation TRL merges the adapter into "
            "the base weights to push them to vLLM and unmerges it after, and on 4-bit weights every round trip "
            "rounds them again, so the frozen base model drifts step by step; use quantization none, or "
            "generation transformers",
        )
    if config.vllm_mode != "server":
        return
    shared = sorted(int(g) for g in gpus if int(g) < config.num_processes)
    if shared:
        yield (
            "vllm_server_gpus",
            f"vllm_server_gpus {config.vllm_server_gpus!r} shares GPU {shared[0]} with training, which runs on GPUs "
            f"0 to {config.num_processes - 1} (num_processes {config.num_processes}); give the server GPUs from "
            f"{config.num_processes} on, e.g. '{config.num_processes}', or use vllm_mode colocate",
        )
    if gpus and host not in LOCAL_HOSTS:
        yield (
            "vllm_server_host",
            f"the worker starts the server named by vllm_server_gpus on its own machine, so vllm_server_host "
            f"must be one of {', '.join(LOCAL_HOSTS)}, got {host!r}; for a server on another machine leave "
            f"vllm_server_gpus empty",
        )


def type_problem(f: dataclasses.Field[Any], annotation: Any, value: Any) -> str | None:
    """Why `value` cannot be field `f` (its type `annotation`): the wrong type, not finite, or not one of the field's
    choices; None when it can."""
    if value is None and _is_optional(annotation):
        return None
    expected = non_none_type(annotation)
    # bool is a subclass of int in Python; a checkbox value in a number field is a mistake, not a 1.
    is_bool = isinstance(value, bool)
    if not ((expected is bool) == is_bool and isinstance(value, expected)):
        return f"{f.name} must be {_TYPE_WORDS[expected]}, got {value!r} ({type(value).__name__})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{f.name} must be a finite number, got {value}"
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        return f"{f.name} must be one of {', '.join(choices)}, got {value!r}"
    return None


def coerced(annotation: Any, value: Any) -> Any:
    """Map plain-data spellings onto the field's type `annotation`: 8.0 -> 8 for an int field, 1 -> 1.0 for a float
    field."""
    expected = non_none_type(annotation)
    if isinstance(value, bool):
        return value
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if expected is float and isinstance(value, int):
        return float(value)
    return value


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def non_none_type(annotation: Any) -> type:
    args = [t for t in typing.get_args(annotation) if t is not type(None)]
    return args[0] if args else annotation


def _at_least(config: Any, name: str, low: int, why: str = "") -> Iterator[Problem]:
    value = getattr(config, name)
    if value < low:
        yield (name, f"{name} must be >= {low}{' ' + why if why else ''}, got {value}")


def _at_most(config: Any, name: str, most: float | None) -> Iterator[Problem]:
    value = getattr(config, name)
    if most is None or value is None:
        return
    if isinstance(value, str):
        if len(value) > most:
            yield (name, f"{name} has at most {most:,} characters, got {len(value):,}; shorten it")
    elif value > most:
        shown = f"{value:,}" if isinstance(value, int) and value < 10**30 else f"{value:.3g}"
        yield (name, f"{name} must be at most {most:,}, got {shown}; lower it")


def _in_range(
    config: Any, name: str, low: float, high: float, low_open: bool = False, high_open: bool = False
) -> Iterator[Problem]:
    value = getattr(config, name)
    ok_low = value > low if low_open else value >= low
    ok_high = value < high if high_open else value <= high
    if not (ok_low and ok_high):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        yield (name, f"{name} must be in {interval}, got {value}")
