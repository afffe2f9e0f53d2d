"""The Playground tab's handlers on a real SQLite Store: generating, the cheap version, the redraw it gates."""

import gradio as gr
import pytest

from nover_ui.playground_tab import build_playground, draw, generate, pick_prompt, pick_run, poll
from nover_ui.queue import BASE, NONE
from nover_ui.safe_text import markdown_text
from tests.helpers import rollout_row
from tests.nover_ui.tab_fixtures import built, dashboard

DEMO_RUN = {"model": "org/Tiny-Model", "dataset": "builtin:demo"}


@pytest.fixture
def board(store, tmp_path):
    return dashboard(store, tmp_path / "home")


@pytest.fixture
def tab(board):
    return built(build_playground, board)


def test_picking_a_run_offers_the_base_model_and_its_last_checkpoint(store, tab):
    run = store.start_run(store.create_run("r", DEMO_RUN).id, "w")
    store.log_step(run.id, 1, rollouts=[rollout_row(0, 0, prompt="What is 2+2?", reference="4")])
    for step in (2, 4):
        store.add_checkpoint(run.id, step, f"/c{step}")
    shown = pick_run(store, tab, run.id)
    assert (shown[tab.model_a_dd]["value"], shown[tab.model_b_dd]["value"]) == (BASE, "4")
    assert shown[tab.model_b_dd]["choices"][0] == ("none", NONE)
    [(label, prompt_id)] = shown[tab.pick_dd]["choices"]
    assert label == "What is 2+2?"
    assert pick_prompt(store, tab, run.id, prompt_id) == {tab.prompt_tb: "What is 2+2?", tab.reference_tb: "4"}
    assert pick_prompt(store, tab, run.id, 999) == gr.skip()
    no_checkpoints = pick_run(store, tab, None)
    assert no_checkpoints[tab.model_b_dd]["value"] == NONE and no_checkpoints[tab.pick_dd]["choices"] == []


def test_generating_queues_one_job_per_model_and_the_redraw_follows_their_version(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    store.add_checkpoint(run.id, 2, "/c2")
    shown = generate(board, tab, run.id, "What is 3 + 4?", "7", BASE, "2", 5, None)
    jobs = shown[tab.jobs_state]
    assert [label for label, _ in jobs] == ["base model", f"run {run.id} · step 2"]
    assert shown[tab.status_md].startswith("Queued; a worker generates with seed 5")
    assert shown[tab.version_state] == poll(store, tab, jobs)[tab.version_state]
    assert "queued…" in draw(store, tab, jobs)[tab.answers_html]

    store.claim_next_evaluation("w")
    started = poll(store, tab, jobs)[tab.version_state]
    assert started != shown[tab.version_state]
    assert "running…" in draw(store, tab, jobs)[tab.answers_html]
    assert poll(store, tab, []) == {tab.version_state: gr.skip()}  # nothing asked yet: nothing read
    assert draw(store, tab, []) == {tab.answers_html: gr.skip()}


def test_a_refusal_is_said_in_the_status_line_and_clears_the_jobs(store, board, tab):
    shown = generate(board, tab, None, "   ", "", BASE, NONE, 0, None)
    refusal = "type a prompt (or pick one of the run's)"
    assert shown[tab.status_md] == f"**Not queued:** {markdown_text(refusal)}"
    assert shown[tab.jobs_state] == [] and store.list_evaluations() == []


def test_a_refused_prompt_is_shown_under_its_field(store, board, tab):
    shown = generate(board, tab, None, "   ", "", BASE, NONE, 0, None)
    assert shown[tab.prompt_tb]["elem_classes"] == ["field-error"]
