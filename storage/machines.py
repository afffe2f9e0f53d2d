"""The Store's machines of runs that span several (RunConfig.num_machines > 1): machine rank 0 is the worker that
claimed the run, which records the address and port the others connect to; idle workers on other machines claim a
free rank of such a run and join it with accelerate (training/machines.py).

A claim is a row: the unique (run, rank) pair means two workers inserting the same rank cannot both commit, on
PostgreSQL (concurrent inserts, the second fails on the constraint) and on SQLite (write transactions take turns).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.errors import InvalidTransition, RunNotFound, StorageError
from storage.lifecycle import transition, utcnow
from storage.models import HOST_MAX, Run, RunMachine
from storage.records import MachineClaim, MachineRecord, RunRecord, to_record
from storage.statuses import Status
from storage.workers import mark_seen


class Machines:
    """Mixed into Store: every method runs in one of its session scopes and returns frozen records."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]

    def start_machines(self, run_id: int, worker_id: str, host: str, address: str, port: int) -> MachineRecord:
        """Record the claiming worker as machine rank 0 of its running run, reachable at `address`:`port`."""
        with self._session("record a run's first machine", write=True) as s:
            run = s.get(Run, run_id)
            if run is None:
                raise RunNotFound(f"run {run_id} does not exist")
            if run.status != Status.RUNNING:
                raise InvalidTransition(f"run {run_id} is {run.status}, not running; no machine can start it")
            machine = _machine(run_id, 0, worker_id, host, address=address[:HOST_MAX], port=port)
            s.add(machine)
            s.flush()
            return to_record(MachineRecord, machine)

    def claim_machine_rank(
        self,
        worker_id: str,
        host: str,
        rank: int | None = None,
        can_run: Callable[[dict[str, Any]], bool] | None = None,
    ) -> MachineClaim | None:
        """Join the oldest running run that waits for machines: claim its lowest free rank (only `rank`, when given)
        and return it with the run and its rank 0 (the address to connect to); None when no run waits.

        Only runs whose rank 0 has recorded its address are joined, and those `can_run` (a stored config -> whether
        this worker's machine can train it) accepts."""
        with self._session("join a run's machines", write=True) as s:
            waiting = s.execute(
                select(Run.id, Run.config)
                .join(RunMachine, (RunMachine.run_id == Run.id) & (RunMachine.machine_rank == 0))
                .where(Run.status == Status.RUNNING)
                .order_by(Run.id)
            ).all()
            for run_id, config in waiting:
                machines = int((config or {}).get("num_machines", 1))
                if machines < 2 or (can_run is not None and not can_run(config or {})):
                    continue
                taken = set(s.scalars(select(RunMachine.machine_rank).where(RunMachine.run_id == run_id)))
                free = [r for r in range(1, machines) if r not in taken and (rank is None or r == rank)]
                for free_rank in free:
                    machine = _machine(run_id, free_rank, worker_id, host)
                    try:
                        with s.begin_nested():  # a rank another worker took meanwhile fails here alone
                            s.add(machine)
                    except IntegrityError:
                        continue
                    main = s.scalars(
                        select(RunMachine).where(RunMachine.run_id == run_id, RunMachine.machine_rank == 0)
                    ).one()
                    run = s.get(Run, run_id)
                    assert run is not None
                    return MachineClaim(
                        to_record(RunRecord, run), to_record(MachineRecord, machine), to_record(MachineRecord, main)
                    )
            return None

    def beat_machine(self, run_id: int, rank: int) -> None:
        """The machine's processes still run (its worker beats for it); refreshes its worker's row too."""
        with self._session("record a machine's heartbeat", write=True) as s:
            machine = _get(s, run_id, rank)
            machine.heartbeat_at = utcnow()
            mark_seen(s, machine.worker_id)

    def end_machine(self, run_id: int, rank: int, exit_code: int) -> MachineRecord:
        """The machine's launched processes exited with `exit_code`."""
        with self._session("record a machine's end", write=True) as s:
            machine = _get(s, run_id, rank)
            machine.ended_at, machine.exit_code = utcnow(), exit_code
            return to_record(MachineRecord, machine)

    def fail_for_machine(self, run_id: int, reason: str) -> RunRecord:
        """Fail a run because of one of its machines (`reason` names it). A run its rank-0 processes failed already
        (a collective broken by the missing machine) keeps their error after the reason, which comes first once."""
        with self._session("fail a run for a machine", write=True) as s:
            run = s.get(Run, run_id, with_for_update=True)
            if run is None:
                raise RunNotFound(f"run {run_id} does not exist")
            if run.status == Status.RUNNING:
                transition(run, Status.FAILED, reason)
            elif run.status == Status.FAILED and not (run.error or "").startswith(reason):
                run.error = f"{reason}; the processes of machine rank 0 failed with:\n\n{run.error or ''}"
            return to_record(RunRecord, run)

    def list_machines(self, run_id: int) -> list[MachineRecord]:
        """The machines of a run by rank; [] for a run on one machine."""
        query = select(RunMachine).where(RunMachine.run_id == run_id).order_by(RunMachine.machine_rank)
        with self._session("list a run's machines") as s:
            return [to_record(MachineRecord, machine) for machine in s.scalars(query)]

    def stale_machines(self, run_id: int, max_age_s: float) -> list[MachineRecord]:
        """Machines of the run still running whose worker has not beaten for `max_age_s` seconds."""
        cutoff = utcnow() - dt.timedelta(seconds=max_age_s)
        query = (
            select(RunMachine)
            .where(RunMachine.run_id == run_id, RunMachine.ended_at.is_(None), RunMachine.heartbeat_at < cutoff)
            .order_by(RunMachine.machine_rank)
        )
        with self._session("find silent machines") as s:
            return [to_record(MachineRecord, machine) for machine in s.scalars(query)]


def _machine(run_id: int, rank: int, worker_id: str, host: str, **where: Any) -> RunMachine:
    now = utcnow()
    return RunMachine(
        run_id=run_id,
        machine_rank=rank,
        worker_id=worker_id,
        host=host[:HOST_MAX],
        joined_at=now,
        heartbeat_at=now,
        **where,
    )


def _get(s: Session, run_id: int, rank: int) -> RunMachine:
    machine = s.scalars(select(RunMachine).where(RunMachine.run_id == run_id, RunMachine.machine_rank == rank)).first()
    if machine is None:
        raise StorageError(f"run {run_id} has no machine rank {rank}")
    return machine
