"""The worker process: claims queued runs from the database and trains them, one at a time.

    python -m training.worker --db sqlite:///.nover_ui/nover_ui.db [--once | --until-idle | --max-runs N
                              --exit-when-idle SECONDS] [--artifacts URL]
        [--machine-rank R] [--main-process-ip ADDR]
    python -m training.worker health [--worker-id ID]     (a scheduler's probe: training/worker_health.py)

When no run is queued it runs queued evaluation and playground jobs (training/jobs.py). Several workers, on
this machine or others, may share one database; each run or job is claimed by exactly one. This module holds
the claim loop, its command line and the stale checks; training/execute.py runs each claimed run or job. Those
two are the only modules of `training` that import `storage`. With --artifacts (an fsspec URL, training/artifacts.py)
the worker needs no disk shared with the dashboard or other workers: it fetches what a run or job needs from the store
and copies what they write there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from storage import EvaluationRecord, MachineClaim, RunRecord, Status, StorageError, Store
from training.alert_notify import NO_WEBHOOK, PUBLIC_URL_ENV, WEBHOOK_ENV, AlertSettings, webhook_url_problem
from training.artifacts import ARTIFACTS_ENV, ArtifactError, Artifacts, artifacts_url
from training.commands import DB_ENV
from training.config import HEARTBEAT_TIMEOUT_S, INTERRUPTED_POLICIES, ConfigError, RunConfig
from training.execute import HEARTBEAT_INTERVAL_S, JobFn, run_job, run_training
from training.interface import TrainFn
from training.job_config import Job, job_class, job_from_dict, legacy_values
from training.machines import ANY_MACHINE, MachineFlags, join_run
from training.needs import Capabilities, can_run, unmet
from training.worker_exits import ExitRules, add_exit_flags, exit_rules
from training.worker_health import WORKER_ID_ENV
from training.worker_health import main as health_main


def run_worker(
    store: Store,
    train_fn: TrainFn,
    home: Path,
    worker_id: str | None = None,
    once: bool = False,
    until_idle: bool = False,
    poll_s: float = 2.0,
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    shutdown: threading.Event | None = None,
    job_fn: JobFn | None = None,
    resume_interrupted: bool = False,
    capabilities: Capabilities | None = None,
    alerts: AlertSettings = NO_WEBHOOK,
    max_runs: int | None = None,
    exit_when_idle_s: float | None = None,
    artifacts: Artifacts | None = None,
    machines: MachineFlags = ANY_MACHINE,
) -> int:
    """Claim and run jobs until shut down or an exit rule ends it (training/worker_exits.py: `once`, `until_idle`,
    `max_runs`, `exit_when_idle_s`); returns how many ran.

    Queued runs come first; an evaluation or playground job is taken when no run is queued. Idle means
    neither is queued. The worker records itself and what its machine can run (`capabilities`, detected when
    not given) and claims only the runs its machine can train (training/needs.py), leaving the others queued
    for a worker that can; it stays recorded as live while it idles (refreshed here, at most every heartbeat
    interval) or works (the heartbeats of its run or job refresh it), and removes itself when it stops. New alerts
    of its runs go to the operator's webhook in `alerts` (training/alert_notify.py). `artifacts` is the store runs and
    jobs read their inputs from and write their checkpoints and exports to (default: files stay under `home`).

    A run over several machines is claimed as machine rank 0; with no queued run it can take, the worker joins such a
    run that waits for machines, as its lowest free rank (training/machines.py), before taking a job. `machines` (its
    --machine-rank and --main-process-ip) may restrict it to one of the two roles.
    """
    worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    rules = ExitRules.of(once, until_idle, max_runs, exit_when_idle_s)  # before any write: bad rules change nothing
    shutdown = shutdown or threading.Event()
    if capabilities is None:
        from training.capabilities import detect  # imports torch: seconds, once

        capabilities = detect()

    def train_one(claimed: RunRecord | EvaluationRecord | MachineClaim) -> None:
        if isinstance(claimed, RunRecord):
            print(f"worker {worker_id}: running run {claimed.id} ({claimed.name})", file=sys.stderr)
            finished = _train(
                store,
                claimed,
                train_fn,
                home,
                shutdown,
                heartbeat_interval_s,
                resume_interrupted,
                alerts,
                artifacts,
                machines,
            )
            print(f"worker {worker_id}: run {claimed.id} {finished.status}", file=sys.stderr)
        elif isinstance(claimed, MachineClaim):
            run, rank = claimed.run, claimed.machine.machine_rank
            print(f"worker {worker_id}: joining run {run.id} ({run.name}) as machine rank {rank}", file=sys.stderr)
            ended = join_run(store, claimed, home, shutdown, heartbeat_interval_s, artifacts or Artifacts(None, home))
            print(f"worker {worker_id}: run {run.id}'s processes here exited with {ended.exit_code}", file=sys.stderr)
        else:
            print(f"worker {worker_id}: running {claimed.kind} job {claimed.id}", file=sys.stderr)
            ended = run_claimed_job(store, claimed, home, heartbeat_interval_s, job_fn, artifacts)
            print(f"worker {worker_id}: {claimed.kind} job {claimed.id} {ended.status}", file=sys.stderr)

    store.register_worker(worker_id, socket.gethostname(), capabilities.to_dict())
    try:
        for run_id in store.fail_stale_runs(heartbeat_timeout_s, resume=resume_interrupted):
            print(f"worker {worker_id}: marked run {run_id} failed (its worker stopped responding)", file=sys.stderr)
        for evaluation_id in store.fail_stale_evaluations(heartbeat_timeout_s):
            print(
                f"worker {worker_id}: marked evaluation {evaluation_id} failed (its worker stopped responding)",
                file=sys.stderr,
            )
        return _claim_until_done(
            store, worker_id, capabilities, machines, rules, poll_s, heartbeat_interval_s, shutdown, train_one
        )
    finally:
        with contextlib.suppress(StorageError):  # a database out of reach forgets it by the timeout instead
            store.forget_worker(worker_id)


def _claim_until_done(
    store: Store,
    worker_id: str,
    capabilities: Capabilities,
    machines: MachineFlags,
    rules: ExitRules,
    poll_s: float,
    heartbeat_interval_s: float,
    shutdown: threading.Event,
    train_one: Callable[[RunRecord | EvaluationRecord | MachineClaim], None],
) -> int:
    """The claim loop of run_worker: runs first, then a machine rank of a run over several, then jobs; refreshes the
    worker's row while it idles."""
    done = 0
    judged: set[int] = set()
    last_seen = idle_since = time.monotonic()
    while not shutdown.is_set():
        _say_passed_over(store, worker_id, capabilities, machines, judged)
        claimed: RunRecord | EvaluationRecord | MachineClaim | None = store.claim_next_run(
            worker_id, lambda config: can_run(config, capabilities) and _starts(machines, config)
        )
        if claimed is None and machines.joins():
            claimed = store.claim_machine_rank(
                worker_id, socket.gethostname(), machines.rank, lambda config: can_run(config, capabilities)
            )
        claimed = claimed or store.claim_next_evaluation(worker_id)
        if claimed is not None:
            train_one(claimed)
            store.touch_worker(worker_id)  # its run's or job's heartbeats kept it live; now this loop does
            last_seen = idle_since = time.monotonic()
            done += 1
            if rules.enough(done):
                print(f"worker {worker_id}: exiting: {rules.describe(done, 0)}", file=sys.stderr)
                break
        elif (wait_s := rules.idle_wait(time.monotonic() - idle_since, poll_s)) is None:
            print(
                f"worker {worker_id}: exiting: {rules.describe(done, time.monotonic() - idle_since)}", file=sys.stderr
            )
            break
        else:
            if time.monotonic() - last_seen >= heartbeat_interval_s:
                store.touch_worker(worker_id)
                last_seen = time.monotonic()
            shutdown.wait(wait_s)
    return done


def _starts(machines: MachineFlags, stored: dict[str, Any]) -> bool:
    """Whether this worker may claim a queued run with this stored config (an invalid one is claimed, and failed)."""
    try:
        return machines.starts(RunConfig.from_dict(stored))
    except ConfigError:
        return True


def _say_passed_over(
    store: Store, worker_id: str, capabilities: Capabilities, machines: MachineFlags, judged: set[int]
) -> None:
    """Print, once per run, why this worker leaves a queued run to others (its log is where a person looks).

    Each queued run is judged once (`judged` holds those seen): a queued run's config does not change, and judging
    them all at every look cost 0.5 s per claim with 1000 queued (bench/bench_claims.py)."""
    for run in store.list_runs([Status.QUEUED]):
        if run.id in judged:
            continue
        judged.add(run.id)
        with contextlib.suppress(ConfigError):  # an invalid config is claimed, and failed saying why
            config = RunConfig.from_dict(run.config)
            lacking = [need.message() for need in unmet(config, capabilities)]
            if not machines.starts(config):
                lacking.append(f"this worker only joins runs over several machines as rank {machines.rank}")
            if lacking:
                reasons = "; ".join(lacking)
                print(f"worker {worker_id}: leaving run {run.id} queued for another worker: {reasons}", file=sys.stderr)


def _train(
    store: Store,
    run: RunRecord,
    train_fn: TrainFn,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float,
    resume_interrupted: bool,
    alerts: AlertSettings = NO_WEBHOOK,
    artifacts: Artifacts | None = None,
    machines: MachineFlags = ANY_MACHINE,
) -> RunRecord:
    """Train a claimed run whose stored config is valid; fail it, saying why, when it is not."""
    try:
        config = RunConfig.from_dict(run.config)
    except ConfigError as exc:
        return store.finish_run(run.id, Status.FAILED, f"the run's stored config is invalid: {exc}")
    return run_training(
        store,
        run,
        config,
        train_fn,
        home,
        shutdown,
        heartbeat_interval_s,
        resume_interrupted,
        alerts=alerts,
        artifacts=artifacts,
        machines=machines,
    )


def run_claimed_job(
    store: Store,
    evaluation: EvaluationRecord,
    home: Path,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    job_fn: JobFn | None = None,
    artifacts: Artifacts | None = None,
) -> EvaluationRecord:
    """Run a claimed job whose stored config is valid; fail it, saying why, when it is not."""
    try:
        job = _stored_job(store, evaluation)
    except (ConfigError, StorageError) as exc:
        return store.finish_evaluation(evaluation.id, Status.FAILED, error=str(exc).replace("\n", " "))
    return run_job(store, evaluation, job, home, heartbeat_interval_s, job_fn, artifacts)


def _stored_job(store: Store, evaluation: EvaluationRecord) -> Job:
    """The typed config of a job's row. A row queued before job configs were typed is rebuilt once, the old way:
    its run_config merged over its run's stored config, its `model` on top."""
    config = evaluation.config or {}
    if not job_class(evaluation.kind).is_complete(config):
        base_config = store.get_run(evaluation.run_id).config if evaluation.run_id is not None else {}
        config = legacy_values(config, base_config, evaluation.model)
    return job_from_dict(evaluation.kind, config)


def _watch_parent(parent_pid: int, shutdown: threading.Event) -> None:
    # Orphaned workers would keep training for an app that is gone (e.g. killed with SIGKILL).
    while not shutdown.wait(2.0):
        if os.getppid() != parent_pid:
            print("worker: the app that started this worker exited; shutting down", file=sys.stderr)
            shutdown.set()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.worker",
        description=__doc__.splitlines()[0],
        epilog="python -m training.worker health --help: the health command a scheduler's probe runs",
    )
    parser.add_argument("--db", default=os.environ.get(DB_ENV), help=f"database URL (env {DB_ENV})")
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("NOVER_UI_HOME", ".nover_ui")),
        help="data directory for models and checkpoints (env NOVER_UI_HOME, default ./.nover_ui)",
    )
    add_exit_flags(parser)
    parser.add_argument(
        "--worker-id",
        default=os.environ.get(WORKER_ID_ENV) or None,
        help=f"name shown in the dashboard and checked by the health command (env {WORKER_ID_ENV}, default host:pid)",
    )
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the queue when idle")
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=HEARTBEAT_TIMEOUT_S,
        help="seconds of silence after which another worker's running run is failed",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        help="shut down (after the current step) when this process, the app that started the "
        "worker, exits; the app passes its own pid",
    )
    parser.add_argument(
        "--interrupted",
        default=os.environ.get("NOVER_UI_INTERRUPTED", "fail"),
        help="what happens to a run whose worker went away (shut down here, or silent past the "
        "heartbeat timeout): fail, or resume (queue a linked run from its last checkpoint) "
        "(env NOVER_UI_INTERRUPTED, default fail)",
    )
    parser.add_argument(
        "--alert-webhook",
        default=os.environ.get(WEBHOOK_ENV) or None,
        help=f"http(s) URL that receives each new alert of a run as JSON (env {WEBHOOK_ENV}; default none)",
    )
    parser.add_argument(
        "--public-url",
        default=os.environ.get(PUBLIC_URL_ENV) or None,
        help=f"the dashboard's address, for a link to the run in each alert posted (env {PUBLIC_URL_ENV})",
    )
    parser.add_argument(
        "--artifacts",
        help=f"the artifact store's URL, e.g. s3://bucket/prefix (env {ARTIFACTS_ENV}; default: files stay under "
        "--home): runs read uploads and parent checkpoints from it and write checkpoints and exports to it, so workers "
        "need no shared disk; its credentials come from the environment (for s3://: AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3), never the URL",
    )
    parser.add_argument(
        "--machine-rank",
        type=int,
        help="for runs over several machines (num_machines > 1), as accelerate's --machine_rank: 0 = only start "
        "them (this machine is rank 0), R > 0 = only join them as rank R; default: start them and join others as "
        "any free rank",
    )
    parser.add_argument(
        "--main-process-ip",
        default="",
        help="as accelerate's --main_process_ip: the address the other machines reach this one at when it is rank 0 "
        "of a run over several machines (default: the address this host name resolves to)",
    )
    args = parser.parse_args(argv)
    args.artifacts = artifacts_url(args.artifacts)
    if args.machine_rank is not None and args.machine_rank < 0:
        parser.error(
            f"--machine-rank must be 0 (start runs over several machines) or above (join them), got {args.machine_rank}"
        )
    if any(c.isspace() for c in args.main_process_ip) or "/" in args.main_process_ip:
        parser.error(
            f"--main-process-ip takes a bare address or host name, e.g. 10.0.0.5, got {args.main_process_ip!r}"
        )
    if args.alert_webhook and (problem := webhook_url_problem(args.alert_webhook)):
        parser.error(f"--alert-webhook: {problem}")
    if args.interrupted not in INTERRUPTED_POLICIES:
        parser.error(f"--interrupted must be one of {', '.join(INTERRUPTED_POLICIES)}, got {args.interrupted!r}")
    if not args.db:
        parser.error(f"--db is required (or set NOVER_UI_DB), e.g. --db sqlite:///{args.home}/nover_ui.db")
    args.exit_rules = exit_rules(parser, args)
    return args


def main(
    argv: Sequence[str] | None = None,
    train_fn: TrainFn | None = None,
    capabilities: Capabilities | None = None,
    job_fn: JobFn | None = None,
) -> int:
    """The worker's command line; a test passes a stand-in trainer (and job function) and the capabilities it stands
    in for (detected here otherwise, once the parent watch runs: importing torch takes seconds). `health` as the first
    argument runs the health command instead (training/worker_health.py)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["health"]:
        return health_main(argv[1:])
    args = parse_args(argv)
    shutdown = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if shutdown.is_set():
            raise SystemExit(128 + signum)  # a second signal: stop now
        print("worker: shutting down after the current step", file=sys.stderr)
        shutdown.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.parent_pid is not None:
        # The pid comes from the app itself: reading our parent here would be too late if the app exited while
        # this process was starting (it would then be our adopter, and the watch would never fire).
        threading.Thread(target=_watch_parent, args=(args.parent_pid, shutdown), daemon=True).start()
    if train_fn is None:  # after the watch starts: importing the training stack takes seconds
        from training.trackers import use_trackio_dir

        use_trackio_dir(args.home.resolve())  # before the training stack: trackio reads it once, on import
        from training.trainer import train as train_fn
    try:
        store = Store(args.db)
    except StorageError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    args.home.mkdir(parents=True, exist_ok=True)
    try:
        artifacts = Artifacts(args.artifacts, args.home.resolve())
        artifacts.check()  # a wrong URL or missing credentials stop the worker now, not its first run
    except ArtifactError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    run_worker(
        store,
        train_fn,
        args.home.resolve(),
        args.worker_id,
        max_runs=args.exit_rules.max_runs,
        exit_when_idle_s=args.exit_rules.idle_s,
        poll_s=args.poll,
        heartbeat_timeout_s=args.heartbeat_timeout,
        shutdown=shutdown,
        resume_interrupted=args.interrupted == "resume",
        capabilities=capabilities,
        alerts=AlertSettings(args.alert_webhook, args.public_url),
        job_fn=job_fn,
        artifacts=artifacts,
        machines=MachineFlags(args.machine_rank, args.main_process_ip),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
