"""NOVER scoring time / whole GRPO step time on the cpu-demo preset (target: at most 0.15).

    .venv/bin/python -m bench.bench_scoring [--steps 5]

Times, inside the same steps, every call of the scorer (proxy perplexities of all rollouts plus the
no-reasoning baseline) and the whole optimizer step (generation, scoring, loss, backward, update).
The first step is reported but left out of the median (warm-up).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from training.config import preset
from training.interface import MemorySink, RunContext
from training.scorer import NoverScorer
from training.trainer import build_trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--home", type=Path, default=Path("test-artifacts/model-home"))
    args = parser.parse_args()
    config = preset("cpu-demo", max_steps=args.steps, checkpoint_steps=0)
    sink = MemorySink()
    scoring_s: dict[int, float] = defaultdict(float)

    with tempfile.TemporaryDirectory() as workdir:
        trainer = build_trainer(config, sink, RunContext(run_id=0, home=args.home.resolve(), workdir=Path(workdir)))
        for name in ("score", "baseline_nll"):
            original = getattr(NoverScorer, name)

            def timed(self, *a, _original=original, **kw):  # type: ignore[no-untyped-def]  # wraps scorer methods of different signatures
                started = time.perf_counter()
                try:
                    return _original(self, *a, **kw)
                finally:
                    scoring_s[trainer.state.global_step + 1] += time.perf_counter() - started

            setattr(NoverScorer, name, timed)
        trainer.train()

    print(f"cpu-demo: {config.num_generations} rollouts/step, max {config.max_completion_length} tokens")
    ratios = []
    for step in sorted(s for s in sink.metrics if s > 0):  # step 0 holds the data summary
        step_s = sink.metrics[step]["step_time"]
        ratio = scoring_s[step] / step_s
        if step > 1:
            ratios.append(ratio)
        print(f"step {step}: scoring {scoring_s[step]:.2f} s of {step_s:.2f} s -> {ratio:.3f}")
    print(f"median scoring/step ratio (steps 2..{args.steps}): {statistics.median(ratios):.3f}  (target <= 0.15)")


if __name__ == "__main__":
    main()
