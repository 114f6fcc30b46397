"""The change of coordinates between the data's units (a, b) and the training coordinates (α, β), and
arrays → tensors in training coordinates.

Training fits y − ȳ₀ ≈ α·(x − x̄₀)/σ + β; the same line in the data's units is y ≈ a·x + b:
    a = α/σ,  b = β − α·x̄₀/σ + ȳ₀        and by the chain rule
    dL/da = σ·dL/dα + x̄₀·dL/dβ,  dL/db = dL/dβ.
The shifts x̄₀, ȳ₀ are floats among the data (the means rounded to float64), so x − x̄₀ is exact however
far x lies from 0; b is formed from its parts in exact arithmetic and rounded once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from linfit.reference import BLOCK_ROWS, Moments, require_spread


@dataclass(frozen=True)
class Frame:
    """The affine change of variables between training coordinates (α, β) and the data's (a, b)."""

    x_shift: float  # x̄₀
    x_scale: float  # σ
    y_shift: float  # ȳ₀

    def to_data(self, alpha: float, beta: float) -> tuple[float, float]:
        a = alpha / self.x_scale
        return a, self.intercept(a, beta)

    def intercept(self, a: float, beta: float) -> float:
        """b = ȳ₀ + β − a·x̄₀, rounded once (a·x̄₀ and ȳ₀ cancel when x is far from 0)."""
        if self.x_shift == 0.0 and self.y_shift == 0.0:
            return beta
        return exact_sum((self.y_shift, 1.0), (beta, 1.0), (a, -self.x_shift))

    def to_training(self, a: float, b: float) -> tuple[float, float]:
        return a * self.x_scale, exact_sum((b, 1.0), (a, self.x_shift), (self.y_shift, -1.0))

    def grad_to_data(self, grad_alpha: float, grad_beta: float) -> tuple[float, float]:
        """The chain rule through α = a·σ, β = b + a·x̄₀ − ȳ₀."""
        return self.x_scale * grad_alpha + self.x_shift * grad_beta, grad_beta


IDENTITY = Frame(x_shift=0.0, x_scale=1.0, y_shift=0.0)


def frame_for(m: Moments, standardize: bool) -> Frame:
    """Centre x and y and scale x (the loss surface is round, no digit is lost to an offset), or leave them.

    The shifts are the means rounded to float64 (Moments.x_mean, y_mean): floats among the data, so the
    centred values are exact; what the rounding leaves (x_low, y_low) the Hessian and β absorb.
    """
    if not standardize:
        return IDENTITY
    require_spread(m)
    return Frame(x_shift=m.x_mean, x_scale=math.sqrt(m.sxx / m.n), y_shift=m.y_mean)


def exact_sum(*terms: tuple[float, float]) -> float:
    """Σ value·factor in exact arithmetic, rounded once; a diverging run's non-finite or overflowing
    parameters give what float arithmetic gives (±inf or nan), not an error."""
    if not all(math.isfinite(value) and math.isfinite(factor) for value, factor in terms):
        return sum(value * factor for value, factor in terms)
    exact = sum(Fraction(value) * Fraction(factor) for value, factor in terms)
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def affine_tensor(values: np.ndarray, shift: float, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """(values − shift)/scale as a tensor of `dtype`, made a block at a time: no float64 temporary of full size."""
    if shift == 0.0 and scale == 1.0 and dtype == torch.float64:
        return torch.from_numpy(values)  # shares the array's memory
    out = torch.empty(values.shape[0], dtype=dtype)
    for start in range(0, values.shape[0], BLOCK_ROWS):
        block = values[start : start + BLOCK_ROWS]
        out[start : start + block.shape[0]] = torch.from_numpy((block - shift) / scale)
    return out
