"""The true loss of a piecewise loss on the report's grid: `losses.loss_grid` beside the direct numpy
evaluation of every (row, grid point) pair (the baseline, measured in the same run).

    python benchmarks/grid.py                       # 1e6 rows, the report's 41 × 41 grid
    python benchmarks/grid.py --rows 20000 --side 120 --repeats 3

Data as benchmarks/losses.py makes them (y = 3·x + 2 + N(0, 1), x uniform on [0, 100), 5 % of y moved by
±50–500, weights uniform on [0, 2) for the weighted rows), in memory; loss_grid also reads them in the
reader's 65,536-row blocks (a streamed pass). The grid holds the least-squares line, as the report's does.
Each figure is the median of interleaved repetitions; the largest relative difference is against the
direct evaluation (both float64: the direct formula's own rounding, ~1e-15 here).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def direct(kind, x, y, w, a_values, b_values):
    """Every row at every grid point, in slices of ~32 MB: the formula loss_grid computed before."""
    mesh_a, mesh_b = np.meshgrid(a_values, b_values)
    a, b = mesh_a.ravel(), mesh_b.ravel()
    total = np.zeros(a.size)
    rows = max(1, (1 << 22) // a.size)
    for start in range(0, x.size, rows):
        xs, ys = x[start : start + rows], y[start : start + rows]
        pieces = kind.numpy_pieces(a[:, None] * xs[None, :] + (b[:, None] - ys[None, :]))
        total += pieces.sum(axis=1) if w is None else pieces @ w[start : start + rows]
    return (total / (x.size if w is None else w.sum())).reshape(mesh_a.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--side", type=int, default=41, help="grid points along a and along b (the report: 41)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repetitions (the direct pass is slow)")
    options = parser.parse_args()

    from linfit.losses import huber_delta_of, loss_for, loss_grid

    rng = np.random.default_rng(options.rows)
    x = rng.uniform(0, 100, options.rows)
    y = 3.0 * x + 2.0 + rng.normal(0, 1.0, options.rows)
    gross = rng.random(options.rows) < 0.05
    y[gross] += rng.choice([-1, 1], gross.sum()) * rng.uniform(50, 500, gross.sum())
    w = rng.uniform(0, 2, options.rows)
    slope, intercept = np.polyfit(x, y, 1)
    a_values = np.linspace(slope - 0.2, slope + 0.2, options.side)
    b_values = np.linspace(intercept - 10, intercept + 10, options.side)
    delta = huber_delta_of(y - (slope * x + intercept))
    block = 65_536
    print(f"{options.rows:,} rows, a {options.side} × {options.side} grid, medians of {options.repeats}")
    print(
        f"{'loss':<22}{'rows':<10}{'direct numpy':>14}{'loss_grid':>12}{'ratio':>10}{'streamed':>12}{'ratio':>10}{'largest rel. diff':>20}"
    )
    for name, kind in (
        (f"huber δ = {delta:.3g}", loss_for("huber", delta=delta)),
        ("absolute", loss_for("absolute")),
        ("quantile τ = 0.9", loss_for("quantile", tau=0.9)),
    ):
        for weights in (None, w):
            times: dict[str, list[float]] = {"direct": [], "grid": [], "streamed": []}
            extra = () if weights is None else (weights,)
            for _ in range(options.repeats):
                began = time.perf_counter()
                slow = direct(kind, x, y, weights, a_values, b_values)
                times["direct"].append(time.perf_counter() - began)
                began = time.perf_counter()
                fast = loss_grid(kind, [(x, y, *extra)], a_values, b_values)
                times["grid"].append(time.perf_counter() - began)
                began = time.perf_counter()
                streamed = loss_grid(
                    kind,
                    ((x[s : s + block], y[s : s + block], *(e[s : s + block] for e in extra)) for s in range(0, x.size, block)),
                    a_values,
                    b_values,
                )
                times["streamed"].append(time.perf_counter() - began)
            base, one, many = (statistics.median(times[k]) for k in ("direct", "grid", "streamed"))
            diff = max(float(np.max(np.abs(fast / slow - 1))), float(np.max(np.abs(streamed / slow - 1))))
            print(
                f"{name:<22}{'weighted' if extra else 'plain':<10}{base:>12.2f} s{one:>10.2f} s{one / base:>9.3f}×"
                f"{many:>10.2f} s{many / base:>9.3f}×{diff:>20.1e}"
            )


if __name__ == "__main__":
    main()
