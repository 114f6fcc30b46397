"""From a data argument and a configuration to a ready Training: in memory, streamed from disk, or one
process's share of a data-parallel run. The command line calls this; it prints nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from linfit.cache import check_cache_path
from linfit.config import TrainConfig
from linfit.data import Samples, read_samples, read_shifted_float32
from linfit.distributed import Group, share
from linfit.errors import DataError, LinfitError, UsageError
from linfit.files import plan_outputs
from linfit.model import DTYPES, Start
from linfit.piecewise import PiecewiseTraining, is_piecewise, settle
from linfit.read import STDIN, Reading, display_name, expand, is_regular_file, no_rows_error
from linfit.reference import LeastSquares, Moments, least_squares_from, merge_moments, moments
from linfit.sources import ArrayChunks, CachedChunks, cached_pass, require_representable
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
    reference: object = None  # huber/absolute/quantile: the exact minimiser (reference.Reference), or None
    reference_reason: str | None = None  # why there is none, where the loss has one but this run does not
    robust_stats: object = None  # huber/absolute/quantile: the statistics valid for the loss (robust_stats)

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
    cache: Path | str | None = None,
) -> Prepared:
    """Read the data once (every road through one Reading), then build the source and the Training.

    Streamed (chunk_rows), the one pass parses the text into a binary pass cache (`cache` names one to
    keep and reuse) that every step reads back. Under torchrun, one CSV file is split by bytes and one
    Parquet file by row groups, so that each process parses only its share (see `read.split_of`).
    """
    if config.weight_col is not None:  # the losses and references take weights; the reader does not yet give them
        raise UsageError(
            f"--weight-col {config.weight_col}: this build does not read a weight column yet.", "Drop --weight-col (every row weighs 1)."
        )
    sources = expand(data)
    rank, world = (group.rank, group.world) if group else (0, 1)
    # a process streams every world-th chunk of all the files; in memory it reads its own files of a glob
    mine = sources[rank::world] if len(sources) > 1 and not chunk_rows else sources
    if not mine:
        raise UsageError(f"{len(sources)} files for {world} processes: some would have no data.", "Use at most as many processes as files.")
    if chunk_rows and not all(is_regular_file(path) for path in sources):
        raise DataError(
            "--chunk-rows reads the data again at every step: it needs files, not stdin or a pipe.", "Save the data to a file first."
        )
    try:  # a process that fails tells the others, which stop the same way (see Group.gathered)
        cache_path = _cache_path(cache, chunk_rows, rank, world, sources)
        reading = Reading(data, config.x_col, config.y_col, sep=sep, drop_na=drop_na, paths=sources, rows_of=mine, shard=(rank, world))
        samples = shifted = passes = None
        notes: list[str] = []
        facts = reading.facts
        if chunk_rows:
            shift = config.standardize and config.dtype == "float32"
            agree = group.all_agree if group else (lambda ok: ok)
            passes, facts, note = cached_pass(
                reading, chunk_rows, config.dtype, shift, rank=rank, world=world, path=cache_path, agree=agree
            )
            notes += [note] if note else []
            local = passes.moments
        elif _lean(sources, config, world, need_samples):
            shifted = read_shifted_float32(reading, shift=config.standardize)
            local = shifted.moments
        else:
            samples = read_samples(reading)
            samples = samples if reading.split else _share(samples, len(sources), rank, world)
            local = moments(samples.x, samples.y) if samples.n else merge_moments([])  # a share may hold no rows
        label = display_name(facts.source)
        mine_info = {
            "rank": rank,
            "rows": local.n,
            "bytes": reading.parsed_bytes,
            "dropped": facts.dropped,
            "largest": [facts.x_largest, facts.y_largest],
        }
    except LinfitError as error:
        if group is None:
            raise
        group.fail(error)
    ranks = group.gathered(mine_info) if group else [mine_info]
    disjoint = bool(reading.split) or (len(sources) > 1 and not chunk_rows)  # each process read other rows
    dropped = sum(r["dropped"] for r in ranks) if disjoint else facts.dropped
    require_representable(max(r["largest"][0] for r in ranks), max(r["largest"][1] for r in ranks), config.dtype, config.standardize)
    warnings = [f"dropped {dropped} rows with a missing value."] if dropped else []
    m = group.merged(local) if group else local
    if reading.split and m.n == 0:  # each process saw only its share; the whole file has no rows
        raise no_rows_error(label, dropped)
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
    piecewise = None
    if is_piecewise(config.loss):  # huber, absolute, quantile: δ, the exact reference and their statistics
        config, piecewise = _piecewise(config, samples, passes, shifted, world, warnings)
    dtype, device = DTYPES[config.dtype], resolve_device(config.device)
    if passes is not None:
        source = CachedChunks(passes, m, frame, dtype, device)
    elif shifted is not None:
        source = ArrayChunks.from_shifted(shifted, m, frame, device)
    else:
        source = ArrayChunks(samples.x, samples.y, m, frame, dtype, device, whole=config.compile and not batch_size)
    training = (PiecewiseTraining if piecewise is not None else Training)(
        source,
        config,
        stop_requested=stop_requested,
        start=start,
        trace=trace,
        all_reduce=group.all_reduce if group else None,
        batch_rows=batch_size,
        buffer_rows=max(16 * batch_size, chunk_rows),
    )
    info = {"source": facts.source, "rows": m.n, "x": facts.x_name, "y": facts.y_name, "dropped": dropped}
    if world > 1:
        info["processes"] = world
        info["split"] = reading.split or ("chunks" if chunk_rows else "files" if len(sources) > 1 else "rows")
        info["ranks"] = [{"rank": r["rank"], "rows": r["rows"], "bytes": r["bytes"]} for r in ranks]
        if not reading.split and len(sources) == 1:
            notes.append(
                f"note: {label} cannot be entered in the middle (compressed, or not a regular file): each of the {world} processes "
                "reads and parses all of it and trains on its share of the rows. Decompress it to split the parsing."
            )
    prepared = Prepared(training, m, ols, stats, info, sources, samples if world == 1 else None, notes + warnings, facts.sha256)
    if piecewise is not None:
        prepared.reference, prepared.reference_reason, prepared.robust_stats = piecewise
    return prepared


def _piecewise(config: TrainConfig, samples, passes, shifted, world: int, warnings: list[str]):
    """huber's δ, the exact reference (or why there is none) and the statistics of a piecewise loss, from
    the rows in float64: in memory, or read back from the pass cache when the reference can take them."""
    from linfit.reference import LP_ROW_LIMIT
    from linfit.robust_stats import piecewise_stats

    x = y = None
    why_not = None
    if world > 1:
        why_not = "each process holds only its share of the rows"
    elif samples is not None:
        x, y = samples.x, samples.y
    elif passes is not None and passes.rows <= LP_ROW_LIMIT:
        parts = [(bx.astype(np.float64) + passes.x_shift, by.astype(np.float64) + passes.y_shift) for bx, by in passes.blocks()]
        x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    elif passes is not None:
        why_not = f"the {passes.rows:,} streamed rows are more than the {LP_ROW_LIMIT:,} the exact reference is solved for"
        if config.loss == "huber" and config.huber_delta is None:  # δ from every k-th row, as in memory
            from linfit.reference import default_huber_delta, delta_stride

            k = delta_stride(passes.rows)
            parts, start = [], 0
            for bx, by in passes.blocks():
                first = (-start) % k
                parts.append((bx[first::k].astype(np.float64) + passes.x_shift, by[first::k].astype(np.float64) + passes.y_shift))
                start += bx.shape[0]
            sx, sy = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            delta = default_huber_delta(sx, sy)
            config = config.model_copy(update={"huber_delta": delta})
            warnings.append(f"huber: δ = {delta:.6g} (1.345 × MAD/0.6745 of the residuals about the least-absolute-deviations line).")
    elif shifted is not None:
        why_not = "this float32 run keeps no float64 copy of the rows"
    config, reference, reason, notes = settle(config, x, y, None, why_not)
    warnings.extend(notes)
    statistics = piecewise_stats(config, x, y, reference) if reference is not None else None
    return config, (reference, reason, statistics)


def _cache_path(cache: Path | str | None, chunk_rows: int, rank: int, world: int, sources: list[str]) -> Path | None:
    """Where this process keeps its pass cache: the path given, or beside it per process under torchrun."""
    if cache is None:
        return None
    if not chunk_rows:
        raise UsageError(
            "--cache keeps the parsed passes of a streamed run: it needs --chunk-rows.", "Add --chunk-rows ROWS, or drop --cache."
        )
    path = Path(cache) if world == 1 else Path(f"{cache}.rank{rank}-of-{world}")
    plan_outputs({"--cache": path}, {"data file" if len(sources) == 1 else f"data file {s}": s for s in sources})
    check_cache_path(path)
    return path


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
