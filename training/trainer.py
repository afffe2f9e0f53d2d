"""Entry point of NOVER training: `train(config, sink, context)`, the whole run in one screen.

Data and prompts, model and LoRA, the proxy adapter, the scorer, TRL's GRPO loop; everything else lives in
its own module. Reports only through the sink.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from datasets import Dataset
from transformers import PrinterCallback
from transformers.utils import logging as hf_logging
from trl import GRPOConfig

from training.config import REFERENCE_REWARDS, RunConfig
from training.grpo import NoverGRPOTrainer, NoverRewards, RolloutReporter, SinkCallback
from training.heldout import run_data
from training.heldout_eval import HeldOutEvaluation
from training.interface import Phase, RunContext, Sink
from training.model import load_model, lora_config, model_summary
from training.prompts import build_prompt
from training.proxy import ProxySyncCallback, add_proxy, load_proxy, needs_proxy, proxy_active, scores_with_proxy
from training.recipes import StdFilter
from training.scorer import NoverScorer
from training.trackers import PROJECT, reporting, tracker_run_name


def train(config: RunConfig, sink: Sink, context: RunContext) -> None:
    with reporting(config, context.workdir, context.home):  # the trackers' callbacks read it when built and started
        trainer = build_trainer(config, sink, context)
        sink.log_phase(Phase.FIRST_GENERATION)
        trainer.train(resume_from_checkpoint=str(context.resume_from) if context.resume_from else None)


def build_trainer(
    config: RunConfig, sink: Sink, context: RunContext, loaded: tuple[Any, Any] | None = None
) -> NoverGRPOTrainer:
    """Everything up to the first step: data, model, TRL trainer, proxy, scorer, callbacks.

    `loaded` is a (model, tokenizer) pair already loaded as `config` asks, for tests that train several configs on
    one model; the trainer adds its adapters to that model in place (`trainer.model.unload()` takes them out)."""
    refuse_unavailable_generation(config)  # before the data and the model: a refusal should cost nothing
    hf_logging.set_verbosity_error()
    split = run_data(config)  # held-out prompts (when the run evaluates) never reach the training set
    data = split.training
    print(f"data: {data.summary()}", file=sys.stderr)
    counts = {"data/prompts": len(data.examples), "data/skipped_rows": len(data.skipped)}
    sink.log_metrics(0, counts | ({"data/heldout_prompts": len(split.heldout)} if config.eval_steps else {}))
    base, tokenizer = loaded if loaded is not None else load_model(config, context.home, sink.log_phase)
    dataset = Dataset.from_list(
        [
            {"prompt": build_prompt(e.prompt, config, tokenizer), "reference": e.reference, "example_id": e.id}
            for e in data.examples
        ]
    )

    rewards = NoverRewards(config, eos_ids(tokenizer))
    functions, weights = rewards.functions()
    trainer = NoverGRPOTrainer(
        model=base,
        args=grpo_args(
            config,
            context.workdir,
            base.device.type,
            weights,
            run_name=tracker_run_name(context.name, context.run_id, context.workdir),
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(config),
        reward_funcs=functions,
    )
    model = trainer.model  # the PEFT model TRL wrapped around the base weights
    # Generating through the merged policy took 0.59x and 0.73x the unmerged time (bench/bench_step_overhead.py). Only
    # plain fp32 weights merge: a 4-bit base cannot take the update in place, and bf16 rounds it coarsely.
    trainer.merge_for_generation = (
        config.generation == "transformers" and config.quantization == "none" and base.dtype == torch.float32
    )
    if needs_proxy(config):
        add_proxy(model)
        if context.resume_from is not None:
            load_proxy(model, context.resume_from)
        trainer.add_callback(ProxySyncCallback(model, config.proxy_sync_steps, config.proxy_alpha))
    print(f"model: {model_summary(model)}", file=sys.stderr)
    # With generation 'vllm' the rollouts come from vLLM, but the scorer keeps running on this training model, and
    # must: it needs the proxy adapter (vLLM holds only the merged policy: before each generation TRL merges the
    # active policy adapter into the base weights, pushes them to vLLM and unmerges, skipping every LoRA tensor, so
    # the proxy never reaches vLLM) and the log-probability of every reference token after the reasoning, which
    # vLLM does not give for text it did not generate. Scoring is one forward pass over the reference tokens,
    # cheap next to generating the rollouts, which is what vLLM speeds up.
    scorer = NoverScorer(
        model,
        tokenizer,
        config,
        proxy=(lambda: proxy_active(model)) if scores_with_proxy(config) else contextlib.nullcontext,
        gather=gather_object,
        process_index=PartialState().process_index,
    )
    rewards.scorer = scorer
    trainer.rewards = rewards
    if config.rlpr_std_filter:
        trainer.std_filter = StdFilter(config.rlpr_std_ratio, config.rlpr_std_ema)
    reference_scored = config.reward in REFERENCE_REWARDS
    trainer.on_rollouts = RolloutReporter(trainer, rewards, sink, scorer if reference_scored else None)
    trainer.add_callback(SinkCallback(sink))
    if config.eval_steps:  # after SinkCallback: a step at which the sink asked to stop is not evaluated
        resumed = context.resume_from is not None
        trainer.add_callback(HeldOutEvaluation(model, tokenizer, config, split.heldout, sink, resumed))
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the sink reports progress instead
    return trainer


def grpo_args(
    config: RunConfig, output_dir: Path, device: str, reward_weights: list[float], run_name: str | None = None
) -> GRPOConfig:
    """TRL's arguments for `config`; `run_name` names the run in its trackers (training/trackers.py)."""
    on_cpu = device == "cpu"
    bf16, fp16 = mixed_precision(config.dtype, device, not on_cpu and torch.cuda.is_bf16_supported())
    rollouts_per_process = config.prompts_per_step * config.num_generations // config.world_size
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=config.max_steps,
        seed=config.seed,
        per_device_train_batch_size=rollouts_per_process // config.gradient_accumulation_steps,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        top_p=config.top_p,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        beta=config.beta,
        epsilon=config.epsilon,
        epsilon_high=config.epsilon_high,
        loss_type=config.loss_type,
        importance_sampling_level="sequence" if config.loss_type == "luspo" else "token",  # LUSPO is sequence-level
        scale_rewards=config.scale_rewards,
        num_iterations=config.num_iterations,
        max_grad_norm=config.max_grad_norm,
        reward_weights=reward_weights,
        gradient_checkpointing=config.gradient_checkpointing,
        disable_dropout=False,  # keep the configured LoRA dropout; the scorer switches to eval mode itself
        logging_steps=1,
        save_strategy="steps" if config.checkpoint_steps else "no",
        save_steps=config.checkpoint_steps or config.max_steps,
        report_to=list(config.trackers()) or "none",
        run_name=run_name,
        project=PROJECT,  # trackio's project (transformers passes it to trackio.init)
        disable_tqdm=True,
        use_cpu=on_cpu,
        bf16=bf16,
        fp16=fp16,
        dataloader_num_workers=0,
        **vllm_args(config),
    )


def vllm_args(config: RunConfig) -> dict[str, Any]:
    """GRPOConfig's vLLM fields for `config`: none for plain transformers generation (TRL's defaults stand)."""
    if config.generation != "vllm":
        return {}
    args: dict[str, Any] = {"use_vllm": True, "vllm_mode": config.vllm_mode}
    if config.vllm_mode == "colocate":
        args["vllm_gpu_memory_utilization"] = config.vllm_gpu_memory_utilization
    else:  # the server's memory and tensor parallel size are set where it starts (training/vllm_server.py)
        args["vllm_server_host"] = config.vllm_server_host
        args["vllm_server_port"] = config.vllm_server_port
        args["vllm_server_timeout"] = config.vllm_server_timeout
    return args


def generation_problem(config: RunConfig, cuda: bool, vllm: bool) -> str | None:
    """Why this machine cannot generate `config`'s rollouts, or None when it can.

    >>> generation_problem(RunConfig(generation="vllm"), cuda=True, vllm=False).split(": ")[0]
    "generation 'vllm' needs the vllm package, which this machine lacks"
    >>> generation_problem(RunConfig(), cuda=False, vllm=False) is None
    True
    """
    if config.generation != "vllm":
        return None
    if not cuda:
        return (
            "generation 'vllm' needs a CUDA GPU and this machine has none: run it on a worker with a GPU, or set "
            "generation to transformers"
        )
    if not vllm:
        return (
            "generation 'vllm' needs the vllm package, which this machine lacks: install it with `make install-gpu` "
            "(pip install -r requirements-gpu.txt), or set generation to transformers"
        )
    return None


def refuse_unavailable_generation(config: RunConfig) -> None:
    """Fail a run this machine cannot generate for, saying why (the dashboard's queue checks the live workers
    first; a run started from the command line gets here)."""
    problem = generation_problem(
        config, cuda=torch.cuda.is_available(), vllm=importlib.util.find_spec("vllm") is not None
    )
    if problem is not None:
        raise RuntimeError(problem)


def mixed_precision(dtype: str, device: str, bf16_supported: bool) -> tuple[bool, bool]:
    """GRPOConfig's (bf16, fp16): autocast in the precision the weights were loaded in (training.model picks the
    same dtype for 'auto'), so the chosen dtype is the training precision. float32 (and every dtype on a CPU but
    bfloat16, which CPUs autocast) trains without autocast.

    >>> mixed_precision("auto", "cuda", bf16_supported=True), mixed_precision("auto", "cuda", bf16_supported=False)
    ((True, False), (False, True))
    >>> mixed_precision("auto", "cpu", bf16_supported=False), mixed_precision("float32", "cuda", bf16_supported=True)
    ((False, False), (False, False))
    """
    on_gpu = device != "cpu"
    if dtype == "auto":
        dtype = "float32" if not on_gpu else "bfloat16" if bf16_supported else "float16"
    if dtype == "bfloat16" and on_gpu and not bf16_supported:
        raise ValueError(
            "dtype bfloat16 needs a GPU with bfloat16 support and this one has none; choose float16 or auto"
        )
    return dtype == "bfloat16", dtype == "float16" and on_gpu


def eos_ids(tokenizer) -> set[int]:  # type: ignore[no-untyped-def]  # a transformers tokenizer
    ids = tokenizer.eos_token_id
    return set(ids) if isinstance(ids, list) else {ids}
