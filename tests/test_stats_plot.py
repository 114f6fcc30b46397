"""The PNG's residual panels and its loss surface, looked at through the figure matplotlib drew."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE
from linfit.reference import least_squares, moments
from linfit.residuals import diagnostics_payload, qq_points


@pytest.fixture
def figure(plotted):
    """The figure `train --plot` draws for the sample (conftest's, drawn once)."""
    return plotted[2]


def _axes(figure, title_start):
    (ax,) = [ax for ax in figure.axes if ax.get_title().startswith(title_start)]
    return ax


def test_the_surface_holds_the_whole_bowl_and_its_labels_do_not_overlap(figure):
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    ols = least_squares(x, y)
    ax = _axes(figure, "loss surface")
    (a_low, a_high), (b_low, b_high) = ax.get_xlim(), ax.get_ylim()
    assert a_low + a_high == pytest.approx(2 * ols.a) and b_low + b_high == pytest.approx(2 * ols.b)  # centred on the optimum
    assert a_low < 1.0 and b_low < 0.5  # the start (1, 0.5) is inside
    renderer = figure.canvas.get_renderer()
    labels = [text.get_window_extent(renderer) for text in ax.texts]
    assert len(labels) >= 2
    for i, first in enumerate(labels):
        assert ax.get_window_extent(renderer).contains(first.x0, first.y0)
        for second in labels[i + 1 :]:
            assert not first.overlaps(second)


def test_residual_and_qq_panels_draw_the_residuals(figure):
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    ols = least_squares(x, y)
    residuals = y - (ols.a * x + ols.b)
    scatter = _axes(figure, "residuals against fitted").collections[0].get_offsets()
    np.testing.assert_allclose(np.sort(scatter[:, 1]), np.sort(residuals), atol=1e-12)
    qq = _axes(figure, "normal Q-Q").collections[0].get_offsets()
    expected = qq_points(residuals)
    np.testing.assert_allclose(qq[:, 0], expected["theoretical"], rtol=1e-12)
    np.testing.assert_allclose(qq[:, 1], expected["sample"], atol=1e-12)
    influence = _axes(figure, "influence")
    assert "line 51" in " ".join(text.get_text() for text in influence.texts)


def test_diagnostics_payload_is_bounded():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 30_000)
    y = 2 * x + rng.normal(0, 0.1, x.size)
    ols = least_squares(x, y)
    payload = diagnostics_payload(x, y, ols.a, ols.b, moments(x, y))
    assert set(payload) == {"fitted", "residuals", "qq", "durbin_watson", "influential", "influence_threshold"}
    assert len(payload["fitted"]) == len(payload["residuals"]) == 2000 and len(payload["qq"]["sample"]) == 400
    assert len(payload["influential"]) == 5 and payload["influential"][0]["cooks_distance"] >= payload["influential"][1]["cooks_distance"]
    fitted, residuals = np.array(payload["fitted"]), np.array(payload["residuals"])
    ordered = np.sort(y)
    position = np.clip(np.searchsorted(ordered, fitted + residuals), 1, y.size - 1)
    nearest = np.minimum(np.abs(ordered[position] - (fitted + residuals)), np.abs(ordered[position - 1] - (fitted + residuals)))
    assert nearest.max() < 1e-12  # rows of the data: fitted + residual is their y
    assert diagnostics_payload(x[:2], y[:2], ols.a, ols.b, moments(x[:2], y[:2])) is None


def test_the_report_carries_the_diagnostics_payload(invoke, tmp_path):
    page = tmp_path / "run.html"
    assert invoke("train", SAMPLE, "--report", page, "-q").exit_code == 0
    text = page.read_text()
    assert '"diagnostics":{"fitted":[' in text.replace(" ", "") and '"influence_threshold":0.08' in text.replace(" ", "")


@pytest.mark.parametrize(
    "rows, flags, label, note",
    [  # a weighted quantile run on a scatter; a two-row absolute run, whose every loss is 0 (no log axis can draw it)
        (
            "x,y,w\n0,1,1\n1,3,2\n2,2,1\n3,5,3\n4,4,1\n5,7,2\n",
            ("--loss", "quantile", "--quantile", "0.8", "--weight-col", "w"),
            "Σ w·ρ_τ",
            None,
        ),
        ("x,y\n1,2\n3,5\n", ("--loss", "absolute"), "mean(|a·x + b − y|)", "every loss is 0"),
    ],
)
def test_a_piecewise_plot_names_its_weighted_loss_and_draws_a_zero_loss_without_warnings(invoke, tmp_path, rows, flags, label, note):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = tmp_path / "d.csv"
    data.write_text(rows)
    kept, close = [], plt.close
    plt.close = kept.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # matplotlib's "cannot be log-scaled" would reach the terminal as a traceback-like line
            result = invoke("train", data, *flags, "--plot", tmp_path / "p.png", "-q")
    finally:
        plt.close = close
    assert result.exit_code == 0, result.output
    (figure,) = kept
    try:
        ax = _axes(figure, "loss per step")
        assert label in ax.get_ylabel() and ("mean(" not in ax.get_ylabel()) == ("--weight-col" in flags), ax.get_ylabel()
        if "--weight-col" in flags:
            assert "column 'w'" in ax.get_ylabel()
        texts = " ".join(t.get_text() for t in ax.texts)
        assert (note in texts) if note else ax.get_yscale() == "log"
    finally:
        close(figure)
