"""The training loop: forward → loss → backward → update → zero the grads, as a generator of step records.

The loop never prints. It yields a `StepRecord` for each logged step and leaves how to
show it to whoever drives it; the outcome is in `Training.result` once the loop ends.

Standardisation. With `standardize` on, the leaves that autograd trains are the slope
and intercept (α, β) of the line over x_t = (x − μ)/σ. The loss surface over (α, β)
is round, so one learning rate suits every data set. Parameters and gradients are
reported in the data's units through the exact change of variables
    a = α/σ,  b = β − α·μ/σ        and by the chain rule
    dL/da = σ·dL/dα + μ·dL/dβ,  dL/db = dL/dβ.

Stopping. The loss is quadratic, so the Newton step H⁻¹·∇L is the exact distance to
the optimum. The run has converged when that distance is within `tol` of |a| and of |b|
(each, in the data's units), or below the rounding floor of the dtype.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from linfit.config import TrainConfig
from linfit.errors import DataError, DivergedError
from linfit.losses import LOSSES
from linfit.model import DTYPES, Start, leaf, starting_point
from linfit.reference import BLOCK_ROWS, Moments, moments, require_spread

CHUNK_ROWS = 1 << 18  # rows a chunk: its temporaries stay in cache and are reused, not mapped afresh
EXPLOSION = 1e6  # a loss this many times the first one means the run is diverging
FLOOR_ULPS = 4  # the rounding floor of the stopping rule, in units of the dtype's epsilon


@dataclass(frozen=True)
class StepRecord:
    """One step, in the data's units: the loss and gradient at (a, b), before that step's update."""

    step: int
    loss: float
    grad_a: float
    grad_b: float
    a: float
    b: float


@dataclass(frozen=True)
class TrainResult:
    a: float
    b: float
    loss: float
    steps: int  # the last step run (a converged run stops at the step whose gradient met the rule)
    converged: bool
    stop_reason: str  # converged | step_limit | interrupted
    start: Start
    wall_time_s: float


@dataclass(frozen=True)
class Frame:
    """The affine change of variables between training coordinates (α, β) and the data's (a, b).

    Training fits y − ȳ ≈ α·(x − μ)/σ + β; the same line in the data's units is y ≈ a·x + b.
    """

    x_shift: float  # μ
    x_scale: float  # σ
    y_shift: float  # ȳ

    def to_data(self, alpha: float, beta: float) -> tuple[float, float]:
        return alpha / self.x_scale, self.y_shift + beta - alpha * self.x_shift / self.x_scale

    def to_training(self, a: float, b: float) -> tuple[float, float]:
        return a * self.x_scale, b + a * self.x_shift - self.y_shift

    def grad_to_data(self, grad_alpha: float, grad_beta: float) -> tuple[float, float]:
        """The chain rule through α = a·σ, β = b + a·μ − ȳ."""
        return self.x_scale * grad_alpha + self.x_shift * grad_beta, grad_beta

    def error_to_data(self, error_alpha: float, error_beta: float) -> tuple[float, float]:
        """A displacement in (α, β) as a displacement in (a, b)."""
        return error_alpha / self.x_scale, error_beta - error_alpha * self.x_shift / self.x_scale


IDENTITY = Frame(x_shift=0.0, x_scale=1.0, y_shift=0.0)


def _affine_tensor(values: np.ndarray, shift: float, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """(values − shift)/scale as a tensor of `dtype`, made a block at a time: no float64 temporary of full size."""
    if shift == 0.0 and scale == 1.0 and dtype == torch.float64:
        return torch.from_numpy(values)  # shares the array's memory
    out = torch.empty(values.shape[0], dtype=dtype)
    for start in range(0, values.shape[0], BLOCK_ROWS):
        block = values[start : start + BLOCK_ROWS]
        out[start : start + block.shape[0]] = torch.from_numpy((block - shift) / scale)
    return out


def require_representable(x: np.ndarray, y: np.ndarray, dtype: str, standardize: bool) -> None:
    """float32 squares overflow past ~1.8e19: refuse data that would, rather than train on infinities."""
    if dtype != "float32":
        return
    limit = float(np.sqrt(np.finfo(np.float32).max)) / 16
    for name, values in (("y", y),) if standardize else (("x", x), ("y", y)):
        if values.size and np.abs(values).max() > limit:
            raise DataError(f"{name} reaches {np.abs(values).max():.3g}, too large for float32 (squares overflow).", "Use --dtype float64, or rescale the data.")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def frame_for(m: Moments, standardize: bool) -> Frame:
    """Centre x and y and scale x (the loss surface is round, no digit is lost to an offset), or leave them."""
    if not standardize:
        return IDENTITY
    require_spread(m)
    return Frame(x_shift=m.x_mean, x_scale=math.sqrt(m.sxx / m.n), y_shift=m.y_mean)


class ArrayChunks:
    """The data in training coordinates, held in memory, in cache-sized chunks."""

    def __init__(self, x: np.ndarray, y: np.ndarray, frame: Frame, dtype: torch.dtype, device: torch.device, whole: bool = False):
        self.x = _affine_tensor(x, frame.x_shift, frame.x_scale, dtype).to(device)
        self.y = _affine_tensor(y, frame.y_shift, 1.0, dtype).to(device)
        # whole: one piece, for torch.compile, whose fused step makes no big temporaries
        self.parts = [(self.x, self.y)] if whole else list(zip(self.x.split(CHUNK_ROWS), self.y.split(CHUNK_ROWS)))

    @classmethod
    def from_shifted(cls, data, frame: Frame, device: torch.device) -> ArrayChunks:
        """Training tensors made in place from x − x_shift, y − y_shift in float32 (no second copy)."""
        chunks = cls.__new__(cls)
        chunks.x, chunks.y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        chunks.x.sub_(frame.x_shift - data.x_shift).div_(frame.x_scale)
        chunks.y.sub_(frame.y_shift - data.y_shift)
        chunks.x, chunks.y = chunks.x.to(device), chunks.y.to(device)
        chunks.parts = list(zip(chunks.x.split(CHUNK_ROWS), chunks.y.split(CHUNK_ROWS)))
        return chunks

    def __iter__(self):
        return iter(self.parts)


class FileChunks:
    """The data read afresh from its file at every pass: memory holds one chunk, whatever the file's size.

    With several processes, process `rank` of `world` takes every world-th chunk.
    """

    def __init__(self, paths, x_col, y_col, sep, chunk_rows: int, frame: Frame, dtype, device, rank: int = 0, world: int = 1):
        self.paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        self.args = (x_col, y_col, sep, chunk_rows)
        self.frame, self.dtype, self.device = frame, dtype, device
        self.rank, self.world = rank, world

    def __iter__(self):
        from linfit.data import iter_chunks

        chunks = itertools.chain.from_iterable(iter_chunks(path, *self.args) for path in self.paths)
        for index, (x, y) in enumerate(chunks):
            if index % self.world != self.rank:
                continue
            xt = _affine_tensor(x, self.frame.x_shift, self.frame.x_scale, self.dtype).to(self.device)
            yt = _affine_tensor(y, self.frame.y_shift, 1.0, self.dtype).to(self.device)
            yield from zip(xt.split(CHUNK_ROWS), yt.split(CHUNK_ROWS))


def shuffled_batches(data, batch_rows: int, buffer_rows: int, seed: int):
    """Endless mini-batches of exactly `batch_rows` rows, shuffled within a buffer of `buffer_rows` (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    carry_x = carry_y = None
    while True:  # one epoch a turn
        buffered_x, buffered_y, rows = [], [], 0
        for x, y in itertools.chain(data, [(None, None)]):
            if x is not None:
                buffered_x.append(x)
                buffered_y.append(y)
                rows += x.shape[0]
            if rows >= buffer_rows or (x is None and rows):
                if carry_x is not None:
                    buffered_x.insert(0, carry_x)
                    buffered_y.insert(0, carry_y)
                xs, ys = torch.cat(buffered_x), torch.cat(buffered_y)
                order = torch.randperm(xs.shape[0], generator=generator).to(xs.device)
                xs, ys = xs[order], ys[order]
                whole = xs.shape[0] // batch_rows * batch_rows
                for start in range(0, whole, batch_rows):
                    yield xs[start : start + batch_rows], ys[start : start + batch_rows]
                carry_x, carry_y = (xs[whole:], ys[whole:]) if whole < xs.shape[0] else (None, None)
                buffered_x, buffered_y, rows = [], [], 0


class Training:
    """Iterate to run the loop; each item is a logged StepRecord. `result` holds the outcome."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        config: TrainConfig,
        stop_requested: Callable[[], bool] = lambda: False,
        start: Start | None = None,
        trace: bool = False,
    ) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        require_representable(x, y, config.dtype, config.standardize)
        m = moments(x, y)
        frame = frame_for(m, config.standardize)
        data = ArrayChunks(x, y, frame, DTYPES[config.dtype], resolve_device(config.device), whole=config.compile)
        self._setup(data, m, frame, config, stop_requested, start, trace)

    @classmethod
    def over(cls, data, m: Moments, frame: Frame, config: TrainConfig, **options) -> Training:
        """Train over any re-iterable source of (x_t, y_t) chunks, e.g. FileChunks, given the data's moments.

        `all_reduce`, when given, sums a tensor across processes (data-parallel training).
        """
        training = cls.__new__(cls)
        training._setup(data, m, frame, config, **options)
        return training

    def _setup(self, data, m: Moments, frame: Frame, config: TrainConfig, stop_requested=lambda: False, start=None, trace=False, all_reduce=None, batch_rows: int = 0, buffer_rows: int = 0) -> None:
        self.config = config
        self.loss_kind = LOSSES[config.loss]
        self.n = m.n
        self.frame = frame
        self.data = data
        self.device = resolve_device(config.device)
        self.dtype = dtype = DTYPES[config.dtype]
        self.all_reduce = all_reduce
        self.chunk_loss = _compiled(self._chunk_loss) if config.compile else self._chunk_loss
        # mini-batch SGD: each step sees one shuffled batch, the loss a batch's mean
        self.batches = shuffled_batches(data, batch_rows, max(buffer_rows, batch_rows), config.seed) if batch_rows else None
        kind = self.loss_kind
        rows_per_step = batch_rows or self.n
        self.weight = kind.weight(self.n, rows_per_step)
        self.full_weight = kind.weight(self.n, self.n)
        if config.standardize:
            mean_x, mean_xx, y_spread = 0.0, 1.0, math.sqrt(m.syy / m.n)
        else:
            mean_x, mean_xx = m.x_mean, m.sxx / m.n + m.x_mean**2
            y_spread = math.sqrt(m.syy / m.n + m.y_mean**2)
        # the Hessian of the loss in training coordinates: c·[[E x_t², E x_t], [E x_t, 1]]
        self.hessian = kind.curvature(self.n) * np.array([[mean_xx, mean_x], [mean_x, 1.0]])
        self.floor = self._rounding_floor(y_spread or abs(m.y_mean) or 1.0, float(torch.finfo(dtype).eps))
        self.stop_requested = stop_requested
        # On the CPU reading a scalar back is free; on a GPU it is a sync, so check less often.
        self.check_every = 1 if self.device.type == "cpu" else 16
        self.start = start or starting_point(config.init, config.init_a, config.init_b, config.seed)
        self.step = 0  # the step running now, for a progress display to poll
        self.last_loss = math.nan  # the latest loss read back from the device
        self.trace = Trace() if trace else None  # (step, loss, a, b) of every step read, for pictures
        self.result: TrainResult | None = None

    def _rounding_floor(self, spread: float, eps: float) -> tuple[float, float]:
        """Errors in a and b below which rounding, not the optimiser, decides.

        Residuals are computed to about eps·rms(y as trained); b then adds the rounding of ȳ − a·μ.
        """
        frame = self.frame
        floor_a = FLOOR_ULPS * eps * spread / frame.x_scale
        floor_b = FLOOR_ULPS * eps * (spread * (1 + abs(frame.x_shift) / frame.x_scale) + abs(frame.y_shift))
        return floor_a, floor_b

    def largest_stable_lr(self) -> float:
        """2/λ_max of the loss's Hessian in training coordinates: the bound for plain gradient descent."""
        return 2.0 / float(np.linalg.eigvalsh(self.hessian)[-1])

    def __iter__(self) -> Iterator[StepRecord]:
        config = self.config
        start = self.start
        alpha0, beta0 = self.frame.to_training(start.a, start.b)
        alpha = leaf(alpha0, self.dtype, self.device)
        beta = leaf(beta0, self.dtype, self.device)
        update = self._optimizer([alpha, beta])
        began = time.perf_counter()
        first_loss = None
        stop_reason, steps_done, final = "step_limit", config.steps, None

        for step in range(1, config.steps + 1):
            self.step = step
            if self.stop_requested():
                stop_reason, steps_done = "interrupted", step - 1
                break
            # forward and backward: ŷ = α·x_t + β, the loss, and loss.backward() filling alpha.grad, beta.grad
            loss = self._forward_backward(alpha, beta)

            logged = is_logged(step, config.log_every) or step == config.steps
            if not (logged or step % self.check_every == 0):
                update()  # nobody looks at this step: no value leaves the device
                continue
            values = self._read(loss, alpha, beta)
            self.last_loss = values[0]
            if self.trace is not None:
                self.trace.add(step, values[0], *self.frame.to_data(values[3], values[4]))
            first_loss = values[0] if first_loss is None else first_loss
            self._check_divergence(values[0], first_loss, step)
            converged = self._converged(*values[1:])
            if logged or converged:
                yield self._record(step, *values)
            if converged:
                stop_reason, steps_done = "converged", step
                final = values
                break
            # update: w ← w − lr·∇L, then zero the grads for the next step
            update()

        if final is None:
            final = (self.full_loss(alpha, beta), 0.0, 0.0, float(alpha.item()), float(beta.item()))
        a, b = self.frame.to_data(final[3], final[4])
        self.result = TrainResult(
            a=a,
            b=b,
            loss=final[0],
            steps=steps_done,
            converged=stop_reason == "converged",
            stop_reason=stop_reason,
            start=start,
            wall_time_s=time.perf_counter() - began,
        )

    def _forward_backward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The loss over all rows (or one mini-batch), a chunk at a time; each backward() adds to .grad.

        Autograd accumulates gradients, so the sum over chunks is exactly the full-batch gradient,
        while each chunk's temporaries stay small enough to live in cache and be reused.
        """
        parts = [next(self.batches)] if self.batches is not None else self.data
        weight = self.weight
        total = torch.zeros((), dtype=alpha.dtype, device=alpha.device)
        for x, y in parts:
            loss = self.chunk_loss(alpha, beta, x, y, weight)  # forward: recorded on the graph
            loss.backward()  # backward: adds dL_chunk/dα, dL_chunk/dβ to alpha.grad, beta.grad
            total = total + loss.detach()
        if self.all_reduce is not None:  # data-parallel: sum every process's share
            for p in (alpha, beta):
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            packed = torch.stack([total, alpha.grad, beta.grad])
            self.all_reduce(packed)
            total = packed[0]
            alpha.grad.copy_(packed[1])
            beta.grad.copy_(packed[2])
        return total

    def full_loss(self, alpha: torch.Tensor, beta: torch.Tensor) -> float:
        """The loss over every row, no graph: what the summary reports, in SGD mode too."""
        with torch.no_grad():
            total = torch.zeros((), dtype=torch.float64)
            for x, y in self.data:
                total += self.chunk_loss(alpha, beta, x, y, self.full_weight).double().cpu()
            if self.all_reduce is not None:
                self.all_reduce(total)
        return float(total)

    @staticmethod
    def _chunk_loss(alpha, beta, x, y, weight: float) -> torch.Tensor:
        """A chunk's share of the loss: weight·Σ(β + α·x_t − y)², the weight making it ½·mean, mean or ½·Σ."""
        prediction = torch.addcmul(beta, alpha, x)  # β + α·x_t in one pass
        return weight * torch.nn.functional.mse_loss(prediction, y, reduction="sum")

    def _optimizer(self, params: list[torch.Tensor]) -> Callable[[], None]:
        """A function that applies one update and zeroes the grads."""
        config = self.config
        if config.optimizer == "sgd":

            def sgd_step() -> None:
                with torch.no_grad():  # the update itself must not be recorded on the graph
                    for p in params:
                        p -= config.lr * p.grad
                        p.grad.zero_()

            return sgd_step
        if config.optimizer == "momentum":
            optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
        else:
            optimizer = torch.optim.Adam(params, lr=config.lr, betas=config.betas)

        def torch_step() -> None:
            optimizer.step()
            optimizer.zero_grad()

        return torch_step

    @staticmethod
    def _read(loss, alpha, beta) -> tuple[float, float, float, float, float]:
        """Bring loss, gradient and parameters back to the host (a sync point on a GPU)."""
        packed = torch.stack([loss.detach(), alpha.grad, beta.grad, alpha.detach(), beta.detach()])
        return tuple(float(v) for v in packed.to(torch.float64).cpu().tolist())

    def _check_divergence(self, loss: float, first_loss: float, step: int) -> None:
        if math.isfinite(loss) and loss <= EXPLOSION * max(first_loss, 1e-300):
            return
        stable = self.largest_stable_lr()
        what = "became non-finite" if not math.isfinite(loss) else f"grew to {loss:.3g} from {first_loss:.3g}"
        raise DivergedError(
            f"training diverged at step {step}: the loss {what} (optimizer {self.config.optimizer}, lr {self.config.lr:g}).",
            f"The largest stable lr for plain gradient descent on this data is {stable:.3g}; try --lr {_round_down(stable / 2)}.",
        )

    def _converged(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float) -> bool:
        """Is the Newton estimate of the remaining error within tol of |a| and |b|, or the rounding floor?"""
        if not (math.isfinite(grad_alpha) and math.isfinite(grad_beta)):
            return False
        try:
            newton = np.linalg.solve(self.hessian, [grad_alpha, grad_beta])
        except np.linalg.LinAlgError:  # x constant, not standardised: the shortest step to the valley of optima
            newton = np.linalg.lstsq(self.hessian, [grad_alpha, grad_beta], rcond=None)[0]
        e_a, e_b = self.frame.error_to_data(*newton)
        a, b = self.frame.to_data(alpha, beta)
        tol = self.config.tol
        return abs(e_a) <= tol * abs(a) + self.floor[0] and abs(e_b) <= tol * abs(b) + self.floor[1]

    def _record(self, step, loss, grad_alpha, grad_beta, alpha, beta) -> StepRecord:
        a, b = self.frame.to_data(alpha, beta)
        grad_a, grad_b = self.frame.grad_to_data(grad_alpha, grad_beta)
        return StepRecord(step=step, loss=loss, grad_a=grad_a, grad_b=grad_b, a=a, b=b)


def is_logged(step: int, every: int) -> bool:
    """Every `every`-th step and the first; with every = 0, a log scale: 1–10, 20, 30 … 100, 200 …"""
    if step == 1:
        return True
    if every:
        return step % every == 0
    decade = 10 ** max(0, len(str(step)) - 1)
    return step % decade == 0


def _compiled(function):
    """torch.compile fuses forward and backward into a few loops without temporaries (compiling takes seconds)."""
    return torch.compile(function, dynamic=False)


class Trace:
    """Every step's (step, loss, a, b), thinned to at most `cap` points however long the run."""

    def __init__(self, cap: int = 4096) -> None:
        self.cap = cap
        self.stride = 1
        self.points: list[tuple[int, float, float, float]] = []

    def add(self, step: int, loss: float, a: float, b: float) -> None:
        if (step - 1) % self.stride:
            return
        self.points.append((step, loss, a, b))
        if len(self.points) >= 2 * self.cap:  # keep every other point, and from now on every other step
            self.points = self.points[::2]
            self.stride *= 2


def _round_down(value: float) -> str:
    """A friendly learning rate at or below value: one significant digit."""
    exponent = math.floor(math.log10(value))
    return f"{math.floor(value / 10**exponent) * 10**exponent:.{max(0, -exponent)}f}"


def fit(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tuple[TrainResult, list[StepRecord]]:
    """Run a whole training; return the outcome and the logged steps."""
    training = Training(x, y, config)
    history = list(training)
    assert training.result is not None
    return training.result, history


SINGLE_THREAD_BELOW = CHUNK_ROWS  # rows; below one chunk a second thread has nothing to split


def choose_threads(requested: int, n: int) -> int:
    """The requested count; else one thread for small data, and for big data one per core that is idle.

    Measured on 2 cores: a second thread halves a step at 1e7 rows on an idle machine, but makes it
    three times slower when the other core is busy (its share of each op waits for a core).
    """
    if requested:
        return requested
    if n < SINGLE_THREAD_BELOW:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, round(cores - busy)))


def configure_threads(requested: int, n: int) -> int:
    """Set torch's intra-op threads (see choose_threads); return the count."""
    threads = choose_threads(requested, n)
    torch.set_num_threads(threads)
    return threads
