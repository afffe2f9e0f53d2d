"""The Experiment accordion's handlers and the Runs tab's filters, tags, notes and rename, called with plain values
on a real SQLite store: what each writes, what a refusal leaves untouched, and what each returns for which component."""

import dataclasses

import gradio as gr
import pytest

from nover_ui.access import Access
from nover_ui.config_form import form_fields
from nover_ui.context import Dashboard
from nover_ui.experiment_form import build_experiment, describe_grid, queue_grid
from nover_ui.run_notes import fill, rename, save_notes, save_tags
from nover_ui.runs_tab import filter_table, redraw
from nover_ui.safe_text import markdown_text
from tests.nover_ui.tab_fixtures import build_tabs
from tests.nover_ui.test_access import request
from training.config import preset


@pytest.fixture
def built(store, tmp_path):
    return build_tabs(store, tmp_path)


def with_experiment(built, access: Access | None = None, cap: int = 24):
    """The dashboard (with `access` and the cap), and the Experiment accordion under its Train form."""
    dashboard = dataclasses.replace(built.dashboard, access=access or built.dashboard.access, max_experiment_runs=cap)
    with gr.Blocks():
        form = build_experiment(dashboard, built.train)
    return dashboard, form


def form_values(**changes):
    values = {**preset("cpu-demo", eval_steps=2, max_steps=2).to_dict(), **changes}
    return [values[field.name] for field in form_fields()]


def grid(name="cmp", recipes=("nover", "rlpr"), sweep=("", ""), seeds=1):
    return [name, list(recipes), sweep[0], sweep[1], "", "", seeds]


def test_an_experiment_is_queued_as_one_named_grid_and_its_size_shown_first(store, built):
    dashboard, form = with_experiment(built)
    size = describe_grid(*grid(sweep=("learning_rate", "1e-4, 3e-4")), *form_values(), dashboard=dashboard, form=form)
    line = size[form.size_md]
    assert line.startswith("**4 run(s)** (2 recipes x 2 learning_rate values x 1 seed(s); cap 24): about ")
    assert "one worker running them one after another" in line
    assert store.list_runs() == []  # the size line queues nothing

    queued = queue_grid(None, *grid(), *form_values(), dashboard=dashboard, form=form, tab=built.train)
    assert queued[form.status_md].startswith("Queued experiment **#1** (cmp): runs #1, #2")
    (experiment,) = store.list_experiments()
    runs = store.experiment_runs(experiment.id)
    assert [run.name for run in runs] == ["cmp · nover", "cmp · rlpr"]
    assert [run.config["reward"] for run in runs] == ["nover", "rlpr"]
    assert {run.status for run in runs} == {"queued"} and experiment.settings["recipes"] == ["nover", "rlpr"]
    assert queued[form.name_tb]["elem_classes"] == []  # no error shown anywhere


def test_a_refused_experiment_queues_nothing_and_says_where(store, built):
    dashboard, form = with_experiment(built, cap=3)
    over = queue_grid(None, *grid(seeds=2), *form_values(), dashboard=dashboard, form=form, tab=built.train)
    assert markdown_text("this grid has 4 runs, over this dashboard's cap of 3") in over[form.status_md]
    no_eval = queue_grid(None, *grid(), *form_values(eval_steps=0), dashboard=dashboard, form=form, tab=built.train)
    assert no_eval[built.train.widgets["eval_steps"]]["elem_classes"] == ["field-error"]
    bad_sweep = queue_grid(
        None, *grid(sweep=("temperature", "0.7, hot")), *form_values(), dashboard=dashboard, form=form, tab=built.train
    )
    shown = bad_sweep[form.sweep_tbs[0]]
    assert shown["elem_classes"] == ["field-error"] and "'hot' is not a number" in shown["info"]
    missing = queue_grid(
        None, *grid(), *form_values(dataset="/nowhere/data.csv"), dashboard=dashboard, form=form, tab=built.train
    )
    assert missing[form.status_md].startswith("**Not queued:**")
    assert missing[built.train.widgets["dataset"]]["elem_classes"] == ["field-error"]
    assert store.list_runs() == [] and store.list_experiments() == []


def test_queueing_an_experiment_needs_a_login(store, built):
    dashboard, form = with_experiment(built, Access(passwords={"alice": "pw"}))
    refused = queue_grid(request(), *grid(), *form_values(), dashboard=dashboard, form=form, tab=built.train)
    assert "log in to queue experiments" in refused[form.status_md]
    assert store.list_runs() == []
    login = dashboard.access.login(request(), "alice", "pw")
    queued = queue_grid(
        request(cookie=login.token), *grid(), *form_values(), dashboard=dashboard, form=form, tab=built.train
    )
    assert queued[form.status_md].startswith("Queued experiment")


def test_the_runs_table_filters_by_experiment_tag_and_status_together(store, built):
    runs_tab = built.runs
    first = store.create_experiment("lr <b>sweep</b>", {}, [("a", {}), ("b", {})])
    store.create_run("lone", {})
    store.set_run_tags(first.run_ids[0], ["baseline", "keep"])
    store.start_run(first.run_ids[1], "w")

    def names(experiment="", tag="", status="", text=""):
        return list(filter_table(text, experiment, tag, status, store=store, tab=runs_tab)[runs_tab.runs_df]["name"])

    assert names() == ["lone", "b", "a"]
    assert names(experiment=str(first.id)) == ["b", "a"]
    assert names(experiment=str(first.id), status="running") == ["b"]
    assert names(tag="keep") == ["a"] and names(tag="keep", status="running") == []
    assert names(text="baseline") == ["a"]  # the box matches tags too
    drawn = redraw(None, "", str(first.id), "", "", store=store, tab=runs_tab)
    frame = drawn[runs_tab.runs_df]
    assert list(frame["experiment"]) == ["#1 lr <b>sweep</b>"] * 2  # a cell of text, never markup
    assert list(frame["tags"]) == ["", "baseline, keep"]
    experiments = drawn[runs_tab.filters.experiment_dd]["choices"]
    assert experiments == [("(every experiment)", ""), ("#1 lr <b>sweep</b>", "1")]
    assert [value for _, value in drawn[runs_tab.filters.tag_dd]["choices"]] == ["", "baseline", "keep"]


def click(run_id: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": [0, 1], "value": "name", "row_value": [str(run_id), "name", "queued"]})


def test_rename_tags_and_notes_are_saved_and_refused_with_the_store_s_reason(store, built):
    runs_tab = built.runs
    notes = runs_tab.notes
    run = store.create_run("old", {})
    bound = dict(dashboard=built.dashboard, notes=notes, version=runs_tab.version_state)
    version = store.runs_version()
    renamed = rename(run.id, " new name ", None, **bound)
    assert renamed[notes.status_md] == f"Renamed run #{run.id}." and renamed[notes.name_tb] == "new name"
    assert renamed[runs_tab.version_state] != version  # the table redraws at once
    tagged = save_tags(run.id, "lr, , base ,lr", None, **bound)
    assert tagged[notes.tags_tb] == "lr, base"
    save_notes(run.id, "tried *bold* [x](http://e.x)", None, **bound)
    assert (store.get_run(run.id).name, store.get_run(run.id).tags) == ("new name", ("lr", "base"))
    filled = fill(click(run.id), store=store, notes=notes, read_only=False)
    assert (filled[notes.name_tb], filled[notes.tags_tb]) == ("new name", "lr, base")
    assert filled[notes.notes_tb] == "tried *bold* [x](http://e.x)"  # a text box: shown as typed
    assert all(filled[button]["interactive"] for button in notes.buttons)

    too_long = save_tags(run.id, "x" * 41, None, **bound)
    assert too_long[notes.status_md].startswith("**Not saved:** a tag has at most 40 characters")
    assert save_notes(run.id, "n" * 10_001, None, **bound)[notes.status_md].startswith("**Not saved:** notes have")
    assert "needs a non\\-empty name" in rename(run.id, "  ", None, **bound)[notes.status_md]
    assert rename(None, "x", None, **bound)[notes.status_md] == "Select a run first (click its row)."
    assert "does not exist" in rename(404, "x", None, **bound)[notes.status_md]
    after = store.get_run(run.id)
    assert (after.name, after.tags, after.notes) == ("new name", ("lr", "base"), "tried *bold* [x](http://e.x)")


def test_editing_a_run_needs_a_login(store, built):
    access = Access(passwords={"alice": "pw"})
    dashboard = Dashboard.over(store, built.dashboard.home, access, built.dashboard.limits)
    notes = built.runs.notes
    run = store.create_run("old", {})
    bound = dict(dashboard=dashboard, notes=notes, version=built.runs.version_state)
    for handler, value in ((rename, "new"), (save_tags, "t"), (save_notes, "n")):
        refused = handler(run.id, value, request(), **bound)[notes.status_md]
        assert refused.startswith("**Refused:** log in to ")
    assert (store.get_run(run.id).name, store.get_run(run.id).tags, store.get_run(run.id).notes) == ("old", (), None)
    token = access.login(request(), "alice", "pw").token
    assert save_tags(run.id, "t", request(cookie=token), **bound)[notes.tags_tb] == "t"
    read_only = fill(click(run.id), store=store, notes=notes, read_only=True)
    assert not any(read_only[button]["interactive"] for button in notes.buttons)
