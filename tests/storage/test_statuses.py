"""The statuses of runs and jobs: one enum whose members are the very strings stored before it existed."""

import pytest
from sqlalchemy import create_engine, text

from storage import ACTIVE_STATUSES, TERMINAL_STATUSES, Status, StorageError


def test_the_stored_values_are_the_strings_rows_always_held():
    assert [status.value for status in Status] == ["queued", "running", "succeeded", "failed", "cancelled"]
    assert Status.FAILED == "failed" and f"{Status.FAILED}" == "failed" and Status("cancelled") is Status.CANCELLED


def test_every_status_is_either_active_or_terminal():
    assert set(ACTIVE_STATUSES) | set(TERMINAL_STATUSES) == set(Status)
    assert set(ACTIVE_STATUSES) & set(TERMINAL_STATUSES) == set()


def test_a_run_written_as_a_plain_string_reads_and_moves_like_any_other(store, db_url):
    """Rows written before the enum (or by another version of the code) hold plain strings."""
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (name, status, config, created_at, cancel_requested, step) "
                "VALUES (:n, :s, :c, :t, :f, 0)"
            ),
            {"n": "old", "s": "queued", "c": "{}", "t": "2025-01-01 00:00:00", "f": False},
        )
    engine.dispose()
    [old] = store.list_runs(statuses=[Status.QUEUED])
    assert old.status == Status.QUEUED
    assert store.claim_next_run("w").status == Status.RUNNING
    assert store.finish_run(old.id, Status.SUCCEEDED).status == "succeeded"
    assert [run.id for run in store.list_runs(statuses=TERMINAL_STATUSES)] == [old.id]


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_an_evaluation_finishes_only_as_a_terminal_status(store, status):
    job = store.queue_evaluation("evaluation", "m", "d", {})
    store.claim_next_evaluation("w")
    with pytest.raises(StorageError, match="finishes as one of succeeded, failed, cancelled"):
        store.finish_evaluation(job.id, status)
