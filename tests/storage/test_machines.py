"""The machines of a run over several: rank 0 records where it listens, other workers claim a free rank each, once."""

import threading

import pytest
from sqlalchemy import create_engine, text

from storage import InvalidTransition, Store


def running_run(store: Store, num_machines: int, worker_id: str = "main:1"):
    run = store.create_run(f"{num_machines} machines", {"num_machines": num_machines})
    assert store.claim_next_run(worker_id).id == run.id
    return run


def test_a_worker_joins_the_lowest_free_rank_of_a_run_whose_rank_0_listens(db_url):
    store = Store(db_url)
    run = running_run(store, 3)
    assert store.claim_machine_rank("other:2", "b") is None  # rank 0 has not said where it listens yet
    store.start_machines(run.id, "main:1", "a", "10.0.0.5", 29511)
    claim = store.claim_machine_rank("other:2", "b")
    assert (claim.run.id, claim.machine.machine_rank, claim.machine.host) == (run.id, 1, "b")
    assert (claim.main.machine_rank, claim.main.address, claim.main.port) == (0, "10.0.0.5", 29511)
    assert store.claim_machine_rank("third:3", "c", rank=1) is None  # taken; this worker joins only as rank 1
    assert store.claim_machine_rank("third:3", "c", can_run=lambda config: False) is None
    assert store.claim_machine_rank("third:3", "c").machine.machine_rank == 2
    assert store.claim_machine_rank("fourth:4", "d") is None  # every rank is taken
    assert [(m.machine_rank, m.host) for m in store.list_machines(run.id)] == [(0, "a"), (1, "b"), (2, "c")]
    store.close()


def test_runs_on_one_machine_and_runs_not_running_are_never_joined(db_url):
    store = Store(db_url)
    one = running_run(store, 1)
    store.start_machines(one.id, "main:1", "a", "10.0.0.5", 1)  # never done for such a run; still not joinable
    ended = running_run(store, 2)
    store.start_machines(ended.id, "main:1", "a", "10.0.0.5", 2)
    store.finish_run(ended.id, "failed", "boom")
    assert store.claim_machine_rank("other:2", "b") is None
    queued = store.create_run("queued", {"num_machines": 2})
    with pytest.raises(InvalidTransition, match="is queued, not running"):
        store.start_machines(queued.id, "main:1", "a", "10.0.0.5", 3)
    store.close()


def test_a_rank_another_worker_is_inserting_is_not_claimed_twice(db_url):
    """The claim is the unique (run, rank) pair: while another worker's transaction holds rank 1 uncommitted, this
    claim waits (PostgreSQL: on the key; SQLite: for the write lock) and then finds it taken."""
    store = Store(db_url)
    run = running_run(store, 2)
    store.start_machines(run.id, "main:1", "a", "10.0.0.5", 29511)
    other_worker = create_engine(db_url)
    claimed = []
    with other_worker.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO run_machines (run_id, machine_rank, worker_id, host, joined_at, heartbeat_at) "
                "VALUES (:run, 1, 'other:2', 'b', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"run": run.id},
        )
        claim = threading.Thread(target=lambda: claimed.append(store.claim_machine_rank("third:3", "c")))
        claim.start()
        claim.join(timeout=1)
    claim.join(timeout=60)
    other_worker.dispose()
    assert claimed == [None]
    assert [(m.machine_rank, m.worker_id) for m in store.list_machines(run.id)] == [(0, "main:1"), (1, "other:2")]
    store.close()


def test_workers_claiming_at_once_take_each_rank_exactly_once(db_url):
    store = Store(db_url)
    run = running_run(store, 4)
    store.start_machines(run.id, "main:1", "a", "10.0.0.5", 29511)
    stores = [Store(db_url) for _ in range(5)]
    claims: list = []
    start = threading.Barrier(len(stores))

    def join(i: int) -> None:
        start.wait()
        claims.append(stores[i].claim_machine_rank(f"w:{i}", f"host{i}"))

    threads = [threading.Thread(target=join, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ranks = sorted(claim.machine.machine_rank for claim in claims if claim is not None)
    assert ranks == [1, 2, 3] and claims.count(None) == 2
    for other in stores:
        other.close()
    store.close()


def test_heartbeats_ends_and_silence_of_machines(db_url):
    store = Store(db_url)
    run = running_run(store, 2)
    store.start_machines(run.id, "main:1", "a", "10.0.0.5", 29511)
    store.claim_machine_rank("other:2", "b")
    store.beat_machine(run.id, 1)
    assert store.stale_machines(run.id, 60) == []
    assert [m.machine_rank for m in store.stale_machines(run.id, -1)] == [0, 1]
    ended = store.end_machine(run.id, 1, 137)
    assert (ended.exit_code, ended.ended_at is not None) == (137, True)
    assert [m.machine_rank for m in store.stale_machines(run.id, -1)] == [0]  # an ended machine is not silent
    store.finish_run(run.id, "failed", "machine rank 1 dropped out")
    store.delete_run(run.id)
    assert store.list_machines(run.id) == []
    store.close()


def test_a_run_failed_for_a_machine_names_it_first_and_keeps_what_rank_0_recorded(db_url):
    store = Store(db_url)
    running = running_run(store, 2)
    assert store.fail_for_machine(running.id, "machine rank 1 on b dropped out").error == (
        "machine rank 1 on b dropped out"
    )
    broken = running_run(store, 2)
    store.finish_run(broken.id, "failed", "RuntimeError: gloo connection closed by peer")
    failed = store.fail_for_machine(broken.id, "machine rank 1 on b dropped out")
    again = store.fail_for_machine(broken.id, "machine rank 1 on b dropped out")  # said once
    assert (
        failed.error
        == again.error
        == (
            "machine rank 1 on b dropped out; the processes of machine rank 0 failed with:\n\n"
            "RuntimeError: gloo connection closed by peer"
        )
    )
    cancelled = running_run(store, 2)
    store.finish_run(cancelled.id, "cancelled")
    assert store.fail_for_machine(cancelled.id, "machine rank 1 on b dropped out").error is None
    store.close()
