"""The trackers a run also reports to (RunConfig.report_to): TRL's own integrations (transformers' TensorBoard,
trackio and W&B callbacks), with their files in the data directory, never in ~/.cache or the working directory.

Where each one writes, for a run whose folder is HOME/runs/<id>, and how to open it:

- TensorBoard: event files in HOME/runs/<id>/tensorboard (TENSORBOARD_LOGGING_DIR, which transformers reads when
  the trainer is built). `tensorboard --logdir HOME/runs/<id>/tensorboard`
- W&B: HOME/runs/<id>/wandb/offline-run-<time>-<id>/ (WANDB_DIR; the wandb service's own logs go under
  HOME/runs/<id>/wandb/cache, WANDB_CACHE_DIR), offline unless the worker's environment sets WANDB_MODE (someone
  logged in to W&B may want online), in the project WANDB_PROJECT (default nover_ui). `wandb sync
  HOME/runs/<id>/wandb/offline-run-*` uploads it.
- trackio: HOME/trackio/nover_ui.db, one trackio project for every run of the data directory, each run named
  "<name> #<id>" (TRL resumes a trackio run of the same name, so the id keeps them apart). trackio fixes its folder
  (TRACKIO_DIR) once, when first imported, and TRL imports it with GRPOTrainer: so the folder is set for the whole
  process, before the training stack is imported (use_trackio_dir, called by the worker and training.run), not per
  run. `TRACKIO_DIR=HOME/trackio trackio show --project nover_ui`

The database stays the record; the trackers get the same values under TRL's names as the integrations write them:
transformers prefixes each training log with "train/" (train/reward, train/loss, train/rewards/format/mean) and
logs the step as train/global_step. What the trainer reports beside TRL's logs (data/*, the held-out eval/*) stays
in the database only, and its step_time (the dashboard's clock of the step) takes the place of TRL's there, while
the trackers get TRL's; TRL also logs its profiling timings to W&B and trackio. Only rank 0 reports: each
integration does nothing on the other processes (state.is_world_process_zero).

Standard library only: the worker records the lines that open a run's trackers (tracker_notes) before it imports
the training stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from training.config import RunConfig

PROJECT = "nover_ui"
"""The trackio project of every run, and the W&B project unless WANDB_PROJECT names another."""


def trackio_dir(home: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Where trackio writes in a process of this data directory: TRACKIO_DIR when set (by use_trackio_dir, or by
    whoever started the process), else HOME/trackio."""
    return Path(environ["TRACKIO_DIR"]) if environ.get("TRACKIO_DIR") else home / "trackio"


def use_trackio_dir(home: Path, environ: MutableMapping[str, str] = os.environ) -> None:
    """Point trackio at HOME/trackio for this process, unless TRACKIO_DIR already names a folder. Call it before
    the training stack is imported: trackio reads TRACKIO_DIR once, on import."""
    environ.setdefault("TRACKIO_DIR", str(trackio_dir(home, environ)))


def tracker_run_name(name: str, run_id: int, workdir: Path) -> str:
    """The run's name in the trackers: unique within the data directory, since TRL resumes a trackio run of the same
    name. A run outside the database (run id 0) is told apart by its folder.

    >>> tracker_run_name("demo", 3, Path("/h/runs/3")), tracker_run_name("", 0, Path("/h/runs/cli-20260101-1200"))
    ('demo #3', 'cli-20260101-1200')
    """
    if run_id:
        return f"{name} #{run_id}" if name else f"run #{run_id}"
    return f"{name} ({workdir.name})" if name else workdir.name


def tracker_environment(
    trackers: tuple[str, ...], workdir: Path, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The environment variables the chosen trackers' integrations read, as this run sets them. A W&B mode or
    project already in the environment is the user's choice and stays.

    >>> env = tracker_environment(("tensorboard", "wandb"), Path("/h/runs/3"), {"WANDB_MODE": "online"})
    >>> env["TENSORBOARD_LOGGING_DIR"], env["WANDB_DIR"], "WANDB_MODE" in env, env["WANDB_PROJECT"]
    ('/h/runs/3/tensorboard', '/h/runs/3', False, 'nover_ui')
    """
    env: dict[str, str] = {}
    if "tensorboard" in trackers:
        env["TENSORBOARD_LOGGING_DIR"] = str(workdir / "tensorboard")
    if "wandb" in trackers:
        env["WANDB_DIR"] = str(workdir)  # wandb adds its own "wandb" folder under it
        env["WANDB_CACHE_DIR"] = str(workdir / "wandb" / "cache")  # its service's logs, else ~/.cache/wandb
        for key, default in (("WANDB_MODE", "offline"), ("WANDB_PROJECT", PROJECT)):
            if not environ.get(key):
                env[key] = default
    return env


@contextlib.contextmanager
def reporting(
    config: RunConfig, workdir: Path, home: Path, environ: MutableMapping[str, str] = os.environ
) -> Iterator[None]:
    """The trackers' environment for one trainer's lifetime (building it and training), then their runs ended and
    the environment as it was: a worker trains many runs in one process. transformers' W&B callback never ends
    its W&B run, and trackio's ends only when training does: both are ended here, whatever stopped the training, so
    the next run starts runs of its own."""
    trackers = config.trackers()
    if "trackio" in trackers:
        _check_trackio_dir(trackio_dir(home, environ))
    if trackers:
        workdir.mkdir(parents=True, exist_ok=True)  # wandb falls back to a temporary folder for a missing WANDB_DIR
    overlay = tracker_environment(trackers, workdir, environ)
    saved = {key: environ.get(key) for key in overlay}
    environ.update(overlay)
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            _end_runs(trackers, failed)
        finally:
            for key, value in saved.items():
                if value is None:
                    environ.pop(key, None)
                else:
                    environ[key] = value


def _end_runs(trackers: tuple[str, ...], failed: bool) -> None:
    """End this run's W&B and trackio runs when they are still open."""
    wandb = sys.modules.get("wandb") if "wandb" in trackers else None
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1 if failed else 0)
        wandb.teardown()  # its service started with this run's environment; the next run starts one with its own
    trackio = sys.modules.get("trackio") if "trackio" in trackers else None
    if trackio is not None and trackio.context_vars.current_run.get() is not None:
        trackio.finish()


def _check_trackio_dir(expected: Path) -> None:
    """Say so when trackio was imported before its folder was chosen (a script that imported the training stack
    itself): it then writes where TRACKIO_DIR pointed at that time, ~/.cache/huggingface/trackio by default."""
    import trackio.utils  # already imported with TRL's GRPOTrainer

    if Path(trackio.utils.TRACKIO_DIR).resolve() != expected.resolve():
        print(
            f"trackers: trackio writes to {trackio.utils.TRACKIO_DIR}, not {expected}: it was imported before "
            f"TRACKIO_DIR was set; set TRACKIO_DIR before importing the training stack",
            file=sys.stderr,
        )


def tracker_notes(
    config: RunConfig, home: Path, workdir: Path, name: str, run_id: int, environ: Mapping[str, str] = os.environ
) -> str:
    """Shell comment lines, one per tracker, saying where the run's files are and how to open them; '' with none.
    The worker adds them to the command it records on the run, which the Runs tab shows.

    >>> print(tracker_notes(RunConfig(report_to="tensorboard,trackio"), Path("/h"), Path("/h/runs/3"), "demo", 3, {}))
    <BLANKLINE>
    # tensorboard: tensorboard --logdir /h/runs/3/tensorboard
    # trackio (run "demo #3"): TRACKIO_DIR=/h/trackio trackio show --project nover_ui
    """
    lines = []
    for tracker in config.trackers():
        if tracker == "tensorboard":
            lines.append(f"# tensorboard: tensorboard --logdir {workdir / 'tensorboard'}")
        elif tracker == "trackio":
            run_name = json.dumps(tracker_run_name(name, run_id, workdir))  # quoted, escaped: one line whatever it is
            folder = trackio_dir(home, environ)
            lines.append(f"# trackio (run {run_name}): TRACKIO_DIR={folder} trackio show --project {PROJECT}")
        elif tracker == "wandb":
            mode = environ.get("WANDB_MODE") or "offline"
            project = environ.get("WANDB_PROJECT") or PROJECT
            upload = f"wandb sync {workdir / 'wandb'}/offline-run-*" if mode == "offline" else f"mode {mode}"
            lines.append(f"# wandb (project {project}): files in {workdir / 'wandb'}; {upload}")
    return "".join(f"\n{line}" for line in lines)
