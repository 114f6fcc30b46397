"""How far to trust the fitted line: R², residual spread, standard errors, t, p, intervals at any level, HC3,
AIC and BIC — as statsmodels' OLS defines each — and the residual diagnostics (see linfit.residuals).

Everything in float64 from centred sums (x far from zero loses no digits). The t quantile is
computed here (Student's t CDF from the regularised incomplete beta function, then Newton's
method), so that no statistics package is needed at run time; the tests hold it against scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from linfit.reference import BLOCK_ROWS, Moments, moments
from linfit.residuals import residual_offset

SQUARED_LOSSES = frozenset({"half_mse", "mse", "half_sse"})  # the losses whose minimum is the least-squares line
SE_TYPES = ("nonrobust", "hc3")  # as statsmodels' cov_type: the classical standard errors, or White's HC3


def valid_for(loss: str) -> bool:
    """Whether these statistics (standard errors, intervals, t, p, AIC, diagnostics) hold for a fit with this loss:
    they are the least-squares line's, and only a squared loss has that line as its minimum."""
    return loss in SQUARED_LOSSES


@dataclass(frozen=True)
class Basis:
    """What a prediction interval needs, kept in the model file: n, x̄ and ȳ (each in two parts), Sxx,
    σ̂² = SSE/(n − 2) and the least-squares slope — the line ȳ + slope·(x − x̄) in centred form, which keeps
    every digit at x ≈ 1e9 where a·x + b would cancel."""

    n: int
    x_mean: float
    x_low: float
    sxx: float
    residual_variance: float
    y_mean: float
    y_low: float
    slope: float


@dataclass(frozen=True)
class FitStats:
    n: int
    r2: float | None  # None when y is constant
    residual_sd: float | None  # None with fewer than 3 points (no degrees of freedom left)
    se_a: float | None  # of the kind se_type names
    se_b: float | None
    ci_a: tuple[float, float] | None  # at `level`: Student's t with n − 2 degrees of freedom (nonrobust), the normal (hc3)
    ci_b: tuple[float, float] | None
    corr_ab: float  # correlation between the estimates of a and b (classical)
    level: float = 0.95
    se_type: str = "nonrobust"
    t_a: float | None = None  # a / se_a (a z statistic under hc3, as statsmodels)
    t_b: float | None = None
    p_a: float | None = None  # two-sided p-value of a = 0
    p_b: float | None = None
    adj_r2: float | None = None
    log_likelihood: float | None = None  # Gaussian, at σ̂² = SSE/n (statsmodels' llf)
    aic: float | None = None
    bic: float | None = None
    se_hc3_a: float | None = None  # HC3 standard errors, when the rows were seen (not from moments alone)
    se_hc3_b: float | None = None
    durbin_watson: float | None = None
    influential: list[dict] | None = None  # [{line, leverage, cooks_distance}], largest Cook's distance first
    influence_threshold: float | None = None  # 4/n: a Cook's distance above it is worth a look
    basis: Basis | None = None  # for prediction intervals


def fit_stats(
    x: np.ndarray,
    y: np.ndarray,
    a: float,
    b: float,
    level: float = 0.95,
    se: str = "nonrobust",
    first_line: int | None = 2,
    top: int = 5,
) -> FitStats:
    """Statistics of the least-squares line y ≈ a·x + b (a and b from the closed form), with the residual
    diagnostics of one pass over the rows (row i is named as line first_line + i)."""
    from linfit.residuals import ResidualPass

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = moments(x, y)
    residuals = ResidualPass(a, b, m, top=top)
    residuals.add(x, y)
    return stats_from_pass(m, a, b, residuals.finish(first_line), level, se)


def stats_from_pass(m: Moments, a: float, b: float, seen, level: float = 0.95, se: str = "nonrobust") -> FitStats:
    """FitStats from the moments and a finished ResidualPass (in memory, or one more streamed pass)."""
    return _assemble(m, a, b, seen.sse, level, se, seen)


def fit_stats_from_moments(m, a: float, b: float, level: float = 0.95, se: str = "nonrobust") -> FitStats:
    """The same figures from moments alone (streamed or merged across processes): SSE = Syy − Sxy²/Sxx;
    no diagnostics or HC3 (they need the rows)."""
    return _assemble(m, a, b, max(m.syy - m.sxy * m.sxy / m.sxx, 0.0), level, se, None)


def _assemble(m: Moments, a: float, b: float, sse: float, level: float, se: str, seen) -> FitStats:
    _require_level(level)
    n, x_mean, sxx, syy = m.n, m.x_mean, m.sxx, m.syy
    corr_ab = -x_mean / math.sqrt(sxx / n + x_mean * x_mean)  # cov(a, b) / (se_a·se_b), free of σ̂
    r2 = 1.0 - sse / syy if syy > 0 else None
    if n < 3:
        return FitStats(n, r2, None, None, None, None, None, corr_ab, level=level, se_type=se)
    dof = n - 2
    variance = sse / dof
    adj_r2 = 1.0 - (n - 1) / dof * sse / syy if syy > 0 else None
    llf = -n / 2 * (math.log(2 * math.pi) + math.log(sse / n) + 1) if sse > 0 else None
    hc3 = (seen.se_hc3_a, seen.se_hc3_b) if seen is not None else (None, None)
    basis = Basis(n, x_mean, m.x_low, sxx, variance, m.y_mean, m.y_low, m.sxy / sxx)
    base = FitStats(
        n=n,
        r2=r2,
        residual_sd=math.sqrt(variance),
        se_a=math.sqrt(variance / sxx),
        se_b=math.sqrt(variance * (1.0 / n + x_mean * x_mean / sxx)),
        ci_a=None,
        ci_b=None,
        corr_ab=corr_ab,
        adj_r2=adj_r2,
        log_likelihood=llf,
        aic=None if llf is None else -2 * llf + 2 * 2,
        bic=None if llf is None else -2 * llf + math.log(n) * 2,
        se_hc3_a=hc3[0],
        se_hc3_b=hc3[1],
        durbin_watson=None if seen is None else seen.durbin_watson,
        influential=None if seen is None else seen.influential(variance),
        influence_threshold=4 / n,
        basis=basis,
    )
    return restate(base, a, b, level, se)


def restate(stats: FitStats, a: float, b: float, level: float = 0.95, se: str = "nonrobust") -> FitStats:
    """The same fit's standard errors, t, p and intervals at another `level`, or with HC3 standard errors."""
    from dataclasses import replace

    _require_level(level)
    if se not in SE_TYPES:
        raise ValueError(f"se must be one of {SE_TYPES}")
    if stats.basis is None:
        return replace(stats, level=level, se_type=se)
    basis = stats.basis
    if se == "hc3":
        if stats.se_hc3_a is None and stats.influential is not None:  # the rows were seen: a row has leverage 1
            from linfit.errors import DataError

            raise DataError(
                "--se hc3 is undefined for these data: a row has leverage 1 (its x alone differs from the others'), "
                "so HC3's e²/(1 − h)² divides by zero.",
                "Use --se nonrobust, or add rows at other x.",
            )
        if stats.se_hc3_a is None:
            from linfit.errors import UsageError

            raise UsageError(
                "--se hc3 needs every row's residual: this run could not read its rows again (stdin, or one process's share).",
                "Save the data to a file, or use --se nonrobust.",
            )
        se_a, se_b = stats.se_hc3_a, stats.se_hc3_b
        quantile, tail = level_quantile(level, None), _normal_two_sided  # statsmodels: z, not t, for HC3
    else:
        se_a = math.sqrt(basis.residual_variance / basis.sxx)
        se_b = math.sqrt(basis.residual_variance * (1.0 / basis.n + basis.x_mean * basis.x_mean / basis.sxx))
        dof = basis.n - 2
        quantile, tail = level_quantile(level, dof), (lambda t: t_two_sided(t, dof))
    t_a = a / se_a if se_a > 0 else None
    t_b = b / se_b if se_b > 0 else None
    return replace(
        stats,
        level=level,
        se_type=se,
        se_a=se_a,
        se_b=se_b,
        ci_a=(a - quantile * se_a, a + quantile * se_a),
        ci_b=(b - quantile * se_b, b + quantile * se_b),
        t_a=t_a,
        t_b=t_b,
        p_a=None if t_a is None else tail(t_a),
        p_b=None if t_b is None else tail(t_b),
    )


def for_run(
    stats: FitStats | None,
    loss: str,
    a: float,
    b: float,
    level: float,
    se: str,
    first_line: int | None,
    m: Moments | None = None,
    blocks=None,
) -> tuple[FitStats | None, str | None]:
    """A training run's statistics as asked (level, se), with the rows named by their line, and the diagnostics
    of one more pass over `blocks` (a callable giving (x, y) blocks in row order) where the run kept no rows;
    None and a note under a loss they do not hold for."""
    if not valid_for(loss):
        return None, (
            f"note: standard errors, intervals, t, p, AIC, BIC and the residual diagnostics are the least-squares line's; "
            f"they are not given for the loss '{loss}'."
        )
    if stats is None or stats.basis is None:
        return stats, None
    if stats.durbin_watson is None and blocks is not None and m is not None:
        from linfit.residuals import ResidualPass

        seen = ResidualPass(a, b, m)
        for x, y in blocks():
            seen.add(x, y)
        finished = seen.finish(first_line)
        from dataclasses import replace

        stats = replace(
            stats,
            durbin_watson=finished.durbin_watson,
            influential=finished.influential(stats.basis.residual_variance),
            se_hc3_a=finished.se_hc3_a,
            se_hc3_b=finished.se_hc3_b,
        )
    elif stats.influential and first_line != 2:
        from dataclasses import replace

        named = [{**row, "line": None if first_line is None else first_line + row["row"] - 1} for row in stats.influential]
        stats = replace(stats, influential=named)
    return restate(stats, a, b, level, se), None


def _require_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")


def t_two_sided(t: float, dof: int) -> float:
    """P(|T| > |t|) for Student's t with dof degrees of freedom."""
    return 2 * t_upper_tail(abs(t), dof)


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def residual_sum_of_squares(x: np.ndarray, y: np.ndarray, a: float, b: float, m: Moments) -> float:
    """Σ(y − a·x − b)² from the residuals themselves (not Syy − a·Sxy: no cancellation), each one formed
    as (y − ȳ₀) − a·(x − x̄₀) − c with the exact shifts x̄₀, ȳ₀ of the moments and c = b + a·x̄₀ − ȳ₀ rounded
    once: with x ≈ 1e15 no product sees the offset."""
    offset = residual_offset(a, b, m)
    block_sums = []
    for start in range(0, m.n, BLOCK_ROWS):
        dx = x[start : start + BLOCK_ROWS] - m.x_mean
        residuals = (y[start : start + BLOCK_ROWS] - m.y_mean) - a * dx - offset
        block_sums.append(float(np.square(residuals).sum()))
    return math.fsum(block_sums)


def level_quantile(level: float, dof: int | None) -> float:
    """q with P(|T| < q) = level for Student's t with `dof` degrees of freedom (the normal where dof is None),
    for every level in (0, 1): near 0, where 0.5 + level/2 rounds to 0.5, by the series q = u + c·u³ in
    u = (level/2)/density(0); near 1, where it rounds to 1, from the upper tail (1 − level)/2 itself."""
    _require_level(level)
    half = level / 2
    density0 = 1 / math.sqrt(2 * math.pi) if dof is None else t_pdf(0.0, dof)
    u = half / density0
    if u < 1e-4:  # the next term is u⁵: below 1e-16 of q
        return u + (1 / 6 if dof is None else (dof + 1) / (6 * dof)) * u**3
    if 0.5 + half < 1:
        return NormalDist().inv_cdf(0.5 + half) if dof is None else t_quantile(0.5 + half, dof)
    tail = (1 - level) / 2  # exact: 1 − level has no rounding for level ≥ 0.5
    z = -NormalDist().inv_cdf(tail)
    if dof is None:
        return z
    low, high = z, 2 * z  # t's quantile lies beyond the normal's: bisect on a log scale (heavy tails)
    while t_upper_tail(high, dof) > tail:
        low, high = high, high * 2
    for _ in range(200):
        middle = math.sqrt(low * high)
        if middle <= low or middle >= high:
            break
        low, high = (middle, high) if t_upper_tail(middle, dof) > tail else (low, middle)
    return math.sqrt(low * high)


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
    """P(T > t) for t ≥ 0, computed without forming 1 − (something close to 1).

    With many degrees of freedom the beta function's front factor x^(dof/2) and Γ(a + ½)/Γ(a) are taken in
    forms that keep their digits (log1p; an asymptotic series), or a million rows would cost 1e-9 of p.
    """
    denominator = dof + t * t
    x, y, a = dof / denominator, t * t / denominator, dof / 2
    if dof < 2000 or y <= 0:
        return 0.5 * regularized_beta(x, a, 0.5, one_minus_x=y)
    front = math.exp(_log_gamma_ratio_half(a) - math.lgamma(0.5) - a * math.log1p(t * t / dof) + 0.5 * math.log(y))  # x^a·y^½/B(a, ½)
    if x > (a + 1) / (a + 2.5):  # the continued fraction converges fast on the other side: I_x(a, ½) = 1 − I_y(½, a)
        return 0.5 * (1.0 - front * _beta_fraction(y, 0.5, a) / 0.5)
    return 0.5 * front * _beta_fraction(x, a, 0.5) / a


def _log_gamma_ratio_half(a: float) -> float:
    """ln Γ(a + ½) − ln Γ(a) for a ≥ 1000, by its asymptotic series (the next term is below 1e-17)."""
    return 0.5 * math.log(a) - 1 / (8 * a) + 1 / (192 * a**3) + 1 / (640 * a**5)


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
