"""The exact least-squares line, in closed form and float64: what every fit is held against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linfit.errors import DataError

BLOCK_ROWS = 1 << 20  # centred sums are taken a block at a time: no temporary the size of the data


@dataclass(frozen=True)
class LeastSquares:
    a: float
    b: float


@dataclass(frozen=True)
class Moments:
    """n, the means, and the centred sums Sxx = Σ(x − x̄)², Sxy = Σ(x − x̄)(y − ȳ), Syy = Σ(y − ȳ)²."""

    n: int
    x_mean: float
    y_mean: float
    sxx: float
    sxy: float
    syy: float


def moments(x: np.ndarray, y: np.ndarray) -> Moments:
    """Two passes: the means, then the centred sums, block by block, in float64."""
    x_mean, y_mean = float(x.mean()), float(y.mean())
    sxx = sxy = syy = 0.0
    for start in range(0, x.shape[0], BLOCK_ROWS):
        dx = x[start : start + BLOCK_ROWS] - x_mean
        dy = y[start : start + BLOCK_ROWS] - y_mean
        sxx += float(dx @ dx)
        sxy += float(dx @ dy)
        syy += float(dy @ dy)
    return Moments(int(x.shape[0]), x_mean, y_mean, sxx, sxy, syy)


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
    """Combine the moments of disjoint parts of the data (Chan et al.): the same as over all rows at once."""
    parts = [p for p in parts if p.n]
    if not parts:
        return Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    total = parts[0]
    for part in parts[1:]:
        n = total.n + part.n
        dx = part.x_mean - total.x_mean
        dy = part.y_mean - total.y_mean
        weight = total.n * part.n / n
        total = Moments(
            n=n,
            x_mean=total.x_mean + dx * part.n / n,
            y_mean=total.y_mean + dy * part.n / n,
            sxx=total.sxx + part.sxx + dx * dx * weight,
            sxy=total.sxy + part.sxy + dx * dy * weight,
            syy=total.syy + part.syy + dy * dy * weight,
        )
    return total


def least_squares_from(m: Moments) -> LeastSquares:
    """The closed form from moments (of arrays, streamed, or merged across processes)."""
    require_spread(m)
    a = m.sxy / m.sxx
    return LeastSquares(a=a, b=m.y_mean - a * m.x_mean)
