"""One run over several machines, with real workers: two "machines" on this one (two worker processes, each with its
own HOME and --machine-rank, rank 0 reachable at 127.0.0.1, sharing no disk but an S3 artifact store), 2 CPU processes
each over gloo, against one worker with 4 processes; a machine that never joins; a machine that drops out.

Every worker is a real `python -m training.worker` whose runs go through the real `accelerate launch`. The database
URL reaches them, and their launched processes, through the environment only.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from storage import Store
from tests.helpers import wait_for
from tests.object_store import CREDENTIALS
from training.artifacts import Artifacts
from training.config import preset

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(max_prompts=1, num_generations=4, max_completion_length=16, format_example=False, checkpoint_steps=0)
"""A real cpu-demo run cut to its cheapest: one prompt without the worked example, 4 rollouts of at most 16 tokens per
step, one per process."""


def worker_argv(home: Path, *flags: str) -> list[str]:
    """The one place a test worker's command is built (add e.g. an --artifacts URL here for every worker)."""
    return [sys.executable, "-m", "training.worker", "--home", str(home), "--poll", "0.5", *flags]


def start_worker(db_url: str, home: Path, *flags: str) -> subprocess.Popen:
    log = open(home / "worker.log", "wb")  # noqa: SIM115  # closed with the process by stop_worker
    env = {**os.environ, "NOVER_UI_DB": db_url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(worker_argv(home, *flags), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and whatever it launched (torchrun gives each process a session of its own)."""
    if worker.poll() is None:
        family = [worker_process := psutil.Process(worker.pid), *worker_process.children(recursive=True)]
        for process in family:
            process.send_signal(signal.SIGKILL)
        psutil.wait_procs(family, timeout=30)
    worker.wait(30)


def machine_home(tmp_path: Path, model_home: Path, name: str) -> Path:
    """A HOME of one "machine": its own folder, sharing only the converted default model."""
    home = tmp_path / name
    home.mkdir()
    (home / "models").symlink_to(model_home / "models", target_is_directory=True)
    return home


def processes_of(home: Path) -> list[psutil.Process]:
    """Processes still running whose command line names this HOME (every launched process has --home HOME)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(home) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def steps_of(store: Store, run_id: int) -> dict:
    """A run's metrics by key (but its wall-clock step_time) and its rollouts, by step."""
    metrics = {
        key: dict(zip(series.steps, series.values, strict=True)) for key, series in store.get_metrics(run_id).items()
    }
    del metrics["step_time"]
    rollouts = store.get_rollouts(run_id)
    return {
        step: {
            "metrics": {key: values[step] for key, values in metrics.items() if step in values},
            "rollouts": [(r.sample_index, r.completion, r.reward) for r in rollouts if r.step == step],
        }
        for step in (1, 2)
    }


def train(db_url: str, config, homes_and_flags: list[tuple[Path, tuple[str, ...]]], timeout_s: float = 1500):
    """Train one run with these workers. A worker that only joins (--machine-rank above 0) cannot take --once: it
    would exit at its first look if the run's rank 0 had not started yet. It is stopped once its machine has ended."""
    store = Store(db_url)
    run = store.create_run("machines", config.to_dict())
    joins = [
        "--machine-rank" in flags and flags[flags.index("--machine-rank") + 1] != "0" for _, flags in homes_and_flags
    ]
    workers = [
        start_worker(db_url, home, *flags, *(() if joiner else ("--once",)))
        for (home, flags), joiner in zip(homes_and_flags, joins, strict=True)
    ]
    launched: set[str] = set()  # the command lines of the launched processes, looked at every few seconds
    looked = [0.0]

    def ended() -> bool:
        if time.monotonic() - looked[0] > 2:
            looked[0] = time.monotonic()
            for home, _ in homes_and_flags:
                launched.update(" ".join(p.info["cmdline"] or []) for p in processes_of(home))
        return store.get_run(run.id).status not in ("queued", "running")

    try:
        wait_for(ended, timeout_s, "the run to end")
        wait_for(
            lambda: all(m.ended_at is not None for m in store.list_machines(run.id) if m.machine_rank > 0),
            120,
            "the joined machines to end",
        )
        for worker, joiner in zip(workers, joins, strict=True):
            if not joiner:
                worker.wait(120)
    finally:
        for worker in workers:
            stop_worker(worker)
    # The database URL is on no launched process's command line (here it holds no password; a real one may).
    assert not any(db_url in line for line in launched)
    return store, store.get_run(run.id), launched


@pytest.mark.slow
def test_two_machines_of_two_processes_train_as_one_of_four(tmp_path, model_home, s3_artifacts):
    """The first step's metrics (rewards, entropy, lengths, loss...) and rollouts are equal; the second step's
    metrics too, within 1e-4 (the same world size and ranks, so the same shares of the batch and the same seeds;
    the order of the all-reduce is the only possible difference). At these settings no rollout is format-valid in 16
    tokens, so every reward is 0 and the update a zero one: the second step checks the sampling after it.

    The data was uploaded to the artifact store from a third HOME, and each machine reads it from there; rank 0's
    machine writes the run's checkpoint there."""
    upload = tmp_path / "dashboard" / "uploads" / "sums.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("prompt,reference\nWhat is 2 + 3?,5\n")
    dataset = Artifacts(s3_artifacts, tmp_path / "dashboard").publish(upload, "uploads/sums.csv")
    store_flags = ("--artifacts", s3_artifacts)
    single = preset("cpu-demo", **TINY, num_processes=4, max_steps=2, dataset=dataset)
    one = machine_home(tmp_path, model_home, "one")
    store, alone, _ = train(f"sqlite:///{tmp_path / 'one.db'}", single, [(one, store_flags)])
    assert alone.status == "succeeded", alone.error
    expected = steps_of(store, alone.id)

    spread = single.replace(num_processes=2, num_machines=2, checkpoint_steps=2)
    first, second = machine_home(tmp_path, model_home, "m0"), machine_home(tmp_path, model_home, "m1")
    address = ("--main-process-ip", "127.0.0.1")
    db_url = f"sqlite:///{tmp_path / 'two.db'}"
    workers = [
        (first, ("--machine-rank", "0", *address, *store_flags)),
        (second, ("--machine-rank", "1", *store_flags)),
    ]
    store, run, launched = train(db_url, spread, workers)
    assert run.status == "succeeded", run.error
    assert sum("-m training.run" in line for line in launched) >= 4  # seen running: 2 per machine
    got = steps_of(store, run.id)
    assert got[1] == expected[1] and len(got[1]["rollouts"]) == 4 and "entropy" in got[1]["metrics"]
    assert got[2]["metrics"] == pytest.approx(expected[2]["metrics"], rel=1e-4, abs=1e-6)

    machines = store.list_machines(run.id)
    assert [(m.machine_rank, m.exit_code) for m in machines] == [(0, 0), (1, 0)]
    assert (machines[0].address, machines[0].port > 0) == ("127.0.0.1", True)
    assert run.command.startswith(
        "accelerate launch --config_file training/accelerate/ddp.yaml --num_processes 4 --num_machines 2 -m "
    )
    # Each machine keeps its processes' output in its own HOME; only rank 0's wrote the run's rows.
    assert "process 0 of 4" in (first / "runs" / str(run.id) / "launch.log").read_text()
    assert "process 2 of 4" in (second / "runs" / str(run.id) / "launch-machine-1.log").read_text()
    assert not (first / "runs" / str(run.id) / "launch-machine-1.log").exists()
    # Both machines read the data from the store; the checkpoint went there, recorded by its URL.
    for home in (first, second):
        assert (home / "artifact-cache" / "uploads" / "sums.csv").read_text() == upload.read_text()
    assert [c.path for c in store.list_checkpoints(run.id)] == [f"{s3_artifacts}/runs/{run.id}/checkpoint-2"]
    # The store's credentials came from the environment: on no command line, in no log, not in the database.
    logs = [path.read_text() for home in (first, second) for path in home.rglob("*.log")]
    for secret in CREDENTIALS.values():
        assert not any(secret in text for text in [*launched, *logs, run.command or ""])
        assert secret.encode() not in Path(tmp_path / "two.db").read_bytes()


@pytest.mark.slow
def test_a_machine_that_never_joins_fails_the_run_after_the_timeout_and_nothing_is_left_running(tmp_path, model_home):
    config = preset("cpu-demo", **TINY, num_processes=1, num_machines=2, max_steps=2, machine_join_timeout=5.0)
    home = machine_home(tmp_path, model_home, "m0")
    store, run, _ = train(f"sqlite:///{tmp_path / 'db.db'}", config, [(home, ("--main-process-ip", "127.0.0.1"))])
    assert run.status == "failed"
    assert run.error.startswith("machine rank 1 never joined within machine_join_timeout 5 s (joined: rank 0 on ")
    assert processes_of(home) == []


@pytest.mark.slow
def test_a_machine_that_drops_out_fails_the_run_naming_it_and_nothing_is_left_running(tmp_path, model_home):
    """The joining machine's processes are killed (kill -9 of its launcher and processes; its worker stays and says
    so) once both machines have met, while rank 0's wait for it: rank 0's worker fails the run naming the machine
    and stops its own processes, which would otherwise wait out torch's timeout (30 minutes)."""
    config = preset("cpu-demo", **TINY, num_processes=1, num_machines=2, max_steps=50, machine_join_timeout=60.0)
    first, second = machine_home(tmp_path, model_home, "m0"), machine_home(tmp_path, model_home, "m1")
    db_url = f"sqlite:///{tmp_path / 'db.db'}"
    store = Store(db_url)
    run = store.create_run("drops out", config.to_dict())
    main = start_worker(db_url, first, "--once", "--machine-rank", "0", "--main-process-ip", "127.0.0.1")
    joiner = start_worker(db_url, second, "--machine-rank", "1")
    log = second / "runs" / str(run.id) / "launch-machine-1.log"
    try:
        wait_for(lambda: log.exists() and "process 1 of 2" in log.read_text(), 600, "the machines to meet")
        (launcher,) = [p for p in psutil.Process(joiner.pid).children() if "accelerate" in " ".join(p.cmdline())]
        for process in [launcher, *launcher.children(recursive=True)]:
            process.send_signal(signal.SIGKILL)
        wait_for(lambda: store.get_run(run.id).status == "failed", 300, "the run to fail")
        main.wait(120)
    finally:
        stop_worker(main)
        stop_worker(joiner)
    error = store.get_run(run.id).error
    assert error.startswith("machine rank 1 on ") and " dropped out: its processes " in error, error
    assert [(m.machine_rank, m.exit_code) for m in store.list_machines(run.id)][1] == (1, -9)
    assert processes_of(first) == [] and processes_of(second) == []
