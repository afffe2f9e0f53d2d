import pytest

from storage import RunNotFound


def test_a_run_keeps_the_command_its_worker_recorded(store):
    run = store.create_run("r", {"max_steps": 1})
    assert run.command is None  # queued: no worker has decided how to run it yet
    command = (
        "accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 2 -m training.run "
        "--set num_processes=2 --set 'dataset=/data/my file.csv'"
    )
    assert store.set_run_command(run.id, command).command == command
    assert store.get_run(run.id).command == command
    assert [r.command for r in store.list_runs()] == [command]
    with pytest.raises(RunNotFound):
        store.set_run_command(run.id + 1, "python -m training.run")
