"""From a data argument and a configuration to a ready Training: in memory, streamed from disk, or one
process's share of a data-parallel run. The command line calls this; it prints nothing.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from linfit.config import TrainConfig
from linfit.data import STDIN, STREAM_ABOVE_BYTES, files_sha256, iter_chunks, load_samples, load_shifted_float32
from linfit.distributed import Group, share
from linfit.errors import DataError, UsageError
from linfit.model import DTYPES, Start
from linfit.reference import LeastSquares, Moments, least_squares_from, merge_moments, moments
from linfit.stats import FitStats, fit_stats, fit_stats_from_moments
from linfit.train import ArrayChunks, FileChunks, Training, frame_for, require_representable, resolve_device


@dataclass
class Prepared:
    training: Training
    moments: Moments
    ols: LeastSquares | None
    stats: FitStats | None
    data_info: dict
    sources: list[str]
    samples: object = None  # the in-memory Samples of a single process, for pictures
    warnings: list[str] = field(default_factory=list)

    def sha256(self) -> str:
        return self.samples.sha256() if self.samples is not None else files_sha256(self.sources)


def expand(data: str) -> list[str]:
    """A file, '-', or a glob such as 'data/part-*.csv' (sorted, so that every process sees one order)."""
    if data == STDIN or Path(data).exists() or not any(c in data for c in "*?["):
        return [data]
    found = sorted(glob.glob(data))
    if not found:
        raise DataError(f"{data}: no file matches.", "Check the pattern.")
    return found


def prepare(
    data: str,
    config: TrainConfig,
    *,
    sep: str | None = None,
    drop_na: bool = False,
    chunk_rows: int = 0,
    batch_size: int = 0,
    start: Start | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    trace: bool = False,
    group: Group | None = None,
    need_samples: bool = False,
) -> Prepared:
    sources = expand(data)
    rank, world = (group.rank, group.world) if group else (0, 1)
    label = sources[0] if len(sources) == 1 else data
    warnings: list[str] = []
    samples = None
    shifted = _lean_float32(sources, config, sep, chunk_rows, drop_na, world, need_samples)
    if chunk_rows:
        local = _streamed_moments(sources, config, sep, chunk_rows, rank, world)
    elif shifted is not None:
        local = shifted.moments
    else:
        samples = _load_share(sources, config, sep, drop_na, rank, world)
        if samples.dropped:
            warnings.append(f"dropped {samples.dropped} rows with a missing value.")
        require_representable(samples.x, samples.y, config.dtype, config.standardize)
        local = moments(samples.x, samples.y)
    m = group.merged(local) if group else local
    try:
        frame = frame_for(m, config.standardize)  # refuses data that determine no line, when standardising
        ols = least_squares_from(m)
    except DataError as error:
        if config.standardize:
            raise DataError(f"{label}: {error.message}", error.hint) from None
        warnings.append(f"warning: {label}: {error.message} The least-squares line is not unique.")
        ols = None
    stats = None
    if ols is not None:
        exact = samples is not None and world == 1
        stats = fit_stats(samples.x, samples.y, ols.a, ols.b) if exact else fit_stats_from_moments(m, ols.a, ols.b)
    dtype, device = DTYPES[config.dtype], resolve_device(config.device)
    if chunk_rows:
        source = FileChunks(sources, config.x_col, config.y_col, sep, chunk_rows, frame, dtype, device, rank, world)
    elif shifted is not None:
        source = ArrayChunks.from_shifted(shifted, frame, device)
    else:
        source = ArrayChunks(samples.x, samples.y, frame, dtype, device, whole=config.compile and not batch_size)
    training = Training.over(
        source, m, frame, config,
        stop_requested=stop_requested, start=start, trace=trace,
        all_reduce=group.all_reduce if group else None,
        batch_rows=batch_size, buffer_rows=max(16 * batch_size, chunk_rows),
    )
    named = samples if samples is not None else shifted
    x_name = named.x_name if named is not None else str(config.x_col)
    y_name = named.y_name if named is not None else str(config.y_col)
    info = {"source": label, "rows": m.n, "x": x_name, "y": y_name, "dropped": samples.dropped if samples else 0}
    if world > 1:
        info["processes"] = world
    return Prepared(training, m, ols, stats, info, sources, samples if world == 1 else None, warnings)


def _lean_float32(sources, config: TrainConfig, sep, chunk_rows: int, drop_na: bool, world: int, need_samples: bool):
    """A big file trained in float32 is read once into float32 only: no float64 copy of x and y is kept.

    The reference and statistics then come from the moments (merged block by block, in float64).
    """
    if config.dtype != "float32" or chunk_rows or drop_na or world > 1 or need_samples or len(sources) != 1:
        return None
    source = sources[0]
    if source == STDIN or not Path(source).is_file() or Path(source).stat().st_size < STREAM_ABOVE_BYTES:
        return None
    return load_shifted_float32(source, config.x_col, config.y_col, sep, shift=config.standardize)


def _load_share(sources: list[str], config: TrainConfig, sep, drop_na: bool, rank: int, world: int):
    """This process's rows: its own files of a glob, or its block of a single file."""
    mine = sources[rank::world] if len(sources) > 1 else sources
    if not mine:
        raise UsageError(f"{len(sources)} files for {world} processes: some would have no data.", "Use at most as many processes as files.")
    parts = [load_samples(s, config.x_col, config.y_col, drop_na=drop_na, sep=sep) for s in mine]
    samples = parts[0]
    if len(parts) > 1:
        samples = type(samples)(
            x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]),
            source=",".join(mine), x_name=samples.x_name, y_name=samples.y_name, dropped=sum(p.dropped for p in parts),
        )
    if len(sources) == 1 and world > 1:
        rows = share(samples.n, rank, world)
        samples = type(samples)(x=samples.x[rows], y=samples.y[rows], source=samples.source, x_name=samples.x_name, y_name=samples.y_name, dropped=samples.dropped)
    return samples


def _streamed_moments(sources, config: TrainConfig, sep, chunk_rows: int, rank: int, world: int) -> Moments:
    """One pass over this process's chunks, merging each chunk's moments: memory stays one chunk."""
    parts = []
    for index, (x, y) in enumerate(_chunks(sources, config, sep, chunk_rows)):
        if index % world == rank:
            parts.append(moments(x, y))
    return merge_moments(parts)


def _chunks(sources, config: TrainConfig, sep, chunk_rows: int):
    for source in sources:
        yield from iter_chunks(source, config.x_col, config.y_col, sep, chunk_rows)
