"""A weight column end to end: weighted least squares and its statistics equal to statsmodels WLS (on the
rows with a positive weight: a zero weight leaves a row out), the same line from CSV and Parquet and in
float32, `eval` with the weights, and the model file recording the weight column."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write_csv


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 10, 60)
    y = 2 * x + 1 + rng.normal(size=60) * (0.3 + x / 5)
    w = 1 / (0.3 + x / 5) ** 2
    w[:3] = 0.0  # rows left out of the fit
    return write_csv(tmp_path_factory.mktemp("weights") / "w.csv", {"x": x, "w": w, "y": y}), x, y, w


def test_weighted_least_squares_and_its_statistics_are_statsmodels_wls(invoke, weighted):
    sm = pytest.importorskip("statsmodels.api")
    path, x, y, w = weighted
    result = invoke("train", path, "--weight-col", "w", "-f", "json")
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    keep = w > 0
    wls = sm.WLS(y[keep], sm.add_constant(x[keep]), weights=w[keep]).fit()
    b, a = wls.params
    assert (fit["ols"]["a"], fit["ols"]["b"]) == pytest.approx((a, b), rel=1e-12)
    assert (fit["a"], fit["b"]) == pytest.approx((a, b), rel=1e-10)
    stats = fit["stats"]
    assert stats["n"] == wls.nobs == fit["data"]["rows"]
    assert (stats["se_a"], stats["se_b"]) == pytest.approx((wls.bse[1], wls.bse[0]), rel=1e-9)
    assert (stats["t_a"], stats["t_b"]) == pytest.approx((wls.tvalues[1], wls.tvalues[0]), rel=1e-9)
    assert (stats["p_a"], stats["p_b"]) == pytest.approx((wls.pvalues[1], wls.pvalues[0]), rel=1e-6)
    assert stats["ci_a"] == pytest.approx(list(wls.conf_int()[1]), rel=1e-9)
    assert stats["r2"] == pytest.approx(wls.rsquared, rel=1e-10) and stats["adj_r2"] == pytest.approx(wls.rsquared_adj, rel=1e-10)
    assert (stats["log_likelihood"], stats["aic"], stats["bic"]) == pytest.approx((wls.llf, wls.aic, wls.bic), rel=1e-10)
    unweighted = json.loads(invoke("train", path, "-f", "json").stdout)
    assert unweighted["ols"]["a"] != pytest.approx(a, rel=1e-6)  # the weights change the line


def test_the_table_names_weighted_least_squares(invoke, weighted):
    path, *_ = weighted
    out = invoke("train", path, "--weight-col", "w", env={"COLUMNS": "160"}).stdout
    assert "weighted least squares (exact)" in out and "weights = 'w'" in " ".join(out.split())


def test_parquet_float32_and_the_model_file_agree(invoke, weighted, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path, x, y, w = weighted
    parquet = tmp_path / "w.parquet"
    pd.DataFrame({"x": x, "w": w, "y": y}).to_parquet(parquet)
    csv = json.loads(invoke("train", path, "--weight-col", "w", "-f", "json", "-o", tmp_path / "m.json").stdout)
    from_parquet = json.loads(invoke("train", parquet, "--weight-col", "1", "-f", "json").stdout)
    float32 = json.loads(invoke("train", path, "--weight-col", "w", "--dtype", "float32", "-f", "json").stdout)
    assert (from_parquet["a"], from_parquet["b"]) == pytest.approx((csv["a"], csv["b"]), rel=1e-12)
    assert (float32["a"], float32["b"]) == pytest.approx((csv["a"], csv["b"]), rel=1e-5)
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["config"]["weight_col"] == "w" and saved["data"]["w"] == "w" and saved["data"]["sha256"]


def test_eval_takes_the_weights_from_the_model_or_the_flag(invoke, weighted, tmp_path):
    path, x, y, w = weighted
    model = tmp_path / "m.json"
    invoke("train", path, "--weight-col", "w", "-o", model, "-q")
    saved = json.loads(model.read_text())
    e = y - (saved["a"] * x + saved["b"])
    keep = w > 0
    mean_y = np.average(y, weights=w)
    expected = {
        "n": int(keep.sum()),
        "mse": np.sum(w * e * e) / w.sum(),
        "mae": np.sum(w * np.abs(e)) / w.sum(),
        "bias": np.sum(w * e) / w.sum(),
        "r2": 1 - np.sum(w * e * e) / np.sum(w * (y - mean_y) ** 2),
    }
    for flags in ([], ["--chunk-rows", "7"], ["--weight-col", "w"]):
        out = json.loads(invoke("eval", model, path, "-f", "json", *flags).stdout)
        assert out["data"]["w"] == "w" and out["n"] == expected["n"]
        for key in ("mse", "mae", "r2"):
            assert out[key] == pytest.approx(expected[key], rel=1e-10), key
        assert out["bias"] == pytest.approx(expected["bias"], abs=1e-12)
        assert out["loss"] == pytest.approx(expected["mse"] / 2, rel=1e-10)
    zero = write_csv(tmp_path / "zero.csv", {"x": x, "w": 0 * w, "y": y})
    for flags in ([], ["--chunk-rows", "7"]):  # every weight 0: nothing to score (was a ZeroDivisionError, exit 1)
        out = invoke("eval", model, zero, *flags)
        assert out.exit_code == 3 and "every weight is 0" in out.output, out.output


def test_a_weighted_models_prediction_interval_is_for_a_row_of_the_mean_weight_and_says_so(invoke, weighted, tmp_path):
    """σ̂² is per unit of the weights scaled to mean 1: statsmodels WLS with those weights (not the file's)."""
    sm = pytest.importorskip("statsmodels.api")
    path, x, y, w = weighted
    model = tmp_path / "m.json"
    invoke("train", path, "--weight-col", "w", "-o", model, "-q")
    out = invoke("predict", model, "--x", "2", "--x", "9", "--interval", "prediction", "-f", "json")
    keep = w > 0
    wls = sm.WLS(y[keep], sm.add_constant(x[keep]), weights=w[keep] / w[keep].mean()).fit()
    frame = wls.get_prediction(np.array([[1.0, 2.0], [1.0, 9.0]])).summary_frame(alpha=0.05)
    got = json.loads(out.stdout)
    assert got["lower"] == pytest.approx(list(frame["obs_ci_lower"]), rel=1e-9) and got["interval"]["weight_col"] == "w"
    assert "mean weight" in out.stderr


def test_mini_batches_of_a_piecewise_loss_are_refused_by_name(invoke, weighted):
    path, *_ = weighted
    result = invoke("train", path, "--weight-col", "w", "--batch-size", "8", "--loss", "huber")  # piecewise losses: full batches only
    assert result.exit_code == 2 and "--batch-size" in result.stderr and "huber" in result.stderr


@pytest.mark.parametrize("flags", [[], ["--loss", "half_sse", "--optimizer", "momentum"], ["--chunk-rows", "7", "--dtype", "float32"]])
def test_weighted_mini_batches_converge_to_weighted_least_squares(invoke, weighted, flags):
    """SVRG over batches that carry the rows' weights lands on the WLS line (lstsq on √w-scaled rows), within a
    tenth of its standard errors, the zero-weight rows drawn into batches but fitting nothing."""
    path, x, y, w = weighted
    keep = w > 0
    root = np.sqrt(w[keep])
    a, b = np.linalg.lstsq(np.column_stack([x[keep] * root, root]), y[keep] * root, rcond=None)[0]
    fit = json.loads(invoke("train", path, "--weight-col", "w", "--batch-size", "8", "--seed", "5", "-f", "json", *flags).stdout)
    assert fit["converged"] and fit["epochs"] <= 20 and fit["data"]["rows"] == keep.sum()
    assert abs(fit["a"] - a) <= 0.1 * fit["stats"]["se_a"] and abs(fit["b"] - b) <= 0.1 * fit["stats"]["se_b"]
    assert fit["a"] != pytest.approx(a, rel=1e-9)  # a mini-batch run, not the exact line copied


def test_a_weighted_batch_loss_is_an_unbiased_estimate_and_the_stopping_rule_is_wls(weighted):
    """Batches that partition the N rows (zero weights among them) average to the full weighted loss and gradient
    exactly (each batch weighted N/B, not n/B); the statistical error is WLS's rms standard error of the fitted values."""
    import torch

    from linfit.config import TrainConfig
    from linfit.pipeline import Arrays, prepare
    from linfit.train import _weighted_chunk_loss

    sm = pytest.importorskip("statsmodels.api")
    _, x, y, w = weighted
    for loss in ("half_mse", "half_sse"):
        training = prepare(Arrays(x, y, w=w), TrainConfig(loss=loss), batch_size=6).training
        assert training.total_rows == 60 and training.n == 57
        alpha, beta = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, -0.2))
        batches = [next(training.batches) for _ in range(10)]  # one epoch: the 60 rows, each once
        assert sorted(torch.cat([b[0] for b in batches]).tolist()) == sorted(torch.cat([c[0] for c in training.data]).tolist())
        mean = sum(_weighted_chunk_loss(alpha, beta, *batch, training._batch_weight(6)) for batch in batches) / 10
        mean.backward()
        by_batches = (float(mean.detach()), float(alpha.grad), float(beta.grad))
        alpha.grad = beta.grad = None
        full = training._forward_backward(alpha, beta)
        assert by_batches == pytest.approx((float(full.detach()), float(alpha.grad), float(beta.grad)), rel=1e-12)
        xt = (x - training.frame.x_shift) / training.frame.x_scale  # the full loss itself, from the rows by numpy
        r = 0.3 * xt - 0.2 - (y - training.frame.y_shift)
        scaled = w * 57 / w.sum()
        assert by_batches[0] == pytest.approx(0.5 * np.sum(scaled * r * r) / (57 if loss == "half_mse" else 1), rel=1e-12)
    keep = w > 0
    wls = sm.WLS(y[keep], sm.add_constant(x[keep]), weights=w[keep]).fit()
    se_mean = wls.get_prediction().se_mean
    scaled = w[keep] * keep.sum() / w.sum()
    assert training.statistical_error == pytest.approx(np.sqrt(np.mean(scaled * se_mean**2)), rel=1e-9)


@pytest.mark.parametrize("loss", ["half_mse", "absolute", "huber"])
def test_weights_under_torchrun_give_the_one_process_answer(invoke, weighted, loss):
    """Two processes (in-process ranks), each with its share of the rows: the weights scaled by the whole
    data's Σw, so the line is numpy's weighted least squares (squared) or one process's (absolute, huber),
    in as many steps, and the statistics (log-likelihood included) are one process's."""
    from test_read import run_share

    path, x, y, w = weighted
    flags = ["--weight-col", "w", "--loss", loss, "--huber-delta", "1", "-f", "json"]
    alone = json.loads(invoke("train", path, *flags).stdout)
    with pytest.MonkeyPatch.context() as monkeypatch:
        result, rank_one = run_share(path, flags, invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    fit = json.loads(result.stdout)
    assert fit["data"]["processes"] == 2 and fit["data"]["w"] == "w" and fit["config"]["weight_col"] == "w"
    assert fit["data"]["rows"] == alone["data"]["rows"] == 57 and fit["steps"] == alone["steps"]
    assert (fit["a"], fit["b"]) == pytest.approx((alone["a"], alone["b"]), rel=1e-10)
    if loss == "half_mse":
        root = np.sqrt(w)
        (a, b), *_ = np.linalg.lstsq(np.column_stack([x * root, root]), y * root, rcond=None)
        assert (fit["a"], fit["b"]) == pytest.approx((a, b), rel=1e-10)
        for key in ("se_a", "r2", "log_likelihood", "aic", "bic"):
            assert fit["stats"][key] == pytest.approx(alone["stats"][key], rel=1e-12), key


@pytest.mark.parametrize("loss", ["half_mse", "huber"])
def test_report_of_a_saved_weighted_run_reads_its_rows_with_their_weights(invoke, weighted, tmp_path, loss):
    """`linfit report RUN.jsonl --data FILE` of a weighted run: the rows are matched by their weighted moments (an
    unweighted match would refuse the run's own file), the scatter carries the weights, and a piecewise loss's
    surface is the weighted loss over every row — what train's own --report draws."""
    from test_page import payload_of, report_of_saved_run

    path, x, y, w = weighted
    page = tmp_path / "train.html"
    run = invoke("train", path, "--weight-col", "w", "--loss", loss, "--huber-delta", "1", "--report", page, "-f", "jsonl")
    assert run.exit_code == 0, run.output
    own = payload_of(page.read_text(encoding="utf-8"))["runs"][0]
    read = report_of_saved_run(invoke, tmp_path, run.stdout, "--data", path)
    assert read["samples"]["w"] == pytest.approx(w.tolist(), rel=1e-15) and read["samples"]["w"] == own["samples"]["w"]
    assert "without_rows" not in read
    if loss == "huber":
        grid = read["surface_grid"]
        a, b, surface = grid["a"][7], grid["b"][30], grid["loss"][30][7]
        r = a * x + b - y
        hand = np.sum(w * np.where(np.abs(r) <= 1, 0.5 * r * r, np.abs(r) - 0.5)) / np.sum(w)
        assert surface == pytest.approx(hand, rel=1e-12)
    other = write_csv(tmp_path / "other.csv", {"x": x, "w": w[::-1], "y": y})  # the same x and y, other weights: not the run's rows
    refused = invoke("report", tmp_path / "run.jsonl", "--data", other, "-o", tmp_path / "no.html")
    assert refused.exit_code == 2 and "not the data" in refused.stderr


@pytest.mark.parametrize("factor", [1e-305, 2.5e-308, 1e150])
def test_weights_scaled_by_a_common_factor_give_the_same_line_and_statistics(factor):
    """Σw·(x − x̄)² of tiny weights would fall into the subnormal range (and lose its digits): the sums are taken of the
    weights brought near 1 by a power of two, so 1e-305·w is w's fit; parts merged across processes (one part of tiny
    weights, one of large) are numpy's weighted least squares on every row."""
    from linfit.config import TrainConfig
    from linfit.pipeline import Arrays, prepare
    from linfit.reference import least_squares_from, merge_weighted, scaled, weighted_part

    rng = np.random.default_rng(3)
    x = rng.normal(size=40) * 1e-9
    y = 2e9 * x + 1 + rng.normal(size=40)
    w = rng.uniform(1, 3, 40)
    base = prepare(Arrays(x, y, w=w), TrainConfig())
    tiny = prepare(Arrays(x, y, w=w * factor), TrainConfig())
    assert (tiny.ols.a, tiny.ols.b) == pytest.approx((base.ols.a, base.ols.b), rel=1e-12)
    assert (tiny.stats.se_a, tiny.stats.log_likelihood) == pytest.approx((base.stats.se_a, base.stats.log_likelihood), rel=1e-12)
    both = w.copy()
    both[:20] *= factor  # the first process's weights are `factor` times the second's
    parts = [weighted_part([(x[:20], y[:20], both[:20])]), weighted_part([(x[20:25], y[20:25], both[20:25]), (x[25:], y[25:], both[25:])])]
    m, scale = scaled(merge_weighted(parts))
    root = np.sqrt(both / both.max())
    (a, b), *_ = np.linalg.lstsq(np.column_stack([x * root, root]), y * root, rcond=None)
    line = least_squares_from(m)
    assert (line.a, line.b) == pytest.approx((a, b), rel=1e-9) and scale * both.sum() == pytest.approx(40, rel=1e-14)


def test_rows_of_positive_weight_at_one_x_are_said_to_be_the_rows_fitted(invoke, tmp_path):
    """A zero-weight row at another x does not make a slope: refused, naming the x of the rows fitted."""
    path = tmp_path / "d.csv"
    path.write_text("x,y,w\n1,2,1\n1,3,1\n2,5,0\n")
    result = invoke("train", path, "--weight-col", "w")
    assert result.exit_code == 3 and "every row fitted has x = 1" in result.stderr and "weight 0" in result.stderr, result.stderr


def test_weights_below_float32s_range_train_streamed_in_float32(invoke, tmp_path):
    # weights of 1e-40 are scaled to mean 1 by a factor of 1e40, beyond float32's largest number: the streamed
    # float32 road had overflowed to inf and stopped as 'diverged'
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 2 * x + 1 + rng.normal(size=40) * 0.1
    w = rng.uniform(1, 2, 40)
    path = write_csv(tmp_path / "tiny.csv", {"x": x, "y": y, "w": w * 1e-40})
    sw = np.sqrt(w)
    slope, intercept = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]) * sw[:, None], y * sw, rcond=None)[0]
    result = invoke("train", path, "--weight-col", "w", "--dtype", "float32", "--chunk-rows", "8", "--format", "json")
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert (fit["a"], fit["b"]) == pytest.approx((slope, intercept), rel=1e-5)
