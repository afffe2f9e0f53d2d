"""Numbers behind a metric line: TensorBoard's smoothing and a downsampling that keeps spikes. numpy only, so
the Metrics charts stay fast on 10,000-step runs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Keeps weight ** -k below e**500 inside one smoothing block, far from float64's overflow at e**709.
_MAX_EXPONENT = 500.0
_LOG_NEGLIGIBLE = -40.0  # e**-40 vanishes next to 1 in float64


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """Debiased exponential moving average, as TensorBoard's smoothing slider computes it.

    weight 0 returns the values unchanged. Non-finite values come out as NaN and are skipped, so they neither
    poison the later points nor count towards the debiasing: smooth([1, nan, 3], 0.5) == [1, nan, 2.333...].
    """
    return smoothed(np.asarray(values, dtype=float), weight).tolist()


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most max_points points: the first, the last, and each bucket's min and max y in x order,
    so spikes survive where plain striding would drop them."""
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys must have the same length, got {len(xs)} and {len(ys)}")
    keep = downsample_index(np.asarray(ys, dtype=float), max_points)
    if len(keep) == len(ys):
        return list(xs), list(ys)
    return np.asarray(xs)[keep].tolist(), np.asarray(ys)[keep].tolist()


def check_weight(weight: float) -> None:
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")


def smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    """smooth() on an array, returning an array."""
    check_weight(weight)
    if weight == 0:
        return values.copy()
    finite = np.isfinite(values)
    out = np.full(len(values), np.nan)
    averaged = _ema(values[finite], weight)
    # TensorBoard's debiasing: the average starts at 0, so divide out the weight it has not yet gathered,
    # 1 - weight**n. The exponent is floored where that is 1.0 anyway, since subnormal powers are ~30x slower.
    log_missing = np.maximum(np.arange(1, len(averaged) + 1) * math.log(weight), _LOG_NEGLIGIBLE)
    out[finite] = averaged / -np.expm1(log_missing)
    return out


def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    """ema[j] = weight * ema[j-1] + (1 - weight) * values[j], starting from 0.

    A per-point Python loop costs ~0.1 s per 100k points; the closed form
    ema[j] = weight**j * (1 - weight) * cumsum(values[i] / weight**i) is vectorised instead,
    in blocks short enough that weight**-i cannot overflow.
    """
    block = max(1, int(_MAX_EXPONENT / -math.log(weight)))
    out = np.empty_like(values)
    carried = 0.0
    for start in range(0, len(values), block):
        chunk = values[start : start + block]
        powers = weight ** np.arange(len(chunk))
        out[start : start + len(chunk)] = powers * (weight * carried + (1 - weight) * np.cumsum(chunk / powers))
        carried = out[start + len(chunk) - 1]
    return out


def downsample_index(ys: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most max_points points: first, last, and each bucket's finite min and max.

    A bucket with no finite value keeps its first point, so a long NaN stretch still shows as a gap.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2 to keep the first and last points, got {max_points}")
    count = len(ys)
    if count <= max_points:
        return np.arange(count)
    interior = ys[1:-1]
    buckets = (max_points - 2) // 2
    if buckets == 0:
        return np.array([0, count - 1])
    size = -(-len(interior) // buckets)
    grid: np.ndarray = np.full(buckets * size, np.nan)  # reshaped to 2-D below
    grid[: len(interior)] = interior
    grid = grid.reshape(buckets, size)
    finite = np.isfinite(grid)
    row_starts = np.arange(buckets) * size
    lowest = row_starts + np.where(finite, grid, np.inf).argmin(axis=1)
    highest = row_starts + np.where(finite, grid, -np.inf).argmax(axis=1)
    kept = np.zeros(buckets * size, dtype=bool)
    kept[lowest] = kept[highest] = True
    interior_kept = np.flatnonzero(kept[: len(interior)]) + 1  # drop the padding, shift past the first point
    return np.concatenate([[0], interior_kept, [count - 1]])
