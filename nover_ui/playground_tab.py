"""The Playground tab: one prompt, the base model and up to two run checkpoints, answers side by side.

Generation is a playground job in the database, run by a worker process: the UI process never loads a model.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.eval_view import playground_html
from nover_ui.prompt_text import question, question_line
from nover_ui.queue import BASE, NONE, queue_playground
from nover_ui.run_picker import run_choices
from nover_ui.safe_text import markdown_text
from storage import StorageError, Store

POLL_S = 2.0


def model_choices(store: Store, run_id: int | None) -> list[tuple[str, str]]:
    """'base' and every checkpoint of the run as 'step N' (values 'base' or the step as text)."""
    if run_id is None:
        return [("base model", BASE)]
    steps = [c.step for c in store.list_checkpoints(run_id)]
    return [("base model", BASE), *((f"run {run_id} · step {step}", str(step)) for step in steps)]


def build_playground(dashboard: Dashboard, tab: gr.Tab) -> None:
    store, access = dashboard.store, dashboard.access
    with gr.Row():
        run_dd = gr.Dropdown(label="Run (prompt format, sampling settings, checkpoints)", scale=2, elem_id="play-run")
        pick_dd = gr.Dropdown(label="Or pick one of its prompts", scale=3, elem_id="play-pick")
    prompt_tb = gr.Textbox(label="Prompt", lines=3, elem_id="play-prompt")
    reference_tb = gr.Textbox(
        label="Reference (optional: then its NOVER reasoning perplexity is shown)", elem_id="play-reference"
    )
    with gr.Row():
        model_a_dd = gr.Dropdown(label="Model A", value=BASE, choices=[("base model", BASE)], elem_id="play-a")
        model_b_dd = gr.Dropdown(label="Model B", value=NONE, choices=[("none", NONE)], elem_id="play-b")
        seed_nb = gr.Number(0, precision=0, label="Seed (the same for both)")
        generate_btn = gr.Button("Generate", variant="primary", interactive=not access.read_only, elem_id="play-go")
    status_md = gr.Markdown(elem_id="play-status")
    answers_html = gr.HTML(elem_id="play-answers")
    jobs_state = gr.State([])
    poll_timer = gr.Timer(POLL_S)

    def open_tab(run_id: int | None) -> Any:
        choices = run_choices(store)
        return gr.update(choices=choices, value=run_id if run_id is not None else (choices[0][1] if choices else None))

    def pick_run(run_id: int | None) -> tuple[Any, Any, Any]:
        models = model_choices(store, run_id)
        prompts = [(question_line(p.prompt), p.id) for p in store.list_prompts(run_id)] if run_id else []
        last = models[-1][1]
        return (
            gr.update(choices=prompts, value=None),
            gr.update(choices=models, value=BASE),
            gr.update(choices=[("none", NONE), *models], value=last if last != BASE else NONE),
        )

    def pick_prompt(run_id: int | None, prompt_id: int | None) -> tuple[Any, Any]:
        match = next((p for p in store.list_prompts(run_id) if p.id == prompt_id), None) if run_id else None
        if match is None:
            return gr.update(), gr.update()
        return question(match.prompt), match.reference

    def generate(
        run_id: int | None, prompt: str, reference: str, model_a: str, model_b: str, seed: float, request: gr.Request
    ) -> tuple[str, list[tuple[str, int]]]:
        try:
            access.require_write(request, "generate")
        except AccessDenied as exc:
            return f"**Not queued:** {markdown_text(str(exc))}", []
        try:
            jobs = queue_playground(store, run_id, prompt, reference, [model_a, model_b], seed, dashboard.places)
        except (ValueError, StorageError) as exc:
            return f"**Not queued:** {markdown_text(str(exc))}", []
        return f"Queued; a worker generates with seed {int(seed)} (after any training step in progress).", jobs

    def poll(jobs: list[tuple[str, int]]) -> Any:
        if not jobs:
            return gr.skip()
        results = [
            (label, store.get_evaluation(job_id), store.get_evaluation_samples(job_id)) for label, job_id in jobs
        ]
        return playground_html(results)

    tab.select(open_tab, run_dd, run_dd, show_progress="hidden")
    run_dd.change(pick_run, run_dd, [pick_dd, model_a_dd, model_b_dd])
    pick_dd.input(pick_prompt, [run_dd, pick_dd], [prompt_tb, reference_tb])
    generate_btn.click(
        generate, [run_dd, prompt_tb, reference_tb, model_a_dd, model_b_dd, seed_nb], [status_md, jobs_state]
    ).then(poll, jobs_state, answers_html)
    poll_timer.tick(poll, jobs_state, answers_html, show_progress="hidden")
