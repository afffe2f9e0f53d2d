"""A checkpoint as a full model: its policy adapter merged into a full-precision copy of the base, with the tokenizer,
its chat template and a model card, loadable by `AutoModelForCausalLM.from_pretrained` with no PEFT.

The worker runs it as a merge job (training/job_config.py MergeJob; `merge_job` below), writing under its HOME/exports;
the dashboard offers the folder as a zip and pushes it to the Hub (nover_ui/merge_actions.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from peft import PeftModel
from transformers import AutoTokenizer

from training.config import RunConfig
from training.interface import JobFailed
from training.job_config import MergeJob
from training.jobs import JobError, checkpoint_path, describe
from training.model import load_full_precision
from training.model_card import ModelCard, card_text

EXPORTS = "exports"
"""HOME/exports holds the merged models, one folder per checkpoint (merged_folder)."""


def merged_folder(home: Path, run_id: int, step: int) -> Path:
    """Where the merged model of run `run_id`'s checkpoint at `step` goes under `home` (a name this code chooses)."""
    return Path(home) / EXPORTS / f"run-{run_id}-step-{step}-merged"


def merge_checkpoint(config: RunConfig, checkpoint_dir: Path, out_dir: Path, home: Path, card: ModelCard) -> Path:
    """Merge the policy adapter saved in `checkpoint_dir` into `config`'s base model and save the result, its
    tokenizer (with the chat template) and `card` as README.md in `out_dir`, replacing any folder there; returns it.

    The base is loaded in full precision, also for a 4-bit run (load_full_precision says why). The folder is written
    beside `out_dir` under a temporary name and renamed into place, so a reader finds no folder or a complete one,
    never half a model; a failure leaves nothing behind."""
    checkpoint_dir, out_dir = Path(checkpoint_dir), Path(out_dir)
    if not (checkpoint_dir / "adapter_config.json").is_file():
        raise JobError(f"{checkpoint_dir} holds no LoRA adapter (adapter_config.json); pick a checkpoint folder")
    base, source = load_full_precision(config, home)
    # The policy adapter is the checkpoint's top level; the proxy adapter in its ref/ subfolder is not loaded.
    merged = PeftModel.from_pretrained(base, str(checkpoint_dir)).merge_and_unload()
    # The checkpoint keeps the tokenizer the run trained with, chat template included; older ones may not.
    has_tokenizer = (checkpoint_dir / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint_dir) if has_tokenizer else source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        merged.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(card_text(card, config), encoding="utf-8")
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename `staging` to `out_dir`; an older folder there is first renamed aside, then removed."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, old / out_dir.name)
    os.rename(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def merge_job(
    job: MergeJob, evaluation: Any, checkpoints: Mapping[int, Path], home: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A claimed merge job (training/execute.py run_job calls it as a JobFn): no sample rows; metrics hold the merged
    folder's `path`, its `bytes` and the `seconds` the merge took. Any failure raises JobFailed with one paragraph."""
    try:
        started = time.perf_counter()
        checkpoint = checkpoint_path(evaluation.run_id, evaluation.checkpoint_step, checkpoints)
        out = merge_checkpoint(
            job.run_config,
            checkpoint,
            merged_folder(home, evaluation.run_id, evaluation.checkpoint_step),
            home,
            job.card,
        )
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        return [], {"path": str(out), "bytes": size, "seconds": round(time.perf_counter() - started, 2)}
    except Exception as exc:
        raise JobFailed(describe(exc)) from exc
