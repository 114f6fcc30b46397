"""Statistics valid for the piecewise losses, named by their method (least squares' R², standard errors
and t intervals assume squared errors and are not shown under these losses):

huber — the sandwich covariance of the M-estimator, statsmodels RLM's default "H1" (Huber 1973):
    cov = k²·[Σψ(rᵢ)²/(n − p)] / [mean ψ'(rᵢ)]² · (XᵀX)⁻¹,  k = 1 + (p/n)·var(ψ')/mean(ψ')²,
  with ψ = clamp(r, −δ, δ), ψ' = 1 inside ±δ, p = 2; normal intervals at --level (as RLM's conf_int).
absolute, quantile — the objective, Koenker and Machado's pseudo-R¹ = 1 − V(τ)/Ṽ(τ) (Ṽ: the objective of
  the best constant, the τ-quantile of y), and with --bootstrap N percentile intervals at --level from N
  seeded resamples of the rows (each resample's exact line: weights drawn as multinomial counts, all at
  once; weighted rows: the rows of positive weight are resampled, each keeping its weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class PiecewiseStats:
    method: str
    n: int
    objective: float
    se_a: float | None = None
    se_b: float | None = None
    ci_a: tuple[float, float] | None = None
    ci_b: tuple[float, float] | None = None
    interval_method: str | None = None
    pseudo_r1: float | None = None  # quantile and absolute: 1 − V(τ)/Ṽ(τ)
    inside: int | None = None  # huber: rows inside ±δ
    bootstrap: int = 0
    level: float | None = None  # the intervals' coverage (--level), where there are intervals


def huber_sandwich(x: np.ndarray, y: np.ndarray, a: float, b: float, delta: float) -> tuple[float, float, float]:
    """(se_a, se_b, cov_ab) of huber's line by statsmodels RLM's H1 sandwich."""
    n, p = x.shape[0], 2
    r = y - (a * x + b)
    psi = np.clip(r, -delta, delta)
    dpsi = (np.abs(r) <= delta).astype(np.float64)
    m = float(np.mean(dpsi))
    if m == 0 or n <= p:
        return math.nan, math.nan, math.nan
    k = 1 + p / n * float(np.var(dpsi)) / m**2
    xm = x - np.mean(x)
    sxx = float(np.sum(xm * xm))
    factor = k**2 * math.fsum(psi * psi) / (n - p) / m**2
    # (XᵀX)⁻¹ for X = [x, 1], from centred sums
    inv_aa = 1 / sxx
    inv_bb = 1 / n + np.mean(x) ** 2 / sxx
    inv_ab = -np.mean(x) / sxx
    return math.sqrt(factor * inv_aa), math.sqrt(factor * inv_bb), factor * inv_ab


def pseudo_r1(loss, x: np.ndarray, y: np.ndarray, objective: float, w: np.ndarray | None = None) -> float | None:
    """Koenker–Machado R¹: 1 − objective / (the objective of the best horizontal line, at y's τ-quantile)."""
    from linfit.reference import loss_objective

    level = _weighted_quantile(y, loss.tau, w)
    base = loss_objective(loss, np.zeros_like(x), y, 0.0, level, w)
    return None if base == 0 else 1 - objective / base


def _weighted_quantile(y: np.ndarray, tau: float, w: np.ndarray | None) -> float:
    """A minimiser of Σ w·ρ_τ(c − y) over c: the smallest y with cumulative weight ≥ τ of the total."""
    order = np.argsort(y, kind="stable")
    weights = np.ones_like(y) if w is None else w
    cumulative = np.cumsum(weights[order])
    return float(y[order][np.searchsorted(cumulative, tau * cumulative[-1], side="left")])


def bootstrap_intervals(
    loss_name: str, x, y, tau: float, resamples: int, seed: int, w=None, level: float = 0.95
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals at `level` of a and b from seeded resamples of the rows: the counts of each resample
    are drawn at once (a multinomial per resample), and each resample's exact line is the LP vertex with
    those counts (times the rows' weights, with `w`: the rows of positive weight are resampled) as weights."""
    from linfit.reference import quantile_line

    if w is not None:
        keep = np.asarray(w) > 0
        x, y, w = x[keep], y[keep], np.asarray(w, dtype=np.float64)[keep]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(x.shape[0], np.full(x.shape[0], 1 / x.shape[0]), size=resamples).astype(np.float64)
    lines = np.array([_line(quantile_line, x, y, tau, c if w is None else c * w, loss_name) for c in counts])
    lines = lines[np.isfinite(lines).all(axis=1)]
    low, high = np.percentile(lines, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def _line(solve, x, y, tau, counts, name):
    try:
        line = solve(x, y, tau, counts, name=name)
        return line.a, line.b
    except Exception:  # a resample whose rows fix no line (every x equal): left out
        return math.nan, math.nan


def piecewise_stats(config, x: np.ndarray, y: np.ndarray, reference, w: np.ndarray | None = None) -> PiecewiseStats:
    """The statistics of the exact line of a piecewise loss (the run's own line is held against it)."""
    from linfit.losses import loss_for

    loss = loss_for(config.loss, delta=config.huber_delta, tau=config.quantile)
    n = int(x.shape[0] if w is None else np.count_nonzero(np.asarray(w) > 0))  # the rows that count, as data.rows
    level = config.level
    if config.loss == "huber":
        if w is not None:
            return PiecewiseStats("objective only (no sandwich covariance with weights)", n, reference.objective, inside=reference.inside)
        se_a, se_b, _ = huber_sandwich(x, y, reference.a, reference.b, loss.delta)
        ok = math.isfinite(se_a)
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return PiecewiseStats(
            "M-estimator sandwich covariance (H1, as statsmodels RLM with HuberT at a fixed scale)",
            n,
            reference.objective,
            se_a if ok else None,
            se_b if ok else None,
            (reference.a - z * se_a, reference.a + z * se_a) if ok else None,
            (reference.b - z * se_b, reference.b + z * se_b) if ok else None,
            f"normal {level * 100:.4g} %" if ok else None,
            inside=reference.inside,
            level=level if ok else None,
        )
    r1 = pseudo_r1(loss, x, y, reference.objective, w)
    if config.bootstrap:
        ci_a, ci_b = bootstrap_intervals(config.loss, x, y, loss.tau, config.bootstrap, config.seed, w, level)
        how = f"bootstrap {level * 100:.4g} % percentile, {config.bootstrap} resamples (seed {config.seed})"
        how += ", rows resampled with their weights" if w is not None else ""
        enough = math.ceil(2 / (1 - level) - 1e-9)  # one resample beyond each end at least
        if config.bootstrap < enough:
            how += f"; too few for {level * 100:.4g} %: the interval is the resamples' range (use --bootstrap {enough} or more)"
        return PiecewiseStats(
            "objective and pseudo-R¹ (Koenker–Machado)",
            n,
            reference.objective,
            ci_a=ci_a,
            ci_b=ci_b,
            interval_method=how,
            pseudo_r1=r1,
            bootstrap=config.bootstrap,
            level=level,
        )
    return PiecewiseStats("objective and pseudo-R¹ (Koenker–Machado)", n, reference.objective, pseudo_r1=r1)


def weighted_fit_stats(x: np.ndarray, y: np.ndarray, w: np.ndarray, a: float, b: float, level: float = 0.95):
    """The statistics of the weighted least-squares line, as statsmodels WLS reports them: σ̂² = Σw·r²/(n − 2)
    over the rows with positive weight, cov = σ̂²·(XᵀWX)⁻¹, R² = 1 − Σw·r² / Σw·(y − ȳ_w)², t intervals."""
    from linfit.stats import FitStats, t_quantile

    x, y, w = (np.asarray(v, dtype=np.float64) for v in (x, y, w))
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    n = int(x.shape[0])
    sw = math.fsum(w)
    x_mean, y_mean = math.fsum(w * x) / sw, math.fsum(w * y) / sw
    sxx = math.fsum(w * (x - x_mean) ** 2)
    syy = math.fsum(w * (y - y_mean) ** 2)
    r = y - (a * x + b)
    sse = math.fsum(w * r * r)
    corr_ab = -x_mean / math.sqrt(sxx / sw + x_mean * x_mean)
    r2 = 1 - sse / syy if syy > 0 else None
    if n < 3:
        return FitStats(n, r2, None, None, None, None, None, corr_ab)
    variance = sse / (n - 2)
    se_a = math.sqrt(variance / sxx)
    se_b = math.sqrt(variance * (1 / sw + x_mean * x_mean / sxx))
    t = t_quantile(0.5 + level / 2, n - 2)
    return FitStats(n, r2, math.sqrt(variance), se_a, se_b, (a - t * se_a, a + t * se_a), (b - t * se_b, b + t * se_b), corr_ab)
