"""Statistics held against statsmodels OLS, the t quantile against scipy, and the pictures looked at by machine."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE, parse_json, write_csv
from linfit.reference import least_squares
from linfit.stats import fit_stats, t_quantile
from linfit.views.table import sparkline


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


def test_train_json_carries_the_stats(invoke, sm, sample_xy):
    out = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    assert {"n", "r2", "residual_sd", "se_a", "se_b", "ci_a", "ci_b", "corr_ab"} <= set(out["stats"])
    x, y = sample_xy
    model = sm.OLS(y, sm.add_constant(x)).fit()
    assert close(out["stats"]["r2"], model.rsquared) and close(out["stats"]["se_a"], model.bse[1])


def pixels_at(figure, ax, xs, ys) -> np.ndarray:
    """(row, column) in the saved image of each data point (xs, ys) of `ax`."""
    points = ax.transData.transform(np.column_stack([xs, ys]))
    height = figure.get_size_inches()[1] * figure.dpi
    return np.column_stack([height - points[:, 1], points[:, 0]]).round().astype(int)


def shows(image, at, colour: str, reach: int = 1) -> bool:
    """Whether a pixel within `reach` of `at` is `colour` (matplotlib's name), to 1/50."""
    from matplotlib.colors import to_rgb

    row, column = at
    around = image[row - reach : row + reach + 1, column - reach : column + reach + 1, :3].reshape(-1, 3)
    return bool((np.abs(around - to_rgb(colour)).max(axis=1) < 0.02).any())


def test_the_plot_shows_the_data_the_fitted_line_the_loss_and_the_optimum(plotted, sample_xy):
    from matplotlib.image import imread

    out, path, figure = plotted
    image = imread(path)
    assert image.shape[:2] == (1040, 1700)  # 17 × 10.4 inches at 100 dpi: the fit, then its residuals below
    data_ax, loss_ax, surface_ax = figure.axes[:3]
    x, y = sample_xy
    # the fitted line runs where a·x + b is (blue, the least-squares line dashed orange on top of it)
    along = np.linspace(x.min(), x.max(), 15)
    for at in pixels_at(figure, data_ax, along, out["a"] * along + out["b"]):
        assert shows(image, at, "tab:blue") or shows(image, at, "tab:orange"), at
    # every sample is a grey dot (or under the line); far below the line's end there is nothing drawn
    for at in pixels_at(figure, data_ax, x, y):
        assert image[at[0], at[1], :3].min() < 0.8, at  # not the white of the background
    (empty,) = pixels_at(figure, data_ax, [x.max()], [y.min()])
    assert image[empty[0] - 3 : empty[0] + 4, empty[1] - 3 : empty[1] + 4, :3].min() > 0.85
    # the loss panel starts at step 1's loss; the surface shows the start (red) and the optimum (orange star)
    first = out["history"][0]
    start = pixels_at(figure, loss_ax, [1], [first["loss"]])[0]  # the loss (blue), the excess over the optimum (red) on it
    assert shows(image, start, "tab:blue", reach=2) or shows(image, start, "tab:red", reach=2)
    assert shows(image, pixels_at(figure, surface_ax, [first["a"]], [first["b"]])[0], "tab:red")
    assert shows(image, pixels_at(figure, surface_ax, [out["ols"]["a"]], [out["ols"]["b"]])[0], "tab:orange")


def test_plot_of_large_data_subsamples_the_scatter_only(tmp_path, invoke, monkeypatch):
    from matplotlib.axes import Axes

    from linfit.sample import MAX_SCATTER

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
    assert out["data"]["rows"] == n and path.exists()  # the fit used every row
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
