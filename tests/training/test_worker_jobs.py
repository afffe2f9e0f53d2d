"""The worker's handling of evaluation and playground jobs, with a stand-in job function (no model)."""

import time

from tests.helpers import stepping_trainer, wait_for
from training.config import preset
from training.worker import run_claimed_job, run_worker


def finishing_job(seen=None):
    """A stand-in for training.jobs.execute: one sample, then succeeded."""

    def run(job, evaluation, checkpoints, home):
        if seen is not None:
            seen.append(evaluation.id)
        return [dict(sample_index=0, prompt="q", reference="r", completion="c")], {"samples": 1.0}

    return run


def queue_job(store, kind="evaluation"):
    config = {"seed": 0} if kind == "evaluation" else {"seed": 0, "prompts": ["q"]}
    return store.queue_evaluation(kind, "m", "d", config)


def test_a_job_whose_stored_config_is_invalid_fails_before_it_runs(store, tmp_path):
    job = store.queue_evaluation("playground", "m", "playground", {"seed": 0})  # a playground job without prompts
    seen: list[int] = []
    run_worker(store, stepping_trainer(), tmp_path, once=True, job_fn=finishing_job(seen))
    done = store.get_evaluation(job.id)
    assert seen == [] and done.status == "failed" and "prompts" in done.error


def test_queued_runs_go_before_queued_jobs_and_idle_means_neither_is_left(store, tmp_path):
    job = queue_job(store)
    run = store.create_run("r", preset("cpu-demo", max_steps=1).to_dict())
    seen: list[int] = []
    assert run_worker(store, stepping_trainer(), tmp_path, once=True, job_fn=finishing_job(seen)) == 1
    assert store.get_run(run.id).status == "succeeded" and store.get_evaluation(job.id).status == "queued"
    second = queue_job(store, "playground")
    assert (
        run_worker(store, stepping_trainer(), tmp_path, worker_id="w", until_idle=True, job_fn=finishing_job(seen)) == 2
    )
    assert seen == [job.id, second.id]
    done = store.get_evaluation(job.id)
    assert (done.status, done.worker_id, done.metrics) == ("succeeded", "w", {"samples": 1.0})
    assert len(store.get_evaluation_samples(second.id)) == 1
    assert run_worker(store, stepping_trainer(), tmp_path, once=True, job_fn=finishing_job()) == 0


def test_an_error_escaping_the_job_fails_it_with_the_error(store, tmp_path):
    job = queue_job(store)

    def broken(job, evaluation, checkpoints, home):
        raise RuntimeError("out of memory")

    run_worker(store, stepping_trainer(), tmp_path, once=True, job_fn=broken)
    done = store.get_evaluation(job.id)
    assert done.status == "failed" and done.error.startswith("RuntimeError: out of memory")


def test_a_job_cancelled_while_it_runs_stays_cancelled_and_keeps_no_samples(store, tmp_path):
    job = queue_job(store)

    def cancelled_meanwhile(job, evaluation, *inputs):
        store.cancel_evaluation(evaluation.id)  # as the UI would, while the job generates
        return finishing_job()(job, evaluation, *inputs)

    ended = run_claimed_job(store, store.claim_next_evaluation("w"), tmp_path, job_fn=cancelled_meanwhile)
    assert ended.status == "cancelled" and ended.metrics is None
    assert store.get_evaluation_samples(job.id) == []


def test_the_heartbeat_thread_beats_while_a_job_takes_long(store, tmp_path):
    job = queue_job(store)

    def slow_job(*inputs):
        first = store.get_evaluation(job.id).heartbeat_at
        wait_for(lambda: store.get_evaluation(job.id).heartbeat_at > first, 10, "a heartbeat during a long job")
        return [], {}

    ended = run_claimed_job(
        store, store.claim_next_evaluation("w"), tmp_path, heartbeat_interval_s=0.05, job_fn=slow_job
    )
    assert ended.status == "succeeded"


def test_a_starting_worker_fails_jobs_whose_worker_went_silent(store, tmp_path, capfd):
    job = queue_job(store)
    store.claim_next_evaluation("dead-worker")
    wait_for(
        lambda: store.get_evaluation(job.id).heartbeat_at.timestamp() < time.time() - 0.2, 5, "the heartbeat to age"
    )
    run_worker(store, stepping_trainer(), tmp_path, until_idle=True, heartbeat_timeout_s=0.1, job_fn=finishing_job())
    done = store.get_evaluation(job.id)
    assert done.status == "failed" and done.error.startswith("worker stopped responding")
    assert f"marked evaluation {job.id} failed" in capfd.readouterr().err
