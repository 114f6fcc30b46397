"""The exact least-squares line, in closed form and float64: what every fit is held against."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from linfit.errors import DataError

BLOCK_ROWS = 1 << 16  # rows a block (1 MiB of x and y in float64): centred sums, tensors and the pass cache are made a block at a time


@dataclass(frozen=True)
class LeastSquares:
    a: float
    b: float


@dataclass(frozen=True)
class Moments:
    """n, the means, and the centred sums Sxx = Σ(x − x̄)², Sxy = Σ(x − x̄)(y − ȳ), Syy = Σ(y − ȳ)².

    Each mean is carried in two parts, x̄ = x_mean + x_low (x_low is below x_mean's last digit), so that
    x_mean is a float among the data: with x ≈ 1e15, x − x_mean is exact (Sterbenz) and no product or
    sum ever sees the offset. x_mean alone is the mean rounded to float64.
    """

    n: int
    x_mean: float
    y_mean: float
    sxx: float
    sxy: float
    syy: float
    x_low: float = 0.0
    y_low: float = 0.0


def moments(x: np.ndarray, y: np.ndarray) -> Moments:
    """Two passes: a float near the mean as the shift, then sums of the exact differences, block by block.

    The corrected two-pass formulas (Σd² − (Σd)²/n, with d = x − shift) leave no error from the
    shift not being the exact mean; block sums are added with math.fsum.
    """
    n = int(x.shape[0])
    if n == 0:
        return Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    x_shift, y_shift = _near_mean(x), _near_mean(y)
    sums = np.zeros((5, (n + BLOCK_ROWS - 1) // BLOCK_ROWS))
    for block, start in enumerate(range(0, n, BLOCK_ROWS)):
        dx = x[start : start + BLOCK_ROWS] - x_shift
        dy = y[start : start + BLOCK_ROWS] - y_shift
        sums[:, block] = dx.sum(), dy.sum(), np.square(dx).sum(), (dx * dy).sum(), np.square(dy).sum()
    sx, sy, sxx, sxy, syy = (math.fsum(row) for row in sums)
    x_low, y_low = sx / n, sy / n
    sxx, sxy, syy = sxx - sx * x_low, sxy - sx * y_low, syy - sy * y_low
    x_mean, x_low = _two_sum(x_shift, x_low)
    y_mean, y_low = _two_sum(y_shift, y_low)
    m = Moments(n, x_mean, y_mean, max(sxx, 0.0), sxy, max(syy, 0.0), x_low, y_low)
    _require_representable_sums(m, x, y)
    return m


def _near_mean(values: np.ndarray) -> float:
    """A float64 value at most a few ulps from the mean (and so within the data's range)."""
    mean = float(values.mean())
    if math.isfinite(mean):
        return mean
    return float((values / 2).mean()) * 2  # the sum overflowed: halve first (exact)


def _two_sum(a: float, b: float) -> tuple[float, float]:
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


SMALLEST_EXACT_SUM = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)  # below this, squares lose digits


def _require_representable_sums(m: Moments, x: np.ndarray, y: np.ndarray) -> None:
    """Refuse data whose squared deviations underflow or overflow float64, rather than call them constant."""
    for name, values, s in (("x", x, m.sxx), ("y", y, m.syy)):
        if not math.isfinite(s):
            raise DataError(
                f"{name} spreads so widely (from {values.min():.3g} to {values.max():.3g}) that its squares overflow float64.",
                f"Rescale {name} (divide it by a power of ten) and scale the answer back.",
            )
        if s < SMALLEST_EXACT_SUM and values.min() != values.max():
            spread = float(values.max() - values.min())
            raise DataError(
                f"{name} varies only by about {spread:.3g} (values near {float(values[0]):.3g}): its squares underflow float64, "
                "so the line cannot be computed in float64.",
                f"Rescale {name} (multiply it by a power of ten, e.g. 1e{-math.floor(math.log10(spread))}) and scale the answer back.",
            )


def least_squares(x: np.ndarray, y: np.ndarray) -> LeastSquares:
    """a = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)², b = ȳ − a·x̄, centred first so that x far from 0 loses no digits."""
    return least_squares_from(moments(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))


def require_spread(m: Moments) -> None:
    """Raise unless the data determine a unique line: at least two rows and two distinct x values."""
    if m.n < 2:
        raise DataError(
            f"only {m.n} row: a line needs at least two points.",
            "Add rows, or pass --no-standardize to run plain gradient descent on it anyway.",
        )
    if m.sxx == 0:
        raise DataError(
            f"x is constant (every value is {m.x_mean:g}): the slope is undetermined.",
            "Add rows with other x, or pass --no-standardize to run plain gradient descent anyway.",
        )


def merge_moments(parts: list[Moments]) -> Moments:
    """Combine the moments of disjoint parts of the data (Chan et al.): the same as over all rows at once.

    Differences of means are taken part by part (high parts first: exact when they are close),
    so an offset of 1e15 costs no digits here either.
    """
    parts = [p for p in parts if p.n]
    if not parts:
        return Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    total = parts[0]
    for part in parts[1:]:
        n = total.n + part.n
        dx = (part.x_mean - total.x_mean) + (part.x_low - total.x_low)
        dy = (part.y_mean - total.y_mean) + (part.y_low - total.y_low)
        weight = total.n * part.n / n
        x_mean, x_low = _two_sum(total.x_mean, total.x_low + dx * part.n / n)
        y_mean, y_low = _two_sum(total.y_mean, total.y_low + dy * part.n / n)
        total = Moments(
            n=n,
            x_mean=x_mean,
            y_mean=y_mean,
            sxx=total.sxx + part.sxx + dx * dx * weight,
            sxy=total.sxy + part.sxy + dx * dy * weight,
            syy=total.syy + part.syy + dy * dy * weight,
            x_low=x_low,
            y_low=y_low,
        )
    return total


def least_squares_from(m: Moments) -> LeastSquares:
    """The closed form from moments (of arrays, streamed, or merged across processes)."""
    require_spread(m)
    a = m.sxy / m.sxx
    return LeastSquares(a=a, b=intercept(a, m))


def intercept(a: float, m: Moments) -> float:
    """b = ȳ − a·x̄ rounded once, exactly from its parts: with x̄ ≈ 1e15 the product cancels against ȳ."""
    exact = Fraction(m.y_mean) + Fraction(m.y_low) - Fraction(a) * (Fraction(m.x_mean) + Fraction(m.x_low))
    return float(exact)
