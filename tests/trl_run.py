"""A plain TRL GRPO run, written the way a person outside nover_ui trains: the folder the TRL import reads.

`python -m tests.trl_run OUT` trains 2 steps of GRPOTrainer with LoRA on CPU on two conversational
prompts, with two reward functions of different names and `log_completions=True`, and writes OUT the way TRL does
(completions/completions_0000N.parquet at each logging step, checkpoint-2/ with trainer_state.json and the adapter).
No nover_ui code trains here (it only finds the converted default model): the folder is what plain TRL writes.
tests/conftest.py's `trl_output` runs it once and keeps the folder under test-artifacts, in a process of its own,
so the test process never loads the training stack.
"""

import sys
from pathlib import Path

SETTINGS = {
    "max_steps": 2,
    "logging_steps": 1,
    "save_steps": 2,
    "num_generations": 2,
    "per_device_train_batch_size": 2,
    "max_completion_length": 16,
    "learning_rate": 1e-4,
    "seed": 7,
}
"""The GRPOConfig values the run sets besides the fixed ones below; its fixture's cache key is a hash of this module."""
MODEL_HOME = Path(__file__).resolve().parent.parent / "test-artifacts" / "model-home"
PROMPTS = [
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2 + 3?"}],
    [{"role": "user", "content": "Name a colour of the sky."}],
]


def brevity(completions, **kwargs):
    """1 for a completion of at most 40 characters, else 40 / its length."""
    return [min(1.0, 40 / max(1, len(completion[-1]["content"]))) for completion in completions]


def mentions_number(completions, **kwargs):
    """1 when the completion holds a digit, else 0."""
    return [float(any(char.isdigit() for char in completion[-1]["content"])) for completion in completions]


def train(out: Path) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(out),
        log_completions=True,
        report_to="none",
        use_cpu=True,
        bf16=False,
        save_only_model=True,  # the adapter and trainer_state.json, no optimizer state: a smaller folder to keep
        **SETTINGS,
    )
    from training.config import DEFAULT_MODEL
    from training.model import resolve_model

    trainer = GRPOTrainer(
        model=resolve_model(DEFAULT_MODEL, MODEL_HOME),  # converted once, shared with tests/training
        reward_funcs=[brevity, mentions_number],
        args=args,
        train_dataset=Dataset.from_list([{"prompt": prompt} for prompt in PROMPTS]),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    trainer.train()
    # Beside the folder, not in it (plain TRL writes no JSON of its arguments): what a person may keep with a run,
    # TrainingArguments.to_json_string(), which tests copy in to read the run's settings from it.
    (out.parent / "training_args.json").write_text(args.to_json_string())


if __name__ == "__main__":
    train(Path(sys.argv[1]))
