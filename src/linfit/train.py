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
from fractions import Fraction
from typing import Callable, Iterator

import numpy as np
import torch

from linfit.config import DEFAULT_LR, TrainConfig, flag_name
from linfit.errors import ConfigError, DivergedError
from linfit.losses import LOSSES
from linfit.model import DTYPES, Start, leaf, starting_point
from linfit.reference import BLOCK_ROWS, Moments, require_spread

CHUNK_ROWS = 1 << 18  # rows a chunk: its temporaries stay in cache and are reused, not mapped afresh
EXPLOSION = 1e6  # a loss this many times the first one means the run is diverging
FLOOR_ULPS = 4  # the rounding floor of the stopping rule, in units of the dtype's epsilon
MINIBATCH_TOL = 0.01  # mini-batch runs stop at this fraction of the statistical error (or the tol, if larger)
MOST_ADVISED_STEPS = 100_000  # divergence advice past this many steps says: standardise instead


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
    error_a: float = math.nan  # a bound on |a − exact least squares| (Newton step + rounding floor)
    error_b: float = math.nan
    lr: float = math.nan  # the learning rate used (the optimizer's default unless one was given)
    epochs: int = 0  # passes over the data, for mini-batch runs
    adam_eps: float | None = None  # Adam's ε as the run used it (scaled to the gradient's size); None for other optimizers

    def digits(self) -> tuple[float, float]:
        """Correct significant digits of a and b by the error bounds: −log10(bound / |value|)."""
        return _digits(self.error_a, self.a), _digits(self.error_b, self.b)


def _digits(bound: float, value: float) -> float:
    if not math.isfinite(bound) or value == 0:
        return 0.0
    if bound == 0:
        return 17.0
    return max(0.0, min(17.0, -math.log10(bound / abs(value))))


@dataclass(frozen=True)
class Frame:
    """The affine change of variables between training coordinates (α, β) and the data's (a, b).

    Training fits y − ȳ₀ ≈ α·(x − x̄₀)/σ + β; the same line in the data's units is y ≈ a·x + b.
    The shifts x̄₀, ȳ₀ are floats among the data (the means rounded to float64), so x − x̄₀ is exact
    however far x lies from 0; b is formed from its parts in exact arithmetic and rounded once.
    """

    x_shift: float  # x̄₀
    x_scale: float  # σ
    y_shift: float  # ȳ₀

    def to_data(self, alpha: float, beta: float) -> tuple[float, float]:
        a = alpha / self.x_scale
        return a, self.intercept(a, beta)

    def intercept(self, a: float, beta: float) -> float:
        """b = ȳ₀ + β − a·x̄₀, rounded once (a·x̄₀ and ȳ₀ cancel when x is far from 0)."""
        if self.x_shift == 0.0 and self.y_shift == 0.0:
            return beta
        return _exact_sum((self.y_shift, 1.0), (beta, 1.0), (a, -self.x_shift))

    def to_training(self, a: float, b: float) -> tuple[float, float]:
        return a * self.x_scale, _exact_sum((b, 1.0), (a, self.x_shift), (self.y_shift, -1.0))

    def grad_to_data(self, grad_alpha: float, grad_beta: float) -> tuple[float, float]:
        """The chain rule through α = a·σ, β = b + a·x̄₀ − ȳ₀."""
        return self.x_scale * grad_alpha + self.x_shift * grad_beta, grad_beta


IDENTITY = Frame(x_shift=0.0, x_scale=1.0, y_shift=0.0)


def _exact_sum(*terms: tuple[float, float]) -> float:
    """Σ value·factor in exact arithmetic, rounded once; a diverging run's non-finite or overflowing
    parameters give what float arithmetic gives (±inf or nan), not an error."""
    if not all(math.isfinite(value) and math.isfinite(factor) for value, factor in terms):
        return sum(value * factor for value, factor in terms)
    exact = sum(Fraction(value) * Fraction(factor) for value, factor in terms)
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def _affine_tensor(values: np.ndarray, shift: float, scale: float, dtype: torch.dtype) -> torch.Tensor:
    """(values − shift)/scale as a tensor of `dtype`, made a block at a time: no float64 temporary of full size."""
    if shift == 0.0 and scale == 1.0 and dtype == torch.float64:
        return torch.from_numpy(values)  # shares the array's memory
    out = torch.empty(values.shape[0], dtype=dtype)
    for start in range(0, values.shape[0], BLOCK_ROWS):
        block = values[start : start + BLOCK_ROWS]
        out[start : start + block.shape[0]] = torch.from_numpy((block - shift) / scale)
    return out


def resolve_device(device: str, source: str = "--device") -> torch.device:
    """The device to train on; 'auto' is cuda when this torch has a GPU, else cpu.

    Asking for cuda where there is none is a ConfigError (exit 2) that names `source` (a flag or a file's key).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(f"{source}: {device} is not available here: {why}; the devices here: cpu.", "Use --device cpu (or auto).")
    return torch.device(device)


def frame_for(m: Moments, standardize: bool) -> Frame:
    """Centre x and y and scale x (the loss surface is round, no digit is lost to an offset), or leave them.

    The shifts are the means rounded to float64 (Moments.x_mean, y_mean): floats among the data, so the
    centred values are exact; what the rounding leaves (x_low, y_low) the Hessian and β absorb.
    """
    if not standardize:
        return IDENTITY
    require_spread(m)
    return Frame(x_shift=m.x_mean, x_scale=math.sqrt(m.sxx / m.n), y_shift=m.y_mean)


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
        source,
        config: TrainConfig,
        stop_requested: Callable[[], bool] = lambda: False,
        start: Start | None = None,
        trace: bool = False,
        all_reduce: Callable | None = None,
        batch_rows: int = 0,
        buffer_rows: int = 0,
    ) -> None:
        """Train over a source (see linfit.sources): re-iterable (x_t, y_t) chunks in training coordinates,
        with the `moments` and `frame` they were made with. `all_reduce`, when given, sums a tensor across
        processes (data-parallel training)."""
        self._setup(source, source.moments, source.frame, config, stop_requested, start, trace, all_reduce, batch_rows, buffer_rows)

    def _setup(
        self,
        data,
        m: Moments,
        frame: Frame,
        config: TrainConfig,
        stop_requested=lambda: False,
        start=None,
        trace=False,
        all_reduce=None,
        batch_rows: int = 0,
        buffer_rows: int = 0,
    ) -> None:
        self.config = config
        # the piecewise losses (linfit.piecewise) take half_mse's curvature: an upper bound of theirs
        self.loss_kind = LOSSES[config.loss] if config.loss in LOSSES else LOSSES["half_mse"]
        self.n = m.n
        self.frame = frame
        self.data = data
        self.device = resolve_device(config.device)
        self.dtype = dtype = DTYPES[config.dtype]
        self.all_reduce = all_reduce
        self.chunk_loss = _compiled(self._chunk_loss) if config.compile else self._chunk_loss
        self.notes: list[str] = []  # things the user should hear about, for the shell to show
        if batch_rows >= self.n:  # a batch of every row is full-batch gradient descent: run it as such
            self.notes.append(
                f"note: --batch-size {batch_rows} is not less than the {self.n} rows; each step uses every row "
                "(full-batch gradient descent, --steps applies)."
            )
            batch_rows = 0
        self.batch_rows = batch_rows
        # mini-batch SGD: each step sees one shuffled batch (SVRG-corrected, see _minibatch_steps)
        self.batches = shuffled_batches(data, batch_rows, max(buffer_rows, batch_rows), config.seed) if batch_rows else None
        kind = self.loss_kind
        self.curvature = kind.curvature(self.n)
        self.full_weight = kind.weight(self.n, self.n)
        self.weight = self.full_weight
        mean_x, mean_xx, y_rms = _training_moments(m, config.standardize, frame)
        # the Hessian of the loss in training coordinates: c·[[E x_t², E x_t], [E x_t, 1]]
        self.hessian = self.curvature * np.array([[mean_xx, mean_x], [mean_x, 1.0]])
        self.hessian_inverse = np.linalg.pinv(self.hessian)
        self.x_rms, self.y_rms = math.sqrt(mean_xx), y_rms
        self.x_sd = math.sqrt(max(mean_xx - mean_x * mean_x, 0.0))  # of x_t
        self.y_spread = math.sqrt(m.syy / m.n) if m.n and m.syy > 0 else (abs(m.y_mean) or 1.0)
        self.eps = float(torch.finfo(dtype).eps)
        # mini-batch runs stop once the optimisation error is small beside the statistical one: the rms
        # standard error of the fitted values, σ̂·√(2/n), times MINIBATCH_TOL
        self.statistical_error = _fitted_value_error(m) if batch_rows else 0.0
        self.start = start or starting_point(config.init, config.init_a, config.init_b, config.seed)
        self.start_given = start is not None  # a warm start (--init-from), not the configuration's own
        self.lr = config.lr if config.lr is not None else self.default_lr()
        self.adam_eps: float | None = None  # set when an Adam optimizer is made
        self.stop_requested = stop_requested
        # On the CPU reading a scalar back is free; on a GPU it is a sync, so check less often.
        self.check_every = 1 if self.device.type == "cpu" else 16
        self.step = 0  # the step running now, for a progress display to poll
        self.last_loss = math.nan  # the latest loss read back from the device
        self.trace = Trace() if trace else None  # (step, loss, a, b) of every step read, for pictures
        self.first: tuple | None = None  # the first step's values read back (for divergence advice)
        self.result: TrainResult | None = None

    def default_lr(self) -> float:
        """The optimizer's default step, for this loss (see config.DEFAULT_LR).

        sgd and momentum take a step in units of 1/curvature, so the default is divided by the loss's
        curvature factor c (1 for half_mse, 2 for mse, n for half_sse). Adam's step is a length in
        training coordinates whatever the gradient's scale, so its default is a fraction of y's spread.
        Mini-batch runs divide by the largest curvature one batch can have (1 + max x_t²), which keeps
        every step a contraction.
        """
        base = DEFAULT_LR[self.config.optimizer]
        if self.config.optimizer == "adam":  # a step length: a fraction of the parameters' scale
            alpha0, beta0 = self.frame.to_training(self.start.a, self.start.b)
            return base * max(self.y_spread, abs(alpha0), abs(beta0))
        lr = base / self.curvature
        if self.batch_rows:
            lr /= 1.0 + self.largest_x_squared()
        return lr

    def largest_x_squared(self) -> float:
        """max x_t² over the data (one pass): the curvature of the steepest single row, over c."""
        largest = 0.0
        for x, _ in self.data:
            largest = max(largest, float(x.abs().max()) ** 2 if x.numel() else 0.0)
        if self.all_reduce is not None:  # every process must take the same step: the sum bounds the max
            packed = torch.tensor([largest], dtype=torch.float64, device=self.device)
            self.all_reduce(packed)
            largest = float(packed[0])
        return largest

    def rounding_floor(self, alpha: float, beta: float) -> float:
        """The error of the predictions (in y units) below which rounding, not the optimiser, decides.

        Each residual β + α·x_t − y_t is formed to about eps·(|α|·|x_t| + |β| + |y_t|).
        """
        return FLOOR_ULPS * self.eps * (abs(alpha) * self.x_rms + abs(beta) + self.y_rms)

    def prediction_error(self, grad_alpha: float, grad_beta: float) -> tuple[float, float, float]:
        """The Newton step e = H⁻¹·∇L (the exact distance to the optimum: the loss is quadratic), and the
        root-mean-square error of the predictions it means over the data, √(eᵀ·H·e / c) = √(e·∇L / c)."""
        gradient = np.array([grad_alpha, grad_beta])
        error = self.hessian_inverse @ gradient
        return float(error[0]), float(error[1]), math.sqrt(abs(float(error @ gradient)) / self.curvature)

    def largest_stable_lr(self) -> float:
        """2/λ_max of the loss's Hessian in training coordinates: the bound for plain gradient descent."""
        return 2.0 / float(np.linalg.eigvalsh(self.hessian)[-1])

    def __iter__(self) -> Iterator[StepRecord]:
        start = self.start
        alpha0, beta0 = self.frame.to_training(start.a, start.b)
        alpha = leaf(alpha0, self.dtype, self.device)
        beta = leaf(beta0, self.dtype, self.device)
        update = self._optimizer([alpha, beta])
        began = time.perf_counter()
        steps = self._minibatch_steps if self.batches is not None else self._full_batch_steps
        outcome = yield from steps(alpha, beta, update)
        stop_reason, steps_done, final = outcome
        if final is None:  # the step limit, or an interrupt: the full gradient where the run stopped
            for p in (alpha, beta):
                p.grad = None
            final = self._read(self._forward_backward(alpha, beta), alpha, beta)
        self.result = self._result(final, stop_reason, steps_done, time.perf_counter() - began)

    def _full_batch_steps(self, alpha, beta, update):
        """Gradient descent on every row each step; returns (stop reason, steps done, final values or None)."""
        config = self.config
        for step in range(1, config.steps + 1):
            self.step = step
            if self.stop_requested():
                return "interrupted", step - 1, None
            # forward and backward: ŷ = α·x_t + β, the loss, and loss.backward() filling alpha.grad, beta.grad
            loss = self._forward_backward(alpha, beta)

            logged = is_logged(step, config.log_every) or step == config.steps
            if not (logged or step % self.check_every == 0):
                update()  # nobody looks at this step: no value leaves the device
                continue
            values = self._read(loss, alpha, beta)
            converged = yield from self._look(step, values, logged)
            if converged:
                return "converged", step, values
            # update: w ← w − lr·∇L, then zero the grads for the next step
            update()
        return "step_limit", config.steps, None

    def _look(self, step: int, values, logged: bool):
        """Record a step read back: trace it, check divergence, yield it if logged; is it converged?"""
        self.last_loss = values[0]
        if self.trace is not None:
            self.trace.add(step, values[0], *self.frame.to_data(values[3], values[4]))
        self.first = values if self.first is None else self.first
        diverged = self._divergence(values[0], step)
        converged = diverged is None and self._converged(*values[1:])
        if logged or converged or diverged is not None:
            yield self._record(step, *values)
        if diverged is not None:
            raise diverged
        return converged

    def _minibatch_steps(self, alpha, beta, update):
        """Mini-batch SGD with variance reduction (SVRG, Johnson & Zhang 2013).

        Each epoch starts at a snapshot w̃ with the full gradient μ = ∇L(w̃) (one pass, backward over
        every chunk). Each step then draws a shuffled batch B and follows ∇L_B(w) − ∇L_B(w̃) + μ, both
        batch gradients from loss.backward(): an unbiased gradient whose noise shrinks with ‖w − w̃‖, so
        the iterates converge linearly to the least-squares line instead of wandering around it.
        The stopping rule is the full-batch one, checked at each snapshot (where the full gradient is known).
        """
        config = self.config
        per_epoch = max(1, self.n // self.batch_rows)
        snapshot = [leaf(0.0, self.dtype, self.device), leaf(0.0, self.dtype, self.device)]
        step = 0
        for epoch in range(config.epochs + 1):
            self.step = step
            if self.stop_requested():
                return "interrupted", step, None
            with torch.no_grad():
                for p, w in zip(snapshot, (alpha, beta)):
                    p.copy_(w)
                    p.grad = None
            full = self._forward_backward(*snapshot)
            values = self._read(full, *snapshot)
            # numbered as a full-batch record is: step k holds (a, b) before the k-th update, after k − 1
            converged = yield from self._look(step + 1, values, True)
            if converged:
                return "converged", step + 1, values
            if epoch == config.epochs:
                return "step_limit", step, values
            mean_gradient = [snapshot[0].grad.clone(), snapshot[1].grad.clone()]
            for _ in range(per_epoch):
                step += 1
                self.step = step
                x, y = next(self.batches)
                self._variance_reduced_gradient(alpha, beta, snapshot, mean_gradient, x, y)
                update()
        return "step_limit", step, None

    def _variance_reduced_gradient(self, alpha, beta, snapshot, mean_gradient, x, y) -> None:
        """alpha.grad, beta.grad ← ∇L_B(w) − ∇L_B(w̃) + μ, each batch gradient by loss.backward()."""
        weight = self._batch_weight(x.shape[0])
        for p in snapshot:
            p.grad = None
        self.chunk_loss(alpha, beta, x, y, weight).backward()  # forward and backward at w
        self.chunk_loss(*snapshot, x, y, weight).backward()  # and at the snapshot w̃
        with torch.no_grad():
            difference = torch.stack([alpha.grad - snapshot[0].grad, beta.grad - snapshot[1].grad])
            if self.all_reduce is not None:  # data-parallel: average the processes' batches
                packed = torch.cat([difference, torch.ones(1, dtype=difference.dtype, device=difference.device)])
                self.all_reduce(packed)
                difference = packed[:2] / packed[2]
            alpha.grad.copy_(difference[0] + mean_gradient[0])
            beta.grad.copy_(difference[1] + mean_gradient[1])

    def _batch_weight(self, rows: int) -> float:
        """The weight that makes a batch's loss an unbiased estimate of the full loss."""
        kind = self.loss_kind
        return kind.scale / rows if kind.reduction == "mean" else kind.scale * self.n / rows

    def _result(self, final, stop_reason: str, steps_done: int, wall_time_s: float) -> TrainResult:
        a, b = self.frame.to_data(final[3], final[4])
        error_a, error_b = self.error_bounds(*final[1:])
        epochs = -(-steps_done * self.batch_rows // self.n) if self.batch_rows else 0
        return TrainResult(
            a=a,
            b=b,
            loss=final[0],
            steps=steps_done,
            converged=stop_reason == "converged",
            stop_reason=stop_reason,
            start=self.start,
            wall_time_s=wall_time_s,
            error_a=error_a,
            error_b=error_b,
            lr=self.lr,
            epochs=epochs,
            adam_eps=self.adam_eps,
        )

    def error_bounds(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float) -> tuple[float, float]:
        """How far a and b may be from the exact least-squares line: the Newton step plus the rounding floor
        (spread over x as a slope and an intercept) plus the rounding of a and b themselves."""
        e_alpha, e_beta, _ = self.prediction_error(grad_alpha, grad_beta)
        floor = self.rounding_floor(alpha, beta)
        if not (math.isfinite(e_alpha) and math.isfinite(e_beta)) or self.x_sd == 0:
            return math.inf, math.inf
        d_alpha = abs(e_alpha) + floor / self.x_sd
        d_beta = abs(e_beta) + floor * (1 + abs(self.hessian[0, 1] / self.curvature) / self.x_sd)
        a, b = self.frame.to_data(alpha, beta)
        frame = self.frame
        bound_a = d_alpha / frame.x_scale + _ulp(a) / 2
        bound_b = d_beta + d_alpha * abs(frame.x_shift) / frame.x_scale + _ulp(b) / 2
        return bound_a, bound_b

    def _forward_backward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The loss over all rows, a chunk at a time; each backward() adds to .grad.

        Autograd accumulates gradients, so the sum over chunks is exactly the full-batch gradient,
        while each chunk's temporaries stay small enough to live in cache and be reused.
        """
        weight = self.weight
        total = torch.zeros((), dtype=alpha.dtype, device=alpha.device)
        for x, y in self.data:
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

    @staticmethod
    def _chunk_loss(alpha, beta, x, y, weight: float) -> torch.Tensor:
        """A chunk's share of the loss: weight·Σ(β + α·x_t − y)², the weight making it ½·mean, mean or ½·Σ."""
        prediction = torch.addcmul(beta, alpha, x)  # β + α·x_t in one pass
        return weight * torch.nn.functional.mse_loss(prediction, y, reduction="sum")

    def _optimizer(self, params: list[torch.Tensor]) -> Callable[[], None]:
        """A function that applies one update and zeroes the grads."""
        config, lr = self.config, self.lr
        if config.optimizer == "sgd":

            def sgd_step() -> None:
                with torch.no_grad():  # the update itself must not be recorded on the graph
                    for p in params:
                        p -= lr * p.grad
                        p.grad.zero_()

            return sgd_step
        if config.optimizer == "momentum":
            optimizer = torch.optim.SGD(params, lr=lr, momentum=config.momentum)
        else:
            # eps guards a division by √v; scaled to the gradient's own size, it never swamps a small one
            self.adam_eps = 1e-8 * self.curvature * self.y_spread * max(self.x_rms, 1.0)
            optimizer = torch.optim.Adam(params, lr=lr, betas=config.betas, eps=self.adam_eps)

        def torch_step() -> None:
            optimizer.step()
            optimizer.zero_grad()

        return torch_step

    @staticmethod
    def _read(loss, alpha, beta) -> tuple[float, float, float, float, float]:
        """Bring loss, gradient and parameters back to the host (a sync point on a GPU)."""
        packed = torch.stack([loss.detach(), alpha.grad, beta.grad, alpha.detach(), beta.detach()])
        return tuple(float(v) for v in packed.to(torch.float64).cpu().tolist())

    def _divergence(self, loss: float, step: int) -> DivergedError | None:
        """A DivergedError when the loss is non-finite or has exploded, with advice that converges when followed."""
        first_loss = self.first[0]
        if math.isfinite(loss) and loss <= EXPLOSION * max(first_loss, 1e-300):
            return None
        what = "became non-finite" if not math.isfinite(loss) else f"grew to {loss:.3g} from {first_loss:.3g}"
        advice, why = self.start_advice() if not math.isfinite(first_loss) else self.advice()
        changes = ", ".join(
            f"{'drop ' if v is None else ''}{flag_name(k)}{'' if v is None or v is True else ' ' + _plain(v)}" for k, v in advice.items()
        )
        error = DivergedError(
            f"training diverged at step {step}: the loss {what} (optimizer {self.config.optimizer}, lr {self.lr:g}).",
            why + (" " + changes + "." if changes else ""),
        )
        error.advice, error.why = advice, why
        return error

    def start_advice(self) -> tuple[dict, str]:
        """When the loss is already non-finite at the starting point, no lr helps: start nearer the data."""
        a, b = self.start.a, self.start.b
        where = f"The loss at the starting point (a = {a:.3g}, b = {b:.3g}) is not finite in {self.config.dtype}, whatever the lr"
        if self.start_given:
            return {}, f"{where}: the model given to --init-from is far from this data; drop --init-from."
        fields = type(self.config).model_fields
        given = {key: None for key in ("init", "init_a", "init_b") if getattr(self.config, key) != fields[key].default}
        return given, f"{where}: start nearer the data, from the default starting point."

    def advice(self) -> tuple[dict, str]:
        """Configuration changes that make this run converge, {key: value} (None: back to the default), and why."""
        config = self.config
        stable = self.largest_stable_lr()
        if config.standardize or (self.batches is not None and config.lr is not None):
            if config.lr is not None:
                return {"lr": None}, (
                    f"The largest stable lr for plain gradient descent here is {stable:.3g} (2/λ_max of the loss's Hessian); "
                    f"on standardised x the default ({self.default_lr():.3g}) suits any data."
                )
            return {"lr": float(_round_down(self.lr / 4))}, "A smaller lr is stable."
        if config.optimizer == "sgd" and self.batches is None:
            lr, steps = self.plain_schedule()
            if steps <= MOST_ADVISED_STEPS:
                return {"lr": lr, "steps": steps}, (
                    f"On raw x the largest stable lr for plain gradient descent is {stable:.3g} (2/λ_max of the loss's Hessian); "
                    f"at lr {lr:g} it needs about {steps:,} steps (condition number {self.condition_number():,.0f}), "
                    "or drop --no-standardize to converge in a dozen."
                )
        return {"standardize": True, "lr": None}, (
            f"On raw x the largest stable lr for plain gradient descent is {stable:.3g} (2/λ_max of the loss's Hessian) "
            f"and the loss surface has condition number {self.condition_number():,.3g}: standardising x makes it 1."
        )

    def condition_number(self) -> float:
        low, high = np.linalg.eigvalsh(self.hessian)
        return float(high / low) if low > 0 else math.inf

    def plain_schedule(self) -> tuple[float, int]:
        """An lr for plain gradient descent (1/λ_max, rounded down) and the steps it needs to converge:
        the error along the flattest direction shrinks by 1 − lr·λ_min a step, from the start's error
        (by the Newton estimate at step 1) down to the stopping rule's target."""
        low, high = np.linalg.eigvalsh(self.hessian)
        lr = float(_round_down(1.0 / high))
        if low <= 0:
            return lr, MOST_ADVISED_STEPS + 1
        _, grad_alpha, grad_beta, alpha, beta = self.first
        e_alpha, e_beta, start_error = self.prediction_error(grad_alpha, grad_beta)
        target = self.config.tol * self.y_spread + self.rounding_floor(alpha - e_alpha, beta - e_beta)
        ratio = max(start_error / target, 10.0)
        steps = math.log(ratio) / -math.log1p(-lr * low)
        return lr, _round_up(1.25 * steps + 20)

    def _converged(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float) -> bool:
        """Is the error of the predictions over the data (by the Newton estimate) within tol of y's spread,
        or below the rounding floor?"""
        if not (math.isfinite(grad_alpha) and math.isfinite(grad_beta)):
            return False
        *_, error = self.prediction_error(grad_alpha, grad_beta)
        target = max(self.config.tol * self.y_spread, MINIBATCH_TOL * self.statistical_error)
        return error <= target + self.rounding_floor(alpha, beta)

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


def _round_up(value: float) -> int:
    """A round number of steps at or above value: two significant digits."""
    exponent = max(0, math.floor(math.log10(max(value, 1.0))) - 1)
    return int(math.ceil(value / 10**exponent) * 10**exponent)


def _plain(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ulp(value: float) -> float:
    return math.ulp(value) if math.isfinite(value) else math.inf


def _fitted_value_error(m: Moments) -> float:
    """The root mean square over the data of the standard error of the fitted line's values, σ̂·√(2/n)."""
    if m.n < 3 or m.sxx <= 0:
        return 0.0
    sse = max(m.syy - m.sxy * m.sxy / m.sxx, 0.0)
    return math.sqrt(sse / (m.n - 2)) * math.sqrt(2.0 / m.n)


def _training_moments(m: Moments, standardize: bool, frame: Frame) -> tuple[float, float, float]:
    """E x_t, E x_t² and the root mean square of y_t, over the data in training coordinates."""
    if standardize:  # x_t = (x − x̄₀)/σ: its mean is what the rounding of x̄ to x̄₀ left, x_low/σ
        mean_x = m.x_low / frame.x_scale
        return mean_x, 1.0 + mean_x * mean_x, math.sqrt(m.syy / m.n + m.y_low**2)
    x_mean, y_mean = m.x_mean + m.x_low, m.y_mean + m.y_low
    return x_mean, m.sxx / m.n + x_mean**2, math.sqrt(m.syy / m.n + y_mean**2)


def _round_down(value: float) -> str:
    """A friendly learning rate at or below value: one significant digit."""
    exponent = math.floor(math.log10(value))
    return f"{math.floor(value / 10**exponent) * 10**exponent:.{max(0, -exponent)}f}"


def fit(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tuple[TrainResult, list[StepRecord]]:
    """Run a whole training; return the outcome and the logged steps."""
    from linfit.sources import in_memory

    training = Training(in_memory(x, y, config), config)
    history = list(training)
    assert training.result is not None
    return training.result, history


SINGLE_THREAD_BELOW = CHUNK_ROWS  # rows; below one chunk a second thread has nothing to split


def choose_threads(requested: int, n: int) -> int:
    """The requested count, at most the cores available; else one thread for small data, and for big data one per core that is idle.

    Measured on 2 cores: a second thread halves a step at 1e7 rows on an idle machine, but makes it
    three times slower when the other core is busy (its share of each op waits for a core).
    """
    cores = available_cores()
    if requested:
        return min(requested, cores)  # more threads than cores only contend; tens of thousands crash OpenMP
    if n < SINGLE_THREAD_BELOW:
        return 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, round(cores - busy)))


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def configure_threads(requested: int, n: int) -> int:
    """Set torch's intra-op threads (see choose_threads); return the count."""
    threads = choose_threads(requested, n)
    torch.set_num_threads(threads)
    return threads
