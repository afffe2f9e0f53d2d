"""Runs in several processes: the command, its supervision, and real two-process runs of the default model on CPU.

The two-process runs go through the real `accelerate launch` with training/accelerate/ddp.yaml: on a machine
without CUDA its torchrun launcher starts two CPU processes that talk over gloo.
"""

import importlib.util
import shlex
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml

from tests.helpers import wait_for
from training.commands import build_config, run_command
from training.config import preset
from training.launch import LOG_TAIL_LINES, launch, launch_argv
from training.worker import run_worker

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "test-artifacts" / "model-home" / "models"  # the converted default model, shared with tests/training
TINY = dict(num_processes=2, max_prompts=1, num_generations=4, max_completion_length=16, format_example=False)
"""A real cpu-demo run cut to its cheapest: one prompt without the worked example (100 prompt tokens, not 240), each
process generating 2 rollouts of at most 16 tokens."""


def not_in_process(config, sink, context):
    raise AssertionError("a run asking for several processes was trained in the worker's own process")


def assignments(command: str) -> list[str]:
    words = shlex.split(command)
    return [words[i + 1] for i, word in enumerate(words) if word == "--set"]


def test_the_launched_command_is_the_recorded_one_plus_the_claimed_run(tmp_path):
    config = preset("cpu-demo", num_processes=2)
    argv = launch_argv(config, 7, tmp_path, resume_from=tmp_path / "checkpoint-8")
    recorded = shlex.split(run_command(config, tmp_path / "checkpoint-8"))
    assert argv[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert argv[3:5] == ["--config_file", str(ROOT / "training/accelerate/ddp.yaml")]
    assert argv[5:-6] == recorded[4:]
    # The database is not on the command line (a URL may hold a password): launch_env passes it.
    assert argv[-6:] == ["--run-id", "7", "--home", str(tmp_path), "--interrupted", "fail"]
    assert build_config(None, None, assignments(run_command(config))) == config


def test_the_accelerate_config_files_name_ddp_and_zero2():
    ddp = yaml.safe_load((ROOT / "training/accelerate/ddp.yaml").read_text())
    zero2 = yaml.safe_load((ROOT / "training/accelerate/deepspeed_zero2.yaml").read_text())
    assert (ddp["distributed_type"], ddp["num_machines"]) == ("MULTI_GPU", 1)
    assert (zero2["distributed_type"], zero2["deepspeed_config"]["zero_stage"]) == ("DEEPSPEED", 2)
    # Over several machines each worker starts its own machine's processes: torchrun, not pdsh over ssh.
    assert zero2["deepspeed_config"]["deepspeed_multinode_launcher"] == "standard"


def script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def test_a_shutdown_is_relayed_to_the_launched_process_group_once(tmp_path):
    log = tmp_path / "launch.log"
    shutdown = threading.Event()
    argv = script("""
        import signal, subprocess, sys, time
        # A child in the same group, as accelerate's launcher is: both must get the signal.
        child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                  "lambda *a: (print('child got SIGTERM', flush=True), exit(0))); time.sleep(60)"])
        got = []
        signal.signal(signal.SIGTERM, lambda *a: got.append(1))
        print("ready", flush=True)
        while not got:
            time.sleep(0.05)
        child.wait()
        print("launcher got SIGTERM", flush=True)
        sys.exit(0)
    """)
    results = []
    waiter = threading.Thread(target=lambda: results.append(launch(argv, log, shutdown, poll_s=0.1)))
    waiter.start()
    wait_for(lambda: log.exists() and "ready" in log.read_text(), 60, "the launched process to start")
    shutdown.set()
    waiter.join(60)
    outcome = results[0]
    assert (outcome.returncode, outcome.interrupted) == (0, True)
    assert "child got SIGTERM" in outcome.log_tail and outcome.log_tail.endswith("launcher got SIGTERM")


def test_an_exit_code_and_the_end_of_the_output_are_reported(tmp_path):
    argv = script("import sys\nfor i in range(100): print(f'line {i}')\nsys.exit(3)")
    outcome = launch(argv, tmp_path / "runs" / "1" / "launch.log", threading.Event(), poll_s=0.1)
    assert (outcome.returncode, outcome.interrupted) == (3, False)
    assert outcome.log_tail.splitlines() == [f"line {i}" for i in range(100 - LOG_TAIL_LINES, 100)]


def test_a_launch_that_fails_before_training_fails_the_run_with_the_launchers_output(store, tmp_path):
    if importlib.util.find_spec("deepspeed") is not None:  # never under CI: requirements.txt leaves it out
        pytest.skip("deepspeed is installed here, so the ZeRO-2 launch would start")
    run = store.create_run("zero2", preset("cpu-demo", **TINY, distributed="zero2").to_dict())
    run_worker(store, not_in_process, tmp_path, once=True)
    failed = store.get_run(run.id)
    assert failed.status == "failed"
    assert failed.error.startswith("the 2 launched processes exited with code 1 before the run ended")
    assert "pip3 install deepspeed" in failed.error  # accelerate's own advice, from the end of the output
    assert failed.command.startswith("accelerate launch --config_file training/accelerate/deepspeed_zero2.yaml ")


@pytest.fixture
def home(tmp_path, model_home):
    """A data directory of its own (run folders named by id would collide) sharing the converted model."""
    (tmp_path / "models").symlink_to(model_home / "models", target_is_directory=True)
    return tmp_path


@pytest.mark.slow
def test_two_processes_train_one_run_only_the_first_writes_it_and_a_cancel_stops_both_at_the_same_step(store, home):
    """One launch shows both: what two processes write (once, by the first), and that a cancel stops them together.
    Rank 0 ends a launched run through the same code as a run trained in the worker's process (execute.py), so the
    cancelled end here and the succeeded ends of the single-process tests cover how a launched run ends."""
    config = preset("cpu-demo", **TINY, max_steps=50, checkpoint_steps=0)
    run = store.create_run("two processes", config.to_dict())
    shutdown, ran = threading.Event(), []
    worker = threading.Thread(
        target=lambda: ran.append(run_worker(store, not_in_process, home, once=True, shutdown=shutdown))
    )
    worker.start()
    try:
        wait_for(lambda: store.get_run(run.id).step >= 1, 900, "the first step")
        store.request_cancel(run.id)
        # Had one process left the loop alone, the other would wait in DDP's next all-reduce forever.
        worker.join(900)
        assert not worker.is_alive(), "the launched processes did not stop together"
    finally:
        shutdown.set()  # on a failure above: relays SIGTERM, so no training process outlives the test
        worker.join(120)
    assert ran == [1]

    ended = store.get_run(run.id)
    assert (ended.status, ended.error) == ("cancelled", None)
    assert 1 <= ended.step < 50
    assert ended.command == run_command(config)
    assert ended.command.startswith("accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 2 ")
    log = (home / "runs" / str(run.id) / "launch.log").read_text()
    assert "process 0 of 2" in log and "process 1 of 2" in log
    steps = tuple(range(1, ended.step + 1))
    # Every process builds the trainer and reports the data once: the unique (run, key, step) index would have
    # refused a second row, so these single rows are the first process's.
    metrics = store.get_metrics(run.id)
    assert metrics["data/prompts"].steps == (0,) and metrics["reward"].steps == steps
    # Each process generated 2 of the group's 4 rollouts; they are gathered and written once, as one group.
    rollouts = store.get_rollouts(run.id)
    assert sorted((r.step, r.group_index, r.sample_index) for r in rollouts) == [
        (step, 0, sample) for step in steps for sample in range(4)
    ]
    # Stopped runs save a checkpoint (SinkCallback), here at the step both processes stopped at, written once.
    checkpoint = home / "runs" / str(run.id) / f"checkpoint-{ended.step}"
    assert [(c.step, c.path) for c in store.list_checkpoints(run.id)] == [(ended.step, str(checkpoint))]
    assert (checkpoint / "adapter_model.safetensors").is_file()
