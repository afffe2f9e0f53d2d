"""Run one NOVER training config without the dashboard, with a progress bar.

    python -m training.run --preset cpu-demo [--set key=value ...] [--config run.json] [--db URL] [--queue]

With --db the run is recorded in that database like a dashboard run (and shows up there); without it the
metrics stay in memory and only the checkpoints are written (under HOME/runs/cli-TIMESTAMP). With --queue
--db URL the run is checked as the dashboard checks it and put on that database's worker queue instead of being
trained here: its id is printed, and `python -m nover_ui.cli --db URL follow ID` follows it.

A config with num_processes N > 1 runs under `accelerate launch --config_file training/accelerate/ddp.yaml
--num_processes N -m training.run ...` (training/commands.py builds it): every process trains its share of each step and
only the first one (rank 0) reports. With num_machines M > 1 each machine launches num_processes of the N x M
(training/machines.py). A worker launches runs so, adding --run-id ID with the database URL in env NOVER_UI_DB: rank 0
then trains that run, which the worker has claimed, like the worker does in-process (rows, heartbeat, how it ended;
both through training/execute.py).

With --artifacts URL (env NOVER_UI_ARTIFACTS; training/artifacts.py) a data file or --resume-from URL inside that store
is fetched into HOME/artifact-cache first, and a run recorded with --db copies each checkpoint there; a worker passes
its store's URL to the processes it launches (the credentials stay in the environment they inherit).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from training.artifacts import ARTIFACTS_ENV, ArtifactError, Artifacts, artifacts_url
from training.commands import DB_ENV, build_config, command_line, run_command
from training.config import INTERRUPTED_POLICIES, PRESETS, ConfigError, RunConfig
from training.run_artifacts import local_data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.run", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named preset")
    parser.add_argument("--config", type=Path, help="start from a JSON config file (after the preset)")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field; repeatable",
    )
    parser.add_argument("--db", help="record the run in this database (e.g. sqlite:///.nover_ui/nover_ui.db)")
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("NOVER_UI_HOME", ".nover_ui")),
        help="data directory for models and checkpoints (env NOVER_UI_HOME)",
    )
    parser.add_argument(
        "--queue",
        action="store_true",
        help="with --db: check the config and queue it for the database's workers instead of training here",
    )
    parser.add_argument("--name", help="run name (default: preset and time)")
    parser.add_argument(
        "--resume-from", help="continue from this checkpoint folder, or its URL in the artifact store (--artifacts)"
    )
    parser.add_argument(
        "--artifacts",
        help=f"the artifact store's URL, e.g. s3://bucket/prefix (env {ARTIFACTS_ENV}): checkpoints are copied there, "
        "and a data file or --resume-from URL inside it is fetched first; its credentials come from the environment",
    )
    parser.add_argument(
        "--run-id",
        type=int,
        help=f"train this run of --db (or env {DB_ENV}), which a worker has claimed (the worker launches its "
        "several-process runs so, with the database in the environment)",
    )
    parser.add_argument(
        "--interrupted",
        choices=INTERRUPTED_POLICIES,
        default="fail",
        help="with --run-id: what a shut-down run becomes (the worker's --interrupted)",
    )
    args = parser.parse_args(argv)
    try:
        config = build_config(args.preset, args.config, args.assignments)
    except (ConfigError, OSError) as exc:
        parser.error(str(exc))
    name = args.name or f"{args.preset or 'custom'} {time.strftime('%Y-%m-%d %H:%M')}"
    if args.queue:
        return _queue(parser, args, config, name)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if config.world_size != world:
        # Otherwise TRL would fail on the batch arithmetic, or each process would train the whole run alone.
        counted = "num_processes x num_machines" if config.num_machines > 1 else "num_processes"
        parser.error(
            f"{counted} is {config.world_size} but {world} process(es) started; run\n  "
            f"{run_command(config, args.resume_from)}"
        )
    if args.run_id is not None and not args.db:
        # A worker passes the database in the environment: a URL may hold a password, which argv would show in `ps`.
        args.db = os.environ.get(DB_ENV)
        if not args.db:
            parser.error(f"--run-id needs the database holding the run: --db URL or env {DB_ENV}")
    if args.db and args.run_id is None and args.resume_from is not None:
        parser.error("--resume-from with --db: resume the run from the dashboard's Runs tab, which links the two")
    home = args.home.resolve()
    try:
        artifacts = Artifacts(artifacts_url(args.artifacts), home)
        resume_from = artifacts.local(args.resume_from) if args.resume_from else None
    except ArtifactError as exc:
        parser.error(str(exc))
    shutdown = threading.Event()
    if world > 1:
        print(f"process {rank} of {world} (pid {os.getpid()})", file=sys.stderr)
        _stop_after_the_step_on_signal(shutdown)
    if rank == 0:
        print(f"config: {command_line(config)}", file=sys.stderr)
        try:
            several = config.replace(num_processes=max(2, config.num_processes))
            print(f"on several GPUs: {command_line(several, 'accelerate')}", file=sys.stderr)
        except ConfigError:
            pass  # no such line to show: e.g. a vLLM server on GPU 1, which a second training process would need

    from training.trackers import tracker_notes, use_trackio_dir

    use_trackio_dir(home)  # before the training stack: trackio reads it once, on import (training/trackers.py)
    from training.interface import MemorySink, RunContext
    from training.progress import ProgressSink
    from training.trainer import train
    from training.vllm_server import starts_server, with_own_server

    if rank == 0 and args.run_id is None and starts_server(config):
        train = with_own_server(train)  # a worker starts the server of a run it launched itself

    def progress(sink):  # type: ignore[no-untyped-def]  # any Sink the worker or the CLI hands it
        return ProgressSink(sink, config.max_steps)

    if rank == 0 and args.db:
        from training.execute import exit_code, train_claimed, train_now

        if args.run_id is not None:
            resume = args.interrupted == "resume"
            record = train_claimed(args.db, args.run_id, config, home, train, shutdown, progress, resume, artifacts)
        else:
            record = train_now(args.db, name, config, home, train, observe=progress, artifacts=artifacts)
        print(f"run {record.id} {record.status}" + (f": {record.error}" if record.error else ""), file=sys.stderr)
        return exit_code(record)
    # The other processes train their share of each step; the trainer reports through rank 0's sink only.
    run_dir = str(args.run_id) if args.run_id is not None else f"cli-{time.strftime('%Y%m%d-%H%M%S')}"
    context = RunContext(
        run_id=args.run_id or 0, home=home, workdir=home / "runs" / run_dir, resume_from=resume_from, name=name
    )
    sink = progress(MemorySink()) if rank == 0 else MemorySink()
    try:
        train(local_data(config, artifacts), sink, context)
    finally:
        if rank == 0:
            sink.close()
    if rank == 0:
        notes = tracker_notes(config, home, context.workdir, name, context.run_id)
        print(f"done; checkpoints in {context.workdir}{notes}", file=sys.stderr)
    return 0


def _queue(parser: argparse.ArgumentParser, args: argparse.Namespace, config: RunConfig, name: str) -> int:
    """--queue: the run on the database's worker queue; its id on stdout, or the refusal on stderr (exit 2)."""
    if not args.db:
        parser.error("--queue needs --db, the database whose workers train the run")
    if args.run_id is not None or args.resume_from is not None:
        parser.error("--queue starts a new run: resume one from the dashboard's Runs tab (or its /resume_run endpoint)")
    from training.execute import QUEUE_REFUSALS, queue_run

    try:
        run = queue_run(args.db, name, config)
    except QUEUE_REFUSALS as exc:
        print(f"training.run: not queued: {exc}", file=sys.stderr)
        return 2
    print(f"queued run {run.id} ({run.name}) on {args.db}; a worker trains it", file=sys.stderr)
    print(run.id)
    return 0


def _stop_after_the_step_on_signal(shutdown: threading.Event) -> None:
    """Under a launcher, SIGTERM (the worker shutting down, relayed by torchrun) or the launcher vanishing ends
    the run after the current step: rank 0's sink reports it and every process leaves at that same step."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: shutdown.set())
    launcher = os.getppid()

    def watch() -> None:
        while not shutdown.wait(2.0):
            if os.getppid() != launcher:
                shutdown.set()

    threading.Thread(target=watch, name="watch-launcher", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
