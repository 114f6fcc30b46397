"""The regression summary and diagnostics of `linfit train`: JSON, the table, --level, --se, streamed runs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE, parse_json, write_csv
from linfit.reference import least_squares
from linfit.stats import fit_stats, for_run


@pytest.fixture(scope="module")
def sm():
    import statsmodels.api

    return statsmodels.api


def close(value, reference, rel=1e-9):
    return abs(value - reference) <= rel * abs(reference)


def test_train_json_has_the_summary_and_the_diagnostics(invoke, sm):
    from statsmodels.stats.outliers_influence import OLSInfluence
    from statsmodels.stats.stattools import durbin_watson

    stats = parse_json(invoke("train", SAMPLE, "-f", "json", "--level", "0.9", "--se", "hc3").stdout)["stats"]
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    robust = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HC3")
    assert stats["se_type"] == "hc3" and stats["level"] == 0.9
    assert close(stats["se_a"], robust.bse[1]) and close(stats["p_b"], robust.pvalues[0])
    assert close(stats["ci_b"][0], robust.conf_int(0.1)[0][0])
    classical = sm.OLS(y, sm.add_constant(x)).fit()
    assert close(stats["aic"], classical.aic) and close(stats["bic"], classical.bic) and close(stats["adj_r2"], classical.rsquared_adj)
    assert close(stats["durbin_watson"], durbin_watson(classical.resid))
    cooks = OLSInfluence(classical).cooks_distance[0]
    top = stats["influential"]
    assert [row["row"] - 1 for row in top] == np.argsort(-cooks)[: len(top)].tolist()
    assert [row["line"] for row in top] == [row["row"] + 1 for row in top]  # the header is line 1
    assert all(close(row["cooks_distance"], cooks[row["row"] - 1]) for row in top)
    assert stats["influence_threshold"] == 4 / 50


def test_a_streamed_run_gets_its_diagnostics_by_one_more_pass(invoke):
    in_memory = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)["stats"]
    streamed = parse_json(invoke("train", SAMPLE, "-f", "json", "--chunk-rows", "8").stdout)["stats"]
    assert close(streamed["durbin_watson"], in_memory["durbin_watson"], 1e-12)
    assert [row["line"] for row in streamed["influential"]] == [row["line"] for row in in_memory["influential"]]
    assert close(streamed["se_hc3_b"], in_memory["se_hc3_b"], 1e-12)


def test_rows_of_parquet_or_after_dropped_rows_have_no_line(invoke, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    pq.write_table(pa.table({"x": x, "y": y}), tmp_path / "s.parquet")
    top = parse_json(invoke("train", tmp_path / "s.parquet", "-f", "json").stdout)["stats"]["influential"]
    assert top[0]["line"] is None and top[0]["row"] == 50
    gappy = tmp_path / "gappy.csv"
    gappy.write_text("x,y\n,1\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), y.tolist())))
    top = parse_json(invoke("train", gappy, "--drop-na", "-f", "json", "-q").stdout)["stats"]["influential"]
    assert top[0]["line"] is None and top[0]["row"] == 50


def test_the_table_shows_t_p_aic_and_the_influential_rows(invoke):
    text = invoke("train", SAMPLE, "--level", "0.99").stdout
    for needle in ("t (p-value)", "99% interval", "AIC", "BIC", "Durbin–Watson", "largest Cook's distance: line 51", "above 4/n"):
        assert needle in text, needle
    assert "standard error (HC3)" in invoke("train", SAMPLE, "--se", "hc3").stdout


def test_level_out_of_range_is_a_usage_error(invoke):
    result = invoke("train", SAMPLE, "--level", "95")
    assert result.exit_code == 2 and "between 0 and 1" in result.stderr


def test_other_losses_get_no_least_squares_statistics():
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    ols = least_squares(x, y)
    stats = fit_stats(x, y, ols.a, ols.b)
    assert for_run(stats, "half_mse", ols.a, ols.b, 0.95, "nonrobust", 2) == (stats, None)
    kept, note = for_run(stats, "huber", ols.a, ols.b, 0.95, "nonrobust", 2)
    assert kept is None and "'huber'" in note and "least-squares" in note


def test_model_file_keeps_the_interval_basis(invoke, tmp_path):
    import json

    rng = np.random.default_rng(2)
    x = 1e9 + np.arange(40.0)
    path = write_csv(tmp_path / "d.csv", {"x": x, "y": 0.5 * (x - 1e9) + rng.normal(0, 1, x.size)})
    assert invoke("train", path, "-o", tmp_path / "m.json", "-q").exit_code == 0
    basis = json.loads((tmp_path / "m.json").read_text())["stats"]["basis"]
    assert basis["n"] == 40 and basis["x_mean"] + basis["x_low"] == 1e9 + 19.5 and basis["sxx"] == sum((np.arange(40.0) - 19.5) ** 2)


def test_a_lean_float32_run_gets_its_diagnostics_by_one_more_pass(invoke, monkeypatch):
    import linfit.pipeline

    in_memory = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)["stats"]
    monkeypatch.setattr(linfit.pipeline, "LEAN_ABOVE_BYTES", 0)  # the sample is read as a big file would be: float32 only
    lean = parse_json(invoke("train", SAMPLE, "-f", "json", "--dtype", "float32").stdout)["stats"]
    assert close(lean["durbin_watson"], in_memory["durbin_watson"], 1e-12) and lean["influential"][0]["line"] == 51
    assert close(lean["se_hc3_a"], in_memory["se_hc3_a"], 1e-12)
