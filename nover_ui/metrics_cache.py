"""Metric series kept between chart redraws, so a redraw reads only the steps that landed since the last one.

A run of 10,000 steps x 40 keys is 400,000 points; a chart line shows at most a few thousand, so a run is first
read at the level of detail a chart needs (Store.get_metric_summary: bucket extremes for a long series), and each
new step is then appended raw: a handful of rows. Once the appended points outgrow a summary's size, the next
redraw reads the summary afresh, so a line never grows without bound. Shared by every browser session of the
dashboard process.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from storage import MetricSeries, Store

MAX_RUNS = 32
MAX_POINTS = 600
"""About the points per line read from the Store (300-800 as the run grows: 300 buckets' extremes is one pair
every 2 px of a half-width chart). A page of 5 runs x 40 keys is 200 lines; more points cost read time."""


@dataclass
class _Cached:
    created_at: dt.datetime
    """Tells a run apart from a later one that reuses a deleted run's id."""
    series: dict[str, MetricSeries]
    last_step: int
    appended: int = 0
    """Raw points appended since the summary was read."""


class SeriesCache:
    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._runs: dict[int, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, run_id: int, created_at: dt.datetime) -> dict[str, MetricSeries]:
        """Every series of the run up to date with the Store, each with about max_points points or more."""
        with self._lock:
            cached = self._runs.get(run_id)
        if cached is None or cached.created_at != created_at or cached.appended > self.max_points:
            cached = _Cached(created_at, store.get_metric_summary(run_id, self.max_points), -1)
        else:
            # Re-read the last cached step too: keys of one step may arrive in more than one write.
            fresh = store.get_metrics(run_id, since_step=cached.last_step)
            appended = cached.appended + sum(len(series.steps) for series in fresh.values())
            cached = _Cached(created_at, _merge(cached.series, fresh, cached.last_step), -1, appended)
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
