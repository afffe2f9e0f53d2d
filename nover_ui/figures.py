"""Pure figure helpers for the metrics tab: metric series in, Plotly figures out. No Gradio, no Store."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio

from nover_ui.safe_text import plotly_text
from storage import MetricSeries

GROUP_ORDER: tuple[str, ...] = ("reward", "rewards", "nover", "completions", "kl", "loss")
X_AXES = ("step", "time")

_PALETTE = plotly.colors.qualitative.Plotly
_ROW_HEIGHT_PX = 260
_MARGIN = {"l": 50, "r": 20, "t": 80, "b": 40}
_LEGEND_GAP_PX = 30  # room between the legend and the subplot titles under it
_ROW_GAP_PX = 70  # tick labels, an x title and the next row's subplot title
_COLUMN_GAP = 0.08  # fraction of the width, room for the right column's y tick labels
_RAW_OPACITY = 0.25
# Keeps weight ** -k below e**500 inside one smoothing block, far from float64's overflow at e**709.
_MAX_EXPONENT = 500.0
_LOG_NEGLIGIBLE = -40.0  # e**-40 vanishes next to 1 in float64


def metric_group(key: str) -> str:
    """The group a metric key is charted in: 'rewards/format/mean' -> 'rewards', 'entropy' -> 'other'."""
    if key in ("reward", "reward_std"):
        return "reward"
    if key in ("kl", "loss"):
        return key
    return key.split("/", 1)[0] if "/" in key else "other"


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """Debiased exponential moving average, as TensorBoard's smoothing slider computes it.

    weight 0 returns the values unchanged. Non-finite values come out as NaN and are skipped, so they neither
    poison the later points nor count towards the debiasing: smooth([1, nan, 3], 0.5) == [1, nan, 2.333...].
    """
    return _smoothed(np.asarray(values, dtype=float), weight).tolist()


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most max_points points: the first, the last, and each bucket's min and max y in x order,
    so spikes survive where plain striding would drop them."""
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys must have the same length, got {len(xs)} and {len(ys)}")
    keep = _downsample_index(np.asarray(ys, dtype=float), max_points)
    if len(keep) == len(ys):
        return list(xs), list(ys)
    return np.asarray(xs)[keep].tolist(), np.asarray(ys)[keep].tolist()


def run_colour(run_id: int) -> str:
    """The run's colour in every chart: ids cycle through plotly's qualitative palette."""
    return _PALETTE[run_id % len(_PALETTE)]


def metric_figures(
    metrics: Mapping[int, Mapping[str, MetricSeries]],
    names: Mapping[int, str],
    smoothing: float = 0.0,
    x_axis: str = "step",
    max_points: int = 2000,
) -> list[tuple[str, go.Figure]]:
    """One (group, figure) per metric group in display order, one subplot per key, one line per run.

    metrics maps run id -> key -> series. x_axis 'step' plots steps, 'time' plots minutes since the run's
    first logged point. With smoothing > 0 the raw values stay visible, faint, behind the smoothed line.
    """
    if x_axis not in X_AXES:
        raise ValueError(f"x_axis must be one of {X_AXES}, got {x_axis!r}")
    _check_weight(smoothing)
    keys_by_group: dict[str, set[str]] = {}
    for run_metrics in metrics.values():
        for key in run_metrics:
            keys_by_group.setdefault(metric_group(key), set()).add(key)
    starts = {run_id: _first_wall_time(run_metrics) for run_id, run_metrics in metrics.items()}
    return [
        (group, _group_figure(sorted(keys_by_group[group]), metrics, names, starts, smoothing, x_axis, max_points))
        for group in _ordered_groups(set(keys_by_group))
    ]


def _ordered_groups(groups: set[str]) -> list[str]:
    return [group for group in GROUP_ORDER if group in groups] + sorted(groups - set(GROUP_ORDER))


def _group_figure(
    keys: list[str],
    metrics: Mapping[int, Mapping[str, MetricSeries]],
    names: Mapping[int, str],
    starts: Mapping[int, float],
    smoothing: float,
    x_axis: str,
    max_points: int,
) -> go.Figure:
    cols = 2 if len(keys) > 1 else 1
    rows = math.ceil(len(keys) / cols)
    plot_height = _ROW_HEIGHT_PX * rows
    traces = []
    for run_id in sorted(metrics):
        in_legend = False
        for position, key in enumerate(keys):
            series = metrics[run_id].get(key)
            if series is None or not series.steps:
                continue
            xs = _x_values(series, x_axis, starts[run_id])
            # meta and customdata (the step of each point) let a click on a point open that run's step in Traces.
            style = {
                "legendgroup": f"run-{run_id}",
                "name": plotly_text(f"#{run_id} {names.get(run_id, '')}".rstrip()),
                "meta": {"run": run_id, "key": key},
                "xaxis": f"x{_axis_suffix(position)}",
                "yaxis": f"y{_axis_suffix(position)}",
                "mode": "lines+markers",
                "line": {"color": run_colour(run_id), "width": 1.8},
                "marker": {"size": 3},
            }
            traces += _run_traces(
                xs,
                np.asarray(series.values, dtype=float),
                np.asarray(series.steps),
                smoothing,
                max_points,
                show_legend=not in_legend,
                style=style,
            )
            in_legend = True
    layout = _grid_layout(keys, cols, plot_height, "step" if x_axis == "step" else "minutes since start")
    layout.update(
        template=_template(),
        height=plot_height + _MARGIN["t"] + _MARGIN["b"],
        margin=_MARGIN,
        hovermode="x unified",
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "yanchor": "bottom",
            "y": 1 + _LEGEND_GAP_PX / plot_height,
        },
    )
    # One constructor call: plotly validates the figure once, where make_subplots and update_* calls re-walk
    # it each time (~30 ms a figure, most of the time budget).
    return go.Figure(data=traces, layout=layout)


def _run_traces(
    xs: np.ndarray,
    ys: np.ndarray,
    steps: np.ndarray,
    smoothing: float,
    max_points: int,
    show_legend: bool,
    style: dict[str, Any],
) -> list[dict[str, Any]]:
    """The run's line in one subplot: the smoothed line over a faint raw one, or just the raw line."""
    ys = np.where(np.isfinite(ys), ys, np.nan)  # inf would stretch the axis; NaN is drawn as a gap
    keep = _downsample_index(ys, max_points)
    if smoothing == 0:
        return [dict(type="scatter", x=xs[keep], y=ys[keep], customdata=steps[keep], showlegend=show_legend, **style)]
    smoothed = _smoothed(ys, smoothing)
    # Each line keeps its own extremes, so the two are downsampled separately.
    smooth_keep = _downsample_index(smoothed, max_points)
    raw = dict(
        type="scatter", x=xs[keep], y=ys[keep], showlegend=False, opacity=_RAW_OPACITY, hoverinfo="skip", **style
    )
    return [
        raw,
        dict(
            type="scatter",
            x=xs[smooth_keep],
            y=smoothed[smooth_keep],
            customdata=steps[smooth_keep],
            showlegend=show_legend,
            **style,
        ),
    ]


def _grid_layout(keys: list[str], cols: int, plot_height: int, x_title: str) -> dict[str, Any]:
    """Axes and title annotations of a grid with one cell per key, row by row, as make_subplots lays them out.

    Spacing is in pixels so every row keeps room for tick labels and the next row's title. Only the lowest
    subplot of each column names the x axis.
    """
    rows = math.ceil(len(keys) / cols)
    row_gap = _ROW_GAP_PX / plot_height
    cell_width = (1 - _COLUMN_GAP * (cols - 1)) / cols
    cell_height = (1 - row_gap * (rows - 1)) / rows
    layout: dict[str, Any] = {"annotations": []}
    for position, key in enumerate(keys):
        row, col = divmod(position, cols)
        left, top = col * (cell_width + _COLUMN_GAP), 1 - row * (cell_height + row_gap)
        suffix = _axis_suffix(position)
        is_lowest = position + cols >= len(keys)
        layout[f"xaxis{suffix}"] = {
            "domain": [left, left + cell_width],
            "anchor": f"y{suffix}",
            "title": {"text": x_title if is_lowest else ""},
        }
        layout[f"yaxis{suffix}"] = {"domain": [top - cell_height, top], "anchor": f"x{suffix}"}
        layout["annotations"].append(
            {
                "text": plotly_text(key),
                "x": left + cell_width / 2,
                "y": top,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    return layout


def _axis_suffix(position: int) -> str:
    """Plotly names the first subplot's axes 'x'/'y', then 'x2'/'y2', ..."""
    return "" if position == 0 else str(position + 1)


@functools.cache
def _template() -> dict[str, Any]:
    """plotly_white's layout alone: its defaults for other trace types (heatmaps, maps, ...) never apply to
    these line charts, yet take ~25 ms a figure to validate."""
    return {"layout": pio.templates["plotly_white"].layout.to_plotly_json()}


def _x_values(series: MetricSeries, x_axis: str, start: float) -> np.ndarray:
    if x_axis == "step":
        return np.asarray(series.steps)
    return (np.asarray(series.wall_times, dtype=float) - start) / 60.0


def _first_wall_time(run_metrics: Mapping[str, MetricSeries]) -> float:
    """Every key of a run shares one time origin, so its subplots line up in 'time' mode."""
    return min((series.wall_times[0] for series in run_metrics.values() if series.wall_times), default=0.0)


def _check_weight(weight: float) -> None:
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")


def _smoothed(values: np.ndarray, weight: float) -> np.ndarray:
    _check_weight(weight)
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


def _downsample_index(ys: np.ndarray, max_points: int) -> np.ndarray:
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
