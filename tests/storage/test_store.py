import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update

from storage import InvalidTransition, RunNotFound, StorageError, Store
from storage.models import Prompt, Run
from tests.helpers import rollout_row, step_rows


def test_create_run_returns_a_frozen_queued_record(store):
    run = store.create_run("first", {"max_steps": 3})
    assert (run.name, run.status, run.config, run.step) == ("first", "queued", {"max_steps": 3}, 0)
    assert run.created_at.tzinfo is dt.UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = "running"
    assert store.get_run(run.id) == run


def test_create_run_refuses_empty_name_and_writes_nothing(store):
    with pytest.raises(StorageError, match="non-empty name"):
        store.create_run("  ", {})
    # PostgreSQL enforces the column's length; the Store refuses a longer name on every backend alike.
    with pytest.raises(StorageError, match="at most 200 characters, got 201"):
        store.create_run("x" * 201, {})
    assert store.list_runs() == []
    assert store.create_run("x" * 200, {}).name == "x" * 200


def test_list_runs_is_newest_first_and_filters_by_status(store):
    a, b, c = (store.create_run(name, {}) for name in "abc")
    store.claim_next_run("w")
    assert [r.id for r in store.list_runs()] == [c.id, b.id, a.id]
    assert [r.id for r in store.list_runs(["queued"])] == [c.id, b.id]


def test_missing_run_raises_run_not_found(store):
    with pytest.raises(RunNotFound, match="run 42 does not exist"):
        store.get_run(42)


def test_claim_takes_the_oldest_queued_run_and_stamps_it(store):
    first = store.create_run("first", {})
    store.create_run("second", {})
    claimed = store.claim_next_run("worker-a")
    assert claimed.id == first.id
    assert (claimed.status, claimed.worker_id) == ("running", "worker-a")
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert store.claim_next_run("worker-b").name == "second"
    assert store.claim_next_run("worker-c") is None


def test_concurrent_claims_never_hand_out_a_run_twice(db_url):
    seed = Store(db_url)
    ids = {seed.create_run(f"run {i}", {}).id for i in range(40)}
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        store = Store(db_url)  # each thread its own engine, as separate processes would have
        while (run := store.claim_next_run(worker)) is not None:
            with lock:
                claimed.append(run.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_heartbeat_updates_progress_and_refuses_a_run_that_is_not_running(store):
    run = store.create_run("r", {})
    with pytest.raises(InvalidTransition, match="queued, not running"):
        store.heartbeat(run.id, 1, 10)
    claimed = store.claim_next_run("w")
    store.heartbeat(run.id, step=3, total_steps=10)
    after = store.get_run(run.id)
    assert (after.step, after.total_steps) == (3, 10)
    assert after.heartbeat_at >= claimed.heartbeat_at


def test_cancel_of_a_queued_run_is_immediate(store):
    run = store.create_run("r", {})
    cancelled = store.request_cancel(run.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert store.claim_next_run("w") is None


def test_cancel_of_a_running_run_sets_the_flag_for_its_worker(store):
    run = store.create_run("r", {})
    store.claim_next_run("w")
    assert not store.is_cancel_requested(run.id)
    assert store.request_cancel(run.id).status == "running"
    assert store.is_cancel_requested(run.id)
    assert store.finish_run(run.id, "cancelled").status == "cancelled"


def test_a_running_runs_phase_is_set_by_its_worker_kept_while_cancelling_and_gone_when_it_ends(store):
    run = store.create_run("r", {})
    with pytest.raises(InvalidTransition, match="not running"):
        store.set_phase(run.id, "loading the model")  # a queued run does nothing yet
    store.claim_next_run("w")
    assert store.get_run(run.id).phase is None
    assert store.set_phase(run.id, "loading the model").phase == "loading the model"
    assert store.set_phase(run.id, None).phase is None  # steps flow
    with pytest.raises(StorageError, match="at most 40 characters"):
        store.set_phase(run.id, "x" * 41)
    assert store.request_cancel(run.id).phase == "cancelling"
    assert store.set_phase(run.id, "first generation").phase == "cancelling"  # a late report hides no cancel
    assert store.set_phase(run.id, None).phase == "cancelling"
    assert store.finish_run(run.id, "cancelled").phase is None
    stale = store.start_run(store.create_run("stale", {}).id, "w")
    store.set_phase(stale.id, "converting the model")
    assert store.interrupt_run(stale.id, "worker gone").phase is None


def test_finish_stamps_time_and_error_and_allows_no_second_ending(store):
    run = store.create_run("r", {})
    store.claim_next_run("w")
    failed = store.finish_run(run.id, "failed", "ValueError: boom")
    assert (failed.status, failed.error) == ("failed", "ValueError: boom")
    assert failed.finished_at >= failed.started_at
    with pytest.raises(InvalidTransition, match="cannot go from failed to succeeded"):
        store.finish_run(run.id, "succeeded")


@pytest.mark.parametrize("status", ["queued", "running", "bogus"])
def test_finish_refuses_non_terminal_statuses(store, status):
    run = store.create_run("r", {})
    store.claim_next_run("w")
    with pytest.raises(InvalidTransition):
        store.finish_run(run.id, status)


def test_fail_stale_runs_fails_only_silent_running_runs(store, db_url):
    silent, alive = store.create_run("silent", {}), store.create_run("alive", {})
    queued = store.create_run("queued", {})
    store.claim_next_run("w1")
    store.claim_next_run("w2")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with store._session("age a heartbeat", write=True) as s:
        s.execute(update(Run).where(Run.id == silent.id).values(heartbeat_at=long_ago))
    assert store.fail_stale_runs(60) == [silent.id]
    failed = store.get_run(silent.id)
    assert failed.status == "failed" and failed.error.startswith("worker stopped responding (no heartbeat for 3")
    assert store.get_run(alive.id).status == "running"
    assert store.get_run(queued.id).status == "queued"
    assert store.fail_stale_runs(60) == []


def test_log_step_writes_metrics_and_rollouts_together(store):
    run = store.create_run("r", {})
    store.claim_next_run("w")
    store.log_step(run.id, 1, {"reward": 0.5, "loss": 2.0}, step_rows(), total_steps=10, heartbeat=True)
    store.log_step(run.id, 2, {"reward": 0.75}, step_rows())
    metrics = store.get_metrics(run.id)
    assert metrics["reward"].steps == (1, 2) and metrics["reward"].values == (0.5, 0.75)
    assert metrics["loss"].steps == (1,)
    assert metrics["reward"].wall_times[0] <= metrics["reward"].wall_times[1]
    assert list(store.get_metrics(run.id, keys=["loss"])) == ["loss"]
    assert len(store.get_rollouts(run.id)) == 32
    assert store.latest_step(run.id) == 2
    assert (store.get_run(run.id).step, store.get_run(run.id).total_steps) == (1, 10)


def test_rollouts_round_trip_every_field(store):
    run = store.create_run("r", {})
    row = rollout_row(1, 3, truncated=True, perplexity=None, extras={"nll": [0.25]})
    store.log_rollouts(run.id, 7, [row])
    [got] = store.get_rollouts(run.id)
    assert {key: getattr(got, key) for key in row} == row
    assert (got.run_id, got.step) == (run.id, 7)


def test_optional_rollout_fields_default_to_empty(store):
    run = store.create_run("r", {})
    store.log_rollouts(
        run.id,
        1,
        [
            dict(
                group_index=0,
                sample_index=0,
                prompt="p",
                reference="r",
                completion="c",
                reward=0.0,
                completion_tokens=1,
            )
        ],
    )
    [got] = store.get_rollouts(run.id)
    assert (got.reasoning, got.perplexity, got.advantage, got.truncated, got.format_valid) == (
        None,
        None,
        None,
        False,
        False,
    )


def test_prompts_are_stored_once_and_identify_a_prompt_across_steps(store):
    run = store.create_run("r", {})
    for step in (1, 2, 3):
        store.log_rollouts(run.id, step, step_rows(groups=2, group_size=4))
    with store._session("count prompts") as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 2
    first = store.get_rollouts(run.id, step=1, group_index=1)
    across = store.get_rollouts(run.id, prompt_id=first[0].prompt_id)
    assert [r.step for r in across] == [1] * 4 + [2] * 4 + [3] * 4
    assert {r.prompt for r in across} == {"question 1?"}


def test_get_rollouts_filters_orders_and_limits(store):
    run, other = store.create_run("r", {}), store.create_run("other", {})
    store.log_rollouts(other.id, 1, step_rows())
    store.log_rollouts(run.id, 2, list(reversed(step_rows())))
    store.log_rollouts(run.id, 1, step_rows())
    step2 = store.get_rollouts(run.id, step=2)
    assert [(r.group_index, r.sample_index) for r in step2] == [(g, s) for g in range(2) for s in range(8)]
    assert len(store.get_rollouts(run.id, limit=5)) == 5
    assert {r.step for r in store.get_rollouts(run.id)} == {1, 2}


def test_a_bad_row_fails_the_whole_step(store):
    run = store.create_run("r", {})
    with pytest.raises(StorageError, match="unknown keys \\['rewrad'\\]"):
        store.log_step(run.id, 1, {"reward": 1.0}, step_rows() + [{**rollout_row(), "rewrad": 1}])
    with pytest.raises(StorageError, match="could not log step 1"):
        # Passes the key check but violates NOT NULL in the database, after the metrics were inserted.
        store.log_step(run.id, 1, {"reward": 1.0}, step_rows() + [rollout_row(completion=None)])
    assert store.get_metrics(run.id) == {} and store.get_rollouts(run.id) == []
    assert store.latest_step(run.id) is None


def test_a_step_logged_twice_is_refused(store):
    run = store.create_run("r", {})
    store.log_metrics(run.id, 1, {"reward": 1.0})
    # Each backend words it its own way: "UNIQUE constraint failed", "violates unique constraint".
    with pytest.raises(StorageError, match="(?i)unique constraint"):
        store.log_metrics(run.id, 1, {"reward": 2.0})
    assert store.get_metrics(run.id)["reward"].values == (1.0,)


def test_logging_to_a_missing_run_is_refused(store):
    with pytest.raises(RunNotFound):
        store.log_step(99, 1, {"reward": 1.0})


def test_checkpoints_are_listed_by_step(store):
    run = store.create_run("r", {})
    store.add_checkpoint(run.id, 20, "/ckpt/20")
    store.add_checkpoint(run.id, 10, "/ckpt/10")
    assert [(c.step, c.path) for c in store.list_checkpoints(run.id)] == [(10, "/ckpt/10"), (20, "/ckpt/20")]


def test_delete_run_removes_its_rows_but_refuses_a_running_run(store):
    keep, gone = store.create_run("keep", {}), store.create_run("gone", {})
    for run in (keep, gone):
        store.log_step(run.id, 1, {"reward": 1.0}, step_rows())
        store.add_checkpoint(run.id, 1, "/c")
    store.claim_next_run("w")  # claims "keep"
    with pytest.raises(InvalidTransition, match="is running"):
        store.delete_run(keep.id)
    store.delete_run(gone.id)
    with pytest.raises(RunNotFound):
        store.get_run(gone.id)
    assert store.get_rollouts(gone.id) == [] and store.get_metrics(gone.id) == {}
    assert store.list_checkpoints(gone.id) == []
    assert len(store.get_rollouts(keep.id)) == 16 and store.list_checkpoints(keep.id)


def test_resumed_run_links_to_its_parent(store):
    parent = store.create_run("parent", {})
    child = store.create_run("child", {}, parent_id=parent.id)
    assert child.parent_id == parent.id


def test_evaluations_with_samples(store):
    run = store.create_run("r", {})
    base = store.queue_evaluation("evaluation", "base-model", "gt.csv:test", {})
    ckpt = store.queue_evaluation("evaluation", "base-model", "gt.csv:test", {}, run_id=run.id, checkpoint_step=20)
    store.claim_next_evaluation("w")
    assert store.claim_next_evaluation("w").id == ckpt.id
    store.log_evaluation_samples(
        ckpt.id,
        [
            dict(
                sample_index=i,
                prompt=f"q{i}",
                reference="4",
                completion="<answer>4</answer>",
                answer="4",
                format_valid=True,
                perplexity=1.5,
                correct=i == 0,
            )
            for i in range(3)
        ],
    )
    done = store.finish_evaluation(ckpt.id, "succeeded", {"format_valid_rate": 1.0})
    assert (done.status, done.metrics) == ("succeeded", {"format_valid_rate": 1.0})
    assert [e.id for e in store.list_evaluations()] == [base.id, ckpt.id]
    assert [e.id for e in store.list_evaluations(run_id=run.id)] == [ckpt.id]
    samples = store.get_evaluation_samples(ckpt.id)
    assert [s.correct for s in samples] == [True, False, False] and samples[0].reasoning is None
    with pytest.raises(StorageError, match="not 'running'"):
        store.finish_evaluation(base.id, "running")


def test_unusable_urls_fail_with_a_clear_message(tmp_path):
    with pytest.raises(StorageError, match="cannot open database .*unable to open database file"):
        Store(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    with pytest.raises(StorageError, match="is not usable"):
        Store("not a url")
    with pytest.raises(StorageError, match="is not usable"):
        Store("mysql://user@host/db")


def test_sqlite_settings_are_applied_on_every_connection(sqlite_url):
    # SQLite only: PostgreSQL has no such per-connection settings.
    store = Store(sqlite_url)
    with store._session("read pragmas") as s:
        pragmas = {
            name: s.connection().exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    store.close()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_start_run_claims_one_particular_queued_run(store):
    older, wanted = store.create_run("older", {}), store.create_run("wanted", {})
    started = store.start_run(wanted.id, "cli")
    assert (started.status, started.worker_id) == ("running", "cli") and started.started_at is not None
    assert store.get_run(older.id).status == "queued"
    with pytest.raises(InvalidTransition):
        store.start_run(wanted.id, "cli")


def test_nul_characters_in_model_text_are_stored_as_replacement_characters(store):
    # PostgreSQL text cannot hold NUL; a model that emits one must not fail its run's step on either backend.
    run = store.start_run(store.create_run("nul", {}).id, "w")
    store.log_step(
        run.id, 1, {"reward": 1.0}, [rollout_row(prompt="q\0?", completion="<think>a\0b</think>", reasoning="a\0b")]
    )
    [stored] = store.get_rollouts(run.id)
    assert (stored.prompt, stored.completion, stored.reasoning) == ("q\ufffd?", "<think>a\ufffdb</think>", "a\ufffdb")
