"""train --holdout / --valid: the rows set aside, their loss at every logged step, and their final figures."""

from __future__ import annotations

import json

import numpy as np

from conftest import SAMPLE, lstsq, parse_json, write_csv
from linfit.evaluate import evaluate
from linfit.holdout import held_out_rows

KEYS = ("loss", "n", "mse", "rmse", "mae", "max_abs_residual", "bias", "r2")


def _close(value, reference, rel=1e-12):
    return abs(value - reference) <= rel * abs(reference)


def test_holdout_trains_on_the_rest_and_scores_the_rows_set_aside(invoke):
    fit = parse_json(invoke("train", SAMPLE, "--holdout", "0.2", "--seed", "3", "-f", "json").stdout)
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    held = held_out_rows(50, 0.2, 3)
    assert held.sum() == 10 and fit["data"]["holdout"] == {"fraction": 0.2, "seed": 3, "rows": 10} and fit["data"]["rows"] == 40
    a, b = lstsq(x[~held], y[~held])
    assert _close(fit["ols"]["a"], a, 1e-12) and _close(fit["ols"]["b"], b, 1e-12)  # trained on the other 40 rows
    scored = evaluate([(x[held], y[held])], fit["a"], fit["b"], "half_mse")
    for key in KEYS:
        assert _close(fit["valid"][key], getattr(scored, key)), key
    for step in fit["history"]:
        assert _close(step["valid_loss"], evaluate([(x[held], y[held])], step["a"], step["b"], "half_mse").loss)
    assert (held_out_rows(50, 0.2, 3) == held).all() and (held_out_rows(50, 0.2, 4) != held).any()  # the seed decides, alone
    for row in fit["stats"]["influential"]:  # named by their line in the file, not among the 40 rows
        assert not held[row["row"] - 1] and row["line"] == row["row"] + 1


def test_valid_file_equals_eval_of_the_saved_model(invoke, tmp_path):
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 10, 80)
    other = write_csv(tmp_path / "other.csv", {"x": x, "y": 3 * x + 2 + rng.normal(0, 1, x.size)})
    model = tmp_path / "m.json"
    fit = parse_json(invoke("train", SAMPLE, "--valid", other, "-o", model, "-f", "json").stdout)
    scored = parse_json(invoke("eval", model, other, "-f", "json").stdout)
    for key in KEYS:
        assert fit["valid"][key] == scored[key], key
    assert fit["valid"]["valid"]["rows"] == 80 and json.loads(model.read_text())["valid"]["mse"] == scored["mse"]
    assert fit["data"]["rows"] == 50


def test_streams_carry_the_held_out_loss(invoke, tmp_path):
    jsonl = invoke("train", SAMPLE, "--valid", SAMPLE, "-f", "jsonl").stdout.splitlines()
    first = json.loads(jsonl[0])
    assert first["record"] == "step" and _close(first["valid_loss"], first["loss"], 1e-12)  # the same rows: the same loss
    csv = invoke("train", SAMPLE, "--holdout", "0.1", "-f", "csv").stdout.splitlines()
    assert csv[0] == "step,loss,grad_a,grad_b,a,b,valid_loss" and len(csv[1].split(",")) == 7
    table = invoke("train", SAMPLE, "--holdout", "0.1").stdout
    assert "held-out loss" in table and "held out 5 rows (--holdout 0.1, seed 0)" in table


def test_held_out_refusals(invoke, tmp_path):
    for args, flag in (
        (["--holdout", "0.2", "--chunk-rows", "10"], "--holdout"),
        (["--holdout", "0.2", "--valid", str(SAMPLE)], "--holdout"),
        (["--holdout", "1"], "between 0 and 1"),
    ):
        result = invoke("train", SAMPLE, *args)
        assert result.exit_code == 2 and flag in result.stderr, args
    no_y = write_csv(tmp_path / "no_y.csv", {"x": np.arange(5.0), "z": np.arange(5.0)})
    result = invoke("train", SAMPLE, "--valid", no_y)
    assert result.exit_code == 3 and "no column 'y'" in result.stderr
    tiny = write_csv(tmp_path / "tiny.csv", {"x": np.arange(3.0), "y": np.arange(3.0)})
    result = invoke("train", tiny, "--holdout", "0.5")
    assert result.exit_code == 3 and "1 to train on" in result.stderr
