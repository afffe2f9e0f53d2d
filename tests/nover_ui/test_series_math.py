import math

import numpy as np
import pytest

from nover_ui.series_math import downsample, smooth


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
