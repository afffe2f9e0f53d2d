import pytest

from nover_ui.run_actions import ActionRefused, cancel_run, delete_run, resume_run


def test_cancel_is_refused_for_a_finished_run(store):
    run = store.create_run("r", {})
    assert cancel_run(store, run.id).status == "cancelled"
    with pytest.raises(ActionRefused, match="already cancelled"):
        cancel_run(store, run.id)


def test_resume_queues_a_linked_run_from_the_last_checkpoint(store):
    run = store.start_run(store.create_run("r", {"max_steps": 10}).id, "w")
    with pytest.raises(ActionRefused, match="only a failed or cancelled"):
        resume_run(store, run.id)
    store.finish_run(run.id, "failed", "boom")
    with pytest.raises(ActionRefused, match="saved no checkpoint"):
        resume_run(store, run.id)
    store.add_checkpoint(run.id, 4, "/ckpt/4")
    store.add_checkpoint(run.id, 8, "/ckpt/8")
    resumed = resume_run(store, run.id)
    assert (resumed.status, resumed.parent_id, resumed.config) == ("queued", run.id, {"max_steps": 10})
    assert resumed.name == "r (resumed from step 8)"


def test_delete_is_refused_while_running_and_changes_nothing(store):
    run = store.start_run(store.create_run("r", {}).id, "w")
    with pytest.raises(ActionRefused, match="running"):
        delete_run(store, run.id)
    assert store.get_run(run.id).status == "running"
    store.finish_run(run.id, "succeeded")
    delete_run(store, run.id)
    assert store.list_runs() == []
