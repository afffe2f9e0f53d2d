"""The Runs tab's handlers, called with plain values on a real SQLite store: what each returns for which component."""

import json
import re
import zipfile

import gradio as gr
import pytest

from nover_ui.access import Access
from nover_ui.run_actions import cancel_run, resume_run
from nover_ui.runs_tab import act_on_run, ask_delete, clone, export, filter_table, poll_version, redraw, select_row
from tests.helpers import rollout_row, step_rows
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
    nothing_selected = redraw(None, "", store=store, tab=runs)
    assert list(nothing_selected[runs.runs_df]["name"]) == ["crashed"]
    assert not any(nothing_selected[button]["interactive"] for button in buttons(runs))
    assert nothing_selected[runs.error_tb]["visible"] is False
    selected = redraw(run.id, "", store=store, tab=runs)
    assert runs.run_nb not in selected  # the selection itself stays
    assert (selected[runs.error_tb]["value"], selected[runs.error_tb]["visible"]) == ("RuntimeError: boom", True)
    assert selected[runs.command_code]["value"] == "python -m training.run --set max_steps=3"
    assert selected[runs.server_log_tb]["visible"] is False  # no vLLM server: no box


def test_a_run_over_several_machines_lists_them_under_its_command(store, built):
    run = store.start_run(store.create_run("spread", {"num_machines": 3}).id, "w")
    store.set_run_command(run.id, "accelerate launch --num_processes 6 --num_machines 3 -m training.run")
    store.start_machines(run.id, "w", "gpu-a", "10.0.0.5", 29511)
    store.claim_machine_rank("w2", "gpu-b")
    shown = redraw(run.id, "", store=store, tab=built.runs)[built.runs.command_code]["value"]
    assert shown.splitlines()[1] == "# machines: rank 0 on gpu-a (10.0.0.5:29511); rank 1 on gpu-b; rank 2 not joined"


def test_a_run_s_vllm_server_lines_show_as_text_from_the_runs_list(store, built):
    runs = built.runs
    run = store.start_run(store.create_run("served", {}).id, "w")
    store.finish_run(run.id, "failed", "the vLLM server exited with code 1 before it answered")
    lines = "INFO <b>loading</b> /models/m\nERROR CUDA out of memory"
    store.set_generation_server_log(run.id, lines)
    shown = redraw(run.id, "", store=store, tab=runs)[runs.server_log_tb]
    assert (shown["value"], shown["visible"]) == (lines, True)  # a Textbox: the tags stay text, never markup


def buttons(runs):
    return [runs.cancel_btn, runs.resume_btn, runs.delete_btn, runs.clone_btn, runs.export_btn]


def enabled(updates, runs) -> list[str]:
    names = ["cancel", "resume", "delete", "clone", "export"]
    return [name for name, button in zip(names, buttons(runs)) if updates[button]["interactive"]]


def test_rows_show_phase_reward_recent_step_time_eta_dataset_and_model_and_filter(store, built):
    runs = built.runs
    config = {"dataset": "/home/u/uploads/3f9a.csv", "dataset_name": "econ mcq.csv", "model": "Qwen/Qwen3-0.6B"}
    training = store.start_run(store.create_run("econ", config).id, "w")
    store.heartbeat(training.id, step=0, total_steps=20)
    for step in range(1, 13):  # the last 10 step times are 2..11 s: a mean of 6.5 s; the first two (100 s) drop out
        metrics = {"reward": step / 10, "step_time": 100.0 if step <= 2 else step - 1.0}
        store.log_step(training.id, step, metrics, total_steps=20, heartbeat=True)
    starting = store.start_run(store.create_run("demo", {"dataset": "builtin:demo"}).id, "w")
    store.set_phase(starting.id, "converting the model")
    frame = redraw(None, "", store=store, tab=runs)[runs.runs_df]
    rows = {row["name"]: row for row in frame.to_dict("records")}
    assert rows["econ"]["status"] == "running" and rows["demo"]["status"] == "running · converting the model"
    assert (rows["econ"]["reward"], rows["econ"]["step time"]) == ("1.200", "6.5 s")
    assert (rows["econ"]["dataset"], rows["econ"]["model"]) == ("econ mcq.csv", "Qwen/Qwen3-0.6B")
    # 8 steps left x 6.5 s, less the time since the last step landed (nover_ui/runs_table.py eta_seconds)
    assert re.fullmatch(r"\d+ s", rows["econ"]["ETA"]) and int(rows["econ"]["ETA"].split()[0]) <= 52
    assert rows["demo"]["reward"] == rows["demo"]["ETA"] == ""
    clock = json.loads(redraw(None, "", store=store, tab=runs)[runs.clock_html])  # what the browser counts down
    assert list(clock) == [str(training.id)] and 0 < clock[str(training.id)] <= 52

    # The filter box: name, dataset, model or status (with the phase), on every redraw too.
    store.request_cancel(store.create_run("later", {"dataset": "builtin:demo"}).id)

    def names(text: str) -> list[str]:
        return list(filter_table(text, store=store, tab=runs)[runs.runs_df]["name"])

    assert names("") == ["later", "demo", "econ"]
    assert names("ECON MCQ") == names("qwen") == ["econ"]
    assert names("cancel") == ["later"] and names("converting") == ["demo"] and names("demo") == ["later", "demo"]
    assert names("no such run") == []
    assert list(redraw(None, "qwen", store=store, tab=runs)[runs.runs_df]["name"]) == ["econ"]


def test_buttons_are_enabled_only_where_their_action_applies_to_the_selected_run(store, built, tmp_path):
    runs = built.runs
    queued = store.create_run("queued", {})
    running = store.start_run(store.create_run("running", {}).id, "w")
    crashed = store.start_run(store.create_run("crashed", {}).id, "w")
    store.finish_run(crashed.id, "failed", "boom")
    saved = store.start_run(store.create_run("saved", {}).id, "w")
    store.add_checkpoint(saved.id, 2, str(tmp_path / "checkpoint-2"))
    store.finish_run(saved.id, "cancelled")
    assert enabled(select_row(click(queued.id), store=store, tab=runs), runs) == ["cancel", "delete", "clone", "export"]
    assert enabled(select_row(click(running.id), store=store, tab=runs), runs) == ["cancel", "clone", "export"]
    assert enabled(select_row(click(crashed.id), store=store, tab=runs), runs) == ["delete", "clone", "export"]
    assert enabled(redraw(saved.id, "", store=store, tab=runs), runs) == ["resume", "delete", "clone", "export"]
    store.request_cancel(running.id)  # asked already: it shows "cancelling" until it stops
    assert enabled(redraw(running.id, "", store=store, tab=runs), runs) == ["clone", "export"]
    assert enabled(redraw(404, "", store=store, tab=runs), runs) == []  # deleted meanwhile

    read_only = build_tabs(store, tmp_path, Access(read_only=True)).runs
    assert enabled(select_row(click(saved.id), store=store, tab=read_only), read_only) == ["clone", "export"]


def test_the_selected_run_without_a_format_valid_rollout_shows_what_to_try(store, built):
    runs = built.runs
    run = store.start_run(store.create_run("no signal", {}).id, "w")
    assert select_row(click(run.id), store=store, tab=runs)[runs.banner_md]["visible"] is False  # nothing yet
    store.log_step(run.id, 1, {"reward": 0.0}, [rollout_row(0, i, format_valid=False) for i in range(4)])
    banner = redraw(run.id, "", store=store, tab=runs)[runs.banner_md]  # on the version's change
    assert banner["visible"] is True and banner["value"].startswith("**No format-valid rollout in this run yet**")
    store.log_step(run.id, 2, {"reward": 1.0}, [rollout_row(0, 0)])
    assert redraw(run.id, "", store=store, tab=runs)[runs.banner_md]["visible"] is False


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


def test_a_run_s_alerts_show_as_a_badge_and_as_escaped_evidence_linking_to_traces(store, built):
    runs = built.runs
    run = store.start_run(store.create_run("watched", {}).id, "w")
    store.log_step(run.id, 3, {"kl": 0.6}, total_steps=3)
    store.record_alert(run.id, "<b>kl</b> > 0.5", "kl", [2, 3], [0.55, 0.6], "kl was 0.55, 0.6 at <i>steps</i> 2-3")
    store.record_alert(run.id, "kl_spike", "kl", [3], [0.6], "kl was 0.6 at step 3")
    quiet = store.create_run("quiet", {})
    drawn = redraw(run.id, "", store=store, tab=runs)
    table = drawn[runs.runs_df].set_index("id")
    assert table.loc[run.id, "alerts"] == "⚠ 2 · <b>kl</b> > 0.5"  # a str cell: text, never markup
    assert table.loc[quiet.id, "alerts"] == ""
    evidence = select_row(click(run.id), store=store, tab=runs)[runs.alerts_html]
    assert evidence["visible"] is True
    html = evidence["value"]
    assert "<b>kl</b>" not in html and "<i>steps</i>" not in html and "&lt;b&gt;kl&lt;/b&gt; &gt; 0.5" in html
    assert f'href="?tab=traces&amp;run={run.id}&amp;step=2"' in html and "kl_spike" in html
    assert select_row(click(quiet.id), store=store, tab=runs)[runs.alerts_html]["visible"] is False
