"""Rows in memory, read through the one reader (linfit.read): float64 arrays, the lean float32 copy of a
big file, or fixed-size chunks. Imports neither torch nor pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linfit.read import LARGEST, STDIN, Reading, expand, separator_for  # noqa: F401 - names others import
from linfit.reference import Moments, merge_moments, moments


@dataclass(frozen=True)
class Samples:
    """The (x, y) rows in float64, with where they came from."""

    x: np.ndarray
    y: np.ndarray
    source: str
    x_name: str
    y_name: str
    dropped: int = 0  # rows dropped by --drop-na
    w: np.ndarray | None = None  # the rows' weights (weight_col), as read; None: every row weighs 1
    lines_are_rows: bool = False  # row r (from 1) is line r + 1 of the one CSV file read (read.Facts.lines_are_rows)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def load_samples(
    source: str | Path,
    x_col: str | int = "x",
    y_col: str | int = "y",
    drop_na: bool = False,
    sep: str | None = None,
    weight_col: str | int | None = None,
) -> Samples:
    """Every row of a DATA argument (file, '-', glob, compressed, Parquet) as float64 x and y (and the
    weights, given their column), validated."""
    return read_samples(Reading(str(source), x_col, y_col, sep=sep, drop_na=drop_na, weight_col=weight_col))


def rechunked(blocks, rows: int):
    """(x, y) blocks of any size → blocks of exactly `rows` rows (the last may be shorter).

    Each row is copied at most once (a chunk that spans two blocks); a chunk inside a block is a view.
    """
    pending_x, pending_y, pending = [], [], 0
    for x, y in blocks:
        start, size = 0, x.shape[0]
        if pending:  # complete the chunk begun in earlier blocks
            start = min(rows - pending, size)
            pending_x.append(x[:start])
            pending_y.append(y[:start])
            pending += start
            if pending < rows:
                continue
            yield np.concatenate(pending_x), np.concatenate(pending_y)
            pending_x, pending_y, pending = [], [], 0
        while size - start >= rows:
            yield _writable(x[start : start + rows]), _writable(y[start : start + rows])
            start += rows
        if start < size:
            pending_x, pending_y, pending = [x[start:]], [y[start:]], size - start
    if pending:
        yield np.concatenate(pending_x), np.concatenate(pending_y)


def _writable(values: np.ndarray) -> np.ndarray:
    """The view itself when it may be written, else a copy (Arrow's memory is read-only)."""
    return values if values.flags.writeable else values.copy()


class _Growing:
    """An array filled block by block; it grows by half again when a guess of its size was short."""

    def __init__(self, dtype=np.float64) -> None:
        self.buffer = np.empty(0, dtype=dtype)
        self.length = 0

    def add(self, values: np.ndarray, expected_total: int) -> None:
        end = self.length + len(values)
        if end > len(self.buffer):
            capacity = max(end, expected_total if self.length == 0 else int(len(self.buffer) * 1.5))
            grown = np.empty(capacity, dtype=self.buffer.dtype)
            grown[: self.length] = self.buffer[: self.length]
            self.buffer = grown
        self.buffer[self.length : end] = values
        self.length = end

    def array(self) -> np.ndarray:
        """The filled part; copied only when the guess overshot by more than a tenth."""
        if len(self.buffer) > 1.1 * self.length:
            return self.buffer[: self.length].copy()
        return self.buffer[: self.length]


def read_samples(reading: Reading) -> Samples:
    """Every row of a Reading, in float64 arrays sized from the data's length (no list of blocks kept)."""
    weighted = reading.weight_col is not None
    columns = [_Growing(), _Growing()] + ([_Growing()] if weighted else [])
    for block in reading.with_weights() if weighted else reading:
        expected = reading.expected_rows(columns[0].length + len(block[0]))
        for column, values in zip(columns, block):
            column.add(values, expected)
    facts = reading.facts
    w = columns[2].array() if weighted else None
    return Samples(columns[0].array(), columns[1].array(), facts.source, facts.x_name, facts.y_name, facts.dropped, w, facts.lines_are_rows)


@dataclass(frozen=True)
class ShiftedFloat32:
    """x − x_shift and y − y_shift in float32, and the exact float64 moments of x and y."""

    x: np.ndarray
    y: np.ndarray
    x_shift: float
    y_shift: float
    moments: Moments


def read_shifted_float32(reading: Reading, shift: bool) -> ShiftedFloat32:
    """One pass that keeps x and y in float32 only, less the first block's means (so no offset costs
    float32 digits), while merging each block's float64 moments for the exact reference."""
    columns, parts, shifts = [_Growing(np.float32), _Growing(np.float32)], [], None
    for x, y in reading:
        if not len(x):
            continue
        shifts = shifts or ((float(x.mean()), float(y.mean())) if shift else (0.0, 0.0))
        parts.append(moments(x, y))
        expected = reading.expected_rows(columns[0].length + len(x))
        for values, shift_by, column in zip((x, y), shifts, columns):
            column.add((values - shift_by).astype(np.float32), expected)
    shifts = shifts or (0.0, 0.0)
    return ShiftedFloat32(columns[0].array(), columns[1].array(), shifts[0], shifts[1], merge_moments(parts))
