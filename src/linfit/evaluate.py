"""`linfit eval`: a saved model's errors on a data file — its own loss, MSE, RMSE, MAE, the largest residual,
the bias and the out-of-sample R² — in one pass over the rows, in memory or streamed chunk by chunk.

The residual is e = y − ŷ (a positive bias: the model predicts too low). Each one is formed in centred form,
(y − ȳ₀) − a·(x − x̄₀) − c with x̄₀, ȳ₀ near the first block's means and c = b + a·x̄₀ − ȳ₀ rounded once, so
that data at x ≈ 1e9 lose no digits to a·x + b's cancellation. Sums are taken per block and added with
math.fsum; y's spread about the file's own mean is merged block by block (Chan et al.), so a streamed pass
keeps a few numbers per block and nothing the size of the data. R² = 1 − SSE/SST about the *test* mean:
negative when the model predicts worse than that mean would. Imports neither torch nor pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable

import numpy as np

from linfit.errors import DataError
from linfit.losses import LOSSES
from linfit.reference import BLOCK_ROWS

FIELDS = ("loss_name", "loss", "n", "mse", "rmse", "mae", "max_abs_residual", "bias", "r2")


@dataclass(frozen=True)
class Evaluation:
    loss_name: str
    loss: float
    n: int
    mse: float
    rmse: float
    mae: float
    max_abs_residual: float
    bias: float  # mean of y − ŷ
    r2: float | None  # None when y is constant in the file (SST = 0)

    def notes(self) -> list[str]:
        """What a reader of the numbers should be told."""
        if self.r2 is None:
            return ["y is constant in this file: R² (1 − SSE/SST) is undefined."]
        if self.r2 < 0:
            return [f"R² is negative ({self.r2:.4g}): on this file the model predicts worse than y's own mean would."]
        return []


class EvalPass:
    """Feed (x, y) blocks with `add`; `finish` gives the Evaluation of the line a·x + b under its loss."""

    def __init__(self, a: float, b: float, loss_name: str, kind=None) -> None:
        self.a, self.b, self.loss_name = a, b, loss_name
        self.kind = kind if kind is not None else LOSSES.get(loss_name)  # a piecewise loss comes with its δ or τ (losses.loss_for)
        self.shift: tuple[float, float, float] | None = None  # x̄₀, ȳ₀, c
        self.n = 0
        self.sse: list[float] = []
        self.sae: list[float] = []
        self.sum: list[float] = []
        self.own_loss: list[float] = []  # for a loss that is not squared: its value per block, weighted
        self.largest = 0.0
        self.y_parts: list[tuple[int, float, float]] = []  # (n, mean, Σ(y − mean)²) per block
        self.y_largest = 0.0  # the largest |y| scored: with y's spread, huber's rounding floor for δ (pipeline.huber_delta_floor)

    def add(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        """A block of rows; with `w`, their weights (every figure becomes a weighted mean, R² about the weighted mean)."""
        for start in range(0, x.shape[0], BLOCK_ROWS):
            part = slice(start, start + BLOCK_ROWS)
            if w is None:
                self._block(np.asarray(x[part], np.float64), np.asarray(y[part], np.float64))
            else:
                self._weighted_block(np.asarray(x[part], np.float64), np.asarray(y[part], np.float64), np.asarray(w[part], np.float64))

    def _weighted_block(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """A weighted block: the sums are Σw·(…), n counts the rows with a positive weight, Σw is kept apart."""
        keep = w > 0
        x, y, w = x[keep], y[keep], w[keep]
        if not x.shape[0]:
            return
        self.weights = getattr(self, "weights", [])
        self.weights.append(float(w.sum()))
        self._block(x, y, w)

    def _block(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        rows = x.shape[0]
        if not rows:
            return
        weight = 1.0 if w is None else w
        if self.shift is None:
            x0, y0 = float(np.median(x[:1000])), float(np.median(y[:1000]))  # values of the data: x − x0 is exact near x0
            self.shift = (x0, y0, float(Fraction(self.b) + Fraction(self.a) * Fraction(x0) - Fraction(y0)))
        x0, y0, c = self.shift
        e = (y - y0) - self.a * (x - x0) - c
        self.n += rows
        self.sse.append(float((weight * np.square(e)).sum()))
        self.sae.append(float((weight * np.abs(e)).sum()))
        self.sum.append(float((weight * e).sum()))
        self.largest = max(self.largest, float(np.abs(e).max()))
        self.y_largest = max(self.y_largest, float(np.abs(y).max()))
        if self.kind is not None and self.loss_name not in _SQUARED:
            if w is None:
                value = float(self.kind.of_residual(-e))  # the losses take r = ŷ − y
                self.own_loss.append(value * rows if self.kind.reduction == "mean" else value)
            else:  # Σ w·ℓ of the block (a piecewise loss: its weighted mean times Σw)
                self.own_loss.append(float(self.kind.of_residual(-e, w=w)) * float(w.sum()))
        dy = y - y0
        if w is None:
            mean = float(dy.mean())
            deviation = dy - mean
            self.y_parts.append((rows, mean, float(np.square(deviation).sum()) - float(deviation.sum()) ** 2 / rows))
        else:  # weighted: (Σw, weighted mean, Σw·(y − mean)²), merged as the unweighted parts are
            total = float(w.sum())
            mean = float((w * dy).sum()) / total
            deviation = dy - mean
            self.y_parts.append((total, mean, float((w * np.square(deviation)).sum()) - float((w * deviation).sum()) ** 2 / total))

    def y_sd(self) -> float:
        """y's standard deviation over the rows scored (weighted: about the weighted mean, Σw the divisor)."""
        weights = getattr(self, "weights", None)
        count = math.fsum(weights) if weights else self.n
        return math.sqrt(_merged_spread(self.y_parts) / count) if count else 0.0

    def finish(self, source: str = "the data") -> Evaluation:
        weights = getattr(self, "weights", None)
        if self.n == 0:  # the reader refuses a file without rows: here every row's weight was 0
            raise DataError(f"{source}: every weight is 0: there is no row to score.", "Give some rows a positive weight.")
        n = math.fsum(weights) if weights else self.n  # the figures' divisor: Σw for weighted rows
        sse = math.fsum(self.sse)
        mse = sse / n
        if self.loss_name in _SQUARED:
            kind = self.kind
            loss = kind.scale * (mse if kind.reduction == "mean" else mse * self.n)  # Σ, weights scaled to mean 1 (as trained)
        elif self.kind is not None:
            total = math.fsum(self.own_loss)
            loss = total / n if self.kind.reduction == "mean" else total
        else:
            loss = math.nan
        sst = _merged_spread(self.y_parts)
        r2 = 1.0 - sse / sst if sst > 0 else None
        return Evaluation(
            self.loss_name, loss, self.n, mse, math.sqrt(mse), math.fsum(self.sae) / n, self.largest, math.fsum(self.sum) / n, r2
        )


_SQUARED = frozenset({"half_mse", "mse", "half_sse"})


def _merged_spread(parts: list[tuple[int, float, float]]) -> float:
    """Σ(y − ȳ)² over every block from each block's (n, mean, spread): Chan's pairwise update."""
    total_n, total_mean, total = 0, 0.0, 0.0
    for n, mean, spread in parts:
        merged = total_n + n
        delta = mean - total_mean
        total += spread + delta * delta * total_n * n / merged
        total_mean += delta * n / merged
        total_n = merged
    return max(total, 0.0)


def evaluate(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]], a: float, b: float, loss_name: str, kind=None, source: str = "the data"
) -> Evaluation:
    """The Evaluation of the line over (x, y) blocks in row order (`kind`: the loss object, for huber's δ or quantile's τ)."""
    scoring = EvalPass(a, b, loss_name, kind)
    for x, y, *w in blocks:  # (x, y) or (x, y, w) blocks
        scoring.add(x, y, w[0] if w else None)
    return scoring.finish(source)


def evaluation_json(evaluation: Evaluation, model: str, data: dict[str, Any]) -> dict[str, Any]:
    """`linfit eval -f json`: the figures under the issue's keys, with the model and the data they came from."""
    out = {"model": model, "data": data}
    out.update({key: getattr(evaluation, key) for key in FIELDS})
    out["loss"] = evaluation.loss
    out["notes"] = evaluation.notes()
    return out
