"""From a data argument and a configuration to a ready Training: in memory, streamed from disk, or one
process's share of a data-parallel run. The command line calls this; it prints nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from linfit.config import TrainConfig
from linfit.data import Samples, read_samples, read_shifted_float32
from linfit.distributed import Group, share
from linfit.errors import DataError, UsageError
from linfit.model import DTYPES, Start
from linfit.read import STDIN, Reading, display_name, expand, is_regular_file
from linfit.reference import LeastSquares, Moments, least_squares_from, merge_moments, moments
from linfit.sources import ArrayChunks, FileChunks, require_representable, streamed_moments
from linfit.stats import FitStats, fit_stats, fit_stats_from_moments
from linfit.train import Training, frame_for, resolve_device

LEAN_ABOVE_BYTES = 64 << 20  # a float32 run on a file this big keeps no float64 copy of x and y


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
    data_sha256: str | None = None  # of the bytes read (every input, in order), taken as they were read

    def sha256(self) -> str | None:
        return self.data_sha256


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
    """Read the data once (every road through one Reading), then build the source and the Training."""
    sources = expand(data)
    rank, world = (group.rank, group.world) if group else (0, 1)
    # a process streams every world-th chunk of all the files; in memory it reads its own files of a glob
    mine = sources[rank::world] if len(sources) > 1 and not chunk_rows else sources
    if not mine:
        raise UsageError(f"{len(sources)} files for {world} processes: some would have no data.", "Use at most as many processes as files.")
    if chunk_rows and not all(is_regular_file(path) for path in sources):
        raise DataError("--chunk-rows reads the data again at every step: it needs files, not stdin or a pipe.", "Save the data to a file first.")

    def open_reading() -> Reading:
        return Reading(data, config.x_col, config.y_col, sep=sep, drop_na=drop_na, paths=sources, rows_of=mine)

    reading = open_reading()
    samples = shifted = None
    if chunk_rows:
        local = streamed_moments(reading, chunk_rows, rank, world)
    elif _lean(sources, config, world, need_samples):
        shifted = read_shifted_float32(reading, shift=config.standardize)
        local = shifted.moments
    else:
        samples = _share(read_samples(reading), len(sources), rank, world)
        local = moments(samples.x, samples.y) if samples.n else merge_moments([])  # a share may hold no rows
    facts = reading.facts
    label = display_name(facts.source)
    require_representable(facts.x_largest, facts.y_largest, config.dtype, config.standardize)
    warnings = [f"dropped {facts.dropped} rows with a missing value."] if facts.dropped else []
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
        source = FileChunks(open_reading, chunk_rows, m, frame, dtype, device, rank, world)
    elif shifted is not None:
        source = ArrayChunks.from_shifted(shifted, m, frame, device)
    else:
        source = ArrayChunks(samples.x, samples.y, m, frame, dtype, device, whole=config.compile and not batch_size)
    training = Training(
        source, config,
        stop_requested=stop_requested, start=start, trace=trace,
        all_reduce=group.all_reduce if group else None,
        batch_rows=batch_size, buffer_rows=max(16 * batch_size, chunk_rows),
    )
    info = {"source": facts.source, "rows": m.n, "x": facts.x_name, "y": facts.y_name, "dropped": facts.dropped}
    if world > 1:
        info["processes"] = world
    return Prepared(training, m, ols, stats, info, sources, samples if world == 1 else None, warnings, facts.sha256)


def _lean(paths: list[str], config: TrainConfig, world: int, need_samples: bool) -> bool:
    """A big file trained in float32 is read once into float32 only: no float64 copy of x and y is kept.

    The reference and statistics then come from the moments (merged block by block, in float64).
    """
    if config.dtype != "float32" or world > 1 or need_samples or len(paths) != 1:
        return False
    return paths[0] != STDIN and is_regular_file(paths[0]) and Path(paths[0]).stat().st_size >= LEAN_ABOVE_BYTES


def _share(samples: Samples, files: int, rank: int, world: int) -> Samples:
    """This process's rows: all it read when it has its own files of a glob, else its block of the one file."""
    if files > 1 or world == 1:
        return samples
    rows = share(samples.n, rank, world)
    return Samples(samples.x[rows], samples.y[rows], samples.source, samples.x_name, samples.y_name, samples.dropped)
