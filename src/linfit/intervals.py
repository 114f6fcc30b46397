"""Intervals for predictions from what a model file keeps (stats.basis): n, x̄ and ȳ (two parts each), Sxx,
σ̂² = SSE/(n − 2) and the least-squares slope â:

    confidence (the mean of y at x₀):   ŷ ± t·σ̂·√(1/n + (x₀ − x̄)²/Sxx)
    prediction (one new observation):   ŷ ± t·σ̂·√(1 + 1/n + (x₀ − x̄)²/Sxx)

around the least-squares line ŷ = ȳ + â·(x₀ − x̄), the estimator these intervals are derived for (a model
trained to convergence predicts the same to its error bound, far inside the interval)
with t Student's quantile at (1 + level)/2 and n − 2 degrees of freedom: statsmodels'
get_prediction().summary_frame() (mean_ci_*, obs_ci_*). x₀ − x̄ is taken from x̄'s two parts, so an offset
of 1e9 (or x₀ far outside the data) costs no digits. Imports numpy only (predict starts fast).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from linfit.errors import DataError, UsageError
from linfit.stats import SQUARED_LOSSES, Basis, level_quantile

KINDS = ("confidence", "prediction")
BASIS_KEYS = ("n", "x_mean", "x_low", "sxx", "residual_variance", "y_mean", "y_low", "slope")


def interval_bounds(x: np.ndarray, basis: Basis, kind: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) at each x; NaN where x is NaN."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    t = level_quantile(level, basis.n - 2)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float64 the bounds are ±inf (or NaN), as the prediction is
        d = (np.asarray(x, dtype=np.float64) - basis.x_mean) - basis.x_low
        # √(c + d²/Sxx) as hypot(√c, |d|/√Sxx): d is scaled before it is squared (no overflow at x ≈ 1e160)
        spread = np.hypot(math.sqrt(1.0 / basis.n + (1.0 if kind == "prediction" else 0.0)), np.abs(d) / math.sqrt(basis.sxx))
        half = (t * math.sqrt(basis.residual_variance)) * spread
        centre = (basis.y_mean + basis.slope * d) + basis.y_low
        return centre - half, centre + half


def matches_least_squares(basis: Basis, a: float, b: float, error_bound: Any = None) -> bool:
    """Whether the line a·x + b is the basis's least-squares line to the model's error bound (or to 1e-9 of
    the numbers compared, where the bound is smaller or not recorded)."""
    bound = error_bound if isinstance(error_bound, dict) else {}

    def close(got: float, want: float, key: str, scale: float) -> bool:
        allowed = bound.get(key)
        allowed = allowed if isinstance(allowed, (int, float)) and not isinstance(allowed, bool) and math.isfinite(allowed) else 0.0
        return abs(got - want) <= max(allowed, 1e-9 * scale)

    x_bar, y_bar = basis.x_mean + basis.x_low, basis.y_mean + basis.y_low
    b_ls = y_bar - basis.slope * x_bar
    scale_b = max(abs(b), abs(b_ls), abs(y_bar), abs(basis.slope * x_bar))
    return close(a, basis.slope, "a", max(abs(a), abs(basis.slope))) and close(b, b_ls, "b", scale_b)


def basis_from_record(record: dict[str, Any], name: str) -> Basis:
    """The interval basis a model file keeps (under stats.basis), or a DataError that says what is missing and what to do."""
    loss = record.get("loss_name")
    if loss not in SQUARED_LOSSES:
        raise UsageError(
            f"{name}: the model was fitted with the loss '{loss}': intervals are derived only for the squared losses "
            f"({', '.join(sorted(SQUARED_LOSSES))}).",
            "Predict without --interval, or train with --loss half_mse.",
        )
    stats = record.get("stats")
    basis = stats.get("basis") if isinstance(stats, dict) else None
    if not isinstance(basis, dict):
        why = "it keeps no statistics of its data (written by an older linfit, or a fit with fewer than 3 rows or no unique line)"
        raise DataError(
            f"{name}: cannot give intervals: {why}; they need n, x̄, Sxx and the residual variance (key stats.basis).",
            "Train the model again with this linfit: linfit train DATA -o MODEL.json",
        )
    values = {}
    for key in BASIS_KEYS:
        value = basis.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (key in ("n", "sxx") and value <= 0) or (key == "residual_variance" and value < 0):
            raise DataError(
                f"{name}: key 'stats.basis.{key}' must be a {'positive' if key in ('n', 'sxx') else 'finite'} number, got {value!r}.",
                "Train the model again: linfit train DATA -o MODEL.json",
            )
        values[key] = value
    if not isinstance(values["n"], int) or values["n"] < 3:
        raise DataError(f"{name}: key 'stats.basis.n' must be an integer of at least 3, got {values['n']!r}.", "Train the model again.")
    rows = record.get("data", {}).get("rows") if isinstance(record.get("data"), dict) else None
    if values["n"] > 2**53 or (isinstance(rows, int) and not isinstance(rows, bool) and rows != values["n"]):
        raise DataError(
            f"{name}: key 'stats.basis.n' ({values['n']}) does not match the rows the model was trained on (data.rows: {rows!r}).",
            "Train the model again: linfit train DATA -o MODEL.json",
        )
    return Basis(**values)
