"""The executor's wiring to the artifact store (training/run_artifacts.py), against a real S3-compatible server, with
stand-in trainers and jobs: what a run or job fetches from the store, what it copies there, what the rows record, and
how a store that fails or cannot be reached ends a run or stops a worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Status
from tests.helpers import stepping_trainer
from tests.object_store import CREDENTIALS
from training.artifacts import CACHE, Artifacts
from training.config import preset
from training.job_config import EvaluationJob, MergeJob
from training.launch import launch_argv
from training.needs import Capabilities
from training.run import main as run_main
from training.worker import run_worker

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = Capabilities(bitsandbytes=True, torch="stand-in")
"""What the stand-in trainer stands in for: spares each test the seconds of importing torch to detect it."""


def saving_trainer(seen: dict):
    """A stand-in trainer that writes a checkpoint folder (adapter, proxy, optimizer) at each checkpoint step and
    TensorBoard's folder, and notes the data file and resume folder it was given."""

    def train(config, sink, context):
        seen["dataset"], seen["resume_from"] = config.dataset, context.resume_from
        for step in range(1, config.max_steps + 1):
            sink.log_metrics(step, {"reward": 0.5})
            folder = context.workdir / f"checkpoint-{step}"
            (folder / "ref").mkdir(parents=True)
            (folder / "adapter_model.safetensors").write_bytes(b"policy %d" % step)
            (folder / "ref" / "adapter_model.safetensors").write_bytes(b"proxy %d" % step)
            (folder / "optimizer.pt").write_bytes(b"optimizer %d" % step)
            sink.log_checkpoint(step, str(folder))
        (context.workdir / "tensorboard").mkdir(exist_ok=True)  # as TensorBoard's callback writes its events
        (context.workdir / "tensorboard" / "events.out.tfevents").write_bytes(b"events")

    return train


def files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def uploaded(s3_artifacts: str, tmp_path: Path, text: str = "prompt,reference\nq,a\n") -> str:
    """A data file published from a third machine's HOME, as the dashboard publishes an upload: its URL."""
    upload = tmp_path / "dashboard" / "uploads" / "9f.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text(text)
    return Artifacts(s3_artifacts, tmp_path / "dashboard").publish(upload, "uploads/9f.csv")


def test_each_checkpoint_goes_to_the_store_whole_and_its_row_records_the_url(store, s3_artifacts, tmp_path):
    run = store.create_run("r", preset("cpu-demo", max_steps=2, checkpoint_steps=1).to_dict())
    home = tmp_path / "a"
    seen: dict = {}
    run_worker(
        store, saving_trainer(seen), home, once=True, capabilities=STAND_IN, artifacts=Artifacts(s3_artifacts, home)
    )
    assert store.get_run(run.id).status == Status.SUCCEEDED
    rows = store.list_checkpoints(run.id)
    assert [c.path for c in rows] == [f"{s3_artifacts}/runs/{run.id}/checkpoint-{step}" for step in (1, 2)]
    elsewhere = Artifacts(s3_artifacts, tmp_path / "b")
    assert files(elsewhere.local(rows[-1].path)) == files(home / "runs" / str(run.id) / "checkpoint-2")
    events = elsewhere.local(elsewhere.url(f"runs/{run.id}/tensorboard"))  # the trackers' files, once the run ended
    assert files(events) == {"events.out.tfevents": b"events"}


def test_a_run_on_uploaded_data_trains_from_a_fetched_copy_and_keeps_the_url(store, s3_artifacts, tmp_path):
    url = uploaded(s3_artifacts, tmp_path)
    run = store.create_run("r", preset("cpu-demo", max_steps=1, dataset=url).to_dict())
    home = tmp_path / "worker"
    seen: dict = {}
    run_worker(
        store, saving_trainer(seen), home, once=True, capabilities=STAND_IN, artifacts=Artifacts(s3_artifacts, home)
    )
    assert store.get_run(run.id).status == Status.SUCCEEDED
    assert seen["dataset"] == str(home / CACHE / "uploads" / "9f.csv")
    assert Path(seen["dataset"]).read_text() == "prompt,reference\nq,a\n"
    assert store.get_run(run.id).config["dataset"] == url
    assert f"dataset={url}" in store.get_run(run.id).command


def test_a_resumed_run_continues_from_its_parents_checkpoint_fetched_from_the_store(store, s3_artifacts, tmp_path):
    parent = store.create_run("r", preset("cpu-demo", max_steps=1, checkpoint_steps=1).to_dict())
    run_worker(
        store,
        saving_trainer({}),
        tmp_path / "a",
        once=True,
        capabilities=STAND_IN,
        artifacts=Artifacts(s3_artifacts, tmp_path / "a"),
    )
    child = store.create_run("r resumed", preset("cpu-demo", max_steps=2, checkpoint_steps=1).to_dict(), parent.id)
    home = tmp_path / "b"
    seen: dict = {}
    run_worker(
        store, saving_trainer(seen), home, once=True, capabilities=STAND_IN, artifacts=Artifacts(s3_artifacts, home)
    )
    assert store.get_run(child.id).status == Status.SUCCEEDED
    assert seen["resume_from"] == home / CACHE / "runs" / str(parent.id) / "checkpoint-1"
    assert files(seen["resume_from"]) == files(tmp_path / "a" / "runs" / str(parent.id) / "checkpoint-1")
    assert f"--resume-from {s3_artifacts}/runs/{parent.id}/checkpoint-1" in store.get_run(child.id).command


def test_a_store_that_fails_mid_run_fails_the_run_saying_what_failed(store, s3_artifacts, tmp_path):
    run = store.create_run("r", preset("cpu-demo", max_steps=2, checkpoint_steps=1).to_dict())
    home = tmp_path / "a"
    gone = Artifacts(s3_artifacts.replace("s3://", "s3://no-such-bucket-"), home)  # as if deleted since start-up
    run_worker(store, saving_trainer({}), home, once=True, capabilities=STAND_IN, artifacts=gone)
    failed = store.get_run(run.id)
    assert failed.status == Status.FAILED
    assert failed.error.startswith(f"cannot copy runs/{run.id}/checkpoint-1 to the artifact store {gone.root}: ")
    assert "resume the run" in failed.error
    assert not any(secret in failed.error for secret in CREDENTIALS.values())
    assert store.list_checkpoints(run.id) == []  # no row names a checkpoint the store does not hold


def test_a_job_fetches_the_checkpoint_it_opens_and_a_merge_export_goes_to_the_store(store, s3_artifacts, tmp_path):
    run = store.create_run("r", preset("cpu-demo", max_steps=2, checkpoint_steps=1).to_dict())
    run_worker(
        store,
        saving_trainer({}),
        tmp_path / "a",
        once=True,
        capabilities=STAND_IN,
        artifacts=Artifacts(s3_artifacts, tmp_path / "a"),
    )
    data = uploaded(s3_artifacts, tmp_path)
    home = tmp_path / "b"
    opened: list = []

    def job_fn(job, evaluation, checkpoints, home):
        opened.append((sorted(checkpoints), checkpoints[evaluation.checkpoint_step], evaluation.dataset))
        if isinstance(job, MergeJob):  # as training/merge_export.py writes it
            out = home / "exports" / f"run-{evaluation.run_id}-step-{evaluation.checkpoint_step}-merged"
            out.mkdir(parents=True)
            (out / "model.safetensors").write_bytes(b"merged")
            return [], {"path": str(out), "bytes": 6}
        return [dict(sample_index=0, prompt="q", reference="a", completion="c")], {"samples": 1.0}

    evaluation = store.queue_evaluation("evaluation", "m", data, EvaluationJob().to_dict(), run.id, 1)
    merge = store.queue_evaluation("merge", "m", "", MergeJob().to_dict(), run.id, 2)
    artifacts = Artifacts(s3_artifacts, home)
    run_worker(
        store, stepping_trainer(), home, until_idle=True, capabilities=STAND_IN, job_fn=job_fn, artifacts=artifacts
    )

    cache = home / CACHE / "runs" / str(run.id)
    assert opened[0] == ([1, 2], cache / "checkpoint-1", str(home / CACHE / "uploads" / "9f.csv"))
    assert opened[1][:2] == ([1, 2], cache / "checkpoint-2")
    assert store.get_evaluation(evaluation.id).dataset == data
    merged = store.get_evaluation(merge.id)
    assert merged.status == Status.SUCCEEDED, merged.error
    assert merged.metrics["path"] == f"{s3_artifacts}/exports/run-{run.id}-step-2-merged"
    fetched = Artifacts(s3_artifacts, tmp_path / "c").local(merged.metrics["path"])
    assert files(fetched) == {"model.safetensors": b"merged"}


def test_a_launched_run_gets_the_stores_url_and_never_its_credentials(s3_artifacts, tmp_path):
    config = preset("cpu-demo", num_processes=2)
    argv = launch_argv(config, 3, "sqlite:///x.db", tmp_path, tmp_path / "ckpt", artifacts_url=s3_artifacts)
    assert argv[argv.index("--artifacts") + 1] == s3_artifacts
    assert not any(secret in word for word in argv for secret in CREDENTIALS.values())
    assert "--artifacts" not in launch_argv(config, 3, "sqlite:///x.db", tmp_path)


def test_a_worker_whose_store_cannot_be_reached_exits_at_once_saying_why(tmp_path):
    env = {
        **os.environ,
        **CREDENTIALS,
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",  # nothing listens there
        "AWS_MAX_ATTEMPTS": "1",
        "NOVER_UI_ARTIFACTS": "s3://unreachable/nover",
    }
    db = f"sqlite:///{tmp_path / 'nover_ui.db'}"
    worker = subprocess.run(
        [sys.executable, "-m", "tests.worker_entry", "--db", db, "--home", str(tmp_path / "home"), "--until-idle"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 2
    assert "worker: cannot reach the artifact store s3://unreachable/nover" in worker.stderr
    assert not any(secret in worker.stderr for secret in CREDENTIALS.values())


def test_training_run_fetches_a_resume_url_only_from_its_own_store(tmp_path, capsys):
    url = "s3://elsewhere/nover/runs/1/checkpoint-1"
    with pytest.raises(SystemExit):
        run_main(["--preset", "cpu-demo", "--home", str(tmp_path), "--resume-from", url])
    assert f"{url} is not in this machine's artifact store (none configured)" in capsys.readouterr().err
