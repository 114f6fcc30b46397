"""Training on the piecewise losses (huber, absolute, quantile): the loop of linfit.train with the
loss, the stopping rule and, for absolute and quantile, the step changed. Nothing here knows the exact
reference: the stopping rules use only what the optimizer sees (gradients, the rows on each piece).

huber — with sgd (the default), each step is the gradient (by autograd) scaled by the inverse curvature
  of the rows inside ±δ, H_in⁻¹·∇L — on standardised x the squared losses' sgd step at lr 0.9 is nearly
  this — taken whole (lr 1), halved when the loss rises (the step after a cut goes to the exact minimum
  along Newton's direction: halving cannot cycle across a crease); where the rows inside fix no line (fewer than two
  distinct x), exact line searches (the loss is piecewise quadratic along a line): along the curvature of
  the rows at the one x inside, then across it (a turn about that x), or along −∇L when none is inside
  (far from the line every row is on a linear piece and plain gradient descent crawls). momentum/adam: their steps, at their rates. Stopping: the loss is
  quadratic on the set of rows inside ±δ, so that set's Newton step is the exact distance to the optimum
  once the set is right; the run stops when its error of the predictions is within tol of y's spread, or
  below the rounding floor, as for the squared losses.
absolute, quantile — smoothing continuation: each step is a Newton step (gradient by autograd,
  curvature from the rows inside ±μ) on the loss with its kink rounded over ±μ (ℓ_μ = ½·huber_μ(r)/μ +
  (½ − τ)·r: the pinball exactly outside ±μ), halved when the loss rises; once a stage's step is small
  beside μ, μ shrinks tenfold (when the rows inside share one x, the curvature has rank one: Newton along
  it, a gradient step across). After each step the line through the row nearest it and a second row (the
  nearest with another x, or the first a turn about the first row meets) is tried: when the subgradient
  condition (0 ∈ ∂L, checked from the rows off the line and every row on it — ties put many there, their
  residuals 0 to rounding) holds, the run snaps to that line and stops, converged. μ below the rounding floor without a verified vertex:
  stopped at the floor. With optimizer momentum or adam the step is theirs on the true loss (subgradient
  descent: slow, and the run says how far it got).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from linfit.losses import PIECEWISE, loss_for
from linfit.train import StepRecord, Training

SMOOTHING_SHRINK = 10.0  # μ ← μ / this, once a stage's Newton step is small beside μ
SNAP_BELOW_ROWS = 16  # the vertex is tried when at most this many rows lie within ±μ of the line
TIE_ULPS = 16  # a row is on the two-point line when its residual is within this many ulps of the line's rounding
VERTEX_ROWS = 4096  # at most this many rows on the line are put to the certificate's small LP
STAGE_TOL = 1e-3  # a stage is done when its Newton step moves the predictions by less than this × μ


def is_piecewise(loss: str) -> bool:
    return loss in PIECEWISE


class PiecewiseTraining(Training):
    """A Training for huber, absolute or quantile (config.huber_delta must be set for huber)."""

    def __init__(self, source, *args, rank: int = 0, world: int = 1, interleave: int = 0, **kwargs) -> None:
        """rank, world: this process's place in a torchrun run (see linfit.distributed); `interleave`, when not 0,
        says it holds every world-th chunk of that many rows (a streamed share), else a contiguous block of
        rows in rank order. Together they give each row its index in the whole data (ties are broken by it)."""
        super().__init__(source, *args, **kwargs)
        self.rank, self.world, self.interleave = rank, world, interleave
        config, data, m = self.config, source, source.moments
        self.kind = loss_for(config.loss, delta=config.huber_delta, tau=config.quantile)
        self.newton = config.optimizer == "sgd"  # Newton steps on the quadratic pieces (see the module's notes)
        self.continuation = self.newton and config.loss != "huber"  # ... of the loss with its kink rounded
        self.mu = math.nan  # the smoothing width of absolute/quantile, in y units (set at step 1)
        self.snapped: tuple[int, int] | None = None
        self.true_loss = math.nan  # the unsmoothed loss at the last pass (continuation)
        self.fallback, self.boost = False, 1.0  # a gradient step in the Newton step's stead, and its growing length
        if self.continuation:
            self.notes.append(
                f"note: {config.loss}: each step follows the loss with its kink rounded over ±μ (μ shrinking tenfold a stage); "
                "the loss shown is the true one, dL/da and dL/db the rounded loss's."
            )
        self.inside = (0.0, 0.0, 0.0, 0.0)  # Σw, Σw·x_t, Σw·x_t², rows inside ±δ (or ±μ), at the last pass
        # Σ wᵢ: chunks may carry a third tensor, the rows' weights (x_t, y_t, w)
        local_sum = sum(float(chunk[2].sum()) if len(chunk) > 2 else float(chunk[0].shape[0]) for chunk in data) if m.n else 0.0
        # every process divides by the whole data's Σw, not its share's; the rows of lower ranks come first
        shares = self._gathered([float(sum(chunk[0].shape[0] for chunk in data)), local_sum])
        self.weight_sum = math.fsum(shares[:, 1])
        self.offset = int(shares[:rank, 0].sum())  # the whole data's index of this process's first row (a contiguous share)
        from linfit.errors import UsageError

        if self.batches is not None:
            raise UsageError(f"--batch-size: mini-batches are not offered for the {config.loss} loss.", "Drop --batch-size.")

    # the data's scales, from the surface of the squared losses (they bound the rounding, not the curvature)
    x_rms = property(lambda self: self.surface.x_rms)
    x_sd = property(lambda self: self.surface.x_sd)
    y_spread = property(lambda self: self.surface.y_spread)

    def rounding_floor(self, alpha: float, beta: float) -> float:
        return self.surface.rounding_floor(alpha, beta)

    def _result(self, final, stop_reason: str, steps_done: int, wall_time_s: float):
        """As train's, with the error bounds of the piecewise loss (see `error_bounds`)."""
        from dataclasses import replace

        result = super()._result(final, stop_reason, steps_done, wall_time_s)
        error_a, error_b = self.error_bounds(*final[1:])
        return replace(result, error_a=error_a, error_b=error_b)

    def default_lr(self) -> float:
        """sgd 0.9 (huber's curvature is at most 1 on standardised x); for absolute/quantile the continuation's
        Newton step is taken whole (lr 1, halved on a rise); adam as for the squared losses."""
        if self.config.optimizer == "sgd":
            return 1.0
        return super().default_lr()

    # ── the loss over all rows, with what the stopping rule needs ──────────────────────────────────────

    def _forward_backward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Σ wᵢ·ℓ(rᵢ) / Σ wᵢ a chunk at a time, backward() adding each chunk's share to .grad; the rows inside
        ±δ (huber) or ±μ (the smoothing) are counted as it goes (their curvature, for the Newton step)."""
        total = torch.zeros((), dtype=alpha.dtype, device=alpha.device)
        inside = torch.zeros(4, dtype=torch.float64, device=alpha.device)
        true_total = torch.zeros((), dtype=torch.float64, device=alpha.device)
        width = self.kind.delta if self.kind.name == "huber" else self.mu
        n = self.weight_sum
        for chunk in self.data:
            x, y = chunk[0], chunk[1]
            w = chunk[2] if len(chunk) > 2 else None
            r = torch.addcmul(beta, alpha, x) - y
            loss = self._pieces(r, w).sum() / n
            loss.backward()
            total = total + loss.detach()
            if self.continuation:  # the true loss too, from the same residuals (what the records show)
                with torch.no_grad():
                    pieces = _true_pieces(self.kind, r.detach())
                    true_total = true_total + (pieces if w is None else pieces * w).sum().to(torch.float64) / n
            if math.isfinite(width):
                with torch.no_grad():
                    mask = (r.detach().abs() <= width).to(x.dtype)
                    wm = mask if w is None else mask * w
                    inside += torch.stack([wm.sum(), (wm * x).sum(), (wm * x * x).sum(), mask.sum()]).to(torch.float64)
        if self.all_reduce is not None:
            for p in (alpha, beta):
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            packed = torch.cat([torch.stack([total, alpha.grad, beta.grad]).to(torch.float64), inside, true_total[None]])
            self.all_reduce(packed)
            total = packed[0].to(alpha.dtype)
            alpha.grad.copy_(packed[1])
            beta.grad.copy_(packed[2])
            inside, true_total = packed[3:7], packed[7]
        self.inside = tuple(float(v) for v in inside.cpu())
        self.true_loss = float(true_total)
        return total

    def _pieces(self, r: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """w·ℓ(r) per row: the loss itself, or (continuation) its kink rounded over ±μ."""
        kind = self.kind
        if self.continuation and math.isfinite(self.mu):
            scale = 0.5 if kind.name == "quantile" else 1.0
            smooth = torch.nn.functional.huber_loss(r, torch.zeros_like(r), reduction="none", delta=self.mu) / self.mu
            pieces = scale * smooth + ((0.5 - kind.tau) * r if kind.name == "quantile" else 0.0)
        else:
            pieces = _true_pieces(kind, r)
        return pieces if w is None else pieces * w

    def full_loss(self, alpha: float, beta: float) -> float:
        """The true loss (no smoothing) at a point, one pass without a graph."""
        total = 0.0
        with torch.no_grad():
            for chunk in self.data:
                x, y = chunk[0], chunk[1]
                r = beta + alpha * x - y
                pieces = _true_pieces(self.kind, r)
                if len(chunk) > 2:
                    pieces = pieces * chunk[2]
                total += float(pieces.to(torch.float64).sum())
        return float(self._summed([total])[0]) / self.weight_sum

    # ── across processes: every process calls these in the same order, and decides on the same numbers ──

    def _summed(self, values: list[float]) -> np.ndarray:
        """Each value summed over the processes (this process's own without torchrun)."""
        if self.all_reduce is None:
            return np.array(values, dtype=np.float64)
        packed = torch.tensor(values, dtype=torch.float64, device=self.device)
        self.all_reduce(packed)
        return packed.cpu().numpy()

    def _gathered(self, values: list[float]) -> np.ndarray:
        """(world, k): row r holds process r's values; each writes its own row of zeros and the rows are summed."""
        if self.all_reduce is None:
            return np.array([values], dtype=np.float64)
        packed = torch.zeros((self.world, len(values)), dtype=torch.float64, device=self.device)
        packed[self.rank] = torch.tensor(values, dtype=torch.float64, device=self.device)
        self.all_reduce(packed)
        return packed.cpu().numpy()

    def _summed_rows(self, rows: np.ndarray) -> np.ndarray:
        """A float64 array summed over the processes (as it is without torchrun)."""
        if self.all_reduce is None:
            return rows
        packed = torch.from_numpy(rows).to(self.device)
        self.all_reduce(packed)
        return packed.cpu().numpy()

    def _indices(self, start: int, count: int, device) -> torch.Tensor:
        """The whole data's indices of this process's rows start … start + count − 1 (its own order)."""
        local = torch.arange(start, start + count, device=device)
        if not self.interleave:
            return local + self.offset
        c = self.interleave  # every world-th chunk of c rows: local chunk k is the data's chunk k·world + rank
        return (local // c * self.world + self.rank) * c + local % c

    # ── the loop ──────────────────────────────────────────────────────────────────────────────────────

    def _full_batch_steps(self, alpha, beta, update):
        if not self.newton:  # huber under momentum or adam; absolute/quantile's subgradient descent: train's own loop
            return (yield from super()._full_batch_steps(alpha, beta, update))
        return (yield from self._continuation_steps(alpha, beta))

    def _continuation_steps(self, alpha, beta):
        config = self.config
        lr = self.lr
        previous = None  # (loss, α, β, direction) of the last accepted point
        for step in range(1, config.steps + 1):
            self.step = step
            if self.stop_requested():
                return "interrupted", step - 1, None
            if step == 1 and self.continuation:
                self.mu = self._first_width(float(alpha.detach()), float(beta.detach()))
            elif step == 1:
                self.mu = self.kind.delta  # huber: the pieces are its own, ±δ
            loss = self._forward_backward(alpha, beta)
            values = self._read(loss, alpha, beta)
            true_loss = self.true_loss if self.continuation else values[0]  # read in the same pass
            shown = (true_loss, *values[1:])
            if previous is not None and loss.item() > previous[0] * (1 + 4 * self.eps) and lr > 1e-6:
                # the smoothed loss rose: back to the last point, half the step
                lr /= 2
                with torch.no_grad():
                    alpha.copy_(torch.tensor(previous[1] + lr * previous[3][0]))
                    beta.copy_(torch.tensor(previous[2] + lr * previous[3][1]))
                alpha.grad = beta.grad = None
                yield from self._look(step, shown, _logged(step, config), rejected=True)
                continue
            if self.continuation and self.inside[3] == 0 and abs(values[1]) + abs(values[2]) <= 4 * self.eps * (1 + self.x_rms):
                # no row within ±μ (so none on a kink): L is differentiable here, its gradient is the one read, and 0
                yield from self._look(step, shown, True, force=True)
                return "converged", step, shown
            # the two-point line is tried once few rows are left within ±μ (two passes; with many it cannot verify)
            snapped = self._try_vertex(values[3], values[4]) if self.continuation and self.inside[3] <= SNAP_BELOW_ROWS else None
            if snapped is not None:
                a_t, b_t = snapped
                final = (self.vertex_loss, 0.0, 0.0, a_t, b_t)  # the true loss there, the rows on the line at 0
                yield from self._look(step, final, True, force=True)
                return "converged", step, final
            converged = yield from self._look(step, shown, _logged(step, config) or step == config.steps)
            if converged:
                return "converged", step, shown
            if previous is not None and lr < self.lr:
                self.boost = max(self.boost / 4, 1.0)  # the last step had to be halved: try a shorter gradient step
            elif self.fallback:
                self.boost *= 4  # a gradient step (no curvature to use) that was accepted: try a longer one
            direction = self._newton_direction(values[1], values[2], values[3], values[4])
            previous = (loss.item(), values[3], values[4], direction)
            lr = self.lr  # a step was accepted: the next one is tried whole
            moved = math.sqrt(direction[0] ** 2 + direction[1] ** 2)
            if self.continuation and not self.fallback and moved <= STAGE_TOL * self.mu:
                self.mu /= SMOOTHING_SHRINK  # this stage is done: round the kink over a tenth of the width
                previous = None
                lr = self.lr
            with torch.no_grad():
                alpha.add_(lr * direction[0])
                beta.add_(lr * direction[1])
            alpha.grad = beta.grad = None
            if self.continuation and self.mu < self.rounding_floor(values[3], values[4]):
                self.notes.append("note: the smoothing width fell below the rounding floor before a vertex was verified.")
                return "converged", step, self._true_final(alpha, beta)
        return "step_limit", config.steps, self._true_final(alpha, beta)

    def _true_final(self, alpha, beta):
        """The values where the run stopped, with the true loss (not the smoothed one)."""
        alpha.grad = beta.grad = None
        final = self._read(self._forward_backward(alpha, beta), alpha, beta)
        return (self.true_loss if self.continuation else final[0], *final[1:])

    def _look(self, step, values, logged, force=False, rejected=False):
        """As train's, with the record's loss the true loss. `rejected`: a point whose loss rose, which the loop
        leaves for a halved step; however high its (finite) loss, the run has not diverged."""
        self.last_loss = values[0]
        if self.trace is not None:
            self.trace.add(step, values[0], *self.frame.to_data(values[3], values[4]))
        self.first = values if self.first is None else self.first
        diverged = None if rejected and math.isfinite(values[0]) else self._divergence(values[0], step)
        converged = diverged is None and not force and self._converged(*values[1:])
        if logged or converged or force or diverged is not None:
            yield self._record(step, *values)
        if diverged is not None:
            raise diverged
        return converged

    def _first_width(self, alpha: float, beta: float) -> float:
        """μ at the start: the mean |r| of the starting line (y's spread if that is 0)."""
        total = 0.0
        with torch.no_grad():
            for chunk in self.data:
                total += float((beta + alpha * chunk[0] - chunk[1]).abs().to(torch.float64).sum())
        return float(self._summed([total])[0]) / self.n or self.y_spread

    def _newton_direction(
        self, grad_alpha: float, grad_beta: float, alpha: float = math.nan, beta: float = math.nan
    ) -> tuple[float, float]:
        """−H⁻¹·∇L with H the curvature of the rows inside ±μ (per unit weight); the gradient itself, scaled
        by μ, when fewer than two rows are inside (no curvature to use). huber, with fewer than two distinct x
        inside ±δ: `_flat_step` (exact line searches along the curvature and across it)."""
        s0, s1, s2, count = self.inside
        huber = self.kind.name == "huber"
        scale = (1.0 if huber else (0.5 if self.kind.name == "quantile" else 1.0) / self.mu) / self.weight_sum
        h = scale * np.array([[s2, s1], [s1, s0]])
        g = np.array([grad_alpha, grad_beta])
        self.fallback = not (count >= 2 and s0 * s2 - s1 * s1 > 1e-12 * max(s0 * s2, 1e-300))
        if huber and self.fallback and math.isfinite(alpha):
            return self._flat_step(alpha, beta, g)
        if not self.fallback:
            self.boost = 1.0
            d = -np.linalg.solve(h, g)
            if huber and math.isfinite(alpha):
                # the last Newton step was cut (the loss rose: the set changed on the way): the exact minimum along
                # this one instead, so that halving cannot cycle between points on either side of a crease
                expected, self.expected = (
                    getattr(self, "expected", None),
                    (alpha + float(d[0]), beta + float(d[1]), float(_norm(d))),
                )
                if expected is not None and math.hypot(alpha - expected[0], beta - expected[1]) > 0.25 * expected[2]:
                    d = self._line_minimum(np.array([alpha, beta]), d, float(d @ g)) * d
                    self.expected = (alpha + float(d[0]), beta + float(d[1]), float(_norm(d)))
                return float(d[0]), float(d[1])
        elif count >= 1 and s0 > 0:
            # the rows inside share one x (or one row is inside): H has rank one, along v = (x, 1) of those rows.
            # The Newton step along v, a gradient step (growing while accepted) across it
            self.boost = min(self.boost, 1e12)
            v = np.array([s1 / s0, 1.0])
            v /= _norm(v)
            curvature = float(v @ h @ v)
            along, across = float(v @ g), g - float(v @ g) * v
            d = -(along / curvature) * v - self.mu * self.boost * across
        else:  # a gradient step whose length grows while it is accepted and shrinks when the loss rises
            self.boost = min(self.boost, 1e12)
            d = -self.mu * self.boost * g
        return float(d[0]), float(d[1])

    def _flat_step(self, alpha: float, beta: float, g: np.ndarray) -> tuple[float, float]:
        """huber, the rows inside ±δ sharing one x₀ (H = Σw_in·u₀·u₀ᵀ, u₀ = (x₀, 1): rank one) or none inside.
        Rank one: the exact minimum along u₀ (the Newton step along the curvature, or less where the set
        changes), then from there the exact minimum across it, along n = (1, −x₀) (a turn about x₀: the
        rows inside keep their residuals, the loss is linear there until another row reaches ±δ). Mixing the
        two in one direction makes rows at different x take turns inside ±δ (a zig-zag); one after the other,
        the turn brings the second x inside and the next step is Newton's on a full-rank set. None inside:
        the exact minimum along −∇L. The rows counted are those inside ±δ or on its edge to rounding (an exact
        line search ends with a row on the edge; counted outside, the next search would turn back from it):
        when they hold two x, the exact minimum along their Newton step. Returns the whole move."""
        self.expected = None
        theta = np.array([alpha, beta])
        s0, s1, s2, spread = self._band(theta)
        if spread:  # rows at two x or more on the band's edge or inside: the exact minimum along their Newton step
            d = -np.linalg.solve(np.array([[s2, s1], [s1, s0]]) / self.weight_sum, g)
            theta = theta + self._line_minimum(theta, d, float(d @ g)) * d
        elif s0 > 0:
            x0 = s1 / s0
            along = np.array([x0, 1.0]) / math.hypot(x0, 1.0)
            theta = theta + self._line_minimum(theta, along, float(along @ g)) * along
            across = np.array([1.0, -x0]) / math.hypot(x0, 1.0)
            theta = theta + self._line_minimum(theta, across) * across
        elif np.any(g != 0):
            down = -g / float(_norm(g))
            theta = theta + self._line_minimum(theta, down, float(down @ g)) * down
        return float(theta[0] - alpha), float(theta[1] - beta)

    def _band(self, theta: np.ndarray) -> tuple[float, float, float, bool]:
        """(Σw, Σw·x, Σw·x², whether they fix a line: two x or more) over the rows inside ±δ or within rounding
        of its edge, one pass."""
        delta = self.kind.delta
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        for x, r, w in self._line_terms(theta, np.array([1.0, 0.0])):
            near = 8 * self.eps * (2 * (abs(float(theta[0])) * x.abs() + abs(float(theta[1]))) + r.abs())
            wb = w * (r.abs() <= delta + near)
            sums += torch.stack([wb.sum(), (wb * x).sum(), (wb * x * x).sum()])
        if self.all_reduce is not None:
            self.all_reduce(sums)
        s0, s1, s2 = (float(v) for v in sums)
        return s0, s1, s2, s0 * s2 - s1 * s1 > 1e-12 * max(s0 * s2, 1e-300)

    def _line_terms(self, theta: np.ndarray, d: np.ndarray):
        """Per chunk, in float64: (c, r, w) with c = d₀·x + d₁ (a row's residual moves by t·c), r at θ."""
        with torch.no_grad():
            for chunk in self.data:
                x, y = chunk[0].to(torch.float64), chunk[1].to(torch.float64)
                w = chunk[2].to(torch.float64) if len(chunk) > 2 else torch.ones_like(x)
                yield float(d[0]) * x + float(d[1]), float(theta[1]) + float(theta[0]) * x - y, w

    def _line_probe(self, theta: np.ndarray, d: np.ndarray, t: float, t_mid: float) -> tuple[float, float]:
        """(φ′(t), φ″ on the piece that holds t_mid) of φ(t) = Σ w·huber_δ(r + t·c)/… (unnormalised): one pass."""
        delta = self.kind.delta
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        for c, r, w in self._line_terms(theta, d):
            sums += torch.stack([(w * c * (r + t * c).clamp(-delta, delta)).sum(), (w * c * c * ((r + t_mid * c).abs() < delta)).sum()])
        if self.all_reduce is not None:
            self.all_reduce(sums)
        return float(sums[0]), float(sums[1])

    def _line_minimum(self, theta: np.ndarray, d: np.ndarray, slope0: float | None = None) -> float:
        """t minimising φ(t) = L(θ + t·d), exactly. φ′(t) = Σ w·c·ψ(r + t·c) is continuous, non-decreasing and
        affine between the t where a row enters or leaves ±δ (row i is inside on (t_in, t_out), t_in/out =
        (∓sign(c)·δ − r)/c), its slope there Σ_in w·c². One pass gathers those breakpoints (on the descent's
        side) with their slope changes; sorted, a cumulative sum walks φ′ to the first piece where it reaches 0;
        a second pass reads φ′ at that piece's start and its slope exactly, and the root is one division there
        (kept inside the piece). 0 when φ′(0) is 0. Across processes the breakpoints are not gathered:
        `_line_minimum_by_probes`."""
        if slope0 is None:
            slope0 = self._line_probe(theta, d, 0.0, 0.0)[0]
        if slope0 == 0 or not math.isfinite(slope0):
            return 0.0
        sign = -1.0 if slope0 > 0 else 1.0  # walk downhill: t·sign ≥ 0
        d = sign * d
        if self.all_reduce is not None:
            return sign * self._line_minimum_by_probes(theta, d)
        delta = self.kind.delta
        times, jumps = [], []
        p0 = curve0 = 0.0
        for c, r, w in self._line_terms(theta, d):
            moving = (c != 0) & (w > 0)
            c, r, w = c[moving], r[moving], w[moving]
            s = torch.sign(c)
            t_in, t_out = (-s * delta - r) / c, (s * delta - r) / c
            k = w * c * c
            p0 += float((w * c * r.clamp(-delta, delta)).sum())
            curve0 += float(k[(t_in <= 0) & (t_out > 0)].sum())
            times += [t_in[t_in > 0], t_out[t_out > 0]]
            jumps += [k[t_in > 0], -k[t_out > 0]]
        if not p0 < 0:
            return 0.0
        times, order = torch.sort(torch.cat(times)) if times else (torch.zeros(0, dtype=torch.float64), None)
        jumps = torch.cat(jumps)[order] if order is not None else torch.zeros(0, dtype=torch.float64)
        # φ′ at each breakpoint: p0 + Σ (slope on the piece before it) × (its length)
        starts = torch.cat([torch.zeros(1, dtype=torch.float64, device=times.device), times[:-1]])
        slopes = curve0 + torch.cat([torch.zeros(1, dtype=torch.float64, device=times.device), torch.cumsum(jumps, 0)[:-1]])
        values = p0 + torch.cumsum(slopes * (times - starts), 0)
        reached = torch.nonzero(values >= 0)
        if reached.shape[0] == 0:  # past the last breakpoint (every row beyond ±δ there, φ′ = δ·Σw·|c| > 0): rounding
            j = times.shape[0]
            left, right = (float(times[-1]) if j else 0.0), math.inf
        else:
            j = int(reached[0])
            left, right = float(starts[j]), float(times[j])
        mid = 0.5 * (left + right) if math.isfinite(right) else left + 1.0
        value, curve = self._line_probe(theta, d, left, mid)
        if value >= 0:
            return sign * left
        if not curve > 0:
            return sign * (right if math.isfinite(right) else left)
        return sign * min(left - value / curve, right)

    def _line_minimum_by_probes(self, theta: np.ndarray, d: np.ndarray) -> float:
        """t ≥ 0 minimising L(θ + t·d) (φ′(0) < 0) by probes of φ′ alone (rows on other processes): bracket the
        root (doubling), then Newton on the current piece (exact once on the root's piece), the secant of the
        bracket where φ′ is flat, bisecting when either leaves the bracket. At most 64 passes."""
        slope0, curve = self._line_probe(theta, d, 0.0, 0.0)
        lo, low_slope, hi, high_slope = 0.0, slope0, math.inf, math.nan
        trial = -slope0 / curve if curve > 0 else 1.0
        for _ in range(64):
            t = trial
            slope, curve = self._line_probe(theta, d, t, t)
            if abs(slope) <= 4 * self.eps * abs(slope0):
                return t
            if slope < 0:
                lo, low_slope = t, slope
            else:
                hi, high_slope = t, slope
            newton = t - slope / curve if curve > 0 else math.nan
            if not math.isfinite(hi):
                trial = newton if newton > t else 2 * t
                continue
            if hi - lo <= 4 * self.eps * hi:
                break
            secant = lo - low_slope * (hi - lo) / (high_slope - low_slope)
            trial = newton if lo < newton < hi else secant if lo < secant < hi else 0.5 * (lo + hi)
        return lo

    # ── stopping ──────────────────────────────────────────────────────────────────────────────────────

    def _converged(self, grad_alpha: float, grad_beta: float, alpha: float, beta: float) -> bool:
        """huber: the Newton step of the rows inside ±δ (exact once that set is right) within tol of y's
        spread, or below the rounding floor. When the rows inside fix no line (they share one x, or none is
        inside) the loss is linear along the directions without curvature, its slope there δ·Σ w·sign(r)·u
        over the rows outside: a minimum needs that slope 0 to rounding, and the Newton step along the
        direction with curvature (if any) within tol. absolute/quantile stop by a verified vertex (or the
        floor) only."""
        if self.kind.name != "huber" or not (math.isfinite(grad_alpha) and math.isfinite(grad_beta)):
            return False
        s0, s1, s2, count = self.inside
        h = np.array([[s2, s1], [s1, s0]]) / self.weight_sum
        g = np.array([grad_alpha, grad_beta])
        allowed = self.config.tol * self.y_spread + self.rounding_floor(alpha, beta)
        if count >= 2 and s0 * s2 - s1 * s1 > 1e-12 * max(s0 * s2, 1e-300):
            return _newton_error(h, g) <= allowed
        # the gradient's rounding: the rows inside carry their residuals' rounding, the sum its own
        flat_tol = (1 + self.x_rms) * (s0 / self.weight_sum * self.rounding_floor(alpha, beta) + 16 * self.eps * self.kind.delta)
        if count == 0 or s0 <= 0:
            return float(_norm(g)) <= flat_tol
        v = np.array([s1 / s0, 1.0])
        v /= _norm(v)
        along = float(v @ g)
        across = g - along * v
        return float(_norm(across)) <= flat_tol and abs(along) / math.sqrt(float(v @ h @ v)) <= allowed

    def _try_vertex(self, alpha: float, beta: float) -> tuple[float, float] | None:
        """The line through the two rows nearest (α, β), if the subgradient condition proves it optimal.

        The zero-residual rows are the two the line is drawn through; every other row's ψ is 1 − τ above
        the line or −τ below; the line is optimal when the 2×2 system for the two rows' subgradients has a
        solution inside [−τ, 1 − τ] (the sums in float64, the small system in Fractions)."""
        # the row nearest the line, then the nearest with another x (rows repeated at one x, or one point
        # repeated, would otherwise give no line)
        first = self._nearest_row(alpha, beta, None)
        if first is None:
            return None
        i, xi, yi = first
        # the second row: the nearest with another x, and the first that a turn of the line about row i meets
        # (least |r|/|x − xᵢ|: on a flat face the optimizer rests between two vertices, both optimal)
        tried = set()
        for by_turn in (False, True):
            second = self._nearest_row(alpha, beta, xi, by_turn)
            if second is None or second[0] in tried:
                continue
            tried.add(second[0])
            line = self._vertex_through(i, xi, yi, *second)
            if line is not None:
                return line
        return None

    def _vertex_through(self, i: int, xi: float, yi: float, j: int, xj: float, yj: float) -> tuple[float, float] | None:
        """The line through rows i and j when the subgradient condition proves it optimal, else None."""
        a_t = (yj - yi) / (xj - xi)
        b_t = yi - a_t * xi
        tau = self.kind.tau
        # rows on the line: those whose residual is 0 up to the rounding of the line's two coefficients and
        # of the residual itself (ties: integer data put many rows on one line, their float residuals a few
        # ulps from 0 in standardised x). They all join the certificate; the others are above or below.
        spread = (abs(xi) + abs(xj)) / abs(xi - xj)
        slope_y = (abs(yi) + abs(yj)) / abs(xi - xj)  # y's part of the slope's rounding, over eps
        sums = np.zeros(4)  # Σw·x above, Σw above, Σw·x below, Σw below (rows off the line)
        losses = np.zeros(2)  # Σw·r above, Σw·r below: the loss at the vertex, the rows on the line counted at 0
        scale = np.zeros(2)  # Σw·|x|, Σw: the size of the sums' rounding
        eps = float(torch.finfo(self.dtype).eps)
        on: list[tuple[int, float, float]] = []  # (index, x, w) of this process's rows on the line
        found = 0  # how many this process has (all of them are listed while the run's total can be within VERTEX_ROWS)
        with torch.no_grad():
            for offset, chunk in _offsets(self.data):
                x, y = chunk[0], chunk[1]
                w = chunk[2] if len(chunk) > 2 else torch.ones_like(x)
                r = b_t + a_t * x - y
                # the slope's rounding (its rows' differences, relative eps·spread, and y's) moves a row's residual by
                # its lever |x − xᵢ| times it, not |x| times it: with x ≈ 1e9 unstandardised that had been 1e5, every row a tie
                lever = (x - xi).abs()
                bound = (
                    TIE_ULPS
                    * torch.finfo(x.dtype).eps
                    * (abs(a_t) * (x.abs() + abs(xi)) + abs(yi) + abs(b_t) + y.abs() + lever * (abs(a_t) * (1 + spread) + slope_y))
                )
                zero = r.abs() <= bound
                index = self._indices(offset, x.shape[0], x.device)
                zero = zero | (index == i) | (index == j)
                above, below = (r > 0) & ~zero, (r < 0) & ~zero
                count = int(zero.sum())
                found += count
                if count and found <= VERTEX_ROWS:  # past that many the certificate is not attempted (below)
                    for k in torch.nonzero(zero).flatten().tolist():
                        on.append((int(index[k]), float(x[k]), float(w[k])))
                sums += np.array([float((w * x)[above].sum()), float(w[above].sum()), float((w * x)[below].sum()), float(w[below].sum())])
                wr = (w * r).to(torch.float64)
                losses += np.array([float(wr[above].sum()), float(wr[below].sum())])
                scale += np.array([float((w * x.abs()).sum()), float(w.sum())])
        # the sums, and how many rows each process has on the line, from every process
        counts = self._gathered([*sums, *scale, float(found), *losses])
        sums, scale, losses, counts = (
            counts[:, :4].sum(axis=0),
            counts[:, 4:6].sum(axis=0),
            counts[:, 7:9].sum(axis=0),
            counts[:, 6].astype(int),
        )
        # a row on the line has a residual of rounding alone, which a weight of 1e12 would make 1e-5 of the loss of the rest
        up_weight = 1.0 if self.kind.name == "absolute" else 1 - tau
        down_weight = 1.0 if self.kind.name == "absolute" else tau
        self.vertex_loss = (up_weight * losses[0] - down_weight * losses[1]) / self.weight_sum
        if counts.sum() > VERTEX_ROWS:
            return None
        # the rows on the line, each process's into its own slice, in the data's order
        first = int(counts[: self.rank].sum())
        rows = np.zeros((int(counts.sum()), 3))
        rows[first : first + len(on)] = np.array(on, dtype=np.float64).reshape(-1, 3)
        rows = self._summed_rows(rows)
        on = {int(k): (xk, wk) for k, xk, wk in sorted(rows.tolist()) if wk > 0 or int(k) in (i, j)}
        up, down = 1 - Fraction(tau), Fraction(tau)
        total_a = up * Fraction(sums[0]) - down * Fraction(sums[2])
        total_b = up * Fraction(sums[1]) - down * Fraction(sums[3])
        # the sums are rounded (x is standardised, so a flat face's certificate, on the box's edge, can land a
        # few ulps outside it): the equations hold up to that rounding, each row's s stays in its box (widening every
        # row's box by the rounding over the lightest row's weight let rows of weight 1e12 beside rows of weight 1 leave it)
        slack_a, slack_b = TIE_ULPS * eps * scale[0], TIE_ULPS * eps * scale[1]
        if len(on) > 2:  # is there s in [−τ, 1 − τ] for each row on the line with Σ s·w·(x, 1) = −(Σa, Σb)? a small LP
            from scipy.optimize import linprog

            rows = list(on.values())
            matrix = np.array([[v[1] * v[0] for v in rows], [v[1] for v in rows]])
            target = -np.array([float(total_a), float(total_b)])
            slack = np.array([slack_a, slack_b])
            # each equation scaled by a power of two to coefficients near 1 (HiGHS's tolerances are absolute)
            unit = np.ldexp(1.0, -np.frexp(np.max(np.abs(matrix), axis=1))[1])[:, None]
            matrix, target, slack = matrix * unit, target * unit[:, 0], slack * unit[:, 0]
            box = [(-tau, 1 - tau)] * len(rows)
            bounds = np.concatenate([target + slack, slack - target])
            if linprog(np.zeros(len(rows)), A_ub=np.vstack([matrix, -matrix]), b_ub=bounds, bounds=box, method="highs").status != 0:
                return None
            self.snapped = (i, j)
            return a_t, b_t
        xp, wp = Fraction(on[i][0]), Fraction(on[i][1])
        xq, wq = Fraction(on[j][0]), Fraction(on[j][1])
        det = xp - xq
        if det == 0 or wp == 0 or wq == 0:
            return None
        sp = (-total_a + xq * total_b) / det / wp
        sq = (total_a - xp * total_b) / det / wq
        # each s moves by the sums' rounding over its own row's weight
        widen_p = Fraction((slack_a + abs(on[j][0]) * slack_b) / float(abs(det) * wp))
        widen_q = Fraction((slack_a + abs(on[i][0]) * slack_b) / float(abs(det) * wq))
        if not (-down - widen_p <= sp <= up + widen_p and -down - widen_q <= sq <= up + widen_q):
            return None
        self.snapped = (i, j)
        return a_t, b_t

    def _nearest_row(self, alpha: float, beta: float, other_than: float | None, by_turn: bool = False) -> tuple[int, float, float] | None:
        """(index, x, y) of the weighted row nearest the line (α, β), among those whose x is not `other_than`
        (by_turn: nearest in |r| / |x − other_than|, the first row a turn about x = other_than meets); of rows
        as near, the first in the data. Each process finds its own nearest, then every process takes the same."""
        best = (math.inf, -1.0, 0.0, 0.0)
        with torch.no_grad():
            for offset, chunk in _offsets(self.data):
                r = (beta + alpha * chunk[0] - chunk[1]).abs()
                if len(chunk) > 2:
                    r = torch.where(chunk[2] > 0, r, torch.full_like(r, math.inf))
                if other_than is not None:
                    r = torch.where(chunk[0] != other_than, r, torch.full_like(r, math.inf))
                    if by_turn:
                        r = r / (chunk[0] - other_than).abs()
                if r.shape[0] == 0:
                    continue
                value, k = torch.min(r, 0)
                if float(value) < best[0]:
                    k = int(k)
                    index = int(self._indices(offset + k, 1, r.device)[0])
                    best = (float(value), float(index), float(chunk[0][k]), float(chunk[1][k]))
        found = [row for row in self._gathered(list(best)).tolist() if row[1] >= 0]
        if not found:
            return None
        _, index, x, y = min(found, key=lambda row: (row[0], row[1]))
        return int(index), x, y

    def error_bounds(self, grad_alpha, grad_beta, alpha, beta):
        """No Newton bound on a and b for the piecewise losses (for huber, the set's Newton step)."""
        if self.kind.name != "huber":
            return math.nan, math.nan
        s0, s1, s2, count = self.inside
        if count < 2 or s0 * s2 - s1 * s1 <= 1e-12 * max(s0 * s2, 1e-300):  # fewer than two x inside ±δ: no Newton bound
            return math.inf, math.inf
        e = np.linalg.solve(np.array([[s2, s1], [s1, s0]]) / self.weight_sum, np.array([grad_alpha, grad_beta]))
        floor = self.rounding_floor(alpha, beta)
        frame = self.frame
        d_alpha, d_beta = abs(e[0]) + floor / max(self.x_sd, 1e-300), abs(e[1]) + floor
        return d_alpha / frame.x_scale + math.ulp(alpha / frame.x_scale), d_beta + d_alpha * abs(frame.x_shift) / frame.x_scale


def _norm(v) -> float:
    """The length of a 2-vector, without the underflow of squaring (a gradient of 1e-300 has length 1e-300, not 0)."""
    return math.hypot(float(v[0]), float(v[1]))


def _newton_error(h: np.ndarray, g: np.ndarray) -> float:
    """√(gᵀ·H⁻¹·g), scaled so that tiny gradients (a tiny δ) neither underflow nor pass for 0."""
    scale = float(np.max(np.abs(g)))
    if scale == 0 or not math.isfinite(scale):
        return scale
    unit = g / scale
    return scale * math.sqrt(abs(float(np.linalg.solve(h, unit) @ unit)))


def _true_pieces(kind, r: torch.Tensor) -> torch.Tensor:
    if kind.name == "huber":
        return torch.nn.functional.huber_loss(r, torch.zeros_like(r), reduction="none", delta=kind.delta)
    if kind.name == "absolute":
        return r.abs()
    return torch.maximum(-kind.tau * r, (1 - kind.tau) * r)


def _offsets(data):
    offset = 0
    for chunk in data:
        yield offset, chunk
        offset += chunk[0].shape[0]


def _logged(step: int, config) -> bool:
    from linfit.train import is_logged

    return is_logged(step, config.log_every)


# ── what a run on a piecewise loss needs besides the loop: δ, the exact reference, the statistics ─────


def settle(
    config,
    x: np.ndarray | None,
    y: np.ndarray | None,
    w: np.ndarray | None = None,
    why_not: str | None = None,
    solve: bool = True,
    delta_floor: float = 0.0,
):
    """(config with huber's δ fixed, the exact reference or None, the reason when None, notes for people).

    x, y: the rows in float64 when this road has them in memory (None: `why_not` says why not). `solve`
    False: δ only (a torchrun process other than rank 0, which alone solves and shows the reference).
    `delta_floor`: the least δ the residuals' rounding allows; a smaller default is raised to it, and said."""
    from linfit.errors import DataError
    from linfit.reference import ReferenceUnavailable, default_huber_delta, huber_line, quantile_line

    notes = []
    if config.loss == "huber" and config.huber_delta is None:
        if x is None:
            from linfit.errors import UsageError

            raise UsageError(f"huber's default δ comes from the rows in memory, and {why_not}.", "Give --huber-delta in y units.")
        delta, note = floored_default_delta(default_huber_delta(x, y, w), delta_floor)
        config = config.model_copy(update={"huber_delta": delta})
        notes.append(note)
    if x is None or not solve:
        return config, None, why_not or "the reference is solved by rank 0", notes
    try:
        if config.loss == "huber":
            reference = huber_line(x, y, config.huber_delta, w)
        else:
            reference = quantile_line(x, y, 0.5 if config.loss == "absolute" else config.quantile, w, name=config.loss)
    except (ReferenceUnavailable, DataError) as error:
        return config, None, str(getattr(error, "message", error)), notes
    return config, reference, None, notes


def floored_default_delta(delta: float, floor: float) -> tuple[float, str]:
    """huber's default δ, raised to `floor` when the residuals about the LAD line are themselves at the rounding
    level (rows on an exact line, a few off it), with the note that says which."""
    rule = "1.345 × MAD/0.6745 of the residuals about the least-absolute-deviations line"
    if delta >= floor:
        return delta, f"huber: δ = {delta:.6g} ({rule})."
    return (
        floor,
        f"huber: δ = {floor:.6g} ({rule} is {delta:.3g}, below what the residuals' rounding can tell apart: raised to that floor).",
    )


def piecewise_json(fit: dict, prepared, config) -> dict:
    """The keys a piecewise run adds to train's JSON (and so to the model file), in place: the loss's δ or τ,
    the exact reference with the objective's gap (a and b gaps only when the optimum is unique), the
    statistics valid for the loss; least squares' statistics (`stats`, `error_vs_se`) are null here, and
    `ols` stays the least-squares line, for comparison only."""
    from dataclasses import asdict

    reference = prepared.reference
    fit["config"] = config.model_dump(mode="json")
    fit["loss_parameters"] = (
        {"huber_delta": config.huber_delta}
        if config.loss == "huber"
        else {"quantile": config.quantile}
        if config.loss == "quantile"
        else {}
    )
    fit["stats"] = None
    fit["error_vs_se"] = None
    if reference is None:
        fit["reference"] = None
        fit["reference_reason"] = prepared.reference_reason
        fit["gap"] = None
    else:
        fit["reference"] = {
            "loss": reference.loss,
            "a": reference.a,
            "b": reference.b,
            "objective": reference.objective,
            "method": reference.method,
            "unique": reference.unique,
            "points": list(reference.points),
            **({"through": [list(point) for point in reference.through]} if reference.through else {}),
            **({"inside": reference.inside} if reference.inside >= 0 else {}),
        }
        objective_gap = (
            (fit["loss"] - reference.objective) / reference.objective if reference.objective else fit["loss"] - reference.objective
        )
        fit["gap"] = {
            "objective": objective_gap,
            "a": _relative(fit["a"], reference.a) if reference.unique else None,
            "b": _relative(fit["b"], reference.b) if reference.unique else None,
        }
    fit["loss_stats"] = None if prepared.robust_stats is None else asdict(prepared.robust_stats)
    return fit


def _relative(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference) if reference else abs(value - reference)


__all__ = ["PiecewiseTraining", "StepRecord", "is_piecewise", "settle"]
