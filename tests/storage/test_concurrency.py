"""Several processes on one database: a writer and a poller, and two workers sharing a queue."""

import multiprocessing
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage import StorageError, Store
from tests.helpers import step_rows
from training.config import preset

ROOT = Path(__file__).resolve().parents[2]
STEPS, ROWS_PER_STEP = 200, 16


def write_steps(db_url: str, run_id: int) -> None:
    store = Store(db_url)
    rows = step_rows(groups=2, group_size=ROWS_PER_STEP // 2)
    for step in range(1, STEPS + 1):
        store.log_step(run_id, step, {"reward": step / STEPS, "loss": 1.0}, rows, total_steps=STEPS, heartbeat=True)


def poll(db_url: str, run_id: int, writer_done, results) -> None:
    """Read what a dashboard reads, as fast as possible, until the writer is done; report errors."""
    store = Store(db_url)
    errors, polls = [], 0
    while True:
        finished = writer_done.is_set()
        try:
            store.list_runs()
            latest = store.latest_step(run_id)
            if latest is not None:
                store.get_rollouts(run_id, step=latest)
            store.get_metrics(run_id)
            polls += 1
        except StorageError as exc:
            errors.append(str(exc))
        if finished:
            break
    results.put((polls, errors))


@pytest.mark.slow
def test_a_poller_reads_without_errors_while_another_process_writes(db_url):
    store = Store(db_url)
    run = store.create_run("busy", {})
    store.claim_next_run("writer")
    ctx = multiprocessing.get_context("spawn")
    writer_done, results = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=poll, args=(db_url, run.id, writer_done, results))
    writer = ctx.Process(target=write_steps, args=(db_url, run.id))
    reader.start()
    writer.start()
    writer.join(timeout=300)
    writer_done.set()
    polls, errors = results.get(timeout=60)
    reader.join(timeout=60)
    assert writer.exitcode == 0
    assert errors == []
    assert polls > 10
    assert len(store.get_rollouts(run.id)) == STEPS * ROWS_PER_STEP
    assert store.get_metrics(run.id)["reward"].steps == tuple(range(1, STEPS + 1))


@pytest.mark.slow
def test_two_worker_processes_claim_each_queued_run_exactly_once(db_url, tmp_path):
    store = Store(db_url)
    runs = [store.create_run(f"run {i}", preset("cpu-demo", max_steps=3).to_dict()) for i in range(4)]
    # --wait-running 2: each worker's first run waits until both workers hold one, so their claims overlap and
    # both certainly work, however their start-up times differ.
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.worker_entry",
                "--db",
                db_url,
                "--home",
                str(tmp_path),
                "--until-idle",
                "--worker-id",
                f"w{i}",
                "--step-seconds",
                "0.05",
                "--wait-running",
                "2",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    finished = [store.get_run(run.id) for run in runs]
    assert [run.status for run in finished] == ["succeeded"] * 4, outputs
    # Every run claimed once, by the worker recorded on it.
    claims = [
        (worker, int(run_id))
        for output in outputs
        for worker, run_id in re.findall(r"worker (\S+): running run (\d+) ", output)
    ]
    assert sorted(claims) == sorted((run.worker_id, run.id) for run in finished)
    for run in runs:
        # A run trained twice would have logged its steps twice: metrics (which the unique index would refuse)
        # and rollouts (which nothing would refuse).
        assert store.get_metrics(run.id)["reward"].steps == (1, 2, 3)
        assert len(store.get_rollouts(run.id)) == 3 * 16
    assert {run.worker_id for run in finished} == {"w0", "w1"}
    store.close()


def test_a_postgresql_claim_passes_over_a_run_another_worker_holds(postgres_url):
    # PostgreSQL only: its claim is SELECT ... FOR UPDATE SKIP LOCKED; SQLite has no row locks (its claims wait
    # for the one write lock instead).
    store = Store(postgres_url)
    first, second = store.create_run("first", {}), store.create_run("second", {})
    claimed = []
    other_worker = create_engine(postgres_url)
    with other_worker.begin() as connection:  # mid-claim: it holds the oldest queued run's row
        connection.execute(text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": first.id})
        claim = threading.Thread(target=lambda: claimed.append(store.claim_next_run("w")))
        claim.start()
        claim.join(timeout=60)
        assert not claim.is_alive(), "the claim waited for the locked run instead of passing over it"
    other_worker.dispose()
    assert [run.id for run in claimed] == [second.id]
    assert store.get_run(first.id).status == "queued"
    store.close()


def test_a_claim_passes_over_runs_this_worker_cannot_train_and_keeps_the_oldest_first(db_url):
    store = Store(db_url)
    gpu_only, first, also_gpu, second = (
        store.create_run(name, {"device": device})
        for name, device in (("gpu 1", "cuda"), ("cpu 1", "cpu"), ("gpu 2", "cuda"), ("cpu 2", "cpu"))
    )

    def cpu_worker(config):
        return config["device"] != "cuda"

    assert store.claim_next_run("cpu", cpu_worker).id == first.id
    assert store.claim_next_run("cpu", cpu_worker).id == second.id
    assert store.claim_next_run("cpu", cpu_worker) is None  # only runs it cannot train are left
    assert [store.get_run(run.id).status for run in (gpu_only, also_gpu)] == ["queued", "queued"]
    assert store.claim_next_run("gpu").id == gpu_only.id  # a worker that can run anything takes the oldest
    store.close()


def test_a_postgresql_claim_with_a_filter_passes_over_a_runnable_run_another_worker_holds(postgres_url):
    store = Store(postgres_url)
    gpu, held, free = (store.create_run(name, {"device": d}) for name, d in (("g", "cuda"), ("h", "cpu"), ("f", "cpu")))
    claimed = []
    other_worker = create_engine(postgres_url)
    with other_worker.begin() as connection:  # mid-claim: it holds the oldest run this worker could train
        connection.execute(text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": held.id})
        claim = threading.Thread(
            target=lambda: claimed.append(store.claim_next_run("w", lambda config: config["device"] == "cpu"))
        )
        claim.start()
        claim.join(timeout=60)
        assert not claim.is_alive(), "the claim waited for the locked run instead of passing over it"
    other_worker.dispose()
    assert [run.id for run in claimed] == [free.id]
    assert [store.get_run(run.id).status for run in (gpu, held)] == ["queued", "queued"]
    store.close()
