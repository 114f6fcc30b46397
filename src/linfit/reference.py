"""The exact least-squares line, in closed form and float64: what every fit is held against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linfit.errors import DataError


@dataclass(frozen=True)
class LeastSquares:
    a: float
    b: float


def least_squares(x: np.ndarray, y: np.ndarray) -> LeastSquares:
    """a = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)², b = ȳ − a·x̄, centred first so that x far from 0 loses no digits."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    require_determined(x)
    x_mean = x.mean()
    y_mean = y.mean()
    dx = x - x_mean
    a = float(dx @ (y - y_mean) / (dx @ dx))
    return LeastSquares(a=a, b=float(y_mean - a * x_mean))


def require_determined(x: np.ndarray) -> None:
    """Raise unless x determines a unique line: at least two rows and two distinct x values."""
    if x.shape[0] < 2:
        raise DataError(
            f"only {x.shape[0]} row: a line needs at least two points.",
            "Add rows, or pass --no-standardize to run plain gradient descent on it anyway.",
        )
    if np.all(x == x[0]):
        raise DataError(
            f"x is constant (every value is {x[0]:g}): the slope is undetermined.",
            "Add rows with other x, or pass --no-standardize to run plain gradient descent anyway.",
        )
