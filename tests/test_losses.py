"""The huber, absolute and quantile losses, weighted rows, and their exact references, against oracles:
statsmodels (RLM with HuberT at a fixed scale, QuantReg, WLS), scikit-learn's QuantileRegressor (HiGHS),
torch.nn.HuberLoss, and exact Fraction arithmetic over every two-point line of small data."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch

from linfit.losses import HUBER_TUNING, huber_delta_of, loss_for
from linfit.reference import default_huber_delta, huber_line, least_squares, quantile_line, weighted_least_squares


def _data(n=120, outliers=6, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 1.5, n)
    y = 0.7 * x - 1.0 + rng.normal(0, 0.5, n)
    y[:outliers] += rng.choice([-1, 1], outliers) * rng.uniform(20, 40, outliers)
    return x, y


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_huber_is_torch_huber_loss_and_the_numpy_form_agrees(delta):
    r = torch.linspace(-4, 4, 41, dtype=torch.float64)
    loss = loss_for("huber", delta=delta)
    expected = torch.nn.HuberLoss(delta=delta)(r, torch.zeros_like(r))
    assert float(loss.of_residual(r)) == pytest.approx(float(expected), rel=1e-15)
    assert loss.of_residual(r.numpy()) == pytest.approx(float(expected), rel=1e-15)


def test_pinball_puts_the_fraction_tau_on_or_below_and_half_of_absolute_at_one_half():
    r = np.array([-3.0, -1.0, 0.0, 2.0, 5.0])
    assert loss_for("quantile", tau=0.5).of_residual(r) == pytest.approx(0.5 * loss_for("absolute").of_residual(r))
    # τ = 0.9: a point above the line (r < 0, y > ŷ) costs 0.9·|r|, one below (r > 0) 0.1·r
    q = loss_for("quantile", tau=0.9)
    assert q.numpy_pieces(np.array([-1.0, 1.0])) == pytest.approx([0.9, 0.1])


def test_weights_make_a_weighted_mean_equal_to_repeated_rows():
    r = np.array([-2.0, 0.5, 3.0])
    w = np.array([2.0, 0.0, 1.0])
    for name in ("huber", "absolute", "quantile"):
        loss = loss_for(name, delta=1.0, tau=0.3)
        repeated = loss.of_residual(np.array([-2.0, -2.0, 3.0]))
        assert loss.of_residual(r, w=w) == pytest.approx(repeated)
        assert float(loss.of_residual(torch.tensor(r), w=torch.tensor(w))) == pytest.approx(repeated)


def test_delta_from_least_squares_residuals_is_statsmodels_huber_t_scale():
    sm = pytest.importorskip("statsmodels.api")
    x, y = _data()
    ols = least_squares(x, y)
    delta = huber_delta_of(y - ols.a * x - ols.b)
    fit = sm.RLM(y, sm.add_constant(x), M=sm.robust.norms.HuberT(t=HUBER_TUNING)).fit(update_scale=False)
    assert delta == pytest.approx(HUBER_TUNING * fit.scale, rel=1e-12)


def test_huber_line_is_statsmodels_rlm_with_the_same_fixed_scale():
    sm = pytest.importorskip("statsmodels.api")
    x, y = _data()
    ols = least_squares(x, y)
    delta = huber_delta_of(y - ols.a * x - ols.b)
    ref = huber_line(x, y, delta)
    fit = sm.RLM(y, sm.add_constant(x), M=sm.robust.norms.HuberT(t=HUBER_TUNING)).fit(
        update_scale=False, conv="coefs", tol=1e-14, maxiter=500
    )
    assert (ref.b, ref.a) == pytest.approx(tuple(fit.params), rel=1e-9)
    # and it is the minimum: the gradient vanishes to rounding, and any nearby line is worse
    loss = loss_for("huber", delta=delta)
    grad = loss.hand_gradient(ref.a * x + ref.b - y, x)
    assert abs(grad[0]) < 1e-12 and abs(grad[1]) < 1e-12
    for da, db in ((1e-6, 0), (-1e-6, 0), (0, 1e-6), (0, -1e-6)):
        assert loss.of_residual((ref.a + da) * x + ref.b + db - y) > ref.objective


def test_weighted_huber_line_equals_repeated_rows():
    x, y = _data(n=40)
    w = np.tile([1.0, 2.0, 0.0, 3.0], 10)
    repeat = np.repeat(np.arange(40), w.astype(int))
    weighted, repeated = huber_line(x, y, 0.8, w), huber_line(x[repeat], y[repeat], 0.8)
    assert (weighted.a, weighted.b) == pytest.approx((repeated.a, repeated.b), rel=1e-12)


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.9])
def test_quantile_line_is_the_lp_optimum_of_sklearn_and_statsmodels(tau):
    sklearn = pytest.importorskip("sklearn.linear_model")
    sm = pytest.importorskip("statsmodels.api")
    x, y = _data(n=90)
    ref = quantile_line(x, y, tau)
    fitted = sklearn.QuantileRegressor(quantile=tau, alpha=0, solver="highs").fit(x[:, None], y)
    assert ref.unique
    assert (ref.a, ref.b) == pytest.approx((fitted.coef_[0], fitted.intercept_), rel=1e-8, abs=1e-9)
    qr = sm.QuantReg(y, sm.add_constant(x)).fit(q=tau, p_tol=1e-12, max_iter=5000)
    loss = loss_for("quantile", tau=tau)
    assert ref.objective <= loss.of_residual(qr.params[1] * x + qr.params[0] - y) * (1 + 1e-12)
    # the line passes through its two rows exactly, and a fraction ≈ τ of the points lie on or below it
    i, j = ref.points
    assert Fraction(y[j]) - Fraction(y[i]) == (Fraction(x[j]) - Fraction(x[i])) * Fraction(
        (Fraction(y[j]) - Fraction(y[i])) / (Fraction(x[j]) - Fraction(x[i]))
    )
    below = np.mean(y <= ref.a * x + ref.b + 1e-12)
    assert abs(below - tau) <= 2 / len(x)


def test_absolute_line_is_the_best_two_point_line_in_exact_arithmetic():
    rng = np.random.default_rng(11)
    x = rng.integers(-20, 20, 11).astype(float) / 4
    y = (3 * x + rng.integers(-30, 30, 11)) / 8
    x[0], y[0] = 1.1, 90.0  # an outlier
    ref = quantile_line(x, y, name="absolute")

    def exact_objective(i, j):
        a = (Fraction(y[j]) - Fraction(y[i])) / (Fraction(x[j]) - Fraction(x[i]))
        b = Fraction(y[i]) - a * Fraction(x[i])
        return sum(abs(a * Fraction(u) + b - Fraction(v)) for u, v in zip(x, y)), a, b

    best = min(exact_objective(i, j) for i, j in itertools.combinations(range(len(x)), 2) if x[i] != x[j])
    assert ref.a == float(best[1]) and ref.b == float(best[2])
    assert ref.objective == pytest.approx(float(best[0]) / len(x), rel=1e-15)


def test_a_flat_face_is_reported_as_not_unique():
    # four corners of a square: every line between the pairs (0,0),(1,0) and (0,1),(1,1) is optimal for |r|
    x = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    ref = quantile_line(x, y, name="absolute")
    assert not ref.unique
    assert ref.objective == pytest.approx(0.5)


def test_weighted_quantile_line_equals_repeated_rows_and_zero_weight_rows_do_not_count():
    x, y = _data(n=30, outliers=3)
    w = np.tile([1.0, 2.0, 0.0], 10)
    repeat = np.repeat(np.arange(30), w.astype(int))
    weighted, repeated = quantile_line(x, y, 0.7, w), quantile_line(x[repeat], y[repeat], 0.7)
    assert weighted.objective == pytest.approx(repeated.objective, rel=1e-12)
    assert (weighted.a, weighted.b) == pytest.approx((repeated.a, repeated.b), rel=1e-12)


def test_weighted_least_squares_is_statsmodels_wls_even_far_from_zero():
    sm = pytest.importorskip("statsmodels.api")
    x, y = _data(n=60)
    w = np.random.default_rng(5).uniform(0, 3, 60)
    fit = sm.WLS(y, sm.add_constant(x), weights=w).fit()
    line = weighted_least_squares(x, y, w)
    assert (line.b, line.a) == pytest.approx(tuple(fit.params), rel=1e-12)
    grid = np.round(x * 64) / 64  # x far from 0, exactly: no digits may be lost to the offset
    near = weighted_least_squares(grid, y, w)
    far = weighted_least_squares(grid + 1e9, y, w)
    assert far.a == pytest.approx(near.a, rel=1e-12)
    assert far.b + far.a * 1e9 == pytest.approx(near.b, abs=1e-5)


def test_one_wild_point_moves_least_squares_but_not_huber_or_absolute():
    """50 rows, one y = 1e4: the robust lines stay within the clean points' standard errors of their
    least-squares line; the least-squares line of all rows does not."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(2)
    x = np.linspace(0, 10, 50)
    y = 1.5 * x + 2 + rng.normal(0, 1, 50)
    clean = sm.OLS(y[1:], sm.add_constant(x[1:])).fit()
    y[0] = 1e4
    se_b, se_a = clean.bse
    ols = least_squares(x, y)
    delta = default_huber_delta(x, y)
    assert delta < 3  # the scale of the clean points (σ = 1), not of the least-squares residuals
    assert huber_delta_of(y - ols.a * x - ols.b) > 100
    for line in (huber_line(x, y, delta), quantile_line(x, y, name="absolute")):
        assert abs(line.a - clean.params[1]) < se_a and abs(line.b - clean.params[0]) < se_b
    assert abs(ols.a - clean.params[1]) > 10 * se_a


def test_weighted_least_squares_statistics_are_statsmodels_wls():
    sm = pytest.importorskip("statsmodels.api")
    from linfit.robust_stats import weighted_fit_stats

    x, y = _data(n=50)
    w = np.random.default_rng(8).uniform(0, 2, 50)
    w[:3] = 0  # a weight of 0 leaves the row out, of the degrees of freedom too
    line = weighted_least_squares(x, y, w)
    stats = weighted_fit_stats(x, y, w, line.a, line.b)
    keep = w > 0
    fit = sm.WLS(y[keep], sm.add_constant(x[keep]), weights=w[keep]).fit()
    assert (stats.se_b, stats.se_a) == pytest.approx(tuple(fit.bse), rel=1e-10)
    assert stats.r2 == pytest.approx(fit.rsquared, rel=1e-10)
    (b_low, b_high), (a_low, a_high) = fit.conf_int()
    assert stats.ci_a == pytest.approx((a_low, a_high), rel=1e-9) and stats.ci_b == pytest.approx((b_low, b_high), rel=1e-9)


def test_a_degenerate_flat_face_is_not_called_unique():
    # two optimal lines, y = x/3 and y = 1 − x/3, each through three rows (a degenerate vertex)
    x = np.array([0.0, 1, 2, 3, 0, 1, 2, 3, 1.5])
    y = np.array([0.0, 0, 0, 0, 1, 1, 1, 1, 0.5])
    ref = quantile_line(x, y, name="absolute")
    assert not ref.unique and ref.objective == pytest.approx(4 / 9)
    # a degenerate vertex that is the only optimum still says so
    x2 = np.array([0.0, 1, 2, 3, 4, 1, 3])
    y2 = np.array([0.0, 1, 2, 3, 4, 3, -1])
    assert quantile_line(x2, y2, name="absolute").unique
