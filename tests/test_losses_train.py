"""`linfit train --loss huber|absolute|quantile`: defaults that finish on data with gross outliers, on
every road the same, stopping by what the optimizer knows (never the reference), the JSON and model file
keys, and statistics valid for the loss (statsmodels RLM's sandwich, QuantReg's pseudo-R¹)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import write_csv
from linfit.config import TrainConfig
from linfit.losses import huber_delta_of
from linfit.piecewise import PiecewiseTraining
from linfit.pipeline import Arrays, prepare
from linfit.reference import huber_line, least_squares, quantile_line

TARGET = {"huber": 1e-9, "absolute": 1e-6, "quantile": 1e-6}


def _outliers(n=400, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, n)
    y = -0.8 * x + 4.0 + rng.normal(0, 0.7, n)
    gross = rng.random(n) < 0.05
    y[gross] += rng.choice([-1, 1], gross.sum()) * rng.uniform(30, 300, gross.sum())
    return x, y


@pytest.fixture(scope="module")
def outlier_file(tmp_path_factory):
    x, y = _outliers()
    return write_csv(tmp_path_factory.mktemp("losses") / "outliers.csv", {"x": x, "y": y}), x, y


@pytest.mark.parametrize("loss, tau", [("huber", 0.5), ("absolute", 0.5), ("quantile", 0.1), ("quantile", 0.9)])
def test_defaults_reach_the_exact_objective_in_memory_and_streamed(invoke, outlier_file, loss, tau):
    path, x, y = outlier_file
    fits = []
    for road in ([], ["--chunk-rows", "64"]):
        result = invoke("train", path, "--loss", loss, "--quantile", str(tau), "--format", "json", *road)
        assert result.exit_code == 0, result.output
        fit = json.loads(result.stdout)
        assert fit["converged"] and fit["steps"] < TrainConfig().steps
        assert abs(fit["gap"]["objective"]) <= TARGET[loss]
        fits.append(fit)
    assert fits[0]["a"] == pytest.approx(fits[1]["a"], rel=1e-12) and fits[0]["b"] == pytest.approx(fits[1]["b"], rel=1e-12)
    reference = fits[0]["reference"]
    if loss == "huber":  # held against an independent solve
        exact = huber_line(x, y, fits[0]["loss_parameters"]["huber_delta"])
    else:
        exact = quantile_line(x, y, tau, name=loss)
        assert reference["unique"] and len(reference["points"]) == 2
    assert (reference["a"], reference["b"]) == pytest.approx((exact.a, exact.b), rel=1e-12)
    assert (fits[0]["a"], fits[0]["b"]) == pytest.approx((exact.a, exact.b), rel=1e-7)
    # linfit.fit reports as `linfit train` does: the exact reference and its gap, not least squares' gap and statistics
    import linfit

    api = linfit.fit(x, y, loss=loss, quantile=tau)
    record = api.to_dict()
    for key in ("reference", "gap", "loss_parameters", "loss_stats", "stats", "error_vs_se"):
        assert json.loads(json.dumps(record[key])) == fits[0][key], key
    assert api.stats is None


def test_the_optimizer_stops_without_any_reference():
    """The trainer is built and run with no exact line computed anywhere: its stopping rule is its own."""
    x, y = _outliers(seed=9)
    for loss in ("absolute", "quantile"):
        config = TrainConfig(loss=loss, quantile=0.3)
        training = prepare(Arrays(x, y), config).training
        list(training)
        assert training.result.converged and training.snapped is not None
        exact = quantile_line(x, y, 0.5 if loss == "absolute" else 0.3, name=loss)
        assert training.result.loss == pytest.approx(exact.objective, rel=1e-12)
    config = TrainConfig(loss="huber", huber_delta=1.0)
    training = prepare(Arrays(x, y), config).training
    assert isinstance(training, PiecewiseTraining)
    list(training)
    assert training.result.converged
    assert training.result.loss == pytest.approx(huber_line(x, y, 1.0).objective, rel=1e-12)


def test_json_and_model_file_record_the_loss_its_parameter_and_the_reference(invoke, outlier_file, tmp_path):
    path, _, _ = outlier_file
    model = tmp_path / "model.json"
    result = invoke("train", path, "--loss", "quantile", "--quantile", "0.75", "--format", "json", "--output", model)
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert fit["loss_name"] == "quantile" and fit["loss_parameters"] == {"quantile": 0.75}
    assert fit["stats"] is None and fit["error_vs_se"] is None  # least squares' statistics do not apply
    assert fit["ols"] is not None  # still the least-squares line, for comparison
    assert "pseudo_r1" in fit["loss_stats"] and "Koenker" in fit["loss_stats"]["method"]
    assert fit["error_bound"] == fit["digits"] == {"a": None, "b": None}  # no bound: no digits (they read 0.0)
    saved = json.loads(model.read_text())
    assert saved["config"]["loss"] == "quantile" and saved["config"]["quantile"] == 0.75
    assert saved["reference"]["points"] == fit["reference"]["points"]
    huber = json.loads(invoke("train", path, "--loss", "huber", "--format", "json").stdout)
    assert huber["config"]["huber_delta"] == huber["loss_parameters"]["huber_delta"] > 0  # the δ used is recorded


def test_huber_statistics_are_statsmodels_rlm_sandwich(invoke, outlier_file):
    sm = pytest.importorskip("statsmodels.api")
    path, x, y = outlier_file
    ols = least_squares(x, y)
    delta = huber_delta_of(y - ols.a * x - ols.b)  # RLM's fixed scale (update_scale=False) times 1.345
    result = invoke("train", path, "--loss", "huber", "--huber-delta", repr(delta), "--level", "0.8", "--format", "json")
    stats = json.loads(result.stdout)["loss_stats"]
    fit = sm.RLM(y, sm.add_constant(x), M=sm.robust.norms.HuberT(t=1.345)).fit(update_scale=False, conv="coefs", tol=1e-13, maxiter=500)
    assert (stats["se_b"], stats["se_a"]) == pytest.approx(tuple(fit.bse), rel=1e-6)
    # at --level (was 95 % always)
    assert stats["ci_b"] + stats["ci_a"] == pytest.approx(fit.conf_int(alpha=0.2).ravel().tolist(), rel=1e-6)
    assert stats["level"] == 0.8 and "80 %" in stats["interval_method"]
    assert "sandwich" in stats["method"]


def test_quantile_pseudo_r1_is_statsmodels_prsquared(invoke, outlier_file):
    sm = pytest.importorskip("statsmodels.api")
    path, x, y = outlier_file
    stats = json.loads(invoke("train", path, "--loss", "quantile", "--quantile", "0.25", "--format", "json").stdout)["loss_stats"]
    fit = sm.QuantReg(y, sm.add_constant(x)).fit(q=0.25, p_tol=1e-12, max_iter=5000)
    assert stats["pseudo_r1"] == pytest.approx(fit.prsquared, rel=1e-6)


def test_bootstrap_intervals_are_seeded_and_cover_the_line(invoke, outlier_file):
    path, _, _ = outlier_file
    runs = [json.loads(invoke("train", path, "--loss", "absolute", "--bootstrap", "15", "--format", "json").stdout) for _ in range(2)]
    stats = runs[0]["loss_stats"]
    assert stats == runs[1]["loss_stats"] and stats["bootstrap"] == 15 and "bootstrap" in stats["interval_method"]
    assert stats["ci_a"][0] <= runs[0]["a"] <= stats["ci_a"][1]
    # 15 resamples cannot hold 2.5 % beyond each end: the 95 % interval is their range, and says so
    assert "too few for 95 %" in stats["interval_method"] and "--bootstrap 40" in stats["interval_method"]
    enough = json.loads(invoke("train", path, "--loss", "absolute", "--bootstrap", "40", "--format", "json").stdout)["loss_stats"]
    assert "too few" not in enough["interval_method"]


def test_a_weighted_bootstrap_at_a_level_is_the_hand_bootstrap(invoke, tmp_path):
    """Weighted rows were silently not bootstrapped, and the percentiles were 95 % whatever --level: the hand
    bootstrap (the same seeded multinomial counts over the rows of positive weight, each resample's weighted
    quantile line by HiGHS) gives the intervals to rounding."""
    linprog = pytest.importorskip("scipy.optimize").linprog
    x, y = _outliers(n=30, seed=5)
    w = np.tile([1.0, 0.0, 2.5], 10)
    path = write_csv(tmp_path / "w.csv", {"x": x, "y": y, "w": w})
    result = invoke("train", path, "--loss", "quantile", "--quantile", "0.7", "--weight-col", "w", "--bootstrap", "8", "--seed", "3",
                    "--level", "0.8", "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["loss_stats"]
    keep = w > 0
    xk, yk, wk, m = x[keep], y[keep], w[keep], int(keep.sum())
    counts = np.random.default_rng(3).multinomial(m, np.full(m, 1 / m), size=8)
    lines = []
    for c in counts * wk:
        cost = np.concatenate([[0, 0], 0.7 * c, 0.3 * c])
        equal = np.hstack([xk[:, None], np.ones((m, 1)), np.eye(m), -np.eye(m)])
        lines.append(linprog(cost, A_eq=equal, b_eq=yk, bounds=[(None, None)] * 2 + [(0, None)] * 2 * m, method="highs").x[:2])
    low, high = np.percentile(lines, [10, 90], axis=0)
    assert stats["ci_a"] == pytest.approx([low[0], high[0]], rel=1e-7) and stats["ci_b"] == pytest.approx([low[1], high[1]], rel=1e-7)
    assert stats["bootstrap"] == 8 and stats["level"] == 0.8 and stats["n"] == m  # n counted the zero-weight rows


def test_table_names_the_method_and_shows_no_least_squares_statistics(invoke, outlier_file):
    path, _, _ = outlier_file
    result = invoke("train", path, "--loss", "huber")
    assert result.exit_code == 0, result.output
    assert "huber (exact)" in result.stdout and "sandwich" in result.stdout and "δ =" in result.stdout
    assert "R²" not in result.stdout and "least squares (exact)" not in result.stdout


def test_mini_batches_are_refused_for_piecewise_losses(invoke, outlier_file):
    path, _, _ = outlier_file
    result = invoke("train", path, "--loss", "absolute", "--batch-size", "16")
    assert result.exit_code == 2 and "--batch-size" in result.stderr


def test_float32_reaches_its_own_rounding_floor(invoke, outlier_file):
    path, _, _ = outlier_file
    for loss, floor in (("huber", 1e-6), ("absolute", 1e-6)):
        fit = json.loads(invoke("train", path, "--loss", loss, "--dtype", "float32", "--format", "json").stdout)
        assert fit["converged"] and abs(fit["gap"]["objective"]) <= floor


def test_the_continuation_through_its_collectives_in_a_world_of_one_is_the_plain_run(outlier_file):
    """With an all_reduce (a world of one: summing over one process leaves each tensor as it is), every sum,
    nearest row and vertex check of absolute/quantile goes through the collectives, and the run is the same."""
    path, x, y = outlier_file
    for config in (TrainConfig(loss="absolute"), TrainConfig(loss="quantile", quantile=0.9)):
        plain = prepare(Arrays(x, y), config).training
        list(plain)
        reduced = PiecewiseTraining(prepare(Arrays(x, y), config).training.data, all_reduce=lambda tensor: None)
        list(reduced)
        assert reduced.result.stop_reason == plain.result.stop_reason == "converged"
        assert (reduced.result.a, reduced.result.b, reduced.result.steps) == (plain.result.a, plain.result.b, plain.result.steps)


def test_weighted_rows_train_as_repeated_rows(invoke, tmp_path):
    """A weight column (in memory and streamed, through the CLI) trains to the exact line of the rows repeated
    by their weights, for every loss; the model file records the weight column."""
    x, y = _outliers(n=120, seed=3)
    w = np.tile([1.0, 2.0, 0.0], 40)
    repeat = np.repeat(np.arange(120), w.astype(int))
    path = write_csv(tmp_path / "weighted.csv", {"x": x, "y": y, "w": w})
    for loss in ("huber", "quantile", "half_mse"):
        exact = (
            huber_line(x[repeat], y[repeat], 1.5)
            if loss == "huber"
            else quantile_line(x[repeat], y[repeat], 0.7)
            if loss == "quantile"
            else least_squares(x[repeat], y[repeat])
        )
        for road in ([], ["--chunk-rows", "50"]):
            flags = ["--loss", loss, "--quantile", "0.7", "--huber-delta", "1.5", "--weight-col", "w", "-f", "json", *road]
            result = invoke("train", path, *flags, "-o", tmp_path / "m.json")
            assert result.exit_code == 0, result.output
            fit = json.loads(result.stdout)
            assert fit["converged"] and (fit["a"], fit["b"]) == pytest.approx((exact.a, exact.b), rel=1e-6)
            if loss != "half_mse":
                assert fit["loss"] == pytest.approx(exact.objective, rel=1e-9)
            saved = json.loads((tmp_path / "m.json").read_text())
            assert saved["config"]["weight_col"] == "w" and saved["data"]["w"] == "w"


def test_every_road_finds_the_same_delta_and_line(invoke, outlier_file, monkeypatch):
    """stdin, memory and streamed: the same δ (from the same rows) and the same line; streamed past the
    reference's row limit, δ still from every k-th row, and the reference null with its reason."""
    import linfit.reference as reference

    path, _, _ = outlier_file
    fits = [json.loads(invoke("train", path, "--loss", "huber", "--format", "json").stdout)]
    fits.append(json.loads(invoke("train", "-", "--loss", "huber", "--format", "json", input=path.read_text()).stdout))
    monkeypatch.setattr(reference, "DELTA_SAMPLE_ROWS", 150)  # every 3rd row of 400
    monkeypatch.setattr(reference, "LP_ROW_LIMIT", 100)
    sampled = json.loads(invoke("train", path, "--loss", "huber", "--format", "json").stdout)
    streamed = json.loads(invoke("train", path, "--loss", "huber", "--chunk-rows", "50", "--format", "json").stdout)
    assert fits[0]["loss_parameters"] == fits[1]["loss_parameters"] and fits[0]["a"] == fits[1]["a"]
    assert sampled["loss_parameters"] == streamed["loss_parameters"] != fits[0]["loss_parameters"]
    assert streamed["reference"] is None and "row" in streamed["reference_reason"] and streamed["gap"] is None
    assert streamed["converged"] and streamed["a"] == pytest.approx(sampled["a"], rel=1e-12)


def test_on_a_flat_face_training_stops_at_an_optimal_line(invoke, tmp_path):
    path = write_csv(
        tmp_path / "flat.csv", {"x": np.array([0.0, 1, 2, 3, 0, 1, 2, 3, 1.5]), "y": np.array([0.0, 0, 0, 0, 1, 1, 1, 1, 0.5])}
    )
    fit = json.loads(invoke("train", path, "--loss", "absolute", "--format", "json").stdout)
    assert fit["converged"] and not fit["reference"]["unique"]
    assert fit["gap"]["a"] is None and abs(fit["gap"]["objective"]) < 1e-15  # no distance between lines is claimed


def test_eval_scores_a_model_with_its_own_loss_and_parameter(invoke, outlier_file, tmp_path):
    """`linfit eval` on the training file: huber with the model's δ, quantile with its τ, equal to the
    hand formula over the rows (and to the objective train reported)."""
    path, x, y = outlier_file
    for loss, flags in (("huber", ["--huber-delta", "2.5"]), ("quantile", ["--quantile", "0.8"]), ("absolute", [])):
        model = tmp_path / f"{loss}.json"
        fit = json.loads(invoke("train", path, "--loss", loss, *flags, "-o", model, "--format", "json").stdout)
        out = invoke("eval", model, path, "--format", "json")
        assert out.exit_code == 0, out.output
        scored = json.loads(out.stdout)
        r = fit["a"] * x + fit["b"] - y
        if loss == "huber":
            hand = np.where(np.abs(r) <= 2.5, 0.5 * r * r, 2.5 * (np.abs(r) - 1.25)).mean()
        else:
            tau = 0.8 if loss == "quantile" else 0.5
            hand = np.maximum(-tau * r, (1 - tau) * r).mean() * (1 if loss == "quantile" else 2)
        assert scored["loss_name"] == loss and scored["loss"] == pytest.approx(hand, rel=1e-12)
        assert scored["loss"] == pytest.approx(fit["loss"], rel=1e-9)
    saved = json.loads((tmp_path / "quantile.json").read_text())
    for edit, said in ((0.2, "disagree"), (1.5, "(0, 1)")):  # τ edited in the config only (eval used the other), then in both
        saved["config"]["quantile"] = edit
        saved["loss_parameters"]["quantile"] = 1.5 if edit == 1.5 else 0.8
        (tmp_path / "edited.json").write_text(json.dumps(saved))
        out = invoke("eval", tmp_path / "edited.json", path)
        assert out.exit_code == 3 and said in out.output, out.output


def _hand_loss(loss, x, y, a, b, delta=1.0, tau=0.5, w=None):
    r = a * x + b - y
    if loss == "huber":
        pieces = np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    else:
        pieces = np.maximum(-tau * r, (1 - tau) * r) * (2 if loss == "absolute" else 1)
    return np.average(pieces, weights=w)


@pytest.mark.parametrize("loss, flags", [("huber", ["--huber-delta", "2"]), ("quantile", ["--quantile", "0.8"])])
def test_the_report_draws_the_true_loss_over_every_row_on_a_grid(invoke, tmp_path, loss, flags):
    """The page's surface is the true loss (the hand formula at each grid point, weighted), on a grid that holds
    the path and the exact line, the same in memory and streamed; the payload names δ or τ and the weights."""
    from test_page import payload_of

    x, y = _outliers(n=150, seed=4)
    w = np.tile([1.0, 0.5, 2.0], 50)
    path = write_csv(tmp_path / "d.csv", {"x": x, "y": y, "w": w})
    grids = []
    for road in ([], ["--chunk-rows", "40"]):
        page = tmp_path / "r.html"
        result = invoke("train", path, "--loss", loss, *flags, "--weight-col", "w", "--report", page, "-f", "json", *road)
        assert result.exit_code == 0, result.output
        fit = json.loads(result.stdout)
        run = payload_of(page.read_text(encoding="utf-8"))["runs"][0]
        assert run["loss"]["name"] == loss and run["loss"].get("delta", run["loss"].get("tau")) in (2.0, 0.8)
        grid = run["surface_grid"]
        a, b, surface = np.array(grid["a"]), np.array(grid["b"]), np.array(grid["loss"])
        for i, j in ((0, 0), (7, 30), (40, 40), (20, 11)):
            hand = _hand_loss(loss, x, y, a[i], b[j], delta=2.0, tau=0.8, w=w)
            assert surface[j, i] == pytest.approx(hand, rel=1e-12)
        for point in [(r["a"], r["b"]) for r in fit["history"]] + [(fit["reference"]["a"], fit["reference"]["b"])]:
            assert a[0] <= point[0] <= a[-1] and b[0] <= point[1] <= b[-1]
        assert np.unravel_index(np.argmin(surface), surface.shape) != (0, 0)
        grids.append(surface)
        if not road:
            assert run["samples"]["w"] == pytest.approx(list(w))
    assert np.allclose(grids[0], grids[1], rtol=1e-12)


def test_the_plot_shows_the_true_loss_surface_and_the_exact_line(invoke, outlier_file, tmp_path):
    pytest.importorskip("matplotlib")
    path, *_ = outlier_file
    picture = tmp_path / "fit.svg"
    result = invoke("train", path, "--loss", "absolute", "--plot", picture, "-f", "json")
    assert result.exit_code == 0, result.output
    text = picture.read_text()
    for words in ("true absolute loss over (a, b)", "exact absolute optimum", "absolute (exact)", "loss − exact minimum"):
        assert words in text, words
    assert "least-squares optimum" not in text


ROBUST_ROWS = b"x,y\n" + b"".join(
    f"{0.7 * i + 0.13 * math.sin(i)!r},{2 * i + 1 + math.cos(3 * i) - (50 if i == 7 else 0)!r}\n".encode() for i in range(20)
)


@pytest.mark.parametrize("loss", ["huber", "absolute", "quantile"])
@pytest.mark.parametrize("road", ["memory", "lean float32", "chunk-rows", "stdin", "gzip", "share of 2"])
def test_the_piecewise_losses_give_the_same_line_on_every_road(road, loss, tmp_path, invoke, monkeypatch):
    """The road × case matrix for the new losses: the same line as in memory on every road (float32 to its
    digits); under torchrun each process trains on its share (dividing by the whole data's Σw), and the
    continuation of absolute/quantile takes the same steps to the same vertex as one process."""
    from test_read import run_road

    flags = ["--loss", loss, "--huber-delta", "1", "--quantile", "0.9", "-f", "json"]
    (tmp_path / "memory").mkdir()
    baseline = json.loads(run_road("memory", ROBUST_ROWS, flags, tmp_path / "memory", invoke, monkeypatch)[0].stdout)
    result, _ = run_road(road, ROBUST_ROWS, flags, tmp_path, invoke, monkeypatch)
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    close = 1e-5 if road == "lean float32" else 1e-9
    assert fit["converged"] and (fit["a"], fit["b"]) == pytest.approx((baseline["a"], baseline["b"]), rel=close)
    assert fit["loss"] == pytest.approx(baseline["loss"], rel=close)
    if road == "share of 2":  # the same steps, and (absolute, quantile) the same snap to a vertex through two rows
        assert fit["steps"] == baseline["steps"] and fit["data"]["processes"] == 2
        assert (fit["a"], fit["b"]) == pytest.approx((baseline["a"], baseline["b"]), rel=1e-14, abs=1e-14)
        # the rows gathered from both processes: rank 0 solves the exact reference and its statistics as one process does
        assert fit["reference"] == baseline["reference"] and fit["reference"] is not None
        assert fit["gap"] == pytest.approx(baseline["gap"], abs=1e-12) and fit["loss_stats"].keys() == baseline["loss_stats"].keys()
        for key, value in baseline["loss_stats"].items():
            assert fit["loss_stats"][key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), key


@pytest.mark.parametrize(
    "road, limit",
    [("halves", None), ("every other chunk", None), ("halves", 7), ("every other chunk", 7), ("three files", 7), ("row groups", 7)],
    ids=[
        "halves",
        "every other chunk",
        "halves, over the reference's rows",
        "every other chunk, over the reference's rows",
        "a glob's files, over the reference's rows",
        "Parquet row groups, over the reference's rows",
    ],
)
def test_huber_default_delta_under_torchrun_is_one_processs(road, limit, tmp_path, invoke, monkeypatch):
    """huber without --huber-delta under torchrun: every process settles the δ one process would, from the rows
    gathered in the data's order (over the reference's row limit: from every k-th row of the whole data)."""
    import gzip

    import linfit.reference
    from test_read import run_share

    if limit is not None:  # 20 rows, more than the limit: no reference, δ from every k-th row (k = 3 for 7 a sample)
        monkeypatch.setattr(linfit.reference, "LP_ROW_LIMIT", limit)
        monkeypatch.setattr(linfit.reference, "DELTA_SAMPLE_ROWS", limit)
    path = tmp_path / "d.csv"
    path.write_bytes(ROBUST_ROWS)
    flags = ["--loss", "huber", "-f", "json"]
    if road == "every other chunk":  # a compressed file streamed: each process holds every other chunk of 3 rows
        path = tmp_path / "d.csv.gz"
        path.write_bytes(gzip.compress(ROBUST_ROWS))
        flags += ["--chunk-rows", "3"]
    lines = ROBUST_ROWS.split(b"\n")[1:-1]
    if road == "three files":  # in memory each process reads its own files: rank 0 the first and the third
        for k, part in enumerate([lines[:5], lines[5:9], lines[9:]]):
            (tmp_path / f"p{k}.csv").write_bytes(b"x,y\n" + b"\n".join(part) + b"\n")
        path = str(tmp_path / "p*.csv")
    if road == "row groups":  # rank 0 reads row groups 0, 2, 4; rank 1 groups 1, 3
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = np.array([[float(v) for v in line.split(b",")] for line in lines])
        path = tmp_path / "d.parquet"
        pq.write_table(pa.table({"x": rows[:, 0], "y": rows[:, 1]}), path, row_group_size=4)
    alone = json.loads(invoke("train", path, *flags).stdout)
    result, rank_one = run_share(path, flags, invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    fit = json.loads(result.stdout)
    assert fit["config"]["huber_delta"] == alone["config"]["huber_delta"] and fit["data"]["processes"] == 2
    assert (fit["a"], fit["b"], fit["steps"]) == pytest.approx((alone["a"], alone["b"], alone["steps"]), rel=1e-12)
    if limit is None:
        assert fit["reference"] == alone["reference"] and fit["reference"] is not None
    else:  # the rows are not gathered to solve it
        assert fit["reference"] is None and "more than the 7" in fit["reference_reason"]


# small integer data whose absolute loss is flat between vertices, with rows as near the line on both sides
# of the processes' boundary: which row is taken first decides the vertex, and one process takes the first in the data
TIED_ROWS = [b"x,y\n2,0\n0,0\n1,2\n1,1\n1,1\n", b"x,y\n3,1\n1,1\n0,0\n1,1\n0,1\n"]


@pytest.mark.parametrize("streamed", [False, True], ids=["halves", "every other chunk"])
@pytest.mark.parametrize("content", TIED_ROWS, ids=["five rows", "five more"])
def test_ties_across_the_processes_snap_to_the_vertex_one_process_snaps_to(content, streamed, tmp_path, invoke):
    """Under torchrun the nearest row is every process's nearest, ties broken by the row's place in the whole
    data (a block of rows, or every world-th chunk of a compressed file), so the run ends on one process's vertex."""
    import gzip

    from test_read import run_share

    path = tmp_path / ("d.csv.gz" if streamed else "d.csv")
    path.write_bytes(gzip.compress(content) if streamed else content)
    flags = ["--loss", "absolute", "-f", "json", *(["--chunk-rows", "2"] if streamed else [])]
    alone = json.loads(invoke("train", path, *flags).stdout)
    with pytest.MonkeyPatch.context() as monkeypatch:
        result, rank_one = run_share(path, flags, invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    fit = json.loads(result.stdout)
    assert fit["converged"] and fit["steps"] == alone["steps"] and fit["data"]["processes"] == 2
    assert (fit["a"], fit["b"]) == pytest.approx((alone["a"], alone["b"]), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("loss, flags", [("absolute", []), ("quantile", ["--quantile", "0.9"]), ("huber", ["--huber-delta", "1.5"])])
def test_report_reads_a_saved_piecewise_stream_with_and_without_its_rows(invoke, tmp_path, loss, flags):
    """`linfit report RUN.jsonl` of a piecewise run: with --data the true loss over every row on the grid (the hand
    formula), without it the page is drawn from the records and says what needs the rows."""
    from test_page import report_of_saved_run

    x, y = _outliers(n=60, seed=5)
    path = write_csv(tmp_path / "d.csv", {"x": x, "y": y})
    run = invoke("train", path, "--loss", loss, *flags, "-f", "jsonl")
    assert run.exit_code == 0, run.output
    payload = report_of_saved_run(invoke, tmp_path, run.stdout, "--data", path, page="with.html")
    grid = payload["surface_grid"]
    a, b, surface = np.array(grid["a"]), np.array(grid["b"]), np.array(grid["loss"])
    for i, j in ((0, 0), (13, 29), (40, 3)):
        hand = _hand_loss(loss, x, y, a[i], b[j], delta=1.5, tau=0.9 if loss == "quantile" else 0.5)
        assert surface[j, i] == pytest.approx(hand, rel=1e-12)
    assert "without_rows" not in payload and len(payload["samples"]["x"]) == 60
    payload = report_of_saved_run(invoke, tmp_path, run.stdout, page="without.html")
    assert "surface_grid" not in payload and "--data" in payload["without_rows"]


def test_the_plot_draws_the_fitted_lines_residuals_and_leaves_least_squares_influence_out(invoke, outlier_file, tmp_path):
    """For a piecewise loss the bottom row is the fitted line's residuals (against ŷ, and a normal Q-Q whose sd is
    MAD/0.6745), not three 'no diagnostics' panels; leverage and Cook's distance are said to be least squares'."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from linfit.plot import _fitted_line_panels

    path, x, y = outlier_file
    picture = tmp_path / "fit.svg"
    result = invoke("train", path, "--loss", "quantile", "--quantile", "0.9", "--plot", picture, "-f", "json")
    assert result.exit_code == 0, result.output
    text = picture.read_text()
    for words in ("normal Q-Q of the residuals", "fitted value ŷ (the quantile line)", "not drawn for the quantile loss"):
        assert words in text, words
    assert "no residual diagnostics" not in text
    fit = json.loads(result.stdout)

    class Samples:
        n, dropped, source = x.shape[0], False, "d.csv"

    Samples.x, Samples.y = x, y

    class Result:
        a, b = fit["a"], fit["b"]

    figure, (residual_ax, qq_ax, note_ax) = plt.subplots(1, 3)
    _fitted_line_panels(residual_ax, qq_ax, note_ax, Samples, Result, TrainConfig(loss="quantile", quantile=0.9))
    drawn = residual_ax.collections[0].get_offsets()
    fitted = fit["a"] * x + fit["b"]
    assert np.allclose(drawn[:, 0], fitted, rtol=1e-12, atol=1e-12) and np.allclose(drawn[:, 1], y - fitted, rtol=1e-9, atol=1e-9)
    mad_sd = np.median(np.abs(y - fitted)) / 0.6744897501960817
    assert qq_ax.get_legend().get_texts()[1].get_text() == f"normal, MAD/0.6745 {mad_sd:.3g}"
    plt.close(figure)


def test_the_exact_line_names_the_two_points_it_passes_through_among_the_rows_fitted(invoke, tmp_path):
    # rows with a missing value before the vertex: `points` count the rows fitted, `through` are their (x, y)
    rng = np.random.default_rng(4)
    x = np.round(rng.uniform(0, 10, 25), 2)
    y = np.round(1.5 * x + 2 + rng.laplace(0, 1, 25), 2)
    y[0], x[1] = np.nan, np.nan
    path = write_csv(tmp_path / "na.csv", {"x": x, "y": y})
    result = invoke("train", path, "--loss", "absolute", "--drop-na", "--format", "json")
    assert result.exit_code == 0, result.output
    reference = json.loads(result.stdout)["reference"]
    kept = ~(np.isnan(x) | np.isnan(y))
    xs, ys = x[kept], y[kept]
    # brute force over every two-point line of the rows fitted: the best objective, and the pair that reaches it
    best = min(
        (np.abs(ys - (ys[j] - ys[i]) / (xs[j] - xs[i]) * (xs - xs[i]) - ys[i]).sum(), i, j)
        for i in range(xs.size)
        for j in range(i + 1, xs.size)
        if xs[i] != xs[j]
    )
    assert reference["unique"]
    assert reference["points"] == [best[1], best[2]]
    assert reference["through"] == [[xs[best[1]], ys[best[1]]], [xs[best[2]], ys[best[2]]]]
    table = invoke("train", path, "--loss", "absolute", "--drop-na").stdout
    assert f"through ({xs[best[1]]:g}, {ys[best[1]]:g})" in " ".join(table.split())


def test_the_api_says_when_a_losss_own_setting_is_ignored():
    import linfit

    with pytest.warns(UserWarning, match=r"fit\(quantile=\.\.\.\) \(0\.3\) is ignored: only the quantile loss reads it"):
        fit = linfit.fit([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 8.0], loss="mse", quantile=0.3, steps=50)
    assert fit.config.quantile == 0.5  # recorded as a run without it records
