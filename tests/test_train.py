"""`linfit train` and the loop, held against numpy's lstsq and the hand-derived gradient."""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

from conftest import NOTEBOOK_POINT, SAMPLE, lstsq, parse_json, relative, write_csv
from linfit.config import TrainConfig
from linfit.errors import DataError, DivergedError
from linfit.pipeline import Arrays, fit, prepare


def hundreds(rng):
    x = rng.uniform(100.0, 900.0, 400)
    return x, 2.5 * x + 40.0 + rng.normal(0.0, 5.0, x.size)


def intercept_near_zero(rng):
    """ȳ ≈ 300 while the least-squares intercept is 0.03: 1e-4 of the mean of y."""
    x = rng.uniform(50.0, 150.0, 300)
    y = 3.0 * x + rng.normal(0.0, 2.0, x.size)
    _, b = lstsq(x, y)
    return x, y - b + 0.03


def negative_slope_small_x(rng):
    x = rng.uniform(-0.01, 0.01, 100)
    return x, -40.0 * x + 7.0 + rng.normal(0.0, 0.05, x.size)


DATASETS = {"hundreds": hundreds, "intercept_near_zero": intercept_near_zero, "small_x": negative_slope_small_x}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_default_training_reaches_lstsq_to_1e9(name, tmp_path, invoke):
    x, y = DATASETS[name](np.random.default_rng(20261126))
    # columns in another order, with a column that is neither x nor y in between
    path = write_csv(tmp_path / "data.csv", {"y": y, "noise": np.zeros_like(x), "x": x})
    result = invoke("train", path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = parse_json(result.stdout)
    a, b = lstsq(x, y)
    assert out["converged"] and out["stop_reason"] == "converged"
    assert relative(out["a"], a) <= 1e-9
    assert relative(out["b"], b) <= 1e-9
    assert relative(out["ols"]["a"], a) <= 1e-12 and relative(out["ols"]["b"], b) <= 1e-11


def test_columns_by_index(tmp_path, invoke):
    x, y = hundreds(np.random.default_rng(1))
    path = write_csv(tmp_path / "data.csv", {"first": x, "second": y})
    out = parse_json(invoke("train", path, "--x-col", "0", "--y-col", "second", "-f", "json").stdout)
    a, b = lstsq(x, y)
    assert relative(out["a"], a) <= 1e-9 and relative(out["b"], b) <= 1e-9
    assert out["data"]["x"] == "first"


@pytest.mark.parametrize("standardize", [True, False])
def test_every_logged_gradient_is_the_hand_derivative_in_data_units(standardize):
    x, y = negative_slope_small_x(np.random.default_rng(3))
    x = x * 100 + 1  # raw gradient descent needs x of order one
    config = TrainConfig(standardize=standardize, lr=0.2, steps=40, log_every=1, tol=0)
    _, history = fit(x, y, config)
    assert len(history) == 40
    for record in history:
        r = record.a * x + record.b - y
        assert record.loss == pytest.approx(0.5 * np.mean(r * r), rel=1e-12)
        assert record.grad_a == pytest.approx(np.mean(r * x), rel=1e-9, abs=1e-12)
        assert record.grad_b == pytest.approx(np.mean(r), rel=1e-9, abs=1e-12)


def test_first_step_on_the_notebook_point_equals_grad(invoke):
    train = parse_json(invoke("train", NOTEBOOK_POINT, "--no-standardize", "--steps", "1", "--lr", "0.5", "-f", "json").stdout)
    grad = parse_json(invoke("grad", "--x", "1.4", "--y", "2.1", "-f", "json").stdout)
    first = train["history"][0]
    assert (first["a"], first["b"]) == (1.0, 0.5)
    assert (first["loss"], first["grad_a"], first["grad_b"]) == (grad["loss"], grad["grad_a"], grad["grad_b"])
    # one update of plain gradient descent: w ← w − lr·∇L
    assert train["a"] == pytest.approx(1.0 - 0.5 * -0.28, abs=1e-15)
    assert train["b"] == pytest.approx(0.5 - 0.5 * -0.2, abs=1e-15)
    assert train["ols"] is None


def test_one_point_with_standardisation_is_a_data_error(invoke):
    result = invoke("train", NOTEBOOK_POINT)
    assert result.exit_code == 3
    # refused at once, with what to do to the data: no flag to paste (plain descent on one point fits no one line)
    assert "notebook_point.csv" in result.stderr and "Add rows" in result.stderr and "--" not in result.stderr
    assert "Traceback" not in result.stderr


def test_constant_x_is_named():
    with pytest.raises(DataError, match="x is constant"):
        prepare(Arrays(np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0])), TrainConfig())


def test_divergence_stops_with_the_stable_rate_and_a_command_that_converges(invoke, tmp_path):
    # x of order one, not centred: raw gradient descent is stable below 0.76 and the advice takes ~200 steps
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 3.0, 40)
    y = 2.5 * x - 1.0 + rng.normal(0.0, 0.3, x.size)
    path = write_csv(tmp_path / "raw.csv", {"x": x, "y": y})
    hessian = np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    stable = 2 / np.linalg.eigvalsh(hessian)[-1]
    result = invoke("train", path, "--no-standardize", "--lr", "10")
    assert result.exit_code == 4
    assert "diverged" in result.stderr and f"{stable:.3g}" in result.stderr
    assert result.stderr.count("\n") == 1
    # the table shows the steps that led up to the divergence, the last one blowing up
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1)) and float(rows[-1][1]) > 1e6
    # one complete command, alone in backticks; followed, it converges
    commands = re.findall(r"`([^`]*)`", result.stderr)
    assert len(commands) == 1 and commands[0].startswith("linfit train ")
    words = shlex.split(commands[0])[1:]
    assert "--no-standardize" in words and float(words[words.index("--lr") + 1]) < stable
    followed = parse_json(invoke(*words, "-f", "json").stdout)
    assert followed["converged"] and followed["steps"] <= 1000
    a, b = lstsq(x, y)
    assert relative(followed["a"], a) <= 1e-12 and relative(followed["b"], b) <= 1e-12


def test_divergence_advice_without_a_plain_path_drops_no_standardize(invoke, tmp_path):
    path = write_csv(tmp_path / "far.csv", {"x": np.array([1e6, 1e6 + 1, 1e6 + 3, 1e6 + 4]), "y": np.array([1.0, 2.0, 2.5, 4.0])})
    result = invoke("train", path, "--no-standardize", "--optimizer", "momentum")
    assert result.exit_code == 4
    (command,) = re.findall(r"`([^`]*)`", result.stderr)
    words = shlex.split(command)[1:]
    assert "--no-standardize" not in words and "--optimizer" in words
    assert parse_json(invoke(*words, "-f", "json").stdout)["converged"]


@pytest.mark.parametrize("start", [["--init-a", "1e300"], ["--init-a", "1e30", "--dtype", "float32"], ["--init-from", "far.json"]])
def test_a_start_whose_loss_overflows_is_advised_to_start_nearer_not_to_lower_lr(invoke, tmp_path, start):
    """No lr helps when the loss is non-finite at the start: the advice must not loop from lr to lr."""
    path = write_csv(tmp_path / "d.csv", {"x": np.array([0.0, 1.0, 2.0, 3.0]), "y": np.array([1.0, 3.2, 4.9, 7.1])})
    (tmp_path / "far.json").write_text('{"format": "linfit-model", "format_version": 1, "a": 1e308, "b": 1e308}')
    start = [str(tmp_path / word) if word == "far.json" else word for word in start]
    result = invoke("train", path, *start, "--lr", "0.2")
    assert result.exit_code == 4 and "starting point" in result.stderr
    (command,) = re.findall(r"`([^`]*)`", result.stderr)
    words = shlex.split(command)[1:]
    assert "--init-a" not in words and "--init-from" not in words
    followed = parse_json(invoke(*words, "-f", "json").stdout)
    assert followed["converged"]


@pytest.mark.parametrize("flags", [["--lr", "1e300"], ["--init-a", "1e300"], ["--lr", "1e300", "--report", "r.html"]])
def test_a_diverging_run_far_from_zero_is_exit_4_not_a_crash(invoke, tmp_path, flags):
    """The exact change of frame meets inf or an overflowing sum when a run far from x = 0 diverges."""
    path = write_csv(tmp_path / "far.csv", {"x": 1e12 + np.array([0.0, 1.0, 2.0, 3.0]), "y": np.array([1.0, 3.2, 4.9, 7.1])})
    flags = [str(tmp_path / word) if word.endswith(".html") else word for word in flags]
    result = invoke("train", path, *flags)
    assert result.exit_code == 4 and "diverged" in result.stderr and "unexpected" not in result.stderr


def test_half_sse_needs_a_rate_scaled_by_n():
    x, y = hundreds(np.random.default_rng(5))
    with pytest.raises(DivergedError, match="largest stable lr"):
        fit(x, y, TrainConfig(loss="half_sse", lr=0.9, standardize=False))
    result, _ = fit(x, y, TrainConfig(loss="half_sse", lr=1.0 / x.size))
    a, b = lstsq(x, y)
    assert relative(result.a, a) <= 1e-9 and relative(result.b, b) <= 1e-9


def test_mse_halves_the_stable_rate_and_converges():
    x, y = hundreds(np.random.default_rng(6))
    result, history = fit(x, y, TrainConfig(loss="mse", lr=0.25))
    assert result.converged
    r = history[0].a * x + history[0].b - y
    assert history[0].loss == pytest.approx(np.mean(r * r), rel=1e-12)
    assert history[0].grad_a == pytest.approx(2 * np.mean(r * x), rel=1e-9)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_torch_optimizers_reduce_the_loss_towards_the_optimum(optimizer, sample_xy):
    x, y = sample_xy  # Adam's steps are in y's units: y of order 10
    lr = {"momentum": 0.1, "adam": 0.5}[optimizer]
    result, history = fit(x, y, TrainConfig(optimizer=optimizer, lr=lr, steps=3000, log_every=100))
    a, b = lstsq(x, y)
    optimum = 0.5 * np.mean((a * x + b - y) ** 2)
    assert history[0].loss > 100 * optimum
    assert result.loss == pytest.approx(optimum, rel=1e-9)
    assert result.converged and relative(result.a, a) <= 1e-9


def test_momentum_converges_to_lstsq():
    x, y = intercept_near_zero(np.random.default_rng(8))
    result, _ = fit(x, y, TrainConfig(optimizer="momentum", lr=0.5, momentum=0.5))
    a, b = lstsq(x, y)
    assert result.converged and relative(result.a, a) <= 1e-9 and relative(result.b, b) <= 1e-9


def test_float32_converges_to_float32_accuracy():
    x, y = hundreds(np.random.default_rng(9))
    result, _ = fit(x, y, TrainConfig(dtype="float32"))
    a, b = lstsq(x, y)
    assert result.converged
    assert relative(result.a, a) <= 1e-5 and relative(result.b, b) <= 1e-4


def test_step_limit_is_reported_and_strict_fails(invoke):
    out = parse_json(invoke("train", SAMPLE, "--steps", "5", "--log-every", "10", "-f", "json").stdout)
    assert (out["converged"], out["stop_reason"], out["steps"]) == (False, "step_limit", 5)
    assert [r["step"] for r in out["history"]] == [1, 5]
    strict = invoke("train", SAMPLE, "--steps", "5", "--strict")
    assert strict.exit_code == 5 and "not converged" in strict.stderr


def test_log_every_picks_rows_first_and_last_always():
    x, y = hundreds(np.random.default_rng(10))
    result, history = fit(x, y, TrainConfig(log_every=7, steps=30, lr=0.01))
    assert [r.step for r in history] == [1, 7, 14, 21, 28, 30]
    assert result.steps == 30 and result.stop_reason == "step_limit"


def test_automatic_logging_thins_out_by_decades():
    x, y = hundreds(np.random.default_rng(13))
    _, history = fit(x, y, TrainConfig(steps=2500, lr=1e-4))
    expected = list(range(1, 11)) + list(range(20, 101, 10)) + list(range(200, 1001, 100)) + [2000, 2500]
    assert [r.step for r in history] == expected


def test_stop_request_ends_the_run_between_steps():
    x, y = hundreds(np.random.default_rng(11))
    calls = iter(range(1000))
    training = prepare(Arrays(x, y), TrainConfig(tol=0), stop_requested=lambda: next(calls) >= 3).training
    list(training)
    assert training.result.stop_reason == "interrupted" and training.result.steps == 3


def test_loss_reported_is_the_loss_at_the_reported_parameters():
    x, y = hundreds(np.random.default_rng(12))
    for steps in (3, 1000):
        result, _ = fit(x, y, TrainConfig(steps=steps))
        assert result.loss == pytest.approx(0.5 * np.mean((result.a * x + result.b - y) ** 2), rel=1e-9)
