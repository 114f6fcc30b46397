"""Where training starts: a point (a, b) in the data's units and how it was chosen.

Torch-free, so that the model file (and `linfit predict`) need not import torch; only the
xavier_normal draw imports it, when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Start:
    """Where training starts, in the data's units, and how that point was chosen."""

    a: float
    b: float
    method: str  # values | zeros | xavier_normal | model


def starting_point(method: str, a: float = 1.0, b: float = 0.5, seed: int = 0) -> Start:
    """values: the given (a, b); zeros: (0, 0); xavier_normal: a drawn as a 1×1 weight, b = 0."""
    if method == "values":
        return Start(a, b, method)
    if method == "zeros":
        return Start(0.0, 0.0, method)
    if method == "xavier_normal":
        import torch

        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        weight = torch.empty(1, 1, dtype=torch.float64)
        torch.nn.init.xavier_normal_(weight)
        torch.random.set_rng_state(generator_state)
        return Start(float(weight.item()), 0.0, method)
    raise ValueError(f"unknown initialisation {method!r}")
