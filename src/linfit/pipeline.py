"""From data and a configuration to a ready run: the one builder. The command line, `linfit.fit`, the
benchmark and the tests all call `prepare`; it prints nothing.

The data travel one of four roads, each an object that reads the rows once and then makes the source the
trainer iterates, the exact statistics and the report's scatter sample:

    InMemory   every row in float64 (a file, stdin, a glob; under torchrun, this process's share)
    Lean       a big file trained in float32: x and y kept in float32 only, less a shift
    Streamed   --chunk-rows: the one pass fills the binary pass cache that every step reads back
    Arrays     arrays already in memory (`linfit.fit`, tests, benchmarks)

The source carries the configuration it was built for, so that no run trains on data prepared for another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from linfit.cache import check_cache_path
from linfit.config import TrainConfig
from linfit.data import Samples, read_samples, read_shifted_float32
from linfit.distributed import Group, share
from linfit.errors import DataError, LinfitError, UsageError
from linfit.files import plan_outputs
from linfit.frame import frame_for
from linfit.holdout import HeldOut
from linfit.model import Start
from linfit.piecewise import PiecewiseTraining, floored_default_delta, is_piecewise, settle
from linfit.read import STDIN, TINY_WEIGHT, Facts, Reading, display_name, expand, is_regular_file, no_rows_error
from linfit.reference import (
    LeastSquares,
    Moments,
    WeightedPart,
    least_squares_from,
    merge_moments,
    merge_weighted,
    moments,
    scaled,
    weighted_part,
)
from linfit.sample import reservoir_sample, scatter_sample
from linfit.sources import ArrayChunks, CachedChunks, Source, cached_pass, cached_rows, cached_rows_with_weights, require_representable
from linfit.stats import FitStats, fit_stats, fit_stats_from_moments
from linfit.train import StepRecord, Training, TrainResult

DELTA_SMALLEST = 1e-150  # and at least this, whatever the data (½δ² stays a normal number)
DELTA_BELOW_SPREAD = 1e-8  # huber's δ must be at least this fraction of y's standard deviation (of |y|, when y is constant) (see _require_delta_above_rounding)
LEAN_ABOVE_BYTES = 64 << 20  # a float32 run on a file this big keeps no float64 copy of x and y


@dataclass
class Prepared:
    training: Training
    moments: Moments
    ols: LeastSquares | None
    stats: FitStats | None
    data_info: dict
    sources: list[str]
    samples: Samples | None = None  # the in-memory rows of a single process, for pictures
    warnings: list[str] = field(default_factory=list)
    data_sha256: str | None = None  # of the bytes read (every input, in order), taken as they were read
    scatter: dict | None = None  # the report's sample of the rows, taken from the one pass (need_samples)
    held: HeldOut | None = None  # the rows held out (config.holdout, set aside by the seed; or train --valid's file)
    rows: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]] | None = None  # a streamed run's rows again, from its pass cache
    reference: object = None  # huber/absolute/quantile: the exact minimiser (reference.Reference), or None
    reference_reason: str | None = None  # why there is none, where the loss has one but this run does not
    robust_stats: object = None  # huber/absolute/quantile: the statistics valid for the loss (robust_stats)
    lines_are_rows: bool = False  # row r is line r + 1 of the one CSV file (no blank lines, no multi-line records, none dropped)

    def sha256(self) -> str | None:
        return self.data_sha256


class Road:
    """One way of holding the rows: `read` takes them from the one pass, `source` makes what the trainer iterates."""

    samples: Samples | None = None  # float64 rows in memory, when this road keeps them
    scatter: dict | None = None
    weight_scale: float = 1.0  # weighted rows: the factor that makes the weights' mean 1 over the rows with a positive one
    weighted: WeightedPart | None = None  # weighted rows: this process's weighted sums (merged across processes in `prepare`)
    world: int = 1
    held: HeldOut | None = None  # the rows config.holdout set aside (in memory only)

    def _weighted(self, blocks) -> Moments:
        """The moments of weighted rows and their scale. Under torchrun each process's weighted sums are
        merged first (`prepare`: one scale for all of them, the whole data's); here only its count of rows."""
        self.weighted = weighted_part(blocks)
        if self.world > 1:
            return Moments(self.weighted.rows, 0.0, 0.0, 0.0, 0.0, 0.0)
        m, self.weight_scale = scaled(self.weighted)
        return m

    def read(self, reading: Reading | None) -> tuple[Moments, Facts]:
        raise NotImplementedError

    def source(self, m: Moments, config: TrainConfig) -> Source:
        raise NotImplementedError


class InMemory(Road):
    """Every row in float64; under torchrun, this process's share of them. With `holdout` (a fraction, one
    process only), the rows the seed chooses are set aside first: everything after is computed from the rest."""

    holdout: float = 0.0
    loss: str = "half_mse"  # the loss the held-out rows are scored with

    def __init__(self, files: int, rank: int, world: int, seed: int, sample: bool, whole: bool) -> None:
        self.files, self.rank, self.world, self.seed, self.sample, self.whole = files, rank, world, seed, sample, whole

    def read(self, reading):
        samples = read_samples(reading)
        # the rows' place in the whole data: this process's own files of a glob, or Parquet row groups, are not one block
        self.parts = dict(reading.parts) if reading.split or self.files > 1 else None
        return self._keep(samples if reading.split else _share(samples, self.files, self.rank, self.world)), reading.facts

    def _keep(self, samples: Samples) -> Moments:
        """Keep the rows to train on (less the held-out ones), take the report's sample of them; their moments."""
        if self.holdout:
            from linfit.holdout import split_samples

            samples, self.held = split_samples(samples, self.holdout, self.seed, self.loss)
        self.samples = samples
        if self.sample and self.world == 1:
            self.scatter = scatter_sample(samples.x, samples.y, self.seed, samples.w)  # with the rows' weights, if any
        if samples.w is not None and (samples.n or self.world > 1):  # a share may hold no rows
            return self._weighted([(samples.x, samples.y, samples.w)])
        return moments(samples.x, samples.y) if samples.n else merge_moments([])  # a share may hold no rows

    def source(self, m, config):
        frame, samples = frame_for(m, config.standardize), self.samples
        return ArrayChunks(samples.x, samples.y, m, frame, config, whole=self.whole, w=samples.w, weight_scale=self.weight_scale)


class Arrays(InMemory):
    """x and y already in memory (`linfit.fit`, tests, benchmarks), with the names of x, y and the data."""

    def __init__(self, x, y, names: tuple[str, str, str] = ("x", "y", "arrays"), seed: int = 0, sample: bool = False, whole=False, w=None):
        super().__init__(1, 0, 1, seed, sample, whole)
        x = np.require(np.asarray(x, dtype=np.float64), requirements="W")
        y = np.require(np.asarray(y, dtype=np.float64), requirements="W")
        if w is not None:  # weights as the reader takes them: finite and >= 0, one a row
            w = np.require(np.asarray(w, dtype=np.float64), requirements="W")
            if w.shape != x.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or np.any((w > 0) & (w < TINY_WEIGHT)):
                raise DataError(f"{names[2]}: the weights must be finite numbers >= 0, one a row, 0 or normal.", "Check the weights.")
        self.samples = Samples(x, y, names[2], names[0], names[1], w=w)

    def read(self, reading):
        x, y = self.samples.x, self.samples.y
        largest = [float(np.abs(v).max()) if v.size else 0.0 for v in (x, y)]
        samples = self.samples
        facts = Facts(samples.source, samples.x_name, samples.y_name, rows=len(x), x_largest=largest[0], y_largest=largest[1])
        return self._keep(self.samples), facts


class Lean(Road):
    """A big file trained in float32: one pass keeps x and y in float32 only (no float64 copy)."""

    def __init__(self, standardize: bool) -> None:
        self.standardize = standardize

    def read(self, reading):
        self.shifted = read_shifted_float32(reading, shift=self.standardize)
        return self.shifted.moments, reading.facts

    def source(self, m, config):
        return ArrayChunks.from_shifted(self.shifted, m, frame_for(m, config.standardize), config)


class Streamed(Road):
    """--chunk-rows: the one pass parses the text into the binary pass cache (reused when `path` holds one
    made from the same data); the report's sample is a reservoir kept as that pass goes."""

    def __init__(self, chunk_rows: int, config: TrainConfig, rank: int, world: int, path: Path | None, agree, sample: bool) -> None:
        self.chunk_rows, self.config, self.rank, self.world, self.path, self.agree = chunk_rows, config, rank, world, path, agree
        self.sample = sample and world == 1
        self.note: str | None = None

    def read(self, reading):
        config = self.config
        shift = config.standardize and config.dtype == "float32"
        sampled: list = []
        consume = (lambda chunks: sampled.append(reservoir_sample(chunks, config.seed))) if self.sample else None
        self.passes, facts, self.note = cached_pass(
            reading,
            self.chunk_rows,
            config.dtype,
            shift,
            rank=self.rank,
            world=self.world,
            path=self.path,
            agree=self.agree,
            consume=consume,
        )
        if self.sample:  # from the one pass, or, when a kept cache was reused, from the cache's blocks
            again = cached_rows_with_weights(self.passes) if self.passes.weights else cached_rows(self.passes)
            self.scatter = sampled[0] if sampled else reservoir_sample(again, config.seed)  # with the rows' weights, if any
        # a split file's rows by part (Parquet row groups are every world-th): none when a kept cache was reused
        self.parts = dict(reading.parts) if reading.split and reading.parts else None
        if self.passes.weights:  # weighted rows: their moments from the cache's (x, y, w) blocks (no second parse)
            return self._weighted(cached_rows_with_weights(self.passes)), facts
        return self.passes.moments, facts

    def source(self, m, config):
        return CachedChunks(self.passes, m, frame_for(m, config.standardize), config, self.weight_scale)

    def rows(self):
        """The rows again in float64 and in order, from the pass cache (no second parse), where it holds them exactly."""
        if self.config.dtype != "float64" or self.world > 1:
            return None
        if self.passes.weights:  # (x, y, w): weighted rows keep their weights
            return lambda: cached_rows_with_weights(self.passes)
        return lambda: cached_rows(self.passes)


def prepare(
    data: str | Arrays,
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
    sources: list[str] | None = None,
) -> Prepared:
    """Read the data once (every road through one Reading), then build the source and the Training.

    `data` is a DATA argument (file, '-', glob; `sources` its expansion, when the caller has made it) or
    an `Arrays`. Streamed (chunk_rows), the one pass parses the text into a binary pass cache (`cache`
    names one to keep and reuse) that every step reads back. Under torchrun, one CSV file is split by
    bytes and one Parquet file by row groups, so that each process parses only its share (see `read.split_of`).
    `need_samples` keeps what pictures need: the float64 rows in memory, and the report's scatter sample.
    """
    rank, world = (group.rank, group.world) if group else (0, 1)
    if isinstance(data, Arrays):
        road, reading, sources, split = data, None, [], None
        road.seed, road.sample, road.whole = config.seed, need_samples, config.compile and not batch_size
        road.holdout, road.loss = config.holdout, config.loss
    else:
        sources = expand(data) if sources is None else sources
        road, reading = _road(data, sources, config, sep, drop_na, chunk_rows, batch_size, group, need_samples, cache)
        split = reading.split
    notes: list[str] = []
    try:  # a process that fails tells the others, which stop the same way (see Group.gathered)
        local, facts = road.read(reading)
        notes += [road.note] if getattr(road, "note", None) else []
        mine_info = {
            "rank": rank,
            "rows": local.n,
            "bytes": reading.parsed_bytes if reading else 0,
            "dropped": facts.dropped,
            "largest": [facts.x_largest, facts.y_largest],
        }
    except LinfitError as error:
        if group is None:
            raise
        group.fail(error)
    label = display_name(facts.source)
    ranks = group.gathered(mine_info) if group else [mine_info]
    disjoint = bool(split) or (len(sources) > 1 and not chunk_rows)  # each process read other rows
    dropped = sum(r["dropped"] for r in ranks) if disjoint else facts.dropped
    largest = [max(r["largest"][0] for r in ranks), max(r["largest"][1] for r in ranks)]
    require_representable(*largest, config.dtype, config.standardize, stored=isinstance(road, (Streamed, Lean)))
    warnings = [f"dropped {dropped} rows with a missing value."] if dropped else []
    if group and config.weight_col is not None:  # weighted rows: every process's sums merged, one scale for all
        whole = merge_weighted(group.gathered(road.weighted))
        m, road.weight_scale = scaled(whole) if whole.read or not split else (merge_moments([]), 1.0)
    else:
        m = group.merged(local) if group else local
    if split and m.n == 0:  # each process saw only its share; the whole file has no rows
        raise no_rows_error(label, dropped)
    try:
        frame_for(m, config.standardize)  # refuses data that determine no line, when standardising
        ols = least_squares_from(m)
    except DataError as error:
        if config.standardize:
            weighted = config.weight_col is not None or (road.samples is not None and road.samples.w is not None)
            unweighed = " Rows of weight 0 are not fitted." if weighted else ""
            raise DataError(f"{label}: {error.message}{unweighed}", _no_line_hint(m)) from None
        warnings.append(f"warning: {label}: {error.message} The least-squares line is not unique.")
        ols = None
    weighted = config.weight_col is not None or (road.samples is not None and road.samples.w is not None)
    stats = None
    if ols is not None and weighted:  # weighted least squares: the moments are the weighted ones (statsmodels WLS)
        stats = _weighted_stats(m, ols, road, group)
    elif ols is not None:
        exact = road.samples is not None and world == 1
        stats = fit_stats(road.samples.x, road.samples.y, ols.a, ols.b) if exact else fit_stats_from_moments(m, ols.a, ols.b)
    piecewise = None
    delta_floor = huber_delta_floor(largest[1], math.sqrt(max(m.syy, 0.0) / m.n) if m.n else 0.0)
    if config.loss == "huber" and config.huber_delta is not None:
        _require_delta_above_rounding(config.huber_delta, delta_floor)
    if is_piecewise(config.loss):  # huber, absolute, quantile: δ, the exact reference and their statistics
        interleave = chunk_rows if isinstance(road, Streamed) and world > 1 and not split else 0
        config, piecewise = _piecewise(config, road, group, warnings, interleave, delta_floor)
    run = {
        "stop_requested": stop_requested,
        "start": start,
        "trace": trace,
        "all_reduce": group.all_reduce if group else None,
        "batch_rows": batch_size,
        "buffer_rows": max(16 * batch_size, chunk_rows),
    }
    source = road.source(m, config)
    if piecewise is not None:  # each row's index in the whole data: a streamed share holds every world-th chunk
        training = PiecewiseTraining(source, **run, rank=rank, world=world, interleave=interleave)
    else:
        training = Training(source, **run)
    if road.held is not None and piecewise is not None:  # the held-out rows are scored with the run's δ or τ
        road.held.kind = training.kind
    info = {"source": facts.source, "rows": m.n, "x": facts.x_name, "y": facts.y_name, "dropped": dropped}
    if weighted:  # the weight column, as the model file records it (rows: those with a positive weight)
        info["w"] = facts.w_name or "w"
    if road.held is not None:  # how the held-out rows were chosen: with the data's hash, exactly the rows trained on
        info["holdout"] = road.held.description["holdout"]
        road.held.w_name = info.get("w")  # weighted rows: the held-out figures say which column weighs them
    if world > 1:
        info["processes"] = world
        info["split"] = split or ("chunks" if chunk_rows else "files" if len(sources) > 1 else "rows")
        info["ranks"] = [{"rank": r["rank"], "rows": r["rows"], "bytes": r["bytes"]} for r in ranks]
        if not split and len(sources) == 1:
            notes.append(
                f"note: {label} cannot be entered in the middle (compressed, or not a regular file): each of the {world} processes "
                "reads and parses all of it and trains on its share of the rows. Decompress it to split the parsing."
            )
    samples = road.samples if world == 1 else None
    rows = road.rows() if isinstance(road, Streamed) else None
    prepared = Prepared(training, m, ols, stats, info, sources, samples, notes + warnings, facts.sha256, road.scatter, road.held, rows)
    prepared.lines_are_rows = world == 1 and len(sources) == 1 and not dropped and bool(getattr(facts, "lines_are_rows", False))
    if piecewise is not None:
        prepared.reference, prepared.reference_reason, prepared.robust_stats = piecewise
    return prepared


def _piecewise(config: TrainConfig, road: Road, group: Group | None, warnings: list[str], interleave: int = 0, delta_floor: float = 0.0):
    """huber's δ, the exact reference (or why there is none) and the statistics of a piecewise loss, from
    the rows in float64: in memory, or read back from the pass cache when the reference can take them.
    Under torchrun every process's rows are gathered (in the whole data's order) when the reference can
    take them; every process settles the same δ from them, and rank 0 alone solves the reference."""
    from linfit.reference import LP_ROW_LIMIT, default_huber_delta, delta_stride
    from linfit.robust_stats import piecewise_stats

    x = y = w = None
    why_not = None
    mine = _row_count(road)
    counts = group.gathered(mine) if group is not None else [mine]
    place = _place_in_data(counts, group, interleave, getattr(road, "parts", None))
    if group is None and road.samples is not None:  # one process, every row in memory
        x, y, w = road.samples.x, road.samples.y, road.samples.w
    elif any(count is None for count in counts):
        why_not = "this float32 run keeps no float64 copy of the rows"
    elif sum(counts) <= LP_ROW_LIMIT:
        x, y, w = _gathered(_rows_from(road, 1, place), group)
    else:
        why_not = f"the {sum(counts):,} rows are more than the {LP_ROW_LIMIT:,} the exact reference is solved for"
        if config.loss == "huber" and config.huber_delta is None:  # δ from every k-th row of the whole data, as in memory
            sampled = default_huber_delta(*_gathered(_rows_from(road, delta_stride(sum(counts)), place), group))
            delta, note = floored_default_delta(sampled, delta_floor)
            config = config.model_copy(update={"huber_delta": delta})
            warnings.append(note)
    solve = group is None or group.rank == 0
    config, reference, reason, notes = settle(config, x, y, w, why_not, solve=solve, delta_floor=delta_floor)
    warnings.extend(notes)
    statistics = piecewise_stats(config, x, y, reference, w) if reference is not None else None
    return config, (reference, reason, statistics)


def huber_delta_floor(y_largest: float, y_sd: float) -> float:
    """The least δ these data allow: below it the residuals' rounding decides which rows lie inside ±δ, huber
    is δ·|r| to the last digits, and neither the trainer nor the exact reference can settle it. 64 ulps of
    the largest |y|, DELTA_BELOW_SPREAD of y's standard deviation (of |y| when y is constant), and
    DELTA_SMALLEST (½δ² must not underflow)."""
    return max(64 * math.ulp(y_largest), DELTA_BELOW_SPREAD * (y_sd if y_sd > 0 else y_largest), DELTA_SMALLEST)


def _require_delta_above_rounding(delta: float, floor: float) -> None:
    """A δ given below huber_delta_floor is refused, with what to do instead (a default one is raised to it)."""
    if delta < floor:
        raise UsageError(
            f"--huber-delta {delta:g} is too small for these data (below {floor:.2g}: {DELTA_BELOW_SPREAD:g} of y's standard "
            f"deviation, or 64 ulps of |y|, or 1e-150): which rows lie inside ±δ would be rounding, and huber would be δ·|r| to the last digit.",
            f"Use --loss absolute for that line, or a δ of at least {floor:.2g}.",
        )


def _row_count(road: Road) -> int | None:
    """This process's rows that have a float64 copy (in memory or in the pass cache); None when there is none."""
    if road.samples is not None:
        return road.samples.n
    passes = getattr(road, "passes", None)
    return None if passes is None else passes.rows


def _place_in_data(counts: list, group: Group | None, interleave: int, parts: dict | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Each of this process's rows' index in the whole data: after the rows of the processes before it, or
    (a streamed share of a file read whole by each process) in every world-th chunk of `interleave` rows, or
    (`parts`: the rows this process read from each (input, row group or byte range), in its order — its own
    files of a glob, every world-th row group of a Parquet file) after the rows of every part before theirs."""
    if group is None:
        return lambda i: i
    shares = group.gathered(parts)
    if all(share is not None for share in shares):  # every process holds its parts' rows as read: place each part among all of them
        sizes = sorted(item for share in shares for item in share.items())
        starts = dict(zip((key for key, _ in sizes), np.cumsum([0] + [size for _, size in sizes[:-1]]).tolist()))
        local = np.cumsum([0] + list(parts.values()))
        begin = np.array([starts[key] for key in parts] + [0], dtype=np.int64)

        def place(i: np.ndarray) -> np.ndarray:
            which = np.searchsorted(local, i, side="right") - 1
            return begin[which] + (i - local[which])

        return place
    if interleave:
        rank, world = group.rank, group.world
        return lambda i: ((i // interleave) * world + rank) * interleave + i % interleave
    offset = sum(count or 0 for count in counts[: group.rank])
    return lambda i: i + offset


def _rows_from(road: Road, k: int, place: Callable[[np.ndarray], np.ndarray]):
    """(x, y, w or None, index) in float64: this process's rows whose index in the data (`place` of the row's
    number here) is a multiple of k — every row for k = 1 — from memory or the pass cache, with those indices."""
    samples = road.samples
    blocks = [(samples.x, samples.y, samples.w)] if samples is not None else cached_rows_with_weights(road.passes)
    weighted = samples.w is not None if samples is not None else bool(road.passes.weights)
    parts, start = [], 0
    for bx, by, bw in blocks:
        index = place(np.arange(start, start + bx.shape[0]))
        keep = index % k == 0 if k > 1 else slice(None)
        parts.append((bx[keep], by[keep], bw[keep] if weighted else None, index[keep]))
        start += bx.shape[0]
    x, y, index = (np.concatenate([p[c] for p in parts]) if parts else np.empty(0) for c in (0, 1, 3))
    w = (np.concatenate([p[2] for p in parts]) if parts else np.empty(0)) if weighted else None
    return x, y, w, index


def _gathered(rows, group: Group | None):
    """(x, y, w): every process's rows put together in the data's order (this process's alone, without torchrun)."""
    if group is None:
        return rows[:3]
    shares = group.gathered(rows)
    order = np.argsort(np.concatenate([share[3] for share in shares]), kind="stable")
    x, y = (np.concatenate([share[c] for share in shares])[order] for c in (0, 1))
    w = np.concatenate([share[2] for share in shares])[order] if shares[0][2] is not None else None
    return x, y, w


def fit(x, y, config: TrainConfig) -> tuple[TrainResult, list[StepRecord]]:
    """Train on arrays in memory (through `prepare`, as every run); return the outcome and the logged steps."""
    training = prepare(Arrays(x, y), config).training
    history = list(training)
    assert training.result is not None
    return training.result, history


def _road(data, sources, config, sep, drop_na, chunk_rows, batch_size, group, need_samples, cache) -> tuple[Road, Reading]:
    """Which road the rows travel, and the one Reading they are read through."""
    rank, world = (group.rank, group.world) if group else (0, 1)
    # a process streams every world-th chunk of all the files; in memory it reads its own files of a glob
    mine = sources[rank::world] if len(sources) > 1 and not chunk_rows else sources
    if not mine:
        raise UsageError(f"{len(sources)} files for {world} processes: some would have no data.", "Use at most as many processes as files.")
    if chunk_rows and not all(is_regular_file(path) for path in sources):
        raise DataError(
            "--chunk-rows reads the data again at every step: it needs files, not stdin or a pipe.", "Save the data to a file first."
        )
    try:
        cache_path = _cache_path(cache, chunk_rows, rank, world, sources)
        reading = Reading(
            data,
            config.x_col,
            config.y_col,
            sep=sep,
            drop_na=drop_na,
            paths=sources,
            rows_of=mine,
            shard=(rank, world),
            weight_col=config.weight_col,
        )
    except LinfitError as error:
        if group is None:
            raise
        group.fail(error)
    if config.holdout and (chunk_rows or world > 1):
        raise UsageError(
            "holdout sets rows aside in the memory of one process: not with --chunk-rows or under torchrun.",
            "Give the held-out rows as a file of their own (train --valid FILE), or run linfit eval on the saved model.",
        )
    if chunk_rows:
        agree = group.all_agree if group else (lambda ok: ok)
        return Streamed(chunk_rows, config, rank, world, cache_path, agree, need_samples), reading
    if _lean(sources, config, world, need_samples or bool(config.holdout)):
        return Lean(config.standardize), reading
    road = InMemory(len(sources), rank, world, config.seed, need_samples, whole=config.compile and not batch_size)
    road.holdout, road.loss = config.holdout, config.loss
    return road, reading


def _weighted_stats(m: Moments, ols: LeastSquares, road: Road, group: Group | None) -> FitStats:
    """Weighted least squares' statistics from the weighted moments, as statsmodels WLS on the rows with a
    positive weight: σ̂² = Σw·r²/(n − 2), cov = σ̂²·(XᵀWX)⁻¹, R² about the weighted mean; its log-likelihood
    adds ½·Σ log wᵢ (weights scaled to mean 1), and AIC and BIC follow. No HC3 or diagnostics (they are the
    unweighted residuals'). Under torchrun Σ log wᵢ is every process's, summed (each has its rows in memory)."""
    import math
    from dataclasses import replace

    stats = fit_stats_from_moments(m, ols.a, ols.b)
    w = road.samples.w if road.samples is not None else None
    if stats.log_likelihood is None or w is None:
        return replace(stats, log_likelihood=None, aic=None, bic=None)
    positive = w[w > 0] * road.weight_scale
    logs = math.fsum(np.log(positive))
    if group is not None:
        logs = math.fsum(group.gathered(logs))
    llf = stats.log_likelihood + 0.5 * logs
    return replace(stats, log_likelihood=llf, aic=-2 * llf + 4, bic=-2 * llf + 2 * math.log(m.n))


def _no_line_hint(m: Moments) -> str:
    """Data that determine no line are refused with what to do to the data, never a flag to paste: plain
    gradient descent on them (--no-standardize) fits one of many lines, which is no answer to give."""
    return "Add rows, with at least two different x values." if m.n < 2 else "Add rows with other x values."


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
    if config.dtype != "float32" or world > 1 or need_samples or len(paths) != 1 or config.weight_col is not None:
        return False
    return paths[0] != STDIN and is_regular_file(paths[0]) and Path(paths[0]).stat().st_size >= LEAN_ABOVE_BYTES


def _share(samples: Samples, files: int, rank: int, world: int) -> Samples:
    """This process's rows: all it read when it has its own files of a glob, else its block of the one file."""
    if files > 1 or world == 1:
        return samples
    rows = share(samples.n, rank, world)
    w = None if samples.w is None else samples.w[rows]
    return Samples(samples.x[rows], samples.y[rows], samples.source, samples.x_name, samples.y_name, samples.dropped, w)
