"""The Runs tab's handlers, called with plain values on a real SQLite store: what each returns for which component."""

import zipfile

import gradio as gr
import pytest

from nover_ui.access import Access
from nover_ui.run_actions import cancel_run, resume_run
from nover_ui.runs_tab import act_on_run, ask_delete, clone, export, poll_version, redraw, select_row
from tests.helpers import step_rows
from tests.nover_ui.tab_fixtures import build_tabs


@pytest.fixture
def built(store, tmp_path):
    return build_tabs(store, tmp_path)


def click(row_id: int) -> gr.SelectData:
    """What Gradio hands a Dataframe's select handler for a click on the second cell of a row."""
    return gr.SelectData(None, {"index": [0, 1], "value": "name", "row_value": [str(row_id), "name", "failed"]})


def test_the_table_redraws_from_the_store_and_keeps_the_selected_runs_details(store, built):
    runs = built.runs
    run = store.start_run(store.create_run("crashed", {}).id, "w")
    store.set_run_command(run.id, "python -m training.run --set max_steps=3")
    store.finish_run(run.id, "failed", "RuntimeError: boom")
    nothing_selected = redraw(None, store=store, tab=runs)
    assert set(nothing_selected) == {runs.runs_df}
    assert list(nothing_selected[runs.runs_df]["name"]) == ["crashed"]
    selected = redraw(run.id, store=store, tab=runs)
    assert set(selected) == {runs.runs_df, runs.error_tb, runs.command_code}  # the selection itself stays
    assert (selected[runs.error_tb]["value"], selected[runs.error_tb]["visible"]) == ("RuntimeError: boom", True)
    assert selected[runs.command_code]["value"] == "python -m training.run --set max_steps=3"


def test_the_version_read_on_each_tick_moves_only_when_the_table_would_change(store, built):
    runs = built.runs
    first = poll_version(store=store, tab=runs)[runs.version_state]
    assert poll_version(store=store, tab=runs)[runs.version_state] == first
    run = store.create_run("new", {})
    second = poll_version(store=store, tab=runs)[runs.version_state]
    assert second != first
    store.claim_next_run("w")
    store.heartbeat(run.id)
    assert poll_version(store=store, tab=runs)[runs.version_state] not in (first, second)


def test_a_click_selects_the_rows_run_with_its_error_and_hides_a_missing_command(store, built):
    runs = built.runs
    failed = store.create_run("failed", {})
    store.finish_run(failed.id, "failed", "no data")
    store.create_run("newer", {})
    updates = select_row(click(failed.id), store=store, tab=runs)
    assert updates[runs.run_nb] == failed.id
    assert (updates[runs.error_tb]["value"], updates[runs.error_tb]["visible"]) == ("no data", True)
    assert updates[runs.command_code]["visible"] is False


def test_an_action_says_what_it_did_and_moves_the_version_so_the_table_redraws(store, built):
    runs, dashboard = built.runs, built.dashboard
    run = store.create_run("queued", {})
    before = poll_version(store=store, tab=runs)[runs.version_state]
    cancel = dict(action=cancel_run, done="Cancel requested for run #{run}.", what="cancel runs")
    updates = act_on_run(run.id, None, **cancel, dashboard=dashboard, tab=runs)
    assert updates[runs.action_md] == f"Cancel requested for run #{run.id}."
    assert updates[runs.version_state] != before
    assert store.get_run(run.id).status == "cancelled"
    assert act_on_run(run.id, None, **cancel, dashboard=dashboard, tab=runs)[runs.action_md].startswith("**Refused:**")
    assert act_on_run(None, None, **cancel, dashboard=dashboard, tab=runs)[runs.action_md].startswith("Select a run")


def test_a_read_only_dashboard_refuses_every_action_and_changes_nothing(store, tmp_path):
    built = build_tabs(store, tmp_path, Access(read_only=True))
    run = store.start_run(store.create_run("crashed", {}).id, "w")
    store.add_checkpoint(run.id, 2, str(tmp_path / "ckpt"))
    store.finish_run(run.id, "failed", "boom")
    resume = dict(action=resume_run, done="Queued run #{new}, resuming run #{run}.", what="resume runs")
    updates = act_on_run(run.id, None, **resume, dashboard=built.dashboard, tab=built.runs)
    assert updates[built.runs.action_md].startswith("**Refused:**")
    assert [r.id for r in store.list_runs()] == [run.id]


def test_delete_asks_first_naming_the_run(built):
    runs = built.runs
    asked = ask_delete(4, tab=runs)
    assert asked[runs.confirm_row]["visible"] is True and "**#4**" in asked[runs.confirm_md]
    assert ask_delete(None, tab=runs)[runs.confirm_row]["visible"] is False


def test_clone_fills_the_train_form_and_opens_the_train_tab(store, built):
    run = store.create_run("source", {"max_steps": 30, "seed": 7})
    updates = clone(run.id, store=store, train=built.train, tabs=built.tabs)
    assert updates[built.train.name_tb] == "source (copy)"
    assert updates[built.train.widgets["max_steps"]] == 30 and updates[built.train.widgets["seed"]] == 7
    assert updates[built.tabs].selected == "train"
    with pytest.raises(gr.Error, match="Select a run first"):
        clone(None, store=store, train=built.train, tabs=built.tabs)


def test_export_offers_the_runs_archive(store, built):
    run = store.create_run("to export", {})
    store.log_step(run.id, 1, {"reward": 0.5}, step_rows(1, 2))
    updates = export(run.id, dashboard=built.dashboard, tab=built.runs)
    assert updates[built.runs.export_file]["visible"] is True
    assert zipfile.is_zipfile(updates[built.runs.export_file]["value"])
