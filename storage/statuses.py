"""The statuses of runs and of evaluation and playground jobs: the one place their values are spelled.

Stored as these plain strings (a `StrEnum` member equals its value), so rows written before the enum existed
read the same. Which status may follow which is `storage.lifecycle`'s business, the one place a status changes.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
"""Not ended yet: waiting for a worker, or held by one."""
TERMINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
"""Ended: no status follows these."""
CANCELLING = "cancelling"
"""The phase (Run.phase) of a running run asked to stop, until it has: what else it does meanwhile matters less."""
