"""Exact whatever the data: offsets to 1e15, tiny scales, every optimizer's defaults, mini-batch runs.

The oracle is least squares in exact rational arithmetic (fractions.Fraction) over the float64 values.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from conftest import SAMPLE, exact_line, lstsq, parse_json, write_csv
from linfit.config import TrainConfig
from linfit.errors import DataError
from linfit.gradient import compare_gradients
from linfit.pipeline import fit
from linfit.reference import least_squares, merge_moments, moments
from linfit.stats import fit_stats


def allowed_error(x: np.ndarray, y: np.ndarray, a: Fraction, b: Fraction) -> float:
    """1e-9 of y's spread, or what float64 a and b can carry at these x (4·(max|x|·ulp(a) + ulp(b)))."""
    rounding = 4 * (float(np.abs(x).max()) * math.ulp(float(a)) + math.ulp(float(b)))
    return max(1e-9 * float(np.std(y)), rounding)


def worst_prediction_error(x: np.ndarray, a: float, b: float, exact_a: Fraction, exact_b: Fraction) -> float:
    """max over the data of |(a·x + b) − (a*·x + b*)|, in exact arithmetic."""
    return float(max(abs((Fraction(a) - exact_a) * Fraction(float(v)) + Fraction(b) - exact_b) for v in x))


def offset_data(offset: float, sign: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """x = offset + a few hundred steps of a representable spacing; y a noisy line (y exact floats too)."""
    spacing = max(math.ulp(offset) * 4, 0.25)
    x = sign * (offset + spacing * rng.integers(0, 400, 40).astype(float))
    y = 8.0 * (x - x.mean()) / spacing + 5.0 + np.round(rng.normal(0, 2, x.size), 3)
    return x, y


OFFSETS = [1e6, 1e9, 1e12, 1e15]


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("offset", OFFSETS)
def test_fit_and_reference_are_exact_at_any_offset(offset, sign):
    x, y = offset_data(offset, sign, np.random.default_rng(int(math.log10(offset))))
    exact_a, exact_b = exact_line(x, y)
    allowed = allowed_error(x, y, exact_a, exact_b)
    result, _ = fit(x, y, TrainConfig())
    assert result.converged
    assert worst_prediction_error(x, result.a, result.b, exact_a, exact_b) <= allowed
    ols = least_squares(x, y)
    assert worst_prediction_error(x, ols.a, ols.b, exact_a, exact_b) <= allowed
    assert abs(ols.a - float(exact_a)) <= 8 * math.ulp(float(exact_a))


def test_an_exact_line_far_from_zero_predicts_y_exactly(invoke, tmp_path):
    """The issue's case: x ≈ 1e12 on an exact line; the saved model must predict y, not y + 100."""
    x = 1e12 + 1024.0 * np.arange(50.0)
    y = 3.0 * x + 7.0
    fitted = parse_json(invoke("train", write_csv(tmp_path / "far.csv", {"x": x, "y": y}), "-f", "json").stdout)
    assert fitted["converged"]
    assert np.max(np.abs(fitted["a"] * x + fitted["b"] - y)) <= 4 * (1e12 * math.ulp(3.0) + math.ulp(7.0)) + math.ulp(3e12)
    assert fitted["ols"] == {"a": 3.0, "b": 7.0}
    assert fitted["stats"]["r2"] == 1.0


def test_statistics_at_1e15_match_those_of_the_same_data_near_zero():
    rng = np.random.default_rng(3)
    steps = rng.integers(0, 400, 60).astype(float)
    y = 8.0 * 0.25 * steps + rng.normal(0, 1, steps.size)
    near, far = fit_stats(0.25 * steps, y, *lstsq(0.25 * steps, y)), None
    ols = least_squares(1e15 + 0.25 * steps, y)
    far = fit_stats(1e15 + 0.25 * steps, y, ols.a, ols.b)
    assert far.r2 == pytest.approx(near.r2, rel=1e-12)
    assert far.se_a == pytest.approx(near.se_a, rel=1e-9)
    assert far.residual_sd == pytest.approx(near.residual_sd, rel=1e-9)


def test_merged_moments_of_far_parts_equal_the_whole():
    rng = np.random.default_rng(4)
    x, y = offset_data(1e15, 1.0, rng)
    whole = least_squares(x, y)
    from linfit.reference import least_squares_from

    merged = least_squares_from(merge_moments([moments(x[i : i + 7], y[i : i + 7]) for i in range(0, x.size, 7)]))
    exact_a, exact_b = exact_line(x, y)
    assert worst_prediction_error(x, merged.a, merged.b, exact_a, exact_b) <= allowed_error(x, y, exact_a, exact_b)
    assert merged.a == pytest.approx(whole.a, rel=1e-13)


@pytest.mark.parametrize("scale", [1e-140, 1e-100, 1e100])
def test_tiny_and_huge_scales_are_exact(scale):
    rng = np.random.default_rng(5)
    x = scale * rng.uniform(1, 2, 30)
    y = 3.0 * x / scale + 1.0 + rng.normal(0, 0.1, 30)
    exact_a, exact_b = exact_line(x, y)
    result, _ = fit(x, y, TrainConfig())
    assert result.converged
    assert worst_prediction_error(x, result.a, result.b, exact_a, exact_b) <= allowed_error(x, y, exact_a, exact_b)


def test_values_whose_squares_underflow_are_named_not_called_constant(invoke, tmp_path):
    x = 1e-300 * np.arange(1.0, 21.0)
    result = invoke("train", write_csv(tmp_path / "tiny.csv", {"x": x, "y": np.arange(20.0)}))
    assert result.exit_code == 3
    assert "underflow" in result.stderr and "constant" not in result.stderr
    with pytest.raises(DataError, match="underflow"):
        moments(x, np.arange(20.0))


def test_the_default_run_carries_lstsq_grade_digits_and_says_so(invoke, sample_xy):
    fitted = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    x, y = sample_xy
    exact_a, exact_b = exact_line(x, y)
    for name, exact in (("a", exact_a), ("b", exact_b)):
        error = abs(Fraction(fitted[name]) - exact)
        assert float(error) <= fitted["error_bound"][name]  # the bound holds
        assert -math.log10(float(error / abs(exact)) or 1e-17) >= 14  # lstsq-grade
        assert fitted["digits"][name] >= 13.5  # what the table says (tests/golden/train.txt)


def generic(rng, n=200):
    x = rng.normal(5, 2, n)
    return x, 3 * x + 2 + rng.normal(0, 0.5, n)


@pytest.mark.parametrize("loss", ["half_mse", "mse", "half_sse"])
@pytest.mark.parametrize(("optimizer", "most_steps"), [("sgd", 25), ("momentum", 60), ("adam", 1000)])
def test_every_optimizer_converges_with_its_defaults(optimizer, most_steps, loss):
    # Adam is blind to the loss's scale and slow (hundreds of steps): one data set is enough for it
    for rng in (np.random.default_rng(7), np.random.default_rng(8))[: 1 if optimizer == "adam" else 2]:
        x, y = generic(rng)
        result, _ = fit(x, y, TrainConfig(optimizer=optimizer, loss=loss))
        assert result.converged and result.steps <= most_steps, (result.steps, result.lr)
        a, b = lstsq(x, y)
        assert abs(result.a - a) <= 1e-12 * abs(a) and abs(result.b - b) <= 1e-12 * abs(a * x.mean()) + 1e-12 * abs(b)


def test_momentum_defaults_converge_in_well_under_100_steps_from_far():
    x = np.random.default_rng(9).uniform(-1e3, 1e3, 100)
    y = -0.01 * x + 1e4 + np.random.default_rng(10).normal(0, 3, 100)
    result, _ = fit(x, y, TrainConfig(optimizer="momentum"))
    assert result.converged and result.steps < 60


def test_minibatch_sgd_lands_within_a_tenth_of_a_standard_error(invoke, tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(3, 2, 4000)
    y = 1.5 * x - 4 + rng.normal(0, 1, x.size)
    path = write_csv(tmp_path / "many.csv", {"x": x, "y": y})
    fitted = parse_json(invoke("train", path, "--batch-size", "64", "--seed", "3", "-f", "json").stdout)
    a, b = lstsq(x, y)
    assert fitted["converged"] and fitted["epochs"] <= 20
    assert abs(fitted["a"] - a) <= 0.1 * fitted["stats"]["se_a"]
    assert abs(fitted["b"] - b) <= 0.1 * fitted["stats"]["se_b"]
    assert fitted["error_vs_se"]["a"] <= 0.1 and fitted["error_vs_se"]["b"] <= 0.1
    again = parse_json(invoke("train", path, "--batch-size", "64", "--seed", "3", "-f", "json").stdout)
    assert (again["a"], again["b"]) == (fitted["a"], fitted["b"])  # seeded


@pytest.mark.parametrize("batch", ["50", "1000"])
def test_a_batch_of_every_row_is_full_batch_gradient_descent_with_a_note(invoke, batch):
    result = invoke("train", SAMPLE, "--batch-size", batch, "-f", "json")
    assert result.exit_code == 0 and "not less than the 50 rows" in result.stderr
    full = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    fitted = parse_json(result.stdout)
    assert fitted["converged"] and (fitted["a"], fitted["b"], fitted["steps"]) == (full["a"], full["b"], full["steps"])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_gradient_check_that_computes_a_non_finite_value_fails(bad):
    check = compare_gradients({"autograd": {"a": bad, "b": 1.0}, "by hand": {"a": bad, "b": 1.0}}, 1.0, 1e-6)
    assert not check.passed


def test_a_gradient_check_that_overflows_exits_6(invoke):
    assert invoke("grad", "--x", "1e200", "--y", "1", "--check").exit_code == 6
