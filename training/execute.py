"""Running one claimed run or job to its end: the executor the worker (training/worker.py) hands each claim to.

One entry point per kind, each given what the worker already checked: `run_training(store, run, config, ...)`
trains a run (in this process, or under `accelerate launch` when it asks for several processes) and
`run_job(store, evaluation, job, ...)` runs an evaluation or playground job (training/jobs.py) or a merge job
(training/merge_export.py). Both beat for their
row while they work and record how it ended. `train_claimed` and `train_now` are the same path for
`python -m training.run` (rank 0 of a launched run; a run started from the command line).

With training/worker.py, the only module of `training` that imports `storage`: the trainer reports through
`StoreSink`, and the job code gets plain values (its validated JobConfig, its run's checkpoint folders).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from storage import EvaluationRecord, InvalidTransition, RunRecord, Status, StorageError, Store
from training.alert_notify import NO_WEBHOOK, AlertSettings, WebhookNotifier
from training.alert_watch import AlertWatch, alert_payload, run_rules
from training.alerts import Rule
from training.artifacts import ArtifactError, Artifacts
from training.commands import run_command
from training.config import BUILTIN_DATASETS, HEARTBEAT_TIMEOUT_S, ConfigError, RunConfig
from training.data import TABLE_SUFFIXES, DataError
from training.flags import DEFAULT_TAGS, TagSettings, flag_step
from training.heldout import heldout_settings, run_data
from training.interface import JobFailed, Phase, RunContext, Sink, TrainFn
from training.job_config import Job, MergeJob
from training.launch import MachinePlace, launch, launch_argv, launch_env
from training.machines import ANY_MACHINE, MachineFlags, MainWatch, default_address, dropped_out, free_port
from training.needs import Capabilities, refusal
from training.run_artifacts import (
    FetchedCheckpoints,
    local_data,
    local_dataset,
    publish_tracker_files,
    publish_under_home,
    published_export,
)
from training.trackers import tracker_notes
from training.vllm_server import GenerationServer, ServerFailed, health_url, serve_model, server_env, starts_server

ServerArgv = Callable[[RunConfig, Path], list[str]]
"""(a run's config, home) -> the argv that starts its vLLM server (`trl vllm-serve`; tests pass a stand-in)."""
JobFn = Callable[[Job, EvaluationRecord, Mapping[int, Path], Path], tuple[list[dict[str, Any]], dict[str, Any]]]
"""(the job's validated config, its row, its run's checkpoint folders by step, home) -> (sample rows, metrics), or
JobFailed with the job's error (training.jobs.execute)."""
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
        evaluation_config: Mapping[str, Any] | None = None,
        alerts: RunAlerts | None = None,
        artifacts: Artifacts | None = None,
    ):
        """`evaluation_config`: the settings a held-out evaluation row keeps (heldout_settings of the run's config);
        `artifacts`: the store each checkpoint is copied to before its row records where it is."""
        self._store = store
        self._artifacts = artifacts
        self._alerts = alerts
        """Checks the run's alert rules after each step's metrics are committed."""
        self._run_id = run_id
        self._total_steps = total_steps
        self._tags = tags
        self._evaluation_config = dict(evaluation_config or {})
        self._shutdown = shutdown
        self._pending: dict[int, list[Mapping[str, Any]]] = {}
        self.lost_run = False
        """Set when the run stopped being ours (failed as stale by someone else)."""
        self.last_step = 0
        """The last step whose metrics (and rollouts) are committed."""
        self.stop_reason: str | None = None
        self._phase: Phase | None = None

    def log_phase(self, phase: Phase) -> None:
        self._write(lambda: self._store.set_phase(self._run_id, phase))
        self._phase = phase

    def log_rollouts(self, step: int, rows: Sequence[Mapping[str, Any]]) -> None:
        # Held back until the step's metrics arrive, so rollouts and metrics of a step commit together.
        self._pending.setdefault(step, []).extend(rows)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        rollouts = self._pending.pop(step, [])
        if rollouts:  # failure flags computed once, as the step is written: stored per rollout, counted in metrics
            rollouts, counts = flag_step(step, rollouts, self._tags)
            metrics = {**metrics, **counts}
        self._write(
            lambda: self._store.log_step(
                self._run_id, step, metrics, rollouts, total_steps=self._total_steps, heartbeat=True
            )
        )
        self.last_step = max(self.last_step, step)
        if self._alerts is not None:
            self._alerts.check(self._store, step)
        if step > 0 and self._phase is not None:  # steps flow (step 0 holds what the data gave, before any)
            self._write(lambda: self._store.set_phase(self._run_id, None))
            self._phase = None

    def _write(self, write: Callable[[], object]) -> None:
        try:
            write()
        except InvalidTransition:
            self.lost_run = True
            raise

    def log_checkpoint(self, step: int, path: str) -> None:
        # The whole folder (adapter, proxy, optimizer state) is in the store before its row names it: a worker on
        # another machine that resumes the run or evaluates the checkpoint finds it complete.
        location = publish_under_home(self._artifacts, Path(path)) if self._artifacts is not None else path
        self._store.add_checkpoint(self._run_id, step, location)

    def log_evaluation(self, step: int, metrics: dict[str, float], samples: list[dict[str, Any]]) -> None:
        # The eval/* metrics and the evaluation's row commit together: a chart point always opens its samples.
        self._write(
            lambda: self._store.record_heldout_evaluation(self._run_id, step, self._evaluation_config, metrics, samples)
        )

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


class RunAlerts:
    """A run's alert rules checked against the Store after each step (training/alert_watch.py): what fired is
    recorded once per rule and extended while it keeps firing; a new alert goes to the operator's webhook, posted
    off the training thread (training/alert_notify.py), and is marked notified once the webhook took it."""

    def __init__(self, run: RunRecord, rules: Sequence[Rule], settings: AlertSettings = NO_WEBHOOK):
        self._run, self._settings, self._watch = run, settings, AlertWatch(rules)
        self._notifier = None
        if settings.webhook_url and rules:
            self._notifier = WebhookNotifier(settings.webhook_url, settings.timeout_s)

    def check(self, store: Store, step: int) -> None:
        """Never raises: an alert must not fail its run; a failure is one line in the log, and the next step
        tries again."""
        if not self._watch.keys:
            return
        try:
            read = store.get_metrics(self._run.id, self._watch.keys, since_step=self._watch.since_step)
            self._watch.add({key: (series.steps, series.values) for key, series in read.items()})
            for finding in self._watch.findings():
                alert, new = store.record_alert(
                    self._run.id, finding.rule, finding.metric, finding.steps, finding.values, finding.message
                )
                self._watch.recorded(finding)
                if new and self._notifier is not None:
                    payload = alert_payload(finding, self._run.id, self._run.name, self._settings.public_url)
                    self._notifier.send(payload, functools.partial(store.mark_alert_notified, alert.id))
        except Exception as exc:
            print(f"worker: cannot check run {self._run.id}'s alerts at step {step}: {exc}", file=sys.stderr)

    def close(self, wait_s: float | None = None) -> bool:
        """Let the last posts go out (each bounded by the webhook's timeout); True when each has been tried."""
        return self._notifier.close(wait_s) if self._notifier is not None else True


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


def run_training(
    store: Store,
    run: RunRecord,
    config: RunConfig,
    train_fn: TrainFn,
    home: Path,
    shutdown: threading.Event | None = None,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    resume_interrupted: bool = False,
    server_argv: ServerArgv | None = None,
    alerts: AlertSettings = NO_WEBHOOK,
    artifacts: Artifacts | None = None,
    machines: MachineFlags = ANY_MACHINE,
) -> RunRecord:
    """Record a claimed run's command and train it to its end: succeeded, cancelled or failed with the error.

    `config` is the run's stored config, already validated. It trains in this process, or under accelerate
    launch when it asks for several processes. A run cut short by a shutdown is failed and, with
    `resume_interrupted`, continued by a new queued run from its last checkpoint. A run that generates with a vLLM
    server of its own gets it started first (`server_argv`, by default `trl vllm-serve` for its model) and stopped
    when it ends, whatever the ending; the server's last lines stay with the run. `alerts` holds the operator's
    webhook for the run's alerts (training/alert_watch.py). With an artifact store (`artifacts`), a data file or parent
    checkpoint it holds is fetched into this machine's HOME first, and each checkpoint is copied there as it is saved
    (training/run_artifacts.py).
    `machines`: this worker's place for a run over several machines (training/machines.py), which it trains as
    machine rank 0.
    """
    shutdown = shutdown or threading.Event()
    artifacts = artifacts or Artifacts(None, home)
    notes = tracker_notes(config, home, run_folder(home, run.id), run.name, run.id)
    store.set_run_command(run.id, run_command(config, _resume_location(store, run)) + notes)
    server = None
    if starts_server(config):
        started = _start_server(
            store, run, config, home, shutdown, heartbeat_interval_s, server_argv or serve_model, resume_interrupted
        )
        if isinstance(started, RunRecord):
            return started
        server = started
    try:
        if config.world_size > 1:
            ended = _train_launched(
                store, run, config, home, shutdown, heartbeat_interval_s, resume_interrupted, artifacts, machines
            )
        else:
            ended = _train_here(
                store,
                run,
                config,
                train_fn,
                home,
                shutdown,
                heartbeat_interval_s,
                resume_interrupted=resume_interrupted,
                alerts=alerts,
                artifacts=artifacts,
            )
    finally:
        kept = _keep_server_log(store, run.id, server.stop()) if server is not None else None
    return kept or ended


def train_claimed(
    db_url: str,
    run_id: int,
    config: RunConfig,
    home: Path,
    train_fn: TrainFn,
    shutdown: threading.Event,
    observe: Callable[[Sink], Sink] = lambda sink: sink,
    resume_interrupted: bool = False,
    artifacts: Artifacts | None = None,
) -> RunRecord:
    """Rank 0 of a launched run (training.run --run-id): train the run a worker claimed and launched."""
    store = Store(db_url)
    return _train_here(
        store,
        store.get_run(run_id),
        config,
        train_fn,
        home,
        shutdown,
        observe=observe,
        resume_interrupted=resume_interrupted,
        artifacts=artifacts,
    )


def train_now(
    db_url: str,
    name: str,
    config: RunConfig,
    home: Path,
    train_fn: TrainFn,
    observe: Callable[[Sink], Sink] = lambda sink: sink,
    artifacts: Artifacts | None = None,
) -> RunRecord:
    """Record a new run in the database and train it in this process right away (training.run --db)."""
    store = Store(db_url)
    run = store.create_run(name, config.to_dict())
    claimed = store.start_run(run.id, f"{socket.gethostname()}:{os.getpid()}")
    store.set_run_command(
        run.id, run_command(config) + tracker_notes(config, home, run_folder(home, run.id), name, run.id)
    )
    return _train_here(store, claimed, config, train_fn, home, threading.Event(), observe=observe, artifacts=artifacts)


QUEUE_REFUSALS = (ConfigError, DataError, StorageError)
"""What queue_run refuses with: the config, its data, or the database (unreachable, or not migrated)."""


def queue_run(db_url: str, name: str, config: RunConfig) -> RunRecord:
    """Put `config` on the database's worker queue as the dashboard does (training.run --queue): refused with
    ConfigError (naming the field and the fix) when no live worker can train it, DataError when its data file or
    built-in set yields no training or held-out prompts; a hub dataset, a folder or a URL is left to the worker, as the
    dashboard leaves it. The caller's own files are read without the dashboard's upload limits."""
    store = Store(db_url)
    try:
        live = [Capabilities.from_dict(worker.capabilities) for worker in store.live_workers(HEARTBEAT_TIMEOUT_S)]
        if (refused := refusal(config, live)) is not None:
            raise refused
        source = config.dataset
        local = "://" not in source  # a URL (in an artifact store) is left to the worker, which fetches it
        if local and (
            source in BUILTIN_DATASETS or source.lower().endswith(TABLE_SUFFIXES) or Path(source).expanduser().is_file()
        ):
            run_data(config)  # a missing file is refused here, not when a worker picks the run up
        return store.create_run(name, config.to_dict())
    finally:
        store.close()


def run_folder(home: Path, run_id: int) -> Path:
    """A run's own folder: its checkpoints, its launch log and its trackers' files (training/trackers.py)."""
    return home / "runs" / str(run_id)


def exit_code(record: RunRecord) -> int:
    """The exit status of `python -m training.run` for how its run ended.

    Under a launcher a failing exit makes torchrun stop the other processes at once: right when rank 0 failed
    (they may wait for it forever), wrong when they are still saving the checkpoint of a cancelled run.
    """
    return 0 if record.status in (Status.SUCCEEDED, Status.CANCELLED) else 1


def run_job(
    store: Store,
    evaluation: EvaluationRecord,
    job: Job,
    home: Path,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    job_fn: JobFn | None = None,
    artifacts: Artifacts | None = None,
) -> EvaluationRecord:
    """Run one claimed evaluation or playground job while beating for it; store its samples and how it ended.

    A job cancelled or failed as stale while it ran keeps that ending; its results are dropped (the Store
    refuses them). With an artifact store, the job's data file and the checkpoint it opens are fetched from there
    when the store holds them, and a merge job's export is copied there (its `path` metric becomes the URL).
    """
    artifacts = artifacts or Artifacts(None, home)
    try:
        with Heartbeat(
            lambda: store.heartbeat_evaluation(evaluation.id), f"evaluation-{evaluation.id}", heartbeat_interval_s
        ):
            if job_fn is None:
                job_fn = _job_fn(job)
            locations = {}
            if evaluation.run_id is not None:
                locations = {c.step: c.path for c in store.list_checkpoints(evaluation.run_id)}
            try:
                local = dataclasses.replace(evaluation, dataset=local_dataset(evaluation.dataset, artifacts))
                rows, metrics = job_fn(job, local, FetchedCheckpoints(locations, artifacts), home)
            except JobFailed as exc:
                return store.finish_evaluation(evaluation.id, Status.FAILED, error=str(exc))
            if isinstance(job, MergeJob):
                metrics = published_export(artifacts, metrics)
            store.log_evaluation_samples(evaluation.id, rows)
            return store.finish_evaluation(evaluation.id, Status.SUCCEEDED, metrics=metrics)
    except InvalidTransition:
        return store.get_evaluation(evaluation.id)
    except Exception as exc:  # outside the job's own error handling (e.g. its code cannot be imported)
        try:
            return store.finish_evaluation(evaluation.id, Status.FAILED, error=_describe(exc))
        except InvalidTransition:
            return store.get_evaluation(evaluation.id)


def _job_fn(job: Job) -> JobFn:
    """The code that runs a job of this kind; imported once a job comes (the model stack takes seconds)."""
    if isinstance(job, MergeJob):
        from training.merge_export import merge_job

        return merge_job  # type: ignore[return-value]  # a JobFn for merge jobs only, which is what it is given
    from training.jobs import execute

    return execute


def _train_here(
    store: Store,
    run: RunRecord,
    config: RunConfig,
    train_fn: TrainFn,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    observe: Callable[[Sink], Sink] = lambda sink: sink,
    resume_interrupted: bool = False,
    alerts: AlertSettings = NO_WEBHOOK,
    artifacts: Artifacts | None = None,
) -> RunRecord:
    """Train a claimed run in this process; `observe` may wrap the sink the trainer reports to (a progress bar)."""
    artifacts = artifacts or Artifacts(None, home)
    run_alerts = RunAlerts(run, run_rules(config), alerts)
    sink = StoreSink(
        store,
        run.id,
        config.max_steps,
        shutdown,
        TagSettings.of(config),
        heldout_settings(config),
        run_alerts,
        artifacts if artifacts.remote else None,
    )
    try:
        store.heartbeat(run.id, step=0, total_steps=config.max_steps)
        sink.log_phase(Phase.LOADING_MODEL)  # the trainer reports its later phases itself
        with Heartbeat(lambda: store.heartbeat(run.id), f"run-{run.id}", heartbeat_interval_s):
            # Fetched under the heartbeat: a parent's checkpoint can take a while to come from the store.
            context = RunContext(
                run_id=run.id,
                home=home,
                workdir=run_folder(home, run.id),
                resume_from=_resume_point(store, run, artifacts),
                name=run.name,
            )
            train_fn(local_data(config, artifacts), observe(sink), context)
        sink.flush()
    except Exception as exc:
        if sink.lost_run:
            return store.get_run(run.id)
        return _finish(store, run.id, Status.FAILED, _describe(exc, config))
    else:
        # The trainer returned after its last step and that step's checkpoint were committed: the run is done, even
        # when a shutdown (the app killed) or a cancel arrived during that step.
        publish_tracker_files(artifacts, run_folder(home, run.id))
        if sink.last_step < config.max_steps and sink.stop_reason == "shutdown":
            return _interrupt(store, run.id, resume_interrupted)
        if sink.last_step < config.max_steps and sink.stop_reason == "cancel":
            return _finish(store, run.id, Status.CANCELLED)
        return _finish(store, run.id, Status.SUCCEEDED)
    finally:
        run_alerts.close()  # the last posts go out before the worker takes the next run (each bounded by its timeout)


def _train_launched(
    store: Store,
    run: RunRecord,
    config: RunConfig,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float,
    resume_interrupted: bool,
    artifacts: Artifacts,
    machines: MachineFlags = ANY_MACHINE,
) -> RunRecord:
    """Train a claimed run in its processes started with accelerate launch: config.num_processes here and, when it
    spans several machines, as many on each of the others (training/machines.py), this worker being rank 0.

    Rank 0 of them trains the run as _train_here does here (train_claimed): it writes the rows and records how
    the run ended. This process keeps the heartbeat up meanwhile, relays a shutdown, and fails the run when the
    processes exit without having ended it (a crash or a kill), with the end of their output, or when another
    machine never joins or drops out, naming it. What the run needs from the artifact store is fetched here, once,
    and the processes are given the local copies; rank 0 gets the store's URL (never its credentials: the environment
    carries those) to copy each checkpoint there.
    """
    # Starting the processes and importing the training stack take a while. A run failed as stale meanwhile is
    # found ended after the launch.
    with contextlib.suppress(InvalidTransition):
        store.set_phase(run.id, Phase.LOADING_MODEL)
    log_path = run_folder(home, run.id) / "launch.log"
    with Heartbeat(lambda: store.heartbeat(run.id), f"run-{run.id}", heartbeat_interval_s):
        try:
            resume_from = _resume_point(store, run, artifacts)
            local = local_data(config, artifacts)
        except ArtifactError as exc:
            return _finish(store, run.id, Status.FAILED, _describe(exc, config))
    place, watch, beat = None, None, lambda: store.heartbeat(run.id)
    if config.num_machines > 1:
        address = machines.address or default_address()
        place = MachinePlace(0, address, config.main_process_port or free_port())
        try:
            store.start_machines(run.id, run.worker_id or "", socket.gethostname(), address, place.main_port)
        except InvalidTransition:  # failed as stale meanwhile: nothing to launch
            return store.get_run(run.id)
        watch = MainWatch(store, run.id, config)
        beat = lambda: (store.heartbeat(run.id), store.beat_machine(run.id, 0))  # noqa: E731
    argv = launch_argv(local, run.id, home, resume_from, resume_interrupted, place, artifacts.root)
    where = f" on each of {config.num_machines} machines" if place else ""
    print(f"worker: run {run.id} in {config.num_processes} processes{where}, output in {log_path}", file=sys.stderr)
    with Heartbeat(beat, f"run-{run.id}", heartbeat_interval_s):
        outcome = launch(argv, log_path, shutdown, env=launch_env(store.url), watch=watch)
        if watch is not None and outcome.returncode != 0 and not (outcome.interrupted or outcome.stopped_for):
            dropped_out(store, run.id, watch, heartbeat_interval_s)  # fails the run naming the machine, if one
    if place is not None:
        with contextlib.suppress(StorageError):  # shown on the Runs tab only
            store.end_machine(run.id, 0, outcome.returncode)
    ended = store.get_run(run.id)
    if ended.status != Status.RUNNING:
        return ended
    if outcome.interrupted:
        return _interrupt(store, run.id, resume_interrupted)
    which = " of machine rank 0" if place else ""
    return _finish(
        store,
        run.id,
        Status.FAILED,
        f"the {config.num_processes} launched processes{which} exited with code "
        f"{outcome.returncode} before the run ended; the end of their output ({log_path}):\n\n"
        f"{outcome.log_tail}",
    )


def _start_server(
    store: Store,
    run: RunRecord,
    config: RunConfig,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float,
    server_argv: ServerArgv,
    resume_interrupted: bool,
) -> GenerationServer | RunRecord:
    """Start the run's vLLM server and wait until it answers: the server, or how the run ended when it failed to
    start (with its last lines) or the run was cancelled or the worker shut down meanwhile."""
    with contextlib.suppress(InvalidTransition):
        store.set_phase(run.id, Phase.STARTING_GENERATION_SERVER)
    server = None
    try:
        with Heartbeat(lambda: store.heartbeat(run.id), f"run-{run.id}", heartbeat_interval_s):
            server = GenerationServer(server_argv(config, home), server_env(config, os.environ), health_url(config))
            print(f"worker: run {run.id} starts its vLLM server on GPUs {config.vllm_server_gpus}", file=sys.stderr)
            ready = server.wait_ready(config.vllm_server_timeout, lambda: _should_stop(store, run.id, shutdown))
    except BaseException as exc:
        lines = server.stop() if server is not None else ""  # never left running, whatever stopped the start
        if lines:
            _keep_server_log(store, run.id, lines)
        if not isinstance(exc, Exception):
            raise  # Ctrl-C and the like: the run's ending is for whoever handles it
        if not isinstance(exc, ServerFailed):
            return _finish(store, run.id, Status.FAILED, _describe(exc))
        output = f"; the end of its output:\n\n{lines}" if lines else "; it printed nothing"
        return _finish(store, run.id, Status.FAILED, f"{exc}{output if server is not None else ''}")
    if ready:
        return server
    _keep_server_log(store, run.id, server.stop())
    if shutdown.is_set():
        return _interrupt(store, run.id, resume_interrupted)
    return _finish(store, run.id, Status.CANCELLED)


def _should_stop(store: Store, run_id: int, shutdown: threading.Event) -> bool:
    try:
        return shutdown.is_set() or store.is_cancel_requested(run_id)
    except StorageError:
        return False  # a busy database: asked again at the next poll


def _keep_server_log(store: Store, run_id: int, lines: str) -> RunRecord | None:
    try:
        return store.set_generation_server_log(run_id, lines)
    except StorageError as exc:  # the run's ending is recorded already, or is about to be: keep it
        print(f"worker: cannot keep run {run_id}'s vLLM server output: {exc}", file=sys.stderr)
        return None


def _resume_location(store: Store, run: RunRecord) -> str | None:
    """Where the parent's last checkpoint is, as its row records it (a path, or a URL in the artifact store)."""
    if run.parent_id is None:
        return None
    checkpoints = store.list_checkpoints(run.parent_id)
    return checkpoints[-1].path if checkpoints else None


def _resume_point(store: Store, run: RunRecord, artifacts: Artifacts) -> Path | None:
    """The parent's last checkpoint folder on this machine: fetched from the store when it is there."""
    location = _resume_location(store, run)
    return artifacts.local(location) if location is not None else None


def _interrupt(store: Store, run_id: int, resume: bool) -> RunRecord:
    reason = "interrupted: the worker was shut down before the run finished"
    return _record(
        store,
        run_id,
        lambda: store.interrupt_run(
            run_id, reason if resume else f"{reason}; resume it from its last checkpoint", resume
        ),
    )


def _finish(store: Store, run_id: int, status: Status, error: str | None = None) -> RunRecord:
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


def _describe(exc: BaseException, config: RunConfig | None = None) -> str:
    if isinstance(exc, ArtifactError):
        # Its message says what failed and what to check; the backend's traceback below it would add nothing a user
        # can act on, and may quote a request.
        return f"{exc}; once the store is reachable, resume the run" if config is not None else str(exc)
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    head = f"{type(exc).__name__}: {exc}"
    if config is not None and _out_of_memory(exc):
        head = f"the GPU ran out of memory ({type(exc).__name__}); {memory_advice(config)}"
    if isinstance(exc, OSError) and exc.filename and exc.errno in UNWRITABLE:
        head = (
            f"cannot write {exc.filename}: {exc.strerror} ({type(exc).__name__}); make the folder writable (or "
            f"free space), then resume the run from its last checkpoint"
        )
    return head + "\n\n" + "\n".join(lines[-TRACEBACK_LINES:])


def _out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError, or the RuntimeError older CUDA paths raise ("CUDA out of memory"), matched by name
    and text so this module stays free of torch (the worker imports it before any run needs the model stack)."""
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def memory_advice(config: RunConfig) -> str:
    """What to lower to fit a run on its GPU, with the run's own values; vLLM's share only for a vLLM run."""
    advice = [
        f"lower prompts_per_step x num_generations ({config.prompts_per_step} x {config.num_generations} rollouts "
        f"per step) or raise gradient_accumulation_steps ({config.gradient_accumulation_steps})",
        f"lower max_completion_length ({config.max_completion_length})",
    ]
    if not config.gradient_checkpointing:
        advice.append("turn gradient_checkpointing on")
    if config.quantization != "4bit" and config.generation != "vllm":  # vLLM cannot serve a 4-bit base here
        advice.append("choose quantization 4bit")
    if config.generation == "vllm" and config.vllm_mode == "colocate":
        advice.append(f"lower vllm_gpu_memory_utilization ({config.vllm_gpu_memory_utilization}), the share vLLM takes")
    return "to fit, " + "; ".join(advice) + "; then queue the run again"
