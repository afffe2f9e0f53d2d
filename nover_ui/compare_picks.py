"""What the Compare tab shows: one prompt of a run, and on each side a (run, step, rollout) of that same data point.

Every pick is resolved here in one pass from what the page holds: a pick that is empty, no longer exists, or lies
below the one a person just changed gets its default, so the page never needs a chain of change events (each of
which could re-fire the next, issue 13 point 1). Defaults open on something to compare: the left side on the
prompt's first step and the right on its last (prompts sampled at most steps are offered first), and never the
same rollout on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from nover_ui.prompt_text import question_line
from storage import PromptRecord, RolloutRecord, Store

Changed = Literal["open", "run", "prompt", "left_run", "left_step", "right_run", "right_step", "sample"]
"""The pick a person changed; every pick below it is chosen afresh. "open" (the tab opened) and "sample" (a
rollout picked: nothing lies below it) keep every pick that still exists."""
BELOW: dict[str, tuple[str, int]] = {
    "left_run": ("left", 1),
    "left_step": ("left", 2),
    "right_run": ("right", 1),
    "right_step": ("right", 2),
}
"""For a side's pick: the side and how many of its picks (run, step, rollout) are kept: 1 or 2."""


@dataclass(frozen=True)
class SidePick:
    run: int | None = None
    step: int | None = None
    sample: int | None = None
    rollouts: tuple[RolloutRecord, ...] = ()
    """The prompt's rollouts at `step` in `run`, for the rollout list."""
    steps: tuple[int, ...] = ()
    """The steps at which `run` sampled the prompt."""
    prompt_id: int | None = None
    """The prompt's id in `run` (Store.find_prompt), None when `run` never sampled it."""

    @property
    def rollout(self) -> RolloutRecord | None:
        return next((r for r in self.rollouts if r.sample_index == self.sample), None)


@dataclass(frozen=True)
class Picks:
    runs: tuple[tuple[str, int], ...]
    run: int | None
    prompts: tuple[PromptRecord, ...]
    prompt: int | None
    """The chosen prompt's id in `run`; each side finds the same data point in its own run."""
    left: SidePick
    right: SidePick


def steps_text(steps: tuple[int, ...]) -> str:
    """Where a prompt was sampled, for its label.

    >>> steps_text((4,)), steps_text((1, 3, 5)), steps_text(tuple(range(1, 41, 4)))
    ('step 4 only', 'steps 1, 3, 5', '10 steps: 1, 5, 9 … 37')
    """
    if len(steps) == 1:
        return f"step {steps[0]} only"
    if len(steps) <= 6:
        return "steps " + ", ".join(map(str, steps))
    return f"{len(steps)} steps: {', '.join(map(str, steps[:3]))} … {steps[-1]}"


def prompt_label(prompt: PromptRecord) -> str:
    return f"{question_line(prompt.prompt)} ({steps_text(prompt.steps)})"


def resolve(
    store: Store,
    changed: Changed,
    run: int | None,
    prompt: int | None,
    left: tuple[int | None, int | None, int | None],
    right: tuple[int | None, int | None, int | None],
) -> Picks:
    """Every pick made consistent: the runs re-read, each pick kept while it still exists and is not below
    `changed`, the others chosen by default."""
    runs = tuple((f"#{r.id} {r.name} ({r.status})", r.id) for r in store.list_runs())
    known = {run_id for _, run_id in runs}
    if run not in known:
        run = runs[0][1] if runs else None
        changed = "run"
    if changed == "run":  # both sides follow the run
        prompt, left, right = None, (run, None, None), (run, None, None)
    prompts = tuple(store.list_prompts(run)) if run is not None else ()
    if prompt not in {p.id for p in prompts}:
        prompt = prompts[0].id if prompts else None
        changed = "prompt"
    if changed == "prompt":
        left, right = (left[0], None, None), (right[0], None, None)
    if changed in BELOW:
        side, kept = BELOW[changed]
        run_step = left if side == "left" else right
        fresh = (run_step[0], run_step[1] if kept == 2 else None, None)
        left, right = (fresh, right) if side == "left" else (left, fresh)
    left_pick = _side(store, run, prompt, known, left, first_step=True)
    right_pick = _side(store, run, prompt, known, right, first_step=False)
    # Never open both sides on one rollout: the side chosen afresh moves to another rollout of the step.
    if left_pick.rollout is not None and (left_pick.run, left_pick.step, left_pick.sample) == (
        right_pick.run,
        right_pick.step,
        right_pick.sample,
    ):
        if right[2] is None:
            right_pick = replace(right_pick, sample=_best(right_pick.rollouts, avoid=left_pick.sample))
        elif left[2] is None:
            left_pick = replace(left_pick, sample=_best(left_pick.rollouts, avoid=right_pick.sample))
    return Picks(runs, run, prompts, prompt, left_pick, right_pick)


def _side(
    store: Store,
    run: int | None,
    prompt: int | None,
    known: set[int],
    pick: tuple[int | None, int | None, int | None],
    first_step: bool,
) -> SidePick:
    side_run, step, sample = pick
    if side_run not in known:
        side_run, step, sample = run, None, None
    if side_run is None or prompt is None:
        return SidePick(side_run)
    prompt_id = store.find_prompt(side_run, prompt)
    if prompt_id is None:
        return SidePick(side_run)
    by_step: dict[int, list[RolloutRecord]] = {}
    for rollout in store.get_rollouts(side_run, prompt_id=prompt_id):
        by_step.setdefault(rollout.step, []).append(rollout)
    steps = tuple(sorted(by_step))
    if step not in by_step:
        step, sample = (steps[0] if first_step else steps[-1]), None
    rollouts = tuple(by_step[step])
    if sample not in {r.sample_index for r in rollouts}:
        sample = _best(rollouts)
    return SidePick(side_run, step, sample, rollouts, steps, prompt_id)


def _best(rollouts: tuple[RolloutRecord, ...], avoid: int | None = None) -> int | None:
    """The best rewarded rollout's sample index, other than `avoid` when there is another."""
    ranked = sorted(rollouts, key=lambda r: (-r.reward, r.sample_index))
    others = [r for r in ranked if r.sample_index != avoid] or ranked
    return others[0].sample_index if others else None
