"""Pure figure helpers for the metrics tab: metric series in, Plotly figures out. No Gradio, no Store."""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio

from nover_ui.safe_text import plotly_text
from nover_ui.series_math import check_weight, downsample_index, smoothed
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
_MAX_COLUMNS = 3
_UNIT_TICKS_UP_TO = 10  # steps spanned: up to here Plotly's own ticks could fall between steps (2.5)


@dataclass(frozen=True)
class ChartOptions:
    """How every chart of the tab is drawn. x_axis 'step' plots steps, 'time' minutes since the run's first logged
    point. With smoothing > 0 the raw values stay visible, faint, behind the smoothed line. log_y puts each y axis
    whose values are all above 0 on a log scale; an axis with a value <= 0 stays linear and says so."""

    smoothing: float = 0.0
    x_axis: str = "step"
    log_y: bool = False
    max_points: int = 2000

    def __post_init__(self) -> None:
        if self.x_axis not in X_AXES:
            raise ValueError(f"x_axis must be one of {X_AXES}, got {self.x_axis!r}")
        check_weight(self.smoothing)


def metric_group(key: str) -> str:
    """The group a metric key is charted in: 'rewards/format/mean' -> 'rewards', 'entropy' -> 'other'."""
    if key in ("reward", "reward_std"):
        return "reward"
    if key in ("kl", "loss"):
        return key
    return key.split("/", 1)[0] if "/" in key else "other"


def run_colour(run_id: int) -> str:
    """The run's colour in every chart: ids cycle through plotly's qualitative palette."""
    return _PALETTE[run_id % len(_PALETTE)]


def metric_figures(
    metrics: Mapping[int, Mapping[str, MetricSeries]],
    names: Mapping[int, str],
    smoothing: float = 0.0,
    x_axis: str = "step",
    max_points: int = 2000,
    log_y: bool = False,
    keys: Collection[str] | None = None,
) -> list[tuple[str, go.Figure]]:
    """One (group, figure) per metric group in display order, one subplot per key, one line per run.

    metrics maps run id -> key -> series; `keys` limits the charts to those keys (all keys when None).
    """
    options = ChartOptions(smoothing, x_axis, log_y, max_points)
    keys_by_group: dict[str, set[str]] = {}
    for run_metrics in metrics.values():
        for key in run_metrics:
            if keys is None or key in keys:
                keys_by_group.setdefault(metric_group(key), set()).add(key)
    return [
        (group, _figure(sorted(keys_by_group[group]), {}, metrics, names, options))
        for group in _ordered_groups(set(keys_by_group))
    ]


def header_figure(
    keys: Sequence[str],
    titles: Mapping[str, str],
    metrics: Mapping[int, Mapping[str, MetricSeries]],
    names: Mapping[int, str],
    options: ChartOptions,
) -> go.Figure:
    """The key curves in one figure, in the order given; `titles` names their subplots."""
    return _figure(list(keys), titles, metrics, names, options)


def _ordered_groups(groups: set[str]) -> list[str]:
    return [group for group in GROUP_ORDER if group in groups] + sorted(groups - set(GROUP_ORDER))


def _figure(
    keys: list[str],
    titles: Mapping[str, str],
    metrics: Mapping[int, Mapping[str, MetricSeries]],
    names: Mapping[int, str],
    options: ChartOptions,
) -> go.Figure:
    """Up to three subplots a row, the rows filled evenly (four keys as 2 x 2, not 3 + 1)."""
    rows = math.ceil(len(keys) / _MAX_COLUMNS) or 1
    cols = math.ceil(len(keys) / rows) or 1
    plot_height = _ROW_HEIGHT_PX * rows
    starts = {run_id: _first_wall_time(run_metrics) for run_id, run_metrics in metrics.items()}
    traces = []
    extents: list[tuple[float, float] | None] = [None] * len(keys)  # each key's finite (min, max) over runs
    steps_drawn: list[int] = []  # the first and last step of each line, for the step axis's ticks
    for run_id in sorted(metrics):
        in_legend = False
        for position, key in enumerate(keys):
            series = metrics[run_id].get(key)
            if series is None or not series.steps:
                continue
            ys = np.asarray(series.values, dtype=float)
            ys = np.where(np.isfinite(ys), ys, np.nan)  # inf would stretch the axis; NaN is drawn as a gap
            extents[position] = _widened(extents[position], ys)
            steps_drawn += [series.steps[0], series.steps[-1]]
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
            xs = _x_values(series, options.x_axis, starts[run_id])
            traces += _run_traces(xs, ys, np.asarray(series.steps), options, show_legend=not in_legend, style=style)
            in_legend = True
    layout = _grid_layout(keys, titles, cols, plot_height, options.x_axis)
    for position, extent in enumerate(extents):
        _fit_y_axis(layout, position, extent, options.log_y)
    if options.x_axis == "step" and steps_drawn and max(steps_drawn) - min(steps_drawn) <= _UNIT_TICKS_UP_TO:
        for position in range(len(keys)):
            layout[f"xaxis{_axis_suffix(position)}"].update(tick0=0, dtick=1)
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


def _widened(extent: tuple[float, float] | None, ys: np.ndarray) -> tuple[float, float] | None:
    if not np.isfinite(ys).any():
        return extent
    low, high = float(np.nanmin(ys)), float(np.nanmax(ys))
    return (low, high) if extent is None else (min(extent[0], low), max(extent[1], high))


def _fit_y_axis(layout: dict[str, Any], position: int, extent: tuple[float, float] | None, log_y: bool) -> None:
    """Log scale where asked and possible; a range around a flat line, which Plotly would otherwise centre in
    -1..1 (a learning rate of 1e-5 drew as 0)."""
    axis = layout[f"yaxis{_axis_suffix(position)}"]
    if extent is None:
        return
    low, high = extent
    log = log_y and low > 0
    if log:
        axis["type"] = "log"
    elif log_y:
        layout["annotations"][position]["text"] += " (linear: values ≤ 0)"
    if math.isclose(low, high, rel_tol=1e-6, abs_tol=1e-12):  # flat, or float32 rounding apart
        middle = (low + high) / 2
        if log:
            axis["range"] = [math.log10(middle) - 0.5, math.log10(middle) + 0.5]
        else:
            pad = abs(middle) / 2 or 1.0
            axis["range"] = [middle - pad, middle + pad]


def _run_traces(
    xs: np.ndarray,
    ys: np.ndarray,
    steps: np.ndarray,
    options: ChartOptions,
    show_legend: bool,
    style: dict[str, Any],
) -> list[dict[str, Any]]:
    """The run's line in one subplot: the smoothed line over a faint raw one, or just the raw line."""
    keep = downsample_index(ys, options.max_points)
    if options.smoothing == 0:
        return [dict(type="scatter", x=xs[keep], y=ys[keep], customdata=steps[keep], showlegend=show_legend, **style)]
    smooth_ys = smoothed(ys, options.smoothing)
    # Each line keeps its own extremes, so the two are downsampled separately.
    smooth_keep = downsample_index(smooth_ys, options.max_points)
    raw = dict(
        type="scatter", x=xs[keep], y=ys[keep], showlegend=False, opacity=_RAW_OPACITY, hoverinfo="skip", **style
    )
    return [
        raw,
        dict(
            type="scatter",
            x=xs[smooth_keep],
            y=smooth_ys[smooth_keep],
            customdata=steps[smooth_keep],
            showlegend=show_legend,
            **style,
        ),
    ]


def _grid_layout(
    keys: list[str], titles: Mapping[str, str], cols: int, plot_height: int, x_axis: str
) -> dict[str, Any]:
    """Axes and title annotations of a grid with one cell per key, row by row, as make_subplots lays them out.

    Spacing is in pixels so every row keeps room for tick labels and the next row's title. Only the lowest
    subplot of each column names the x axis. Steps are whole numbers on their axis; y tick labels switch to
    exponents (1e-5) for values far from 1, so a learning rate reads as itself.
    """
    rows = math.ceil(len(keys) / cols)
    row_gap = _ROW_GAP_PX / plot_height
    cell_width = (1 - _COLUMN_GAP * (cols - 1)) / cols
    cell_height = (1 - row_gap * (rows - 1)) / rows
    x_title = "step" if x_axis == "step" else "minutes since start"
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
            **({"tickformat": "d"} if x_axis == "step" else {}),
        }
        layout[f"yaxis{suffix}"] = {
            "domain": [top - cell_height, top],
            "anchor": f"x{suffix}",
            "exponentformat": "e",
            "hoverformat": ".4~g",
        }
        layout["annotations"].append(
            {
                "text": plotly_text(titles.get(key, key)),
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
