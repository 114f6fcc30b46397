"""One evaluation of the loss and its gradient, by autograd and by hand: `linfit grad`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from linfit.losses import LOSSES
from linfit.model import DTYPES, leaf, predict


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


def point_gradient(
    x: Sequence[float],
    y: Sequence[float],
    a: float = 1.0,
    b: float = 0.5,
    loss: str = "half_mse",
    dtype: str = "float64",
) -> PointGradient:
    """Build a, b as leaves, compute ŷ and the loss, call backward(), and compare with the hand formula."""
    if len(x) != len(y) or not x:
        raise ValueError("x and y need the same, non-zero number of values")
    kind = LOSSES[loss]
    a_t, b_t = leaf(a, DTYPES[dtype]), leaf(b, DTYPES[dtype])
    x_t = torch.tensor(list(x), dtype=DTYPES[dtype])
    y_t = torch.tensor(list(y), dtype=DTYPES[dtype])

    prediction = predict(a_t, b_t, x_t)  # forward: builds the graph
    value = kind.of_residual(prediction - y_t)
    value.backward()  # backward: fills a_t.grad and b_t.grad

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
    )
