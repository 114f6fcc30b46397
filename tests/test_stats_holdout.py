"""train --holdout / --valid: the rows set aside, their loss at every logged step, and their final figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

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


def _weighted_figures(x, y, w, a, b):
    """The weighted figures by hand: Σw·(…)/Σw over the rows, n those with a positive weight, R² about the weighted mean."""
    e = y - (a * x + b)
    mse = np.sum(w * e * e) / w.sum()
    sst = np.sum(w * (y - np.average(y, weights=w)) ** 2)
    return {"n": int((w > 0).sum()), "loss": mse / 2, "mse": mse, "mae": np.sum(w * np.abs(e)) / w.sum(), "r2": 1 - mse * w.sum() / sst}


@pytest.mark.parametrize("how", ["holdout", "valid"])
def test_weighted_rows_held_out_keep_their_weights_and_are_scored_weighted(invoke, tmp_path, how):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 60)
    y = 2 * x + 1 + rng.normal(size=60) * (0.3 + x / 5)
    w = 1 / (0.3 + x / 5) ** 2
    w[::7] = 0.0
    path = write_csv(tmp_path / "w.csv", {"x": x, "y": y, "w": w})
    if how == "holdout":
        fit = parse_json(invoke("train", path, "--weight-col", "w", "--holdout", "0.25", "--seed", "2", "-f", "json").stdout)
        held = held_out_rows(60, 0.25, 2)
        train, scored = ~held, held
        assert fit["data"]["holdout"]["rows"] == 15 and fit["data"]["rows"] == (w[train] > 0).sum()
    else:
        other = write_csv(tmp_path / "v.csv", {"x": x[::-1], "y": y[::-1] + 1, "w": np.arange(60.0)})  # its own weights
        fit = parse_json(invoke("train", path, "--weight-col", "w", "--valid", other, "-o", tmp_path / "m.json", "-f", "json").stdout)
        x, y, w = np.concatenate([x, x[::-1]]), np.concatenate([y, y[::-1] + 1]), np.concatenate([w, np.arange(60.0)])
        train, scored = np.arange(120) < 60, np.arange(120) >= 60
        evaluated = parse_json(invoke("eval", tmp_path / "m.json", other, "-f", "json").stdout)  # the model's weight column
        assert all(fit["valid"][key] == evaluated[key] for key in KEYS)
    keep = train & (w > 0)
    root = np.sqrt(w[keep])
    a, b = np.linalg.lstsq(np.column_stack([x[keep] * root, root]), y[keep] * root, rcond=None)[0]  # WLS on the rows trained on
    assert _close(fit["ols"]["a"], a, 1e-10) and _close(fit["ols"]["b"], b, 1e-10)
    expected = _weighted_figures(x[scored], y[scored], w[scored], fit["a"], fit["b"])
    assert fit["valid"]["w"] == "w" and fit["valid"]["n"] == expected["n"]
    for key in ("loss", "mse", "mae", "r2"):
        assert _close(fit["valid"][key], expected[key], 1e-10), key
    for step in fit["history"]:
        assert _close(step["valid_loss"], _weighted_figures(x[scored], y[scored], w[scored], step["a"], step["b"])["loss"], 1e-10)
    table = invoke("train", path, "--weight-col", "w", "--holdout", "0.25", env={"COLUMNS": "200"}).stdout
    assert "seed 0), weighted by 'w': loss" in table


def test_weighted_held_out_rows_that_weigh_nothing_are_refused(invoke, tmp_path):
    x = np.arange(20.0)
    path = write_csv(tmp_path / "w.csv", {"x": x, "y": 2 * x + np.sin(x), "w": np.r_[np.zeros(10), np.ones(10)]})
    zero = write_csv(tmp_path / "zero.csv", {"x": x, "y": x, "w": np.zeros(20)})
    no_w = write_csv(tmp_path / "no_w.csv", {"x": x, "y": x})
    seed = next(s for s in range(100) if np.flatnonzero(held_out_rows(20, 0.1, s)).max() < 10)  # both held-out rows weigh 0
    for flags, code, words in (
        (["--holdout", "0.1", "--seed", str(seed)], 3, "--holdout: every held-out row has weight 0"),
        (["--valid", zero], 3, "--valid file: every held-out row has weight 0"),
        (["--valid", no_w], 3, "'w'"),
    ):
        result = invoke("train", path, "--weight-col", "w", *flags)
        assert result.exit_code == code and words in result.stderr, (flags, result.stderr)


@pytest.mark.parametrize("loss, flags", [("huber", []), ("absolute", []), ("quantile", ["--quantile", "0.9"])])
def test_piecewise_held_out_rows_are_scored_with_the_runs_own_loss(invoke, loss, flags):
    """--holdout under huber (its default δ, settled from the rows trained on), absolute and quantile τ: the
    held-out loss at each logged step and at the end is the hand formula's with the run's δ or τ."""
    fit = parse_json(invoke("train", SAMPLE, "--loss", loss, *flags, "--holdout", "0.3", "--log-every", "5", "-f", "json").stdout)
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    held = held_out_rows(50, 0.3, 0)
    delta, tau = fit["config"]["huber_delta"], fit["config"]["quantile"]

    def hand(a, b):
        r = a * x[held] + b - y[held]
        if loss == "huber":
            return np.mean(np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta)))
        t = 0.5 if loss == "absolute" else tau
        return np.mean(np.maximum(-t * r, (1 - t) * r)) * (2 if loss == "absolute" else 1)

    assert fit["valid"]["loss_name"] == loss and _close(fit["valid"]["loss"], hand(fit["a"], fit["b"]))
    assert len(fit["history"]) > 1
    for step in fit["history"]:
        assert _close(step["valid_loss"], hand(step["a"], step["b"]))


def test_valid_under_torchrun_is_scored_by_rank_0_as_one_process_scores_it(invoke, tmp_path, monkeypatch):
    """Two processes (in-process ranks): rank 0 reads the --valid file and scores each logged step as one
    process does; a --valid file rank 0 cannot read stops both processes with its error (no rank left waiting)."""
    from test_read import run_share

    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 40)
    valid = write_csv(tmp_path / "valid.csv", {"x": x, "y": 3 * x - 1 + rng.normal(size=40)})
    flags = ["--valid", str(valid), "--log-every", "3", "-f", "json"]
    alone = parse_json(invoke("train", SAMPLE, *flags).stdout)
    result, rank_one = run_share(SAMPLE, flags, invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    fit = parse_json(result.stdout)
    assert fit["data"]["processes"] == 2 and fit["valid"]["n"] == 40
    for key in KEYS:
        assert _close(fit["valid"][key], alone["valid"][key], 1e-9), key
    assert [s["valid_loss"] for s in fit["history"]] == pytest.approx([s["valid_loss"] for s in alone["history"]], rel=1e-9)
    no_y = write_csv(tmp_path / "no_y.csv", {"x": x, "z": x})
    result, rank_one = run_share(SAMPLE, ["--valid", str(no_y)], invoke, monkeypatch)
    assert result.exit_code == 3 and "no column 'y'" in result.stderr and len(rank_one) == 1 and rank_one[0] is not None
