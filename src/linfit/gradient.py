"""Gradients by autograd, checked by hand and by finite differences: `linfit grad` and `linfit graph`.

`point_gradient` evaluates the loss of a·x + b at a few points; `expression_gradient` any
allowed expression. Both run backward() and can read the recorded graph; the checks hold
autograd against the hand-derived formula and central differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from linfit.losses import LOSSES, PIECEWISE, loss_for
from linfit.model import DTYPES, leaf

GRAD_HUBER_DELTA = 1.0  # `grad --loss huber` without --huber-delta: δ = 1 (a handful of points give no robust scale)


@dataclass(frozen=True)
class PointGradient:
    a: float
    b: float
    x: tuple[float, ...]
    y: tuple[float, ...]
    prediction: tuple[float, ...]
    loss_name: str
    loss: float
    grad_a: float  # autograd
    grad_b: float
    hand_grad_a: float  # the derivative written by hand
    hand_grad_b: float
    graph: object = field(default=None, repr=False)  # graph.Node, when asked for
    kind: object = field(default=None, repr=False)  # the loss object (with its δ or τ)
    pieces: tuple[str, ...] = ()  # which piece of a piecewise loss each point is on
    weights: tuple[float, ...] | None = None


def point_gradient(
    x: Sequence[float],
    y: Sequence[float],
    a: float = 1.0,
    b: float = 0.5,
    loss: str = "half_mse",
    dtype: str = "float64",
    with_graph: bool = False,
    delta: float | None = None,
    tau: float | None = None,
    weights: Sequence[float] | None = None,
) -> PointGradient:
    """Build a, b as leaves, compute ŷ and the loss, call backward(), and compare with the hand formula.

    huber takes its δ (default GRAD_HUBER_DELTA), quantile its τ. `weights` weigh the points as train's weight
    column weighs rows: every loss is Σ wᵢ·ℓ(rᵢ)/Σ wᵢ (half_sse: ½·Σ wᵢ·rᵢ² with the weights scaled to mean 1 over
    the points with a positive weight, as train scales them)."""
    if len(x) != len(y) or not x:
        raise ValueError("x and y need the same, non-zero number of values")
    if weights is not None and (len(weights) != len(x) or any(not (w >= 0 and math.isfinite(w)) for w in weights) or not sum(weights) > 0):
        raise ValueError("weights: one finite, non-negative weight a point, not all 0")
    shown, weights = weights, unit_weights(weights)  # computed with the weights near 1 (exact: the loss does not change)
    piecewise = loss in PIECEWISE
    kind = loss_for(loss, delta=GRAD_HUBER_DELTA if delta is None else delta, tau=tau) if piecewise else LOSSES[loss]
    a_t, b_t = leaf(a, DTYPES[dtype]), leaf(b, DTYPES[dtype])
    x_t = torch.tensor(list(x), dtype=DTYPES[dtype])
    y_t = torch.tensor(list(y), dtype=DTYPES[dtype])
    w_t = None if weights is None else torch.tensor(list(weights), dtype=DTYPES[dtype])

    kept: list[torch.Tensor] = []
    keep = _keeper(kept) if with_graph else (lambda t: t)
    # forward: ŷ = a·x + b as the notebook writes it, then the loss; autograd records the graph (huber, absolute and
    # quantile through HuberLossBackward0, AbsBackward0 or MaximumBackward0)
    prediction = keep(torch.add(keep(torch.mul(a_t, x_t)), b_t))
    r_t = keep(prediction - y_t)
    if piecewise:
        value = keep(kind.of_residual(r_t, keep, w=w_t))
    else:
        value = keep(kind.of_residual(r_t, keep) if w_t is None else weighted_squared_loss(kind, r_t, w_t, keep))
    value.backward()  # backward: fills a_t.grad and b_t.grad

    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    x64 = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as inf, which --check then refuses
        residual = prediction.detach().to(torch.float64).numpy() - np.asarray(y, dtype=np.float64)
        if piecewise:  # ψ(r) by hand, with the piece each point is on
            hand_a, hand_b = kind.hand_gradient(residual, x64, w)
        else:
            hand_a, hand_b = kind.hand_gradient(residual, x64) if w is None else _weighted_hand_gradient(kind, residual, x64, w)
    return PointGradient(
        a=a,
        b=b,
        x=tuple(float(v) for v in x),
        y=tuple(float(v) for v in y),
        prediction=tuple(prediction.detach().tolist()),
        loss_name=loss,
        loss=float(value.item()),
        grad_a=float(a_t.grad.item()),
        grad_b=float(b_t.grad.item()),
        hand_grad_a=hand_a,
        hand_grad_b=hand_b,
        graph=_graph(value, a_t, b_t, kept) if with_graph else None,
        kind=kind,
        pieces=tuple(kind.piece(residual)) if piecewise else (),
        weights=None if shown is None else tuple(float(v) for v in shown),
    )


def unit_weights(weights) -> np.ndarray | None:
    """The weights times one power of two (exact), the largest brought into [0.5, 1): Σ w·ℓ/Σ w is the same, and
    neither Σ w (1e308 + 1e308) overflows nor w·r² (1e-300·1e-10) falls below float64's normal range. A scaling
    down stops where it would take the smallest positive weight below the normal range."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    positive = w[w > 0]
    if not positive.size:
        return w
    k = -int(np.frexp(positive.max())[1])
    smallest = int(np.frexp(positive.min())[1])
    return np.ldexp(w, max(k, -1021 - smallest) if k < 0 else k)


def weighted_squared_loss(kind, r, w, keep=lambda t: t):
    """A squared loss of weighted points, as train takes it: scale·Σ wᵢ·rᵢ²/Σ wᵢ for the means, and for half_sse
    scale·Σ w̃ᵢ·rᵢ² with w̃ = w·n/Σw (mean 1 over the n points with a positive weight). Torch or numpy."""
    total = keep(keep(w * keep(r**2)).sum())
    n = (w > 0).sum()
    return kind.scale * total / w.sum() * (n if kind.reduction == "sum" else 1)


def _weighted_hand_gradient(kind, r: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(dL/da, dL/db) of a weighted squared loss by hand: 2·scale·Σ wᵢ·rᵢ·xᵢ/Σ wᵢ and 2·scale·Σ wᵢ·rᵢ/Σ wᵢ (times n for half_sse)."""
    factor = 2.0 * kind.scale * (int(np.count_nonzero(w > 0)) if kind.reduction == "sum" else 1) / w.sum()
    return float(factor * np.sum(w * r * x)), float(factor * np.sum(w * r))


def _keeper(kept: list[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Retain each intermediate's gradient (not needed for dL/da, dL/db: only for the picture)."""

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        tensor.retain_grad()
        kept.append(tensor)
        return tensor

    return keep


def _graph(value, a_t, b_t, kept):
    from linfit.graph import read_graph

    return read_graph(value, {"a": a_t, "b": b_t}, kept)


def central_differences(f: Callable[[dict[str, float]], float], point: dict[str, float]) -> dict[str, float]:
    """∂f/∂v ≈ (f(v + h) − f(v − h)) / 2h for each variable, h ≈ ∛eps·max(1, |v|): a third oracle, no autograd."""
    gradient = {}
    for name, value in point.items():
        h = 6e-6 * max(1.0, abs(value))
        up, down = dict(point), dict(point)
        up[name], down[name] = value + h, value - h
        gradient[name] = (f(up) - f(down)) / ((value + h) - (value - h))
    return gradient


def _central(f, point: dict[str, float], fraction: float) -> dict[str, float]:
    """central_differences with the step times `fraction`."""
    gradient = {}
    for name, value in point.items():
        h = fraction * 6e-6 * max(1.0, abs(value))
        up, down = dict(point), dict(point)
        up[name], down[name] = value + h, value - h
        gradient[name] = (f(up) - f(down)) / ((value + h) - (value - h))
    return gradient


@dataclass(frozen=True)
class GradientCheck:
    """Autograd, the hand formula and finite differences side by side, and their largest disagreement."""

    gradients: dict[str, dict[str, float]]  # method → variable → derivative
    largest_difference: float
    tolerance: float
    allowed: float  # the tolerance applied, with finite differences' own rounding added
    value: float = math.nan  # the function's value at the point (the loss, or the expression)
    notes: tuple[str, ...] = ()  # e.g. that a point is on a kink, and how it was checked there

    @property
    def passed(self) -> bool:
        return math.isfinite(self.largest_difference) and self.largest_difference <= self.allowed

    @property
    def unchecked(self) -> str | None:
        """Why no comparison can be made, or None: a derivative that is not a finite number agrees with nothing,
        and is no disagreement either (sqrt(x) at x = 0: the value is 0, the slope infinite)."""
        methods = list(self.gradients)
        for method in methods:
            for name, g in self.gradients[method].items():
                if math.isfinite(g):
                    continue
                if method == methods[0]:
                    return (
                        f"∂/∂{name} is {g} by {method}: the derivative is infinite or beyond float64's range at this point "
                        f"(the value there is {self.value:g}), so finite differences cannot confirm it"
                    )
                return (
                    f"{method} give {g} for ∂/∂{name}: the function is not finite a small step either side of the point "
                    f"(the value there is {self.value:g}), so they cannot confirm {methods[0]}'s {self.gradients[methods[0]][name]:g}"
                )
        return None

    @property
    def verdict(self) -> str:
        """'agree', 'cannot check' (see `unchecked`) or 'DISAGREE'."""
        return "agree" if self.passed else "cannot check" if self.unchecked else "DISAGREE"


def compare_gradients(gradients: dict[str, dict[str, float]], value: float, tol: float) -> GradientCheck:
    """Largest |g − g'| over every pair of methods and every variable; allowed: tol·max(1, |g|) plus FD rounding."""
    methods = list(gradients)
    variables = list(gradients[methods[0]])
    largest, allowed = 0.0, float("inf")
    for name in variables:
        column = [gradients[m][name] for m in methods]
        # a NaN or infinity agrees with nothing (NaN − NaN would compare as no disagreement at all)
        spread = max(column) - min(column) if all(map(math.isfinite, column)) else math.inf
        scale = max([1.0, *(abs(g) for g in column if math.isfinite(g))])
        largest = max(largest, spread)
        allowed = min(allowed, tol * scale + 1e-9 * max(1.0, abs(value) if math.isfinite(value) else 1.0))
    return GradientCheck(gradients, largest, tol, allowed, value)


def check_point_gradient(result: PointGradient, tol: float = 1e-6) -> GradientCheck:
    """`linfit grad --check`: autograd vs hand formula vs central differences of the loss in float64."""
    if result.loss_name in PIECEWISE:
        return _check_piecewise(result, tol)
    kind = LOSSES[result.loss_name]
    x = np.asarray(result.x, dtype=np.float64)
    y = np.asarray(result.y, dtype=np.float64)
    w = unit_weights(result.weights)

    def loss_at(p: dict[str, float]) -> float:
        r = p["a"] * x + p["b"] - y
        return float(kind.of_residual(r) if w is None else weighted_squared_loss(kind, r, w))

    with np.errstate(over="ignore", invalid="ignore"):
        numeric = central_differences(loss_at, {"a": result.a, "b": result.b})
    gradients = {
        "autograd": {"a": result.grad_a, "b": result.grad_b},
        "by hand": {"a": result.hand_grad_a, "b": result.hand_grad_b},
        "finite differences": numeric,
    }
    return compare_gradients(gradients, result.loss, tol)


def _check_piecewise(result: PointGradient, tol: float) -> GradientCheck:
    """Away from kinks, as for the squared losses. With a point on a kink (r = 0 for absolute and
    quantile) L has no derivative there: each one-sided derivative by hand (the kink's points contribute
    the ends of their subdifferential) is checked against one-sided differences, and autograd's value
    must lie between them (it takes a subgradient: the middle of the kink's)."""
    kind = result.kind
    x, y = np.asarray(result.x, dtype=np.float64), np.asarray(result.y, dtype=np.float64)
    w = unit_weights(result.weights)
    r = result.a * x + result.b - y

    def loss_at(p: dict[str, float]) -> float:
        return float(kind.of_residual(p["a"] * x + p["b"] - y, w=w))

    point = {"a": result.a, "b": result.b}
    on_kink = not kind.smooth and bool(np.any(r == 0))
    if not on_kink:
        crease = kind.smooth and bool(np.any(np.abs(r) == kind.delta))
        with np.errstate(over="ignore", invalid="ignore"):
            numeric = central_differences(loss_at, point)
            if crease:  # the curvature jumps here: a central difference is off by c·h, so extrapolate h → 0 (Richardson)
                half = _central(loss_at, point, 0.5)
                numeric = {v: 2 * half[v] - numeric[v] for v in point}
        gradients = {
            "autograd": {"a": result.grad_a, "b": result.grad_b},
            "by hand": {"a": result.hand_grad_a, "b": result.hand_grad_b},
            "finite differences": numeric,
        }
        check = compare_gradients(gradients, result.loss, tol)
        if crease:
            on = [str(i + 1) for i in np.flatnonzero(np.abs(r) == kind.delta)]
            note = f"crease: point(s) {', '.join(on)} at |r| = δ, where ½r² meets the linear piece: the gradient is continuous there, its curvature jumps"
            check = GradientCheck(
                check.gradients,
                check.largest_difference,
                check.tolerance,
                check.allowed,
                result.loss,
                (note + " (differences extrapolated to h → 0).",),
            )
        return check
    sides = kind.one_sided(r, x, w)
    left, right = {}, {}
    for name, value in point.items():
        h = 6e-6 * max(1.0, abs(value))
        up, down = dict(point), dict(point)
        up[name], down[name] = value + h, value - h
        right[name] = (loss_at(up) - result.loss) / ((value + h) - value)
        left[name] = (result.loss - loss_at(down)) / (value - (value - h))
    gradients = {
        "autograd (a subgradient)": {"a": result.grad_a, "b": result.grad_b},
        "by hand, left": {v: sides[v][0] for v in point},
        "differences, left": left,
        "by hand, right": {v: sides[v][1] for v in point},
        "differences, right": right,
    }
    largest, allowed = 0.0, math.inf
    autograd = gradients["autograd (a subgradient)"]
    for v in point:
        low, high = sides[v]
        scale = max(1.0, abs(low), abs(high))
        largest = max(largest, abs(left[v] - low), abs(right[v] - high), low - autograd[v], autograd[v] - high)
        allowed = min(allowed, tol * scale + 1e-9 * max(1.0, abs(result.loss)))
    kinked = [str(i + 1) for i in np.flatnonzero(r == 0)]
    notes = (
        f"kink: point{'s' if len(kinked) > 1 else ''} {', '.join(kinked)} lie{'' if len(kinked) > 1 else 's'} on the line (r = 0), "
        "where the loss has no derivative; each one-sided derivative is checked, and autograd's value lies between them.",
    )
    return GradientCheck(gradients, largest, tol, allowed, result.loss, notes)


def explain(result: PointGradient, lr: float | None = None) -> list[str]:
    """The worked step, numbers substituted: ŷ, r, L, dL/da, dL/db, and with lr the update."""
    if result.loss_name in PIECEWISE:
        return _explain_piecewise(result, lr)
    kind = LOSSES[result.loss_name]
    n = len(result.x)
    f = _short
    if result.weights is not None:
        residuals = [p - y for p, y in zip(result.prediction, result.y)]
        over = "Σ wᵢ·{0}" + (" · n/Σ wᵢ" if kind.reduction == "sum" else " / Σ wᵢ")  # half_sse: w scaled to mean 1 over n
        factor = f"{kind.gradient_factor:g}·" if kind.gradient_factor != 1 else ""
        lines = [
            "ŷ = a·x + b = " + ", ".join(f(p) for p in result.prediction),
            "r = ŷ − y = " + ", ".join(f(r) for r in residuals),
            "w = " + ", ".join(f(w) for w in result.weights) + f" (n = {sum(w > 0 for w in result.weights)} with a positive weight)",
            f"L = {kind.scale_text}{over.format('rᵢ²')} = {f(result.loss)}",
            f"dL/da = {factor}{over.format('rᵢ·xᵢ')} = {f(result.grad_a)}",
            f"dL/db = {factor}{over.format('rᵢ')} = {f(result.grad_b)}",
        ]
    elif n == 1:
        (x,), (y,), (p,) = result.x, result.y, result.prediction
        r = p - y
        lines = [
            f"ŷ = a·x + b = {f(result.a)}·{f(x)} + {f(result.b)} = {f(p)}",
            f"r = ŷ − y = {f(p)} − {f(y)} = {f(r)}",
            f"L = {kind.value_text(1)} = {kind.value_text(1, f'({f(r)})')} = {f(result.loss)}",
            f"dL/da = {kind.derivative_text('r·x', 1)} = {kind.derivative_text(f'{f(r)}·{f(x)}', 1)} = {f(result.grad_a)}",
            f"dL/db = {kind.derivative_text('r', 1)} = {f(result.grad_b)}",
        ]
    else:
        residuals = [p - y for p, y in zip(result.prediction, result.y)]
        lines = [
            "ŷ = a·x + b = " + ", ".join(f(p) for p in result.prediction),
            "r = ŷ − y = " + ", ".join(f(r) for r in residuals),
            f"L = {kind.scale_text}{kind.over('r²', n)} = {f(result.loss)}",
            f"dL/da = {kind.derivative_text('r·x', n)} = {f(result.grad_a)}",
            f"dL/db = {kind.derivative_text('r', n)} = {f(result.grad_b)}",
        ]
    if lr is not None:
        a_next = result.a - lr * result.grad_a
        b_next = result.b - lr * result.grad_b
        lines += [
            f"a ← a − lr·dL/da = {f(result.a)} − {f(lr)}·({f(result.grad_a)}) = {f(a_next)}",
            f"b ← b − lr·dL/db = {f(result.b)} − {f(lr)}·({f(result.grad_b)}) = {f(b_next)}",
        ]
    return lines


def _explain_piecewise(result: PointGradient, lr: float | None) -> list[str]:
    """The worked step of a piecewise loss: r, the piece of each point, ψ(r), L and the gradient."""
    kind, f = result.kind, _short
    residuals = [p - y for p, y in zip(result.prediction, result.y)]
    psi = kind.psi(np.asarray(residuals, dtype=np.float64))
    mean = "Σ wᵢ·{0} / Σ wᵢ" if result.weights is not None else ("{0}" if len(residuals) == 1 else "mean({0})")
    lines = [
        f"loss: ℓ(r) = {kind.piece_text}",
        "ŷ = a·x + b = " + ", ".join(f(p) for p in result.prediction),
        "r = ŷ − y = " + ", ".join(f(r) for r in residuals),
        "piece: " + "; ".join(result.pieces),
        f"ψ(r) = dℓ/dr = {kind.derivative_text('r', 1)} = " + ", ".join(f(v) for v in psi),
        f"L = {mean.format('ℓ(r)')} = {f(result.loss)}",
        f"dL/da = {mean.format('ψ(r)·x')} = {f(result.grad_a)}",
        f"dL/db = {mean.format('ψ(r)')} = {f(result.grad_b)}",
    ]
    if not kind.smooth and 0.0 in residuals:
        low, high = kind.psi_sides()
        lines.append(
            f"at r = 0 (a kink) ψ may be anything in [{f(low)}, {f(high)}]; autograd and the hand formula take {f(0.5 * (low + high))}"
        )
    if lr is not None:
        lines += [
            f"a ← a − lr·dL/da = {f(result.a)} − {f(lr)}·({f(result.grad_a)}) = {f(result.a - lr * result.grad_a)}",
            f"b ← b − lr·dL/db = {f(result.b)} − {f(lr)}·({f(result.grad_b)}) = {f(result.b - lr * result.grad_b)}",
        ]
    return lines


@dataclass(frozen=True)
class ExpressionGradient:
    """An expression's value at a point and every partial derivative autograd found, with the recorded graph."""

    expression: str
    values: dict[str, float]  # the point: variable → value
    value: float
    partials: dict[str, float]  # variable → ∂s/∂variable
    graph: object = field(repr=False)  # graph.Node


def expression_gradient(expression: str, values: dict[str, float]) -> ExpressionGradient:
    """Build the expression from torch operations on leaves that require grad, call backward(), read the graph."""
    from linfit.expression import evaluate
    from linfit.graph import read_graph

    evaluation = evaluate(expression, values)
    evaluation.output.backward()  # backward: every leaf's .grad is now ∂s/∂leaf
    node = read_graph(evaluation.output, evaluation.leaves, evaluation.intermediates)
    partials = {name: float(t.grad) if t.grad is not None else 0.0 for name, t in evaluation.leaves.items()}
    return ExpressionGradient(expression, dict(values), float(evaluation.output.detach()), partials, node)


def check_expression_gradient(result: ExpressionGradient, tol: float = 1e-6) -> GradientCheck:
    """`linfit graph --check`: autograd vs central differences of the expression, evaluated without a graph."""
    from linfit.expression import value_at

    def at(point: dict[str, float]) -> float:
        return value_at(result.expression, point)  # nan where a step leaves the domain: the check says so

    gradients = {"autograd": result.partials, "finite differences": central_differences(at, result.values)}
    return compare_gradients(gradients, result.value, tol)


def _short(value: float) -> str:
    return f"{value:.6g}"
