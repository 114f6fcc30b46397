"""The model ŷ = a·x + b: two torch leaves that require grad, and where they start."""

from __future__ import annotations

from dataclasses import dataclass

import torch

DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class Start:
    """Where training starts, in the data's units, and how that point was chosen."""

    a: float
    b: float
    method: str  # values | zeros | xavier_normal


def starting_point(method: str, a: float = 1.0, b: float = 0.5, seed: int = 0) -> Start:
    """values: the given (a, b); zeros: (0, 0); xavier_normal: a drawn as a 1×1 weight, b = 0."""
    if method == "values":
        return Start(a, b, method)
    if method == "zeros":
        return Start(0.0, 0.0, method)
    if method == "xavier_normal":
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        weight = torch.empty(1, 1, dtype=torch.float64)
        torch.nn.init.xavier_normal_(weight)
        torch.random.set_rng_state(generator_state)
        return Start(float(weight.item()), 0.0, method)
    raise ValueError(f"unknown initialisation {method!r}")


def leaf(value: float, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """A 0-dim parameter that autograd tracks (requires_grad=True)."""
    return torch.tensor(value, dtype=dtype, device=device, requires_grad=True)

