"""The Compare tab: follow one prompt across steps, or across two runs on the same data.

Left and right each pick (run, step, rollout) for the same prompt; the prompt is found in the right-hand run by
its content key, so two runs over one dataset line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.compare_view import history_figure, render_comparison
from nover_ui.events import bind
from nover_ui.prompt_text import question_line
from nover_ui.run_picker import run_choices
from storage import RolloutRecord, Store

PICK_FIRST = "<p>Pick a run and one of its prompts.</p>"


def prompt_choices(store: Store, run_id: int | None) -> list[tuple[str, str]]:
    """(label, content key) of a run's prompts, most sampled first; the key finds the prompt in other runs."""
    if run_id is None:
        return []
    return [(f"{question_line(p.prompt)} ({p.rollouts} rollouts)", p.key) for p in store.list_prompts(run_id)]


def side_rollouts(store: Store, run_id: int | None, key: str | None) -> dict[int, list[RolloutRecord]]:
    """The prompt's rollouts in a run, by step; empty when the run has no such prompt."""
    if run_id is None or not key:
        return {}
    prompt_id = store.find_prompt(run_id, key)
    if prompt_id is None:
        return {}
    by_step: dict[int, list[RolloutRecord]] = {}
    for rollout in store.get_rollouts(run_id, prompt_id=prompt_id):
        by_step.setdefault(rollout.step, []).append(rollout)
    return by_step


@dataclass(frozen=True)
class Side:
    """One side's pickers: a run that has the prompt, one of its steps, one rollout of that step."""

    run_dd: gr.Dropdown
    step_dd: gr.Dropdown
    sample_dd: gr.Dropdown
    opens_first_step: bool
    """Left opens on the prompt's first step and right on its last, so the two differ from the start."""


@dataclass(frozen=True)
class CompareTab:
    run_dd: gr.Dropdown
    prompt_dd: gr.Dropdown
    history_plot: gr.Plot
    left: Side
    right: Side
    compare_html: gr.HTML


def refresh_runs(store: Store, tab: CompareTab, selected: int | None) -> dict[Any, Any]:
    """Every run in the three run lists; the first visit picks the newest run, later ones keep the choices."""
    choices = run_choices(store)
    if selected is None and choices:
        selected = choices[0][1]
    return {
        tab.run_dd: gr.update(choices=choices, value=selected),
        tab.left.run_dd: gr.update(choices=choices),
        tab.right.run_dd: gr.update(choices=choices),
    }


def pick_run(store: Store, tab: CompareTab, run_id: int | None) -> dict[Any, Any]:
    """The run's prompts (its most sampled one chosen), and that run on both sides."""
    choices = prompt_choices(store, run_id)
    return {
        tab.prompt_dd: gr.update(choices=choices, value=choices[0][1] if choices else None),
        tab.left.run_dd: gr.update(value=run_id),
        tab.right.run_dd: gr.update(value=run_id),
    }


def pick_prompt(
    store: Store, tab: CompareTab, key: str | None, left_run: int | None, right_run: int | None
) -> dict[Any, Any]:
    """The prompt's history over steps in the left run, and in the right one when it is another run."""
    histories = []
    for label, side_run in (("left", left_run), ("right", right_run)):
        prompt_id = store.find_prompt(side_run, key) if side_run is not None and key else None
        if prompt_id is not None and (label == "left" or side_run != left_run):
            histories.append((f"#{side_run}", store.prompt_history(prompt_id)))
    return {tab.history_plot: history_figure(histories) if histories else None}


def pick_side_run(store: Store, side: Side, side_run: int | None, key: str | None) -> dict[Any, Any]:
    """The steps at which the side's run sampled the prompt."""
    steps = sorted(side_rollouts(store, side_run, key))
    if not steps:
        return {side.step_dd: gr.update(choices=[], value=None)}
    return {side.step_dd: gr.update(choices=steps, value=steps[0] if side.opens_first_step else steps[-1])}


def pick_step(store: Store, side: Side, side_run: int | None, key: str | None, step: int | None) -> dict[Any, Any]:
    """The step's rollouts of the prompt, the best rewarded one chosen."""
    rollouts = side_rollouts(store, side_run, key).get(step, []) if step is not None else []
    best = max(rollouts, key=lambda r: r.reward, default=None)
    choices = [
        (f"#{r.sample_index} reward {r.reward:.3f}{'' if r.format_valid else ' (invalid)'}", r.sample_index)
        for r in rollouts
    ]
    return {side.sample_dd: gr.update(choices=choices, value=best.sample_index if best else None)}


def compare(
    store: Store,
    tab: CompareTab,
    key: str | None,
    left_run: int | None,
    left_step: int | None,
    left_sample: int | None,
    right_run: int | None,
    right_step: int | None,
    right_sample: int | None,
) -> dict[Any, Any]:
    chosen = []
    for side_run, step, sample in ((left_run, left_step, left_sample), (right_run, right_step, right_sample)):
        rollouts = side_rollouts(store, side_run, key).get(step, []) if step is not None else []
        match = next((r for r in rollouts if r.sample_index == sample), None)
        if match is None:
            return {tab.compare_html: PICK_FIRST if not key else "<p>Pick a step and a rollout on both sides.</p>"}
        chosen.append((match, f"run {side_run} · step {step} · #{sample}"))
    (a, label_a), (b, label_b) = chosen
    return {tab.compare_html: render_comparison(a, b, label_a, label_b)}


def build_compare(store: Store, tab: gr.Tab) -> CompareTab:
    with gr.Row():
        run_dd = gr.Dropdown(label="Run", scale=1, elem_id="compare-run")
        prompt_dd = gr.Dropdown(label="Prompt", scale=3, elem_id="compare-prompt")
    history_plot = gr.Plot(label="This prompt over steps", elem_id="compare-history")
    sides = []
    with gr.Row():
        for name in ("left", "right"):
            with gr.Column():
                sides.append(
                    Side(
                        gr.Dropdown(label=f"{name.title()}: run (same prompt)", elem_id=f"compare-{name}-run"),
                        gr.Dropdown(label=f"{name.title()}: step", elem_id=f"compare-{name}-step"),
                        gr.Dropdown(label=f"{name.title()}: rollout", elem_id=f"compare-{name}-sample"),
                        opens_first_step=name == "left",
                    )
                )
    compare_html = gr.HTML(PICK_FIRST, elem_id="compare")
    left, right = sides
    compare_tab = CompareTab(run_dd, prompt_dd, history_plot, left, right, compare_html)

    both_runs = {left.run_dd, right.run_dd}
    gr.on([tab.select], bind(refresh_runs, store, compare_tab), run_dd, {run_dd, *both_runs}, show_progress="hidden")
    run_dd.change(bind(pick_run, store, compare_tab), run_dd, {prompt_dd, *both_runs})
    gr.on(
        [prompt_dd.change, left.run_dd.change, right.run_dd.change],
        bind(pick_prompt, store, compare_tab),
        [prompt_dd, left.run_dd, right.run_dd],
        {history_plot},
    )
    for side in sides:
        gr.on(
            [prompt_dd.change, side.run_dd.change],
            bind(pick_side_run, store, side),
            [side.run_dd, prompt_dd],
            {side.step_dd},
        )
        # A new run may have the same step numbers: the step's value would not change, so listen to the run too.
        gr.on(
            [side.step_dd.change, side.run_dd.change],
            bind(pick_step, store, side),
            [side.run_dd, prompt_dd, side.step_dd],
            {side.sample_dd},
        )
    picks = [left.run_dd, left.step_dd, left.sample_dd, right.run_dd, right.step_dd, right.sample_dd]
    gr.on(
        [pick.change for pick in picks],
        bind(compare, store, compare_tab),
        [prompt_dd, *picks],
        {compare_html},
        show_progress="hidden",
    )
    return compare_tab
