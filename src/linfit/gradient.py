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

from linfit.losses import LOSSES
from linfit.model import DTYPES, leaf


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


def point_gradient(
    x: Sequence[float],
    y: Sequence[float],
    a: float = 1.0,
    b: float = 0.5,
    loss: str = "half_mse",
    dtype: str = "float64",
    with_graph: bool = False,
) -> PointGradient:
    """Build a, b as leaves, compute ŷ and the loss, call backward(), and compare with the hand formula."""
    if len(x) != len(y) or not x:
        raise ValueError("x and y need the same, non-zero number of values")
    kind = LOSSES[loss]
    a_t, b_t = leaf(a, DTYPES[dtype]), leaf(b, DTYPES[dtype])
    x_t = torch.tensor(list(x), dtype=DTYPES[dtype])
    y_t = torch.tensor(list(y), dtype=DTYPES[dtype])

    kept: list[torch.Tensor] = []
    keep = _keeper(kept) if with_graph else (lambda t: t)
    # forward: ŷ = a·x + b as the notebook writes it, then the loss; autograd records the graph
    prediction = keep(torch.add(keep(torch.mul(a_t, x_t)), b_t))
    value = keep(kind.of_residual(keep(prediction - y_t), keep))
    value.backward()  # backward: fills a_t.grad and b_t.grad

    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as inf, which --check then refuses
        residual = prediction.detach().to(torch.float64).numpy() - np.asarray(y, dtype=np.float64)
        hand_a, hand_b = kind.hand_gradient(residual, np.asarray(x, dtype=np.float64))
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
    )


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


@dataclass(frozen=True)
class GradientCheck:
    """Autograd, the hand formula and finite differences side by side, and their largest disagreement."""

    gradients: dict[str, dict[str, float]]  # method → variable → derivative
    largest_difference: float
    tolerance: float
    allowed: float  # the tolerance applied, with finite differences' own rounding added
    value: float = math.nan  # the function's value at the point (the loss, or the expression)

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
    kind = LOSSES[result.loss_name]
    x = np.asarray(result.x, dtype=np.float64)
    y = np.asarray(result.y, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        numeric = central_differences(lambda p: float(kind.of_residual(p["a"] * x + p["b"] - y)), {"a": result.a, "b": result.b})
    gradients = {
        "autograd": {"a": result.grad_a, "b": result.grad_b},
        "by hand": {"a": result.hand_grad_a, "b": result.hand_grad_b},
        "finite differences": numeric,
    }
    return compare_gradients(gradients, result.loss, tol)


def explain(result: PointGradient, lr: float | None = None) -> list[str]:
    """The worked step, numbers substituted: ŷ, r, L, dL/da, dL/db, and with lr the update."""
    kind = LOSSES[result.loss_name]
    n = len(result.x)
    f = _short
    if n == 1:
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
