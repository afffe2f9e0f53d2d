"""Does the cpu-demo recipe learn? Held-out format-valid rate and reference perplexity, before and after.

    .venv/bin/python -m bench.bench_learning [--dataset builtin:demo] [--set key=value ...] [--samples 2]

Evaluates the base model on the test split, trains the preset (timing it), evaluates the trained adapter on the
same prompts with the same sampling seed, and prints both side by side with the reward curve's start and end.
Reference perplexities are judged by the base model for both, so they measure the reasoning, not the drift of
the trained model's own calibration. The checkpoints stay in --out for further evaluation.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from peft import PeftModel

from training.commands import build_config
from training.data import load_examples
from training.evaluate import evaluate, paired_perplexity
from training.interface import MemorySink, RunContext
from training.model import load_model
from training.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-demo")
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    parser.add_argument("--samples", type=int, default=2, help="samples per held-out prompt")
    parser.add_argument("--eval-prompts", type=int, default=None, help="at most this many held-out prompts")
    parser.add_argument("--eval-split", default="test")
    parser.add_argument("--home", type=Path, default=Path("test-artifacts/model-home"))
    parser.add_argument("--checkpoint", type=Path, help="evaluate this trained checkpoint instead of training")
    parser.add_argument(
        "--out", type=Path, default=Path("test-artifacts/bench-learning"), help="where the run's checkpoints are kept"
    )
    args = parser.parse_args()
    config = build_config(args.preset, None, args.assignments)
    home = args.home.resolve()
    held_out = load_examples(
        config.dataset,
        config.prompt_column,
        config.reference_column,
        config.split_column,
        args.eval_split,
        args.eval_prompts,
        config_name=config.dataset_config,
    ).examples
    print(
        f"preset {args.preset} {args.assignments}: {config.max_steps} steps on {config.dataset}; "
        f"held out: {len(held_out)} prompts x {args.samples} samples ({args.eval_split} split)"
    )

    base, tokenizer = load_model(config, home)
    before_result = evaluate(base, tokenizer, config, held_out, args.samples, seed=config.seed)

    sink = MemorySink()
    checkpoint = args.checkpoint
    if checkpoint is None:
        workdir = args.out.resolve() / time.strftime("%Y%m%d-%H%M%S")
        started = time.perf_counter()
        train(config, sink, RunContext(run_id=0, home=home, workdir=workdir))
        print(f"training: {(time.perf_counter() - started) / 60:.1f} min; checkpoints in {workdir}")
        checkpoint = workdir / f"checkpoint-{config.max_steps}"
    trained_base, _ = load_model(config, home)
    trained = PeftModel.from_pretrained(trained_base, checkpoint)
    after_result = evaluate(trained, tokenizer, config, held_out, args.samples, seed=config.seed, judge=base)
    before, after = before_result.metrics(), after_result.metrics()
    paired_before, paired_after, paired_n = paired_perplexity(before_result, after_result)

    steps = sorted(step for step in sink.metrics if step > 0)  # step 0 holds the data summary
    if steps:

        def mean_of(key: str, chosen: list[int]) -> float:
            # A step with no format-valid rollout logs no perplexity: NaN shows it rather than hiding it.
            return statistics.mean(sink.metrics[s].get(key, math.nan) for s in chosen)

        print(f"median step {statistics.median(sink.metrics[s]['step_time'] for s in steps):.1f} s")
        for key in ("reward", "rewards/format/mean", "rewards/reasoning/mean", "nover/perplexity/mean"):
            print(
                f"  {key:<24} first 5 steps {mean_of(key, steps[:5]):.3f}  last 5 steps {mean_of(key, steps[-5:]):.3f}"
            )
    print(f"{'held-out metric':<28}{'base':>10}{'trained':>10}{'trained/base':>14}")
    for key in before:
        ratio = after[key] / before[key] if before[key] else float("nan")
        print(f"{key:<28}{before[key]:>10.3f}{after[key]:>10.3f}{ratio:>14.3f}")
    print(
        f"{'paired reference perplexity':<28}{paired_before:>10.3f}{paired_after:>10.3f}"
        f"{paired_after / paired_before:>14.3f}   (over the {paired_n} prompts both answered in format)"
    )


if __name__ == "__main__":
    main()
