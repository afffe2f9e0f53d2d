"""Metric series kept between chart redraws, so a redraw reads only the steps that landed since the last one.

A run of 10,000 steps x 15 keys is 150,000 points; reading them all on every new step would cost seconds, while
the new step is a handful of rows. Shared by every browser session of the dashboard process.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from storage import MetricSeries, Store

MAX_RUNS = 32


@dataclass
class _Cached:
    created_at: dt.datetime
    """Tells a run apart from a later one that reuses a deleted run's id."""
    series: dict[str, MetricSeries]
    last_step: int


class SeriesCache:
    def __init__(self) -> None:
        self._runs: dict[int, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, run_id: int, created_at: dt.datetime) -> dict[str, MetricSeries]:
        """Every series of the run, up to date with the Store."""
        with self._lock:
            cached = self._runs.get(run_id)
        if cached is None or cached.created_at != created_at:
            cached = _Cached(created_at, store.get_metrics(run_id), -1)
        else:
            # Re-read the last cached step too: keys of one step may arrive in more than one write.
            fresh = store.get_metrics(run_id, since_step=cached.last_step)
            cached = _Cached(created_at, _merge(cached.series, fresh, cached.last_step), -1)
        cached.last_step = max((s.steps[-1] for s in cached.series.values() if s.steps), default=-1)
        with self._lock:
            self._runs.pop(run_id, None)
            self._runs[run_id] = cached  # most recently used last
            while len(self._runs) > MAX_RUNS:
                self._runs.pop(next(iter(self._runs)))
        return cached.series


def _merge(old: dict[str, MetricSeries], fresh: dict[str, MetricSeries], since: int) -> dict[str, MetricSeries]:
    merged = dict(old)
    for key, new in fresh.items():
        kept = old.get(key)
        if kept is None:
            merged[key] = new
            continue
        cut = len(kept.steps)
        while cut and kept.steps[cut - 1] >= since:  # only the tail: at most the one re-read step
            cut -= 1
        merged[key] = MetricSeries(
            key, kept.steps[:cut] + new.steps, kept.values[:cut] + new.values, kept.wall_times[:cut] + new.wall_times
        )
    return merged
