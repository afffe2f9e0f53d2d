import pytest

from nover_ui.queue import queue_run
from nover_ui.runs_tab import runs_frame
from training.config import ConfigError, RunConfig, preset


def test_a_valid_config_is_queued_with_every_field_filled_in(store):
    run = queue_run(store, "demo", {"max_steps": 2, "format_example": True})
    assert run.status == "queued"
    assert RunConfig.from_dict(run.config) == RunConfig(max_steps=2, format_example=True)


@pytest.mark.parametrize("config", [
    {"max_stpes": 2},                 # unknown key
    {"max_steps": "two"},             # wrong type
    {"num_generations": 1},           # impossible value
    {"temperature": -1.0},
])
def test_a_refused_config_creates_no_run(store, config):
    with pytest.raises(ConfigError):
        queue_run(store, "bad", config)
    assert store.list_runs() == []


def test_runs_frame_shows_progress_and_the_first_line_of_an_error(store):
    failed = queue_run(store, "broken", preset("cpu-demo").to_dict())
    store.claim_next_run("w")
    store.heartbeat(failed.id, step=10, total_steps=40)
    store.finish_run(failed.id, "failed", "ValueError: bad column\n\nTraceback ...")
    store.create_run("waiting", {})
    frame = runs_frame(store.list_runs())
    assert list(frame["name"]) == ["waiting", "broken"]
    row = frame.iloc[1]
    assert (row["status"], row["progress"], row["worker"], row["error"]) == (
        "failed", "10/40 (25%)", "w", "ValueError: bad column")
    assert frame.iloc[0]["progress"] == "" and frame.iloc[0]["started"] == ""
