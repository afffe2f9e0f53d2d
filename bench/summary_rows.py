"""The metric summaries of bulk-inserted benchmark series, computed with numpy: storage.summaries.summarise folds
point by point in Python, which would take minutes for millions of points. Checked against it on every build."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from storage.summaries import summarise

SUMMARY_COLUMNS = (
    "run_id",
    "level",
    "key",
    "bucket",
    "points",
    "first_step",
    "min_step",
    "min_value",
    "min_wall",
    "max_step",
    "max_value",
    "max_wall",
    "last_step",
    "last_value",
    "last_wall",
)


def summary_rows(
    run_id: int, key: str, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, levels: Sequence[int]
) -> Iterator[tuple]:
    """Rows in SUMMARY_COLUMNS order of one series sorted by step, without NaN (the benchmark logs none)."""
    for level in levels:
        buckets = steps // level
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        ends = np.r_[starts[1:], len(steps)] - 1
        # Sorted by bucket, then value, ties kept in step order: each bucket's first entry is its extreme.
        lowest = np.lexsort((values, buckets))[starts]
        highest = np.lexsort((-values, buckets))[starts]
        for b, start, end, low, high in zip(buckets[starts], starts, ends, lowest, highest):
            yield (
                run_id,
                level,
                key,
                int(b),
                int(end - start + 1),
                int(steps[start]),
                int(steps[low]),
                float(values[low]),
                float(walls[low]),
                int(steps[high]),
                float(values[high]),
                float(walls[high]),
                int(steps[end]),
                float(values[end]),
                float(walls[end]),
            )


def check_summary_rows(
    run_id: int, key: str, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, levels: Sequence[int]
) -> None:
    """summary_rows must write what the Store's own fold would: compared on a slice of a series."""
    steps, values, walls = steps[:3000], values[:3000], walls[:3000]
    points = [
        {"key": key, "step": int(step), "value": float(value), "wall_time": float(wall)}
        for step, value, wall in zip(steps, values, walls)
    ]
    expected = sorted(tuple(row[c] for c in SUMMARY_COLUMNS) for row in summarise(run_id, points, levels))
    assert sorted(summary_rows(run_id, key, steps, values, walls, levels)) == expected, "summaries differ"
