"""Entry point of NOVER training: `train(config, sink, context)`, the whole run in one screen.

Data and prompts, model and LoRA, the proxy adapter, the scorer, TRL's GRPO loop; everything else lives in
its own module. Reports only through the sink.
"""

from __future__ import annotations

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

from training.config import RunConfig
from training.data import load_examples
from training.grpo import NoverGRPOTrainer, NoverRewards, RolloutReporter, SinkCallback
from training.interface import Phase, RunContext, Sink
from training.model import load_model, lora_config, model_summary
from training.prompts import build_prompt
from training.proxy import ProxySyncCallback, add_proxy, load_proxy, proxy_active
from training.scorer import NoverScorer


def train(config: RunConfig, sink: Sink, context: RunContext) -> None:
    trainer = build_trainer(config, sink, context)
    sink.log_phase(Phase.FIRST_GENERATION)
    trainer.train(resume_from_checkpoint=str(context.resume_from) if context.resume_from else None)


def build_trainer(
    config: RunConfig, sink: Sink, context: RunContext, loaded: tuple[Any, Any] | None = None
) -> NoverGRPOTrainer:
    """Everything up to the first step: data, model, TRL trainer, proxy, scorer, callbacks.

    `loaded` is a (model, tokenizer) pair already loaded as `config` asks, for tests that train several configs on
    one model; the trainer adds its adapters to that model in place (`trainer.model.unload()` takes them out)."""
    hf_logging.set_verbosity_error()
    data = load_examples(
        config.dataset,
        config.prompt_column,
        config.reference_column,
        config.split_column,
        config.dataset_split,
        config.max_prompts,
    )
    print(f"data: {data.summary()}", file=sys.stderr)
    sink.log_metrics(0, {"data/prompts": len(data.examples), "data/skipped_rows": len(data.skipped)})
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
        args=grpo_args(config, context.workdir, base.device.type, weights),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(config),
        reward_funcs=functions,
    )
    model = trainer.model  # the PEFT model TRL wrapped around the base weights
    add_proxy(model)
    print(f"model: {model_summary(model)}", file=sys.stderr)
    if context.resume_from is not None:
        load_proxy(model, context.resume_from)
    scorer = NoverScorer(
        model,
        tokenizer,
        config,
        proxy=lambda: proxy_active(model),
        gather=gather_object,
        process_index=PartialState().process_index,
    )
    rewards.scorer = scorer
    trainer.on_rollouts = RolloutReporter(trainer, rewards, sink, scorer if config.reward == "nover" else None)
    trainer.add_callback(ProxySyncCallback(model, config.proxy_sync_steps, config.proxy_alpha))
    trainer.add_callback(SinkCallback(sink))
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the sink reports progress instead
    return trainer


def grpo_args(config: RunConfig, output_dir: Path, device: str, reward_weights: list[float]) -> GRPOConfig:
    on_cpu = device == "cpu"
    bf16 = not on_cpu and torch.cuda.is_bf16_supported()
    rollouts_per_process = config.prompts_per_step * config.num_generations // config.num_processes
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
        scale_rewards=config.scale_rewards,
        num_iterations=config.num_iterations,
        max_grad_norm=config.max_grad_norm,
        reward_weights=reward_weights,
        gradient_checkpointing=config.gradient_checkpointing,
        disable_dropout=False,  # keep the configured LoRA dropout; the scorer switches to eval mode itself
        logging_steps=1,
        save_strategy="steps" if config.checkpoint_steps else "no",
        save_steps=config.checkpoint_steps or config.max_steps,
        report_to="none",
        disable_tqdm=True,
        use_cpu=on_cpu,
        bf16=bf16,
        fp16=False,
        dataloader_num_workers=0,
    )


def eos_ids(tokenizer) -> set[int]:  # type: ignore[no-untyped-def]  # a transformers tokenizer
    ids = tokenizer.eos_token_id
    return set(ids) if isinstance(ids, list) else {ids}
