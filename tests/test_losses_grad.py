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


def test_weighted_points_weigh_the_gradient():
    once = point_gradient([1.0, 2.0, 2.0, 5.0], [0.0, 4.0, 4.0, 1.0], loss="absolute")
    weighted = point_gradient([1.0, 2.0, 5.0], [0.0, 4.0, 1.0], loss="absolute", weights=[1.0, 2.0, 1.0])
    assert (weighted.grad_a, weighted.grad_b, weighted.loss) == pytest.approx((once.grad_a, once.grad_b, once.loss))


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
