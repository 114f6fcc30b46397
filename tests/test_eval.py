"""`linfit eval` and `linfit predict --interval` through the command line, against statsmodels and hand sums."""

from __future__ import annotations

import gzip
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from conftest import SAMPLE, one_error_line, parse_json, write_csv

KEYS = ("loss", "n", "mse", "rmse", "mae", "max_abs_residual", "bias", "r2")


@pytest.fixture(scope="module")
def sm():
    import statsmodels.api

    return statsmodels.api


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The shipped sample trained once: (model path, the training's JSON)."""
    from typer.testing import CliRunner

    from linfit.cli import app

    folder = tmp_path_factory.mktemp("model")
    model = folder / "model.json"
    result = CliRunner().invoke(app, ["train", str(SAMPLE), "-o", str(model), "-f", "json", "-q"])
    assert result.exit_code == 0, result.output
    return model, json.loads(result.stdout)


def _exact_figures(x, y, a, b):
    """The figures in exact rational arithmetic (the square root and the division by SST rounded once)."""
    fa, fb = Fraction(a), Fraction(b)
    e = [Fraction(float(yi)) - fa * Fraction(float(xi)) - fb for xi, yi in zip(x, y)]
    n = len(e)
    sse = sum(r * r for r in e)
    y_mean = sum(Fraction(float(v)) for v in y) / n
    sst = sum((Fraction(float(v)) - y_mean) ** 2 for v in y)
    return {
        "n": n,
        "mse": float(sse / n),
        "rmse": math.sqrt(float(sse / n)),
        "mae": float(sum(abs(r) for r in e) / n),
        "max_abs_residual": float(max(abs(r) for r in e)),
        "bias": float(sum(e) / n),
        "r2": float(1 - sse / sst),
        "loss": float(sse / n / 2),
    }


def _close(value, reference, rel=1e-12, floor=0.0):
    return abs(value - reference) <= rel * abs(reference) + floor


def test_eval_on_the_training_file_equals_the_training_summary(invoke, trained):
    model, fit = trained
    out = parse_json(invoke("eval", model, SAMPLE, "-f", "json").stdout)
    assert set(KEYS) <= set(out) and out["n"] == 50 and out["loss_name"] == "half_mse"
    assert _close(out["loss"], fit["loss"], 1e-9) and _close(out["r2"], fit["stats"]["r2"], 1e-9)
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    exact = _exact_figures(x, y, fit["a"], fit["b"])
    for key in KEYS:
        assert _close(out[key], exact[key], 1e-12, floor=1e-15 * np.abs(y).max()), key


def test_out_of_sample_r2_can_be_negative_and_is_said(invoke, trained, tmp_path):
    model, fit = trained
    x = np.linspace(0, 10, 20)
    path = write_csv(tmp_path / "other.csv", {"x": x, "y": 100 - 3 * x})  # the opposite slope
    result = invoke("eval", model, path, "-f", "json")
    out = parse_json(result.stdout)
    assert out["r2"] < 0 and "negative" in out["notes"][0] and "negative" in result.stderr
    assert "negative" in invoke("eval", model, path).stdout


def test_every_road_gives_the_same_result_or_the_same_error(invoke, trained, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    model, _ = trained
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 3000)
    y = 3 * x + 2 + rng.normal(0, 1, x.size)
    plain = write_csv(tmp_path / "d.csv", {"x": x, "y": y})
    zipped = tmp_path / "d.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": x, "y": y}), parquet, row_group_size=700)
    text = plain.read_text()
    lines = text.splitlines(keepends=True)
    (tmp_path / "part-1.csv").write_text("".join(lines[:1200]))
    (tmp_path / "part-2.csv").write_text(lines[0] + "".join(lines[1200:]))
    runs = {
        "glob streamed": invoke("eval", model, str(tmp_path / "part-*.csv"), "--chunk-rows", "300", "-f", "json"),
        "memory": invoke("eval", model, plain, "-f", "json"),
        "chunks": invoke("eval", model, plain, "--chunk-rows", "256", "-f", "json"),
        "stdin": invoke("eval", model, "-", "-f", "json", input=text),
        "gzip streamed": invoke("eval", model, zipped, "--chunk-rows", "999", "-f", "json"),
        "parquet": invoke("eval", model, parquet, "-f", "json"),
        "parquet streamed": invoke("eval", model, parquet, "--chunk-rows", "100", "-f", "json"),
    }
    reference = parse_json(runs.pop("memory").stdout)
    for road, result in runs.items():
        out = parse_json(result.stdout)
        for key in KEYS:
            assert _close(out[key], reference[key], 1e-12), (road, key)
    no_y = write_csv(tmp_path / "no_y.csv", {"x": x, "z": y})
    no_y_parquet = tmp_path / "no_y.parquet"
    pq.write_table(pa.table({"x": x, "z": y}), no_y_parquet)
    errors = [
        invoke("eval", model, no_y),
        invoke("eval", model, no_y, "--chunk-rows", "10"),
        invoke("eval", model, "-", input=no_y.read_text()),
        invoke("eval", model, no_y_parquet),
    ]
    for result in errors:
        assert result.exit_code == 3 and "no column 'y' for y" in result.stderr and "Traceback" not in result.output


def test_eval_formats_and_columns(invoke, trained, tmp_path):
    model, _ = trained
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    path = write_csv(tmp_path / "renamed.csv", {"target": y, "feature": x})
    json_out = parse_json(invoke("eval", model, path, "--x-col", "feature", "--y-col", "0", "-f", "json").stdout)
    lines = invoke("eval", model, path, "--x-col", "feature", "--y-col", "target", "-f", "csv").stdout.splitlines()
    assert lines[0] == "loss_name,loss,n,mse,rmse,mae,max_abs_residual,bias,r2"
    row = dict(zip(lines[0].split(","), lines[1].split(",")))
    assert float(row["mse"]) == json_out["mse"] and int(row["n"]) == 50
    table = invoke("eval", model, SAMPLE).stdout
    assert "RMSE" in table and "R²" in table
    assert invoke("eval", model, path, "--x-col", "feature", "--y-col", "target", "-f", "jsonl").stdout.count("\n") == 1


def test_predict_interval_equals_summary_frame(invoke, trained, sm):
    model, _ = trained
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    at = [-1e6, 0.0, 4.5, 12.0, 1e9]
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    frame = fit.get_prediction(sm.add_constant(np.array(at), has_constant="add")).summary_frame(alpha=0.1)
    for kind, prefix in (("confidence", "mean_ci_"), ("prediction", "obs_ci_")):
        args = [a for value in at for a in ("--x", repr(value))]
        out = parse_json(invoke("predict", model, *args, "--interval", kind, "--level", "0.9", "-f", "json").stdout)
        assert out["interval"] == {
            "kind": kind,
            "level": 0.9,
            "centre": "least_squares",
            "se": "nonrobust",
            "model_is_least_squares": True,
            "weight_col": None,
        }
        np.testing.assert_allclose(out["lower"], frame[prefix + "lower"], rtol=1e-9)
        np.testing.assert_allclose(out["upper"], frame[prefix + "upper"], rtol=1e-9)


def test_predict_interval_at_an_offset_of_1e9(invoke, tmp_path, sm):
    rng = np.random.default_rng(11)
    u = np.round(rng.uniform(0, 50, 200) * 256) / 256
    y = 0.25 * u - 7 + rng.normal(0, 0.5, u.size)
    model = tmp_path / "m.json"
    assert invoke("train", write_csv(tmp_path / "far.csv", {"x": 1e9 + u, "y": y}), "-o", model, "-q").exit_code == 0
    at = np.array([-100.0, 10.0, 25.5, 1e5])
    data = write_csv(tmp_path / "at.csv", {"x": 1e9 + at})
    lines = invoke("predict", model, data, "--interval", "prediction", "-f", "csv").stdout.splitlines()
    assert lines[0] == "x,prediction,lower,upper"
    bounds = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
    frame = sm.OLS(y, sm.add_constant(u)).fit().get_prediction(sm.add_constant(at)).summary_frame(alpha=0.05)
    np.testing.assert_allclose(bounds[:, 0], frame["obs_ci_lower"], rtol=1e-9)
    np.testing.assert_allclose(bounds[:, 1], frame["obs_ci_upper"], rtol=1e-9)


def test_predict_interval_refusals(invoke, trained, tmp_path):
    model, _ = trained
    record = json.loads(model.read_text())
    old = dict(record, stats={k: v for k, v in record["stats"].items() if k != "basis"})
    (tmp_path / "old.json").write_text(json.dumps(old))
    result = invoke("predict", tmp_path / "old.json", "--x", "1", "--interval", "prediction")
    assert result.exit_code == 3 and "stats.basis" in result.stderr and "Train the model again" in result.stderr
    (tmp_path / "abs.json").write_text(json.dumps(dict(record, loss_name="absolute")))
    result = invoke("predict", tmp_path / "abs.json", "--x", "1", "--interval", "confidence")
    assert result.exit_code == 2 and "'absolute'" in result.stderr and "squared losses" in result.stderr
    assert invoke("predict", model, "--x", "1", "--level", "0.9").exit_code == 2
    assert "between 0 and 1" in invoke("predict", model, "--x", "1", "--interval", "prediction", "--level", "95").stderr
    jsonl = invoke("predict", model, SAMPLE, "--interval", "prediction", "-f", "jsonl").stdout.splitlines()
    first = json.loads(jsonl[0])
    assert set(first) == {"x", "prediction", "lower", "upper"} and first["lower"] < first["prediction"] < first["upper"]
    assert "0.95 prediction interval" in invoke("predict", model, "--x", "2", "--interval", "prediction").stdout


def test_eval_keeps_every_digit_at_an_offset_of_1e9(invoke, tmp_path):
    rng = np.random.default_rng(12)
    u = np.round(rng.uniform(0, 50, 60) * 256) / 256
    x, y = 1e9 + u, 0.25 * u - 7 + rng.normal(0, 0.5, u.size)
    data = write_csv(tmp_path / "far.csv", {"x": x, "y": y})
    model = tmp_path / "m.json"
    fit = parse_json(invoke("train", data, "-o", model, "-f", "json", "-q").stdout)
    out = parse_json(invoke("eval", model, data, "--chunk-rows", "7", "-f", "json").stdout)
    exact = _exact_figures(x, y, fit["a"], fit["b"])
    for key in ("mse", "mae", "max_abs_residual", "r2", "loss"):
        assert _close(out[key], exact[key], 1e-12), key
    assert _close(out["bias"], exact["bias"], 1e-9, floor=1e-12)


def _edited(trained, tmp_path, name, **changes):
    """The trained model file with keys changed (`config`, `data`, `loss_parameters` merged one level deep)."""
    record = json.loads(trained[0].read_text())
    for key, value in changes.items():
        record[key] = {**record.get(key, {}), **value} if isinstance(value, dict) and isinstance(record.get(key), dict) else value
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(record))
    return path, record


def test_eval_weighs_rows_by_the_models_weight_column_by_name_or_refuses_by_name(invoke, trained, tmp_path, sample_xy):
    """A model trained with --weight-col 2 (recorded as the index, its data's name 'w') was scored by column 2 of
    any file: on one ordered x, y, v, w that is v, silently. A file without the column said nothing of the model."""
    x, y = sample_xy
    rng = np.random.default_rng(3)
    v, w = rng.uniform(0, 2, x.size), rng.uniform(0, 2, x.size)
    model, record = _edited(trained, tmp_path, "weighted", config={"weight_col": 2}, data={"w": "w"})
    e = y - (record["a"] * x + record["b"])
    out = parse_json(invoke("eval", model, write_csv(tmp_path / "xyvw.csv", {"x": x, "y": y, "v": v, "w": w}), "-f", "json").stdout)
    assert out["data"]["w"] == "w" and _close(out["mse"], np.average(e**2, weights=w), 1e-12)
    bare = write_csv(tmp_path / "xy.csv", {"x": x, "y": y})
    for road in ((), ("--chunk-rows", "7")):
        one_error_line(invoke("eval", model, bare, *road), 3, "xy.csv", "'w'", str(model), "--weight-col", "--unweighted")
        out = parse_json(invoke("eval", model, bare, "--unweighted", *road, "-f", "json").stdout)
        assert "w" not in out["data"] and _close(out["mse"], float(np.mean(e**2)), 1e-12)
    one_error_line(invoke("eval", model, bare, "--unweighted", "--weight-col", "w"), 2, "--unweighted", "--weight-col")
    weighted = write_csv(tmp_path / "xyw.csv", {"x": x, "y": y, "w": w})  # the table and csv said nothing of the weights
    assert "weighted by column 'w'" in " ".join(invoke("eval", model, weighted).stdout.split())
    assert "weighted by column" not in invoke("eval", model, weighted, "--unweighted").stdout
    assert "weighted by column 'w'" in invoke("eval", model, weighted, "-f", "csv").stderr


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"loss_name": "Huber"}, "'loss_name'"),  # was scored with loss null, exit 0
        ({"loss_name": 3}, "'loss_name'"),
        ({"loss_name": "huber", "config": {"loss": "absolute"}, "loss_parameters": {"huber_delta": 1.0}}, "'config.loss'"),
        ({"data": {"w": "w"}}, "'config.weight_col'"),  # the run says weighted by data.w and unweighted by its config
        ({"config": {"weight_col": ["w"]}, "data": {"w": "w"}}, "'config.weight_col'"),
        # a huber δ below the floor train refuses as --huber-delta (1e-8 of y's sd, 64 ulps of |y|, 1e-150) was scored
        ({"loss_name": "huber", "config": {"loss": "huber", "huber_delta": 1e-200}, "loss_parameters": {"huber_delta": 1e-200}}, "1e-200"),
        ({"loss_name": "huber", "config": {"loss": "huber", "huber_delta": 1e-12}, "loss_parameters": {"huber_delta": 1e-12}}, "1e-12"),
        ({"loss_name": "huber", "config": {"loss": "huber", "huber_delta": -1}, "loss_parameters": {"huber_delta": -1}}, "δ > 0."),
    ],
)
def test_eval_refuses_a_hand_edited_model_by_its_key(invoke, trained, tmp_path, changes, needle):
    model, _ = _edited(trained, tmp_path, "edited", **changes)
    one_error_line(invoke("eval", model, SAMPLE), 3, str(model), needle)


def test_eval_scores_huber_at_the_models_delta_above_the_floor(invoke, trained, tmp_path, sample_xy):
    x, y = sample_xy
    model, record = _edited(
        trained, tmp_path, "huber", loss_name="huber", config={"loss": "huber", "huber_delta": 1.0}, loss_parameters={"huber_delta": 1.0}
    )
    r = np.abs(record["a"] * x + record["b"] - y)
    out = parse_json(invoke("eval", model, SAMPLE, "-f", "json").stdout)
    assert _close(out["loss"], float(np.mean(np.where(r <= 1.0, 0.5 * r**2, r - 0.5))), 1e-12)


def test_eval_accepts_a_default_delta_train_raised_to_the_floor(invoke, tmp_path):
    """Rows on a line to 1e-13, a tenth far off: train raises huber's default δ to the floor (1e-8 of y's sd);
    streamed, the δ it records is that floor an ulp low, and eval must not refuse the model it was just given."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 200)
    y = 2 * x + 1 + rng.normal(size=200) * 1e-13
    y[::10] += 100
    data = write_csv(tmp_path / "floor.csv", {"x": x, "y": y})
    model = tmp_path / "m.json"
    assert invoke("train", data, "--loss", "huber", "--chunk-rows", "7", "-o", model, "-q").exit_code == 0
    delta = json.loads(model.read_text())["loss_parameters"]["huber_delta"]
    assert delta == pytest.approx(1e-8 * y.std(), rel=1e-12)
    out = parse_json(invoke("eval", model, data, "--chunk-rows", "7", "-f", "json").stdout)
    r = np.abs(y - (json.loads(model.read_text())["a"] * x + json.loads(model.read_text())["b"]))
    assert _close(out["loss"], float(np.mean(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta)))), 1e-9)
