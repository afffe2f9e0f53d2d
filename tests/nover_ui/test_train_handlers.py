"""The Train tab's handlers, called with plain values on a real SQLite store: what each returns for which component."""

import json

import gradio as gr
import pytest

from nover_ui.access import Access
from nover_ui.config_form import form_fields
from nover_ui.safe_text import markdown_text
from nover_ui.train_cost import describe_cost
from nover_ui.train_data import clear_upload, remap, upload
from nover_ui.train_state import restore
from nover_ui.train_tab import fill_from_preset, load, preset_help, preview, queue, save
from tests.nover_ui.tab_fixtures import build_tabs
from training.config import PRESETS, preset
from training.preset_notes import preset_notes


@pytest.fixture
def built(store, tmp_path):
    return build_tabs(store, tmp_path)


def form(**changes):
    """The form's widget values (in form_fields() order) for the cpu-demo preset with `changes`, valid or not."""
    values = {**preset("cpu-demo").to_dict(), **changes}
    return [values[field.name] for field in form_fields()]


def test_a_preset_fills_every_field_and_picking_it_again_resets_the_form(built):
    train = built.train
    updates = fill_from_preset("paper", tab=train)
    assert set(train.field_inputs) <= set(updates)
    assert updates[train.widgets["max_steps"]]["value"] == preset("paper").max_steps
    again = fill_from_preset("cpu-demo", tab=train)  # what the form gets whatever it holds now
    assert again[train.widgets["max_steps"]]["value"] == preset("cpu-demo").max_steps
    assert again[train.widgets["dataset"]]["value"] == preset("cpu-demo").dataset
    assert again[train.widgets["dataset_name"]]["value"] == ""
    assert again[train.upload_file] is None and again[train.before_upload_state] is None
    assert again[train.widgets["temperature"]]["elem_classes"] == []  # an old error line goes too
    # Help lines render as text (Markdown would make alpha*proxy + (1-alpha)* an emphasis).
    shown = again[train.widgets["proxy_alpha"]]["info"]
    assert shown == "Proxy EMA: proxy <- alpha∗proxy + (1-alpha)∗policy at each sync."


def test_under_the_preset_each_paper_setting_names_its_source_as_literal_text():
    lines = preset_help("paper").split("  \n")
    assert lines == [markdown_text(line) for line in preset_notes("paper")]  # one escaped line each
    assert len(lines) == 1 + len(PRESETS["paper"]) and "Table 1" in lines[1] and "Qwen\\/Qwen2\\.5\\-7B" in lines[1]
    assert "builtin\\:inverse\\-demo" in preset_help("inverse") and preset_help("(defaults)") == ""


def test_preview_shows_the_command_or_every_error_under_its_field(built):
    train = built.train
    shown = preview(*form(max_steps=3), tab=train)
    assert "python -m training.run" in shown[train.command_code]["value"]
    assert json.loads(shown[train.config_code]["value"])["max_steps"] == 3
    refused = preview(*form(num_generations=1, temperature=-1.0, max_steps=None), tab=train)
    assert refused[train.status_md].startswith("**Not valid:** 3 fields need a fix")
    for name in ("num_generations", "temperature", "max_steps"):
        assert refused[train.widgets[name]]["info"].startswith("⚠"), name
    assert refused[train.widgets["seed"]]["elem_classes"] == []


def test_queue_stores_a_valid_run_and_marks_every_field_of_an_invalid_one(store, built):
    train, dashboard = built.train, built.dashboard
    queued = queue(None, "cpu-demo", "mine", *form(max_steps=2), dashboard=dashboard, tab=train)
    assert queued[train.status_md].startswith("Queued run **#1**")
    assert [(run.name, run.config["max_steps"]) for run in store.list_runs()] == [("mine", 2)]
    refused = queue(None, "cpu-demo", "bad", *form(temperature=-1.0, lora_r=0), dashboard=dashboard, tab=train)
    assert refused[train.status_md].startswith("**Not queued:** 2 fields need a fix")
    assert refused[train.widgets["temperature"]]["info"].startswith("⚠")
    assert refused[train.widgets["lora_r"]]["info"].startswith("⚠")
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


def test_the_run_time_is_estimated_and_long_prompts_warned_about_before_queueing(store, built, tmp_path):
    def cost(**changes):
        return describe_cost(None, *form(**changes), dashboard=built.dashboard, tab=built.train)[built.train.cost_md]

    # No run timed here yet: the stated rule for the default model, and a long run in days.
    by_rule = cost(max_steps=1_000_000)
    assert "a rule: 26 ms per generated token" in by_rule
    assert "run time about 154 days (1,000,000 steps)" in by_rule  # 26 ms x 8 x 64 tokens = 13.3 s a step
    assert "unknown" in cost(model="Qwen/Qwen2.5-0.5B-Instruct")
    # A run of the same model timed at 8 rollouts x 64 tokens: twice the completion length takes twice as long.
    run = store.create_run("timed", preset("cpu-demo").to_dict())
    store.start_run(run.id, "worker-1")
    store.log_metrics(run.id, 1, {"step_time": 30.0})
    measured = cost(max_completion_length=128, max_steps=10)
    assert f"run #{run.id} of the same model took 30 s a step for 8 rollouts x 64 tokens" in measured
    assert "step time about 1.0 min, run time about 10.0 min (10 steps)" in measured

    # Long prompts for the completion length and for the small default model are warned about.
    data = tmp_path / "long.csv"  # build_tabs lets the dashboard read tmp_path (--data-dir)
    data.write_text("prompt,reference\n" + "".join(f"{'Why is the sky blue? ' * 20}{i},x\n" for i in range(3)))
    warned = cost(dataset=str(data))
    assert "Prompts are long for max_completion_length" in warned and "small default model" in warned
    assert "Prompts are long" not in cost() and "small default model" not in cost()  # the demo's short questions


def test_a_saved_config_loads_back_into_the_form(built):
    train, dashboard = built.train, built.dashboard
    saved = save(*form(max_steps=7), dashboard=dashboard, tab=train)[train.saved_file]["value"]
    loaded = load(saved, None, dashboard=dashboard, tab=train)
    assert loaded[train.widgets["max_steps"]] == 7


def upload_args(before=None, dataset="builtin:demo"):
    """The upload event's other inputs: dataset, dataset_name, dataset_config, the columns, the split, the remembered
    data."""
    return (dataset, "", "", "prompt", "reference", "split", "train", before, None)


def test_an_upload_is_kept_named_previewed_and_its_columns_mapped(built, tmp_path):
    train, dashboard = built.train, built.dashboard
    data = tmp_path / "econ mcq.csv"
    rows = [
        f"Question {i}?,{chr(65 + i % 4)},{split}"
        for i, split in enumerate(["train"] * 4 + ["validation"] * 2 + ["test"] * 2)
    ]
    data.write_text("question,answer,split\n" + "\n".join(rows) + "\nEmpty?,,train\n")
    updates = upload(str(data), *upload_args(), dashboard=dashboard, tab=train)
    kept = updates[train.widgets["dataset"]]
    assert kept.startswith(str(dashboard.places.uploads)) and kept.endswith(".csv") and "econ" not in kept
    assert updates[train.widgets["dataset_name"]] == "econ mcq.csv"
    summary = updates[train.data_md]
    assert summary.startswith("**econ mcq\\.csv**")
    assert "9 rows: train 5 · validation 2 · test 2; 4 usable for training (split \\'train\\'), 1 skipped" in summary
    assert "prompt ← question · reference ← answer · split ← split" in summary
    assert list(updates[train.preview_df]["value"].columns) == ["prompt: question", "reference: answer", "split: split"]
    assert updates[train.widgets["prompt_column"]]["value"] == "question"
    assert updates[train.widgets["reference_column"]]["choices"] == ["question", "answer", "split"]
    assert updates[train.before_upload_state]["dataset"] == "builtin:demo"
    remapped = remap(kept, "answer", "question", "split", "train", None, dashboard=dashboard, tab=train)
    assert "prompt ← answer" in remapped[train.data_md]

    queued = queue(
        None,
        "cpu-demo",
        "econ",
        *form(dataset=kept, dataset_name="econ mcq.csv", prompt_column="question", reference_column="answer"),
        dashboard=dashboard,
        tab=train,
    )
    assert "on econ mcq\\.csv" in queued[train.status_md]
    shown = preview(*form(dataset=kept, dataset_name="econ mcq.csv"), tab=train)[train.command_code]["value"]
    assert shown.endswith("  # data: econ mcq.csv")


def test_a_messages_upload_previews_the_prompt_and_reference_a_run_takes(built, tmp_path):
    train, dashboard = built.train, built.dashboard
    data = tmp_path / "chat.jsonl"
    conversations = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        [{"role": "user", "content": "Capital of *France*?"}, {"role": "assistant", "content": "Paris"}],
    ]
    conversations[0].append({"role": "assistant", "content": "4"})
    data.write_text("".join(json.dumps({"messages": m, "source": "mine"}) + "\n" for m in conversations))
    args = list(upload_args(dataset="openai/gsm8k"))
    args[2] = "main"  # the hub config typed before: a file has none, so the upload clears it
    updates = upload(str(data), *args, dashboard=dashboard, tab=train)
    preview = updates[train.preview_df]["value"]
    assert list(preview.columns)[:2] == [
        "prompt: messages (last user turn)",
        "reference: messages (last assistant turn)",
    ]
    assert preview.iloc[:, :2].values.tolist() == [["What is 2+2?", "4"], ["Capital of *France*?", "Paris"]]
    summary = updates[train.data_md]
    assert (
        "prompt ← messages (last user turn) · reference ← messages (last assistant turn); not used: source" in summary
    )
    assert "2 rows; 2 usable for training" in summary
    assert (
        updates[train.widgets["dataset_config"]] == ""
        and updates[train.before_upload_state]["dataset_config"] == "main"
    )
    restored = clear_upload(updates[train.before_upload_state], tab=train)
    assert restored[train.widgets["dataset_config"]] == "main"


def test_a_typed_saved_dataset_folder_is_summarised(built, tmp_path):
    import datasets

    train, dashboard = built.train, built.dashboard
    chat = [[{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]] * 3
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"messages": chat})}).save_to_disk(tmp_path / "saved")
    shown = remap(str(tmp_path / "saved"), "prompt", "reference", "split", "test", None, dashboard=dashboard, tab=train)
    assert (
        "prompt ← messages (last user turn)" in shown[train.data_md] and "3 usable for training" in shown[train.data_md]
    )
    missing = remap(
        str(tmp_path / "saved"), "prompt", "reference", "split", "train", None, dashboard=dashboard, tab=train
    )
    assert "no split \\'train\\'" in missing[train.data_md]


def test_clearing_the_upload_puts_back_the_data_before_it(built, tmp_path):
    train, dashboard = built.train, built.dashboard
    data = tmp_path / "q.csv"
    data.write_text("question,answer\nWhat?,this\n")
    first = upload(str(data), *upload_args(), dashboard=dashboard, tab=train)
    before = first[train.before_upload_state]
    # A second upload over the first keeps what was there before both.
    second = upload(
        str(data), *upload_args(before, dataset=first[train.widgets["dataset"]]), dashboard=dashboard, tab=train
    )
    assert second[train.before_upload_state] == before
    cleared = clear_upload(second[train.before_upload_state], tab=train)
    assert cleared[train.widgets["dataset"]]["value"] == "builtin:demo"
    assert cleared[train.widgets["dataset_name"]] == ""
    assert cleared[train.widgets["prompt_column"]]["value"] == "prompt"
    assert cleared[train.before_upload_state] is None and cleared[train.preview_df]["visible"] is False
    unknown = clear_upload(None, tab=train)  # nothing remembered: no data, and the field says so
    assert unknown[train.widgets["dataset"]]["value"] == "" and unknown[train.widgets["dataset"]]["info"].startswith(
        "⚠"
    )


def test_a_reload_restores_the_form_and_only_a_file_the_dashboard_owns(built, tmp_path):
    train, dashboard = built.train, built.dashboard
    data = tmp_path / "q.csv"
    data.write_text("question,answer\nWhat?,this\n")
    kept = upload(str(data), *upload_args(), dashboard=dashboard, tab=train)[train.widgets["dataset"]]
    values = {**preset("paper").to_dict(), "dataset": kept, "dataset_name": "q.csv", "prompt_column": "question"}
    saved = {"preset": "paper", "values": {**values, "max_steps": "many", "loss_type": "not a choice"}}
    restored = restore(saved, None, dashboard=dashboard, tab=train)
    assert restored[train.preset_dd]["value"] == "paper"
    assert restored[train.widgets["lora_r"]]["value"] == preset("paper").lora_r
    assert restored[train.widgets["dataset"]]["value"] == kept
    assert restored[train.widgets["prompt_column"]] == {**restored[train.widgets["prompt_column"]], "value": "question"}
    assert "**q\\.csv**" in restored[train.data_md] and restored[train.preview_df]["visible"] is True
    assert train.widgets["max_steps"] not in restored and train.widgets["loss_type"] not in restored  # wrong types
    for elsewhere in ("/etc/passwd", str(dashboard.places.uploads / "gone.csv")):
        dropped = restore({"values": {**values, "dataset": elsewhere}}, None, dashboard=dashboard, tab=train)
        assert (
            dropped[train.widgets["dataset"]]["value"] == "" and dropped[train.widgets["dataset_name"]]["value"] == ""
        )
        assert "gone or not one this dashboard may read" in dropped[train.data_md]
    # Nothing saved changes nothing, as one skipped output: Gradio reads an empty dict as a value and fails the load.
    nothing = restore(None, None, dashboard=dashboard, tab=train)
    assert list(nothing) == [train.preset_dd] and nothing[train.preset_dd] == gr.skip()


def test_a_broken_upload_is_refused_with_its_line(built, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "reference": "b"}\n{not json\n')
    updates = upload(str(broken), *upload_args(), dashboard=built.dashboard, tab=built.train)
    assert updates[built.train.data_md].startswith("**Upload refused:**") and "line 2" in updates[built.train.data_md]
    assert set(updates) == {built.train.data_md, built.train.preview_df}
