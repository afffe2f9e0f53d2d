import math

import numpy as np
import pytest

from nover_ui.figures import GROUP_ORDER, downsample, metric_figures, metric_group, run_colour, smooth
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


def test_smoothing_with_weight_zero_is_the_identity():
    values = [3.0, -1.0, 7.5, 0.25]
    assert smooth(values, 0.0) == values


def test_smoothing_a_constant_keeps_it_constant_from_the_first_point():
    assert smooth([4.0] * 50, 0.9) == pytest.approx([4.0] * 50)


def test_smoothing_matches_the_debiased_recurrence():
    values = [1.0, 5.0, -2.0, 4.0, 0.0, 10.0] * 400  # long enough to cross several closed-form blocks
    weight = 0.6
    expected, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = weight * last + (1 - weight) * value
        expected.append(last / (1 - weight**count))
    smoothed = smooth(values, weight)
    assert smoothed[0] == pytest.approx(values[0])
    assert smoothed == pytest.approx(expected)


def test_non_finite_values_are_gaps_that_do_not_poison_later_points():
    smoothed = smooth([1.0, math.nan, 3.0, math.inf, 3.0], 0.5)
    assert math.isnan(smoothed[1]) and math.isnan(smoothed[3])
    # The gaps neither advance the average nor its debiasing: the same as smoothing [1, 3, 3].
    assert [smoothed[0], smoothed[2], smoothed[4]] == pytest.approx(smooth([1.0, 3.0, 3.0], 0.5))
    assert smoothed[2] == pytest.approx((0.25 * 1 + 0.5 * 3) / 0.75)


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_a_weight_outside_zero_to_one_is_refused(weight):
    with pytest.raises(ValueError, match="smoothing weight must be in"):
        smooth([1.0, 2.0], weight)


def test_downsampling_keeps_ends_and_extremes_within_max_points():
    rng = np.random.default_rng(0)
    xs = list(range(10_000))
    ys = rng.normal(size=10_000).cumsum().tolist()
    ys[4321] = 1e6  # a spike that plain striding would likely miss
    ys[777] = -1e6
    kept_xs, kept_ys = downsample(xs, ys, 500)
    assert len(kept_xs) == len(kept_ys) <= 500
    assert (kept_xs[0], kept_ys[0]) == (0, ys[0])
    assert (kept_xs[-1], kept_ys[-1]) == (9_999, ys[-1])
    assert 1e6 in kept_ys and -1e6 in kept_ys
    assert kept_xs == sorted(kept_xs)
    assert all(ys[x] == y for x, y in zip(kept_xs, kept_ys))


def test_downsampling_a_short_series_returns_it_unchanged():
    assert downsample((1, 2, 3), (0.5, math.nan, 2.0), 10)[0] == [1, 2, 3]
    kept_xs, kept_ys = downsample([1, 2, 3], [0.5, 1.5, 2.0], 3)
    assert (kept_xs, kept_ys) == ([1, 2, 3], [0.5, 1.5, 2.0])


def test_downsampling_ignores_nan_when_picking_extremes():
    ys = [0.0] + [math.nan, 5.0, -5.0, math.nan] * 250 + [1.0]
    _, kept_ys = downsample(range(len(ys)), ys, 100)
    assert len(kept_ys) <= 100
    assert 5.0 in kept_ys and -5.0 in kept_ys


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


def test_each_key_of_a_group_gets_its_titled_subplot_in_a_two_column_grid():
    keys = ["rewards/format/mean", "rewards/reasoning/mean", "rewards/efficiency/mean"]
    fig = figure(metric_figures({1: run_metrics(*keys)}, {1: "a"}), "rewards")
    assert subplot_titles(fig) == sorted(keys)
    assert {trace.xaxis for trace in fig.data} == {"x", "x2", "x3"}
    left, right, below = fig.layout.xaxis.domain, fig.layout.xaxis2.domain, fig.layout.xaxis3.domain
    assert left[1] < right[0] and below == left
    assert fig.layout.yaxis3.domain[1] < fig.layout.yaxis.domain[0]
    single = figure(metric_figures({1: run_metrics("kl")}, {1: "a"}), "kl")
    assert tuple(single.layout.xaxis.domain) == (0, 1)
    assert single.layout.height < fig.layout.height


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
