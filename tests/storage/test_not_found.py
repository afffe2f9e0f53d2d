"""Each kind of missing row raises its own not-found error, all of them one StorageError subclass to catch."""

import pytest

from storage import CheckpointNotFound, EvaluationNotFound, NotFound, RunNotFound, StorageError


def test_every_not_found_error_is_a_not_found_and_a_storage_error():
    for error in (RunNotFound, EvaluationNotFound, CheckpointNotFound):
        assert issubclass(error, NotFound) and issubclass(error, StorageError)
    assert len({RunNotFound, EvaluationNotFound, CheckpointNotFound}) == 3


def test_get_checkpoint_finds_a_step_and_names_the_saved_ones_when_it_misses(store):
    run = store.create_run("r", {})
    with pytest.raises(
        CheckpointNotFound, match=f"run {run.id} has no checkpoint at step 4; it has saved no checkpoint"
    ):
        store.get_checkpoint(run.id, 4)
    for step in (2, 6):
        store.add_checkpoint(run.id, step, f"/ckpt/{step}")
    found = store.get_checkpoint(run.id, 6)
    assert (found.run_id, found.step, found.path) == (run.id, 6, "/ckpt/6")
    with pytest.raises(CheckpointNotFound, match="no checkpoint at step 4; its checkpoints are at steps 2, 6"):
        store.get_checkpoint(run.id, 4)


def test_a_checkpoint_of_a_missing_run_is_a_missing_run(store):
    with pytest.raises(RunNotFound, match="run 9 does not exist"):
        store.get_checkpoint(9, 1)


def test_each_get_by_id_raises_its_own_kind(store):
    with pytest.raises(RunNotFound):
        store.get_run(5)
    with pytest.raises(EvaluationNotFound):
        store.get_evaluation(5)
    with pytest.raises(RunNotFound):  # a job of a run's checkpoint needs the run
        store.queue_evaluation("evaluation", "m", "d", {}, run_id=5, checkpoint_step=1)
