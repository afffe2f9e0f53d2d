"""The Train tab's handlers, called with plain values on a real SQLite store: what each returns for which component."""

import json

import gradio as gr
import pytest

from nover_ui.access import Access
from nover_ui.config_form import form_fields
from nover_ui.train_data import remap, upload
from nover_ui.train_tab import describe_cost, fill_from_preset, load, preview, queue, save
from tests.nover_ui.tab_fixtures import build_tabs
from training.config import preset


@pytest.fixture
def built(store, tmp_path):
    return build_tabs(store, tmp_path)


def form(**changes):
    """The form's widget values (in form_fields() order) for the cpu-demo preset with `changes`, valid or not."""
    values = {**preset("cpu-demo").to_dict(), **changes}
    return [values[field.name] for field in form_fields()]


def test_a_preset_fills_every_field(built):
    updates = fill_from_preset("paper", tab=built.train)
    assert set(updates) == set(built.train.field_inputs)
    assert updates[built.train.widgets["max_steps"]] == preset("paper").max_steps


def test_preview_shows_the_command_or_the_error_under_its_field(built):
    train = built.train
    shown = preview(*form(max_steps=3), tab=train)
    assert "python -m training.run" in shown[train.command_code]["value"]
    assert json.loads(shown[train.config_code]["value"])["max_steps"] == 3
    refused = preview(*form(num_generations=1), tab=train)
    assert refused[train.status_md].startswith("**Not valid:**")
    assert refused[train.widgets["num_generations"]]["info"].startswith("⚠")
    assert refused[train.widgets["max_steps"]]["elem_classes"] == []


def test_queue_stores_a_valid_run_and_marks_the_field_of_an_invalid_one(store, built):
    train, dashboard = built.train, built.dashboard
    queued = queue(None, "cpu-demo", "mine", *form(max_steps=2), dashboard=dashboard, tab=train)
    assert queued[train.status_md].startswith("Queued run **#1**")
    assert [(run.name, run.config["max_steps"]) for run in store.list_runs()] == [("mine", 2)]
    refused = queue(None, "cpu-demo", "bad", *form(temperature=-1.0), dashboard=dashboard, tab=train)
    assert refused[train.status_md].startswith("**Not queued:**")
    assert refused[train.widgets["temperature"]]["info"].startswith("⚠")
    assert len(store.list_runs()) == 1


def test_a_read_only_dashboard_queues_nothing(store, tmp_path):
    built = build_tabs(store, tmp_path, Access(read_only=True))
    refused = queue(None, "cpu-demo", "", *form(), dashboard=built.dashboard, tab=built.train)
    assert refused[built.train.status_md].startswith("**Not queued:**")
    assert store.list_runs() == []
    with pytest.raises(gr.Error):
        load(str(tmp_path / "any.json"), None, dashboard=built.dashboard, tab=built.train)


def test_the_cost_line_follows_the_form(built):
    def cost(**changes):
        return describe_cost(None, *form(**changes), dashboard=built.dashboard, tab=built.train)[built.train.cost_md]

    assert "4 rollouts per step" in cost(num_generations=4)
    assert "not computable" in cost(num_generations=1)


def test_a_saved_config_loads_back_into_the_form(built):
    train, dashboard = built.train, built.dashboard
    saved = save(*form(max_steps=7), dashboard=dashboard, tab=train)[train.saved_file]["value"]
    loaded = load(saved, None, dashboard=dashboard, tab=train)
    assert loaded[train.widgets["max_steps"]] == 7


def test_an_upload_is_kept_previewed_and_its_columns_mapped(built, tmp_path):
    train, dashboard = built.train, built.dashboard
    data = tmp_path / "questions.csv"
    data.write_text("question,answer\nWhat is 2+2?,4\nName a colour.,blue\nEmpty?,\n")
    updates = upload(str(data), "prompt", "reference", "split", "train", None, dashboard=dashboard, tab=train)
    kept = updates[train.widgets["dataset"]]
    assert kept.startswith(str(dashboard.places.uploads)) and kept.endswith(".csv")
    assert "2 usable rows of 3" in updates[train.data_md]
    assert updates[train.preview_df]["visible"] is True
    assert updates[train.widgets["prompt_column"]]["value"] == "question"
    assert updates[train.widgets["reference_column"]]["choices"] == ["question", "answer"]
    remapped = remap(kept, "answer", "question", "split", "train", None, dashboard=dashboard, tab=train)
    assert "usable rows" in remapped[train.data_md]


def test_a_broken_upload_is_refused_with_its_line(built, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "reference": "b"}\n{not json\n')
    args = ("prompt", "reference", "split", "train", None)
    updates = upload(str(broken), *args, dashboard=built.dashboard, tab=built.train)
    assert updates[built.train.data_md].startswith("**Upload refused:**") and "line 2" in updates[built.train.data_md]
    assert set(updates) == {built.train.data_md, built.train.preview_df}
