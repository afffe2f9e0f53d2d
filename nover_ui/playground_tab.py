"""The Playground tab: one prompt, the base model and up to two run checkpoints, answers side by side.

Generation is a playground job in the database, run by a worker process: the UI process never loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.eval_view import playground_html
from nover_ui.events import bind
from nover_ui.field_errors import field_errors, not_queued
from nover_ui.prompt_text import question, question_line
from nover_ui.queue import BASE, NONE, queue_playground
from nover_ui.run_picker import run_choices
from storage import StorageError, Store
from training.config import ConfigError

POLL_S = 2.0


def model_choices(store: Store, run_id: int | None) -> list[tuple[str, str]]:
    """'base' and every checkpoint of the run as 'step N' (values 'base' or the step as text)."""
    if run_id is None:
        return [("base model", BASE)]
    steps = [c.step for c in store.list_checkpoints(run_id)]
    return [("base model", BASE), *((f"run {run_id} · step {step}", str(step)) for step in steps)]


@dataclass(frozen=True)
class PlaygroundTab:
    run_dd: gr.Dropdown
    pick_dd: gr.Dropdown
    prompt_tb: gr.Textbox
    reference_tb: gr.Textbox
    model_a_dd: gr.Dropdown
    model_b_dd: gr.Dropdown
    seed_nb: gr.Number
    generate_btn: gr.Button
    status_md: gr.Markdown
    answers_html: gr.HTML
    jobs_state: gr.State
    """(label, job id) of the jobs this page queued last."""
    version_state: gr.State
    """Those jobs' version (Store.evaluations_version); the answers redraw when it changes."""
    poll_timer: gr.Timer

    @property
    def fields(self) -> dict[str, gr.components.Component]:
        """The form's fields by the name a refusal (ConfigError.field) gives them."""
        return {
            "run_id": self.run_dd,
            "prompt": self.prompt_tb,
            "reference": self.reference_tb,
            "models": self.model_a_dd,
            "seed": self.seed_nb,
        }


def on_open(store: Store, tab: PlaygroundTab, run_id: int | None) -> dict[Any, Any]:
    """Refresh the run list, keeping the chosen run (the newest on the first visit)."""
    choices = run_choices(store)
    chosen = run_id if run_id is not None else (choices[0][1] if choices else None)
    return {tab.run_dd: gr.update(choices=choices, value=chosen)}


def pick_run(store: Store, tab: PlaygroundTab, run_id: int | None) -> dict[Any, Any]:
    """The run's prompts to pick from; model A the base model, model B the run's last checkpoint."""
    models = model_choices(store, run_id)
    prompts = [(question_line(p.prompt), p.id) for p in store.list_prompts(run_id)] if run_id else []
    last = models[-1][1]
    return {
        tab.pick_dd: gr.update(choices=prompts, value=None),
        tab.model_a_dd: gr.update(choices=models, value=BASE),
        tab.model_b_dd: gr.update(choices=[("none", NONE), *models], value=last if last != BASE else NONE),
    }


def pick_prompt(store: Store, tab: PlaygroundTab, run_id: int | None, prompt_id: int | None) -> dict[Any, Any]:
    """The picked prompt's question and reference in the form."""
    match = next((p for p in store.list_prompts(run_id) if p.id == prompt_id), None) if run_id else None
    if match is None:
        return gr.skip()
    return {tab.prompt_tb: question(match.prompt), tab.reference_tb: match.reference}


def generate(
    dashboard: Dashboard,
    tab: PlaygroundTab,
    run_id: int | None,
    prompt: str,
    reference: str,
    model_a: str,
    model_b: str,
    seed: float,
    request: gr.Request,
) -> dict[Any, Any]:
    """Queue one job per chosen model; a refusal shows under the field it names, or in the status line."""
    try:
        dashboard.access.require_write(request, "generate")
    except AccessDenied as exc:
        return {tab.jobs_state: [], **not_queued(tab.status_md, tab.fields, str(exc))}
    try:
        jobs = queue_playground(dashboard.store, run_id, prompt, reference, [model_a, model_b], seed, dashboard.places)
    except ConfigError as exc:
        return {tab.jobs_state: [], **not_queued(tab.status_md, tab.fields, str(exc), exc.field)}
    except (ValueError, StorageError) as exc:
        return {tab.jobs_state: [], **not_queued(tab.status_md, tab.fields, str(exc))}
    return {
        tab.status_md: f"Queued; a worker generates with seed {int(seed)} (after any training step in progress).",
        tab.jobs_state: jobs,
        **field_errors(tab.fields, None),
        **poll(dashboard.store, tab, jobs),  # the new jobs show at once, not on the next tick
    }


def poll(store: Store, tab: PlaygroundTab, jobs: list[tuple[str, int]]) -> dict[Any, Any]:
    if not jobs:
        return {tab.version_state: gr.skip()}
    try:
        return {tab.version_state: store.evaluations_version(ids=[job_id for _, job_id in jobs])}
    except StorageError:
        return {tab.version_state: gr.skip()}  # a busy database: try again on the next tick


def draw(store: Store, tab: PlaygroundTab, jobs: list[tuple[str, int]]) -> dict[Any, Any]:
    """Each job's answer, or its status while it waits or runs."""
    if not jobs:
        return {tab.answers_html: gr.skip()}
    results = [(label, store.get_evaluation(job_id), store.get_evaluation_samples(job_id)) for label, job_id in jobs]
    return {tab.answers_html: playground_html(results)}


def build_playground(dashboard: Dashboard, tab: gr.Tab) -> PlaygroundTab:
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
        seed_nb = gr.Number(0, precision=0, label="Seed (the same for both)", elem_id="play-seed")
        generate_btn = gr.Button("Generate", variant="primary", interactive=not access.read_only, elem_id="play-go")
    status_md = gr.Markdown(elem_id="play-status")
    answers_html = gr.HTML(elem_id="play-answers")
    jobs_state = gr.State([])
    version_state = gr.State(None)
    poll_timer = gr.Timer(POLL_S)
    play = PlaygroundTab(
        run_dd, pick_dd, prompt_tb, reference_tb, model_a_dd, model_b_dd, seed_nb, generate_btn, status_md,
        answers_html, jobs_state, version_state, poll_timer,
    )  # fmt: skip

    form = [run_dd, prompt_tb, reference_tb, model_a_dd, model_b_dd, seed_nb]
    tab.select(bind(on_open, store, play), run_dd, {run_dd}, show_progress="hidden")
    run_dd.change(bind(pick_run, store, play), run_dd, {pick_dd, model_a_dd, model_b_dd})
    pick_dd.input(bind(pick_prompt, store, play), [run_dd, pick_dd], {prompt_tb, reference_tb})
    generated = {status_md, jobs_state, version_state, *play.fields.values()}
    generate_btn.click(bind(generate, dashboard, play), form, generated)
    # The timer reads only the jobs' version; the answers are redrawn when it changed.
    poll_timer.tick(bind(poll, store, play), jobs_state, {version_state}, show_progress="hidden")
    version_state.change(bind(draw, store, play), jobs_state, {answers_html}, show_progress="hidden")
    return play
