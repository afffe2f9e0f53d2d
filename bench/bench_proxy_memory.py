"""Memory of the NOVER proxy as a second LoRA adapter vs. as a deep copy of the model, in bytes tensors hold.

    .venv/bin/python -m bench.bench_proxy_memory [--repeats 5] [--device cpu|cuda] [--models default,0.5B]

Each repeat wraps the base model with LoRA, makes the proxy (the adapter, or a deep copy of the PEFT model as the
public NOVER code did), scores 8 format-valid rollouts through it (NoverScorer.score, the training path's scoring
pass: about 200 reasoning tokens each), then runs one training forward/backward through the policy (8 x 128
tokens). Figures:
  weights+proxy  bytes of the distinct storages behind the parameters and buffers of the policy model and proxy
  +scoring       weights+proxy plus the peak bytes of the tensors alive during the scoring pass
  full step      weights+proxy plus the peak during the training forward/backward (activations, LoRA gradients)
Counted by bench/tensor_bytes.py, not as resident memory: RSS depends on the allocator and on paging and gave
0.52 then 0.80 for one case (issue 14). On cuda the allocator's peak (torch.cuda.max_memory_allocated) of each
figure is printed too. The spread over repeats (min/median/max) should be 0.
Models: the default SmolLM2-135M and a 0.5B model with random weights (bench/model_shapes.py).
Target: the adapter proxy costs at most 0.6x the deep copy with the scoring pass included.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from peft import get_peft_model

from bench.model_shapes import default_tokenizer, random_model
from bench.tensor_bytes import LiveTensorBytes, storage_bytes
from training.config import preset
from training.model import load_model, lora_config
from training.prompts import build_prompt
from training.proxy import add_proxy, proxy_active
from training.scorer import NoverScorer

FIGURES = ("weights+proxy", "+scoring", "full step")
TARGET = 0.6
CONFIG = preset("cpu-demo", lora_dropout=0.1)


def rollouts(tokenizer: Any, count: int = 8) -> tuple[list[str], list[str], list[str], list[str]]:
    """Prompts, format-valid completions, example ids and references of one group, the same in every repeat."""
    prompt = build_prompt("Why does ice float on water?", CONFIG, tokenizer)
    reasoning = " ".join(["Ice is less dense than liquid water because its molecules form an open lattice."] * 12)
    completions = [f"{reasoning} ({i})\n</think>\n<answer>\nIt is less dense.\n</answer>" for i in range(count)]
    return [prompt] * count, completions, ["q"] * count, ["Ice is less dense than water."] * count


def measure(base: Any, tokenizer: Any, variant: str, device: str) -> dict[str, tuple[int, int | None]]:
    """Each figure as (tensor bytes, allocator bytes or None off cuda)."""
    model = get_peft_model(base, lora_config(CONFIG))
    if variant == "adapter":
        add_proxy(model)
        proxies: list[torch.nn.Module] = [model]
        scorer = NoverScorer(model, tokenizer, CONFIG, proxy=lambda: proxy_active(model))
    else:
        proxy = copy.deepcopy(model)
        proxy.requires_grad_(False)
        proxies = [model, proxy]
        scorer = NoverScorer(proxy, tokenizer, CONFIG)
    weights = storage_bytes(proxies)
    allocated = allocator(device)
    with LiveTensorBytes() as tracker:
        scorer.score(*rollouts(tokenizer))
        scoring = (weights + tracker.peak, allocator(device, peak=True))
        tracker.reset_peak()
        ids = torch.randint(0, 1000, (8, 128), device=device)
        model(input_ids=ids, logits_to_keep=32).logits.float().logsumexp(-1).mean().backward()
        step = (weights + tracker.peak, allocator(device, peak=True))
    del proxies, scorer
    model.unload()  # takes the LoRA layers out again, leaving the base for the next repeat
    return {"weights+proxy": (weights, allocated), "+scoring": scoring, "full step": step}


def allocator(device: str, peak: bool = False) -> int | None:
    if device != "cuda":
        return None
    value = torch.cuda.max_memory_allocated() if peak else torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    return value


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}/{statistics.median(values):.3f}/{max(values):.3f}"


def load_base(name: str, device: str, home: Path) -> tuple[Any, Any]:
    if name == "default":
        return load_model(CONFIG.replace(device=device), home)
    tokenizer = default_tokenizer(home)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    return random_model(name, len(tokenizer), device, dtype), tokenizer


def report(name: str, runs: dict[str, list[dict[str, tuple[int, int | None]]]], say: Callable[[str], None]) -> bool:
    """Print each figure's bytes and ratio spread; True when the scoring-pass target holds in every repeat."""
    holds = True
    for what in FIGURES:
        for index, source in ((0, "tensor bytes"), (1, "allocator")):
            pairs = [(a[what][index], c[what][index]) for a, c in zip(runs["adapter"], runs["deepcopy"])]
            if pairs[0][0] is None:
                continue
            ratios = [a / c for a, c in pairs if a is not None and c]
            adapter_mb = statistics.median(a / 2**20 for a, _ in pairs if a is not None)
            copy_mb = statistics.median(c / 2**20 for _, c in pairs if c is not None)
            say(
                f"{name:>8} {what:>13} ({source:>12}): adapter {adapter_mb:8.1f} MB  deep copy {copy_mb:8.1f} MB  "
                f"ratio min/median/max {spread(ratios)}"
            )
            if what == "+scoring" and index == 0:
                holds = holds and max(ratios) <= TARGET
    return holds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--models", default="default,0.5B", help="comma-separated: default, tiny, 0.5B, 1.5B")
    parser.add_argument("--home", type=Path, default=Path("test-artifacts/model-home"))
    args = parser.parse_args()
    torch.manual_seed(0)
    verdicts = []
    for name in args.models.split(","):
        base, tokenizer = load_base(name, args.device, args.home.resolve())
        runs: dict[str, list[dict[str, tuple[int, int | None]]]] = {"adapter": [], "deepcopy": []}
        for _ in range(args.repeats):
            for variant in runs:
                runs[variant].append(measure(base, tokenizer, variant, args.device))
                gc.collect()
        holds = report(name, runs, lambda line: print(line, flush=True))
        verdicts.append(holds)
        print(f"{name:>8} target adapter/deep copy <= {TARGET} with the scoring pass: {'holds' if holds else 'MISSED'}")
        del base
        gc.collect()
    raise SystemExit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    main()
