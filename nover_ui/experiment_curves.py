"""An experiment's held-out curves overlaid: one figure per eval/* metric, every run drawn in its variant's colour,
the seeds of a variant told apart by dash and marker, x = step.

Pure: run records and series in, Plotly figures out. Run names and variant labels go through plotly_text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.colors
import plotly.graph_objects as go

from nover_ui.experiment_view import BEST, SEED_FIELD, Variant, eval_keys, value_text
from nover_ui.safe_text import plotly_text
from storage import MetricSeries

PALETTE = plotly.colors.qualitative.Plotly
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "cross")
UNIT_TICKS_UP_TO = 10
"""Spans of at most this many steps get one tick per step (Plotly would put ticks at 0.5, 1.5, ...)."""
HEIGHT_PX = 320


def variant_colour(index: int) -> str:
    """The colour of the index-th variant (in variants()' order) in every figure."""
    return PALETTE[index % len(PALETTE)]


def curve_figures(
    groups: Sequence[Variant], series: Mapping[int, Mapping[str, MetricSeries]]
) -> list[tuple[str, go.Figure]]:
    """(key, figure) for each eval/* key some run has (eval_keys' order); a run without points of a key is left
    out of that figure. The legend names each line '<variant> · #<run> seed <seed>', grouped by variant."""
    figures = []
    for key in eval_keys(series):
        traces, steps = [], []
        for index, variant in enumerate(groups):
            for position, run in enumerate(variant.runs):
                one = series.get(run.id, {}).get(key)
                if one is None or not one.steps:
                    continue
                steps += [one.steps[0], one.steps[-1]]
                seed = value_text(run.config.get(SEED_FIELD, "?"))
                traces.append(
                    {
                        "type": "scatter",
                        "x": list(one.steps),
                        "y": list(one.values),
                        "mode": "lines+markers",
                        "name": plotly_text(f"{variant.label} · #{run.id} seed {seed}"),
                        "legendgroup": f"variant-{index}",
                        "line": {"color": variant_colour(index), "dash": DASHES[position % len(DASHES)]},
                        "marker": {"symbol": MARKERS[position % len(MARKERS)], "size": 7},
                    }
                )
        figures.append((key, _figure(key, traces, steps)))
    return figures


def _figure(key: str, traces: Sequence[Mapping[str, object]], steps: list[int]) -> go.Figure:
    direction = {max: " (higher is better)", min: " (lower is better)"}[BEST[key]] if key in BEST else ""
    x_axis: dict[str, object] = {"title": {"text": "step"}, "tickformat": "d"}
    if steps and max(steps) - min(steps) <= UNIT_TICKS_UP_TO:
        x_axis |= {"tick0": 0, "dtick": 1}
    layout = {
        "template": "plotly_white",
        "title": {"text": plotly_text(key + direction)},
        "height": HEIGHT_PX,
        "margin": {"l": 50, "r": 20, "t": 50, "b": 40},
        "xaxis": x_axis,
        "yaxis": {"hoverformat": ".4~g"},
        "legend": {"orientation": "h", "y": -0.25},
    }
    # One constructor call: Plotly validates the figure once (figures.py measured add_* calls re-walking it).
    return go.Figure(data=traces, layout=layout)
