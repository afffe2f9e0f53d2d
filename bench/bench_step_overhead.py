"""A NOVER step next to a plain TRL GRPO step and a plain `generate`, with where a NOVER step's time goes.

    .venv/bin/python -m bench.bench_step_overhead [--steps 6] [--set key=value ...] [--checkpoint-steps 3]

Three participants share one process and take turns, one step each (NOVER, TRL, generate, NOVER, ...), so a
load spike on a shared machine hits all three alike:
  NOVER     build_trainer on the preset (cpu-demo) with an in-memory sink: proxy scoring, baseline, reporting,
            generation through the merged policy adapter (training/grpo.py merged_policy)
  TRL       a plain GRPOTrainer with the same GRPOConfig, model, LoRA and prompts and a trivial length reward;
            it generates through the unmerged adapter, so the two generation rows compare merged and unmerged
  generate  the base model's `generate` of the same prompt x num_generations rows, forced to the full
            max_completion_length tokens with the step's sampling settings: the floor a step cannot go under
A step is timed from one on_step_begin to the next, so it includes logging and any checkpoint. The breakdown
times the trainers' own methods, wrapped here (training/ has no timing code). Medians leave out step 1 (warm-up).
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, TrainerCallback
from trl import GRPOTrainer

from training.commands import build_config
from training.interface import MemorySink, RunContext
from training.model import load_model, lora_config
from training.trainer import build_trainer, grpo_args

Times = dict[str, dict[int, float]]
"""part -> step -> seconds, for one participant."""


class Rotation:
    """Runs several threads one at a time, in a fixed order: each waits for its turn, takes one step, passes on."""

    def __init__(self, names: list[str]):
        self.order, self.current = list(names), 0
        self.changed = threading.Condition()

    def wait_turn(self, name: str) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.order[self.current] == name)

    def end_turn(self) -> None:
        with self.changed:
            self.current = (self.current + 1) % len(self.order)
            self.changed.notify_all()

    def leave(self, name: str) -> None:
        """Called in one's own turn: the next participant's turn starts."""
        with self.changed:
            self.order.remove(name)
            self.current = self.current % len(self.order) if self.order else 0
            self.changed.notify_all()


class StepTurns(TrainerCallback):
    """One optimizer step per turn; records each step's wall time, from its on_step_begin to the next one."""

    def __init__(self, name: str, rotation: Rotation, times: Times):
        self.name, self.rotation, self.times = name, rotation, times
        self.started: float | None = None
        self.optimizer_started = 0.0

    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # transformers hook
        self.rotation.wait_turn(self.name)

    def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # transformers hook
        if self.started is not None:
            self.times["step"][state.global_step] = time.perf_counter() - self.started
            self.rotation.end_turn()
            self.rotation.wait_turn(self.name)
        self.started = time.perf_counter()

    def on_pre_optimizer_step(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # transformers hook
        self.optimizer_started = time.perf_counter()

    def on_optimizer_step(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # transformers hook
        self.times["optimizer"][state.global_step + 1] += time.perf_counter() - self.optimizer_started

    def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]  # transformers hook
        assert self.started is not None
        self.times["step"][state.global_step] = time.perf_counter() - self.started
        self.rotation.leave(self.name)


def wrap(owner: Any, name: str, part: str | Callable[..., str], times: Times, step: Callable[[], int]) -> None:
    """Replace owner.name (on this instance only) by a timed call adding to times[part][step()]."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        key = part(*args, **kwargs) if callable(part) else part
        at = step()
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times[key][at] += time.perf_counter() - started

    setattr(owner, name, timed)


def instrument(trainer: GRPOTrainer, name: str, rotation: Rotation) -> Times:
    times: Times = defaultdict(lambda: defaultdict(float))
    current = lambda: trainer.state.global_step + 1  # noqa: E731  # parts inside a step, before it is counted
    finished = lambda: trainer.state.global_step  # noqa: E731  # parts after the step is counted

    def logps_part(*args: Any, **kwargs: Any) -> str:
        return "policy log-probs (loss)" if torch.is_grad_enabled() else "old/ref log-probs"

    wrap(trainer, "_generate_single_turn", "generation", times, current)
    wrap(trainer, "_get_per_token_logps_and_entropies", logps_part, times, current)
    wrap(trainer, "_calculate_rewards", "rewards", times, current)
    wrap(trainer.accelerator, "backward", "backward", times, current)
    wrap(trainer, "_save_checkpoint", "checkpoints", times, finished)
    wrap(trainer, "log", "logging", times, finished)
    if getattr(trainer, "on_rollouts", None) is not None:  # NOVER's reporter and its scorer
        reporter = trainer.on_rollouts
        wrap(trainer, "on_rollouts", "rollouts", times, current)
        scorer = reporter.scorer  # type: ignore[attr-defined]  # a RolloutReporter
        wrap(scorer, "score", "proxy scoring", times, current)
        wrap(scorer, "baseline_nll", "baseline + token strings", times, current)
        wrap(scorer, "target_tokens", "baseline + token strings", times, current)
    trainer.add_callback(StepTurns(name, rotation, times))
    return times


def length_reward(completions: list[str], **kwargs: Any) -> list[float]:
    """The plain TRL trainer's trivial reward: longer is better."""
    return [float(len(c)) for c in completions]


def plain_generation(model: Any, tokenizer: Any, trainer: GRPOTrainer, prompt: str, rows: int) -> Callable[[], None]:
    inputs = tokenizer([prompt] * rows, return_tensors="pt")
    length = trainer.args.max_completion_length

    def run() -> None:
        with torch.no_grad():
            out = model.generate(
                **inputs, generation_config=trainer.generation_config, min_new_tokens=length, max_new_tokens=length
            )
        assert out.shape == (rows, inputs["input_ids"].shape[1] + length), out.shape

    return run


def generation_turns(run: Callable[[], None], steps: int, rotation: Rotation, times: Times) -> None:
    for step in range(1, steps + 1):
        rotation.wait_turn("generate")
        started = time.perf_counter()
        run()
        times["step"][step] = time.perf_counter() - started
        rotation.end_turn()
    rotation.wait_turn("generate")
    rotation.leave("generate")


@contextmanager
def threads(targets: list[Callable[[], None]]) -> Iterator[None]:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported after the join; the other threads would wait forever otherwise
            errors.append(exc)
            raise

    running = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
    for thread in running:
        thread.start()
    yield
    for thread in running:
        thread.join()
    if errors:
        raise errors[0]


def share_one_heap() -> None:
    """One malloc arena for all threads (glibc's M_ARENA_MAX): otherwise each participant's thread keeps its own
    arena holding its step's peak of freed activations, and three such peaks (about 10 GB) hit the OOM killer."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 1)  # M_ARENA_MAX = -8 in malloc.h
    except OSError:
        pass  # not glibc: the arenas stay as they are


def median_after_first(by_step: dict[int, float], steps: int) -> float:
    return statistics.median(by_step.get(s, 0.0) for s in range(2, steps + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-demo")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--set", dest="assignments", action="append", default=[])
    parser.add_argument(
        "--checkpoint-steps", type=int, default=3, help="checkpoint every N steps so the breakdown shows one"
    )
    parser.add_argument("--home", type=Path, default=Path("test-artifacts/model-home"))
    args = parser.parse_args()
    share_one_heap()
    assignments = [f"max_steps={args.steps}", f"checkpoint_steps={args.checkpoint_steps}", *args.assignments]
    config = build_config(args.preset, None, assignments)
    home = args.home.resolve()
    rotation = Rotation(["NOVER", "TRL", "generate"])

    with tempfile.TemporaryDirectory() as workdir:
        nover = build_trainer(config, MemorySink(), RunContext(run_id=0, home=home, workdir=Path(workdir) / "nover"))
        base, tokenizer = load_model(config, home)
        trl = GRPOTrainer(
            model=base,
            args=grpo_args(config, Path(workdir) / "trl", base.device.type, [1.0]),
            train_dataset=nover.train_dataset,
            processing_class=tokenizer,
            peft_config=lora_config(config),
            reward_funcs=[length_reward],
        )
        trl.remove_callback(PrinterCallback)  # as build_trainer does: no log dict printed per step
        plain, _ = load_model(config, home)
        plain.eval()
        times = {"NOVER": instrument(nover, "NOVER", rotation), "TRL": instrument(trl, "TRL", rotation)}
        times["generate"] = defaultdict(lambda: defaultdict(float))
        generate = plain_generation(
            plain, tokenizer, nover, nover.train_dataset[0]["prompt"], config.prompts_per_step * config.num_generations
        )
        with threads(
            [
                nover.train,
                trl.train,
                lambda: generation_turns(generate, args.steps, rotation, times["generate"]),
            ]
        ):
            pass
    report(args.preset, config, args.steps, times)


def report(preset: str, config: Any, steps: int, times: dict[str, Times]) -> None:
    rows = config.prompts_per_step * config.num_generations
    print(f"{preset}: {rows} rollouts x {config.max_completion_length} tokens, {torch.get_num_threads()} torch threads")
    print(f"{'step':>4}{'NOVER s':>10}{'TRL s':>8}{'generate s':>12}{'NOVER/TRL':>11}{'NOVER/gen':>11}{'TRL/gen':>9}")
    step_s = {name: t["step"] for name, t in times.items()}
    for step in range(1, steps + 1):
        n, t, g = (step_s[name].get(step, float("nan")) for name in ("NOVER", "TRL", "generate"))
        print(f"{step:>4}{n:>10.2f}{t:>8.2f}{g:>12.2f}{n / t:>11.2f}{n / g:>11.2f}{t / g:>9.2f}")
    ratio = lambda a, b: statistics.median(step_s[a][s] / step_s[b][s] for s in range(2, steps + 1))  # noqa: E731
    print(
        f"medians of per-step ratios, steps 2..{steps}: NOVER/TRL {ratio('NOVER', 'TRL'):.2f}  "
        f"NOVER step / plain generate {ratio('NOVER', 'generate'):.2f} (target <= 2.0)  "
        f"TRL step / plain generate {ratio('TRL', 'generate'):.2f}"
    )
    generate_s = median_after_first(step_s["generate"], steps)
    parts = [
        "generation",
        "policy log-probs (loss)",
        "old/ref log-probs",
        "backward",
        "optimizer",
        "rewards",
        "proxy scoring",
        "rollouts",
        "baseline + token strings",
        "logging",
        "checkpoints",
    ]
    print(f"\nbreakdown, median s over steps 2..{steps} (x plain generate in brackets)")
    print(f"{'part':<28}{'NOVER':>16}{'TRL':>16}")
    for part in [*parts, "rest"]:
        cells = []
        for name in ("NOVER", "TRL"):
            t = times[name]
            if part == "rest":  # rewards include proxy scoring, rollouts include the baseline
                outer = [p for p in parts if p not in ("proxy scoring", "baseline + token strings")]
                by_step = {s: t["step"][s] - sum(t[p].get(s, 0.0) for p in outer) for s in t["step"]}
            else:
                by_step = t.get(part, {})
            if part == "checkpoints":  # one every few steps: the time of one
                seconds = statistics.mean(by_step.values()) if by_step else 0.0
            else:
                seconds = median_after_first(by_step, steps)
            cells.append(f"{seconds:7.2f} ({seconds / generate_s:4.2f})")
        print(f"{part:<28}{cells[0]:>16}{cells[1]:>16}")
    print(f"checkpoints: the mean of one, written every {config.checkpoint_steps} steps")


if __name__ == "__main__":
    main()
