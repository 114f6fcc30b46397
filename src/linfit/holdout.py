"""Held-out rows: `train --holdout FRACTION` (rows of the training file set aside, chosen by the seed) or
`train --valid FILE` (another file), scored at every logged step and at the end (linfit.evaluate).

The rows held out are a seeded choice: numpy's default_rng(seed).permutation(n), its first
round(fraction·n) entries, in file order — the same file, fraction and seed always hold out the same rows.
The data's SHA-256 stays that of every byte read (the whole file, held-out rows included); the model records
`data.holdout: {fraction, seed, rows}`, which with that hash names exactly the rows trained on.

Weighted rows (a weight column): the rows are chosen as without weights (a zero-weight row may be held out),
each keeps its weight, and the held-out figures are weighted as `linfit eval`'s are (Σ w·(…)/Σ w, R² about
the weighted mean, n the rows with a positive weight); the figures name the weight column (key "w"). Imports
neither torch nor pandas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from linfit.errors import DataError, UsageError
from linfit.evaluate import evaluate


def held_out_rows(n: int, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of the rows held out: round(fraction·n) rows chosen by the seed (at least 1, leaving 2)."""
    if not 0 < fraction < 1:
        raise UsageError(f"--holdout must lie strictly between 0 and 1 (0.2 holds out a fifth), got {fraction:g}.")
    count = int(round(fraction * n))
    if count < 1 or n - count < 2:
        raise DataError(
            f"--holdout {fraction:g} of {n} rows leaves {'no row to hold out' if count < 1 else f'{n - count} to train on'}.",
            "Use a larger file, or another fraction.",
        )
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:count]] = True
    return mask


@dataclass
class HeldOut:
    """The held-out rows and how they were chosen; the loss at each logged step, filled in as training goes."""

    x: np.ndarray
    y: np.ndarray
    loss_name: str
    description: dict[str, Any]  # {"holdout": {fraction, seed, rows}} or {"valid": {source, rows, sha256}}
    losses: dict[int, float] = field(default_factory=dict)
    kept_rows: np.ndarray | None = None  # --holdout: the file rows (0-based) of the rows trained on
    w: np.ndarray | None = None  # the held-out rows' weights (a weight column), scoring them weighted
    w_name: str | None = None  # the weight column's name, for the figures to say they are weighted
    kind: Any = None  # huber/absolute/quantile: the loss with its δ or τ (set once the run has settled them)

    def __post_init__(self) -> None:
        if self.w is not None and not np.any(self.w > 0):
            where = "--valid file" if "valid" in self.description else "--holdout"
            raise DataError(
                f"{where}: every held-out row has weight 0: there is nothing to score.",
                "Give some of those rows a positive weight." if "valid" in self.description else "Use another --seed or fraction.",
            )

    def _blocks(self):
        return [(self.x, self.y) if self.w is None else (self.x, self.y, self.w)]

    def observe(self, record) -> dict[str, float]:
        """The held-out loss at a logged step's (a, b): kept, and returned as the step's extra field."""
        value = evaluate(self._blocks(), record.a, record.b, self.loss_name, self.kind).loss
        self.losses[record.step] = value
        return {"valid_loss": value}

    def metrics(self, a: float, b: float) -> dict[str, Any]:
        """The final line's figures on the held-out rows (linfit eval's keys), with where the rows came from;
        weighted rows: "w" names the weight column the figures are weighted by."""
        figures = asdict(evaluate(self._blocks(), a, b, self.loss_name, self.kind))
        weighted = {} if self.w is None else {"w": self.w_name or "w"}
        return {**self.description, **weighted, **figures}


def split_samples(samples, fraction: float, seed: int, loss_name: str):
    """(the rows to train on, HeldOut) from Samples in memory."""
    from linfit.data import Samples

    mask = held_out_rows(samples.n, fraction, seed)
    w = samples.w
    kept = Samples(
        samples.x[~mask],
        samples.y[~mask],
        samples.source,
        samples.x_name,
        samples.y_name,
        samples.dropped,
        None if w is None else w[~mask],
        samples.lines_are_rows,
    )
    description = {"holdout": {"fraction": fraction, "seed": seed, "rows": int(mask.sum())}}
    held = HeldOut(
        samples.x[mask], samples.y[mask], loss_name, description, kept_rows=np.flatnonzero(~mask), w=None if w is None else w[mask]
    )
    return kept, held


def read_valid(path: str, x_col, y_col, sep: str | None, drop_na: bool, loss_name: str, weight_col=None) -> HeldOut:
    """--valid FILE: its rows in memory, read as the training data are (same columns, same rules; with a weight
    column, the file's own weights from that column, scoring its rows weighted). A --sep given
    for the data that does not read the valid file: the valid file is read with its own separator (a tab for
    .tsv, else a comma) where that reads it; else the first error stands."""
    from linfit.data import read_samples
    from linfit.errors import DataError
    from linfit.read import Reading, display_name

    reading = Reading(path, x_col, y_col, sep=sep, drop_na=drop_na, weight_col=weight_col)
    try:
        samples = read_samples(reading)
    except DataError as first:
        if sep is None or path == "-":
            raise
        try:
            reading = Reading(path, x_col, y_col, sep=None, drop_na=drop_na, weight_col=weight_col)
            samples = read_samples(reading)
        except DataError:
            raise first from None
    source = {"source": display_name(reading.facts.source), "rows": samples.n, "sha256": reading.facts.sha256}
    return HeldOut(samples.x, samples.y, loss_name, {"valid": source}, w=samples.w, w_name=reading.facts.w_name)
