"""The line under a run's command that says which machines joined a run over several (training/machines.py)."""

from __future__ import annotations

from collections.abc import Sequence

from storage import MachineRecord


def machines_note(machines: Sequence[MachineRecord], num_machines: int) -> str:
    """A shell comment for the command box: each machine's rank and host, rank 0's address, how one ended, and the
    ranks still missing; '' for a run on one machine.

    >>> import datetime as dt
    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> main = MachineRecord(1, 0, "w:1", "gpu-a", "10.0.0.5", 29511, t, t, None, None)
    >>> print(machines_note([main, MachineRecord(1, 1, "w:2", "gpu-b", None, None, t, t, t, 137)], 3))
    # machines: rank 0 on gpu-a (10.0.0.5:29511); rank 1 on gpu-b (exited with code 137); rank 2 not joined
    """
    if num_machines < 2:
        return ""
    parts = []
    for machine in machines:
        part = f"rank {machine.machine_rank} on {machine.host}"
        if machine.address:
            part += f" ({machine.address}:{machine.port})"
        elif machine.exit_code is not None:
            part += f" (exited with code {machine.exit_code})"
        parts.append(part)
    joined = {machine.machine_rank for machine in machines}
    parts += [f"rank {rank} not joined" for rank in range(num_machines) if rank not in joined]
    return "# machines: " + "; ".join(parts)
