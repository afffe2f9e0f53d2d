import math

import numpy as np
import pytest

from nover_ui.figures import GROUP_ORDER, ChartOptions, header_figure, metric_figures, metric_group, run_colour
from nover_ui.series_math import smooth
from storage import MetricSeries


def series(key, values, steps=None, wall_times=None):
    steps = tuple(steps) if steps is not None else tuple(range(1, len(values) + 1))
    wall_times = tuple(wall_times) if wall_times is not None else tuple(1_700_000_000.0 + 10 * s for s in steps)
    return MetricSeries(key=key, steps=steps, values=tuple(values), wall_times=wall_times)


def run_metrics(*keys, values=(1.0, 2.0, 3.0)):
    return {key: series(key, values) for key in keys}


def figure(figures, group):
    return dict(figures)[group]


def legend_names(fig):
    return [trace.name for trace in fig.data if trace.showlegend]


def subplot_titles(fig):
    return [annotation.text for annotation in fig.layout.annotations]


@pytest.mark.parametrize(
    "key, group",
    [
        ("reward", "reward"),
        ("reward_std", "reward"),
        ("rewards/format/mean", "rewards"),
        ("rewards/efficiency/mean", "rewards"),
        ("nover/perplexity/mean", "nover"),
        ("completions/mean_length", "completions"),
        ("kl", "kl"),
        ("loss", "loss"),
        ("clip_ratio/region_mean", "clip_ratio"),
        ("data/skipped_rows", "data"),
        ("entropy", "other"),
        ("frac_reward_zero_std", "other"),
        ("learning_rate", "other"),
    ],
)
def test_each_key_family_has_its_group(key, group):
    assert metric_group(key) == group


def test_group_order_starts_with_the_reward_signals():
    assert GROUP_ORDER[:6] == ("reward", "rewards", "nover", "completions", "kl", "loss")


def test_run_colour_is_stable_and_differs_between_neighbours():
    assert run_colour(7) == run_colour(7)
    colours = [run_colour(run_id) for run_id in range(1, 6)]
    assert len(set(colours)) == 5
    assert all(colour.startswith("#") for colour in colours)


def test_no_runs_give_no_figures():
    assert metric_figures({}, {}) == []


def test_figures_follow_group_order_with_unknown_groups_after_alphabetically():
    keys = [
        "entropy",
        "loss",
        "data/prompts",
        "kl",
        "clip_ratio/low_mean",
        "completions/mean_length",
        "nover/perplexity/mean",
        "rewards/format/mean",
        "reward",
    ]
    figures = metric_figures({1: run_metrics(*keys)}, {1: "a"})
    assert [group for group, _ in figures] == [
        "reward",
        "rewards",
        "nover",
        "completions",
        "kl",
        "loss",
        "clip_ratio",
        "data",
        "other",
    ]


def test_each_key_of_a_group_gets_its_titled_subplot_up_to_three_a_row_filled_evenly():
    keys = ["rewards/format/mean", "rewards/reasoning/mean", "rewards/efficiency/mean"]
    fig = figure(metric_figures({1: run_metrics(*keys)}, {1: "a"}), "rewards")
    assert subplot_titles(fig) == sorted(keys)
    assert {trace.xaxis for trace in fig.data} == {"x", "x2", "x3"}
    left, middle, right = fig.layout.xaxis.domain, fig.layout.xaxis2.domain, fig.layout.xaxis3.domain
    assert left[1] < middle[0] and middle[1] < right[0]
    assert fig.layout.yaxis.domain == fig.layout.yaxis3.domain  # one row
    four = figure(metric_figures({1: run_metrics(*keys, "rewards/format/std")}, {1: "a"}), "rewards")
    assert four.layout.xaxis3.domain == four.layout.xaxis.domain  # 2 x 2, not 3 + 1
    assert four.layout.yaxis3.domain[1] < four.layout.yaxis.domain[0]
    single = figure(metric_figures({1: run_metrics("kl")}, {1: "a"}), "kl")
    assert tuple(single.layout.xaxis.domain) == (0, 1)
    assert single.layout.height < four.layout.height


def test_each_run_has_one_legend_entry_per_figure_and_one_colour_everywhere():
    keys = ["reward", "reward_std", "kl"]
    figures = metric_figures({3: run_metrics(*keys), 4: run_metrics(*keys)}, {3: "base", 4: "lr-up"})
    reward, kl = figure(figures, "reward"), figure(figures, "kl")
    assert legend_names(reward) == ["#3 base", "#4 lr-up"]
    assert legend_names(kl) == ["#3 base", "#4 lr-up"]
    assert len(reward.data) == 4  # two keys times two runs
    for fig in (reward, kl):
        for trace in fig.data:
            run_id = 3 if trace.name == "#3 base" else 4
            assert trace.line.color == run_colour(run_id)
            assert trace.legendgroup == {3: "run-3", 4: "run-4"}[run_id]


def test_time_axis_counts_minutes_from_the_runs_first_logged_point():
    start = 1_700_000_000.0
    metrics = {
        1: {
            "reward": series("reward", [1.0, 2.0, 3.0], wall_times=[start, start + 60, start + 150]),
            "kl": series("kl", [0.1, 0.2], steps=[2, 3], wall_times=[start + 60, start + 150]),
        }
    }
    figures = metric_figures(metrics, {1: "a"}, x_axis="time")
    reward, kl = figure(figures, "reward"), figure(figures, "kl")
    assert list(reward.data[0].x) == pytest.approx([0.0, 1.0, 2.5])
    assert list(kl.data[0].x) == pytest.approx([1.0, 2.5])
    assert reward.layout.xaxis.title.text == "minutes since start"
    by_step = figure(metric_figures(metrics, {1: "a"}), "reward")
    assert list(by_step.data[0].x) == [1, 2, 3]
    assert by_step.layout.xaxis.title.text == "step"


def test_an_unknown_x_axis_is_refused():
    with pytest.raises(ValueError, match="x_axis must be one of"):
        metric_figures({1: run_metrics("reward")}, {1: "a"}, x_axis="epoch")


def test_smoothing_draws_the_raw_values_faintly_behind_the_smoothed_line():
    values = [0.0, 10.0, 0.0, 10.0, 0.0]
    fig = figure(metric_figures({2: run_metrics("reward", values=values)}, {2: "a"}, smoothing=0.8), "reward")
    raw, smoothed = fig.data
    assert list(raw.y) == values and raw.opacity == pytest.approx(0.25) and not raw.showlegend
    assert list(smoothed.y) == pytest.approx(smooth(values, 0.8))
    assert smoothed.showlegend and smoothed.opacity in (None, 1)
    assert raw.line.color == smoothed.line.color == run_colour(2)
    assert raw.legendgroup == smoothed.legendgroup
    unsmoothed = figure(metric_figures({2: run_metrics("reward", values=values)}, {2: "a"}), "reward")
    assert len(unsmoothed.data) == 1 and list(unsmoothed.data[0].y) == values


def test_a_two_step_series_is_drawn_with_both_points_visible():
    fig = figure(metric_figures({1: run_metrics("loss", values=[0.5, 0.4])}, {1: "a"}), "loss")
    (trace,) = fig.data
    assert list(trace.x) == [1, 2] and list(trace.y) == [0.5, 0.4]
    assert "markers" in trace.mode


def test_nan_and_inf_values_become_gaps():
    values = [math.nan, 1.0, math.inf, -math.inf, 2.0]
    figures = metric_figures({1: run_metrics("nover/perplexity/mean", values=values)}, {1: "a"}, smoothing=0.5)
    raw, smoothed = figure(figures, "nover").data
    assert np.isnan(raw.y[[0, 2, 3]]).all() and list(raw.y[[1, 4]]) == [1.0, 2.0]
    assert np.isnan(smoothed.y[[0, 2, 3]]).all() and np.isfinite(smoothed.y[[1, 4]]).all()
    all_nan = metric_figures({1: run_metrics("nover/perplexity/mean", values=[math.nan] * 3)}, {1: "a"})
    assert np.isnan(figure(all_nan, "nover").data[0].y).all()


def test_long_series_are_downsampled_per_trace():
    values = np.sin(np.arange(5_000) / 50).tolist()
    figures = metric_figures({1: run_metrics("reward", values=values)}, {1: "a"}, smoothing=0.5, max_points=300)
    for trace in figure(figures, "reward").data:
        assert len(trace.x) == len(trace.y) <= 300
        assert trace.x[0] == 1 and trace.x[-1] == 5_000


def test_names_and_keys_reach_a_figure_as_text_never_as_plotly_markup():
    link = '<a href="https://evil.example">click</a>'
    big = 'rewards/<span style="font-size:60px">big</span>'
    fig = figure(metric_figures({1: run_metrics(big)}, {1: link}), "rewards")
    # Plotly renders <a>, <span style> and <br> in names and titles; entities it shows as the characters.
    assert legend_names(fig) == ['#1 &lt;a href="https://evil.example"&gt;click&lt;/a&gt;']
    assert subplot_titles(fig) == ['rewards/&lt;span style="font-size:60px"&gt;big&lt;/span&gt;']
    assert all("<" not in text for text in legend_names(fig) + subplot_titles(fig))


def test_the_header_keeps_the_given_order_and_titles_and_fills_rows_evenly():
    keys = ["reward", "rewards/format/mean", "nover/perplexity/mean", "completions/mean_length"]
    titles = {"reward": "reward (total)", "rewards/format/mean": "format-valid rate"}
    fig = header_figure(keys, titles, {1: run_metrics(*keys)}, {1: "a"}, ChartOptions())
    assert subplot_titles(fig) == ["reward (total)", "format-valid rate", "nover/perplexity/mean"] + keys[3:]
    assert [trace.meta["key"] for trace in fig.data] == keys
    assert fig.layout.xaxis.domain == fig.layout.xaxis3.domain  # 2 x 2, not 3 + 1
    five = header_figure(
        [*keys, "eval/accuracy"], {}, {1: run_metrics(*keys, "eval/accuracy")}, {1: "a"}, ChartOptions()
    )
    three_columns = five.layout.xaxis2.domain[1] < five.layout.xaxis3.domain[0]
    assert three_columns and five.layout.xaxis4.domain == five.layout.xaxis.domain  # 3 + 2


def test_metric_figures_draw_only_the_keys_asked_for():
    figures = metric_figures({1: run_metrics("reward", "reward_std", "kl")}, {1: "a"}, keys={"reward_std", "kl"})
    assert [(group, subplot_titles(fig)) for group, fig in figures] == [("reward", ["reward_std"]), ("kl", ["kl"])]


def test_step_axes_show_whole_steps_and_time_axes_do_not():
    short = figure(metric_figures({1: run_metrics("loss", values=[0.5, 0.4])}, {1: "a"}), "loss")
    assert (short.layout.xaxis.tickformat, short.layout.xaxis.dtick) == ("d", 1)  # no tick at step 1.5
    long = figure(metric_figures({1: run_metrics("loss", values=[0.5] * 40 + [0.1])}, {1: "a"}), "loss")
    assert long.layout.xaxis.tickformat == "d" and long.layout.xaxis.dtick is None  # Plotly's own whole ticks
    by_time = figure(metric_figures({1: run_metrics("loss", values=[0.5, 0.4])}, {1: "a"}, x_axis="time"), "loss")
    assert by_time.layout.xaxis.tickformat is None and by_time.layout.xaxis.dtick is None


def test_a_tiny_constant_gets_an_axis_around_its_value_with_exponent_labels():
    figures = metric_figures({1: run_metrics("learning_rate", "loss", values=[1e-5, 1e-5])}, {1: "a"})
    (fig,) = [fig for _, fig in figures if "learning_rate" in subplot_titles(fig)]
    low, high = fig.layout.yaxis.range
    assert 0 < low < 1e-5 < high < 1e-4  # Plotly alone centres a flat line in -1..1, where 1e-5 reads as 0
    assert fig.layout.yaxis.exponentformat == "e"
    zero = figure(metric_figures({1: run_metrics("kl", values=[0.0, 0.0])}, {1: "a"}), "kl")
    assert tuple(zero.layout.yaxis.range) == (-1, 1)
    moving = figure(metric_figures({1: run_metrics("kl", values=[1e-5, 3e-5])}, {1: "a"}), "kl")
    assert moving.layout.yaxis.range is None  # Plotly fits a moving line itself


def test_log_scale_applies_where_every_value_is_positive_and_says_where_it_cannot():
    metrics = {
        1: {"kl": series("kl", [1e-4, 1e-2, 1.0]), "loss": series("loss", [0.5, -0.1, 0.2])},
        2: {"kl": series("kl", [2e-4, 2e-2])},
    }
    kl = figure(metric_figures(metrics, {1: "a", 2: "b"}, log_y=True), "kl")
    loss = figure(metric_figures(metrics, {1: "a", 2: "b"}, log_y=True), "loss")
    assert kl.layout.yaxis.type == "log" and subplot_titles(kl) == ["kl"]
    assert loss.layout.yaxis.type in (None, "linear") and subplot_titles(loss) == ["loss (linear: values ≤ 0)"]
    assert figure(metric_figures(metrics, {1: "a", 2: "b"}), "kl").layout.yaxis.type in (None, "linear")
    flat = figure(metric_figures({1: run_metrics("kl", values=[1e-3, 1e-3])}, {1: "a"}, log_y=True), "kl")
    assert flat.layout.yaxis.type == "log" and list(flat.layout.yaxis.range) == pytest.approx([-3.5, -2.5])
