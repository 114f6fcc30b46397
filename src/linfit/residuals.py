"""One pass over the rows, given the line and the data's moments: the residual diagnostics.

Each residual e = y − (a·x + b) is formed in centred form, (y − ȳ₀) − a·(x − x̄₀) − c (see
residual_offset), so that x ≈ 1e9 or 1e15 costs no digits. The pass takes the rows a block at a
time — the whole arrays in memory, or chunks streamed from disk — and keeps only sums and a top-k:

  SSE = Σe²                                    Durbin–Watson = Σ(eᵢ − eᵢ₋₁)² / Σe²  (carrying the last e)
  leverage hᵢ = 1/n + (xᵢ − x̄)²/Sxx             Cook's Dᵢ = eᵢ²·hᵢ / (2·σ̂²·(1 − hᵢ)²)
  HC3: var(a) = Σuᵢ·dᵢ²/Sxx²,  var(b) = Σuᵢ·(1/n − x̄·dᵢ/Sxx)²,  uᵢ = eᵢ²/(1 − hᵢ)²,  dᵢ = xᵢ − x̄

as statsmodels' OLSInfluence, durbin_watson and cov_type="HC3" define them. The rows with the largest
Cook's distance are kept by a bounded merge (at most `top` rows at any time), so a streamed pass needs no
memory that grows with the data. σ̂² is a common factor of every Dᵢ: rows are ranked before it is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np

from linfit.reference import BLOCK_ROWS, Moments


def residual_offset(a: float, b: float, m: Moments) -> float:
    """c = b + a·x̄₀ − ȳ₀ rounded once, such that y − a·x − b = (y − ȳ₀) − a·(x − x̄₀) − c."""
    offset = float(Fraction(b) + Fraction(a) * Fraction(m.x_mean) - Fraction(m.y_mean))
    through_centroid = float(Fraction(m.y_low) - Fraction(a) * Fraction(m.x_low))
    if abs(offset - through_centroid) <= math.ulp(b):  # b is the least-squares intercept, rounded: use the
        offset = through_centroid  # line itself (at x ≈ 1e15, b's rounding alone would add to every residual)
    return offset


TOP_ROWS = 5  # influential rows listed
QQ_POINTS = 400  # points of a normal Q-Q plot at most (thinned evenly by rank beyond that)


@dataclass(frozen=True)
class Seen:
    """What one pass found: the sums, and the top rows by Cook's distance (still without σ̂²)."""

    n: int
    sse: float
    durbin_watson: float | None
    se_hc3_a: float | None
    se_hc3_b: float | None
    rows: np.ndarray  # 0-based row indices, largest Cook's distance first
    leverage: np.ndarray
    cook_scaled: np.ndarray  # Cook's distance × σ̂²
    first_line: int | None

    def influential(self, variance: float) -> list[dict]:
        """[{line, row, leverage, cooks_distance}], largest first: row counts data rows from 1, line is the row's
        line in the file (first_line + row − 1), None where rows are not lines (see stats.name_rows)."""
        out = []
        for row, leverage, scaled in zip(self.rows.tolist(), self.leverage.tolist(), self.cook_scaled.tolist()):
            cook = scaled / variance if variance > 0 and math.isfinite(scaled) else None
            line = None if self.first_line is None else self.first_line + row
            out.append({"line": line, "row": row + 1, "leverage": leverage, "cooks_distance": cook})
        return out


class ResidualPass:
    """Feed (x, y) blocks in row order with `add`; `finish` gives the Seen sums."""

    def __init__(self, a: float, b: float, m: Moments, top: int = TOP_ROWS) -> None:
        self.a, self.m, self.top = a, m, top
        self.offset = residual_offset(a, b, m)
        self.x_bar = m.x_mean + m.x_low
        self.sse: list[float] = []
        self.steps: list[float] = []
        self.hc3_a: list[float] = []
        self.hc3_b: list[float] = []
        self.singular = False  # a row with leverage 1 (its own x): HC3 is undefined, as in statsmodels
        self.last: float | None = None
        self.rows = 0
        self.best_rows = np.empty(0, dtype=np.int64)
        self.best_keys = np.empty(0)
        self.best_leverage = np.empty(0)

    def residuals(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """y − (a·x + b), in centred form."""
        return (y - self.m.y_mean) - self.a * (x - self.m.x_mean) - self.offset

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        for start in range(0, x.shape[0], BLOCK_ROWS):
            self._block(x[start : start + BLOCK_ROWS], y[start : start + BLOCK_ROWS])

    def _block(self, x: np.ndarray, y: np.ndarray) -> None:
        if not x.shape[0]:
            return
        m = self.m
        e = self.residuals(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        self.sse.append(float(np.square(e).sum()))
        steps = np.diff(e)
        self.steps.append(float(np.square(steps).sum()) + (0.0 if self.last is None else (e[0] - self.last) ** 2))
        self.last = float(e[-1])
        d = (x - m.x_mean) - m.x_low
        spread = d * d / m.sxx
        leverage = 1.0 / m.n + spread
        rest = (1.0 - 1.0 / m.n) - spread  # 1 − h
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.square(e / rest)
            if (rest <= 0).any():
                self.singular = True
            self.hc3_a.append(float((u * d * d).sum()))
            self.hc3_b.append(float((u * np.square(1.0 / m.n - self.x_bar * d / m.sxx)).sum()))
            keys = np.where(rest > 0, u * leverage, -np.inf)  # Cook's distance × 2σ̂²
        self._keep_top(keys, leverage)
        self.rows += x.shape[0]

    def _keep_top(self, keys: np.ndarray, leverage: np.ndarray) -> None:
        """Merge this block's largest keys into the kept ones: never more than `top` rows (plus one block's top)."""
        if self.top <= 0:
            return
        k = min(self.top, keys.shape[0])
        local = np.argpartition(-keys, k - 1)[:k] if k < keys.shape[0] else np.arange(keys.shape[0])
        rows = np.concatenate([self.best_rows, local + self.rows])
        all_keys = np.concatenate([self.best_keys, keys[local]])
        all_leverage = np.concatenate([self.best_leverage, leverage[local]])
        order = np.lexsort((rows, -all_keys))[: self.top]  # largest first; the earlier row on a tie
        self.best_rows, self.best_keys, self.best_leverage = rows[order], all_keys[order], all_leverage[order]

    def finish(self, first_line: int | None = 2) -> Seen:
        sse = math.fsum(self.sse)
        dw = math.fsum(self.steps) / sse if sse > 0 else None
        hc3_a = hc3_b = None
        if not self.singular and self.rows > 2:
            hc3_a = math.sqrt(math.fsum(self.hc3_a)) / self.m.sxx
            hc3_b = math.sqrt(math.fsum(self.hc3_b))
        return Seen(self.rows, sse, dw, hc3_a, hc3_b, self.best_rows, self.best_leverage, self.best_keys / 2, first_line)


def qq_points(residuals: np.ndarray, most: int = QQ_POINTS) -> dict[str, list[float]]:
    """A normal Q-Q plot of the residuals: the normal quantiles Φ⁻¹(i/(n + 1)) (statsmodels' ProbPlot) against
    the sorted residuals, at `most` ranks spread evenly over 1..n (the first and last always among them)."""
    n = residuals.shape[0]
    if n == 0:
        return {"theoretical": [], "sample": []}
    ranks = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(np.int64))
    ordered = np.partition(residuals, ranks)[ranks] if ranks.shape[0] < n else np.sort(residuals)
    normal = NormalDist()
    theoretical = [normal.inv_cdf((rank + 1) / (n + 1)) for rank in ranks.tolist()]  # at most `most` quantiles
    return {"theoretical": theoretical, "sample": ordered.tolist()}


def renumber(influential: list[dict], rows_in_file: np.ndarray, first_line: int | None) -> list[dict]:
    """Influential rows of a subset (e.g. the rows --holdout left to train on) named by their row in the file:
    rows_in_file[i] is the 0-based file row of the subset's row i."""
    out = []
    for entry in influential:
        row = int(rows_in_file[entry["row"] - 1]) + 1
        out.append({**entry, "row": row, "line": None if first_line is None else first_line + row - 1})
    return out


MAX_POINTS = 2000  # residuals drawn in a picture at most (a seeded sample beyond that)


def influence_arrays(x: np.ndarray, y: np.ndarray, a: float, b: float, m: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row's residual, leverage and Cook's distance (rows in memory: for pictures)."""
    e = ResidualPass(a, b, m).residuals(np.asarray(x, np.float64), np.asarray(y, np.float64))
    d = (x - m.x_mean) - m.x_low
    leverage = 1.0 / m.n + d * d / m.sxx
    variance = math.fsum(np.square(e).tolist()) / (m.n - 2) if m.n > 2 else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        cooks = np.square(e) * leverage / (2 * variance * np.square(1.0 - leverage))
    return e, leverage, cooks


def diagnostics_payload(
    x: np.ndarray,
    y: np.ndarray,
    a: float,
    b: float,
    m: Moments,
    first_line: int | None = 2,
    seed: int = 0,
    most: int = MAX_POINTS,
    qq_most: int = QQ_POINTS,
    digits: int | None = None,
) -> dict | None:
    """What a picture of the residuals needs, bounded in size whatever n is:

    {fitted, residuals} (the same rows: all of them, or a seeded sample of `most`), qq {theoretical, sample}
    (at most qq_most), durbin_watson, influential [{line, row, leverage, cooks_distance}] (largest first) and
    influence_threshold (4/n). None with fewer than 3 rows (no residual variance). `digits`: the points'
    significant digits (a page draws them: 6 are plenty, and the file stays small).
    """
    n = int(x.shape[0])
    if n < 3 or m.sxx <= 0:
        return None
    scan = ResidualPass(a, b, m)
    scan.add(x, y)
    seen = scan.finish(first_line)
    e = scan.residuals(np.asarray(x, np.float64), np.asarray(y, np.float64))
    shown = np.sort(np.random.default_rng(seed).choice(n, most, replace=False)) if n > most else np.arange(n)
    qq = qq_points(e, qq_most)
    fitted, residuals = (y[shown] - e[shown]).tolist(), e[shown].tolist()
    if digits is not None:  # at most most + 2·qq_most numbers
        fitted, residuals = _rounded(fitted, digits), _rounded(residuals, digits)
        qq = {key: _rounded(values, digits) for key, values in qq.items()}
    return {
        "fitted": fitted,
        "residuals": residuals,
        "qq": qq,
        "durbin_watson": seen.durbin_watson,
        "influential": seen.influential(seen.sse / (n - 2)),
        "influence_threshold": 4 / n,
    }


def _rounded(values: list[float], digits: int) -> list[float]:
    return [float(f"{value:.{digits}g}") for value in values]
