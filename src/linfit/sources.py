"""What the trainer iterates: (x_t, y_t) chunks in training coordinates, with the moments and the frame
they were built from. Rows in memory (float64, or the lean float32 copy of a big file), rows read back
from the binary pass cache that the first streamed pass wrote (CachedChunks: what --chunk-rows trains
on), or rows parsed afresh from the text at every pass (FileChunks); the trainer cannot tell which.

Every source is filled from a `read.Reading`, so that each road sees the same rows.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from linfit.cache import CacheWriter, NamedBuild, PassCache, identity, open_existing, temporary_file
from linfit.config import TrainConfig
from linfit.data import ShiftedFloat32, rechunked
from linfit.device import CHUNK_ROWS, resolve_device
from linfit.errors import DataError, OutputError
from linfit.frame import Frame, affine_tensor
from linfit.model import DTYPES
from linfit.read import Facts, Reading, rechunked_with_weights
from linfit.reference import BLOCK_ROWS, Moments, merge_moments, moments


class Source:
    """What every source carries: the configuration it was built for (its dtype, device, standardisation),
    the moments of its rows and the frame of its training coordinates. A Training takes its config from here."""

    config: TrainConfig
    moments: Moments
    frame: Frame

    def _built_for(self, config: TrainConfig, m: Moments, frame: Frame) -> None:
        self.config, self.moments, self.frame = config, m, frame
        self.dtype, self.device = DTYPES[config.dtype], resolve_device(config.device)


class ArrayChunks(Source):
    """The data in training coordinates, held in memory, in cache-sized chunks."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        m: Moments,
        frame: Frame,
        config: TrainConfig,
        whole: bool = False,
        w: np.ndarray | None = None,
        weight_scale: float = 1.0,
    ):
        """`w`: the rows' weights, scaled by `weight_scale` (to mean 1 over the rows with a positive weight):
        the chunks are then (x_t, y_t, w) triples."""
        self._built_for(config, m, frame)
        dtype, device = self.dtype, self.device
        self.x = affine_tensor(x, frame.x_shift, frame.x_scale, dtype).to(device)
        self.y = affine_tensor(y, frame.y_shift, 1.0, dtype).to(device)
        columns = [self.x, self.y]
        self.weighted = w is not None  # the chunks are (x_t, y_t, w) triples
        if w is not None:
            columns.append(torch.from_numpy(np.asarray(w, dtype=np.float64) * weight_scale).to(dtype).to(device))
        # whole: one piece, for torch.compile, whose fused step makes no big temporaries
        self.parts = [tuple(columns)] if whole else list(zip(*(column.split(CHUNK_ROWS) for column in columns)))

    @classmethod
    def from_shifted(cls, data: ShiftedFloat32, m: Moments, frame: Frame, config: TrainConfig) -> ArrayChunks:
        """Training tensors made in place from x − x_shift, y − y_shift in float32 (no second copy)."""
        chunks = cls.__new__(cls)
        chunks._built_for(config, m, frame)
        device = chunks.device
        chunks.x, chunks.y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        chunks.x.sub_(frame.x_shift - data.x_shift).div_(frame.x_scale)
        chunks.y.sub_(frame.y_shift - data.y_shift)
        chunks.x, chunks.y = chunks.x.to(device), chunks.y.to(device)
        chunks.parts = list(zip(chunks.x.split(CHUNK_ROWS), chunks.y.split(CHUNK_ROWS)))
        return chunks

    def __iter__(self):
        return iter(self.parts)


class FileChunks(Source):
    """The data read afresh at every pass: memory holds one chunk, whatever the data's size.

    `open_reading` gives a fresh Reading for each pass; process `rank` of `world` takes every world-th chunk.
    """

    def __init__(
        self,
        open_reading: Callable[[], Reading],
        chunk_rows: int,
        m: Moments,
        frame: Frame,
        config: TrainConfig,
        rank: int = 0,
        world: int = 1,
    ):
        self.open_reading, self.chunk_rows = open_reading, chunk_rows
        self._built_for(config, m, frame)
        self.rank, self.world = rank, world

    def __iter__(self):
        for x, y in own_chunks(self.open_reading(), self.chunk_rows, self.rank, self.world):
            xt = affine_tensor(x, self.frame.x_shift, self.frame.x_scale, self.dtype).to(self.device)
            yt = affine_tensor(y, self.frame.y_shift, 1.0, self.dtype).to(self.device)
            yield from zip(xt.split(CHUNK_ROWS), yt.split(CHUNK_ROWS))


class CachedChunks(Source):
    """Passes read back from the binary pass cache (see linfit.cache): memory holds one block, whatever
    the data's size, and no pass parses text again."""

    def __init__(self, cache: PassCache, m: Moments, frame: Frame, config: TrainConfig, weight_scale: float = 1.0):
        """A cache that holds weights gives (x_t, y_t, w) triples, w scaled by `weight_scale`."""
        self.cache = cache
        self.weight_scale = weight_scale
        self.weighted = bool(cache.weights)  # the chunks are (x_t, y_t, w) triples
        self._built_for(config, m, frame)

    def __iter__(self):
        frame, cache = self.frame, self.cache
        x_shift, y_shift = frame.x_shift - cache.x_shift, frame.y_shift - cache.y_shift
        for x, y, w in cache.with_weights():  # views of one reused buffer: each becomes a fresh array at once
            xt = np.subtract(x, x_shift)  # numpy, one thread: a block is too small to share among threads
            xt /= frame.x_scale
            yt = np.subtract(y, y_shift)
            if w is None:
                yield torch.from_numpy(xt).to(self.device), torch.from_numpy(yt).to(self.device)
            else:
                # scaled in float64: tiny weights' scale (1e40 for weights of 1e-40) is beyond float32's range
                wt = np.multiply(w, self.weight_scale, dtype=np.float64).astype(xt.dtype)
                yield torch.from_numpy(xt).to(self.device), torch.from_numpy(yt).to(self.device), torch.from_numpy(wt).to(self.device)


def cached_rows_with_weights(cache: PassCache):
    """The rows of a pass cache in float64 with their weights (x, y, w), a block at a time (w None without)."""
    for x, y, w in cache.with_weights():
        yield x.astype(np.float64) + cache.x_shift, y.astype(np.float64) + cache.y_shift, None if w is None else w.astype(np.float64)


def cached_pass(
    reading: Reading,
    chunk_rows: int,
    dtype: str,
    shift: bool,
    *,
    rank: int = 0,
    world: int = 1,
    path: Path | None = None,
    agree: Callable[[bool], bool] = lambda ok: ok,
    consume: Callable[[Iterator], object] | None = None,
) -> tuple[PassCache, Facts, str | None]:
    """The pass cache of this process's rows, with the facts of the data and a note for people (or None).

    With `path`, a cache made from the same data and settings is reused (the sources' size and mtime, and
    the SHA-256 of their bytes where this process takes it, must match; `agree` makes every process of a
    run decide together); any other is rebuilt. Without, an unnamed temporary file is filled.
    Either way, building is one pass through the reader, merging each chunk's moments as it goes;
    `consume`, when given, is handed that pass's (x, y) chunks ((x, y, w) for weighted rows), in float64, to take
    what it needs as they go (the report's reservoir sample). A cache that is reused is no pass: `cached_rows` reads its rows back.
    """
    key = {
        "sources": identity(reading.paths),
        "x_col": str(reading.wanted[0][0]),
        "y_col": str(reading.wanted[1][0]),
        "w_col": None if reading.weight_col is None else str(reading.weight_col),
        "sep": reading.sep,
        "drop_na": reading.drop_na,
        "dtype": dtype,
        "shift": shift,
        "share": [rank, world, reading.split],
        "chunk_rows": chunk_rows if world > 1 and not reading.split else None,
    }
    note = None
    if path is not None and path.exists() and path.stat().st_size:
        cache, why = open_existing(path, key, reading.paths, reading.hashing)
        if agree(cache is not None):
            facts = Facts(**cache.trailer["facts"])
            return (
                cache,
                facts,
                f"note: reusing the pass cache {path}: made from the same data (size, time and SHA-256 match); no text is parsed.",
            )
        if cache is not None:
            cache.close()
            why = "another process's cache of this run is out of date"
        note = f"note: rebuilding the pass cache {path}: {why}."
    else:
        agree(False)
    try:
        build = NamedBuild(path) if path is not None else None
        handle = build.handle if build else temporary_file()
    except OSError as exc:
        raise _cache_error(path, exc) from None
    try:
        trailer = _fill(handle, reading, chunk_rows, dtype, shift, key, (0, 1) if reading.split else (rank, world), consume)
        if build is not None:
            build.publish()
    except OSError as exc:  # the reader turns its own into DataError: this one is the cache's
        handle.close()
        raise _cache_error(path, exc) from None
    except BaseException:
        handle.close()  # unnamed: nothing is left behind
        raise
    if build is not None and note is None:
        note = f"note: wrote the pass cache {path}; a later run on the same data reuses it."
    return PassCache(handle, trailer, path), reading.facts, note


def _cache_error(path: Path | None, exc: OSError) -> OutputError:
    where = f"--cache {path}" if path is not None else f"the temporary pass cache (in {tempfile.gettempdir()})"
    return OutputError(
        f"{where}: cannot write it ({exc.strerror or exc}).",
        "It needs 16 bytes a row in float64, 8 in float32: set TMPDIR to a folder with room, or name a file with --cache.",
    )


def _fill(handle, reading: Reading, chunk_rows: int, dtype: str, shift: bool, key: dict, share: tuple[int, int], consume=None) -> dict:
    """One pass through the reader: each chunk's moments merged, its rows appended to the cache (and handed to `consume`)."""
    weights = reading.weight_col is not None
    writer = CacheWriter(handle, dtype, BLOCK_ROWS, shift, weights=weights)
    parts = []

    def chunks():
        for x, y, *w in own_chunks(reading, chunk_rows, *share, weights=weights):
            parts.append(moments(x, y))
            writer.add(x, y, *w)
            yield x, y, *w

    with np.errstate(over="ignore"):  # a float32 overflow is refused by require_representable, with its cause
        rows = chunks()
        if consume is not None:
            consume(rows)
        for _ in rows:  # what consume left, or every chunk
            pass
    m = merge_moments(parts) if parts else Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return writer.finish({"key": key, "sha256": reading.facts.sha256, "moments": asdict(m), "facts": asdict(reading.facts)})


def cached_rows(cache: PassCache) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The rows of a pass cache in float64, a block at a time, as the data hold them (the cache's shift added back)."""
    for x, y in cache.blocks():
        yield x.astype(np.float64) + cache.x_shift, y.astype(np.float64) + cache.y_shift


def own_chunks(reading: Reading, chunk_rows: int, rank: int = 0, world: int = 1, weights: bool = False):
    """This process's chunks of `chunk_rows` rows: every world-th, starting at its rank (all are read and checked).
    weights: (x, y, w) chunks instead of (x, y)."""
    chunks = rechunked_with_weights(reading.with_weights(), chunk_rows) if weights else rechunked(reading, chunk_rows)
    for index, chunk in enumerate(chunks):
        if index % world == rank:
            yield chunk


def require_representable(x_largest: float, y_largest: float, dtype: str, standardize: bool, stored: bool = False) -> None:
    """float32 squares overflow past ~1.8e19: refuse data that would, rather than train on infinities.

    `stored`: the road keeps x − shift itself in float32 (the pass cache, the lean copy), which overflows
    float32's range past ~3.4e38 even where the standardised x_t would not."""
    if dtype != "float32":
        return
    largest_float32 = float(np.finfo(np.float32).max)
    if stored and standardize and 2 * x_largest > largest_float32:  # |x − shift| ≤ 2·max|x|
        raise DataError(
            f"x reaches {x_largest:.3g}: a float32 run that streams (--chunk-rows) or reads a big file keeps x less its mean "
            f"in float32, whose largest value is {largest_float32:.3g}.",
            "Use --dtype float64, or rescale x.",
        )
    limit = float(np.sqrt(np.finfo(np.float32).max)) / 16
    for name, largest in (("y", y_largest),) if standardize else (("x", x_largest), ("y", y_largest)):
        if largest > limit:
            raise DataError(
                f"{name} reaches {largest:.3g}, too large for float32 (squares overflow).", "Use --dtype float64, or rescale the data."
            )
