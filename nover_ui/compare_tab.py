"""The Compare tab: follow one prompt across steps, or across two runs on the same data.

Left and right each pick (run, step, rollout) for the same prompt; the prompt is found in the right-hand run by
its content key, so two runs over one dataset line up.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from nover_ui.compare_view import history_figure, render_comparison
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


def build_compare(store: Store, tab: gr.Tab) -> None:
    with gr.Row():
        run_dd = gr.Dropdown(label="Run", scale=1, elem_id="compare-run")
        prompt_dd = gr.Dropdown(label="Prompt", scale=3, elem_id="compare-prompt")
    history_plot = gr.Plot(label="This prompt over steps", elem_id="compare-history")
    sides = []
    with gr.Row():
        for side in ("left", "right"):
            with gr.Column():
                other_run_dd = gr.Dropdown(label=f"{side.title()}: run (same prompt)", elem_id=f"compare-{side}-run")
                step_dd = gr.Dropdown(label=f"{side.title()}: step", elem_id=f"compare-{side}-step")
                sample_dd = gr.Dropdown(label=f"{side.title()}: rollout", elem_id=f"compare-{side}-sample")
                sides.append((other_run_dd, step_dd, sample_dd))
    compare_html = gr.HTML(PICK_FIRST, elem_id="compare")

    def refresh_runs(selected: int | None) -> tuple[Any, ...]:
        choices = run_choices(store)
        if selected is None and choices:
            selected = choices[0][1]
        return gr.update(choices=choices, value=selected), gr.update(choices=choices), gr.update(choices=choices)

    def pick_run(run_id: int | None) -> tuple[Any, ...]:
        choices = prompt_choices(store, run_id)
        return (
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            gr.update(value=run_id),
            gr.update(value=run_id),
        )

    def pick_prompt(key: str | None, left_run: int | None, right_run: int | None) -> Any:
        histories = []
        for label, side_run in (("left", left_run), ("right", right_run)):
            prompt_id = store.find_prompt(side_run, key) if side_run is not None and key else None
            if prompt_id is not None and (label == "left" or side_run != left_run):
                histories.append((f"#{side_run}", store.prompt_history(prompt_id)))
        return history_figure(histories) if histories else None

    def pick_side_run(side_run: int | None, key: str | None, first: bool) -> Any:
        steps = sorted(side_rollouts(store, side_run, key))
        if not steps:
            return gr.update(choices=[], value=None)
        return gr.update(choices=steps, value=steps[0] if first else steps[-1])

    def pick_step(side_run: int | None, key: str | None, step: int | None) -> Any:
        rollouts = side_rollouts(store, side_run, key).get(step, [])
        best = max(rollouts, key=lambda r: r.reward, default=None)
        choices = [
            (f"#{r.sample_index} reward {r.reward:.3f}{'' if r.format_valid else ' (invalid)'}", r.sample_index)
            for r in rollouts
        ]
        return gr.update(choices=choices, value=best.sample_index if best else None)

    def compare(key: str | None, *picks: Any) -> str:
        chosen = []
        for side_run, step, sample in (picks[0:3], picks[3:6]):
            rollouts = side_rollouts(store, side_run, key).get(step, [])
            match = next((r for r in rollouts if r.sample_index == sample), None)
            if match is None:
                return PICK_FIRST if not key else "<p>Pick a step and a rollout on both sides.</p>"
            chosen.append((match, f"run {side_run} · step {step} · #{sample}"))
        (a, label_a), (b, label_b) = chosen
        return render_comparison(a, b, label_a, label_b)

    (left_run, left_step, left_sample), (right_run, right_step, right_sample) = sides
    picks = [left_run, left_step, left_sample, right_run, right_step, right_sample]
    gr.on([tab.select], refresh_runs, run_dd, [run_dd, left_run, right_run], show_progress="hidden")
    run_dd.change(pick_run, run_dd, [prompt_dd, left_run, right_run])
    gr.on(
        [prompt_dd.change, left_run.change, right_run.change],
        pick_prompt,
        [prompt_dd, left_run, right_run],
        history_plot,
    )
    for side_run, step_dd, sample_dd, first in (
        (left_run, left_step, left_sample, True),
        (right_run, right_step, right_sample, False),
    ):
        gr.on(
            [prompt_dd.change, side_run.change],
            lambda r, k, first=first: pick_side_run(r, k, first),
            [side_run, prompt_dd],
            step_dd,
        )
        # A new run may have the same step numbers: the step's value would not change, so listen to the run too.
        gr.on([step_dd.change, side_run.change], pick_step, [side_run, prompt_dd, step_dd], sample_dd)
    gr.on([pick.change for pick in picks], compare, [prompt_dd, *picks], compare_html, show_progress="hidden")
