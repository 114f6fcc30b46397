"""What the trainer iterates: (x_t, y_t) chunks in training coordinates, with the moments and the frame
they were built from. Rows in memory (float64, or the lean float32 copy of a big file), or rows read
afresh from disk at every pass (this process's chunks); the trainer cannot tell which.

Every source is filled from a `read.Reading`, so that each road sees the same rows.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from linfit.config import TrainConfig
from linfit.data import ShiftedFloat32, rechunked
from linfit.errors import DataError
from linfit.model import DTYPES
from linfit.read import Reading
from linfit.reference import Moments, merge_moments, moments
from linfit.train import CHUNK_ROWS, Frame, _affine_tensor, frame_for, resolve_device


class ArrayChunks:
    """The data in training coordinates, held in memory, in cache-sized chunks."""

    def __init__(self, x: np.ndarray, y: np.ndarray, m: Moments, frame: Frame, dtype: torch.dtype, device: torch.device, whole: bool = False):
        self.moments, self.frame = m, frame
        self.x = _affine_tensor(x, frame.x_shift, frame.x_scale, dtype).to(device)
        self.y = _affine_tensor(y, frame.y_shift, 1.0, dtype).to(device)
        # whole: one piece, for torch.compile, whose fused step makes no big temporaries
        self.parts = [(self.x, self.y)] if whole else list(zip(self.x.split(CHUNK_ROWS), self.y.split(CHUNK_ROWS)))

    @classmethod
    def from_shifted(cls, data: ShiftedFloat32, m: Moments, frame: Frame, device: torch.device) -> ArrayChunks:
        """Training tensors made in place from x − x_shift, y − y_shift in float32 (no second copy)."""
        chunks = cls.__new__(cls)
        chunks.moments, chunks.frame = m, frame
        chunks.x, chunks.y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        chunks.x.sub_(frame.x_shift - data.x_shift).div_(frame.x_scale)
        chunks.y.sub_(frame.y_shift - data.y_shift)
        chunks.x, chunks.y = chunks.x.to(device), chunks.y.to(device)
        chunks.parts = list(zip(chunks.x.split(CHUNK_ROWS), chunks.y.split(CHUNK_ROWS)))
        return chunks

    def __iter__(self):
        return iter(self.parts)


class FileChunks:
    """The data read afresh at every pass: memory holds one chunk, whatever the data's size.

    `open_reading` gives a fresh Reading for each pass; process `rank` of `world` takes every world-th chunk.
    """

    def __init__(self, open_reading: Callable[[], Reading], chunk_rows: int, m: Moments, frame: Frame, dtype, device, rank: int = 0, world: int = 1):
        self.open_reading, self.chunk_rows = open_reading, chunk_rows
        self.moments, self.frame, self.dtype, self.device = m, frame, dtype, device
        self.rank, self.world = rank, world

    def __iter__(self):
        for x, y in own_chunks(self.open_reading(), self.chunk_rows, self.rank, self.world):
            xt = _affine_tensor(x, self.frame.x_shift, self.frame.x_scale, self.dtype).to(self.device)
            yt = _affine_tensor(y, self.frame.y_shift, 1.0, self.dtype).to(self.device)
            yield from zip(xt.split(CHUNK_ROWS), yt.split(CHUNK_ROWS))


def own_chunks(reading: Reading, chunk_rows: int, rank: int = 0, world: int = 1):
    """This process's chunks of `chunk_rows` rows: every world-th, starting at its rank (all are read and checked)."""
    for index, chunk in enumerate(rechunked(reading, chunk_rows)):
        if index % world == rank:
            yield chunk


def streamed_moments(reading: Reading, chunk_rows: int, rank: int = 0, world: int = 1) -> Moments:
    """One pass over this process's chunks, merging each chunk's moments: memory stays one chunk."""
    parts = [moments(x, y) for x, y in own_chunks(reading, chunk_rows, rank, world)]
    return merge_moments(parts) if parts else Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)


def require_representable(x_largest: float, y_largest: float, dtype: str, standardize: bool) -> None:
    """float32 squares overflow past ~1.8e19: refuse data that would, rather than train on infinities."""
    if dtype != "float32":
        return
    limit = float(np.sqrt(np.finfo(np.float32).max)) / 16
    for name, largest in (("y", y_largest),) if standardize else (("x", x_largest), ("y", y_largest)):
        if largest > limit:
            raise DataError(f"{name} reaches {largest:.3g}, too large for float32 (squares overflow).", "Use --dtype float64, or rescale the data.")


def in_memory(x: np.ndarray, y: np.ndarray, config: TrainConfig, whole: bool | None = None) -> ArrayChunks:
    """A source over arrays already in memory (tests, benchmarks, `fit`): moments and frame from the rows."""
    x = np.require(np.asarray(x, dtype=np.float64), requirements="W")
    y = np.require(np.asarray(y, dtype=np.float64), requirements="W")
    largest = [float(np.abs(v).max()) if v.size else 0.0 for v in (x, y)]
    require_representable(*largest, config.dtype, config.standardize)
    m = moments(x, y)
    frame = frame_for(m, config.standardize)
    whole = config.compile if whole is None else whole
    return ArrayChunks(x, y, m, frame, DTYPES[config.dtype], resolve_device(config.device), whole=whole)

