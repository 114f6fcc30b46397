"""One figure that lets a person judge a fit: the data and both lines, the loss per step, and the path
gradient descent took across the loss surface. matplotlib is an optional extra: `pip install 'linfit[plot]'`.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np

from linfit.errors import UsageError
from linfit.losses import LOSSES

MAX_SCATTER = 5000  # points drawn; the fit always uses every row


def require_matplotlib() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib, which is not installed.", "Install the extra: pip install 'linfit[plot]'")
    import os

    backend = os.environ.get("MPLBACKEND")
    if backend:  # matplotlib refuses an unknown one on import, before any work
        try:
            import matplotlib  # noqa: F401
        except ValueError:
            raise UsageError(
                f"the environment's MPLBACKEND={backend!r} is not a matplotlib backend, so matplotlib cannot start.",
                "Unset it (--plot draws into the file with Agg whatever it says), or name a backend such as Agg.",
            ) from None


FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}  # the extension decides what is drawn


def plot_format(path: Path) -> str:
    """The image format --plot's extension asks for; any other extension is refused before any work."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"--plot {path}: cannot tell the image format from '{suffix or 'no extension'}'.", "End the name in .png, .svg or .pdf."
        )
    return FORMATS[suffix]


def render_fit(path: Path, samples, result, ols, trace, config) -> bytes:
    """The figure's bytes, in the format `path`'s extension names."""
    fmt = plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (data_ax, loss_ax, surface_ax) = plt.subplots(1, 3, figsize=(17, 5.2), constrained_layout=True)
    _data_panel(data_ax, samples, result, ols, config.seed)
    _loss_panel(loss_ax, trace, samples, ols, config.loss)
    _surface_panel(surface_ax, trace, samples, result, ols, config.loss)
    figure.suptitle(
        f"linfit: y = {result.a:.6g}·x + {result.b:.6g} fitted to {Path(samples.source).name} "
        f"({samples.n:,} rows; {config.optimizer}, lr {result.lr:.3g}, {result.stop_reason} at step {result.steps})",
        fontsize=13,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _data_panel(ax, samples, result, ols, seed: int) -> None:
    x, y = samples.x, samples.y
    shown = np.arange(samples.n)
    if samples.n > MAX_SCATTER:
        shown = np.sort(np.random.default_rng(seed).choice(samples.n, MAX_SCATTER, replace=False))
    label = f"samples ({len(shown):,} of {samples.n:,} shown)" if len(shown) < samples.n else "samples"
    ax.scatter(x[shown], y[shown], s=12, alpha=0.5, color="tab:gray", label=label)
    line_x = np.linspace(x.min(), x.max(), 200)
    ax.plot(
        line_x, result.a * line_x + result.b, color="tab:blue", linewidth=2.5, label=f"gradient descent: {result.a:.5g}·x + {result.b:.5g}"
    )
    if ols is not None:
        ax.plot(
            line_x,
            ols.a * line_x + ols.b,
            color="tab:orange",
            linestyle="--",
            linewidth=1.5,
            label=f"least squares: {ols.a:.5g}·x + {ols.b:.5g}",
        )
    ax.set_xlabel("x" if samples.x_name == "x" else f"x: {samples.x_name}")
    ax.set_ylabel("y" if samples.y_name == "y" else f"y: {samples.y_name}")
    ax.set_title("data and fitted line")
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3)


def _optimum_loss(samples, ols, loss_name: str) -> float | None:
    if ols is None:
        return None
    return float(LOSSES[loss_name].of_residual(ols.a * samples.x + ols.b - samples.y))


def _loss_panel(ax, trace, samples, ols, loss_name: str) -> None:
    steps = np.array([p[0] for p in trace.points])
    losses = np.array([p[1] for p in trace.points])
    ax.semilogy(steps, losses, marker="o", markersize=3, color="tab:blue", label=f"loss ({loss_name})")
    optimum = _optimum_loss(samples, ols, loss_name)
    if optimum is not None:
        excess = losses - optimum
        keep = excess > 0
        ax.semilogy(steps[keep], excess[keep], marker=".", markersize=3, linestyle="--", color="tab:red", label="loss − least-squares loss")
        ax.axhline(optimum, color="tab:orange", linestyle=":", label=f"least-squares loss {optimum:.4g}")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{LOSSES[loss_name].formula}  (log scale)")
    ax.set_title("loss per step")
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3, which="both")


def _surface_panel(ax, trace, samples, result, ols, loss_name: str) -> None:
    path_a = np.array([p[2] for p in trace.points] + [result.a])
    path_b = np.array([p[3] for p in trace.points] + [result.b])
    centre_a, centre_b = (ols.a, ols.b) if ols is not None else (result.a, result.b)
    span_a = max(np.ptp(np.append(path_a, centre_a)), 1e-3 * max(1.0, abs(centre_a)))
    span_b = max(np.ptp(np.append(path_b, centre_b)), 1e-3 * max(1.0, abs(centre_b)))
    grid_a = np.linspace(min(path_a.min(), centre_a) - 0.15 * span_a, max(path_a.max(), centre_a) + 0.15 * span_a, 160)
    grid_b = np.linspace(min(path_b.min(), centre_b) - 0.15 * span_b, max(path_b.max(), centre_b) + 0.15 * span_b, 160)
    mesh_a, mesh_b = np.meshgrid(grid_a, grid_b)
    surface = _quadratic_loss(samples, loss_name, centre_a, centre_b, mesh_a, mesh_b)
    floor = max(surface.min(), 1e-300)
    levels = np.geomspace(floor * 1.0001 if floor > 0 else 1e-12, max(surface.max(), floor * 10), 18)
    contours = ax.contour(mesh_a, mesh_b, surface, levels=np.unique(levels), cmap="viridis", linewidths=0.9)
    ax.clabel(contours, contours.levels[::4], fontsize=7, fmt="%.3g")
    ax.plot(path_a, path_b, marker="o", markersize=3, color="tab:red", linewidth=1.2, label="gradient descent path")
    ax.plot(path_a[0], path_b[0], marker="s", markersize=7, color="tab:red", linestyle="none", label="start")
    if ols is not None:
        ax.plot(
            ols.a,
            ols.b,
            marker="*",
            markersize=16,
            color="tab:orange",
            markeredgecolor="black",
            linestyle="none",
            label="least-squares optimum",
        )
    ax.set_xlabel("a (slope)")
    ax.set_ylabel("b (intercept)")
    ax.set_title("loss surface over (a, b)")
    ax.legend(loc="best", fontsize=9)


def _quadratic_loss(samples, loss_name: str, a0: float, b0: float, a, b):
    """L(a, b) = L(a0, b0) + ∇L·d + ½·dᵀHd exactly (L is quadratic), from moments: no pass over the data per point."""
    kind = LOSSES[loss_name]
    x, y = samples.x, samples.y
    r0 = a0 * x + b0 - y
    c = kind.curvature(samples.n)
    base = float(kind.of_residual(r0))
    grad_a, grad_b = c * float(np.mean(r0 * x)), c * float(np.mean(r0))
    mean_x, mean_xx = float(np.mean(x)), float(np.mean(x * x))
    da, db = a - a0, b - b0
    return base + grad_a * da + grad_b * db + 0.5 * c * (mean_xx * da * da + 2 * mean_x * da * db + db * db)
