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
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from linfit.config import DEFAULT_LR, TrainConfig
from linfit.device import resolve_device
from linfit.errors import ConfigError, DataError, DivergedError
from linfit.losses import LOSSES
from linfit.model import DTYPES, Start, leaf, starting_point
from linfit.reference import Moments
from linfit.surface import Surface, divergence_advice, start_advice

EXPLOSION = 1e6  # a loss this many times the first one means the run is diverging
MINIBATCH_TOL = 0.01  # mini-batch runs stop at this fraction of the statistical error (or the tol, if larger)
SOURCE_KEYS = ("standardize", "dtype", "device", "x_col", "y_col")  # what a source is built for: a run's config must agree


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


def shuffled_batches(data, batch_rows: int, buffer_rows: int, seed: int):
    """Endless mini-batches of exactly `batch_rows` rows, shuffled within a buffer of `buffer_rows` (seeded).

    The data's chunks are (x, y) or, for weighted rows, (x, y, w): each batch is a tuple of the same columns."""
    generator = torch.Generator().manual_seed(seed)
    carry = None
    while True:  # one epoch a turn
        buffered, rows = [], 0
        for chunk in itertools.chain(data, [None]):
            if chunk is not None:
                buffered.append(chunk)
                rows += chunk[0].shape[0]
            if rows >= buffer_rows or (chunk is None and rows):
                if carry is not None:
                    buffered.insert(0, carry)
                columns = [torch.cat(column) for column in zip(*buffered)]
                order = torch.randperm(columns[0].shape[0], generator=generator).to(columns[0].device)
                columns = [column[order] for column in columns]
                whole = columns[0].shape[0] // batch_rows * batch_rows
                for start in range(0, whole, batch_rows):
                    yield tuple(column[start : start + batch_rows] for column in columns)
                carry = tuple(column[whole:] for column in columns) if whole < columns[0].shape[0] else None
                buffered, rows = [], 0


class Training:
    """Iterate to run the loop; each item is a logged StepRecord. `result` holds the outcome."""

    def __init__(
        self,
        source,
        config: TrainConfig | None = None,
        stop_requested: Callable[[], bool] = lambda: False,
        start: Start | None = None,
        trace: bool = False,
        all_reduce: Callable | None = None,
        batch_rows: int = 0,
        buffer_rows: int = 0,
    ) -> None:
        """Train over a source (see linfit.sources): re-iterable (x_t, y_t) chunks in training coordinates,
        with the `config`, `moments` and `frame` they were made for. The run's configuration is the
        source's; a `config` given too must agree with it on what the source was built for (SOURCE_KEYS),
        and may change only how the loop runs (lr, steps, optimizer, ...). `all_reduce`, when given, sums
        a tensor across processes (data-parallel training)."""
        config = source.config if config is None else _agreeing(source.config, config)
        m, frame = source.moments, source.frame
        self.config = config
        # the piecewise losses (linfit.piecewise) take half_mse's curvature: an upper bound of theirs
        self.loss_kind = kind = LOSSES[config.loss] if config.loss in LOSSES else LOSSES["half_mse"]
        self.n = m.n
        self.frame = frame
        self.data = source
        self.device = resolve_device(config.device)
        self.dtype = dtype = DTYPES[config.dtype]
        self.all_reduce = all_reduce
        self.chunk_loss = _compiled(self._chunk_loss) if config.compile else self._chunk_loss
        self.notes: list[str] = []  # things the user should hear about, for the shell to show
        # weighted rows: (x_t, y_t, w) chunks; n counts the rows with a positive weight, the batches draw from all N rows
        self.weighted = bool(getattr(source, "weighted", False))
        self.total_rows = self._all_rows(source, all_reduce) if self.weighted and batch_rows else self.n
        if batch_rows >= self.total_rows:  # a batch of every row is full-batch gradient descent: run it as such
            self.notes.append(
                f"note: --batch-size {batch_rows} is not less than the {self.total_rows} rows; each step uses every row "
                "(full-batch gradient descent, --steps applies)."
            )
            batch_rows = 0
        self.batch_rows = batch_rows
        # mini-batch SGD: each step sees one shuffled batch (SVRG-corrected, see _minibatch_steps)
        self.batches = shuffled_batches(source, batch_rows, max(buffer_rows, batch_rows), config.seed) if batch_rows else None
        self.curvature = kind.curvature(self.n)
        self.full_weight = kind.weight(self.n, self.n)
        self.weight = self.full_weight
        self.eps = float(torch.finfo(dtype).eps)
        self.surface = Surface(m, frame, config.standardize, self.curvature, self.eps)  # Hessian, Newton error, advice
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

    def _all_rows(self, source, all_reduce) -> int:
        """N, every row of the data, zero weights included (one pass; under torchrun every process's, summed)."""
        rows = sum(int(chunk[0].shape[0]) for chunk in source)
        if all_reduce is not None:  # every process takes as many batches an epoch: the whole data's count
            packed = torch.tensor([float(rows)], dtype=torch.float64, device=self.device)
            all_reduce(packed)
            rows = int(packed[0])
        return rows

    def default_lr(self) -> float:
        """The optimizer's default step, for this loss (see config.DEFAULT_LR).

        sgd and momentum take a step in units of 1/curvature, so the default is divided by the loss's
        curvature factor c (1 for half_mse, 2 for mse, n for half_sse). Adam's step is a length in
        training coordinates whatever the gradient's scale, so its default is a fraction of y's spread.
        Mini-batch runs divide by the largest curvature one batch can have (1 + max x_t², or with weighted
        rows max w·(1 + x_t²)·N/n, see largest_row_curvature), which keeps every step a contraction.
        """
        base = DEFAULT_LR[self.config.optimizer]
        if self.config.optimizer == "adam":  # a step length: a fraction of the parameters' scale
            alpha0, beta0 = self.frame.to_training(self.start.a, self.start.b)
            return base * max(self.surface.y_spread, abs(alpha0), abs(beta0))
        lr = base / self.curvature
        if self.batch_rows:
            lr /= self.largest_row_curvature()
        return lr

    def largest_row_curvature(self) -> float:
        """1 + max x_t² over the data (one pass): the curvature of the steepest single row in a batch, over c.
        Weighted rows: max wᵢ·(1 + x_tᵢ²)·N/n, the batch loss weighing row i by wᵢ·N/n (see _batch_weight)."""
        largest = 0.0
        for x, _, *w in self.data:
            if not x.numel():
                continue
            row = 1.0 + x.to(torch.float64) ** 2
            largest = max(largest, float((row * w[0].to(torch.float64)).max() if w else row.max()))
        if self.all_reduce is not None:  # every process must take the same step: the sum bounds the max
            packed = torch.tensor([largest], dtype=torch.float64, device=self.device)
            self.all_reduce(packed)
            largest = float(packed[0])
        return max(largest * self.total_rows / self.n if self.weighted else largest, 1.0)

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
        Weighted rows: the batches carry the rows' weights, μ is the weighted full gradient, and each batch's
        loss is an unbiased estimate of the weighted loss (see _batch_weight).
        """
        config = self.config
        per_epoch = max(1, self.total_rows // self.batch_rows)
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
                self._variance_reduced_gradient(alpha, beta, snapshot, mean_gradient, next(self.batches))
                update()
        return "step_limit", step, None

    def _variance_reduced_gradient(self, alpha, beta, snapshot, mean_gradient, batch) -> None:
        """alpha.grad, beta.grad ← ∇L_B(w) − ∇L_B(w̃) + μ, each batch gradient by loss.backward().
        `batch`: (x_t, y_t), or (x_t, y_t, w) for weighted rows."""
        x, y, *w = batch
        weight = self._batch_weight(x.shape[0])
        for p in snapshot:
            p.grad = None
        for at in ((alpha, beta), snapshot):  # forward and backward at w, and at the snapshot w̃
            loss = self.chunk_loss(*at, x, y, weight) if not w else _weighted_chunk_loss(*at, x, y, w[0], weight)
            loss.backward()
        with torch.no_grad():
            difference = torch.stack([alpha.grad - snapshot[0].grad, beta.grad - snapshot[1].grad])
            if self.all_reduce is not None:  # data-parallel: average the processes' batches
                packed = torch.cat([difference, torch.ones(1, dtype=difference.dtype, device=difference.device)])
                self.all_reduce(packed)
                difference = packed[:2] / packed[2]
            alpha.grad.copy_(difference[0] + mean_gradient[0])
            beta.grad.copy_(difference[1] + mean_gradient[1])

    def _batch_weight(self, rows: int) -> float:
        """The weight that makes a batch's loss an unbiased estimate of the full loss.

        The full loss is W·Σ wᵢ·rᵢ² over all N rows (W = full_weight: ½/n for half_mse, ½ for half_sse; wᵢ = 1
        without weights, else scaled to mean 1 over the n rows with a positive one, zero-weight rows in N but
        not in n). A batch of B rows drawn uniformly from the N has E[Σ_B wᵢ·rᵢ²] = (B/N)·Σ wᵢ·rᵢ², so the
        batch's weight is W·N/B (scale/B for a mean without weights, as N = n)."""
        if not self.weighted:
            kind = self.loss_kind
            return kind.scale / rows if kind.reduction == "mean" else kind.scale * self.n / rows
        return self.full_weight * self.total_rows / rows

    def _result(self, final, stop_reason: str, steps_done: int, wall_time_s: float) -> TrainResult:
        a, b = self.frame.to_data(final[3], final[4])
        error_a, error_b = self.surface.error_bounds(*final[1:])
        epochs = -(-steps_done * self.batch_rows // self.total_rows) if self.batch_rows else 0
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

    def _forward_backward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The loss over all rows, a chunk at a time; each backward() adds to .grad.

        Autograd accumulates gradients, so the sum over chunks is exactly the full-batch gradient,
        while each chunk's temporaries stay small enough to live in cache and be reused.
        """
        weight = self.weight
        total = torch.zeros((), dtype=alpha.dtype, device=alpha.device)
        for x, y, *w in self.data:  # weighted rows come as (x_t, y_t, w): the loss is then weight·Σ w·r²
            loss = self.chunk_loss(alpha, beta, x, y, weight) if not w else _weighted_chunk_loss(alpha, beta, x, y, w[0], weight)
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
            self.adam_eps = 1e-8 * self.curvature * self.surface.y_spread * max(self.surface.x_rms, 1.0)
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
        """A DivergedError when the loss is non-finite or has exploded, with advice (surface.Advice, as data in
        `advice` and `why`) that converges when followed; a DataError when no setting can help."""
        first_loss = self.first[0]
        if math.isfinite(loss) and loss <= EXPLOSION * max(first_loss, 1e-300):
            return None
        what = "became non-finite" if not math.isfinite(loss) else f"grew to {loss:.3g} from {first_loss:.3g}"
        if math.isfinite(first_loss):
            minibatch = self.batches is not None
            advice = divergence_advice(self.surface, self.config, self.lr, self.default_lr(), self.first, minibatch)
        else:
            advice = start_advice(self.surface, self.start, self.start_given, self.config, float(torch.finfo(self.dtype).max))
            if not advice.changes:
                return DataError(f"training cannot start: the loss {what} at step {step}.", advice.why)
        error = DivergedError(
            f"training diverged at step {step}: the loss {what} (optimizer {self.config.optimizer}, lr {self.lr:g}).", advice.why
        )
        error.advice, error.why = advice.changes, advice.why
        return error

    def _converged(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float) -> bool:
        """Is the error of the predictions over the data (by the Newton estimate) within tol of y's spread,
        or below the rounding floor?"""
        target = max(self.config.tol * self.surface.y_spread, MINIBATCH_TOL * self.statistical_error)
        return self.surface.converged(grad_alpha, grad_beta, alpha, beta, target)

    def _record(self, step, loss, grad_alpha, grad_beta, alpha, beta) -> StepRecord:
        a, b = self.frame.to_data(alpha, beta)
        grad_a, grad_b = self.frame.grad_to_data(grad_alpha, grad_beta)
        return StepRecord(step=step, loss=loss, grad_a=grad_a, grad_b=grad_b, a=a, b=b)


def _weighted_chunk_loss(alpha, beta, x, y, w, weight: float) -> torch.Tensor:
    """A weighted chunk's share of the loss: weight·Σ wᵢ·(β + α·x_t − y)² (w scaled to mean 1 by the source)."""
    r = torch.addcmul(beta, alpha, x) - y
    return weight * torch.sum(w * r * r)


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


def _fitted_value_error(m: Moments) -> float:
    """The root mean square over the data of the standard error of the fitted line's values, σ̂·√(2/n).

    Weighted rows: from the weighted moments this is WLS's, √(Σ wᵢ·se(ŷᵢ)²/n) with σ̂² = Σ wᵢ·rᵢ²/(n − 2), the
    weights scaled to mean 1 over the n rows with a positive weight (the trace of the weighted hat matrix is 2)."""
    if m.n < 3 or m.sxx <= 0:
        return 0.0
    sse = max(m.syy - m.sxy * m.sxy / m.sxx, 0.0)
    return math.sqrt(sse / (m.n - 2)) * math.sqrt(2.0 / m.n)


def _agreeing(built_for: TrainConfig, config: TrainConfig) -> TrainConfig:
    """`config`, when it agrees with the one its source was built for on SOURCE_KEYS; else a ConfigError."""
    differ = [key for key in SOURCE_KEYS if getattr(built_for, key) != getattr(config, key)]
    if differ:
        what = ", ".join(f"{key} {getattr(built_for, key)!r} (the run's config says {getattr(config, key)!r})" for key in differ)
        raise ConfigError(
            f"the data source was built for {what}: a run cannot train on data prepared for another configuration.",
            "Build the source with the run's configuration (linfit.pipeline.prepare).",
        )
    return config
