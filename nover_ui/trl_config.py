"""The RunConfig of an imported TRL run: what its files tell (arguments, trainer state, adapter, the completions'
groups), nover_ui's defaults elsewhere, and TRL's arguments it has no field for (kept in the run's notes)."""

from __future__ import annotations

from typing import Any

from nover_ui.trl_folder import TrlFolder, entry_value, is_number, is_step
from training.config import ConfigError, RunConfig

UNKNOWN_DATA = "unknown (imported from TRL)"
ARG_FIELDS = {
    name: name
    for name in (
        "num_generations",
        "max_completion_length",
        "learning_rate",
        "temperature",
        "top_p",
        "beta",
        "epsilon",
        "epsilon_high",
        "loss_type",
        "scale_rewards",
        "num_iterations",
        "lr_scheduler_type",
        "max_grad_norm",
        "gradient_checkpointing",
        "gradient_accumulation_steps",
        "max_steps",
        "seed",
    )
} | {"save_steps": "checkpoint_steps"}
"""GRPOConfig's argument -> RunConfig's field of the same meaning."""
ADAPTER_FIELDS = {"r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout"}


def run_config(
    folder: TrlFolder, rollouts: list[dict[str, Any]], notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The RunConfig of what is known (nover_ui's defaults elsewhere), and TRL's arguments it has no field for."""
    # Later sources win: TRL's arguments as configured, then what the run's own files show happened.
    state, args = folder.state or {}, folder.args or {}
    known: dict[str, tuple[str, Any]] = {  # field -> (where from, value)
        field: ("training_args.json", args[key]) for key, field in ARG_FIELDS.items() if args.get(key) is not None
    }
    for key, field in (("max_steps", "max_steps"), ("save_steps", "checkpoint_steps")):
        if is_step(state.get(key)) and state[key] > 0:
            known[field] = (folder.state_file or "", state[key])
    logged_lr = [e["learning_rate"] for e in state.get("log_history", []) if is_number(entry_value(e, "learning_rate"))]
    if logged_lr and logged_lr[0] > 0:
        known.setdefault("learning_rate", ("the first logged learning_rate", logged_lr[0]))
    if rollouts:
        known.setdefault("num_generations", ("the completions' groups", max(r["sample_index"] + 1 for r in rollouts)))
    adapter = folder.adapter or {}
    for key, field in ADAPTER_FIELDS.items():
        if is_number(adapter.get(key)):
            known[field] = ("adapter_config.json", adapter[key])
    modules = adapter.get("target_modules")
    if isinstance(modules, list) and modules and all(isinstance(m, str) for m in modules):
        known["lora_target_modules"] = ("adapter_config.json", ",".join(sorted(modules)))  # PEFT saves a set
    model = _model_name(folder)
    if model:
        known["model"] = model
    config = RunConfig(dataset_name=UNKNOWN_DATA)
    for field, (source, value) in known.items():
        try:
            config = config.replace(**{field: value})
        except ConfigError:
            notes.append(f"{field} from {source} is outside what nover_ui's config allows: its default is kept")
    taken = ", ".join(f"{field} ({source})" for field, (source, _) in known.items())
    notes.append(f"config: {taken or 'nothing known'}; nover_ui's defaults elsewhere (the reward recipe among them)")
    if folder.args is None and folder.has_pickled_args:
        notes.append(
            "training_args.bin is not read (unpickling runs the code it holds); save args.to_json_string() as "
            "training_args.json in the folder to import TRL's arguments"
        )
    unmapped = {key: value for key, value in args.items() if key not in ARG_FIELDS and key != "reward_weights"}
    return config.to_dict(), unmapped


def _model_name(folder: TrlFolder) -> tuple[str, str] | None:
    for source, values, key in (
        ("adapter_config.json", folder.adapter, "base_model_name_or_path"),
        ("config.json", folder.model_config, "_name_or_path"),
        ("training_args.json", folder.args, "model_name_or_path"),
    ):
        name = (values or {}).get(key)
        if isinstance(name, str) and name.strip():
            return source, name.strip()
    return None
