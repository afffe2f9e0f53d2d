"""The trackers a run also reports to (training/trackers.py): their environment, set for a trainer's lifetime and
restored after; then one real 2-step training of the default model that reports to trackio, TensorBoard and W&B
(offline) at once, read back from each tracker's own files and compared with the database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Store
from tests.training.tracker_files import tensorboard_series, trackio_series, wandb_run, wandb_series
from training.config import RunConfig, preset
from training.execute import run_training
from training.trackers import PROJECT, reporting, tracker_notes, use_trackio_dir

ROOT = Path(__file__).resolve().parents[2]
ALL = "trackio,tensorboard,wandb"
TRACKED = preset(
    "cpu-demo",
    num_generations=2,
    max_completion_length=16,
    max_steps=2,
    checkpoint_steps=0,
    format_example=False,  # a shorter prompt, a faster step; the trackers do not care what was asked
    report_to=ALL,
)
OWN_ENVIRONMENT = ("TRACKIO_", "WANDB_", "TENSORBOARD_", "HF_", "XDG_")
"""Variables of the test's own environment that would choose the trackers' folders; the training runs without."""


def test_the_trackers_environment_is_set_inside_and_restored_after(tmp_path):
    environ = {"WANDB_MODE": "online", "TENSORBOARD_LOGGING_DIR": "/elsewhere"}
    before = dict(environ)
    run = tmp_path / "run"
    with reporting(RunConfig(report_to="tensorboard,wandb"), run, tmp_path, environ):
        assert environ == {
            "TENSORBOARD_LOGGING_DIR": str(run / "tensorboard"),
            "WANDB_DIR": str(run),
            "WANDB_CACHE_DIR": str(run / "wandb" / "cache"),
            "WANDB_MODE": "online",  # the user's choice stays
            "WANDB_PROJECT": PROJECT,
        }
        assert run.is_dir()  # wandb would write to a temporary folder instead of a missing one
    assert environ == before


def test_the_environment_is_restored_when_training_fails(tmp_path):
    environ: dict[str, str] = {}
    with pytest.raises(RuntimeError, match="boom"):
        with reporting(RunConfig(report_to="wandb"), tmp_path / "run", tmp_path, environ):
            assert environ["WANDB_MODE"] == "offline" and environ["WANDB_PROJECT"] == PROJECT
            raise RuntimeError("boom")
    assert environ == {}


def test_no_tracker_sets_nothing(tmp_path):
    environ = {"HOME": "/home/someone"}
    with reporting(RunConfig(), tmp_path / "run", tmp_path, environ):
        assert environ == {"HOME": "/home/someone"}
    assert not (tmp_path / "run").exists()


def test_trackio_gets_the_data_directory_unless_told_otherwise(tmp_path):
    environ: dict[str, str] = {}
    use_trackio_dir(tmp_path, environ)
    assert environ == {"TRACKIO_DIR": str(tmp_path / "trackio")}
    environ = {"TRACKIO_DIR": "/shared/trackio"}
    use_trackio_dir(tmp_path, environ)
    assert environ == {"TRACKIO_DIR": "/shared/trackio"}


def test_the_notes_stay_comment_lines_whatever_the_run_is_called(tmp_path):
    notes = tracker_notes(RunConfig(report_to=ALL), tmp_path, tmp_path / "runs" / "3", "two\nlines", 3, {})
    lines = notes.splitlines()[1:]
    assert len(lines) == 3 and all(line.startswith("# ") for line in lines)
    assert '"two\\nlines #3"' in lines[0] and f"wandb sync {tmp_path}/runs/3/wandb/offline-run-*" in lines[2]


def test_a_worker_records_where_its_runs_trackers_write_and_names_the_run(store, tmp_path, monkeypatch):
    """The worker's path with a stand-in trainer: the command it records ends with the tracker lines (the Runs tab
    shows it), and the trainer's context carries the run's name for the trackers."""
    for key in ("WANDB_MODE", "WANDB_PROJECT"):  # a W&B user's own settings would show in the lines
        monkeypatch.delenv(key, raising=False)
    contexts = []
    run = store.create_run("demo", preset("cpu-demo", max_steps=1, report_to="tensorboard,wandb").to_dict())
    claimed = store.claim_next_run("test")
    done = run_training(
        store, claimed, RunConfig.from_dict(claimed.config), lambda c, s, context: contexts.append(context), tmp_path
    )
    assert done.status == "succeeded", done.error
    [context] = contexts
    assert (context.name, context.workdir) == ("demo", tmp_path / "runs" / str(run.id))
    folder = context.workdir
    assert done.command.splitlines()[1:] == [
        f"# tensorboard: tensorboard --logdir {folder}/tensorboard",
        f"# wandb (project nover_ui): files in {folder}/wandb; wandb sync {folder}/wandb/offline-run-*",
    ]


@pytest.mark.slow
def test_one_run_reports_the_same_metrics_to_every_tracker(run_home, tmp_path):
    """`python -m training.run --db` (the worker's path in one process), in a process of its own with an empty HOME
    and working directory, so anything a tracker writes outside the data directory shows there."""
    user, cwd = tmp_path / "user", tmp_path / "cwd"
    user.mkdir()
    cwd.mkdir()
    config_file = tmp_path / "tracked.json"
    config_file.write_text(TRACKED.to_json())
    env = {key: value for key, value in os.environ.items() if not key.startswith(OWN_ENVIRONMENT)}
    env.update(HOME=str(user), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    db_url = f"sqlite:///{run_home / 'nover_ui.db'}"
    argv = ["--config", str(config_file), "--db", db_url, "--home", str(run_home), "--name", "tracked"]
    trained = subprocess.run(
        [sys.executable, "-m", "training.run", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert trained.returncode == 0, trained.stderr[-4000:]

    store = Store(db_url)
    [run] = store.list_runs()
    assert run.status == "succeeded", run.error
    stored = store.get_metrics(run.id)
    workdir = run_home / "runs" / str(run.id)
    [wandb_file] = (workdir / "wandb").glob("offline-run-*/run-*.wandb")
    written = {
        "tensorboard": tensorboard_series(workdir / "tensorboard"),
        "trackio": trackio_series(run_home / "trackio" / f"{PROJECT}.db", f"tracked #{run.id}"),
        "wandb": wandb_series(wandb_file),
    }
    # TRL's names as transformers writes them to every tracker: "train/" and the name the database keeps.
    # step_time is the dashboard's own clock of the step (training.grpo.SinkCallback), in place of TRL's.
    shared = [k for k in stored if k != "step_time" and all(f"train/{k}" in series for series in written.values())]
    assert {"reward", "loss", "rewards/format/mean", "entropy", "completions/mean_length"} <= set(shared), shared
    for key in shared:
        assert stored[key].steps == (1, 2), key
        expected = dict(zip(stored[key].steps, stored[key].values))
        for tracker, series in written.items():
            at_steps = {step: series[f"train/{key}"].get(step) for step in expected}
            assert at_steps == pytest.approx(expected, rel=1e-6), (tracker, key)  # TensorBoard keeps 32-bit floats
    assert (wandb_run(wandb_file).display_name, wandb_run(wandb_file).project) == (f"tracked #{run.id}", PROJECT)

    # Every file in the data directory: the trackers wrote nothing in HOME or the working directory.
    assert list(user.rglob("*")) == [] and list(cwd.rglob("*")) == []
    notes = tracker_notes(TRACKED, run_home, workdir, "tracked", run.id, {})
    assert run.command.endswith(notes) and notes.count("\n# ") == 3  # the Runs tab shows them under the command
    store.close()
