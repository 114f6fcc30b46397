"""The losses, each one line of maths over the residual r = a·x + b − y.

    half_mse  L = ½·mean(r²)   the default; for one point it is the notebook's ½(ŷ − y)²
    mse       L = mean(r²)     as torch.nn.MSELoss
    half_sse  L = ½·Σ r²       the notebook's 𝓛 over N points

All three are c·(a quadratic with Hessian [[E x², E x], [E x, 1]]), with c the
`curvature` below: the step size that is stable depends on it.

Everything about a loss lives here: its formula text, reduction, scale, curvature, hand gradient,
and the text of its hand formulas. The trainer, the reports, `grad --explain` and the plot read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Loss:
    name: str
    formula: str  # for table headers
    scale: float  # ½ or 1
    reduction: Literal["mean", "sum"]

    @property
    def scale_text(self) -> str:
        """The scale as it is written before the loss: '½·' or nothing."""
        return "½·" if self.scale == 0.5 else ("" if self.scale == 1 else f"{self.scale:g}·")

    @property
    def gradient_factor(self) -> float:
        """The factor 2·scale before the derivative's mean or sum: dL/da = factor·mean(r·x) or factor·Σ(r·x)."""
        return 2.0 * self.scale

    def over(self, term: str, n: int) -> str:
        """The reduction written over a term: 'mean(term)' or 'Σ(term)'; the term itself for one point."""
        if n == 1:
            return term
        return ("Σ" if self.reduction == "sum" else "mean") + f"({term})"

    def value_text(self, n: int, residual: str = "r") -> str:
        """The loss in words over the residual: '½·r²' for one point, '½·mean(r²)' for several."""
        return self.scale_text + self.over(f"{residual}²", n)

    def derivative_text(self, term: str, n: int) -> str:
        """A hand-derived partial derivative: '(a·x + b − y)·x' → '2·mean((a·x + b − y)·x)' for mse over n points."""
        factor = self.gradient_factor
        return ("" if factor == 1 else f"{factor:g}·") + self.over(term, n)

    def weight(self, n: int, rows: int) -> float:
        """w such that w·Σr² over `rows` rows (of n) is this loss: a mini-batch's estimate of it, or all of it."""
        return self.scale / rows if self.reduction == "mean" else self.scale * n / rows

    def of_residual(self, r, keep=lambda t: t):
        """The loss written out as the notebook does: works on torch tensors and numpy arrays.

        `keep` sees each intermediate result (to retain its gradient for a picture of the graph).
        """
        squares = keep(r**2)
        total = keep(squares.mean() if self.reduction == "mean" else squares.sum())
        return self.scale * total

    def curvature(self, n: int) -> float:
        """c such that the Hessian of the loss in (a, b) is c·[[E x², E x], [E x, 1]]."""
        return 2.0 * self.scale * (n if self.reduction == "sum" else 1)

    def hand_gradient(self, r: np.ndarray, x: np.ndarray) -> tuple[float, float]:
        """(dL/da, dL/db) from the derivative written by hand: c·mean(r·x), c·mean(r)."""
        import numpy as np

        c = self.curvature(len(r))
        return float(c * np.mean(r * x)), float(c * np.mean(r))


LOSSES: dict[str, Loss] = {
    "half_mse": Loss("half_mse", "½·mean((a·x + b − y)²)", 0.5, "mean"),
    "mse": Loss("mse", "mean((a·x + b − y)²)", 1.0, "mean"),
    "half_sse": Loss("half_sse", "½·Σ(a·x + b − y)²", 0.5, "sum"),
}
