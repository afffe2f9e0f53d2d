"""A mean over seeds with its 95% Student-t confidence interval, in the standard library alone (the UI process has
no scipy).

The interval of the mean of n values x_1..x_n is mean +- t_{0.975, n-1} * s / sqrt(n), s the sample standard
deviation (n - 1 in its denominator): Student's t interval for a mean of normally distributed values of unknown
variance (e.g. NIST/SEMATECH e-Handbook of Statistical Methods, section 7.2.2.1). With a handful of seeds t is far
above 1.96 (12.706 for two seeds), which is the honest width of what two seeds say.

The t quantile is found by inverting the t distribution's CDF, written through the regularised incomplete beta
function: for t >= 0, P(T <= t) = 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t^2) (Abramowitz & Stegun 26.7.1
with 26.5.27). I_x(a, b) is evaluated by its continued fraction (A&S 26.5.8) with the modified Lentz method,
using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly (Numerical Recipes, 3rd ed.,
section 6.4). The CDF rises monotonically in t, so bisection inverts it to full double precision.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
_FRACTION_TERMS = 300
_FRACTION_EPS = 1e-15
_TINY = 1e-300  # stands in for a zero denominator in Lentz's method
_BISECTIONS = 200


@dataclass(frozen=True)
class SeedInterval:
    """The mean of one quantity over a variant's seeds, with its 95% interval's half-width (None for one seed:
    one value has no spread, so no interval)."""

    mean: float
    half_width: float | None
    n: int

    def text(self, digits: int = 3) -> str:
        """'0.625 ± 0.318 (n=2)', or '0.5 (n=1, no interval)'.

        >>> SeedInterval(0.625, 0.3177, 2).text(), SeedInterval(0.5, None, 1).text()
        ('0.625 ± 0.318 (n=2)', '0.5 (n=1, no interval)')
        """
        mean = f"{self.mean:.{digits}g}"
        if self.half_width is None:
            return f"{mean} (n={self.n}, no interval)"
        return f"{mean} ± {self.half_width:.{digits}g} (n={self.n})"


def seed_interval(values: Sequence[float]) -> SeedInterval | None:
    """The mean of the finite `values` and its 95% Student-t half-width; None when no value is finite.

    >>> interval = seed_interval([1.0, 2.0, 3.0])  # s = 1, t(0.975; 2) = 4.303, so 4.303 / sqrt(3)
    >>> interval.mean, round(interval.half_width, 4), interval.n
    (2.0, 2.4841, 3)
    """
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return None
    n = len(finite)
    mean = statistics.fmean(finite)
    if n == 1:
        return SeedInterval(mean, None, 1)
    return SeedInterval(mean, t_quantile(1 - (1 - CONFIDENCE) / 2, n - 1) * statistics.stdev(finite) / math.sqrt(n), n)


@functools.cache
def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t distribution with df degrees of freedom, for 0.5 <= p < 1.

    >>> round(t_quantile(0.975, 1), 3), round(t_quantile(0.975, 30), 3)
    (12.706, 2.042)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if not 0.5 <= p < 1:
        raise ValueError(f"p must be in [0.5, 1), got {p}")
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if middle in (low, high):  # adjacent doubles: as precise as a float gets
            break
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with df degrees of freedom (A&S 26.7.1 through the incomplete beta function).

    >>> t_cdf(0.0, 5), round(t_cdf(1.0, 1), 6)  # df 1 is the Cauchy distribution: 1/2 + atan(1)/pi
    (0.5, 0.75)
    """
    tail = incomplete_beta(df / (df + t * t), df / 2, 0.5) / 2
    return 1 - tail if t >= 0 else tail


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for 0 <= x <= 1 and a, b > 0.

    >>> round(incomplete_beta(0.5, 2.0, 2.0), 12), round(incomplete_beta(0.3, 1.0, 1.0), 12)
    (0.5, 0.3)
    """
    if not 0 <= x <= 1:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    # x^a (1-x)^b / (a B(a, b)), through log-gamma so large a and b do not overflow.
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The fraction converges fast for x < (a + 1) / (a + b + 2); beyond, the symmetric form does.
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1 - math.exp(log_front) * _beta_fraction(1 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """A&S 26.5.8's continued fraction 1 / (1 + d_1 / (1 + d_2 / (1 + ...))), by the modified Lentz method."""
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > _TINY else _TINY)
    fraction = d
    for m in range(1, _FRACTION_TERMS + 1):
        # Two terms per m: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)), d_{2m+1} = -(a + m)(a + b + m) x / ...
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > _TINY else _TINY)
            c = 1 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            fraction *= c * d
        if abs(c * d - 1) < _FRACTION_EPS:
            break
    return fraction
