"""What survives `kill -9` of the app mid-run, and the --interrupted policy (fail | resume) applied once.

The app-level tests start the real app (tests/app_entry.py: app.py whose worker processes are the real
worker with the stand-in trainer, so a step takes 0.05 s instead of a model's time), queue a run through
gradio_client, SIGKILL the app, restart it and look at the run and its rows. Before one of the kills, eight
browser-free readers (gradio_client, one per thread) poll the app while the run writes steps: the same app and run
show both, at the cost of one app start.
"""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time

import pytest

import app
from storage import InvalidTransition, Store
from tests.app_process import AppProcess, gone, worker_pid
from tests.helpers import rollout_row, wait_for
from tests.readers import read_concurrently
from training import worker
from training.config import preset

HEARTBEAT_TIMEOUT_S = 3.0
READERS = 8
POLLS = 5


# ---- the policy in the Store: one transaction, applied once ---------------------------------------------


def running_run(store: Store, checkpoint_step: int | None = 4, **overrides) -> int:
    run = store.create_run("r", preset("cpu-demo", **overrides).to_dict())
    store.claim_next_run("w")
    store.log_step(run.id, 1, {"reward": 0.5}, [rollout_row()])
    if checkpoint_step is not None:
        store.add_checkpoint(run.id, checkpoint_step, f"/ckpt/{checkpoint_step}")
    return run.id


def children(store: Store, run_id: int) -> list:
    return [run for run in store.list_runs() if run.parent_id == run_id]


def test_resume_policy_queues_one_linked_run_from_the_last_checkpoint(store):
    run_id = running_run(store, checkpoint_step=4)
    assert store.fail_stale_runs(-1, resume=True) == [run_id]
    [child] = children(store, run_id)
    failed = store.get_run(run_id)
    assert failed.status == "failed" and failed.error.endswith(f"resumed from step 4 as run {child.id}")
    assert (child.status, child.config, child.name) == ("queued", failed.config, "r (resumed from step 4)")
    assert store.fail_stale_runs(-1, resume=True) == []  # already failed: nothing more to resume


def test_a_run_resumed_again_and_again_keeps_a_name_that_fits(store):
    run_id = running_run(store)
    for _ in range(12):
        store.fail_stale_runs(-1, resume=True)
        [child] = children(store, run_id)
        store.claim_next_run("w")
        store.add_checkpoint(child.id, 4, "/ckpt/4")
        run_id = child.id
    assert len(store.get_run(run_id).name) <= 200


def test_fail_policy_and_unresumable_runs_queue_nothing(store):
    plain = running_run(store)
    assert store.fail_stale_runs(-1) == [plain]
    no_checkpoint = running_run(store, checkpoint_step=None, checkpoint_steps=50)
    cancelling = running_run(store)
    store.request_cancel(cancelling)
    assert sorted(store.fail_stale_runs(-1, resume=True)) == [no_checkpoint, cancelling]
    assert all(children(store, run_id) == [] for run_id in (plain, no_checkpoint, cancelling))
    assert "not resumed: it saved no checkpoint (checkpoint_steps=50)" in store.get_run(no_checkpoint).error


def test_a_worker_interrupting_a_run_already_failed_as_stale_queues_nothing(store):
    run_id = running_run(store)
    store.fail_stale_runs(-1, resume=True)
    with pytest.raises(InvalidTransition):
        store.interrupt_run(run_id, "interrupted", resume=True)
    assert len(children(store, run_id)) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_noticing_the_same_interruption_at_once_resume_it_once(backend, request):
    """Eight Stores (own connections) race: four stale checks (app, workers) and four shutting-down workers."""
    url = request.getfixturevalue("db_url" if backend == "sqlite" else "postgres_url")
    store = Store(url)
    racers = [Store(url) for _ in range(8)]
    try:
        for _ in range(5):
            run_id = running_run(store)
            barrier = threading.Barrier(len(racers))
            errors: list[BaseException] = []

            def race(racer: Store, as_worker: bool, barrier=barrier, run_id=run_id, errors=errors) -> None:
                barrier.wait()
                try:
                    if as_worker:
                        racer.interrupt_run(run_id, "interrupted", resume=True)
                    else:
                        racer.fail_stale_runs(-1, resume=True)
                except InvalidTransition:
                    pass  # someone else failed it first
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=race, args=(racer, i % 2 == 0)) for i, racer in enumerate(racers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            assert store.get_run(run_id).status == "failed"
            assert len(children(store, run_id)) == 1
    finally:
        for each in (store, *racers):
            each.close()


def test_the_policy_is_a_flag_or_variable_and_reaches_the_workers(tmp_path, capsys):
    assert app.parse_settings([], env={}).interrupted == "fail"
    settings = app.parse_settings(["--home", str(tmp_path)], env={"NOVER_UI_INTERRUPTED": "resume"})
    command = app.worker_command(settings)
    assert worker.parse_args([*command[3:], "--db", settings.db]).interrupted == "resume"
    with pytest.raises(SystemExit):
        app.parse_settings(["--interrupted", "retry"], env={})
    assert "--interrupted must be one of fail, resume, got 'retry'" in capsys.readouterr().err


def test_a_worker_shut_down_mid_run_queues_its_resumption_under_the_resume_policy(store, tmp_path):
    run = store.create_run("r", preset("cpu-demo", max_steps=100, checkpoint_steps=2).to_dict())
    shutdown = threading.Event()

    def trainer(config, sink, context):
        for step in (1, 2, 3):
            sink.log_metrics(step, {"reward": 0.0})
        sink.log_checkpoint(2, str(context.workdir / "checkpoint-2"))
        shutdown.set()  # the app went away during step 3
        assert sink.should_stop()

    worker.run_worker(store, trainer, tmp_path, once=True, shutdown=shutdown, resume_interrupted=True)
    [child] = children(store, run.id)
    assert store.get_run(run.id).error == (
        f"interrupted: the worker was shut down before the run finished; resumed from step 2 as run {child.id}"
    )
    assert child.status == "queued"


# ---- kill -9 of the real app ---------------------------------------------------------------------------


def committed(store: Store, run_id: int) -> tuple[dict, dict]:
    """Every metric point by (key, step) and every rollout by id."""
    metrics = {
        (key, step): value
        for key, series in store.get_metrics(run_id).items()
        for step, value in zip(series.steps, series.values)
    }
    return metrics, {rollout.id: rollout for rollout in store.get_rollouts(run_id)}


def failed(store: Store, run_id: int):
    run = store.get_run(run_id)
    return run if run.status == "failed" else None


@pytest.mark.slow
@pytest.mark.parametrize("worker_killed_too", [False, True])
def test_kill_9_of_the_app_keeps_committed_steps_and_applies_the_policy(tmp_path, worker_killed_too):
    """worker_killed_too=False: eight readers poll the run while it writes (readers_see_whole_steps_and_no_errors);
    then the worker outlives the app, notices within 2 s, ends after its step and applies the resume policy. True (a
    machine crash): the run is left running until the restarted app's worker fails it as stale. The fail policy,
    which only leaves out the resumed run, is tested in the Store above and where the worker applies it
    (tests/training/test_worker.py: shut down, and stale)."""
    app = AppProcess(tmp_path, "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT_S), "--interrupted", "resume")
    store = Store(app.db_url)
    try:
        client = app.start()
        run = app.queue_endless_run(client, store, steps=20, checkpoint_steps=5)
        if not worker_killed_too:
            readers_see_whole_steps_and_no_errors(app.url, run["id"])
        pid = worker_pid(store.get_run(run["id"]).worker_id)
        before_metrics, before_rollouts = committed(store, run["id"])

        app.kill()
        if worker_killed_too:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: gone(pid), 30, "the orphaned worker to exit")
        interrupted = store.get_run(run["id"])
        print(
            f"\n[worker killed too: {worker_killed_too}] after kill -9: run {interrupted.status} at "
            f"step {interrupted.step}, worker gone; before kill: {len(before_metrics)} metric points, "
            f"{len(before_rollouts)} rollouts"
        )
        if worker_killed_too:
            assert interrupted.status == "running"  # nobody alive to notice until the restart
            wait_for(
                lambda: store.get_run(run["id"]).heartbeat_at.timestamp() < time.time() - HEARTBEAT_TIMEOUT_S,
                30,
                "the heartbeat to go stale",
            )
        else:
            assert interrupted.status == "failed" and "worker was shut down" in interrupted.error

        client = app.start()
        ended = wait_for(lambda: failed(store, run["id"]), 60, "the run to be failed")
        after_metrics, after_rollouts = committed(store, run["id"])
        print(
            f"  after restart: run {ended.status} ({ended.error}); {len(after_metrics)} metric points, "
            f"{len(after_rollouts)} rollouts"
        )
        assert before_metrics.items() <= after_metrics.items()
        assert before_rollouts.items() <= after_rollouts.items()
        per_step: dict[int, int] = {}
        for rollout in after_rollouts.values():
            per_step[rollout.step] = per_step.get(rollout.step, 0) + 1
        assert set(per_step.values()) == {16}  # whole steps only
        assert set(per_step) == {step for _, step in after_metrics}

        linked = [r for r in client.predict(api_name="/list_runs") if r["parent_id"] == run["id"]]
        [child] = linked
        assert ended.error.endswith(f"as run {child['id']}")
        wait_for(lambda: (store.latest_step(child["id"]) or 0) >= 3, 60, "the resumed run to train")
        print(f"  resumed as run {child['id']}: {store.get_run(child['id']).status}")
        client.predict(run_id=child["id"], api_name="/cancel_run")
        wait_for(lambda: store.get_run(child["id"]).status == "cancelled", 30, "the resumed run to be cancelled")
    finally:
        app.stop()
        store.close()


def readers_see_whole_steps_and_no_errors(url: str, run_id: int) -> None:
    """Eight readers, each with its own client, poll the real app at once while its worker process writes steps:
    every poll answers, sees only whole steps, never goes back, and the run keeps writing while they read."""
    logs = read_concurrently(url, run_id, READERS, POLLS)
    assert [log.problems for log in logs] == [[]] * READERS
    assert all(len(log.latencies_s) == POLLS for log in logs)
    first = min(log.last_steps[0] for log in logs)
    last = max(log.last_steps[-1] for log in logs)
    assert last > first  # the run kept writing while they read
    latencies = sorted(latency for log in logs for latency in log.latencies_s)
    print(
        f"\n{READERS} readers x {POLLS} polls while the run went from step {first} to {last}: poll latency "
        f"median {statistics.median(latencies) * 1e3:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1e3:.0f} ms"
    )
