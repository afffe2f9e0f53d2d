"""The worker registry: workers record what their machine has, and stay live while they idle or work."""

import datetime as dt

from alembic import command
from sqlalchemy import inspect, update

from storage import Store
from storage.migrate import alembic_config
from storage.models import Worker

GPU = {"cuda": True, "gpus": 2, "bf16": True, "bitsandbytes": True, "vllm": False, "torch": "2.13.0"}


def age(store: Store, worker_id: str, seconds: float) -> None:
    """Make a worker look silent for `seconds` (as if it had died that long ago)."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with store._engine.begin() as connection:
        connection.execute(update(Worker).where(Worker.id == worker_id).values(last_seen_at=then))


def test_a_registered_worker_is_live_with_its_capabilities_until_it_falls_silent(db_url):
    store = Store(db_url)
    store.register_worker("gpu-box:7", "gpu-box", GPU)
    store.register_worker("laptop:9", "laptop", {"cuda": False})
    assert [(w.id, w.host, w.capabilities) for w in store.live_workers(60)] == [
        ("gpu-box:7", "gpu-box", GPU),
        ("laptop:9", "laptop", {"cuda": False}),
    ]
    age(store, "laptop:9", 61)
    assert [w.id for w in store.live_workers(60)] == ["gpu-box:7"]
    store.touch_worker("laptop:9")  # its idle loop
    assert [w.id for w in store.live_workers(60)] == ["gpu-box:7", "laptop:9"]
    store.forget_worker("gpu-box:7")  # a clean shutdown
    assert [w.id for w in store.live_workers(60)] == ["laptop:9"]
    store.close()


def test_a_restarted_worker_starts_afresh_with_what_it_has_now(db_url):
    store = Store(db_url)
    first = store.register_worker("box:1", "box", {"cuda": False})
    age(store, "box:1", 600)
    again = store.register_worker("box:1", "box", GPU)
    assert again.capabilities == GPU and again.started_at > first.started_at
    assert [w.capabilities for w in store.live_workers(60)] == [GPU]
    store.close()


def test_the_heartbeats_of_a_run_or_a_job_keep_their_worker_live(db_url):
    store = Store(db_url)
    store.register_worker("w", "host", GPU)
    run = store.create_run("r", {})
    store.claim_next_run("w")
    age(store, "w", 61)
    store.heartbeat(run.id)
    assert [w.id for w in store.live_workers(60)] == ["w"]
    age(store, "w", 61)
    store.log_step(run.id, 1, {"reward": 1.0}, heartbeat=True)
    assert [w.id for w in store.live_workers(60)] == ["w"]
    job = store.queue_evaluation("evaluation", "m", "d", {})
    store.claim_next_evaluation("w")
    age(store, "w", 61)
    store.heartbeat_evaluation(job.id)
    assert [w.id for w in store.live_workers(60)] == ["w"]
    store.close()


def test_the_workers_migration_downgrades_and_upgrades_again(db_url):
    store = Store(db_url)
    store.register_worker("w", "host", GPU)
    config = alembic_config()
    with store._engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    assert "workers" not in inspect(store._engine).get_table_names()
    store.close()
    again = Store(db_url)  # opening upgrades to head: an empty registry, filled as workers start
    assert again.live_workers(60) == []
    again.close()
