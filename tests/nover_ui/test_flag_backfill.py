"""The start-up backfill of failure flags, on a real database of each backend: rows stored without flags, or by
an older flag set, get the flags the worker would have stored; rows of the current flag set are left alone."""

import threading
from pathlib import Path

import pytest

from nover_ui.flag_backfill import backfill_flags, run_tags, start_flag_backfill
from storage import Store
from tests.helpers import rollout_row
from training.config import preset
from training.flags import DEFAULT_TAGS, FLAGS_VERSION, TagSettings, flag_step

LOOPING = "go on go on go on go on go on go on"
STORY_TWICE = "once</story><rubric>a</rubric><rubric>b</rubric>"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_store(request, tmp_path: Path):
    url = (
        f"sqlite:///{tmp_path / 'nover_ui.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = Store(url)
    yield store
    store.close()


def old_step(store: Store, run_id: int, step: int, rows: list[dict]) -> None:
    """A step as a version before stored flags wrote it: no flags, no flags_version."""
    store.log_rollouts(run_id, step, rows)


def flags_by_sample(store: Store, run_id: int, step: int) -> list[tuple[tuple[str, ...] | None, int | None]]:
    return [(r.flags, r.flags_version) for r in store.get_rollouts(run_id, step=step)]


def test_old_rows_get_the_flags_the_worker_would_have_stored(backend_store):
    store = backend_store
    config = preset("cpu-demo", intermediate_tag="story", final_tag="rubric", prefill_intermediate=True)
    story = store.create_run("story", config.to_dict())
    plain = store.create_run("plain", preset("cpu-demo").to_dict())
    broken = store.create_run("broken", {"learning_rate": "not a number"})  # flagged with the default tags
    story_rows = [rollout_row(0, 0, completion=STORY_TWICE, format_valid=False), rollout_row(0, 1, truncated=True)]
    plain_rows = [
        rollout_row(0, s, reasoning_tokens=n, completion=LOOPING if s == 2 else f"<think>{s}</think><answer>a</answer>")
        for s, n in enumerate([10, 10, 40])
    ]
    old_step(store, story.id, 1, story_rows)
    old_step(store, plain.id, 1, plain_rows)
    old_step(store, plain.id, 2, [rollout_row(0, 0, answer=" ")])
    old_step(store, broken.id, 5, [rollout_row(0, 0, completion=STORY_TWICE, format_valid=False)])
    # An older flag set's verdict is redone; the current set's is kept as stored (it is never recomputed).
    store.log_rollouts(plain.id, 3, [rollout_row(0, 0, truncated=True, flags=[], flags_version=FLAGS_VERSION - 1)])
    store.log_rollouts(plain.id, 4, [rollout_row(0, 0, flags=["repetition"], flags_version=FLAGS_VERSION)])
    assert store.flag_backlog(FLAGS_VERSION) == [
        (story.id, 1),
        (plain.id, 1),
        (plain.id, 2),
        (plain.id, 3),
        (broken.id, 5),
    ]

    assert backfill_flags(store, batch_rollouts=2) == 8

    def worker_flags(run_id: int, step: int, rows: list[dict], tags: TagSettings) -> list:
        flagged, _ = flag_step(step, rows, tags)
        return [(tuple(row["flags"]), FLAGS_VERSION) for row in flagged]

    assert flags_by_sample(store, story.id, 1) == worker_flags(story.id, 1, story_rows, TagSettings.of(config))
    assert flags_by_sample(store, story.id, 1) == [
        (("malformed tags",), FLAGS_VERSION),
        (("truncated",), FLAGS_VERSION),
    ]
    assert [flags for flags, _ in flags_by_sample(store, plain.id, 1)] == [(), (), ("repetition", "long reasoning")]
    assert flags_by_sample(store, plain.id, 2) == [(("empty answer",), FLAGS_VERSION)]
    assert flags_by_sample(store, plain.id, 3) == [(("truncated",), FLAGS_VERSION)]
    assert flags_by_sample(store, plain.id, 4) == [(("repetition",), FLAGS_VERSION)]
    assert flags_by_sample(store, broken.id, 5) == [(("missing tags",), FLAGS_VERSION)]
    assert store.flag_backlog(FLAGS_VERSION) == [] and backfill_flags(store) == 0


def test_a_later_flag_set_is_backfilled_the_same_way(backend_store):
    store = backend_store
    run = store.create_run("r", preset("cpu-demo").to_dict())
    rows, _ = flag_step(1, [rollout_row(0, 0, truncated=True)], DEFAULT_TAGS)
    store.log_rollouts(run.id, 1, rows)
    assert store.flag_backlog(FLAGS_VERSION) == []
    assert store.flag_backlog(FLAGS_VERSION + 1) == [(run.id, 1)]  # what a raised FLAGS_VERSION would find
    store.set_rollout_flags({store.get_rollouts(run.id)[0].id: ["truncated", "new flag"]}, FLAGS_VERSION + 1)
    assert flags_by_sample(store, run.id, 1) == [(("truncated", "new flag"), FLAGS_VERSION + 1)]
    # An older flag set (an older dashboard still running) never overwrites a newer one's flags.
    store.set_rollout_flags({store.get_rollouts(run.id)[0].id: []}, FLAGS_VERSION)
    assert flags_by_sample(store, run.id, 1) == [(("truncated", "new flag"), FLAGS_VERSION + 1)]


def test_rows_of_a_deleted_run_are_skipped_and_a_set_stop_ends_the_backfill(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    run = store.create_run("r", {})
    old_step(store, run.id, 1, [rollout_row(0, 0)])
    store.set_rollout_flags({12345: ["truncated"]}, FLAGS_VERSION)  # no such rollout: nothing to do
    stop = threading.Event()
    stop.set()
    assert backfill_flags(store, stop) == 0 and store.flag_backlog(FLAGS_VERSION) == [(run.id, 1)]
    store.delete_run(run.id)
    assert backfill_flags(store) == 0
    store.close()


def test_the_start_up_thread_fills_the_flags_without_holding_up_its_caller(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nover_ui.db'}")
    run = store.create_run("r", preset("cpu-demo").to_dict())
    old_step(store, run.id, 1, [rollout_row(0, 0, truncated=True)])
    thread = start_flag_backfill(store, threading.Event())
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert flags_by_sample(store, run.id, 1) == [(("truncated",), FLAGS_VERSION)]
    store.close()


def test_run_tags_reads_the_runs_config_and_falls_back_to_the_defaults(store):
    config = preset("cpu-demo", intermediate_tag="story", final_tag="rubric", prefill_intermediate=False)
    assert run_tags(store.create_run("r", config.to_dict())) == TagSettings("story", "rubric", "")
    assert run_tags(store.create_run("bad", {"max_steps": -1})) == DEFAULT_TAGS
