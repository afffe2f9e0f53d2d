"""One run over several machines (RunConfig.num_machines > 1): machine rank 0's watch over the others, and a worker
on another machine joining a run.

The worker that claims such a run is machine rank 0 (training/execute.py): it records the address and port the others
connect to (Store.start_machines) and launches its num_processes with accelerate's --num_machines, --machine_rank 0,
--main_process_ip and --main_process_port; torch waits there until every machine has connected. An idle worker on
another machine claims a free rank of the run (Store.claim_machine_rank) and launches the same command with its own
rank (`join_run`). Only global rank 0 writes the run's rows; a joining machine beats for its rank and keeps its
processes' output in its own HOME's run folder.

Nothing waits forever: `MainWatch` fails the run, naming the rank and its host, when a machine has not joined within
the run's machine_join_timeout, when a joined one goes silent that long, or when its processes exit with an error;
then the launch stops every process (training/launch.py). A joining machine stops its processes when the run fails,
or when rank 0 goes silent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from storage import MachineClaim, MachineRecord, RunNotFound, Status, StorageError, Store
from training.artifacts import ArtifactError, Artifacts
from training.config import ConfigError, RunConfig
from training.launch import LaunchOutcome, MachinePlace, launch, launch_argv, launch_env
from training.run_artifacts import local_data

ENDED_GRACE_S = 60.0
"""How long a joining machine's processes may go on after the run ended without failing (they stop with rank 0's)."""


@dataclass(frozen=True)
class MachineFlags:
    """A worker's place for runs over several machines (training.worker --machine-rank, --main-process-ip)."""

    rank: int | None = None
    """None: start such runs as rank 0 and join others as any free rank; 0: only start them; R > 0: only join them
    as rank R (and leave them queued for a rank-0 worker)."""
    address: str = ""
    """The address the other machines reach this one at when it is rank 0 (empty: default_address())."""

    def starts(self, config: RunConfig) -> bool:
        """Whether this worker may claim a queued run with `config` (as machine rank 0 when it spans several)."""
        return config.num_machines == 1 or self.rank in (None, 0)

    def joins(self) -> bool:
        return self.rank != 0


ANY_MACHINE = MachineFlags()
"""A worker without --machine-rank or --main-process-ip."""


def default_address() -> str:
    """This machine's address as the others see it: the one its host name resolves to, unless that is a loopback
    one (as /etc/hosts often says), then the one it would reach the outside with (no packet is sent)."""
    with contextlib.suppress(OSError):
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            return address
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: a route lookup only
        return str(probe.getsockname()[0])
    return "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now, for rank 0's processes (accelerate's own `--main_process_port 0` is picked
    inside the launch, too late to tell the other machines)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def machines_problem(
    machines: list[MachineRecord], num_machines: int, timeout_s: float, waited_s: float, now: dt.datetime
) -> str | None:
    """Why a run over `num_machines` cannot go on, or None: a machine that has not joined `timeout_s` after the
    launch started (`waited_s` ago), a joined one silent for `timeout_s`, or one whose processes failed."""
    joined = {m.machine_rank: m for m in machines}
    for machine in machines:
        if machine.machine_rank == 0:
            continue
        where = f"machine rank {machine.machine_rank} on {machine.host}"
        if machine.ended_at is not None and machine.exit_code != 0:
            return f"{where} dropped out: its processes exited with code {machine.exit_code}"
        silent = (now - machine.heartbeat_at).total_seconds()
        if machine.ended_at is None and silent > timeout_s:
            return f"{where} stopped responding (no heartbeat for {silent:.0f} s, machine_join_timeout {timeout_s:g})"
    missing = [rank for rank in range(1, num_machines) if rank not in joined]
    if missing and waited_s > timeout_s:
        ranks = ", ".join(str(rank) for rank in missing)
        present = "; ".join(f"rank {m.machine_rank} on {m.host}" for m in machines)
        return (
            f"machine rank {ranks} never joined within machine_join_timeout {timeout_s:g} s (joined: {present}); "
            f"start a worker on another machine with the same database, or lower num_machines"
        )
    return None


class MainWatch:
    """Machine rank 0's look at the other machines, at each poll of its launch (training/launch.py `watch`): fails
    the run with the reason the first time there is one, and returns it so the launch stops the processes."""

    def __init__(self, store: Store, run_id: int, config: RunConfig):
        self._store, self._run_id, self._config = store, run_id, config
        self._started = time.monotonic()

    def __call__(self) -> str | None:
        try:
            machines = self._store.list_machines(self._run_id)
            waited = time.monotonic() - self._started
            now = dt.datetime.now(dt.UTC)
            reason = machines_problem(
                machines, self._config.num_machines, self._config.machine_join_timeout, waited, now
            )
            if reason is not None:
                self._store.fail_for_machine(self._run_id, reason)
            return reason
        except StorageError as exc:  # a busy database: asked again at the next poll
            print(f"worker: cannot check run {self._run_id}'s machines, retrying: {exc}", file=sys.stderr)
            return None


class JoinWatch:
    """A joining machine's beat for its rank and its look at the run, at each poll of its launch: the processes stop
    when the run failed, when it ended and they are still there `ENDED_GRACE_S` later, or when rank 0 went silent."""

    def __init__(self, store: Store, claim: MachineClaim, timeout_s: float, heartbeat_interval_s: float):
        self._store, self._claim = store, claim
        self._timeout_s, self._interval_s = timeout_s, heartbeat_interval_s
        self._beaten = time.monotonic()
        self._ended_at: float | None = None

    def __call__(self) -> str | None:
        run_id, rank = self._claim.run.id, self._claim.machine.machine_rank
        try:
            if time.monotonic() - self._beaten >= self._interval_s:
                self._store.beat_machine(run_id, rank)
                self._beaten = time.monotonic()
            run = self._store.get_run(run_id)
            main = next((m for m in self._store.list_machines(run_id) if m.machine_rank == 0), None)
        except RunNotFound:
            return f"run {run_id} was deleted"
        except StorageError as exc:
            print(f"worker: cannot check run {run_id} (machine rank {rank}), retrying: {exc}", file=sys.stderr)
            return None
        if run.status == Status.FAILED:
            return f"run {run_id} failed: {(run.error or '').splitlines()[0] if run.error else 'no reason given'}"
        if run.status != Status.RUNNING:
            self._ended_at = self._ended_at or time.monotonic()
            if time.monotonic() - self._ended_at > ENDED_GRACE_S:
                return f"run {run_id} {run.status} {ENDED_GRACE_S:.0f} s ago and these processes are still there"
            return None
        silent = (dt.datetime.now(dt.UTC) - main.heartbeat_at).total_seconds() if main else 0.0
        if main is not None and silent > self._timeout_s:
            return f"machine rank 0 on {main.host} stopped responding (no heartbeat for {silent:.0f} s)"
        return None


def dropped_out(store: Store, run_id: int, watch: MainWatch, heartbeat_interval_s: float, poll_s: float = 1.0) -> bool:
    """After rank 0's processes failed: whether another machine caused it, the run then failed naming it (first in
    its error, when rank 0's processes recorded theirs: a collective broken by the missing machine).

    A machine whose processes failed before has said so already (`watch`). One whose processes were killed by a
    signal (kill -9, the out-of-memory killer) is named whenever its worker says so, as it cannot have ended because
    rank 0's did; one whose worker died with them (killed, powered off) says nothing, so a machine still silent a few
    heartbeat intervals later is named. One whose processes then exit with an error is not: they ended because rank
    0's did."""
    if watch() is not None:
        return True
    deadline = time.monotonic() + 3 * heartbeat_interval_s
    others: list[MachineRecord] = []
    while time.monotonic() < deadline:
        try:
            others = [m for m in store.list_machines(run_id) if m.machine_rank > 0]
        except StorageError:
            others = []
        killed = [m for m in others if m.exit_code is not None and m.exit_code < 0]
        if killed:
            store.fail_for_machine(
                run_id,
                f"machine rank {killed[0].machine_rank} on {killed[0].host} dropped out: its processes were killed "
                f"(signal {-killed[0].exit_code})",
            )
            return True
        if others and all(m.ended_at is not None for m in others):
            return False
        time.sleep(poll_s)
    now = dt.datetime.now(dt.UTC)
    silent = [m for m in others if m.ended_at is None and (now - m.heartbeat_at).total_seconds() > heartbeat_interval_s]
    if not silent:
        return False
    age = (now - silent[0].heartbeat_at).total_seconds()
    reason = (
        f"machine rank {silent[0].machine_rank} on {silent[0].host} dropped out: its worker stopped responding "
        f"(no heartbeat for {age:.0f} s)"
    )
    store.fail_for_machine(run_id, reason)
    return True


def join_run(
    store: Store,
    claim: MachineClaim,
    home: Path,
    shutdown: threading.Event,
    heartbeat_interval_s: float,
    artifacts: Artifacts,
) -> MachineRecord:
    """Run a claimed rank of a run over several machines until its processes exit; record how they exited. Its data
    and the checkpoint it resumes from are fetched from the artifact store into this machine's HOME when the store
    holds them (rank 0's machine does the same), so the machines need no shared disk."""
    run, rank = claim.run, claim.machine.machine_rank
    try:
        config = RunConfig.from_dict(run.config)
        local = local_data(config, artifacts)
        resume_from = _resume_point(store, run.parent_id, artifacts)
    except (ConfigError, ArtifactError) as exc:  # rank 0 fails the run for it; this machine only says it cannot join
        print(f"worker: cannot join run {run.id} as machine rank {rank}: {exc}", file=sys.stderr)
        return store.end_machine(run.id, rank, 2)
    place = MachinePlace(rank, claim.main.address or "", claim.main.port or 0)
    argv = launch_argv(local, run.id, home, resume_from, machine=place, artifacts_url=artifacts.root)
    log_path = home / "runs" / str(run.id) / f"launch-machine-{rank}.log"
    print(
        f"worker: run {run.id} as machine rank {rank} of {config.num_machines} (rank 0 at {place.main_address}:"
        f"{place.main_port}), output in {log_path}",
        file=sys.stderr,
    )
    watch = JoinWatch(store, claim, config.machine_join_timeout, heartbeat_interval_s)
    outcome = launch(argv, log_path, shutdown, env=launch_env(store.url), watch=watch)
    if outcome.stopped_for:
        print(f"worker: stopped run {run.id}'s processes: {outcome.stopped_for}", file=sys.stderr)
    return store.end_machine(run.id, rank, exit_code(outcome))


def exit_code(outcome: LaunchOutcome) -> int:
    """How a machine's processes exited, as rank 0 reads it: a machine stopped early never reads as a clean 0."""
    if outcome.returncode == 0 and (outcome.interrupted or outcome.stopped_for):
        return 1
    return outcome.returncode


def _resume_point(store: Store, parent_id: int | None, artifacts: Artifacts) -> Path | None:
    """The checkpoint the run continues from, as rank 0 reads it: on this machine, or fetched from the store."""
    if parent_id is None:
        return None
    checkpoints = store.list_checkpoints(parent_id)
    return artifacts.local(checkpoints[-1].path) if checkpoints else None
