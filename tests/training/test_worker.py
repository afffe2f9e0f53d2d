import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from storage import Store
from storage.models import Worker
from tests.helpers import rollout_row, stepping_trainer, wait_for
from training.commands import run_command
from training.config import RunConfig, preset
from training.execute import memory_advice, run_training
from training.flags import FLAGS_VERSION
from training.interface import Phase
from training.needs import Capabilities
from training.worker import run_worker

ROOT = Path(__file__).resolve().parents[2]


def queue(store, name="r", **overrides):
    return store.create_run(name, preset("cpu-demo", **overrides).to_dict())


def test_a_run_trains_to_success_with_every_step_stored(store, tmp_path):
    run = queue(store, max_steps=3, checkpoint_steps=2)
    assert run_worker(store, stepping_trainer(), tmp_path, worker_id="w", once=True) == 1
    done = store.get_run(run.id)
    assert (done.status, done.step, done.total_steps, done.worker_id, done.error) == ("succeeded", 3, 3, "w", None)
    assert store.get_metrics(run.id)["reward"].steps == (1, 2, 3)
    assert len(store.get_rollouts(run.id)) == 3 * 16
    assert [(c.step, c.path) for c in store.list_checkpoints(run.id)] == [
        (2, str(tmp_path / "runs" / str(run.id) / "checkpoint-2"))
    ]


def test_a_run_in_this_process_records_its_python_command(store, tmp_path):
    run = queue(store, max_steps=1)
    run_worker(store, stepping_trainer(), tmp_path, once=True)
    assert store.get_run(run.id).command == run_command(preset("cpu-demo", max_steps=1))
    assert store.get_run(run.id).command.startswith("python -m training.run --set ")


def test_each_step_is_written_with_its_failure_flag_counts(store, tmp_path):
    def train(config, sink, context):
        sink.log_rollouts(
            1,
            [
                rollout_row(0, 0, truncated=True),
                rollout_row(0, 1, completion="no tags", format_valid=False, reasoning=None, answer=None),
            ],
        )
        sink.log_metrics(1, {"reward": 0.5})

    run = queue(store, max_steps=1)
    run_worker(store, train, tmp_path, once=True)
    metrics = store.get_metrics(run.id)
    assert metrics["flags/truncated"].values == (1.0,) and metrics["flags/missing_tags"].values == (1.0,)
    assert metrics["flags/all_invalid"].values == (0.0,) and metrics["reward"].values == (0.5,)
    stored = [(r.sample_index, r.flags, r.flags_version) for r in store.get_rollouts(run.id)]
    assert stored == [(0, ("truncated",), FLAGS_VERSION), (1, ("missing tags",), FLAGS_VERSION)]


def test_stored_flags_follow_the_runs_own_tags_even_for_a_step_cut_short(store, tmp_path):
    # Prefilled "<story>\n": the completion lacks its opening tag; with the default tags all four would be missing.
    twice = rollout_row(0, 0, completion="once</story><rubric>a</rubric><rubric>b</rubric>", format_valid=False)

    def train(config, sink, context):
        sink.log_rollouts(1, [twice])
        sink.log_metrics(1, {"reward": 0.0})
        sink.log_rollouts(2, [twice])  # the trainer stops before step 2's metrics: the worker flushes them

    run = queue(store, max_steps=2, intermediate_tag="story", final_tag="rubric", prefill_intermediate=True)
    run_worker(store, train, tmp_path, once=True)
    assert [(r.step, r.flags) for r in store.get_rollouts(run.id)] == [
        (1, ("malformed tags",)),
        (2, ("malformed tags",)),
    ]
    assert store.get_metrics(run.id)["flags/malformed_tags"].values == (1.0,)


def test_runs_are_taken_one_at_a_time_oldest_first(store, tmp_path):
    first, second = queue(store, "first", max_steps=1), queue(store, "second", max_steps=1)
    assert run_worker(store, stepping_trainer(), tmp_path, once=True) == 1
    assert store.get_run(first.id).status == "succeeded" and store.get_run(second.id).status == "queued"
    assert run_worker(store, stepping_trainer(), tmp_path, until_idle=True) == 1
    assert store.get_run(second.id).status == "succeeded"


def test_cancel_stops_the_run_between_steps(store, tmp_path):
    run = queue(store, max_steps=100)
    inner = stepping_trainer()

    def cancel_after_two_steps(config, sink, context):
        original = sink.log_metrics

        def log_metrics(step, metrics):
            original(step, metrics)
            if step == 2:
                store.request_cancel(run.id)  # as the UI would, from outside the trainer

        sink.log_metrics = log_metrics
        inner(config, sink, context)

    run_worker(store, cancel_after_two_steps, tmp_path, once=True)
    done = store.get_run(run.id)
    assert done.status == "cancelled" and done.finished_at is not None
    assert store.latest_step(run.id) == 2


def test_the_run_shows_each_phase_of_its_start_until_steps_flow_and_cancelling_until_it_stops(store, tmp_path):
    run = queue(store, max_steps=100)
    inner, seen = stepping_trainer(), []

    def trainer(config, sink, context):
        """The real trainer's order: the model loads (converting it first on a fresh data directory), then the
        first step generates; the executor said 'loading the model' before the trainer began."""
        seen.append(store.get_run(run.id).phase)
        for phase in (Phase.CONVERTING_MODEL, Phase.LOADING_MODEL, Phase.FIRST_GENERATION):
            sink.log_phase(phase)
            seen.append(store.get_run(run.id).phase)
        original = sink.log_metrics

        def log_metrics(step, metrics):
            original(step, metrics)
            seen.append(store.get_run(run.id).phase)
            if step == 2:
                store.request_cancel(run.id)  # as the UI would
                seen.append(store.get_run(run.id).phase)

        sink.log_metrics = log_metrics
        sink.log_metrics(0, {"data/prompts": 8.0})  # what the data gave, before any step: still starting
        inner(config, sink, context)

    run_worker(store, trainer, tmp_path, once=True)
    assert seen == [
        "loading the model",
        "converting the model",
        "loading the model",
        "first generation",
        "first generation",
        None,
        None,
        "cancelling",
    ]
    assert (store.get_run(run.id).status, store.get_run(run.id).phase) == ("cancelled", None)


def test_an_exception_fails_the_run_with_the_error_and_traceback(store, tmp_path):
    run = queue(store)

    def broken_trainer(config, sink, context):
        raise ValueError("the reference column is empty")

    run_worker(store, broken_trainer, tmp_path, once=True)
    done = store.get_run(run.id)
    assert done.status == "failed"
    assert done.error.startswith("ValueError: the reference column is empty\n\nTraceback")
    assert "broken_trainer" in done.error


@pytest.mark.parametrize("kind", ["OutOfMemoryError", "RuntimeError"])
def test_a_gpu_out_of_memory_fails_the_run_saying_what_to_lower(kind, store, tmp_path):
    import torch

    config = preset("cpu-demo", max_steps=2, generation="vllm", gradient_checkpointing=True)
    run = store.create_run("too big", config.to_dict())
    claimed = store.claim_next_run("test")

    def out_of_memory(config, sink, context):
        sink.log_metrics(1, {"reward": 1.0})
        if kind == "OutOfMemoryError":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        raise RuntimeError("CUDA error: out of memory")

    done = run_training(store, claimed, RunConfig.from_dict(claimed.config), out_of_memory, tmp_path)
    assert done.status == "failed" and store.get_run(run.id).step == 1
    head, _, trace = done.error.partition("\n\n")
    assert head.startswith(f"the GPU ran out of memory ({kind})")
    for advice in (
        "prompts_per_step x num_generations (1 x 8",
        "max_completion_length (64)",
        "vllm_gpu_memory_utilization (0.3)",
    ):
        assert advice in head
    assert "gradient_checkpointing" not in head  # already on
    assert "quantization 4bit" not in head  # vLLM cannot serve a 4-bit base
    assert "choose quantization 4bit" in memory_advice(preset("cpu-demo"))  # a transformers run can
    assert "out_of_memory" in trace  # the traceback still says where


def test_an_exception_that_is_not_out_of_memory_keeps_its_own_message(store, tmp_path):
    run = store.create_run("small", preset("cpu-demo").to_dict())
    claimed = store.claim_next_run("test")

    def broken(config, sink, context):
        raise RuntimeError("shape mismatch")

    done = run_training(store, claimed, RunConfig.from_dict(claimed.config), broken, tmp_path)
    assert store.get_run(run.id).error.startswith("RuntimeError: shape mismatch\n\n") and done.status == "failed"


def test_an_invalid_stored_config_fails_the_run_without_training(store, tmp_path):
    run = store.create_run("edited by hand", {"num_generations": 1})
    trained = []
    run_worker(store, lambda *args: trained.append(args), tmp_path, once=True)
    done = store.get_run(run.id)
    assert done.status == "failed" and "num_generations must be >= 2" in done.error
    assert trained == []


def test_shutdown_stops_after_the_current_step_and_says_how_to_continue(store, tmp_path):
    run = queue(store, max_steps=100)
    shutdown = threading.Event()
    inner = stepping_trainer()

    def trainer(config, sink, context):
        original = sink.log_metrics
        sink.log_metrics = lambda step, metrics: (original(step, metrics), step == 3 and shutdown.set())
        inner(config, sink, context)

    claimed = store.claim_next_run("w")
    run_training(store, claimed, RunConfig.from_dict(claimed.config), trainer, tmp_path, shutdown)
    done = store.get_run(run.id)
    assert done.status == "failed" and "resume it from its last checkpoint" in done.error
    assert store.latest_step(run.id) == 3
    assert [r.id for r in store.list_runs()] == [run.id]  # the fail policy (the default) queues no resumed run


def test_a_shutdown_during_the_last_step_leaves_a_succeeded_run(store, tmp_path):
    run = queue(store, max_steps=3, checkpoint_steps=0)
    shutdown = threading.Event()

    def trainer(config, sink, context):
        """The real trainer's order: the stop check after each step's rows, a checkpoint on a stop or at the end."""
        for step in range(1, config.max_steps + 1):
            sink.log_rollouts(step, [rollout_row()])
            sink.log_metrics(step, {"reward": 1.0})
            if step == config.max_steps:
                shutdown.set()  # the app is killed during the final step; its worker notices
            stop = sink.should_stop()
            if stop or step == config.max_steps:
                sink.log_checkpoint(step, str(context.workdir / f"checkpoint-{step}"))
            if stop:
                return

    claimed = store.claim_next_run("w")
    run_training(store, claimed, RunConfig.from_dict(claimed.config), trainer, tmp_path, shutdown)
    done = store.get_run(run.id)
    assert (done.status, done.error, done.step) == ("succeeded", None, 3)
    assert [c.step for c in store.list_checkpoints(run.id)] == [3]


def test_rollouts_without_metrics_are_still_written_at_the_end(store, tmp_path):
    run = queue(store)

    def trainer(config, sink, context):
        sink.log_rollouts(1, [rollout_row()])  # and then stops before the step's metrics

    run_worker(store, trainer, tmp_path, once=True)
    assert store.get_run(run.id).status == "succeeded"
    assert len(store.get_rollouts(run.id, step=1)) == 1


def test_a_resumed_run_is_handed_its_parents_last_checkpoint(store, tmp_path):
    parent = queue(store, max_steps=4, checkpoint_steps=2)
    run_worker(store, stepping_trainer(), tmp_path, once=True)
    child = store.create_run("resumed", parent.config, parent_id=parent.id)
    seen = []
    run_worker(store, lambda config, sink, context: seen.append(context), tmp_path, once=True)
    assert seen[0].run_id == child.id
    assert seen[0].resume_from == tmp_path / "runs" / str(parent.id) / "checkpoint-4"


def test_a_run_failed_as_stale_while_its_worker_lives_keeps_that_verdict(store, tmp_path):
    run = queue(store, max_steps=5)

    def trainer(config, sink, context):
        sink.log_metrics(1, {"reward": 0.0})
        store.fail_stale_runs(-1)  # someone decided this worker was dead
        sink.log_metrics(2, {"reward": 0.0})

    run_worker(store, trainer, tmp_path, once=True)
    done = store.get_run(run.id)
    assert done.status == "failed" and done.error.startswith("worker stopped responding")


def test_the_heartbeat_thread_beats_while_a_step_takes_long(store, tmp_path):
    run = queue(store, max_steps=1)
    beats = []

    def slow_trainer(config, sink, context):
        first = store.get_run(run.id).heartbeat_at
        wait_for(lambda: store.get_run(run.id).heartbeat_at > first, 10, "a heartbeat during a long step")
        beats.append(True)

    claimed = store.claim_next_run("w")
    run_training(store, claimed, RunConfig.from_dict(claimed.config), slow_trainer, tmp_path, heartbeat_interval_s=0.05)
    assert beats == [True] and store.get_run(run.id).status == "succeeded"


def worker_process(db_url: str, home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.worker_entry", "--db", db_url, "--home", str(home), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_whole_steps_and_a_failed_run(db_url, tmp_path):
    store = Store(db_url)
    run = queue(store, max_steps=100_000)
    worker = worker_process(db_url, tmp_path, "--once")
    wait_for(lambda: (store.latest_step(run.id) or 0) >= 20, 60, "the worker to log 20 steps")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    assert store.get_run(run.id).status == "running"  # nobody has noticed yet
    steps_with_metrics = set(store.get_metrics(run.id)["reward"].steps)
    per_step: dict[int, int] = {}
    for rollout in store.get_rollouts(run.id):
        per_step[rollout.step] = per_step.get(rollout.step, 0) + 1
    assert set(per_step) == steps_with_metrics and set(per_step.values()) == {16}

    # The next worker to start notices the silence once it exceeds its heartbeat timeout.
    wait_for(
        lambda: store.get_run(run.id).heartbeat_at.timestamp() < time.time() - 1.0, 10, "the heartbeat to age past 1 s"
    )
    successor = worker_process(db_url, tmp_path, "--once", "--heartbeat-timeout", "1")
    output, _ = successor.communicate(timeout=60)
    assert successor.returncode == 0, output
    done = store.get_run(run.id)
    assert done.status == "failed" and done.error.startswith("worker stopped responding"), done.error
    assert f"marked run {run.id} failed" in output


@pytest.mark.slow
def test_sigterm_ends_the_run_after_the_current_step(db_url, tmp_path):
    store = Store(db_url)
    run = queue(store, max_steps=100_000)
    worker = worker_process(db_url, tmp_path, "--step-seconds", "0.05")
    wait_for(lambda: (store.latest_step(run.id) or 0) >= 3, 60, "the worker to log 3 steps")
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    done = store.get_run(run.id)
    assert done.status == "failed" and "worker was shut down" in done.error
    assert done.step == store.latest_step(run.id)


def test_a_worker_whose_app_exits_during_start_up_shuts_down(db_url, tmp_path):
    # The parent (a shell standing in for the app) exits at once, while the worker is still importing torch.
    spawn = subprocess.run(
        [
            "sh",
            "-c",
            f"{sys.executable} -m training.worker --db {db_url} --home {tmp_path} "
            f"--parent-pid $$ >{tmp_path / 'worker.log'} 2>&1 & echo $!",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    worker_pid = int(spawn.stdout.strip())

    def gone() -> bool:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{worker_pid}/stat").read().split()[2] == "Z"  # exited, not yet reaped

    try:
        wait_for(gone, 120, "the orphaned worker to exit")
    finally:
        if not gone():
            os.kill(worker_pid, signal.SIGKILL)
    assert "the app that started this worker exited" in (tmp_path / "worker.log").read_text()


def test_a_worker_records_its_machine_while_it_works_and_leaves_runs_it_cannot_train_queued(store, tmp_path):
    laptop = Capabilities(bitsandbytes=False, torch="2.13.0")
    needs_bnb = queue(store, "qlora", quantization="4bit", max_steps=1)
    plain = queue(store, "plain", max_steps=1)
    seen_while_training = []

    def train(config, sink, context):
        seen_while_training.extend((w.id, w.capabilities) for w in store.live_workers(60))
        stepping_trainer()(config, sink, context)

    assert run_worker(store, train, tmp_path, worker_id="laptop", until_idle=True, capabilities=laptop) == 1
    assert seen_while_training == [("laptop", laptop.to_dict())]
    assert store.get_run(plain.id).status == "succeeded"
    assert store.get_run(needs_bnb.id).status == "queued"  # for a worker with bitsandbytes
    assert store.live_workers(60) == []  # it left when it stopped
    with_bnb = Capabilities(bitsandbytes=True)
    assert run_worker(store, stepping_trainer(), tmp_path, worker_id="box", once=True, capabilities=with_bnb) == 1
    assert store.get_run(needs_bnb.id).status == "succeeded"


def test_an_idle_worker_stays_live_and_leaves_when_shut_down(store, tmp_path):
    shutdown = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(store, stepping_trainer(), tmp_path),
        kwargs=dict(
            worker_id="idle", poll_s=0.05, heartbeat_interval_s=0.1, shutdown=shutdown, capabilities=Capabilities()
        ),
    )
    worker.start()
    wait_for(lambda: [w.id for w in store.live_workers(60)] == ["idle"], 30, "the worker to register")
    with store._engine.begin() as connection:  # as if it had been silent for longer than the timeout
        connection.execute(update(Worker).values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61)))
    wait_for(lambda: [w.id for w in store.live_workers(60)] == ["idle"], 30, "the idle worker to refresh its row")
    shutdown.set()
    worker.join(timeout=30)
    assert store.live_workers(60) == []
