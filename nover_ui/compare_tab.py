"""The Compare tab: follow one prompt across steps, or across two runs on the same data.

Left and right each pick (run, step, rollout) of the same data point; in another run the prompt is found by its
data row and reference (Store.find_prompt), so runs with other prompt templates or models line up.

Every event is a person's pick (`.input`, or the tab opened) and answers with every picker at once, resolved in
one pass (compare_picks.py). No handler listens to `.change`: a value written by a handler never fires another,
so an idle page sends nothing (issue 13: a change chain here re-fired itself every ~2 s and slowed every tab).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.compare_picks import Changed, Picks, SidePick, prompt_label, resolve
from nover_ui.compare_view import history_figure, render_comparison
from nover_ui.events import bind
from storage import Store

PICK_FIRST = "<p>Pick a run and one of its prompts.</p>"
PICK_BOTH = "<p>Pick a step and a rollout on both sides (the other run may not have sampled this prompt).</p>"
REDRAWS_HISTORY = frozenset({"open", "run", "prompt", "left_run", "right_run"})
"""The picks that change whose history the chart shows; a step or a rollout leaves it as it is."""


@dataclass(frozen=True)
class Side:
    """One side's pickers: a run that has the prompt, one of its steps, one rollout of that step."""

    run_dd: gr.Dropdown
    step_dd: gr.Dropdown
    sample_dd: gr.Dropdown


@dataclass(frozen=True)
class CompareTab:
    run_dd: gr.Dropdown
    prompt_dd: gr.Dropdown
    history_plot: gr.Plot
    left: Side
    right: Side
    compare_html: gr.HTML

    @property
    def picks(self) -> list[gr.Dropdown]:
        """The pickers in the order every handler reads them."""
        return [self.run_dd, self.prompt_dd, *self._side_picks(self.left), *self._side_picks(self.right)]

    @staticmethod
    def _side_picks(side: Side) -> list[gr.Dropdown]:
        return [side.run_dd, side.step_dd, side.sample_dd]


def show(
    store: Store,
    tab: CompareTab,
    run: int | None,
    prompt: int | None,
    left_run: int | None,
    left_step: int | None,
    left_sample: int | None,
    right_run: int | None,
    right_step: int | None,
    right_sample: int | None,
    *,
    changed: Changed,
) -> dict[Any, Any]:
    """Every picker, the comparison and (unless only a step or a rollout changed) the prompt's history, after a
    person changed the pick `changed` (the picks below it are chosen afresh) or opened the tab ("open")."""
    picks = resolve(
        store, changed, run, prompt, (left_run, left_step, left_sample), (right_run, right_step, right_sample)
    )
    updates = {
        tab.run_dd: gr.update(choices=list(picks.runs), value=picks.run),
        tab.prompt_dd: gr.update(choices=[(prompt_label(p), p.id) for p in picks.prompts], value=picks.prompt),
        **_side_updates(tab.left, picks.runs, picks.left),
        **_side_updates(tab.right, picks.runs, picks.right),
        tab.compare_html: _comparison(picks),
    }
    if changed in REDRAWS_HISTORY:
        updates[tab.history_plot] = _history(store, picks)
    return updates


def _side_updates(side: Side, runs: tuple[tuple[str, int], ...], pick: SidePick) -> dict[Any, Any]:
    samples = [
        (f"#{r.sample_index} reward {r.reward:.3f}{'' if r.format_valid else ' (invalid)'}", r.sample_index)
        for r in pick.rollouts
    ]
    return {
        side.run_dd: gr.update(choices=list(runs), value=pick.run),
        side.step_dd: gr.update(choices=list(pick.steps), value=pick.step),
        side.sample_dd: gr.update(choices=samples, value=pick.sample),
    }


def _comparison(picks: Picks) -> str:
    if picks.prompt is None:
        return PICK_FIRST
    a, b = picks.left.rollout, picks.right.rollout
    if a is None or b is None:
        return PICK_BOTH
    return render_comparison(a, b, _label(picks.left), _label(picks.right))


def _label(pick: SidePick) -> str:
    return f"run {pick.run} · step {pick.step} · #{pick.sample}"


def _history(store: Store, picks: Picks) -> Any:
    """The prompt's history in the left run, and in the right one when it is another run."""
    sides = [picks.left] + ([picks.right] if picks.right.run != picks.left.run else [])
    histories = [(f"#{s.run}", store.prompt_history(s.prompt_id)) for s in sides if s.prompt_id is not None]
    return history_figure(histories) if histories else None


def build_compare(store: Store, tab: gr.Tab) -> CompareTab:
    with gr.Row():
        run_dd = gr.Dropdown(label="Run", scale=1, elem_id="compare-run")
        prompt_dd = gr.Dropdown(
            label="Prompt",
            scale=3,
            elem_id="compare-prompt",
            info="Prompts sampled at several steps come first; the steps are in brackets.",
        )
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
                    )
                )
    compare_html = gr.HTML(PICK_FIRST, elem_id="compare")
    left, right = sides
    compare_tab = CompareTab(run_dd, prompt_dd, history_plot, left, right, compare_html)

    picks = compare_tab.picks
    outputs = {*picks, history_plot, compare_html}
    events: list[tuple[Any, Changed]] = [
        (tab.select, "open"),
        (run_dd.input, "run"),
        (prompt_dd.input, "prompt"),
        (left.run_dd.input, "left_run"),
        (left.step_dd.input, "left_step"),
        (left.sample_dd.input, "sample"),
        (right.run_dd.input, "right_run"),
        (right.step_dd.input, "right_step"),
        (right.sample_dd.input, "sample"),
    ]
    for trigger, changed in events:
        gr.on([trigger], bind(show, store, compare_tab, changed=changed), picks, outputs, show_progress="hidden")
    return compare_tab
