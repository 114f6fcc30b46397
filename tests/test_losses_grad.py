"""`linfit grad` for the piecewise losses: autograd beside ψ(r) by hand and the piece each point is on;
--check at a kink checks both one-sided derivatives against one-sided differences and says it is a kink."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linfit.gradient import check_point_gradient, point_gradient
from linfit.losses import loss_for


@pytest.mark.parametrize("loss", ["huber", "absolute", "quantile"])
def test_autograd_equals_hand_and_finite_differences_away_from_kinks(loss):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=7).tolist(), rng.normal(size=7).tolist()
    result = point_gradient(x, y, a=0.3, b=-0.2, loss=loss, delta=0.4, tau=0.8)
    check = check_point_gradient(result, 1e-7)
    assert check.passed and not check.notes
    assert result.grad_a == pytest.approx(result.hand_grad_a, abs=1e-15)
    # a hand-written oracle: for the pinball, dL/db = mean(1 − τ above, −τ below)
    if loss == "quantile":
        r = 0.3 * np.array(x) - 0.2 - np.array(y)
        assert result.grad_b == pytest.approx(np.mean(np.where(r > 0, 0.2, -0.8)), abs=1e-15)


@pytest.mark.parametrize("loss", ["half_mse", "mse", "half_sse", "huber", "absolute", "quantile"])
def test_weighted_points_weigh_the_gradient(loss):
    """Integer weights are repeated points: every loss and its gradient as over the points repeated (half_sse, whose
    weights are scaled to mean 1 over the n points with a positive weight, times n/Σw); a zero weight drops its
    point; autograd, the hand formula and finite differences (one-sided at the kink of point 2) agree."""
    x, y, w = [1.0, 2.0, 5.0, 3.0], [0.0, 2.5, 1.0, 7.0], [1.0, 2.0, 3.0, 0.0]
    once = point_gradient([1.0, 2.0, 2.0, 5.0, 5.0, 5.0], [0.0, 2.5, 2.5, 1.0, 1.0, 1.0], loss=loss, tau=0.3)
    weighted = point_gradient(x, y, loss=loss, weights=w, tau=0.3)
    scale = 3 / 6 if loss == "half_sse" else 1.0
    assert (weighted.grad_a, weighted.grad_b, weighted.loss) == pytest.approx((once.grad_a * scale, once.grad_b * scale, once.loss * scale))
    assert (weighted.hand_grad_a, weighted.hand_grad_b) == pytest.approx((weighted.grad_a, weighted.grad_b), rel=1e-14)
    check = check_point_gradient(weighted, 1e-7)
    assert check.passed and bool(check.notes) == (loss in ("absolute", "quantile"))  # r = 0 at (2, 2.5): a kink
    bent = point_gradient(x, y, loss=loss, weights=[1.0, 2.0, 3.5, 0.0], tau=0.3)  # another weight: another gradient
    assert bent.grad_a != pytest.approx(weighted.grad_a)
    for factor in (1e308 / 3, 1e-320):  # a common factor changes nothing: Σw does not overflow, nor w·r² fall subnormal
        far = point_gradient(x, y, loss=loss, weights=[v * factor for v in w], tau=0.3)
        assert (far.loss, far.grad_a, far.grad_b) == pytest.approx((weighted.loss, weighted.grad_a, weighted.grad_b), rel=1e-14)
        assert check_point_gradient(far, 1e-7).passed and far.weights == tuple(v * factor for v in w), factor


def test_grad_takes_a_weight_a_point_and_names_them(invoke):
    args = ["grad", "--x", "1", "--y", "0", "--x", "2", "--y", "4.5", "--w", "1", "--w", "3"]
    out = json.loads(invoke(*args, "--check", "-f", "json").stdout)
    e = np.array([1.5, -2.0])  # a·x + b − y at a = 1, b = 0.5
    assert out["w"] == [1.0, 3.0] and out["check"]["passed"]
    assert (out["loss"], out["grad_a"], out["grad_b"]) == pytest.approx(
        (np.sum([1, 3] * e**2) / 8, np.sum([1, 6] * e) / 4, np.sum([1, 3] * e) / 4)
    )
    assert invoke(*args, "-f", "csv").stdout.splitlines()[0] == "x,y,w,prediction,loss,grad_a,grad_b"
    assert "(x, y, w) = (1, 0, 1), (2, 4.5, 3)" in invoke(*args, env={"COLUMNS": "200"}).stdout
    assert "w = 1, 3" in invoke(*args, "--explain").stdout
    for bad, words in ((["-1", "1"], ">= 0"), (["nan", "1"], "finite"), (["1"], "1 --w for 2 points"), (["0", "0"], "every weight is 0")):
        result = invoke("grad", "--x", "1", "--y", "0", "--x", "2", "--y", "4.5", *[f for v in bad for f in ("--w", v)])
        assert result.exit_code == 2 and "--w" in result.stderr and words in result.stderr, (bad, result.stderr)


def test_check_at_a_kink_says_so_and_does_not_disagree(invoke):
    # (1, 1.5) is on the line 1·x + 0.5: r = 0, the kink of |r|
    result = invoke("grad", "--x", "1", "--x", "3", "--y", "1.5", "--y", "9", "--loss", "absolute", "--check", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    check = out["check"]
    assert check["passed"] and "kink" in check["notes"][0]
    assert out["pieces"][0] == "kink (r = 0)"
    left, right = check["gradients"]["by hand, left"], check["gradients"]["by hand, right"]
    # by hand: the kink's point adds −1·x on the left, +1·x on the right; the other point (r < 0) adds −x
    assert (left["a"], right["a"]) == pytest.approx(((-1 - 3) / 2, (1 - 3) / 2))
    assert left["a"] <= out["grad_a"] <= right["a"]


def test_a_wrong_one_sided_derivative_is_caught():
    """The kink check can fail: a hand formula that forgets the kink's subdifferential disagrees."""
    result = point_gradient([1.0, 3.0], [1.5, 9.0], loss="absolute")
    check = check_point_gradient(result)
    broken = dict(check.gradients)
    broken["by hand, left"] = {"a": result.grad_a, "b": result.grad_b}  # autograd's subgradient is no one-sided derivative
    from linfit.gradient import compare_gradients

    assert not compare_gradients({k: broken[k] for k in ("by hand, left", "differences, left")}, result.loss, 1e-6).passed


def test_huber_on_the_crease_is_checked_by_extrapolated_differences(invoke):
    result = invoke("grad", "--x", "2", "--y", "2", "--loss", "huber", "--huber-delta", "0.5", "--check", "--explain")
    assert result.exit_code == 0, result.output
    assert "crease" in result.stdout and "agree" in result.stdout and "on ±δ" in result.stdout


def test_graph_shows_the_non_smooth_nodes(invoke):
    for loss, node in (("huber", "HuberLossBackward0"), ("absolute", "AbsBackward0"), ("quantile", "MaximumBackward0")):
        result = invoke("grad", "--x", "1", "--y", "3", "--loss", loss, "--format", "dot")
        assert result.exit_code == 0 and node in result.stdout


def test_bad_tau_and_delta_are_usage_errors(invoke):
    assert invoke("grad", "--x", "1", "--y", "3", "--loss", "quantile", "--quantile", "1").exit_code == 2
    assert invoke("grad", "--x", "1", "--y", "3", "--loss", "huber", "--huber-delta", "0").exit_code == 2


def test_one_sided_hand_derivatives_match_the_loss_exactly():
    loss = loss_for("quantile", tau=0.25)
    x = np.array([1.0, -2.0, 4.0])
    r = np.array([0.0, 0.0, 1.0])
    sides = loss.one_sided(r, x)
    # point 1 (x = 1): left −τ·1, right (1 − τ)·1; point 2 (x = −2): left (1 − τ)·(−2), right −τ·(−2); point 3: (1 − τ)·4
    assert sides["a"] == pytest.approx(((-0.25 - 1.5 + 3.0) / 3, (0.75 + 0.5 + 3.0) / 3))
