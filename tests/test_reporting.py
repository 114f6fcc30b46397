"""Statistics held against statsmodels OLS, the t quantile against scipy, and the pictures looked at by machine."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from conftest import SAMPLE, parse_json, write_csv
from linfit.reference import least_squares
from linfit.report import sparkline
from linfit.stats import fit_stats, t_quantile


# statsmodels and scipy take seconds to import: only a worker that runs a test which needs them pays for it
@pytest.fixture(scope="module")
def sm():
    import statsmodels.api

    return statsmodels.api


@pytest.fixture(scope="module")
def scipy_stats():
    from scipy import stats

    return stats


def thousands(rng):
    x = rng.uniform(1000.0, 1010.0, 60)
    return x, 0.75 * x - 700.0 + rng.normal(0, 0.3, x.size)


def few_points(rng):
    return np.array([1.0, 2.0, 4.0]), np.array([2.2, 3.9, 8.1])


def noisy_negative(rng):
    x = rng.normal(-3.0, 2.0, 500)
    return x, -1.5 * x + 4.0 + rng.normal(0, 3.0, x.size)


def millions_offset(rng):
    x = 1e6 + rng.uniform(0, 100, 200)
    return x, 2.0 * x + 5.0 + rng.normal(0, 10.0, x.size)


DATASETS = {"thousands": thousands, "few points": few_points, "noisy": noisy_negative, "x near a million": millions_offset}


def close(value, reference, rel=1e-9):
    return abs(value - reference) <= rel * abs(reference)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_figure_matches_statsmodels_ols(name, sm):
    x, y = DATASETS[name](np.random.default_rng(42))
    ols = least_squares(x, y)
    stats = fit_stats(x, y, ols.a, ols.b)
    # statsmodels on centred x (its own numerics are then at their best), mapped back to the intercept
    x_mean = x.mean()
    model = sm.OLS(y, sm.add_constant(x - x_mean)).fit()
    centred_b, slope = model.params
    assert close(ols.a, slope)
    assert close(ols.b, centred_b - slope * x_mean, rel=1e-9)
    assert close(stats.r2, model.rsquared)
    assert close(stats.residual_sd, np.sqrt(model.scale))
    assert close(stats.se_a, model.bse[1])
    raw = sm.OLS(y, sm.add_constant(x)).fit()
    assert close(stats.se_b, raw.bse[0], rel=1e-7)  # the raw design is ill-conditioned for statsmodels itself
    low, high = model.conf_int(0.05)[1]
    assert close(stats.ci_a[0], low) and close(stats.ci_a[1], high)
    raw_low, raw_high = raw.conf_int(0.05)[0]
    assert close(stats.ci_b[0], raw_low, rel=1e-7) and close(stats.ci_b[1], raw_high, rel=1e-7)
    covariance = raw.cov_params()
    assert close(stats.corr_ab, covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]), rel=1e-7)
    assert stats.n == x.size


def test_se_b_and_ci_b_exactly_on_well_conditioned_data(sm):
    x, y = noisy_negative(np.random.default_rng(1))
    ols = least_squares(x, y)
    stats = fit_stats(x, y, ols.a, ols.b)
    model = sm.OLS(y, sm.add_constant(x)).fit()
    assert close(stats.se_b, model.bse[0]) and close(stats.ci_b[0], model.conf_int(0.05)[0][0])
    covariance = model.cov_params()
    assert close(stats.corr_ab, covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]))


@pytest.mark.parametrize("dof", [1, 2, 3, 5, 10, 48, 200, 999, 1000, 10**6])
@pytest.mark.parametrize("p", [0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(dof, p, scipy_stats):
    assert close(t_quantile(p, dof), scipy_stats.t.ppf(p, dof), rel=1e-12)


def test_two_points_have_no_standard_errors():
    stats = fit_stats(np.array([0.0, 1.0]), np.array([1.0, 3.0]), 2.0, 1.0)
    assert stats.r2 == 1.0 and stats.se_a is None and stats.ci_a is None


def test_train_json_carries_the_stats(invoke, sm):
    out = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    assert {"n", "r2", "residual_sd", "se_a", "se_b", "ci_a", "ci_b", "corr_ab"} <= set(out["stats"])
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    model = sm.OLS(y, sm.add_constant(x)).fit()
    assert close(out["stats"]["r2"], model.rsquared) and close(out["stats"]["se_a"], model.bse[1])


def test_summary_table_shows_the_stats(invoke):
    text = invoke("train", SAMPLE).stdout
    for needle in ("standard error", "95% interval", "R² 0.99", "n 50"):
        assert needle in text


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_of_the_shipped_sample_is_a_sensible_png(tmp_path, invoke):
    path = tmp_path / "fit.png"
    result = invoke("train", SAMPLE, "--plot", path, "-q")
    assert result.exit_code == 0, result.stderr
    width, height = png_size(path)
    assert 1200 <= width <= 2400 and 800 <= height <= 1200  # two rows of panels: the fit, then its residuals
    assert 30_000 < path.stat().st_size < 2_000_000


def test_plot_of_large_data_subsamples_the_scatter_only(tmp_path, invoke, monkeypatch):
    from matplotlib.axes import Axes

    from linfit.plot import MAX_SCATTER

    drawn = []
    scatter = Axes.scatter
    monkeypatch.setattr(
        Axes, "scatter", lambda ax, x, y, *a, **k: drawn.append((np.asarray(x), k.get("label"))) or scatter(ax, x, y, *a, **k)
    )
    rng = np.random.default_rng(3)
    n = MAX_SCATTER * 3
    x = rng.uniform(0, 1, n)
    data = write_csv(tmp_path / "big.csv", {"x": x, "y": 4 * x + 1 + rng.normal(0, 0.1, x.size)})
    path = tmp_path / "big.png"
    out = parse_json(invoke("train", data, "--plot", path, "-f", "json").stdout)
    assert out["data"]["rows"] == n and png_size(path)[0] > 0  # the fit used every row
    ((shown, label),) = [(points, label) for points, label in drawn if label and label.startswith("samples")]
    assert shown.size == MAX_SCATTER and f"{MAX_SCATTER:,} of {n:,} shown" in label
    assert np.isin(shown, x).all() and np.unique(shown).size == MAX_SCATTER  # rows of the data, none twice
    assert shown.min() < 0.01 and shown.max() > 0.99  # spread over the data, not its first rows


def test_plot_without_matplotlib_names_the_extra(tmp_path, invoke, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    result = invoke("train", SAMPLE, "--plot", tmp_path / "x.png")
    assert result.exit_code == 2 and "linfit[plot]" in result.stderr and not (tmp_path / "x.png").exists()


def test_sparkline_falls_on_a_log_scale():
    line = sparkline([100.0, 10.0, 1.0, 0.1, 0.01])
    assert line[0] == "█" and line[-1] == "▁" and len(line) == 5
    assert sparkline([1.0]) == ""
    assert len(sparkline(list(np.geomspace(1e3, 1e-3, 500)))) == 32
