"""The losses, each one line of maths over the residual r = a·x + b − y.

    half_mse  L = ½·mean(r²)   the default; for one point it is the notebook's ½(ŷ − y)²
    mse       L = mean(r²)     as torch.nn.MSELoss
    half_sse  L = ½·Σ r²       the notebook's 𝓛 over N points

All three are c·(a quadratic with Hessian [[E x², E x], [E x, 1]]), with c the
`curvature` below: the step size that is stable depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Loss:
    name: str
    formula: str  # for table headers
    scale: float  # ½ or 1
    reduction: Literal["mean", "sum"]

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
        c = self.curvature(len(r))
        return float(c * np.mean(r * x)), float(c * np.mean(r))


LOSSES: dict[str, Loss] = {
    "half_mse": Loss("half_mse", "½·mean((a·x + b − y)²)", 0.5, "mean"),
    "mse": Loss("mse", "mean((a·x + b − y)²)", 1.0, "mean"),
    "half_sse": Loss("half_sse", "½·Σ(a·x + b − y)²", 0.5, "sum"),
}
