"""The exact least-squares line, in closed form and float64: what every fit is held against."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from linfit.errors import DataError

BLOCK_ROWS = 1 << 16  # rows a block (1 MiB of x and y in float64): centred sums, tensors and the pass cache are made a block at a time


@dataclass(frozen=True)
class LeastSquares:
    a: float
    b: float


@dataclass(frozen=True)
class Moments:
    """n, the means, and the centred sums Sxx = Σ(x − x̄)², Sxy = Σ(x − x̄)(y − ȳ), Syy = Σ(y − ȳ)².

    Each mean is carried in two parts, x̄ = x_mean + x_low (x_low is below x_mean's last digit), so that
    x_mean is a float among the data: with x ≈ 1e15, x − x_mean is exact (Sterbenz) and no product or
    sum ever sees the offset. x_mean alone is the mean rounded to float64.
    """

    n: int
    x_mean: float
    y_mean: float
    sxx: float
    sxy: float
    syy: float
    x_low: float = 0.0
    y_low: float = 0.0


def moments(x: np.ndarray, y: np.ndarray) -> Moments:
    """Two passes: a float near the mean as the shift, then sums of the exact differences, block by block.

    The corrected two-pass formulas (Σd² − (Σd)²/n, with d = x − shift) leave no error from the
    shift not being the exact mean; block sums are added with math.fsum.
    """
    n = int(x.shape[0])
    if n == 0:
        return Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    x_shift, y_shift = _near_mean(x), _near_mean(y)
    sums = np.zeros((5, (n + BLOCK_ROWS - 1) // BLOCK_ROWS))
    for block, start in enumerate(range(0, n, BLOCK_ROWS)):
        dx = x[start : start + BLOCK_ROWS] - x_shift
        dy = y[start : start + BLOCK_ROWS] - y_shift
        sums[:, block] = dx.sum(), dy.sum(), np.square(dx).sum(), (dx * dy).sum(), np.square(dy).sum()
    sx, sy, sxx, sxy, syy = (math.fsum(row) for row in sums)
    x_low, y_low = sx / n, sy / n
    sxx, sxy, syy = sxx - sx * x_low, sxy - sx * y_low, syy - sy * y_low
    x_mean, x_low = _two_sum(x_shift, x_low)
    y_mean, y_low = _two_sum(y_shift, y_low)
    m = Moments(n, x_mean, y_mean, max(sxx, 0.0), sxy, max(syy, 0.0), x_low, y_low)
    _require_representable_sums(m, x, y)
    return m


def _near_mean(values: np.ndarray) -> float:
    """A float64 value at most a few ulps from the mean (and so within the data's range)."""
    mean = float(values.mean())
    if math.isfinite(mean):
        return mean
    return float((values / 2).mean()) * 2  # the sum overflowed: halve first (exact)


def _two_sum(a: float, b: float) -> tuple[float, float]:
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


SMALLEST_EXACT_SUM = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)  # below this, squares lose digits


def _require_representable_sums(m: Moments, x: np.ndarray, y: np.ndarray) -> None:
    """Refuse data whose squared deviations underflow or overflow float64, rather than call them constant."""
    for name, values, s in (("x", x, m.sxx), ("y", y, m.syy)):
        if not math.isfinite(s):
            raise DataError(
                f"{name} spreads so widely (from {values.min():.3g} to {values.max():.3g}) that its squares overflow float64.",
                f"Rescale {name} (divide it by a power of ten) and scale the answer back.",
            )
        if s < SMALLEST_EXACT_SUM and values.min() != values.max():
            spread = float(values.max() - values.min())
            raise DataError(
                f"{name} varies only by about {spread:.3g} (values near {float(values[0]):.3g}): its squares underflow float64, "
                "so the line cannot be computed in float64.",
                f"Rescale {name} (multiply it by a power of ten, e.g. 1e{-math.floor(math.log10(spread))}) and scale the answer back.",
            )


def least_squares(x: np.ndarray, y: np.ndarray) -> LeastSquares:
    """a = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)², b = ȳ − a·x̄, centred first so that x far from 0 loses no digits."""
    return least_squares_from(moments(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))


def require_spread(m: Moments) -> None:
    """Raise unless the data determine a unique line: at least two rows and two distinct x values."""
    if m.n < 2:
        raise DataError(
            f"only {m.n} row: a line needs at least two points.",
            "Add rows, or pass --no-standardize to run plain gradient descent on it anyway.",
        )
    if m.sxx == 0:
        raise DataError(
            f"x is constant (every row fitted has x = {m.x_mean:g}): the slope is undetermined.",
            "Add rows with other x, or pass --no-standardize to run plain gradient descent anyway.",
        )


def merge_moments(parts: list[Moments]) -> Moments:
    """Combine the moments of disjoint parts of the data (Chan et al.): the same as over all rows at once.

    Differences of means are taken part by part (high parts first: exact when they are close),
    so an offset of 1e15 costs no digits here either.
    """
    parts = [p for p in parts if p.n]
    if not parts:
        return Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    total = parts[0]
    for part in parts[1:]:
        n = total.n + part.n
        dx = (part.x_mean - total.x_mean) + (part.x_low - total.x_low)
        dy = (part.y_mean - total.y_mean) + (part.y_low - total.y_low)
        weight = total.n * part.n / n
        x_mean, x_low = _two_sum(total.x_mean, total.x_low + dx * part.n / n)
        y_mean, y_low = _two_sum(total.y_mean, total.y_low + dy * part.n / n)
        total = Moments(
            n=n,
            x_mean=x_mean,
            y_mean=y_mean,
            sxx=total.sxx + part.sxx + dx * dx * weight,
            sxy=total.sxy + part.sxy + dx * dy * weight,
            syy=total.syy + part.syy + dy * dy * weight,
            x_low=x_low,
            y_low=y_low,
        )
    return total


def least_squares_from(m: Moments) -> LeastSquares:
    """The closed form from moments (of arrays, streamed, or merged across processes)."""
    require_spread(m)
    a = m.sxy / m.sxx
    return LeastSquares(a=a, b=intercept(a, m))


def intercept(a: float, m: Moments) -> float:
    """b = ȳ − a·x̄ rounded once, exactly from its parts: with x̄ ≈ 1e15 the product cancels against ȳ."""
    exact = Fraction(m.y_mean) + Fraction(m.y_low) - Fraction(a) * (Fraction(m.x_mean) + Fraction(m.x_low))
    return float(exact)


# ── Weighted rows and the piecewise losses ───────────────────────────────────────────────────────────────
#
# Every reference below centres x and y on floats near their (weighted) means first (exact differences
# for data far from 0) and answers in the data's units. Each says how it knows it is exact.

LP_ROW_LIMIT = 1_000_000  # rows beyond which the linear programme of absolute/quantile is not attempted


class ReferenceUnavailable(Exception):
    """The exact reference cannot be had here (too many rows for the LP, or it could not be confirmed): the
    message says why, for the summary and the JSON's reason."""


@dataclass(frozen=True)
class Reference:
    """The exact minimiser of a loss, with how it was found and whether it is the only one.

    `unique` False: the minimum is attained on a segment or face (absolute/quantile), so the line is one
    of many optimal lines: compare objectives, not lines. `points`: the rows the line passes through (the
    LP's vertex), 0-based among the rows fitted (after `--drop-na`), and `through` those rows' (x, y). `inside`: rows on huber's quadratic piece.
    """

    loss: str
    a: float
    b: float
    objective: float  # Σ wᵢ·ℓ(rᵢ) / Σ wᵢ at (a, b), in float64
    method: str
    unique: bool = True
    points: tuple[int, ...] = ()
    inside: int = -1
    iterations: int = 0
    through: tuple[tuple[float, float], ...] = ()


def _centres(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    """Floats near the (weighted) means of x and y, among the data's range: the shift that centres them."""
    if w is None:
        return _near_mean(x), _near_mean(y)
    total = float(np.sum(w))
    return float(np.sum(w * x) / total), float(np.sum(w * y) / total)


def _require_weights(w: np.ndarray | None, n: int) -> np.ndarray | None:
    if w is None:
        return None
    w = np.asarray(w, dtype=np.float64)
    if w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError("the weights must be finite and non-negative, one a row.", "Check the weight column.")
    if not np.sum(w) > 0:
        raise DataError("every weight is 0: there is nothing to fit.", "Give some rows a positive weight.")
    return w


@dataclass(frozen=True)
class WeightedPart:
    """What the weighted rows of one part of the data contribute: `rows`, how many have a positive weight,
    and `sums`, Moments whose n is Σw (a float), with the weighted means and the unscaled centred sums
    Σw·(…). Parts merge as Moments do with Σw as the count (`merge_weighted`); `scaled` gives the moments
    to fit on. The sums are of the weights times 2^`exponent` (exact): tiny weights (1e-305) are brought
    near 1 first, so that w·(x − x̄)² does not fall into the subnormal range and lose its digits."""

    rows: int
    sums: Moments
    read: int = 0  # every row, a zero weight or not
    exponent: int = 0


def _unit_exponent(w: np.ndarray) -> int:
    """k ≥ 0 with the largest weight times 2^k in [0.5, 1) when it is below 0.5 (0 otherwise): an exact scaling up."""
    largest = float(np.max(w)) if w.size else 0.0
    return max(-int(np.frexp(largest)[1]), 0) if largest > 0 else 0


def _to_unit(v: np.ndarray) -> int:
    """k with max|v|·2^k in [0.5, 1) (0 when v is all 0): an exact scaling up or down."""
    largest = float(np.max(np.abs(v))) if v.size else 0.0
    return -int(np.frexp(largest)[1]) if largest > 0 and math.isfinite(largest) else 0


def _rescaled(m: Moments, exponent: int) -> Moments:
    """Moments with the weights times 2^exponent (exact, but for a part whose weights are negligible beside the others')."""
    if exponent == 0:
        return m
    n, sxx, sxy, syy = (float(np.ldexp(v, exponent)) for v in (m.n, m.sxx, m.sxy, m.syy))
    return Moments(n, m.x_mean, m.y_mean, sxx, sxy, syy, m.x_low, m.y_low)


def weighted_part(blocks) -> WeightedPart:
    """The weighted sums of (x, y, w) float64 blocks in one pass (no positive weight: rows 0, Σw 0).
    Shift: the first block's weighted mean; corrected two-pass sums, fsum. Each block's weights are scaled
    by a power of two of its own (exact) and the blocks' sums brought to the smallest of them at the end."""
    shift = None
    blocks_sums: list[tuple[int, tuple[float, ...]]] = []
    n = read = 0
    for x, y, w in blocks:
        read += len(x)
        if not len(x):
            continue
        x, y, w = (np.asarray(v, dtype=np.float64) for v in (x, y, w))
        k = _unit_exponent(w)
        w = np.ldexp(w, k)
        if shift is None and w.sum() > 0:
            shift = _centres(x, y, w)
        if shift is None:
            continue
        n += int(np.count_nonzero(w > 0))
        dx, dy = x - shift[0], y - shift[1]
        wdx, wdy = w * dx, w * dy
        values = (w.sum(), wdx.sum(), wdy.sum(), (wdx * dx).sum(), (wdx * dy).sum(), (wdy * dy).sum())
        blocks_sums.append((k, tuple(float(v) for v in values)))
    if shift is None or n == 0:
        return WeightedPart(0, Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0), read)
    exponent = min(k for k, _ in blocks_sums)
    parts = zip(*(tuple(float(np.ldexp(v, exponent - k)) for v in values) for k, values in blocks_sums))
    sw, sx, sy, sxx, sxy, syy = (math.fsum(part) for part in parts)
    x_low, y_low = sx / sw, sy / sw
    sxx, sxy, syy = sxx - sx * x_low, sxy - sx * y_low, syy - sy * y_low
    x_mean, x_low = _two_sum(shift[0], x_low)
    y_mean, y_low = _two_sum(shift[1], y_low)
    return WeightedPart(n, Moments(sw, x_mean, y_mean, max(sxx, 0.0), sxy, max(syy, 0.0), x_low, y_low), read, exponent)


def merge_weighted(parts: list[WeightedPart]) -> WeightedPart:
    """The weighted sums of disjoint parts of the data (under torchrun, every process's): merge_moments with Σw as the count,
    each part's sums first brought to the smallest scaling of the weights among them."""
    if len(parts) == 1:
        return parts[0]
    exponent = min((p.exponent for p in parts if p.rows), default=0)
    sums = [_rescaled(p.sums, exponent - p.exponent) for p in parts]
    return WeightedPart(sum(p.rows for p in parts), merge_moments(sums), sum(p.read for p in parts), exponent)


def scaled(part: WeightedPart) -> tuple[Moments, float]:
    """The moments to fit on, and the factor c = n/Σw: n counts the rows with a positive weight, the
    centred sums are Σ c·wᵢ·(…), the weights scaled to mean 1 over those rows. On these moments least
    squares is weighted least squares, and the statistics from moments are statsmodels WLS's. (c applies
    to the weights as read: the sums' own scaling of the weights, 2^exponent, is taken out of it.)"""
    n, m = part.rows, part.sums
    if n == 0 or not m.n > 0:
        raise DataError("every weight is 0: there is nothing to fit.", "Give some rows a positive weight.")
    scale = n / m.n
    return Moments(n, m.x_mean, m.y_mean, m.sxx * scale, m.sxy * scale, m.syy * scale, m.x_low, m.y_low), float(
        np.ldexp(scale, part.exponent)
    )


def weighted_moments(blocks) -> tuple[Moments, float]:
    """The moments of weighted rows from (x, y, w) float64 blocks in one pass, and the factor c = n/Σw
    (see `weighted_part` and `scaled`); a zero weight leaves a row out of the fit."""
    return scaled(weighted_part(blocks))


def weighted_least_squares(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> LeastSquares:
    """Minimise Σ wᵢ·(a·xᵢ + b − yᵢ)²: a = Σw(x − x̄)(y − ȳ) / Σw(x − x̄)², b = ȳ − a·x̄ with weighted means,
    centred on floats near the means and corrected two-pass (as `moments`), block sums added with fsum."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = _require_weights(w, x.shape[0])
    w = np.ldexp(w, _unit_exponent(w))  # an exact scaling (the line does not change): no subnormal products
    x_shift, y_shift = _centres(x, y, w)
    sums = np.zeros((6, (x.shape[0] + BLOCK_ROWS - 1) // BLOCK_ROWS))
    for block, start in enumerate(range(0, x.shape[0], BLOCK_ROWS)):
        wb = w[start : start + BLOCK_ROWS]
        dx, dy = x[start : start + BLOCK_ROWS] - x_shift, y[start : start + BLOCK_ROWS] - y_shift
        sums[:, block] = wb.sum(), (wb * dx).sum(), (wb * dy).sum(), (wb * dx * dx).sum(), (wb * dx * dy).sum(), 0.0
    sw, sx, sy, sxx, sxy, _ = (math.fsum(row) for row in sums)
    x_low, y_low = sx / sw, sy / sw
    sxx, sxy = sxx - sx * x_low, sxy - sx * y_low
    positive = w > 0
    if np.count_nonzero(positive) < 2 or not sxx > 0:
        raise DataError("the rows with a positive weight do not determine a line (fewer than two distinct x).", "Add rows or weights.")
    a = sxy / sxx
    exact = Fraction(y_shift) + Fraction(y_low) - Fraction(a) * (Fraction(x_shift) + Fraction(x_low))
    return LeastSquares(a=a, b=float(exact))


def loss_objective(loss, x: np.ndarray, y: np.ndarray, a: float, b: float, w: np.ndarray | None = None) -> float:
    """Σ wᵢ·ℓ(a·xᵢ + b − yᵢ) / Σ wᵢ in float64, block by block, each block summed with fsum."""
    total, weight = [], []
    for start in range(0, x.shape[0], BLOCK_ROWS):
        xb, yb = x[start : start + BLOCK_ROWS], y[start : start + BLOCK_ROWS]
        pieces = loss.numpy_pieces(a * xb + b - yb)
        if w is None:
            total.append(math.fsum(pieces))
            weight.append(float(xb.shape[0]))
        else:
            wb = w[start : start + BLOCK_ROWS]
            total.append(math.fsum(wb * pieces))
            weight.append(math.fsum(wb))
    return math.fsum(total) / math.fsum(weight)


def huber_line(x: np.ndarray, y: np.ndarray, delta: float, w: np.ndarray | None = None, max_iterations: int = 200) -> Reference:
    """The exact minimiser of Σ wᵢ·huber_δ(a·xᵢ + b − yᵢ), and whether it is the only one.

    The loss is quadratic on each set of rows inside ±δ (with fixed signs outside): for that set the
    minimiser solves the 2×2 system Σ_in w·u·uᵀ·θ = Σ_in w·u·y − δ·Σ_out w·sign(r)·u, u = (x, 1). Active-set
    Newton iterates (with step halving when the objective would rise) until the set the solution lands in is
    the set it was solved for: then it is the minimiser, to rounding. When a set's rows inside fix no line
    (fewer than two distinct x inside ±δ: the objective is flat or linear along a direction, as on a flat
    face of the absolute loss when δ is tiny) or the iteration does not settle, the exact profile solve
    takes over: for each slope a the best intercept is a 1-D piecewise-quadratic minimisation solved
    exactly over its sorted breakpoints, and the slope's derivative (continuous, non-decreasing, affine
    between breakpoints) is driven to 0 by Newton steps on its pieces inside a bracket. Either way the
    gradient is then checked to vanish, and `_huber_unique` decides from the rows on each piece whether
    other lines reach the same objective.
    """
    from linfit.losses import loss_for

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = _require_weights(w, x.shape[0])
    loss = loss_for("huber", delta=delta)
    x_shift, y_shift = _centres(x, y, w)
    xc, yc = x - x_shift, y - y_shift
    ww = np.ones_like(xc) if w is None else w
    if np.unique(xc[ww > 0]).shape[0] < 2:
        raise DataError("x is constant among the weighted rows: the line is undetermined.", "Add rows with other x.")

    def objective(theta: np.ndarray) -> float:
        return loss_objective(loss, xc, yc, float(theta[0]), float(theta[1]), w)

    theta = _solve_set(xc, yc, ww, np.ones(xc.shape, dtype=bool), np.zeros_like(xc), delta)  # least squares
    settled = False
    method = "active-set Newton (exact for δ)"
    if theta is not None:
        value = objective(theta)
        for iteration in range(1, max_iterations + 1):  # noqa: B007 (the count is reported)
            r = theta[0] * xc + theta[1] - yc
            inside = np.abs(r) <= delta
            signs = np.sign(r) * ~inside
            candidate = _solve_set(xc, yc, ww, inside, signs, delta)
            if candidate is None:  # fewer than two distinct x inside ±δ: the exact profile solve takes over
                break
            r_new = candidate[0] * xc + candidate[1] - yc
            if np.array_equal(np.abs(r_new) <= delta, inside) and np.array_equal(np.sign(r_new) * ~inside, signs):
                theta, settled = candidate, True  # the set it was solved for is the set it lands in: the minimiser
                break
            step, new_value = 1.0, objective(candidate)
            while new_value > value and step > 1e-12:  # a Newton step across a crease can overshoot: halve it
                step /= 2
                new_value = objective(theta + step * (candidate - theta))
            if new_value >= value and step <= 1e-12:
                break
            theta, value = theta + step * (candidate - theta), new_value
    if not settled:
        theta, iteration = _huber_profile(xc, yc, ww, delta, 0.0 if theta is None else float(theta[0]), max_iterations)
        method = "exact profile solve (intercept by sorted breakpoints, slope by Newton on its derivative's pieces)"
    r = theta[0] * xc + theta[1] - yc
    psi = np.clip(r, -delta, delta) * ww
    scale = delta * math.fsum(ww) * (1.0 + float(np.sqrt(np.mean(xc * xc))))
    allowed = [
        max(1e-9 * scale, min(bound, GRADIENT_ROUNDING_CAP * scale)) for bound in _huber_gradient_rounding(xc, yc, ww, delta, *theta)
    ]
    # the gradient must vanish at a minimiser: to 1e-9 of its scale, or to its rounding where that is larger (tiny δ)
    if abs(math.fsum(psi * xc)) > allowed[0] or abs(math.fsum(psi)) > allowed[1]:
        raise ReferenceUnavailable("huber's minimiser: the iteration stopped where the gradient is not 0.")
    unique = _huber_unique(xc, yc, ww, delta, theta)
    a = float(theta[0])
    b = float(Fraction(y_shift) + Fraction(float(theta[1])) - Fraction(a) * Fraction(x_shift))
    inside_rows = int(np.count_nonzero(np.abs(theta[0] * xc + theta[1] - yc) <= delta))
    # the objective about the centres: in the data's units (x ≈ 1e9, y ≈ 1e12) the rounding of b would be in every residual
    return Reference("huber", a, b, objective(theta), method, unique, (), inside_rows, iteration)


def _solve_set(xc, yc, w, inside, signs, delta) -> np.ndarray | None:
    """θ minimising the quadratic of one active set; None when the rows inside fix no line."""
    wi = w * inside
    s0, s1, s2 = math.fsum(wi), math.fsum(wi * xc), math.fsum(wi * xc * xc)
    if s0 <= 0 or s0 * s2 - s1 * s1 <= 1e-12 * max(s0 * s2, 1e-300):
        return None
    t1 = math.fsum(wi * xc * yc) - delta * math.fsum(w * signs * xc)
    t0 = math.fsum(wi * yc) - delta * math.fsum(w * signs)
    return np.linalg.solve(np.array([[s2, s1], [s1, s0]]), np.array([t1, t0]))


def _huber_intercept(z: np.ndarray, w: np.ndarray, delta: float) -> float:
    """argmin_b Σ wᵢ·huber_δ(b − zᵢ) (w > 0), exactly: the derivative Σ w·clip(b − z, ±δ) is continuous,
    non-decreasing and affine between the sorted breakpoints z ± δ; a binary search over them (each probe
    summed with fsum) finds the piece where it crosses 0, and on that piece the root is one division. Where
    it is 0 over an interval (no row inside ±δ there) that interval's right end is returned."""
    points = np.unique(np.concatenate([z - delta, z + delta]))

    def derivative(b: float) -> float:
        return math.fsum(w * np.clip(b - z, -delta, delta))

    lo, hi = 0, points.shape[0] - 1  # the derivative is −δ·Σw at the first breakpoint and +δ·Σw at the last
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if derivative(float(points[mid])) <= 0:
            lo = mid
        else:
            hi = mid
    left, right = float(points[lo]), float(points[hi])
    if derivative(left) == 0:
        return left
    r = 0.5 * (left + right) - z  # the rows' pieces are those at the middle of (left, right)
    inside = np.abs(r) < delta
    w_in = math.fsum(w[inside])
    if w_in <= 0:
        return left
    outside = math.fsum(w[r > delta]) - math.fsum(w[r < -delta])
    b = (math.fsum(w[inside] * z[inside]) - delta * outside) / w_in
    return min(max(b, left), right)


GRADIENT_ROUNDING_CAP = 1e-6  # huber's gradient counts as 0 within its rounding up to this × δ·Σw·|x| (no further: a wild line's)


def _huber_gradient_rounding(xs, ys, w, delta: float, a: float, b: float) -> tuple[float, float]:
    """Bounds on the rounding of the gradient (Σ w·x·ψ(r), Σ w·ψ(r)) at (a, b), ψ(r) = clip(r, ±δ). A row's
    residual carries e = 8·eps·(|a·x| + |b| + |y|); ψ moves by at most that, and only for the rows within e
    of ±δ or inside (beyond, ψ is ±δ exactly); each product w·x·ψ adds its own ulp (fsum adds none)."""
    eps = float(np.finfo(np.float64).eps)
    e = 8 * eps * (np.abs(a * xs) + abs(b) + np.abs(ys))
    moved = np.where(np.abs(a * xs + b - ys) <= delta + e, np.minimum(e, 2 * delta), 0.0)
    own = 2 * eps * delta
    return math.fsum(w * np.abs(xs) * (moved + own)), math.fsum(w * (moved + own))


def _huber_profile(xc, yc, ww, delta: float, a: float, max_iterations: int) -> tuple[np.ndarray, int]:
    """The exact minimiser by profiling: g(a) = min_b L(a, b) (the inner minimum exact, `_huber_intercept`)
    is convex and differentiable, g′(a) = Σ w·x·ψ(r) at (a, b*(a)), continuous, non-decreasing and affine
    between finitely many breakpoints, with slope Σ_in w·(x − x̄_in)² over the rows inside there (0 exactly
    when they share one x). Its root is bracketed, then approached by Newton steps on the current piece (exact
    once on the root's piece), bisecting whenever a step leaves the bracket; it stops when g′ is 0 to its
    rounding (`_huber_gradient_rounding`: a wild trial's large residuals add none) or the bracket is a few
    ulps wide. Returns (θ, iterations)."""
    keep = ww > 0
    xs, ys, wv = xc[keep], yc[keep], ww[keep]
    eps = float(np.finfo(np.float64).eps)
    cap = GRADIENT_ROUNDING_CAP * delta * math.fsum(wv * np.abs(xs))  # beyond this the rounding decides nothing

    def at(a_: float) -> tuple[float, float, float, float]:
        """(g′(a), its slope on the piece at a, b*(a), the rounding of g′)"""
        b_ = _huber_intercept(ys - a_ * xs, wv, delta)
        r = a_ * xs + b_ - ys
        value = math.fsum(wv * xs * np.clip(r, -delta, delta))
        inside = np.abs(r) < delta
        slope = 0.0
        if np.unique(xs[inside]).shape[0] >= 2:  # Σ_in w·(x − x̄_in)²; 0 when the rows inside share one x (g′ is flat there)
            xi, wi = xs[inside], wv[inside]
            slope = math.fsum(wi * (xi - math.fsum(wi * xi) / math.fsum(wi)) ** 2)
        return value, slope, b_, min(_huber_gradient_rounding(xs, ys, wv, delta, a_, b_)[0], cap)

    value, slope, b, rounding = at(a)
    iterations = 1
    if abs(value) <= rounding:
        return np.array([a, b]), iterations
    # the bracket: step downhill, doubling, until g′ changes sign
    span = float(np.ptp(ys)) / max(float(np.ptp(xs)), 1e-300) + abs(a) + 1.0
    step = -value / slope if slope > 0 else -math.copysign(span, value)
    lo = hi = None
    if value < 0:
        lo = (a, value, slope, b)
    else:
        hi = (a, value, slope, b)
    current = (a, value, slope, b)
    while lo is None or hi is None:
        iterations += 1
        if iterations > max_iterations:
            raise ReferenceUnavailable("huber's minimiser: the slope's derivative could not be bracketed.")
        trial = current[0] + step
        v, k, bb, rounding = at(trial)
        current = (trial, v, k, bb)
        if abs(v) <= rounding:
            return np.array([trial, bb]), iterations
        if v < 0:
            lo = current
        else:
            hi = current
        step *= 2
    best = current
    while iterations < max_iterations:
        iterations += 1
        trial = best[0] - best[1] / best[2] if best[2] > 0 else math.nan
        if not (min(lo[0], hi[0]) < trial < max(lo[0], hi[0])):
            trial = 0.5 * (lo[0] + hi[0])
        v, k, bb, rounding = at(trial)
        best = (trial, v, k, bb)
        if abs(v) <= rounding or abs(hi[0] - lo[0]) <= 4 * eps * max(abs(lo[0]), abs(hi[0])):
            return np.array([trial, bb]), iterations
        if v < 0:
            lo = best
        else:
            hi = best
    raise ReferenceUnavailable(f"huber's minimiser: the profile solve did not settle in {max_iterations} steps.")


def _huber_unique(xc, yc, ww, delta: float, theta: np.ndarray) -> bool:
    """Whether θ is huber's only minimiser. The minimisers share ψ(rᵢ) (the dual's solution, unique), so
    they are the lines with the same residual as θ's on every row strictly inside ±δ and a residual still
    beyond ±δ, on its side, on every row outside: the set is one point when the rows strictly inside have two
    distinct x; else the directions left free (rotations about the one x inside, or every direction with
    none inside) must each move some row on the edge ±δ inwards, i.e. those rows' normals s·(x, 1), within
    the free directions, must not all lie in one closed half-plane. Rows within rounding (and 1e-9·δ) of
    ±δ count as on the edge."""
    keep = ww > 0
    xs, ys = xc[keep], yc[keep]
    r = theta[0] * xs + theta[1] - ys
    eps = float(np.finfo(np.float64).eps)
    near = 1e-9 * delta + 64 * eps * (np.abs(theta[0] * xs) + abs(theta[1]) + np.abs(ys))
    strict = np.abs(r) < delta - near
    edge = ~strict & (np.abs(r) <= delta + near)
    fixed = np.unique(xs[strict])
    if fixed.shape[0] >= 2:
        return True
    # a row whose residual is 0 to rounding while δ is no wider than that rounding sits on both edges at once:
    # any move takes it outwards on one side, so it holds the line from both sides (as a row on an L1 line does)
    both = edge & (np.abs(r) <= near)
    signs = np.concatenate([np.sign(r[edge & ~both]), np.ones(int(both.sum())), -np.ones(int(both.sum()))])
    on_edge = np.concatenate([xs[edge & ~both], xs[both], xs[both]])
    if fixed.shape[0] == 1:  # free: turning about x = x0; it moves an edge row by t·(x − x0)
        moves = signs * (on_edge - fixed[0])
        return bool(np.any(moves > 0) and np.any(moves < 0))
    normals = signs[:, None] * np.column_stack([on_edge, np.ones(on_edge.shape[0])])
    if normals.shape[0] < 3:
        return False  # two half-planes through the origin always leave a direction free
    angles = np.sort(np.arctan2(normals[:, 1], normals[:, 0]))
    gaps = np.diff(np.concatenate([angles, [angles[0] + 2 * math.pi]]))
    return bool(np.max(gaps) < math.pi - 1e-12)


def quantile_line(
    x: np.ndarray, y: np.ndarray, tau: float = 0.5, w: np.ndarray | None = None, name: str = "quantile", deduplicate: bool = True
) -> Reference:
    """The exact minimiser of Σ wᵢ·ρ_τ(a·xᵢ + b − yᵢ) (τ = ½ with name 'absolute': Σ wᵢ·|rᵢ|).

    The minimum of this linear programme is attained at a vertex: a line through two data points.
    HiGHS (scipy's linprog) solves the programme over at most HIGHS_ROWS rows (all of them, when there
    are no more; else a seeded sample, as a start); from the row nearest its line, the vertex walk turns
    the line about one row to the best slope over all rows (a weighted quantile of the slopes to it, one
    sort), then about the row that slope passes through, until the pair is stable. The two-point line
    is then formed exactly (in Fraction, rounded once) and proven optimal by the subgradient condition,
    checked exactly: there must be s_i, s_j in [−τ, 1 − τ] with Σ_k w_k·ψ(r_k)·u_k + s_i·w_i·u_i +
    s_j·w_j·u_j = 0, u = (x, 1). On the boundary of that range the optimum is not unique (a flat face:
    other lines reach the same objective).
    """
    from linfit.losses import loss_for

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    w = _require_weights(w, n)
    if n > LP_ROW_LIMIT:
        raise ReferenceUnavailable(
            f"the exact {name} line is a linear programme in {n:,} rows; it is solved here for at most {LP_ROW_LIMIT:,}."
        )
    loss = loss_for(name, tau=tau)
    tau = loss.tau
    if w is not None:
        w = np.ldexp(w, _to_unit(w))  # an exact scaling (the optimum does not change): no subnormal products
    positive = np.ones(n, dtype=bool) if w is None else w > 0
    if np.unique(x[positive]).shape[0] < 2:
        raise DataError("x is constant among the weighted rows: the line is undetermined.", "Add rows with other x.")
    x_shift, y_shift = _centres(x, y, w)
    xc, yc = x - x_shift, y - y_shift
    ww = np.ones(n) if w is None else w
    sample = (
        np.arange(n) if n <= HIGHS_ROWS else np.sort(np.random.default_rng(0).choice(np.flatnonzero(positive), HIGHS_ROWS, replace=False))
    )
    alpha, beta = _highs(xc[sample], yc[sample], tau, None if w is None else w[sample])
    residual = np.where(positive, np.abs(alpha * xc + beta - yc), np.inf)
    pivot = int(np.argmin(residual))
    pair, seen = None, set()
    for iteration in range(1, 200):  # noqa: B007 (the count is reported)
        other = _best_turn(xc, yc, ww, pivot, tau)
        if other is None:
            break
        pair = (min(pivot, other), max(pivot, other))
        if pair in seen:
            break
        seen.add(pair)
        pivot = other
    candidates = [pair] if pair is not None else []
    # the rows nearest HiGHS's line, in pairs, should the walk have stalled on a degenerate vertex
    order = np.argsort(residual, kind="stable")[: min(n, 8)]
    candidates += [(int(i), int(j)) for k, i in enumerate(order) for j in order[k + 1 :]]
    # rows repeated many times over (integer data) put many rows on every vertex, where turning about one row can
    # stall: then the same programme over the distinct points, each with its rows' weight, gives a pair to check
    repeated = _over_distinct_points(x, y, ww, positive, tau, name) if deduplicate else None
    for i, j in [*candidates, *([repeated] if repeated else [])]:
        if x[i] == x[j] or not (positive[i] and positive[j]):
            continue
        verdict = _vertex_optimal(x, y, w, i, j, tau)
        if verdict is None:
            continue
        a, b, unique, on_line = verdict
        method = "LP vertex (HiGHS start, exact two-point line, optimality proven by the subgradient condition)"
        objective = _vertex_objective(loss, x, y, w, i, j, x_shift, y_shift, on_line)
        i, j = min(i, j), max(i, j)
        through = ((float(x[i]), float(y[i])), (float(x[j]), float(y[j])))
        return Reference(name, a, b, objective, method, unique, (i, j), -1, iteration, through)
    raise ReferenceUnavailable("the linear programme's solution could not be confirmed as an optimal two-point line.")


def _over_distinct_points(x, y, w, positive, tau: float, name: str) -> tuple[int, int] | None:
    """The rows (of x, y) that the exact line over the distinct points (x, y) of positive weight passes through, each
    point weighing the sum of its rows' weights; None when no point is repeated or that line cannot be had."""
    rows = np.flatnonzero(positive)
    points, first, inverse = np.unique(np.column_stack([x[rows], y[rows]]), axis=0, return_index=True, return_inverse=True)
    if points.shape[0] == rows.shape[0]:
        return None
    merged = np.bincount(inverse.ravel(), weights=w[rows], minlength=points.shape[0])
    try:
        line = quantile_line(points[:, 0], points[:, 1], tau, merged, name=name, deduplicate=False)
    except (ReferenceUnavailable, DataError):
        return None
    return int(rows[first[line.points[0]]]), int(rows[first[line.points[1]]])


def _vertex_objective(loss, x, y, w, i: int, j: int, x_shift: float, y_shift: float, on_line: np.ndarray) -> float:
    """The objective of the exact line through rows i and j, from residuals about the centres (with x ≈ 1e9 and
    y ≈ 1e12, a·x + b − y in the data's units would carry the rounding of b, 1e-4, into every residual), the rows
    exactly on the line counted with a residual of 0 (a heavy row's rounding would outweigh light rows' losses)."""
    a_exact = (Fraction(y[j]) - Fraction(y[i])) / (Fraction(x[j]) - Fraction(x[i]))
    a, beta = float(a_exact), float(Fraction(y[i]) - Fraction(y_shift) - a_exact * (Fraction(x[i]) - Fraction(x_shift)))
    xc, yc = x - x_shift, y - y_shift
    yc[on_line] = a * xc[on_line] + beta  # a·x + β − y is then 0 exactly on those rows
    return loss_objective(loss, xc, yc, a, beta, w)


HIGHS_ROWS = 5_000  # HiGHS solves the LP over at most this many rows (beyond, a sample's optimum starts the vertex walk)


def _best_turn(xc: np.ndarray, yc: np.ndarray, w: np.ndarray, pivot: int, tau: float) -> int | None:
    """The row that the best line through row `pivot` passes through: with b fixed by the pivot, the loss
    is Σ α_k·(a − s_k)⁺ + β_k·(a − s_k)⁻ over the slopes s_k to each row, minimised at a weighted quantile of
    the slopes (one sort). None when every row has the pivot's x."""
    dx, dy = xc - xc[pivot], yc - yc[pivot]
    use = (dx != 0) & (w > 0)
    if not np.any(use):
        return None
    rows = np.flatnonzero(use)
    c, slopes, wu = dx[use], dy[use] / dx[use], w[use]
    up = np.where(c > 0, 1 - tau, tau) * wu * np.abs(c)  # the derivative's rise past s_k
    down = np.where(c > 0, tau, 1 - tau) * wu * np.abs(c)  # its fall before s_k
    order = np.argsort(slopes, kind="stable")
    derivative_after = np.cumsum(up[order]) - (down.sum() - np.cumsum(down[order]))
    m = int(np.searchsorted(derivative_after, 0.0, side="left"))
    return int(rows[order[min(m, order.shape[0] - 1)]])


def _highs(xc: np.ndarray, yc: np.ndarray, tau: float, w: np.ndarray | None) -> tuple[float, float]:
    """HiGHS's optimal line (α, β) over centred rows: min Σ w·(τ·u⁻ + (1 − τ)·u⁺) s.t. α·x + β − u⁺ + u⁻ = y."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, hstack, identity

    n = xc.shape[0]
    # x and y brought near 1 by powers of two (1e-200 would sit below HiGHS's tolerances), the line scaled back
    px, py = _to_unit(xc), _to_unit(yc)
    xc, yc = np.ldexp(xc, px), np.ldexp(yc, py)
    ww = np.ones(n) if w is None else np.ldexp(w, _to_unit(w))
    cost = np.concatenate([[0.0, 0.0], (1 - tau) * ww, tau * ww])
    eye = identity(n, format="csr")
    matrix = hstack([csr_matrix(np.column_stack([xc, np.ones(n)])), -eye, eye], format="csr")
    bounds = [(None, None), (None, None)] + [(0, None)] * (2 * n)
    solution = linprog(cost, A_eq=matrix, b_eq=yc, bounds=bounds, method="highs")
    if solution.status != 0:
        raise ReferenceUnavailable(f"HiGHS did not solve the linear programme: {solution.message}")
    return float(np.ldexp(solution.x[0], px - py)), float(np.ldexp(solution.x[1], -py))


def _vertex_optimal(x, y, w, i: int, j: int, tau: float) -> tuple[float, float, bool, np.ndarray] | None:
    """The line through rows i and j, formed exactly, when the subgradient condition proves it optimal:
    (a, b, unique, the rows exactly on it); None when it is not optimal."""
    a_exact = (Fraction(y[j]) - Fraction(y[i])) / (Fraction(x[j]) - Fraction(x[i]))
    b_exact = Fraction(y[i]) - a_exact * Fraction(x[i])
    a, b = float(a_exact), float(b_exact)
    r = a * x + b - y
    # the float residuals are within a few ulps of the exact ones; settle the sign of the close ones exactly
    bound = (
        8 * np.finfo(np.float64).eps * (np.abs(a * x) + abs(b) + np.abs(y))
        + np.abs(x) * abs(float(a_exact - Fraction(a)))
        + abs(float(b_exact - Fraction(b)))
    )
    sign = np.sign(r)
    for k in np.flatnonzero(np.abs(r) <= bound):  # few rows: those on or near the line
        exact = a_exact * Fraction(x[k]) + b_exact - Fraction(y[k])
        sign[k] = (exact > 0) - (exact < 0)
    ww = np.ones_like(x) if w is None else w
    zero = sign == 0
    # Σ over rows off the line of w·ψ(r)·u, with ψ = 1 − τ above and −τ below, summed exactly
    above, below = (sign > 0) & ~zero, (sign < 0) & ~zero
    tau_ = Fraction(tau)
    low, high = -tau_, 1 - tau_
    sums = {}
    for name, u in (("a", x), ("b", np.ones_like(x))):
        sums[name] = high * _exact_dot(ww[above], u[above]) + low * _exact_dot(ww[below], u[below])
    # the rows on the line, their weights added up per x: is there s_k in [−τ, 1 − τ] with
    # Σ s_k·W_k·(X_k, 1) = −(Σa, Σb)? That set is a zonogon (a centrally symmetric polygon) whose edges are parallel
    # to the W_k·(X_k, 1): the point is in it when, for each normal (1, −X_k), |n·d| ≤ ½·Σ_j W_j·|X_j − X_k| (d: the
    # target less the centre, the s_k all ½ − τ), and strictly inside (an s strictly inside the box: the only optimum)
    # when every one of those holds strictly. Exact, in Fractions, with prefix sums over the sorted X. A margin below
    # FLAT_MARGIN of the bound counts as none: a face that rises by 1e-12 of the objective (weights 1e12:1, or τ = 1/3
    # rounded to a float with three rows at one x) is flat to every purpose but the exact arithmetic's.
    weights: dict[float, Fraction] = {}
    for k in np.flatnonzero(zero):
        if ww[k] > 0:
            weights[float(x[k])] = weights.get(float(x[k]), Fraction(0)) + Fraction(float(ww[k]))
    if len(weights) < 2:
        return None
    xs = sorted(weights)
    big_x = [Fraction(v) for v in xs]
    big_w = [weights[v] for v in xs]
    total_w = sum(big_w)
    total_wx = sum(wk * xk for wk, xk in zip(big_w, big_x))
    mid = (low + high) / 2
    d_a, d_b = -sums["a"] - mid * total_wx, -sums["b"] - mid * total_w
    left_w = left_wx = Fraction(0)
    strict = True
    for xk, wk in zip(big_x, big_w):
        right_w, right_wx = total_w - left_w - wk, total_wx - left_wx - wk * xk
        support = (xk * (left_w - right_w) - left_wx + right_wx) / 2
        side = abs(d_a - xk * d_b)
        if side > support:
            return None
        strict = strict and side < support * (1 - FLAT_MARGIN)
        left_w, left_wx = left_w + wk, left_wx + wk * xk
    return a, b, strict, zero


FLAT_MARGIN = 1e-9  # an optimum whose certificate is inside the bounds by less than this (relative) is called a flat face


def _exact_dot(w: np.ndarray, u: np.ndarray) -> Fraction:
    """Σ wᵢ·uᵢ exactly: each product split into two floats (Dekker), the floats added without rounding by repeated
    fsum of what is left. Products that overflow or underflow the split are added in Fractions."""
    w, u = np.asarray(w, dtype=np.float64), np.asarray(u, dtype=np.float64)
    if not w.size:
        return Fraction(0)
    p = w * u
    safe = (np.abs(w) < 2.0**500) & (np.abs(u) < 2.0**500) & ((p == 0) & ((w == 0) | (u == 0)) | (np.abs(p) > 2.0**-900))
    if not np.all(safe):
        return _exact_dot(w[safe], u[safe]) + sum(
            (Fraction(float(a)) * Fraction(float(b)) for a, b in zip(w[~safe], u[~safe])), Fraction(0)
        )
    terms = [p, _product_error(w, u, p)]
    total, rest = Fraction(0), []
    for _ in range(64):
        part = math.fsum(np.concatenate([*terms, np.array(rest)]))
        if part == 0:
            break
        total += Fraction(part)
        rest.append(-part)
    return total


def _product_error(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """e with a·b = p + e exactly (Dekker's two-product, p = fl(a·b)), for operands and products within range."""
    split = 134217729.0  # 2^27 + 1

    def halves(v):
        c = split * v
        high = c - (c - v)
        return high, v - high

    ah, al = halves(a)
    bh, bl = halves(b)
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


DELTA_SAMPLE_ROWS = 200_000  # the default δ is taken from the residuals of a sample of this many rows at most


def default_huber_delta(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """huber's default δ: 1.345 × MAD/0.6745 of the residuals about the least-absolute-deviations line.

    The robust scale of a robust line: least-squares residuals would be inflated by the very outliers
    huber is for (one y = 1e4 in fifty rows makes every residual hundreds). The LAD line is exact (the LP
    vertex); over more than DELTA_SAMPLE_ROWS rows, of every k-th row (k = delta_stride(n)), so that every
    road — in memory or streamed — finds the same δ from the same rows. Weights weigh the rows in the LAD line.
    """
    from linfit.losses import huber_delta_of

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rows = slice(0, x.shape[0], delta_stride(x.shape[0]))
    xs, ys, ws = x[rows], y[rows], None if w is None else np.asarray(w, dtype=np.float64)[rows]
    try:
        line = quantile_line(xs, ys, 0.5, ws, name="absolute")
        a, b = line.a, line.b
    except (DataError, ReferenceUnavailable):
        return huber_delta_of(ys - np.median(ys))
    residual = a * xs + b - ys
    # a row on the line has a residual of rounding alone (two rows: 4e-16, which made δ 6.6e-16): 0
    eps = float(np.finfo(np.float64).eps)
    residual[np.abs(residual) <= 16 * eps * (np.abs(a * xs) + abs(b) + np.abs(ys))] = 0.0
    return huber_delta_of(residual if ws is None else residual[ws > 0])


def delta_stride(n: int) -> int:
    """k such that every k-th row (from the first) is at most DELTA_SAMPLE_ROWS rows."""
    return max(1, -(-n // DELTA_SAMPLE_ROWS))
