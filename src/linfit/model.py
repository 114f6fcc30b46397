"""The model ŷ = a·x + b: two torch leaves that require grad, and where they start."""

from __future__ import annotations

import torch

from linfit.start import Start, starting_point  # noqa: F401 (re-exported: where training starts)

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def leaf(value: float, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """A 0-dim parameter that autograd tracks (requires_grad=True)."""
    return torch.tensor(value, dtype=dtype, device=device, requires_grad=True)
