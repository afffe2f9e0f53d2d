import pytest

from nover_ui.places import Places
from nover_ui.queue import queue_run as queue_checked_run
from nover_ui.runs_table import runs_frame
from training.config import ConfigError, RunConfig, preset
from training.data import DataError


@pytest.fixture
def queue_run(tmp_path):
    """queue_run of a dashboard whose operator allows reading tmp_path (where these tests write their data)."""
    places = Places(tmp_path / "home", (tmp_path,))
    return lambda store, name, config: queue_checked_run(store, name, config, places)


def test_a_valid_config_is_queued_with_every_field_filled_in(store, queue_run):
    run = queue_run(store, "demo", {"max_steps": 2, "format_example": True})
    assert run.status == "queued"
    assert RunConfig.from_dict(run.config) == RunConfig(max_steps=2, format_example=True)


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
