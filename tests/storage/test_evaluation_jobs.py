import dataclasses
import datetime as dt
import threading

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from storage import EvaluationNotFound, InvalidTransition, RunNotFound, Status, StorageError, Store
from storage.migrate import alembic_config

SETTINGS = {"split": "test", "max_prompts": 8, "samples": 1, "seed": 0, "judge": "base"}


def sample_row(i: int, **overrides):
    row = dict(
        sample_index=i,
        prompt=f"q{i}",
        reference="4",
        completion="<think>\n2+2\n</think>\n<answer>\n4\n</answer>",
        reasoning="2+2",
        answer="4",
        format_valid=True,
        perplexity=1.5,
        correct=i == 0,
        extras={"completion_tokens": 12, "example_id": f"e{i}", "seed": 0},
    )
    row.update(overrides)
    return row


def test_queue_returns_a_frozen_queued_record_with_every_field(store):
    run = store.create_run("r", {})
    job = store.queue_evaluation("evaluation", "base-model", "gt.csv", SETTINGS, run_id=run.id, checkpoint_step=20)
    assert (job.kind, job.model, job.dataset, job.config, job.run_id, job.checkpoint_step, job.status) == (
        "evaluation",
        "base-model",
        "gt.csv",
        SETTINGS,
        run.id,
        20,
        "queued",
    )
    assert job.created_at.tzinfo is dt.UTC
    assert (job.started_at, job.finished_at, job.heartbeat_at, job.worker_id, job.metrics, job.error) == (None,) * 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.status = "running"
    assert store.get_evaluation(job.id) == job


@pytest.mark.parametrize(
    "kind, model, config, run_id, step, message",
    [
        (" ", "m", {}, None, None, "kind is a name of 1 to 16 characters, got ' '"),
        ("k" * 17, "m", {}, None, None, "kind is a name of 1 to 16 characters"),
        ("evaluation", "  ", {}, None, None, "needs a model"),
        ("playground", "m", ["hi"], None, None, "config is a dict"),
        ("evaluation", "m", {}, None, 20, "both run_id and checkpoint_step"),
    ],
)
def test_queue_refuses_bad_requests_and_writes_nothing(store, kind, model, config, run_id, step, message):
    with pytest.raises(StorageError, match=message):
        store.queue_evaluation(kind, model, "d", config, run_id=run_id, checkpoint_step=step)
    assert store.list_evaluations() == []


def test_queue_for_a_missing_run_raises_run_not_found(store):
    with pytest.raises(RunNotFound, match="run 7 does not exist"):
        store.queue_evaluation("evaluation", "m", "d", {}, run_id=7, checkpoint_step=1)


def test_get_evaluation_of_a_missing_id_says_so(store):
    with pytest.raises(EvaluationNotFound, match="evaluation 3 does not exist"):
        store.get_evaluation(3)
    for write in (store.cancel_evaluation, store.heartbeat_evaluation):
        with pytest.raises(EvaluationNotFound, match="evaluation 3 does not exist"):
            write(3)
    with pytest.raises(EvaluationNotFound):
        store.finish_evaluation(3, Status.FAILED, error="gone")


def test_the_store_keeps_a_kind_it_does_not_know_for_the_worker_to_refuse(store):
    """Kinds are listed once, in training/job_config.py; storage cannot import training: it keeps what it is given."""
    job = store.queue_evaluation("benchmark", "m", "d", {})
    assert store.get_evaluation(job.id).kind == "benchmark"


def test_claim_takes_the_oldest_queued_job_of_either_kind_and_stamps_it(store):
    first = store.queue_evaluation("playground", "m", "playground", {"prompts": ["hi"]})
    second = store.queue_evaluation("evaluation", "m", "gt.csv", SETTINGS)
    claimed = store.claim_next_evaluation("worker-a")
    assert (claimed.id, claimed.status, claimed.worker_id) == (first.id, "running", "worker-a")
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert store.claim_next_evaluation("worker-b").id == second.id
    assert store.claim_next_evaluation("worker-c") is None


def test_claims_skip_cancelled_jobs(store):
    gone = store.queue_evaluation("evaluation", "m", "d", {})
    kept = store.queue_evaluation("evaluation", "m", "d", {})
    assert store.cancel_evaluation(gone.id).status == "cancelled"
    assert store.claim_next_evaluation("w").id == kept.id


def test_concurrent_claims_never_hand_out_a_job_twice(db_url):
    seed = Store(db_url)
    ids = {seed.queue_evaluation("evaluation", "m", f"d{i}", {}).id for i in range(40)}
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        store = Store(db_url)  # each thread its own engine, as separate processes would have
        while (job := store.claim_next_evaluation(worker)) is not None:
            with lock:
                claimed.append(job.id)
        store.close()

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert {job.status for job in seed.list_evaluations()} == {"running"}
    seed.close()


def test_samples_round_trip_and_the_job_finishes_with_its_metrics(store):
    job = store.queue_evaluation("evaluation", "m", "gt.csv", SETTINGS)
    store.claim_next_evaluation("w")
    rows = [sample_row(i) for i in range(3)] + [
        sample_row(
            3, completion="no tags", reasoning=None, answer=None, format_valid=False, perplexity=None, correct=False
        )
    ]
    store.log_evaluation_samples(job.id, rows)
    done = store.finish_evaluation(job.id, "succeeded", {"format_valid_rate": 0.75, "verifier_accuracy": None})
    assert (done.status, done.metrics, done.error) == (
        "succeeded",
        {"format_valid_rate": 0.75, "verifier_accuracy": None},
        None,
    )
    assert done.finished_at >= done.started_at
    samples = store.get_evaluation_samples(job.id)
    assert [s.sample_index for s in samples] == [0, 1, 2, 3]
    for sample, row in zip(samples, rows):
        assert {key: getattr(sample, key) for key in row} == row
        assert sample.evaluation_id == job.id


def test_optional_sample_fields_default_to_empty(store):
    job = store.queue_evaluation("playground", "m", "playground", {"prompts": ["q"]})
    store.claim_next_evaluation("w")
    store.log_evaluation_samples(job.id, [dict(sample_index=0, prompt="q", reference="", completion="hi")])
    [sample] = store.get_evaluation_samples(job.id)
    assert (sample.reasoning, sample.answer, sample.format_valid, sample.perplexity, sample.correct, sample.extras) == (
        None,
        None,
        False,
        None,
        None,
        None,
    )


def test_samples_and_endings_are_refused_unless_the_job_runs(store):
    job = store.queue_evaluation("evaluation", "m", "d", {})
    with pytest.raises(InvalidTransition, match="queued, not running"):
        store.log_evaluation_samples(job.id, [sample_row(0)])
    with pytest.raises(InvalidTransition, match="cannot go from queued to succeeded"):
        store.finish_evaluation(job.id, "succeeded", {})
    with pytest.raises(StorageError, match="not 'running'"):
        store.finish_evaluation(job.id, "running")
    store.claim_next_evaluation("w")
    store.finish_evaluation(job.id, "failed", error="no such model")
    with pytest.raises(InvalidTransition, match="cannot go from failed to succeeded"):
        store.finish_evaluation(job.id, "succeeded", {})
    assert store.get_evaluation(job.id).error == "no such model"


def test_a_bad_sample_row_is_refused_naming_the_keys(store):
    job = store.queue_evaluation("evaluation", "m", "d", {})
    store.claim_next_evaluation("w")
    with pytest.raises(StorageError, match=r"unknown keys \['score'\]"):
        store.log_evaluation_samples(job.id, [sample_row(0, score=1.0)])
    assert store.get_evaluation_samples(job.id) == []


def test_cancel_ends_queued_and_running_jobs_and_leaves_ended_ones(store):
    queued = store.queue_evaluation("evaluation", "m", "d", {})
    running = store.queue_evaluation("evaluation", "m", "d", {})
    ended = store.queue_evaluation("evaluation", "m", "d", {})
    for _ in range(2):
        store.claim_next_evaluation("w")  # claims queued and running (oldest first)
    store.finish_evaluation(queued.id, "succeeded", {})
    store.cancel_evaluation(queued.id)
    assert store.get_evaluation(queued.id).status == "succeeded"
    assert store.cancel_evaluation(running.id).status == "cancelled"
    assert store.cancel_evaluation(ended.id).finished_at is not None
    # The worker of a cancelled job finds out when it reports: its results are refused.
    with pytest.raises(InvalidTransition):
        store.log_evaluation_samples(running.id, [sample_row(0)])
    with pytest.raises(InvalidTransition):
        store.finish_evaluation(running.id, "succeeded", {})


def test_heartbeat_refreshes_a_running_job_and_refuses_others(store):
    job = store.queue_evaluation("evaluation", "m", "d", {})
    with pytest.raises(InvalidTransition, match="queued, not running"):
        store.heartbeat_evaluation(job.id)
    claimed = store.claim_next_evaluation("w")
    store.heartbeat_evaluation(job.id)
    assert store.get_evaluation(job.id).heartbeat_at >= claimed.heartbeat_at


def test_fail_stale_evaluations_fails_only_silent_running_jobs(store):
    silent = store.queue_evaluation("evaluation", "m", "d", {})
    store.queue_evaluation("evaluation", "m", "d", {})  # stays queued: queued jobs have no worker to lose
    store.claim_next_evaluation("w")
    assert store.fail_stale_evaluations(60) == []
    assert store.fail_stale_evaluations(-1) == [silent.id]
    failed = store.get_evaluation(silent.id)
    assert failed.status == "failed" and failed.error.startswith("worker stopped responding")
    assert [job.status for job in store.list_evaluations()] == ["failed", "queued"]
    assert store.fail_stale_runs(-1) == []  # runs and evaluations are checked separately


def test_list_filters_by_run_kind_and_status_oldest_first(store):
    run = store.create_run("r", {})
    base = store.queue_evaluation("evaluation", "m", "d", SETTINGS)
    ckpt = store.queue_evaluation("evaluation", "m", "d", SETTINGS, run_id=run.id, checkpoint_step=4)
    play = store.queue_evaluation("playground", "m", "playground", {"prompts": ["q"]})
    store.claim_next_evaluation("w")
    assert [e.id for e in store.list_evaluations()] == [base.id, ckpt.id, play.id]
    assert [e.id for e in store.list_evaluations(run_id=run.id)] == [ckpt.id]
    assert [e.id for e in store.list_evaluations(kind="playground")] == [play.id]
    assert [e.id for e in store.list_evaluations(statuses=["queued"])] == [ckpt.id, play.id]


def test_deleting_a_run_deletes_its_checkpoint_evaluations_and_their_samples(store):
    run = store.create_run("r", {})
    job = store.queue_evaluation("evaluation", "m", "d", {}, run_id=run.id, checkpoint_step=4)
    base = store.queue_evaluation("evaluation", "m", "d", {})
    store.claim_next_evaluation("w")
    store.log_evaluation_samples(job.id, [sample_row(0)])
    store.finish_evaluation(job.id, "succeeded", {})
    store.delete_run(run.id)
    assert [e.id for e in store.list_evaluations()] == [base.id]
    assert store.get_evaluation_samples(job.id) == []


def migrate(connection, revision: str, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def test_evaluations_of_an_older_database_become_evaluation_jobs_on_upgrade(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        migrate(connection, "0002")
        connection.execute(
            text(
                "INSERT INTO evaluations (model, dataset, status, created_at) "
                "VALUES ('m', 'gt.csv', 'succeeded', '2025-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = Store(db_url)
    [old] = store.list_evaluations()
    assert (old.kind, old.config, old.status, old.worker_id, old.started_at) == (
        "evaluation",
        None,
        "succeeded",
        None,
        None,
    )
    store.close()


def test_the_evaluation_jobs_migration_downgrades(store):
    store.queue_evaluation("playground", "m", "playground", {"prompts": ["q"]})
    with store._engine.begin() as connection:
        migrate(connection, "0002", down=True)
    columns = {c["name"] for c in inspect(store._engine).get_columns("evaluations")}
    assert {"kind", "config", "worker_id", "started_at", "heartbeat_at"} & columns == set()
    assert "model" in columns


def test_the_jobs_version_changes_with_every_queue_start_end_and_delete_and_only_for_its_jobs(store):
    assert store.evaluations_version(kind="evaluation") == (0, 0, "", "", "")
    run = store.create_run("r", {})
    versions = [store.evaluations_version(kind="evaluation")]
    job = store.queue_evaluation("evaluation", "m", "d", SETTINGS, run_id=run.id, checkpoint_step=2)
    versions.append(store.evaluations_version(kind="evaluation"))
    playground = store.queue_evaluation("playground", "m", "playground", SETTINGS)
    assert store.evaluations_version(kind="evaluation") == versions[-1]  # another kind's job: no change
    store.claim_next_evaluation("w")
    versions.append(store.evaluations_version(kind="evaluation"))
    store.finish_evaluation(job.id, "succeeded")
    versions.append(store.evaluations_version(kind="evaluation"))
    store.delete_run(run.id)  # its checkpoint's evaluation goes with it
    versions.append(store.evaluations_version(kind="evaluation"))
    assert all(before != after for before, after in zip(versions, versions[1:]))
    assert store.evaluations_version(ids=[playground.id])[:2] == (1, playground.id)
    assert store.evaluations_version(ids=[]) == (0, 0, "", "", "")


def test_a_held_out_evaluation_is_recorded_finished_with_its_metrics_and_never_claimed(store):
    from storage import HELDOUT_KIND

    run = store.start_run(store.create_run("r", {"model": "m", "dataset": "builtin:demo"}).id, "w")
    sample = dict(sample_index=0, prompt="q", reference="4", completion="c", format_valid=False)
    recorded = store.record_heldout_evaluation(run.id, 0, {"judge": "base"}, {"eval/format_valid": 0.0}, [sample])
    assert (recorded.kind, recorded.status, recorded.checkpoint_step, recorded.model) == (
        HELDOUT_KIND,
        "succeeded",
        0,
        "m",
    )
    assert store.get_metrics(run.id)["eval/format_valid"].steps == (0,)
    assert [s.prompt for s in store.get_evaluation_samples(recorded.id)] == ["q"]
    assert store.claim_next_evaluation("w") is None
    store.finish_run(run.id, "succeeded")
    with pytest.raises(InvalidTransition):
        store.record_heldout_evaluation(run.id, 2, {}, {"eval/format_valid": 1.0}, [])
    assert store.get_metrics(run.id)["eval/format_valid"].steps == (0,)  # nothing of the refused one was written
