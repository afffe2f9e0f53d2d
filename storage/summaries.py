"""Metric series at the level of detail a chart needs: raw points for a short run, bucket summaries for a long one.

TRL logs about 40 keys a step, so five runs of 10,000 steps are two million points, while a chart line shows at
most a few thousand. Every logged point therefore also updates, in the same transaction, the open bucket of each
level (LEVELS steps per bucket): the bucket's lowest and highest value and its last point, each with its step and
time. A read picks, per key, the level whose bucket count is nearest the points the chart wants, so opening a
100,000-step run reads about as many rows as opening a 1,000-step one. The extremes are real logged points, so a
spike stays visible and a click on it opens a step that exists.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import Insert, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.models import Metric, MetricSummary
from storage.records import MetricSeries

LEVELS: tuple[int, ...] = (4, 16, 64, 256, 1024, 4096)
"""Steps per bucket. A factor of 4 between levels keeps a read within about 2x of the wanted points; six levels
serve runs up to a few million steps. Each logged point updates one row per level."""

_SUMMARY = MetricSummary.__table__.c
_KEY_COLUMNS = ("run_id", "level", "key", "bucket")


def check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    if not levels or any(not isinstance(level, int) or level < 2 for level in levels):
        raise StorageError(f"summary levels are bucket sizes of at least 2 steps, got {list(levels)}")
    return tuple(sorted(set(levels)))


def point_rows(
    run_id: int, key: str, step: int, value: float, wall_time: float, levels: Sequence[int]
) -> list[dict[str, Any]]:
    """The summary rows of one point alone, one per level: what a bucket holds after its first point."""
    value = float(value)
    # NaN is no extreme (PostgreSQL would order it above every number); it still counts and can be the last point.
    extreme = (None, None, None) if math.isnan(value) else (step, value, wall_time)
    return [
        {
            "run_id": run_id,
            "level": level,
            "key": key,
            "bucket": step // level,
            "points": 1,
            "first_step": step,
            "min_step": extreme[0],
            "min_value": extreme[1],
            "min_wall": extreme[2],
            "max_step": extreme[0],
            "max_value": extreme[1],
            "max_wall": extreme[2],
            "last_step": step,
            "last_value": value,
            "last_wall": wall_time,
        }
        for level in levels
    ]


def combine(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Two summaries of one bucket as one, by the rule the database's upsert applies (`write_points`)."""
    merged = dict(old, points=old["points"] + new["points"], first_step=min(old["first_step"], new["first_step"]))
    for side, better in (("min", float.__lt__), ("max", float.__gt__)):
        if new[f"{side}_value"] is not None and (
            old[f"{side}_value"] is None or better(float(new[f"{side}_value"]), float(old[f"{side}_value"]))
        ):
            merged.update((f"{side}_{part}", new[f"{side}_{part}"]) for part in ("step", "value", "wall"))
    if new["last_step"] > old["last_step"]:
        merged.update((f"last_{part}", new[f"last_{part}"]) for part in ("step", "value", "wall"))
    return merged


def summarise(run_id: int, rows: Iterable[Mapping[str, Any]], levels: Sequence[int]) -> list[dict[str, Any]]:
    """Summary rows of one run's metric rows (step, key, value, wall_time) already stored or about to be: what
    logging them step by step would have left (an import, the migration that fills old databases)."""
    buckets: dict[tuple[str, int, int], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda row: (row["key"], row["step"])):
        for summary in point_rows(run_id, row["key"], row["step"], float(row["value"]), row["wall_time"], levels):
            at = (summary["key"], summary["level"], summary["bucket"])
            buckets[at] = summary if at not in buckets else combine(buckets[at], summary)
    return list(buckets.values())


def insert_metrics(
    s: Session, run_id: int, step: int, metrics: Mapping[str, float], levels: Sequence[int], wall_time: float
) -> None:
    """Insert one step's metric points and fold them into their buckets, inside the caller's transaction."""
    s.execute(
        Metric.__table__.insert(),
        [
            {"run_id": run_id, "step": step, "key": key, "value": float(value), "wall_time": wall_time}
            for key, value in metrics.items()
        ],
    )
    write_points(s, run_id, step, metrics, wall_time, levels)


def write_points(
    s: Session, run_id: int, step: int, metrics: Mapping[str, float], wall_time: float, levels: Sequence[int]
) -> None:
    """Fold one step's points into their buckets: one upsert statement, one row per key and level."""
    rows = [row for key, value in metrics.items() for row in point_rows(run_id, key, step, value, wall_time, levels)]
    s.execute(_upsert(s.get_bind().dialect.name), rows)


@functools.cache
def _upsert(dialect: str) -> Insert:
    insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(MetricSummary.__table__)
    new, old = insert.excluded, _SUMMARY
    # Every expression sees the row as it was before this update, on both backends, so the conditions agree.
    changes: dict[str, Any] = {
        "points": old.points + new.points,
        "first_step": case((new.first_step < old.first_step, new.first_step), else_=old.first_step),
    }
    lower = or_(old.min_value.is_(None), new.min_value < old.min_value)
    higher = or_(old.max_value.is_(None), new.max_value > old.max_value)
    later = new.last_step > old.last_step
    for side, wins in (("min", lower), ("max", higher), ("last", later)):
        for part in ("step", "value", "wall"):
            name = f"{side}_{part}"
            changes[name] = case((wins, new[name]), else_=old[name])
    return insert.on_conflict_do_update(index_elements=list(_KEY_COLUMNS), set_=changes)


def pick_level(points: int, first_step: int, last_step: int, levels: Sequence[int], max_points: int) -> int | None:
    """The level to read a key at, or None for its raw points.

    Raw when the key has at most max_points points; else the level whose bucket count is nearest (by ratio)
    max_points / 2, since a bucket draws as two points (its extremes), unless raw points would be fewer.

    >>> pick_level(1_000, 1, 1_000, LEVELS, 1_000) is None
    True
    >>> pick_level(100_000, 1, 100_000, LEVELS, 1_000)  # 390 buckets of 256 steps
    256
    >>> pick_level(10_000, 1, 10_000, LEVELS, 1_000)  # 625 buckets of 16 steps
    16
    """
    if points <= max_points:
        return None
    target = max_points / 2

    def buckets(level: int) -> int:
        return min(points, last_step // level - first_step // level + 1)

    level = min(levels, key=lambda level: (abs(math.log(buckets(level) / target)), -level))
    return None if 2 * buckets(level) >= points else level


def raw_series(
    s: Session, run_id: int, keys: Sequence[str] | None = None, since_step: int | None = None
) -> dict[str, MetricSeries]:
    """A run's logged points by key, ordered by step; only steps >= since_step when given."""
    table = Metric.__table__.c  # plain columns: no ORM row processing for what can be 10^5 points
    query = (
        select(table.key, table.step, table.value, table.wall_time)
        .where(table.run_id == run_id)
        .order_by(table.key, table.step)
    )
    if keys is not None:
        query = query.where(table.key.in_(keys))
    if since_step is not None:
        query = query.where(table.step >= since_step)
    series = {}
    for key, rows in groupby(s.execute(query), key=lambda row: row[0]):
        _, steps, values, wall_times = zip(*rows)
        series[key] = MetricSeries(key, steps, values, wall_times)
    return series


class MetricSummaries:
    """Mixed into Store: the chart's read of a run's metrics, in one of its session scopes."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]
    summary_levels: tuple[int, ...]

    def get_metric_summary(self, run_id: int, max_points: int = 1000) -> dict[str, MetricSeries]:
        """Every series of the run with about max_points points or fewer each (see pick_level): raw points for
        a short series, else each bucket's lowest and highest point at the chosen level, and the last point.

        The points are real logged ones, in step order; a series' last point is the last one logged.
        """
        if max_points < 2:
            raise StorageError(f"max_points must be at least 2, got {max_points}")
        coarsest = self.summary_levels[-1]
        spans = (
            select(_SUMMARY.key, func.sum(_SUMMARY.points), func.min(_SUMMARY.first_step), func.max(_SUMMARY.last_step))
            .where(_SUMMARY.run_id == run_id, _SUMMARY.level == coarsest)
            .group_by(_SUMMARY.key)
        )
        with self._session("read metric summaries") as s:
            by_level: dict[int | None, list[str]] = {}
            for key, points, first, last in s.execute(spans):
                level = pick_level(int(points), first, last, self.summary_levels, max_points)
                by_level.setdefault(level, []).append(key)
            series = raw_series(s, run_id, by_level.pop(None)) if None in by_level else {}
            for level, keys in by_level.items():
                assert level is not None
                series.update(_bucket_series(s, run_id, level, keys))
        return dict(sorted(series.items()))


def _bucket_series(s: Session, run_id: int, level: int, keys: list[str]) -> dict[str, MetricSeries]:
    c = _SUMMARY
    query = (
        select(c.key, c.min_step, c.min_value, c.min_wall, c.max_step, c.max_value, c.max_wall)
        .add_columns(c.last_step, c.last_value, c.last_wall)
        .where(c.run_id == run_id, c.level == level, c.key.in_(keys))
        .order_by(c.key, c.bucket)
    )
    series = {}
    for key, rows in groupby(s.execute(query), key=lambda row: row[0]):
        steps: list[int] = []
        values: list[float] = []
        walls: list[float] = []
        # A plain loop over unpacked rows: this runs once per bucket, 10^5 times for a page of long runs.
        row: Any = None
        for row in rows:
            low, high = row[1:4], row[4:7]
            if low[0] is None:  # only NaN in the bucket, which leaves its last point alone
                continue
            for step, value, wall in (low, high) if low[0] <= high[0] else (high, low):
                if not steps or step > steps[-1]:
                    steps.append(step)
                    values.append(value)
                    walls.append(wall)
        last_step, last_value, last_wall = row[7:10]
        if not steps or last_step > steps[-1]:  # the series ends on its last logged point, as a raw read does
            steps.append(last_step)
            values.append(last_value)
            walls.append(last_wall)
        series[key] = MetricSeries(key, tuple(steps), tuple(values), tuple(walls))
    return series
