"""The 95% Student-t interval over seeds against the published t table and hand-computed intervals."""

import math

import pytest

from nover_ui.seed_stats import SeedInterval, incomplete_beta, seed_interval, t_cdf, t_quantile

T_TABLE_975 = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 30: 2.042}
"""t(0.975; df) from the standard table (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2)."""


@pytest.mark.parametrize("df, expected", sorted(T_TABLE_975.items()))
def test_t_quantile_matches_the_standard_table(df, expected):
    assert round(t_quantile(0.975, df), 3) == expected


def test_t_quantile_inverts_the_cdf_and_tends_to_the_normal_quantile():
    for df in (1, 3, 7, 50):
        assert t_cdf(t_quantile(0.975, df), df) == pytest.approx(0.975, abs=1e-12)
    assert t_quantile(0.975, 100_000) == pytest.approx(1.959964, abs=1e-4)
    assert t_quantile(0.5, 5) == pytest.approx(0.0, abs=1e-12)


def test_cdf_is_symmetric_and_closed_form_where_one_is_known():
    # df 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2))
    for t in (-3.0, -0.5, 0.7, 4.0):
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-13)
        assert t_cdf(-t, 5) == pytest.approx(1 - t_cdf(t, 5), abs=1e-13)
    assert incomplete_beta(0.25, 2.0, 3.0) == pytest.approx(0.26171875, abs=1e-13)  # a polynomial for whole a, b


def test_interval_of_two_seeds_uses_t_with_one_degree_of_freedom():
    interval = seed_interval([0.5, 0.75])
    s = math.sqrt(((0.5 - 0.625) ** 2 + (0.75 - 0.625) ** 2) / 1)
    assert interval == SeedInterval(0.625, pytest.approx(12.7062047 * s / math.sqrt(2)), 2)


def test_one_seed_has_a_mean_and_no_interval_and_non_finite_values_are_left_out():
    assert seed_interval([0.4, math.nan]) == SeedInterval(0.4, None, 1)
    assert seed_interval([0.4]).text() == "0.4 (n=1, no interval)"
    assert seed_interval([math.inf]) is None
    assert seed_interval([]) is None
    assert seed_interval([2.0, 2.0, 2.0]) == SeedInterval(2.0, 0.0, 3)


def test_bad_arguments_name_what_was_wrong():
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.975, 0)
    with pytest.raises(ValueError, match=r"p must be in \[0.5, 1\)"):
        t_quantile(1.0, 3)
