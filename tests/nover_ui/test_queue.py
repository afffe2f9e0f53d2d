import pytest

from nover_ui.places import PlaceRefused, Places
from nover_ui.queue import queue_evaluations, queue_playground
from nover_ui.queue import queue_run as queue_checked_run
from nover_ui.runs_table import read_runs, runs_frame
from training.config import PRESETS, ConfigError, RunConfig, preset
from training.data import DataError
from training.job_config import EvaluationJob, PlaygroundJob, job_from_dict
from training.needs import Capabilities


@pytest.fixture
def queue_run(tmp_path):
    """queue_run of a dashboard whose operator allows reading tmp_path (where these tests write their data)."""
    places = Places(tmp_path / "home", (tmp_path,))
    return lambda store, name, config: queue_checked_run(store, name, config, places)


def test_a_valid_config_is_queued_with_every_field_filled_in(store, queue_run):
    run = queue_run(store, "demo", {"max_steps": 2, "format_example": True})
    assert run.status == "queued"
    assert RunConfig.from_dict(run.config) == RunConfig(max_steps=2, format_example=True)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_queued_with_its_defaults(store, tmp_path, name):
    places = Places(tmp_path / "home")  # a dashboard that allows no folder: presets need none
    run = queue_checked_run(store, name, preset(name).to_dict(), places)
    assert RunConfig.from_dict(store.get_run(run.id).config) == preset(name)


@pytest.mark.parametrize(
    "config",
    [
        {"max_stpes": 2},  # unknown key
        {"max_steps": "two"},  # wrong type
        {"num_generations": 1},  # impossible value
        {"temperature": -1.0},
    ],
)
def test_a_refused_config_creates_no_run(store, queue_run, config):
    with pytest.raises(ConfigError):
        queue_run(store, "bad", config)
    assert store.list_runs() == []


def test_data_that_cannot_train_is_refused_before_a_run_exists(store, queue_run, tmp_path):
    no_columns = tmp_path / "notes.csv"
    no_columns.write_text("question,answer\nWhat is 2+2?,4\n")
    empty = tmp_path / "empty_refs.csv"
    empty.write_text("prompt,reference\nWhat is 2+2?,\nWhat is 3+3?,  \n")
    with pytest.raises(DataError, match="no column 'prompt' or 'reference'; the columns are 'question', 'answer'"):
        queue_run(store, "bad", {"dataset": str(no_columns)})
    with pytest.raises(DataError, match="no usable rows"):
        queue_run(store, "bad", {"dataset": str(empty), "dataset_split": "train"})
    with pytest.raises(DataError, match="not found"):
        queue_run(store, "bad", {"dataset": str(tmp_path / "missing.csv")})
    assert store.list_runs() == []
    renamed = queue_run(
        store, "mapped", {"dataset": str(no_columns), "prompt_column": "question", "reference_column": "answer"}
    )
    assert renamed.status == "queued"


def test_a_hub_dataset_id_is_left_to_the_worker(store, queue_run):
    assert queue_run(store, "hub", {"dataset": "some-org/some-dataset"}).status == "queued"


@pytest.mark.parametrize(
    "field, value",
    [
        ("dataset", "/etc/passwd.csv"),
        ("dataset", "/etc"),
        ("dataset", "../../secrets.csv"),
        ("dataset", "~/.cache/creds.jsonl"),
        ("model", "/root"),
        ("model", "../models/x"),
    ],
)
def test_a_path_outside_the_dashboards_places_is_refused_unopened(store, tmp_path, field, value):
    places = Places(tmp_path / "home")  # no --data-dir
    with pytest.raises(ValueError, match="cannot (read|use model)") as refused:
        queue_checked_run(store, "probe", {field: value}, places)
    assert "not found" not in str(refused.value) and store.list_runs() == []


def test_uploads_models_and_operator_folders_are_readable_through_symlinks_only_inside(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "creds.csv").write_text("prompt,reference\nuser,password\n")
    uploads = tmp_path / "home" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "link.csv").symlink_to(outside / "creds.csv")
    (uploads / "data.csv").write_text("prompt,reference\nWhat?,this\n")
    places = Places(tmp_path / "home")
    assert queue_checked_run(store, "upload", {"dataset": str(uploads / "data.csv")}, places).status == "queued"
    with pytest.raises(ValueError, match="cannot read"):  # a symlink out of the uploads is outside
        queue_checked_run(store, "link", {"dataset": str(uploads / "link.csv")}, places)
    with pytest.raises(ValueError, match="cannot read"):
        queue_checked_run(store, "dots", {"dataset": str(uploads / ".." / ".." / "outside" / "creds.csv")}, places)
    allowed = Places(tmp_path / "home", (outside,))
    assert queue_checked_run(store, "allowed", {"dataset": str(outside / "creds.csv")}, allowed).status == "queued"


def test_a_saved_dataset_folder_is_read_at_queue_time_only_inside_the_places(store, tmp_path):
    import datasets  # the UI never imports it at module level; the test writes the folder as a user would

    outside, allowed = tmp_path / "outside", tmp_path / "allowed"
    chat = [[{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]]
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"messages": chat})}).save_to_disk(outside / "saved")
    datasets.Dataset.from_dict({"prompt": ["q"], "reference": [""]}).save_to_disk(allowed / "empty")
    (allowed / "link").symlink_to(outside / "saved")
    places = Places(tmp_path / "home", (allowed,))
    for refused in (outside / "saved", allowed / "link", allowed / ".." / "outside" / "saved"):
        with pytest.raises(PlaceRefused, match="cannot read .*a folder the operator allows with --data-dir"):
            queue_checked_run(store, "probe", {"dataset": str(refused)}, places)
    with pytest.raises(DataError, match="empty has no usable rows"):  # read here, not left to the worker
        queue_checked_run(store, "empty", {"dataset": str(allowed / "empty")}, places)
    with pytest.raises(ConfigError, match="a folder saved with save_to_disk, which has none") as config:
        queue_checked_run(
            store, "config", {"dataset": str(outside / "saved"), "dataset_config": "main"}, Places(tmp_path, (outside,))
        )
    assert config.value.field == "dataset_config" and store.list_runs() == []
    inside = Places(tmp_path / "home", (outside,))
    assert queue_checked_run(store, "saved", {"dataset": str(outside / "saved")}, inside).status == "queued"
    hub = queue_checked_run(store, "hub", {"dataset": "openai/gsm8k", "dataset_config": "main"}, inside)
    assert hub.config["dataset_config"] == "main"  # left to the worker, which passes it to load_dataset


def test_runs_frame_shows_progress_and_the_first_line_of_an_error(store, queue_run):
    failed = queue_run(store, "broken", preset("cpu-demo").to_dict())
    store.claim_next_run("w")
    store.heartbeat(failed.id, step=10, total_steps=40)
    store.finish_run(failed.id, "failed", "ValueError: bad column\n\nTraceback ...")
    store.create_run("waiting", {})
    frame = runs_frame(store.list_runs())
    assert list(frame["name"]) == ["waiting", "broken"]
    row = frame.iloc[1]
    assert (row["status"], row["progress"], row["worker"], row["error"]) == (
        "failed",
        "10/40 (25%)",
        "w",
        "ValueError: bad column",
    )
    assert frame.iloc[0]["progress"] == "" and frame.iloc[0]["started"] == ""


def test_queue_evaluations_for_base_and_checkpoints_on_the_runs_data_or_a_file(store, tmp_path):
    run = store.create_run("r", {"model": "org/Tiny-Model", "dataset": "builtin:demo"})
    ids = queue_evaluations(store, run.id, [8, 4], True, "test", 8.0, 1.0, 0.0)  # number widgets hand back floats
    jobs = [store.get_evaluation(i) for i in ids]
    assert [(j.kind, j.run_id, j.checkpoint_step, j.dataset, j.model) for j in jobs] == [
        ("evaluation", None, None, "builtin:demo", "org/Tiny-Model"),
        ("evaluation", run.id, 4, "builtin:demo", "org/Tiny-Model"),
        ("evaluation", run.id, 8, "builtin:demo", "org/Tiny-Model"),
    ]
    # The run's config resolved at the click and stored whole: the worker rebuilds exactly this job.
    expected = EvaluationJob(run_config=RunConfig.from_dict(run.config), split="test", max_prompts=8, samples=1, seed=0)
    assert all(job_from_dict(j.kind, j.config) == expected for j in jobs)
    assert jobs[0].config["run_config"] == RunConfig.from_dict(run.config).to_dict()
    [other] = queue_evaluations(store, run.id, [], True, "test", 8, 1, 0, dataset=str(tmp_path / "held_out.csv"))
    assert store.get_evaluation(other).dataset == str(tmp_path / "held_out.csv")


def test_a_playground_job_stores_its_resolved_config_and_a_base_model_job_needs_no_run(store):
    run = store.create_run("r", {"model": "org/Tiny-Model", "temperature": 0.3})
    store.add_checkpoint(run.id, 4, "/c4")
    jobs = queue_playground(store, run.id, "  Hi?  ", " 5 ", ["base", "4", "none", "4"], 3.0)
    assert [label for label, _ in jobs] == ["base model", f"run {run.id} · step 4"]
    rows = [store.get_evaluation(job_id) for _, job_id in jobs]
    assert [(r.kind, r.run_id, r.checkpoint_step, r.model) for r in rows] == [
        ("playground", None, None, "org/Tiny-Model"),
        ("playground", run.id, 4, "org/Tiny-Model"),
    ]
    expected = PlaygroundJob(run_config=RunConfig.from_dict(run.config), prompts=("Hi?",), reference="5", seed=3)
    assert all(job_from_dict(r.kind, r.config) == expected for r in rows)
    [(_, alone)] = queue_playground(store, None, "Hi?", "", ["base"], 0)
    job = job_from_dict("playground", store.get_evaluation(alone).config)
    assert (job.run_config, job.reference) == (preset("cpu-demo"), None)


EVALUATION_REFUSALS = [
    # (max_prompts, samples, seed, split, steps, include_base, dataset): field, message
    ((1e30, 1, 0, "test", [], True, ""), "max_prompts", "max_prompts must be from 1 to 10,000, got 1e\\+30"),
    ((8, 65, 0, "test", [], True, ""), "samples", "samples must be from 1 to 64, got 65"),
    ((8, 1, -1, "test", [], True, ""), "seed", "seed must be from 0 to 4,294,967,295, got -1"),
    ((8, 1, 0.5, "test", [], True, ""), "seed", "seed must be a whole number from 0 to 4,294,967,295, got 0.5"),
    (
        (None, 1, 0, "test", [], True, ""),
        "max_prompts",
        "max_prompts must be a whole number from 1 to 10,000, got None",
    ),
    ((8, 1, 0, " ", [], True, ""), "split", "split must name a split of the data"),
    ((8, 1, 0, "test", [], False, ""), "steps", "choose the base model, a checkpoint, or both"),
    ((8, 1, 0, "test", [], True, "d" * 1025), "dataset", "dataset has at most 1,024 characters, got 1,025"),
]


@pytest.mark.parametrize("values, field, message", EVALUATION_REFUSALS)
def test_a_refused_evaluation_names_its_form_field_and_writes_no_row(store, values, field, message):
    max_prompts, samples, seed, split, steps, include_base, dataset = values
    run = store.create_run("r", {"model": "org/m", "dataset": "builtin:demo"})
    with pytest.raises(ConfigError, match=message) as refused:
        queue_evaluations(store, run.id, steps, include_base, split, max_prompts, samples, seed, dataset)
    assert refused.value.field == field
    assert store.list_evaluations() == []


PLAYGROUND_REFUSALS = [
    # (prompt, reference, models, seed): field, message
    (("  ", "", ["base"], 0), "prompt", "type a prompt \\(or pick one of the run's\\)"),
    (("x" * 20_001, "", ["base"], 0), "prompt", "each prompt has at most 20,000 characters, got 20,001"),
    (("Hi?", "r" * 20_001, ["base"], 0), "reference", "reference has at most 20,000 characters"),
    (("Hi?", "", ["base"], 2**40), "seed", "seed must be from 0 to 4,294,967,295, got 1,099,511,627,776"),
    (("Hi?", "", ["none", ""], 0), "models", "choose at least one model"),
    (("Hi?", "", ["base", "step four"], 0), "models", "a model is 'base' or a checkpoint's step"),
]


@pytest.mark.parametrize("values, field, message", PLAYGROUND_REFUSALS)
def test_a_refused_playground_job_names_its_form_field_and_writes_no_row(store, values, field, message):
    prompt, reference, models, seed = values
    run = store.create_run("r", {"model": "org/m"})
    with pytest.raises(ConfigError, match=message) as refused:
        queue_playground(store, run.id, prompt, reference, models, seed)
    assert refused.value.field == field
    assert store.list_evaluations() == []


def test_a_checkpoint_without_a_run_is_refused_before_the_base_models_job_is_written(store):
    with pytest.raises(ConfigError, match="a checkpoint belongs to a run; pick the run first") as refused:
        queue_playground(store, None, "Hi?", "", ["base", "4"], 0)
    assert refused.value.field == "models" and store.list_evaluations() == []


def test_jobs_open_only_the_dashboards_places(store, tmp_path):
    places = Places(tmp_path / "home")
    # An imported run's config was never checked: its own data and model are checked when a job is queued.
    imported = store.create_run("imported", {"model": "org/m", "dataset": "/etc/creds.csv"})
    with pytest.raises(ConfigError, match="cannot read '/etc/creds.csv'") as refused:
        queue_evaluations(store, imported.id, [], True, "test", 8, 1, 0, places=places)
    assert refused.value.field == "run_id"
    run = store.create_run("r", {"model": "org/m", "dataset": "builtin:demo"})
    with pytest.raises(ConfigError, match="cannot read") as refused:
        queue_evaluations(store, run.id, [], True, "test", 8, 1, 0, dataset=str(tmp_path / "x.csv"), places=places)
    assert refused.value.field == "dataset"
    local_model = store.create_run("local", {"model": "/root/model", "dataset": "builtin:demo"})
    with pytest.raises(ConfigError, match="cannot use model '/root/model'") as refused:
        queue_playground(store, local_model.id, "Hi?", "", ["base"], 0, places)
    assert refused.value.field == "run_id"
    with pytest.raises(ConfigError, match="cannot use model '/root/model'"):
        queue_evaluations(store, local_model.id, [], True, "test", 8, 1, 0, places=places)
    assert store.list_evaluations() == []


def test_a_run_whose_stored_config_is_invalid_is_refused_naming_the_run(store):
    broken = store.create_run("imported", {"temperature": -1.0})
    for queue in (
        lambda: queue_evaluations(store, broken.id, [], True, "test", 8, 1, 0),
        lambda: queue_playground(store, broken.id, "Hi?", "", ["base"], 0),
    ):
        with pytest.raises(ConfigError, match=f"run {broken.id}'s stored config cannot be used: temperature") as no:
            queue()
        assert no.value.field == "run_id"
    assert store.list_evaluations() == []


def test_a_run_no_live_worker_can_train_is_refused_naming_the_field_and_the_fix(store, queue_run):
    store.register_worker("laptop:1", "laptop", Capabilities(torch="2.13.0").to_dict())
    with pytest.raises(ConfigError, match="quantization 4bit needs bitsandbytes: pip install bitsandbytes") as bnb:
        queue_run(store, "qlora", {"quantization": "4bit"})
    with pytest.raises(ConfigError, match="device cuda needs a CUDA GPU: start a worker on a machine with one") as cuda:
        queue_run(store, "gpu", {"device": "cuda"})
    assert (bnb.value.field, cuda.value.field) == ("quantization", "device")
    assert store.list_runs() == []
    assert queue_run(store, "plain", {"max_steps": 2}).status == "queued"


def test_a_run_is_queued_when_one_live_worker_can_train_it_or_none_is_live_to_ask(store, queue_run):
    assert queue_run(store, "before any worker", {"device": "cuda"}).status == "queued"
    store.register_worker("laptop:1", "laptop", Capabilities().to_dict())
    store.register_worker("gpu:1", "gpu", Capabilities(cuda=True, gpus=1, bf16=True, bitsandbytes=True).to_dict())
    assert queue_run(store, "qlora on the gpu", {"device": "cuda", "quantization": "4bit"}).status == "queued"
    store.forget_worker("gpu:1")
    with pytest.raises(ConfigError, match="device cuda needs a CUDA GPU"):
        queue_run(store, "qlora on the gpu", {"device": "cuda", "quantization": "4bit"})


def test_the_runs_table_says_why_a_queued_run_waits_for_a_worker_that_can_train_it(store, queue_run):
    gpu = queue_run(store, "gpu", {"device": "cuda"})  # no live worker yet to ask
    plain = queue_run(store, "plain", {})
    assert set(read_runs(store).frame["status"]) == {"queued"}
    store.register_worker("laptop:1", "laptop", Capabilities().to_dict())
    store.create_run("a change of the runs, which the table is read on", RunConfig().to_dict())
    frame = read_runs(store).frame
    status = dict(zip(frame["id"], frame["status"]))
    assert status[gpu.id] == "queued · no live worker: device cuda needs a CUDA GPU"
    assert status[plain.id] == "queued"
