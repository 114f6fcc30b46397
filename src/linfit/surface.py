"""The loss surface of a run, in training coordinates: its Hessian, the Newton estimate of the distance to
the optimum, the stable learning rates, and the advice that makes a diverging run converge.

The loss is quadratic in (α, β), so everything here follows from the data's moments: the Hessian is
c·[[E x_t², E x_t], [E x_t, 1]] (c the loss's curvature factor), the Newton step H⁻¹·∇L is the exact
distance to the optimum, plain gradient descent is stable below 2/λ_max and heavy-ball momentum μ below
2(1 + μ)/λ_max.

Advice is data: the configuration keys to change ({"lr": 0.2}, {"standardize": True}, None meaning back
to the default) and why. The shell renders it as flags (`--lr 0.2`), `linfit.fit` as keywords. Every
piece of advice, followed, converges; where no setting helps, there is none (`changes` is empty).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from linfit.frame import Frame
from linfit.reference import Moments

FLOOR_ULPS = 4  # the rounding floor of the stopping rule, in units of the dtype's epsilon
MOST_ADVISED_STEPS = 100_000  # divergence advice past this many steps says: standardise instead


@dataclass(frozen=True)
class Advice:
    """Configuration changes that make a run converge ({key: value}; None: back to the default), and why.

    `changes` is empty when no setting helps: the reason says what to do with the data instead."""

    why: str
    changes: dict = field(default_factory=dict)


class Surface:
    """The quadratic loss over (α, β) of one data set in one frame, for one loss and dtype."""

    def __init__(self, m: Moments, frame: Frame, standardize: bool, curvature: float, eps: float) -> None:
        self.curvature, self.eps = curvature, eps
        mean_x, mean_xx, y_rms = _training_moments(m, standardize, frame)
        self.hessian = curvature * np.array([[mean_xx, mean_x], [mean_x, 1.0]])
        self.hessian_inverse = np.linalg.pinv(self.hessian)
        self.eigenvalues = np.linalg.eigvalsh(self.hessian)  # ascending
        self.x_rms, self.y_rms = math.sqrt(mean_xx), y_rms
        self.x_sd = math.sqrt(max(mean_xx - mean_x * mean_x, 0.0))  # of x_t
        self.y_spread = math.sqrt(m.syy / m.n) if m.n and m.syy > 0 else (abs(m.y_mean) or 1.0)
        self.frame = frame
        # one row, or x constant: the data determine no unique line, and the surface has a flat valley
        self.singular = m.n < 2 or m.sxx <= 0

    def rounding_floor(self, alpha: float, beta: float) -> float:
        """The error of the predictions (in y units) below which rounding, not the optimiser, decides.

        Each residual β + α·x_t − y_t is formed to about eps·(|α|·|x_t| + |β| + |y_t|).
        """
        return FLOOR_ULPS * self.eps * (abs(alpha) * self.x_rms + abs(beta) + self.y_rms)

    def prediction_error(self, grad_alpha: float, grad_beta: float) -> tuple[float, float, float]:
        """The Newton step e = H⁻¹·∇L (the exact distance to the optimum: the loss is quadratic), and the
        root-mean-square error of the predictions it means over the data, √(eᵀ·H·e / c) = √(e·∇L / c)."""
        gradient = np.array([grad_alpha, grad_beta])
        error = self.hessian_inverse @ gradient
        return float(error[0]), float(error[1]), math.sqrt(abs(float(error @ gradient)) / self.curvature)

    def error_bounds(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float) -> tuple[float, float]:
        """How far a and b may be from the exact least-squares line: the Newton step plus the rounding floor
        (spread over x as a slope and an intercept) plus the rounding of a and b themselves."""
        e_alpha, e_beta, _ = self.prediction_error(grad_alpha, grad_beta)
        floor = self.rounding_floor(alpha, beta)
        if not (math.isfinite(e_alpha) and math.isfinite(e_beta)) or self.x_sd == 0:
            return math.inf, math.inf
        d_alpha = abs(e_alpha) + floor / self.x_sd
        d_beta = abs(e_beta) + floor * (1 + abs(self.hessian[0, 1] / self.curvature) / self.x_sd)
        frame = self.frame
        a, b = frame.to_data(alpha, beta)
        bound_a = d_alpha / frame.x_scale + _ulp(a) / 2
        bound_b = d_beta + d_alpha * abs(frame.x_shift) / frame.x_scale + _ulp(b) / 2
        return bound_a, bound_b

    def converged(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float, target: float) -> bool:
        """Is the error of the predictions over the data (by the Newton estimate) within `target`, or below the rounding floor?"""
        if not (math.isfinite(grad_alpha) and math.isfinite(grad_beta)):
            return False
        *_, error = self.prediction_error(grad_alpha, grad_beta)
        return error <= target + self.rounding_floor(alpha, beta)

    def largest_stable_lr(self, optimizer: str = "sgd", momentum: float = 0.0) -> float:
        """2/λ_max for plain gradient descent, 2(1 + μ)/λ_max for heavy-ball momentum μ (torch's SGD with momentum)."""
        bound = 2.0 / float(self.eigenvalues[-1])
        return bound * (1.0 + momentum) if optimizer == "momentum" else bound

    def stable_text(self, optimizer: str, momentum: float) -> str:
        """The stable limit of this optimizer, in words, or '' for Adam (whose step is a length, with no such bound)."""
        if optimizer == "adam":
            return ""
        stable = self.largest_stable_lr(optimizer, momentum)
        if optimizer == "momentum":
            return f"the largest stable lr for momentum μ = {momentum:g} is {stable:.3g} (2(1 + μ)/λ_max of the loss's Hessian)"
        return f"the largest stable lr for plain gradient descent is {stable:.3g} (2/λ_max of the loss's Hessian)"

    def condition_number(self) -> float:
        low, high = self.eigenvalues
        return float(high / low) if low > 0 else math.inf

    def plain_schedule(self, first, tol: float) -> tuple[float, int]:
        """An lr for plain gradient descent (1/λ_max, rounded down) and the steps it needs to converge:
        the error along the flattest direction that counts shrinks by 1 − lr·λ a step, from the start's
        error (by the Newton estimate at step 1) down to the stopping rule's target. Along a flat valley
        (one row, constant x) the gradient has no component: only the steep direction counts."""
        low, high = self.eigenvalues
        lr = float(round_down(1.0 / high))
        slowest = high if self.singular else low
        _, grad_alpha, grad_beta, alpha, beta = first
        e_alpha, e_beta, start_error = self.prediction_error(grad_alpha, grad_beta)
        target = tol * self.y_spread + self.rounding_floor(alpha - e_alpha, beta - e_beta)
        ratio = max(start_error / target, 10.0) if math.isfinite(start_error) else 1e20
        shrink = lr * slowest  # the error along that direction is multiplied by 1 − shrink each step
        steps = math.log(ratio) / -math.log1p(-shrink) if shrink < 1 else 1.0
        return lr, round_up(1.25 * steps + 20)


def divergence_advice(surface: Surface, config, lr: float, default_lr: float, first, minibatch: bool) -> Advice:
    """The changes that make a diverging run converge, and why (see Advice).

    On standardised x the default lr suits any data, so a given lr is dropped. On raw x, plain full-batch
    gradient descent gets the lr and steps it needs when they are not too many; otherwise x is standardised
    — unless the data determine no line (one row, constant x), where standardising is refused: then plain
    gradient descent at a stable lr finds one of the lines that fit."""
    stable = surface.stable_text(config.optimizer, config.momentum)
    stable = stable[:1].upper() + stable[1:] + "." if stable else ""
    if config.standardize or (minibatch and config.lr is not None):
        if config.lr is not None:
            return Advice(f"{stable} On standardised x the default ({default_lr:.3g}) suits any data.".strip(), {"lr": None})
        return Advice("A smaller lr is stable.", {"lr": float(round_down(lr / 4))})
    if surface.singular or (config.optimizer == "sgd" and not minibatch):
        plain_lr, steps = surface.plain_schedule(first, config.tol)
        changes = {"optimizer": "sgd"} if config.optimizer != "sgd" else {}
        changes["lr"] = plain_lr
        if steps > config.steps:
            changes["steps"] = steps
        if surface.singular:
            return Advice(
                f"{stable} The data determine no unique line (one row, or x constant), so x cannot be standardised; "
                f"plain gradient descent at lr {plain_lr:g} finds a line that fits them.".strip(),
                changes,
            )
        if steps <= MOST_ADVISED_STEPS:
            return Advice(
                f"On raw x {stable[:1].lower() + stable[1:-1]}; at lr {plain_lr:g} it needs about {steps:,} steps "
                f"(condition number {surface.condition_number():,.0f}), or drop --no-standardize to converge in a dozen.",
                changes,
            )
    return Advice(
        f"On raw x the loss surface has condition number {surface.condition_number():,.3g}: standardising x makes it 1. {stable}".strip(),
        {"standardize": True, "lr": None},
    )


def start_advice(surface: Surface, start, start_given: bool, config, largest: float) -> Advice:
    """When the loss is already non-finite at the starting point, no lr helps: start nearer the data (the
    default point, or a = b = 0, where the loss is y's mean square), or train in float64 (`largest` is the
    dtype's largest number); where even that overflows, no setting helps and `changes` is empty."""
    where = f"The loss at the starting point (a = {start.a:.3g}, b = {start.b:.3g}) is not finite in {config.dtype}, whatever the lr"
    if start_given:
        return Advice(f"{where}: the model given to --init-from is far from this data; drop --init-from.", {"init_from": None})
    fields = type(config).model_fields
    given = {key: None for key in ("init", "init_a", "init_b") if getattr(config, key) != fields[key].default}
    if given:
        return Advice(f"{where}: start nearer the data, from the default starting point.", given)
    at_zero = surface.curvature * surface.y_rms**2  # twice the loss at α = β = 0, and some room
    if config.init != "zeros" and 16 * at_zero < largest:
        return Advice(f"{where}: start from a = b = 0, where the loss is y's mean square.", {"init": "zeros"})
    if config.dtype != "float64" and 16 * at_zero < 1.7e308:
        return Advice(f"{where}: the data's scale overflows {config.dtype}; float64 holds it.", {"dtype": "float64", "init": "zeros"})
    return Advice(f"{where}: y's scale overflows {config.dtype}; rescale y (multiply it by a power of ten) and scale the line back.")


def _training_moments(m: Moments, standardize: bool, frame: Frame) -> tuple[float, float, float]:
    """E x_t, E x_t² and the root mean square of y_t, over the data in training coordinates."""
    if standardize:  # x_t = (x − x̄₀)/σ: its mean is what the rounding of x̄ to x̄₀ left, x_low/σ
        mean_x = m.x_low / frame.x_scale
        return mean_x, 1.0 + mean_x * mean_x, math.sqrt(m.syy / m.n + m.y_low**2)
    x_mean, y_mean = m.x_mean + m.x_low, m.y_mean + m.y_low
    return x_mean, m.sxx / m.n + x_mean**2, math.sqrt(m.syy / m.n + y_mean**2)


def round_down(value: float) -> str:
    """A friendly learning rate at or below value: one significant digit."""
    exponent = math.floor(math.log10(value))
    return f"{math.floor(value / 10**exponent) * 10**exponent:.{max(0, -exponent)}f}"


def round_up(value: float) -> int:
    """A round number of steps at or above value: two significant digits."""
    exponent = max(0, math.floor(math.log10(max(value, 1.0))) - 1)
    return int(math.ceil(value / 10**exponent) * 10**exponent)


def _ulp(value: float) -> float:
    return math.ulp(value) if math.isfinite(value) else math.inf
