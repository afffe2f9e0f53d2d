"""The Evaluate tab's handlers on a real SQLite Store: queueing, the cheap version, the redraw it gates."""

import gradio as gr
import pytest

from nover_ui.access import READ_ONLY_MESSAGE, Access
from nover_ui.evaluate_tab import (
    adapter_file,
    build_evaluate,
    draw,
    on_open,
    pick_run,
    poll,
    queue,
    samples_file,
    show_grid,
)
from nover_ui.safe_text import markdown_text
from tests.nover_ui.tab_fixtures import built, dashboard

DEMO_RUN = {"model": "org/Tiny-Model", "dataset": "builtin:demo"}
FORM = dict(include_base=True, split="test", max_prompts=8, samples=1, seed=0, dataset="")


@pytest.fixture
def board(store, tmp_path):
    return dashboard(store, tmp_path / "home")


@pytest.fixture
def tab(board):
    return built(build_evaluate, board)


def queued(board, tab, run_id, steps=(), **form):
    values = {**FORM, **form}
    return queue(board, tab, run_id, list(steps), *values.values(), None)


def finish(store, evaluation_id, status="succeeded"):
    assert store.claim_next_evaluation("w").id == evaluation_id
    return store.finish_evaluation(evaluation_id, status, {"format_valid_rate": 0.5, "samples": 1.0})


def test_queueing_reports_the_jobs_and_hands_the_new_version_to_the_redraw(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    store.add_checkpoint(run.id, 2, "/c2")
    before = poll(store, tab)[tab.version_state]
    shown = queued(board, tab, run.id, [2])
    assert shown[tab.status_md].startswith("Queued evaluation(s) #1, #2;")
    assert shown[tab.version_state] == store.evaluations_version(kind="evaluation") != before
    assert all(shown[field] == gr.update(info="", elem_classes=[]) for field in tab.fields.values())


@pytest.mark.parametrize(
    "form, message",
    [
        ({"samples": 65}, "samples must be from 1 to 64, got 65"),
        ({"include_base": False}, "choose the base model, a checkpoint, or both"),
        (
            {"dataset": "/etc/creds.csv"},
            "cannot read '/etc/creds.csv': data comes from an upload, a built-in set (builtin:demo, "
            "builtin:inverse-demo), a Hugging Face dataset id, or a folder the operator allows with --data-dir",
        ),
    ],
)
def test_a_refusal_is_said_in_the_status_line_and_queues_nothing(store, board, tab, form, message):
    run = store.create_run("r", DEMO_RUN)
    shown = queued(board, tab, run.id, **form)
    assert shown[tab.status_md] == f"**Not queued:** {markdown_text(message)}"
    assert store.list_evaluations() == []


def test_a_refused_number_is_shown_under_its_field(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    shown = queued(board, tab, run.id, samples=65)
    assert shown[tab.samples_nb]["elem_classes"] == ["field-error"]
    assert "samples" in shown[tab.samples_nb]["info"]


def test_without_a_run_or_the_right_to_write_nothing_is_queued(store, board, tab, tmp_path):
    run = store.create_run("r", DEMO_RUN)
    assert queued(board, tab, None)[tab.status_md] == "Pick a run first."
    reader = dashboard(store, tmp_path / "home", Access(read_only=True))
    reader_tab = built(build_evaluate, reader)
    refused = queued(reader, reader_tab, run.id)[reader_tab.status_md]
    assert refused == f"**Not queued:** {markdown_text(READ_ONLY_MESSAGE)}"
    assert store.list_evaluations() == []


def test_the_redraw_keeps_chosen_evaluations_that_are_still_offered(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    store.add_checkpoint(run.id, 2, "/c2")
    queued(board, tab, run.id, [2])
    base, step_2 = store.list_evaluations()
    finish(store, base.id)
    finish(store, step_2.id, status="failed")
    shown = draw(store, tab, run.id, [base.id, step_2.id])
    assert list(shown[tab.table_df]["status"]) == ["failed", "succeeded"]  # newest first
    assert shown[tab.chosen_dd]["choices"] == [(f"#{base.id} base Tiny-Model", base.id)]
    assert shown[tab.chosen_dd]["value"] == [base.id]  # the failed one cannot be compared


def test_picking_a_run_offers_its_checkpoints_the_last_one_chosen(store, tab):
    run = store.create_run("r", DEMO_RUN)
    for step in (2, 4):
        store.add_checkpoint(run.id, step, f"/c{step}")
    shown = pick_run(store, tab, run.id, [])
    assert shown[tab.steps_cg]["choices"] == [("step 2", 2), ("step 4", 4)] and shown[tab.steps_cg]["value"] == [4]
    assert shown[tab.adapter_dd]["value"] == 4
    assert {tab.table_df, tab.chosen_dd} <= set(shown)
    assert on_open(store, tab, None)[tab.run_dd]["value"] == run.id
    assert pick_run(store, tab, None, None)[tab.steps_cg]["value"] == []


def test_answers_and_downloads_of_the_chosen_evaluations(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    queued(board, tab, run.id)
    [base] = store.list_evaluations()
    store.claim_next_evaluation("w")
    store.log_evaluation_samples(
        base.id,
        [
            dict(
                sample_index=0,
                prompt="2+2?",
                reference="4",
                completion="<answer>4</answer>",
                answer="4",
                format_valid=True,
            )
        ],
    )
    store.finish_evaluation(base.id, "succeeded")
    assert "2+2?" in show_grid(store, tab, [base.id])[tab.grid_html]
    offered = samples_file(board, tab, [base.id], "csv")[tab.download_file]["value"]
    assert offered.endswith(f"evaluation-{base.id}-samples.csv")
    with pytest.raises(gr.Error, match="Pick a run and one of its checkpoints"):
        adapter_file(board, tab, run.id, 2)


def test_the_table_lists_every_evaluation_of_the_runs_data_with_the_run_it_belongs_to(store, board, tab):
    upload = {"model": "org/Tiny-Model", "dataset": "/h/uploads/3f9a.csv", "dataset_name": "econ mcq.csv"}
    first, second = store.create_run("first", upload), store.create_run("second", upload)
    other = store.create_run("other", DEMO_RUN)
    for run in (first, second, other):
        store.add_checkpoint(run.id, 2, "/c2")
        store.queue_evaluation("evaluation", "org/Tiny-Model", run.config["dataset"], {}, run.id, 2)
    base = store.queue_evaluation("evaluation", "org/Tiny-Model", upload["dataset"], {"run_config": upload})
    table = draw(store, tab, second.id, [])[tab.table_df]
    assert list(table["#"]) == [str(base.id), "2", "1"]  # not run "other"'s, on other data
    assert list(table["run"]) == ["–", f"#{second.id} second", f"#{first.id} first"]
    assert set(table["data"]) == {"econ mcq.csv"}
    assert draw(store, tab, None, [])[tab.table_df].empty


def test_the_queued_line_goes_once_every_queued_job_has_ended(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    ids = queued(board, tab, run.id)[tab.queued_state]
    assert ids == [1]
    assert tab.status_md not in draw(store, tab, run.id, [], ids)  # still queued: the line stays
    finish(store, 1, status="failed")
    shown = draw(store, tab, run.id, [], ids)
    assert (shown[tab.status_md], shown[tab.queued_state]) == ("", [])
    assert tab.status_md not in draw(store, tab, run.id, [], [])  # a refusal's line is not the redraw's to clear


def test_an_evaluation_without_a_valid_answer_says_so_under_the_table(store, board, tab):
    run = store.create_run("r", DEMO_RUN)
    queued(board, tab, run.id)
    store.claim_next_evaluation("w")
    store.finish_evaluation(1, "succeeded", {"format_valid_rate": 0.0, "samples": 8.0})
    shown = draw(store, tab, run.id, [])
    assert "#1 base Tiny\\-Model: 0 of 8 format-valid: no answer was scored" in shown[tab.note_md]
    assert shown[tab.table_df].iloc[0]["note"] == "0 of 8 format-valid: no answer was scored"
