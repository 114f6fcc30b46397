"""The piecewise losses with defaults on the data that trip vertex methods: integer rows with ties, one x
repeated, collinear points, flat faces (a non-unique optimum), two and three rows, a point repeated. The
optimizer must stop converged, by its own rule, at the exact objective (the reference is computed apart,
only to compare)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linfit.config import TrainConfig
from linfit.pipeline import Arrays, prepare
from linfit.reference import huber_line, quantile_line

LOSSES = [("absolute", 0.5), ("quantile", 0.1), ("quantile", 0.5), ("quantile", 0.9)]


def _ties():
    x = np.arange(20.0)
    y = 2 * x + 1 + x % 3  # three parallel lines of integer points: a degenerate vertex (six rows on the optimum)
    y[7] = 100.0
    return x, y


CASES = {
    "ties": _ties(),
    "repeated x": (np.repeat(np.arange(6.0), 4), np.array([1, 2, 2, 3, 3, 3, 4, 5, 5, 5, 5, 9, 6, 7, 7, 8, 9, 9, 9, 10, 10, 11, 12, 40.0])),
    "collinear": (np.arange(10.0), 3 * np.arange(10.0) - 2),
    "flat face": (np.array([3, 1, -2, 1, 3, 3, 3.0]), np.array([-3, 2, 0, -1, 0, 2, 3.0])),
    "one x shared by the rows near the line": (
        np.array([1, -2, 1, -2, 0, 0, 2, -3, -3, -3, -3, 1, 1, 3, -1, -1.0]),
        np.array([100, 2, 0, -2, -2, 0, -2, 3, 0, -3, -3, -1, 0, 3, 1, -2.0]),
    ),
    "duplicated points": (np.array([0, 0, 1, 2, 2, 3, 4, 4.0]), np.array([1, 1, 3, 2, 2, 5, 6, 6.0])),
    "two rows": (np.array([1, 4.0]), np.array([2, -3.0])),
    "three rows": (np.array([0, 1, 5.0]), np.array([1, 3, 2.0])),
}


def _train(x, y, **settings_):
    training = prepare(Arrays(x, y), TrainConfig(**settings_)).training
    list(training)
    return training.result


def _close(value: float, exact: float, rel: float) -> bool:
    return abs(value - exact) <= rel * abs(exact) + 1e-12 * (1 + abs(exact))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("loss, tau", LOSSES)
def test_defaults_converge_on_degenerate_data(name, loss, tau):
    x, y = CASES[name]
    exact = quantile_line(x, y, tau, name=loss)
    for chunk in (None, 3):  # in memory, and streamed in chunks that split ties across chunks
        result = _train(x, y, loss=loss, quantile=tau, **({"chunk_rows": chunk} if chunk else {}))
        assert result.converged and result.stop_reason == "converged", (name, result.stop_reason, result.steps)
        assert result.steps <= 60
        assert _close(result.loss, exact.objective, 1e-12), (result.loss, exact.objective)


@pytest.mark.parametrize("delta", [1e-6, 0.5, 1e6])
@pytest.mark.parametrize("name", ["ties", "repeated x", "duplicated points", "three rows", "flat face", "two rows"])
def test_huber_converges_on_degenerate_data_for_tiny_and_huge_delta(name, delta):
    x, y = CASES[name]
    exact = huber_line(x, y, delta)
    result = _train(x, y, loss="huber", huber_delta=delta)
    assert result.converged and result.stop_reason == "converged", (result.stop_reason, result.steps)
    assert _close(result.loss, exact.objective, 1e-9), (result.loss, exact.objective)
    # an independent oracle: Nelder–Mead from the reference's line and from the trainer's finds nothing lower
    from scipy.optimize import minimize

    def objective(theta):
        r = np.abs(theta[0] * x + theta[1] - y)
        return float(np.mean(np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))))

    for start in ((exact.a, exact.b), (result.a, result.b)):
        found = minimize(objective, start, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-22, "maxiter": 2000}).fun
        assert exact.objective <= found * (1 + 1e-12) + 1e-300, (exact.objective, found)


def test_huber_reference_says_when_the_minimiser_is_not_unique():
    """repeated x at δ = 1e-6: the rows inside ±δ share one x, and turning the line about it keeps the objective
    (δ·Σ sign(r)·(x − x₀) balances): the reference says so, and a turned line has the same objective."""
    x, y = CASES["repeated x"]
    exact = huber_line(x, y, 1e-6)
    assert not exact.unique
    inside = np.abs(exact.a * x + exact.b - y) <= 1e-6
    x0 = np.unique(x[inside])
    assert x0.shape[0] == 1
    for turn in (-1e-3, 1e-3):
        a, b = exact.a + turn, exact.b - turn * x0[0]
        r = np.abs(a * x + b - y)
        value = float(np.mean(np.where(r <= 1e-6, 0.5 * r * r, 1e-6 * (r - 0.5e-6))))
        assert value == pytest.approx(exact.objective, rel=1e-12)
    assert huber_line(x, y, 1e6).unique  # least squares: one line


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(st.tuples(st.integers(-3, 3), st.integers(-4, 4)), min_size=2, max_size=14),
    outlier=st.booleans(),
    case=st.sampled_from(LOSSES),
)
def test_small_integer_data_reach_the_lp_objective(points, outlier, case):
    """Tiny integer data (ties, repeats, flat faces galore): the objective equals the exact LP's."""
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    if np.unique(x).shape[0] < 2:
        x[0] = x[1] + 1
    if outlier:
        y[-1] = 100.0
    loss, tau = case
    exact = quantile_line(x, y, tau, name=loss)
    result = _train(x, y, loss=loss, quantile=tau)
    assert result.converged and result.stop_reason == "converged"
    assert _close(result.loss, exact.objective, 1e-12), (result.loss, exact.objective)
