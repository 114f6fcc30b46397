"""The regression summary, diagnostics and intervals held against statsmodels to 1e-9 relative.

At x ≈ 1e9 statsmodels' own design [x, 1] is too ill-conditioned to be an oracle: there it fits the exactly
shifted x − 1e9 and the intercept's figures are mapped back in exact rational arithmetic (b = c − a·s,
var(b) = var(c) − 2s·cov(a, c) + s²·var(a)); the slope's figures, R², AIC, BIC, Durbin–Watson, leverage and
Cook's distance do not change with a shift of x.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from fractions import Fraction

import numpy as np
import pytest

from conftest import SAMPLE
from linfit.intervals import interval_bounds
from linfit.reference import least_squares, moments
from linfit.residuals import ResidualPass, qq_points
from linfit.stats import Basis, fit_stats, fit_stats_from_moments, restate, stats_from_pass

REL = 1e-9


@pytest.fixture(scope="module")
def sm():
    import statsmodels.api

    return statsmodels.api


def close(value, reference, rel=REL):
    return abs(value - reference) <= rel * abs(reference)


def _sample():
    table = np.loadtxt(SAMPLE, delimiter=",", skiprows=1)
    return 0.0, table[:, 0], table[:, 1]


def _random():
    rng = np.random.default_rng(7)
    x = rng.normal(2.0, 3.0, 300)
    return 0.0, x, -1.5 * x + 4.0 + rng.normal(0, 1 + np.abs(x))  # heteroscedastic: HC3 differs from the classical


def _offset():
    rng = np.random.default_rng(8)
    u = np.round(rng.uniform(0, 100, 250) * 1024) / 1024  # 1e9 + u is exact, and so is (1e9 + u) − 1e9
    return 1e9, 1e9 + u, 0.5 * u + 3.0 + rng.normal(0, 2 + u / 50)


DATASETS = {"sample.csv": _sample, "random": _random, "x near 1e9": _offset}


def _oracle(sm, shift, x, y, cov_type="nonrobust", level=0.95):
    """statsmodels on x − shift; the intercept's estimate, se, t, p and interval mapped back to x."""
    from scipy import stats as scipy_stats

    u = x - shift
    fit = sm.OLS(y, sm.add_constant(u)).fit(cov_type=cov_type.upper() if cov_type == "hc3" else cov_type)
    (c, a), cov = fit.params, fit.cov_params()
    s = Fraction(shift)
    var_b = Fraction(cov[0, 0]) - 2 * s * Fraction(cov[0, 1]) + s * s * Fraction(cov[1, 1])
    b, se_b = float(Fraction(c) - Fraction(a) * s), math.sqrt(var_b)
    if fit.use_t:
        q, p_b = scipy_stats.t.ppf(0.5 + level / 2, fit.df_resid), 2 * scipy_stats.t.sf(abs(b / se_b), fit.df_resid)
    else:
        q, p_b = scipy_stats.norm.ppf(0.5 + level / 2), 2 * scipy_stats.norm.sf(abs(b / se_b))
    return fit, {"a": a, "b": b, "se_b": se_b, "t_b": b / se_b, "p_b": p_b, "ci_b": (b - q * se_b, b + q * se_b)}


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize(("se", "level"), [("nonrobust", 0.95), ("nonrobust", 0.8), ("hc3", 0.99)])
def test_summary_equals_statsmodels(name, se, level, sm):
    shift, x, y = DATASETS[name]()
    ols = least_squares(x, y)
    stats = fit_stats(x, y, ols.a, ols.b, level=level, se=se)
    fit, intercept = _oracle(sm, shift, x, y, se, level)
    assert stats.se_type == se and stats.level == level
    assert close(stats.se_a, fit.bse[1]) and close(stats.t_a, fit.tvalues[1]) and close(stats.p_a, fit.pvalues[1])
    low, high = fit.conf_int(1 - level)[1]
    assert close(stats.ci_a[0], low) and close(stats.ci_a[1], high)
    assert close(stats.se_b, intercept["se_b"]) and close(stats.t_b, intercept["t_b"]) and close(stats.p_b, intercept["p_b"])
    assert close(stats.ci_b[0], intercept["ci_b"][0]) and close(stats.ci_b[1], intercept["ci_b"][1])
    assert close(stats.r2, fit.rsquared) and close(stats.adj_r2, fit.rsquared_adj)
    assert close(stats.log_likelihood, fit.llf) and close(stats.aic, fit.aic) and close(stats.bic, fit.bic)
    assert close(stats.residual_sd**2, fit.scale)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_diagnostics_equal_statsmodels(name, sm):
    from statsmodels.stats.outliers_influence import OLSInfluence
    from statsmodels.stats.stattools import durbin_watson

    shift, x, y = DATASETS[name]()
    ols = least_squares(x, y)
    stats = fit_stats(x, y, ols.a, ols.b, top=7)
    fit = sm.OLS(y, sm.add_constant(x - shift)).fit()
    assert close(stats.durbin_watson, durbin_watson(fit.resid))
    influence = OLSInfluence(fit)
    cooks, leverage = influence.cooks_distance[0], influence.hat_matrix_diag
    expected = np.argsort(-cooks, kind="stable")[:7]
    assert [row["line"] - 2 for row in stats.influential] == expected.tolist()  # line 1 is the header
    for row in stats.influential:
        assert close(row["cooks_distance"], cooks[row["line"] - 2]) and close(row["leverage"], leverage[row["line"] - 2])
    assert stats.influence_threshold == 4 / x.size
    se_hc3 = sm.OLS(y, sm.add_constant(x - shift)).fit(cov_type="HC3").bse
    assert close(stats.se_hc3_a, se_hc3[1])


def test_streamed_pass_in_chunks_equals_one_pass():
    """The bounded top-k and the carried residual give the same diagnostics chunk by chunk as at once."""
    _, x, y = _random()
    ols = least_squares(x, y)
    m = moments(x, y)
    whole = fit_stats(x, y, ols.a, ols.b)
    streamed = ResidualPass(ols.a, ols.b, m)
    for start in range(0, x.size, 37):
        streamed.add(x[start : start + 37], y[start : start + 37])
    assert streamed.best_rows.size <= 5
    chunked = stats_from_pass(m, ols.a, ols.b, streamed.finish())
    assert [row["line"] for row in chunked.influential] == [row["line"] for row in whole.influential]
    for mine, theirs in zip(chunked.influential, whole.influential):
        assert mine["leverage"] == theirs["leverage"] and close(mine["cooks_distance"], theirs["cooks_distance"], 1e-13)
    assert close(chunked.durbin_watson, whole.durbin_watson, 1e-13) and close(chunked.se_hc3_b, whole.se_hc3_b, 1e-13)


def test_from_moments_alone_has_the_summary_but_no_diagnostics():
    _, x, y = _random()
    ols = least_squares(x, y)
    whole, alone = fit_stats(x, y, ols.a, ols.b), fit_stats_from_moments(moments(x, y), ols.a, ols.b)
    assert close(alone.aic, whole.aic, 1e-12) and close(alone.p_a, whole.p_a, 1e-9)
    assert alone.durbin_watson is None and alone.influential is None and alone.se_hc3_a is None
    from linfit.errors import UsageError

    with pytest.raises(UsageError, match="hc3"):
        restate(alone, ols.a, ols.b, se="hc3")


def test_restate_changes_only_the_level_and_kind():
    _, x, y = _sample()
    ols = least_squares(x, y)
    at_95 = fit_stats(x, y, ols.a, ols.b)
    at_90 = restate(at_95, ols.a, ols.b, level=0.9)
    assert at_90 == fit_stats(x, y, ols.a, ols.b, level=0.9)
    assert at_90.ci_a[0] > at_95.ci_a[0] and at_90.se_a == at_95.se_a


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("level", [0.95, 0.5])
def test_intervals_equal_summary_frame(name, level, sm):
    shift, x, y = DATASETS[name]()
    ols = least_squares(x, y)
    basis = Basis(**asdict(fit_stats(x, y, ols.a, ols.b).basis))
    span = np.ptp(x)
    at = shift + np.array([-1e3 * span, -span, 0.0, np.median(x - shift), 2 * span, 1e4 * span, 1e6 * span])
    at = shift + np.round((at - shift) * 64) / 64  # exactly representable both before and after the shift
    fit = sm.OLS(y, sm.add_constant(x - shift)).fit()
    frame = fit.get_prediction(sm.add_constant(at - shift, has_constant="add")).summary_frame(alpha=1 - level)
    for kind, prefix in (("confidence", "mean_ci_"), ("prediction", "obs_ci_")):
        lower, upper = interval_bounds(at, basis, kind, level)
        np.testing.assert_allclose(lower, frame[prefix + "lower"], rtol=REL, atol=0)
        np.testing.assert_allclose(upper, frame[prefix + "upper"], rtol=REL, atol=0)


def test_interval_of_a_missing_x_is_missing():
    basis = Basis(n=10, x_mean=0.0, x_low=0.0, sxx=1.0, residual_variance=1.0, y_mean=0.0, y_low=0.0, slope=1.0)
    lower, upper = interval_bounds(np.array([np.nan, 1.0]), basis, "prediction", 0.95)
    assert np.isnan(lower[0]) and np.isnan(upper[0]) and lower[1] < 1.0 < upper[1]


def test_qq_points_equal_probplot(sm):
    from statsmodels.graphics.gofplots import ProbPlot

    residuals = np.random.default_rng(3).standard_t(4, 120)
    plot = ProbPlot(residuals)
    qq = qq_points(residuals)
    np.testing.assert_allclose(qq["theoretical"], plot.theoretical_quantiles, rtol=1e-12)
    np.testing.assert_array_equal(qq["sample"], np.sort(residuals))
    thinned = qq_points(np.arange(10_001.0)[::-1], most=101)
    assert len(thinned["sample"]) == 101 and thinned["sample"][0] == 0 and thinned["sample"][-1] == 10_000
    assert thinned["theoretical"][50] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dof", [1, 3, 48, 1999, 2000, 10**5, 10**7, 10**8])
def test_two_sided_p_values_equal_scipy_for_any_number_of_rows(dof):
    from scipy import stats as scipy_stats

    from linfit.stats import t_two_sided

    for t in (0.001, 0.5, 2.0, 5.0, 12.0, 30.0):
        reference = 2 * scipy_stats.t.sf(t, dof)
        assert close(t_two_sided(t, dof), reference), t
