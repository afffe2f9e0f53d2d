"""The worker process: claims queued runs from the database and trains them, one at a time.

    python -m training.worker --db sqlite:///.nover_ui/nover_ui.db [--once | --until-idle]

When no run is queued it runs queued evaluation and playground jobs (training/jobs.py). Several workers, on
this machine or others, may share one database; each run or job is claimed by exactly one. This is the only
module of `training` that imports `storage` (training/jobs.py is handed the Store).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from storage import EvaluationRecord, InvalidTransition, RunRecord, StorageError, Store
from training.config import HEARTBEAT_TIMEOUT_S, INTERRUPTED_POLICIES, ConfigError, RunConfig
from training.flags import DEFAULT_TAGS, TagSettings, flag_step
from training.interface import RunContext, Sink, TrainFn
from training.launch import launch, launch_argv
from training.run import run_command

EvaluateFn = Callable[[Store, EvaluationRecord, Path], EvaluationRecord]
"""Runs one claimed evaluation or playground job to its end (training.jobs.run_evaluation)."""
HEARTBEAT_INTERVAL_S = 10.0
TRACEBACK_LINES = 20
RECORD_RETRY_S = 5.0
RECORD_PATIENCE_S = 3600.0
"""How long a worker keeps trying to record a run's end in a database that refuses writes."""
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


class StoreSink:
    """Binds a trainer's reports to one run in the Store; each step's rows land in one transaction."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        total_steps: int,
        shutdown: threading.Event,
        tags: TagSettings = DEFAULT_TAGS,
    ):
        self._store = store
        self._run_id = run_id
        self._total_steps = total_steps
        self._tags = tags
        self._shutdown = shutdown
        self._pending: dict[int, list[Mapping[str, Any]]] = {}
        self.lost_run = False
        """Set when the run stopped being ours (failed as stale by someone else)."""
        self.last_step = 0
        """The last step whose metrics (and rollouts) are committed."""
        self.stop_reason: str | None = None

    def log_rollouts(self, step: int, rows: Sequence[Mapping[str, Any]]) -> None:
        # Held back until the step's metrics arrive, so rollouts and metrics of a step commit together.
        self._pending.setdefault(step, []).extend(rows)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        rollouts = self._pending.pop(step, [])
        if rollouts:  # failure flags computed once, as the step is written: stored per rollout, counted in metrics
            rollouts, counts = flag_step(step, rollouts, self._tags)
            metrics = {**metrics, **counts}
        try:
            self._store.log_step(self._run_id, step, metrics, rollouts, total_steps=self._total_steps, heartbeat=True)
        except InvalidTransition:
            self.lost_run = True
            raise
        self.last_step = max(self.last_step, step)

    def log_checkpoint(self, step: int, path: str) -> None:
        self._store.add_checkpoint(self._run_id, step, path)

    def should_stop(self) -> bool:
        if self._shutdown.is_set():
            self.stop_reason = "shutdown"
        elif self.lost_run or self._store.is_cancel_requested(self._run_id):
            self.stop_reason = "cancel"
        return self.stop_reason is not None

    def flush(self) -> None:
        """Write rollouts of steps whose metrics never came (the trainer stopped mid-step)."""
        for step in sorted(self._pending):
            self._store.log_step(self._run_id, step, rollouts=flag_step(step, self._pending.pop(step), self._tags)[0])


class Heartbeat:
    """Beats for a run or a job from a background thread, so long model loads do not look like a dead worker."""

    def __init__(self, beat: Callable[[], None], name: str, interval_s: float):
        self._beat, self._name, self._interval_s = beat, name, interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(self._interval_s):
            try:
                self._beat()
            except InvalidTransition:
                return  # no longer running (cancelled, failed as stale); noticed at its next write
            except StorageError as exc:
                print(f"worker: heartbeat for {self._name} failed, retrying: {exc}", file=sys.stderr)


def execute_run(
    store: Store,
    run: RunRecord,
    train_fn: TrainFn,
    home: Path,
    shutdown: threading.Event | None = None,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    observe: Callable[[Sink], Sink] = lambda sink: sink,
    resume_interrupted: bool = False,
) -> RunRecord:
    """Train one claimed run and record how it ended: succeeded, cancelled or failed with the error.

    `observe` may wrap the sink the trainer reports to (e.g. with a progress bar). A run cut short by a
    shutdown is failed and, with `resume_interrupted`, continued by a new queued run from its last checkpoint.
    """
    shutdown = shutdown or threading.Event()
    try:
        config = RunConfig.from_dict(run.config)
    except ConfigError as exc:
        return _finish(store, run.id, "failed", f"the run's stored config is invalid: {exc}")
    sink = StoreSink(store, run.id, config.max_steps, shutdown, TagSettings.of(config))
    try:
        store.heartbeat(run.id, step=0, total_steps=config.max_steps)
        context = RunContext(
            run_id=run.id, home=home, workdir=home / "runs" / str(run.id), resume_from=_resume_point(store, run)
        )
        with Heartbeat(lambda: store.heartbeat(run.id), f"run-{run.id}", heartbeat_interval_s):
            train_fn(config, observe(sink), context)
        sink.flush()
    except Exception as exc:
        if sink.lost_run:
            return store.get_run(run.id)
        return _finish(store, run.id, "failed", _describe(exc))
    # The trainer returned after its last step and that step's checkpoint were committed: the run is done, even
    # when a shutdown (the app killed) or a cancel arrived during that step.
    if sink.last_step < config.max_steps and sink.stop_reason == "shutdown":
        return _interrupt(store, run.id, resume_interrupted)
    if sink.last_step < config.max_steps and sink.stop_reason == "cancel":
        return _finish(store, run.id, "cancelled")
    return _finish(store, run.id, "succeeded")


def start_run(
    store: Store,
    run: RunRecord,
    train_fn: TrainFn,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    resume_interrupted: bool = False,
) -> RunRecord:
    """Record a claimed run's command and train it: in this process, or under accelerate launch when it asks
    for several processes."""
    try:
        config = RunConfig.from_dict(run.config)
    except ConfigError:
        config = None  # execute_run fails the run, saying why
    if config is not None and config.num_processes > 1:
        return launch_run(store, run, config, home, shutdown, heartbeat_interval_s, resume_interrupted)
    if config is not None:
        store.set_run_command(run.id, run_command(config, _resume_point(store, run)))
    return execute_run(
        store, run, train_fn, home, shutdown, heartbeat_interval_s, resume_interrupted=resume_interrupted
    )


def launch_run(
    store: Store,
    run: RunRecord,
    config: RunConfig,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    resume_interrupted: bool = False,
) -> RunRecord:
    """Train a claimed run in config.num_processes processes started with accelerate launch.

    Rank 0 of them trains the run as execute_run does here (train_claimed): it writes the rows and records how
    the run ended. This process keeps the heartbeat up meanwhile, relays a shutdown, and fails the run when the
    processes exit without having ended it (a crash or a kill), with the end of their output.
    """
    resume_from = _resume_point(store, run)
    store.set_run_command(run.id, run_command(config, resume_from))
    argv = launch_argv(config, run.id, store.url, home, resume_from, resume_interrupted)
    log_path = home / "runs" / str(run.id) / "launch.log"
    print(f"worker: run {run.id} in {config.num_processes} processes, output in {log_path}", file=sys.stderr)
    with Heartbeat(lambda: store.heartbeat(run.id), f"run-{run.id}", heartbeat_interval_s):
        outcome = launch(argv, log_path, shutdown)
    ended = store.get_run(run.id)
    if ended.status != "running":
        return ended
    if outcome.interrupted:
        return _interrupt(store, run.id, resume_interrupted)
    return _finish(
        store,
        run.id,
        "failed",
        f"the {config.num_processes} launched processes exited with code "
        f"{outcome.returncode} before the run ended; the end of their output ({log_path}):\n\n"
        f"{outcome.log_tail}",
    )


def train_claimed(
    db_url: str,
    run_id: int,
    home: Path,
    train_fn: TrainFn,
    shutdown: threading.Event,
    observe: Callable[[Sink], Sink] = lambda sink: sink,
    resume_interrupted: bool = False,
) -> RunRecord:
    """Rank 0 of a launched run (training.run --run-id): train the run a worker claimed, as execute_run."""
    store = Store(db_url)
    return execute_run(
        store, store.get_run(run_id), train_fn, home, shutdown, observe=observe, resume_interrupted=resume_interrupted
    )


def train_now(
    db_url: str,
    name: str,
    config: RunConfig,
    home: Path,
    train_fn: TrainFn,
    observe: Callable[[Sink], Sink] = lambda sink: sink,
) -> RunRecord:
    """Record a new run in the database and train it in this process right away (training.run --db)."""
    store = Store(db_url)
    run = store.create_run(name, config.to_dict())
    claimed = store.start_run(run.id, f"{socket.gethostname()}:{os.getpid()}")
    store.set_run_command(run.id, run_command(config))
    return execute_run(store, claimed, train_fn, home, observe=observe)


def execute_evaluation(
    store: Store,
    evaluation: EvaluationRecord,
    home: Path,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    evaluate_fn: EvaluateFn | None = None,
) -> EvaluationRecord:
    """Run one claimed evaluation or playground job (training/jobs.py) while beating for it.

    A job cancelled or failed as stale while it ran keeps that ending; its results are dropped.
    """
    try:
        with Heartbeat(
            lambda: store.heartbeat_evaluation(evaluation.id), f"evaluation-{evaluation.id}", heartbeat_interval_s
        ):
            if evaluate_fn is None:
                from training.jobs import run_evaluation as evaluate_fn  # the model stack, once a job comes
            return evaluate_fn(store, evaluation, home)
    except InvalidTransition:
        return store.get_evaluation(evaluation.id)
    except Exception as exc:  # outside the job's own error handling (e.g. its code cannot be imported)
        try:
            return store.finish_evaluation(evaluation.id, "failed", error=_describe(exc))
        except InvalidTransition:
            return store.get_evaluation(evaluation.id)


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
    evaluate_fn: EvaluateFn | None = None,
    resume_interrupted: bool = False,
) -> int:
    """Claim and run jobs until shut down (or after one job / when idle); returns how many ran.

    Queued runs come first; an evaluation or playground job is taken when no run is queued. Idle means
    neither is queued.
    """
    worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    shutdown = shutdown or threading.Event()
    for run_id in store.fail_stale_runs(heartbeat_timeout_s, resume=resume_interrupted):
        print(f"worker {worker_id}: marked run {run_id} failed (its worker stopped responding)", file=sys.stderr)
    for evaluation_id in store.fail_stale_evaluations(heartbeat_timeout_s):
        print(
            f"worker {worker_id}: marked evaluation {evaluation_id} failed (its worker stopped responding)",
            file=sys.stderr,
        )
    done = 0
    while not shutdown.is_set():
        if (run := store.claim_next_run(worker_id)) is not None:
            print(f"worker {worker_id}: running run {run.id} ({run.name})", file=sys.stderr)
            finished = start_run(store, run, train_fn, home, shutdown, heartbeat_interval_s, resume_interrupted)
            print(f"worker {worker_id}: run {run.id} {finished.status}", file=sys.stderr)
        elif (evaluation := store.claim_next_evaluation(worker_id)) is not None:
            print(f"worker {worker_id}: running {evaluation.kind} job {evaluation.id}", file=sys.stderr)
            ended = execute_evaluation(store, evaluation, home, heartbeat_interval_s, evaluate_fn)
            print(f"worker {worker_id}: {evaluation.kind} job {evaluation.id} {ended.status}", file=sys.stderr)
        elif once or until_idle:
            break
        else:
            shutdown.wait(poll_s)
            continue
        done += 1
        if once:
            break
    return done


def _resume_point(store: Store, run: RunRecord) -> Path | None:
    if run.parent_id is None:
        return None
    checkpoints = store.list_checkpoints(run.parent_id)
    return Path(checkpoints[-1].path) if checkpoints else None


def _interrupt(store: Store, run_id: int, resume: bool) -> RunRecord:
    reason = "interrupted: the worker was shut down before the run finished"
    return _record(
        store,
        run_id,
        lambda: store.interrupt_run(
            run_id, reason if resume else f"{reason}; resume it from its last checkpoint", resume
        ),
    )


def _finish(store: Store, run_id: int, status: str, error: str | None = None) -> RunRecord:
    return _record(store, run_id, lambda: store.finish_run(run_id, status, error))


def _record(store: Store, run_id: int, write: Callable[[], RunRecord]) -> RunRecord:
    """Write how a run ended, waiting out a database that refuses writes for a while (a read-only or full disk),
    so that the run fails once with its real error rather than the worker dying and the run going stale."""
    deadline = time.monotonic() + RECORD_PATIENCE_S
    while True:
        try:
            return write()
        except InvalidTransition:
            return store.get_run(run_id)  # someone else ended it first (e.g. failed as stale); keep theirs
        except StorageError as exc:
            if time.monotonic() >= deadline:
                raise
            print(
                f"worker: cannot record how run {run_id} ended yet, retrying in {RECORD_RETRY_S:.0f} s: {exc}",
                file=sys.stderr,
            )
            time.sleep(RECORD_RETRY_S)


def _describe(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    head = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError) and exc.filename and exc.errno in UNWRITABLE:
        head = (
            f"cannot write {exc.filename}: {exc.strerror} ({type(exc).__name__}); make the folder writable (or "
            f"free space), then resume the run from its last checkpoint"
        )
    return head + "\n\n" + "\n".join(lines[-TRACEBACK_LINES:])


def _watch_parent(parent_pid: int, shutdown: threading.Event) -> None:
    # Orphaned workers would keep training for an app that is gone (e.g. killed with SIGKILL).
    while not shutdown.wait(2.0):
        if os.getppid() != parent_pid:
            print("worker: the app that started this worker exited; shutting down", file=sys.stderr)
            shutdown.set()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("NOVER_UI_DB"), help="database URL (env NOVER_UI_DB)")
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("NOVER_UI_HOME", ".nover_ui")),
        help="data directory for models and checkpoints (env NOVER_UI_HOME, default ./.nover_ui)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run at most one queued run or job, then exit")
    mode.add_argument("--until-idle", action="store_true", help="exit when no queued run or job is left")
    parser.add_argument("--worker-id", help="name shown in the dashboard (default host:pid)")
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
    args = parser.parse_args(argv)
    if args.interrupted not in INTERRUPTED_POLICIES:
        parser.error(f"--interrupted must be one of {', '.join(INTERRUPTED_POLICIES)}, got {args.interrupted!r}")
    if not args.db:
        parser.error(f"--db is required (or set NOVER_UI_DB), e.g. --db sqlite:///{args.home}/nover_ui.db")
    return args


def main(argv: Sequence[str] | None = None, train_fn: TrainFn | None = None) -> int:
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
        from training.trainer import train as train_fn
    try:
        store = Store(args.db)
    except StorageError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    args.home.mkdir(parents=True, exist_ok=True)
    run_worker(
        store,
        train_fn,
        args.home.resolve(),
        args.worker_id,
        once=args.once,
        until_idle=args.until_idle,
        poll_s=args.poll,
        heartbeat_timeout_s=args.heartbeat_timeout,
        shutdown=shutdown,
        resume_interrupted=args.interrupted == "resume",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
