"""Reads shared by every viewer of the dashboard process: one database read per change, however many poll.

Each polled read is keyed by what it reads (the run, the keys) and tagged with a cheap version of that data
(Store.runs_version for the runs; a run's created_at, status and step for its metrics and rollouts). Readers who
ask for a (key, version) already read get the stored value; readers who ask while its read is in flight wait for
that read instead of starting their own (single-flight). An error is handed to the readers waiting on that read
but never stored, so the next reader tries again.

A version is read before the data it tags, and a step's rows commit together with the run's step, so a stored
value is never older than its version: a reader may get data a little newer than the version it read, never
older than what it saw before.

Stored values are shared between threads: callers treat them as read-only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from storage import RunRecord, Store

T = TypeVar("T")

MAX_KEYS = 128
"""Keys kept (least recently used dropped first): a few per run being watched, for many runs."""
VERSIONS_PER_KEY = 2
"""The newest value and the one before it: a reader whose version was read just before a change still hits,
while a long run's older series do not pile up in memory."""


@dataclass
class _Flight:
    """One read in progress; its waiters take its value or its error."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class SharedReads:
    """A bounded, thread-safe cache of reads by (key, version), with one read in flight per (key, version).

    >>> reads, calls = SharedReads(), []
    >>> def load():
    ...     calls.append(1)
    ...     return len(calls)
    >>> reads.get("runs", 1, load), reads.get("runs", 1, load), reads.get("runs", 2, load)
    (1, 1, 2)
    """

    def __init__(self, max_keys: int = MAX_KEYS, versions_per_key: int = VERSIONS_PER_KEY):
        self._max_keys, self._versions_per_key = max_keys, versions_per_key
        self._values: OrderedDict[Hashable, OrderedDict[Hashable, Any]] = OrderedDict()
        self._flights: dict[tuple[Hashable, Hashable], _Flight] = {}
        self._lock = threading.Lock()
        self.loads = 0
        """Reads done (misses), for benchmarks and tests."""

    def get(self, key: Hashable, version: Hashable, load: Callable[[], T]) -> T:
        """The value of `key` at `version`: stored, or waited for while another thread reads it, or read now."""
        with self._lock:
            versions = self._values.get(key)
            if versions is not None and version in versions:
                self._values.move_to_end(key)
                return versions[version]
            flight = self._flights.get((key, version))
            leader = flight is None
            if flight is None:
                flight = self._flights[(key, version)] = _Flight()
                self.loads += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = load()
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            self._store(key, version, flight.value)
        finally:
            with self._lock:
                del self._flights[(key, version)]
            flight.done.set()
        return flight.value

    def _store(self, key: Hashable, version: Hashable, value: Any) -> None:
        with self._lock:
            versions = self._values.setdefault(key, OrderedDict())
            versions[version] = value
            while len(versions) > self._versions_per_key:
                versions.popitem(last=False)
            self._values.move_to_end(key)
            while len(self._values) > self._max_keys:
                self._values.popitem(last=False)


READS = SharedReads()
"""The dashboard process's shared reads: every tab and API endpoint of every session."""


@dataclass(frozen=True)
class Runs:
    """Every run (Store.list_runs, newest first) at one Store.runs_version."""

    version: tuple[int, ...]
    records: tuple[RunRecord, ...]

    def run_version(self, run_id: int) -> Hashable:
        """What changes whenever the run's metrics or rollouts do: its step (committed with each step's rows)
        and its status (trailing rows are written before a run ends), with its creation time, which tells a
        run apart from a later one given a deleted run's id. None for a run that does not exist."""
        run = self.get(run_id)
        return None if run is None else (run.created_at, run.status, run.step)

    def get(self, run_id: int) -> RunRecord | None:
        return next((run for run in self.records if run.id == run_id), None)


def shared_runs(store: Store, reads: SharedReads = READS) -> Runs:
    """The runs, read from the database once per change of Store.runs_version (one small query per call)."""
    version = store.runs_version()
    records = reads.get(("runs", store.url), version, lambda: tuple(store.list_runs()))
    return Runs(version, records)
