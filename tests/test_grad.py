"""`linfit grad` and the gradient core, against the notebook's numbers and the hand-derived formula."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import parse_json
from linfit.gradient import point_gradient
from linfit.losses import LOSSES


def test_notebook_point_by_autograd_and_by_hand():
    result = point_gradient([1.4], [2.1])  # defaults a=1.0, b=0.5 as in the notebook
    assert result.prediction == pytest.approx((1.9,), abs=1e-15)
    assert result.loss == pytest.approx(0.02, abs=1e-15)
    assert result.grad_a == pytest.approx(-0.28, abs=1e-15)
    assert result.grad_b == pytest.approx(-0.2, abs=1e-15)
    assert result.hand_grad_a == pytest.approx(-0.28, abs=1e-15)
    assert result.hand_grad_b == pytest.approx(-0.2, abs=1e-15)


def test_notebook_point_in_float32_matches_the_notebook_printout():
    result = point_gradient([1.4], [2.1], dtype="float32")
    assert result.grad_a == pytest.approx(-0.2800, abs=5e-7)  # tensor(-0.2800) in the notebook
    assert result.grad_b == pytest.approx(-0.2000, abs=5e-7)


def test_notebook_computational_graph_value_and_partials():
    """s = 2·(x − y) + z with torch.sub/mul/add: s = 3, ds/dx = 2, ds/dy = −2, ds/dz = 1."""
    x, y, z = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 2.0, 5.0))
    s = torch.add(torch.mul(torch.sub(x, y), 2), z)
    s.backward()
    assert s.item() == 3.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (2.0, -2.0, 1.0)


def test_cli_table_shows_the_notebook_values(invoke):
    result = invoke("grad", "--x", "1.4", "--y", "2.1")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert lines["loss"][1] == "0.02"
    assert lines["dL/da"][1:3] == ["-0.28", "-0.28"]
    assert lines["dL/db"][1:3] == ["-0.2", "-0.2"]
    assert "1.9" in result.stdout and "½·mean" in result.stdout


def test_cli_json_keys_and_full_precision(invoke):
    result = invoke("grad", "--x", "1.4", "--y", "2.1", "--format", "json")
    assert result.exit_code == 0
    data = parse_json(result.stdout)
    for key in ("a", "b", "x", "y", "prediction", "loss", "grad_a", "grad_b"):
        assert key in data
    assert data["a"] == 1.0 and data["b"] == 0.5 and data["x"] == [1.4] and data["y"] == [2.1]
    # every digit: float64 arithmetic gives 0.5·(1.9 − 2.1)² exactly as Python computes it
    assert data["loss"] == 0.5 * (1.0 * 1.4 + 0.5 - 2.1) ** 2
    assert data["grad_a"] == (1.0 * 1.4 + 0.5 - 2.1) * 1.4


def test_cli_several_points_average(invoke):
    result = invoke("grad", "--x", "1", "--y", "3", "--x", "2", "--y", "5", "--a", "2", "--b", "0", "-f", "json")
    data = parse_json(result.stdout)
    # residuals: 2·1 − 3 = −1, 2·2 − 5 = −1 → L = ½·mean(1, 1) = 0.5, dL/da = mean(−1, −2) = −1.5, dL/db = −1
    assert (data["loss"], data["grad_a"], data["grad_b"]) == (0.5, -1.5, -1.0)


def test_cli_unpaired_values_are_a_usage_error(invoke):
    result = invoke("grad", "--x", "1", "--x", "2", "--y", "3")
    assert result.exit_code == 2
    assert "pairs" in result.stderr


finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(st.tuples(finite, finite), min_size=1, max_size=6),
    a=finite,
    b=finite,
    loss=st.sampled_from(sorted(LOSSES)),
)
def test_autograd_equals_the_hand_derived_gradient(points, a, b, loss):
    xs, ys = zip(*points)
    result = point_gradient(xs, ys, a=a, b=b, loss=loss)
    scale = 1 + max(abs(v) for v in (*xs, *ys, a, b)) ** 2 * len(xs)
    assert math.isclose(result.grad_a, result.hand_grad_a, rel_tol=1e-12, abs_tol=1e-12 * scale)
    assert math.isclose(result.grad_b, result.hand_grad_b, rel_tol=1e-12, abs_tol=1e-12 * scale)
    # and the loss itself against an independent sum in plain Python
    residuals = [a * x + b - y for x, y in points]
    expected = LOSSES[loss].scale * sum(r * r for r in residuals) / (len(points) if LOSSES[loss].reduction == "mean" else 1)
    assert math.isclose(result.loss, expected, rel_tol=1e-12, abs_tol=1e-12 * scale)
