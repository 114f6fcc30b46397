"""The losses, each one line of maths over the residual r = a·x + b − y.

    half_mse  L = ½·mean(r²)   the default; for one point it is the notebook's ½(ŷ − y)²
    mse       L = mean(r²)     as torch.nn.MSELoss
    half_sse  L = ½·Σ r²       the notebook's 𝓛 over N points

All three are c·(a quadratic with Hessian [[E x², E x], [E x, 1]]), with c the
`curvature` below: the step size that is stable depends on it.

The robust and quantile losses (`Piecewise` below) are weighted means, L = Σ wᵢ·ℓ(rᵢ) / Σ wᵢ
(every wᵢ = 1 without a weight column), each ℓ one line of maths:

    huber     ℓ = ½r² for |r| ≤ δ, δ·(|r| − ½δ) outside   as torch.nn.HuberLoss; δ in y units
    absolute  ℓ = |r|                                    least absolute deviations: the median line
    quantile  ℓ = τ·max(−r, 0) + (1 − τ)·max(r, 0)       the pinball loss: a fraction τ of the points lie
                                                         on or below the line (τ = ½: half of absolute)

They are convex and piecewise: huber is quadratic inside ±δ and linear outside (its gradient is
continuous, its curvature jumps at ±δ); absolute and quantile are linear on each side of r = 0, with a
kink there, where autograd takes the middle of the subdifferential (0 for |r|, ½ − τ for the pinball).

Everything about a loss lives here: its formula text, reduction, scale, curvature, hand gradient,
and the text of its hand formulas. The trainer, the reports, `grad --explain` and the plot read them.
"""

from __future__ import annotations

import math
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


SQUARED = tuple(LOSSES)
PIECEWISE = ("huber", "absolute", "quantile")
HUBER_TUNING = 1.345  # δ = 1.345 × the robust scale: 95 % efficiency at the normal (Huber; statsmodels' HuberT)
MAD_TO_SD = 0.6744897501960817  # the normal's median absolute deviation, Φ⁻¹(¾): MAD / this estimates σ


@dataclass(frozen=True)
class Piecewise:
    """A robust or quantile loss: ℓ(r) summed with weights, Σ wᵢ·ℓ(rᵢ) / Σ wᵢ.

    `psi` is dℓ/dr away from kinks (and autograd's choice on them), `psi_sides` its one-sided values,
    `inside` says which points are on the quadratic piece (huber) or on the kink (absolute, quantile).
    """

    name: Literal["huber", "absolute", "quantile"]
    delta: float = 1.0  # huber only
    tau: float = 0.5  # quantile only
    reduction: Literal["mean"] = "mean"

    @property
    def formula(self) -> str:
        if self.name == "huber":
            return f"mean(huber_δ(a·x + b − y)), δ = {self.delta:.6g}"
        if self.name == "absolute":
            return "mean(|a·x + b − y|)"
        return f"mean(ρ_τ(a·x + b − y)), τ = {self.tau:g}"

    @property
    def piece_text(self) -> str:
        """The one line of maths, in words."""
        if self.name == "huber":
            return f"huber_δ(r) = ½r² for |r| ≤ δ, δ·(|r| − ½δ) outside, δ = {self.delta:.6g}"
        if self.name == "absolute":
            return "|r|"
        return f"ρ_τ(r) = τ·max(−r, 0) + (1 − τ)·max(r, 0), τ = {self.tau:g}"

    @property
    def smooth(self) -> bool:
        """Is the gradient continuous (huber), or has the loss a kink at r = 0 (absolute, quantile)?"""
        return self.name == "huber"

    def of_residual(self, r, keep=lambda t: t, w=None):
        """Σ wᵢ·ℓ(rᵢ) / Σ wᵢ on torch tensors (autograd records HuberLossBackward0, AbsBackward0 or
        MaximumBackward0) or numpy arrays; without weights, the plain mean."""
        import numpy as np

        if isinstance(r, np.ndarray) or np.isscalar(r):
            pieces = self.numpy_pieces(np.asarray(r, dtype=np.float64))
            if w is None:
                return float(np.mean(pieces))
            w = np.asarray(w, dtype=np.float64)
            return float(np.sum(w * pieces) / np.sum(w))
        import torch

        if self.name == "huber":
            pieces = keep(torch.nn.functional.huber_loss(r, torch.zeros_like(r), reduction="none", delta=self.delta))
        elif self.name == "absolute":
            pieces = keep(torch.abs(r))
        else:
            pieces = keep(torch.maximum(keep(-self.tau * r), keep((1 - self.tau) * r)))
        if w is None:
            return keep(pieces.mean())
        return keep(torch.dot(pieces, w) / w.sum())

    def numpy_pieces(self, r):
        """ℓ(rᵢ) for each residual, in float64."""
        import numpy as np

        if self.name == "huber":
            small = np.abs(r) <= self.delta
            with np.errstate(over="ignore"):  # δ·(|r| − ½δ) overflows for δ near 1e300, on rows where it is not taken
                return np.where(small, 0.5 * r * r, self.delta * (np.abs(r) - 0.5 * self.delta))
        if self.name == "absolute":
            return np.abs(r)
        return np.maximum(-self.tau * r, (1 - self.tau) * r)

    def psi(self, r):
        """dℓ/dr for each residual; on a kink, the middle of the subdifferential (what autograd gives)."""
        import numpy as np

        if self.name == "huber":
            return np.clip(r, -self.delta, self.delta)
        if self.name == "absolute":
            return np.sign(r)
        return np.where(r > 0, 1 - self.tau, np.where(r < 0, -self.tau, 0.5 - self.tau))

    def psi_sides(self) -> tuple[float, float]:
        """(dℓ/dr just below r = 0, just above): the ends of the subdifferential at the kink."""
        if self.name == "absolute":
            return -1.0, 1.0
        if self.name == "quantile":
            return -self.tau, 1 - self.tau
        return 0.0, 0.0

    def piece(self, r) -> list[str]:
        """Which piece each residual is on, in words."""
        import numpy as np

        r = np.asarray(r, dtype=np.float64)
        if self.name == "huber":
            return [
                "inside ±δ (½r²)" if abs(v) < self.delta else "on ±δ (the pieces meet)" if abs(v) == self.delta else "outside ±δ (linear)"
                for v in r
            ]
        return ["kink (r = 0)" if v == 0 else "r > 0 (above the point)" if v > 0 else "r < 0 (below the point)" for v in r]

    def hand_gradient(self, r, x, w=None) -> tuple[float, float]:
        """(dL/da, dL/db) = (Σ wᵢ·ψ(rᵢ)·xᵢ, Σ wᵢ·ψ(rᵢ)) / Σ wᵢ, by the hand-derived ψ."""
        import numpy as np

        psi = self.psi(r)
        w = np.ones_like(r) if w is None else np.asarray(w, dtype=np.float64)
        total = np.sum(w)
        return float(np.sum(w * psi * x) / total), float(np.sum(w * psi) / total)

    def one_sided(self, r, x, w=None) -> dict[str, tuple[float, float]]:
        """The one-sided derivatives (left, right) of L in a and in b: points on the kink contribute
        min and max of their subdifferential times x (a convex function: left ≤ right)."""
        import numpy as np

        w = np.ones_like(r) if w is None else np.asarray(w, dtype=np.float64)
        total = np.sum(w)
        on = r == 0 if not self.smooth else np.zeros(r.shape, dtype=bool)
        psi = np.where(on, 0.0, self.psi(r))
        low, high = self.psi_sides()
        sides = {}
        for name, u in (("a", np.asarray(x, dtype=np.float64)), ("b", np.ones_like(r))):
            base = np.sum(w * psi * u)
            left = base + np.sum(np.where(on, w * np.minimum(low * u, high * u), 0.0))
            right = base + np.sum(np.where(on, w * np.maximum(low * u, high * u), 0.0))
            sides[name] = (float(left / total), float(right / total))
        return sides

    def value_text(self, n: int, residual: str = "r") -> str:
        symbol = {"huber": "huber_δ", "absolute": "", "quantile": "ρ_τ"}[self.name]
        term = f"|{residual}|" if self.name == "absolute" else f"{symbol}({residual})"
        return term if n == 1 else f"mean({term})"

    def derivative_text(self, term: str, n: int) -> str:
        """'(a·x + b − y)·x' → 'mean(ψ(r)·x)' with ψ the loss's derivative in r."""
        psi = {"huber": "clamp(r, −δ, δ)", "absolute": "sign(r)", "quantile": "(r > 0 ? 1 − τ : r < 0 ? −τ : ½ − τ)"}[self.name]
        factor = "·x" if term.endswith("·x") else ""
        inner = f"{psi}{factor}"
        return inner if n == 1 else f"mean({inner})"


def loss_for(name: str, delta: float | None = None, tau: float | None = None):
    """The loss object for a name: a squared loss, or a piecewise one with its δ (huber) or τ (quantile)."""
    if name in LOSSES:
        return LOSSES[name]
    if name not in PIECEWISE:
        raise KeyError(name)
    if name == "huber":
        if delta is None or not (delta > 0 and math.isfinite(delta)):
            raise ValueError("huber needs a finite δ > 0")
        return Piecewise("huber", delta=float(delta))
    if name == "quantile":
        tau = 0.5 if tau is None else tau
        if not 0 < tau < 1:
            raise ValueError("the quantile τ must lie in (0, 1)")
        return Piecewise("quantile", tau=float(tau))
    return Piecewise("absolute")


def huber_delta_of(residuals) -> float:
    """δ = 1.345 × MAD/0.6745 of the residuals (their median absolute value, as a normal σ): Huber's
    95 %-efficient tuning in y units. Of the least-squares residuals this is statsmodels' RLM with HuberT
    and a fixed scale (update_scale=False). When more than half the residuals are 0, the mean absolute
    residual (as a normal σ); 1.0 when every residual is 0."""
    import numpy as np

    r = np.asarray(residuals, dtype=np.float64)
    mad = float(np.median(np.abs(r))) / MAD_TO_SD
    if not mad > 0:
        mad = float(np.mean(np.abs(r))) * math.sqrt(math.pi / 2)
    return HUBER_TUNING * mad if mad > 0 else 1.0


def loss_grid(kind, blocks, a_values, b_values):
    """The true loss L(a, b) = Σ wᵢ·ℓ(a·xᵢ + b − yᵢ) / Σ wᵢ of a piecewise loss at every point of a grid, in one
    pass over (x, y) or (x, y, w) float64 blocks: an array of shape (len(b_values), len(a_values)). Not from
    moments: the creases of a piecewise surface are where rows change piece, and they show.

    Exact, without evaluating every (row, grid point) pair. For one a the residual is r = b − u with
    u = y − a·x, so the loss at every b of the grid is a piecewise function of where u falls among the
    grid's breakpoints (b itself, and b ± δ for huber). Each row is put in a bin between two consecutive
    breakpoints (halved at their midpoint) and each bin keeps Σw, Σw·d and Σw·d² of d = the row's distance
    to the nearer breakpoint of its bin; these sums add up across blocks, and every grid point's loss is a
    sum over bins of a few products of them. Measuring d from the nearer breakpoint, and x and y from the
    first block's medians, keeps each bin's share free of cancellation (data far from 0 included): the
    result agrees with the exact sum to about 1e-15 relative, the direct evaluation's own rounding aside.
    Cost: rows × len(a_values) × log(len(b_values)) instead of rows × len(a_values) × len(b_values)."""
    import numpy as np

    a_grid = np.asarray(a_values, dtype=np.float64).ravel()
    b_grid = np.asarray(b_values, dtype=np.float64).ravel()
    shape = (b_grid.size, a_grid.size)
    huber = kind.name == "huber"
    offsets = (-kind.delta, 0.0, kind.delta) if huber else (0.0,)
    sums = None  # per a: the bins' Σw, Σw·d (and Σw·d² for huber), once the first rows fixed the shifts
    weight = 0.0
    for x, y, *rest in blocks:
        w = rest[0] if rest else None
        if x.shape[0] == 0:
            continue
        if sums is None:
            shift_x, shift_y = float(np.median(x)), float(np.median(y))
            grids = [_breakpoints(float(a), shift_x, shift_y, b_grid, offsets) for a in a_grid]
            sums = np.zeros((a_grid.size, 3 if huber else 2, 2 * b_grid.size * len(offsets)))
        for start in range(0, x.shape[0], _GRID_ROWS):
            xs = x[start : start + _GRID_ROWS] - shift_x
            ys = y[start : start + _GRID_ROWS] - shift_y
            ws = None if w is None else w[start : start + _GRID_ROWS]
            weight += float(xs.shape[0]) if ws is None else float(np.sum(ws))
            for j, a in enumerate(a_grid):
                edges, anchors, _ = grids[j]
                v = a * xs
                v -= ys  # r = v − t at the grid point whose breakpoint is t
                where = np.searchsorted(edges, v)
                v -= np.take(anchors, where)
                bins = anchors.size
                if ws is None:
                    sums[j, 0] += np.bincount(where, minlength=bins)
                    sums[j, 1] += np.bincount(where, weights=v, minlength=bins)
                    if huber:
                        sums[j, 2] += np.bincount(where, weights=v * v, minlength=bins)
                else:
                    wv = ws * v
                    sums[j, 0] += np.bincount(where, weights=ws, minlength=bins)
                    sums[j, 1] += np.bincount(where, weights=wv, minlength=bins)
                    if huber:
                        sums[j, 2] += np.bincount(where, weights=wv * v, minlength=bins)
    if sums is None or not weight > 0:
        return np.full(shape, np.nan)
    surface = np.empty(shape)
    for j in range(a_grid.size):
        surface[:, j] = _losses_from_bins(kind, grids[j], sums[j]) / weight
    return surface


_GRID_ROWS = 1 << 18  # rows handled at a time: a few arrays of this many float64 per a of the grid


def _breakpoints(a: float, shift_x: float, shift_y: float, b_grid, offsets):
    """For one a: (edges, anchors, (centres, positions)). With x and y measured from (shift_x, shift_y),
    r = a·x + b − y = v − t for v = a·(x − shift_x) − (y − shift_y) and t = shift_y − a·shift_x − b, each t
    correctly rounded. The breakpoints are t + each offset (−δ, 0, +δ for huber; 0 otherwise), sorted; the
    edges interleave them with their midpoints, so that bin i (searchsorted's index) lies between edges
    i − 1 and i and its anchor, the breakpoint i // 2, is the nearer end of it (the outer ones open-ended)."""
    import numpy as np

    high, low = _two_product(a, shift_x)
    centres = np.array([math.fsum((shift_y, -high, -low, -b)) for b in b_grid.tolist()])
    points = np.array([math.fsum((shift_y, -high, -low, -b, o)) if o else t for o in offsets for b, t in zip(b_grid.tolist(), centres)])
    order = np.argsort(points, kind="stable")
    ordered = points[order]
    positions = np.empty(points.size, dtype=np.int64)
    positions[order] = np.arange(points.size)  # the sorted index of each (offset, b) breakpoint
    edges = np.empty(2 * ordered.size - 1)
    edges[0::2] = ordered
    edges[1::2] = ordered[:-1] + (ordered[1:] - ordered[:-1]) / 2
    anchors = np.repeat(ordered, 2)
    return edges, anchors, (centres, positions.reshape(len(offsets), b_grid.size))


def _two_product(a: float, b: float) -> tuple[float, float]:
    """(p, e) with p = fl(a·b) and p + e = a·b exactly (Dekker's split; no fused multiply-add needed)."""
    product = a * b
    if not math.isfinite(product) or product == 0:
        return product, 0.0
    split = 134217729.0  # 2**27 + 1
    a_big = split * a
    a_high = a_big - (a_big - a)
    a_low = a - a_high
    b_big = split * b
    b_high = b_big - (b_big - b)
    b_low = b - b_high
    return product, ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low


def _losses_from_bins(kind, grid, sums):
    """Σ wᵢ·ℓ(rᵢ) at every b of the grid for one a, from the bins' sums. A bin lies wholly on one piece of
    every grid point's loss (its ends are breakpoints or midpoints between them); with Δ = anchor − t its
    rows' Σ w·r is Σw·d + Δ·Σw, and Σ w·r² is Σw·d² + Δ·(2·Σw·d + Δ·Σw)."""
    import numpy as np

    _, anchors, (centres, positions) = grid
    counts, first = sums[0], sums[1]
    bins = np.arange(anchors.size)[None, :]
    gap = anchors[None, :] - centres[:, None]
    r_sum = first + gap * counts
    if kind.name == "huber":
        delta = kind.delta
        below = bins <= 2 * positions[0][:, None]  # r ≤ −δ
        above = bins > 2 * positions[2][:, None]  # r > δ
        square = sums[2] + gap * (2 * first + gap * counts)
        pieces = np.where(
            below, delta * (-r_sum - 0.5 * delta * counts), np.where(above, delta * (r_sum - 0.5 * delta * counts), 0.5 * square)
        )
    else:
        below = bins <= 2 * positions[0][:, None]  # r ≤ 0
        low, high = (1.0, 1.0) if kind.name == "absolute" else (kind.tau, 1.0 - kind.tau)
        pieces = np.where(below, -low * r_sum, high * r_sum)
    return pieces.sum(axis=1)
