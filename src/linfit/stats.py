"""How far to trust the fitted line: R², residual spread, standard errors and 95% confidence intervals.

Everything in float64 from centred sums (x far from zero loses no digits). The t quantile is
computed here (Student's t CDF from the regularised incomplete beta function, then Newton's
method), so that no statistics package is needed at run time; the tests hold it against scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np

from linfit.reference import BLOCK_ROWS, Moments, moments


@dataclass(frozen=True)
class FitStats:
    n: int
    r2: float | None  # None when y is constant
    residual_sd: float | None  # None with fewer than 3 points (no degrees of freedom left)
    se_a: float | None
    se_b: float | None
    ci_a: tuple[float, float] | None  # 95%, t distribution with n − 2 degrees of freedom
    ci_b: tuple[float, float] | None
    corr_ab: float  # correlation between the estimates of a and b


def fit_stats(x: np.ndarray, y: np.ndarray, a: float, b: float, level: float = 0.95) -> FitStats:
    """Statistics of the least-squares line y ≈ a·x + b (a and b from the closed form)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = moments(x, y)
    n, x_mean, sxx, syy = m.n, m.x_mean, m.sxx, m.syy
    sse = residual_sum_of_squares(x, y, a, b, m)
    corr_ab = -x_mean / math.sqrt(sxx / n + x_mean * x_mean)  # cov(a, b) / (se_a·se_b), free of σ̂
    r2 = 1.0 - sse / syy if syy > 0 else None
    if n < 3:
        return FitStats(n, r2, None, None, None, None, None, corr_ab)
    dof = n - 2
    variance = sse / dof
    se_a = math.sqrt(variance / sxx)
    se_b = math.sqrt(variance * (1.0 / n + x_mean * x_mean / sxx))
    t = t_quantile(0.5 + level / 2, dof)
    return FitStats(
        n=n,
        r2=r2,
        residual_sd=math.sqrt(variance),
        se_a=se_a,
        se_b=se_b,
        ci_a=(a - t * se_a, a + t * se_a),
        ci_b=(b - t * se_b, b + t * se_b),
        corr_ab=corr_ab,
    )


def residual_sum_of_squares(x: np.ndarray, y: np.ndarray, a: float, b: float, m: Moments) -> float:
    """Σ(y − a·x − b)² from the residuals themselves (not Syy − a·Sxy: no cancellation), each one formed
    as (y − ȳ₀) − a·(x − x̄₀) − c with the exact shifts x̄₀, ȳ₀ of the moments and c = b + a·x̄₀ − ȳ₀ rounded
    once: with x ≈ 1e15 no product sees the offset."""
    offset = float(Fraction(b) + Fraction(a) * Fraction(m.x_mean) - Fraction(m.y_mean))
    through_centroid = float(Fraction(m.y_low) - Fraction(a) * Fraction(m.x_low))
    if abs(offset - through_centroid) <= math.ulp(b):  # b is the least-squares intercept, rounded: use the
        offset = through_centroid  # line itself (at x ≈ 1e15, b's rounding alone would add to every residual)
    block_sums = []
    for start in range(0, m.n, BLOCK_ROWS):
        dx = x[start : start + BLOCK_ROWS] - m.x_mean
        residuals = (y[start : start + BLOCK_ROWS] - m.y_mean) - a * dx - offset
        block_sums.append(float(np.square(residuals).sum()))
    return math.fsum(block_sums)


def t_quantile(p: float, dof: int) -> float:
    """The p-quantile of Student's t with `dof` degrees of freedom (0.5 < p < 1), to full float64 precision."""
    if not 0.5 < p < 1:
        raise ValueError("p must lie in (0.5, 1)")
    z = NormalDist().inv_cdf(p)
    if dof >= 1000:  # the Cornish–Fisher series in 1/dof: its next term is below 1e-14 here
        return _cornish_fisher(z, dof)
    t = z  # a good start: t approaches the normal as dof grows
    if dof < 4:  # heavy tails: start from the exact quantile for 1 and 2 degrees of freedom
        t = math.tan(math.pi * (p - 0.5)) if dof == 1 else (2 * p - 1) / math.sqrt(2 * p * (1 - p)) if dof == 2 else t * 1.5
    for _ in range(50):  # Newton's method converges quadratically: a handful of steps
        step = (t_upper_tail(t, dof) - (1 - p)) / -t_pdf(t, dof)
        t -= step
        if abs(step) <= 4e-16 * abs(t):
            break
    return t


def _cornish_fisher(z: float, dof: int) -> float:
    """t quantile from the normal one (Abramowitz & Stegun 26.7.5), four terms."""
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3 + g4 / dof**4


def t_upper_tail(t: float, dof: int) -> float:
    """P(T > t) for t ≥ 0, computed without forming 1 − (something close to 1)."""
    denominator = dof + t * t
    return 0.5 * regularized_beta(dof / denominator, dof / 2, 0.5, one_minus_x=t * t / denominator)


def t_pdf(t: float, dof: int) -> float:
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    return math.exp(log_norm - (dof + 1) / 2 * math.log1p(t * t / dof))


def regularized_beta(x: float, a: float, b: float, one_minus_x: float | None = None) -> float:
    """I_x(a, b) by its continued fraction (modified Lentz), using the symmetry for fast convergence."""
    y = 1.0 - x if one_minus_x is None else one_minus_x
    if x <= 0:
        return 0.0
    if y <= 0:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - regularized_beta(y, b, a, one_minus_x=x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    return math.exp(log_front) * _beta_fraction(x, a, b) / a


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-16:
            break
    return result


def fit_stats_from_moments(m, a: float, b: float, level: float = 0.95) -> FitStats:
    """The same figures from moments alone (streamed or merged across processes): SSE = Syy − Sxy²/Sxx."""
    sse = max(m.syy - m.sxy * m.sxy / m.sxx, 0.0)
    corr_ab = -m.x_mean / math.sqrt(m.sxx / m.n + m.x_mean * m.x_mean)
    r2 = 1.0 - sse / m.syy if m.syy > 0 else None
    if m.n < 3:
        return FitStats(m.n, r2, None, None, None, None, None, corr_ab)
    variance = sse / (m.n - 2)
    se_a = math.sqrt(variance / m.sxx)
    se_b = math.sqrt(variance * (1.0 / m.n + m.x_mean * m.x_mean / m.sxx))
    t = t_quantile(0.5 + level / 2, m.n - 2)
    return FitStats(m.n, r2, math.sqrt(variance), se_a, se_b, (a - t * se_a, a + t * se_a), (b - t * se_b, b + t * se_b), corr_ab)
