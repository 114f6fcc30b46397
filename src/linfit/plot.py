"""One figure that lets a person judge a fit: the data and both lines, the loss per step, and the path
gradient descent took across the loss surface. matplotlib is an optional extra: `pip install 'linfit[plot]'`.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np

from linfit.errors import UsageError
from linfit.losses import LOSSES, PIECEWISE
from linfit.sample import MAX_SCATTER


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


def render_fit(path: Path, samples, result, ols, trace, config, rows_in_file=None, reference=None) -> bytes:
    """The figure's bytes, in the format `path`'s extension names: the data, the loss and the surface above,
    the residuals against the fitted values, their normal Q-Q plot and their influence below."""
    fmt = plot_format(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 3, figsize=(17, 10.4), constrained_layout=True)
    (data_ax, loss_ax, surface_ax), (residual_ax, qq_ax, influence_ax) = axes
    if config.loss in PIECEWISE:  # huber, absolute, quantile: their exact line, and the true loss surface
        from linfit.losses import loss_for

        kind = loss_for(config.loss, delta=config.huber_delta, tau=config.quantile)
        _data_panel(data_ax, samples, result, reference, config.seed, f"{config.loss} (exact)")
        _piecewise_loss_panel(loss_ax, trace, reference, kind, config.weight_col)
        _piecewise_surface_panel(surface_ax, trace, samples, result, reference, kind)
    else:
        _data_panel(data_ax, samples, result, ols, config.seed)
        _loss_panel(loss_ax, trace, samples, ols, config.loss, config.weight_col)
        _surface_panel(surface_ax, trace, samples, result, ols, config.loss)
    if config.loss in PIECEWISE:
        _fitted_line_panels(residual_ax, qq_ax, influence_ax, samples, result, config)
    else:
        _diagnostic_panels(residual_ax, qq_ax, influence_ax, samples, result, ols, config, rows_in_file)
    figure.suptitle(
        f"linfit: y = {result.a:.6g}·x + {result.b:.6g} fitted to {Path(samples.source).name} "
        f"({samples.n:,} rows; {config.optimizer}, lr {result.lr:.3g}, {result.stop_reason} at step {result.steps})",
        fontsize=13,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _diagnostic_panels(residual_ax, qq_ax, influence_ax, samples, result, ols, config, rows_in_file=None) -> None:
    """Residuals of the least-squares line (the statistics' line): against the fitted values, against the normal,
    and each row's leverage against its standardised residual, the largest Cook's distances named by line."""
    from linfit.reference import moments
    from linfit.residuals import diagnostics_payload, influence_arrays, renumber
    from linfit.stats import valid_for

    x, y = samples.x, samples.y
    payload = None
    if ols is not None and samples.n and valid_for(config.loss):
        m = moments(x, y)
        first_line = 2 if samples.lines_are_rows and not samples.dropped else None  # row r on line r + 1, else no line
        payload = diagnostics_payload(x, y, ols.a, ols.b, m, first_line, config.seed, MAX_SCATTER)
    if payload is None:
        for ax in (residual_ax, qq_ax, influence_ax):
            ax.text(
                0.5, 0.5, "no residual diagnostics\n(fewer than 3 rows, no unique line, or not a squared loss)", ha="center", va="center"
            )
            ax.set_axis_off()
        return
    if rows_in_file is not None:  # rows of a subset (--holdout): named by their row in the file, drawn by their index
        renamed = renumber(payload["influential"], rows_in_file, first_line)
        payload["influential"] = [{**new, "index": old["row"] - 1} for old, new in zip(payload["influential"], renamed)]
    e, leverage, _ = influence_arrays(x, y, ols.a, ols.b, m)
    sd = float(np.sqrt(np.sum(np.square(e)) / (samples.n - 2)))
    _residual_panel(residual_ax, payload, samples.n)
    _qq_panel(qq_ax, payload["qq"], sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        standardised = e / (sd * np.sqrt(1 - leverage))
    _influence_panel(influence_ax, payload, leverage, standardised, config.seed)


def _fitted_line_panels(residual_ax, qq_ax, note_ax, samples, result, config) -> None:
    """A piecewise loss: the residuals of the fitted line against its fitted values and against the normal (the
    normal's sd a robust one, MAD/0.6745, so that gross outliers stand off it rather than bend it); leverage and
    Cook's distance belong to least squares and are not drawn."""
    from linfit.losses import MAD_TO_SD
    from linfit.reference import moments
    from linfit.residuals import diagnostics_payload

    x, y = samples.x, samples.y
    m = moments(x, y) if samples.n else None
    payload = None
    if m is not None and samples.n >= 3 and m.sxx > 0:
        payload = diagnostics_payload(x, y, result.a, result.b, m, None, config.seed, MAX_SCATTER)
    note_ax.set_axis_off()
    note_ax.text(
        0.5,
        0.5,
        f"leverage and Cook's distance are least-squares diagnostics:\nnot drawn for the {config.loss} loss",
        ha="center",
        va="center",
    )
    if payload is None:
        for ax in (residual_ax, qq_ax):
            ax.text(0.5, 0.5, "no residual diagnostics\n(fewer than 3 rows, or one x only)", ha="center", va="center")
            ax.set_axis_off()
        return
    residuals = y - (result.a * x + result.b)
    scale = float(np.median(np.abs(residuals))) / MAD_TO_SD
    _residual_panel(residual_ax, payload, samples.n, f"the {config.loss} line")
    _qq_panel(qq_ax, payload["qq"], scale, "MAD/0.6745")


def _residual_panel(ax, payload, n: int, line: str = "least squares") -> None:
    fitted, residuals = payload["fitted"], payload["residuals"]
    shown = f" ({len(fitted):,} of {n:,} rows)" if len(fitted) < n else ""
    ax.scatter(fitted, residuals, s=10, alpha=0.5, color="tab:gray")
    ax.axhline(0, color="tab:orange", linestyle="--", linewidth=1.2)
    ax.set_xlabel(f"fitted value ŷ ({line})")
    ax.set_ylabel("residual y − ŷ")
    dw = payload["durbin_watson"]
    ax.set_title(f"residuals against fitted{shown}; Durbin–Watson {dw:.3g}" if dw is not None else f"residuals against fitted{shown}")
    ax.grid(alpha=0.3)


def _qq_panel(ax, qq, sd: float, sd_name: str = "sd") -> None:
    """The sorted residuals against the normal's quantiles, and the line a normal of the residuals' sd would follow."""
    theoretical = np.array(qq["theoretical"])
    ax.scatter(theoretical, qq["sample"], s=10, color="tab:blue", alpha=0.7, label="sorted residuals")
    ends = np.array([theoretical.min(), theoretical.max()])
    ax.plot(ends, sd * ends, color="tab:orange", linestyle="--", label=f"normal, {sd_name} {sd:.3g}")
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("residual")
    ax.set_title("normal Q-Q of the residuals")
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(alpha=0.3)


def _influence_panel(ax, payload, leverage, standardised, seed: int) -> None:
    """Every row (a seeded sample of MAX_SCATTER) by leverage and standardised residual; the top rows circled and named."""
    n = leverage.shape[0]
    rows = np.sort(np.random.default_rng(seed).choice(n, MAX_SCATTER, replace=False)) if n > MAX_SCATTER else np.arange(n)
    ax.scatter(leverage[rows], standardised[rows], s=10, alpha=0.5, color="tab:gray")
    threshold = payload["influence_threshold"]
    above = 0
    for row in payload["influential"]:
        index = row.get("index", row["row"] - 1)  # the row among those drawn
        flagged = row["cooks_distance"] is not None and row["cooks_distance"] > threshold
        above += flagged
        ax.scatter(leverage[index], standardised[index], s=40, facecolors="none", edgecolors="tab:red" if flagged else "tab:blue")
        name = f"line {row['line']}" if row["line"] is not None else f"row {row['row']}"
        right = leverage[index] > 0.5 * (leverage.min() + leverage.max())  # label toward the panel's middle
        cook = "–" if row["cooks_distance"] is None else f"{row['cooks_distance']:.2g}"
        ax.annotate(
            f"{name}\nD = {cook}",
            (leverage[index], standardised[index]),
            fontsize=7,
            xytext=(-5 if right else 5, 4),
            textcoords="offset points",
            ha="right" if right else "left",
        )
    ax.axhline(0, color="tab:orange", linestyle="--", linewidth=1)
    ax.set_xlabel("leverage h")
    ax.set_ylabel("standardised residual")
    flagged_text = f"{above} above 4/n = {threshold:.2g} (red)" if above else f"none above 4/n = {threshold:.2g}"
    ax.set_title(f"influence: largest Cook's D circled, {flagged_text}")
    ax.grid(alpha=0.3)


def _data_panel(ax, samples, result, ols, seed: int, exact: str = "least squares") -> None:
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
            label=f"{exact}: {ols.a:.5g}·x + {ols.b:.5g}",
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


def _loss_panel(ax, trace, samples, ols, loss_name: str, weight_col=None) -> None:
    from linfit.page import weighted

    steps = np.array([p[0] for p in trace.points])
    losses = np.array([p[1] for p in trace.points])
    if not _log_losses(ax, steps, losses, loss_name, f"{weighted(LOSSES[loss_name].formula, weight_col)}  (log scale)"):
        return
    optimum = _optimum_loss(samples, ols, loss_name)
    if optimum is not None and optimum > 0:
        excess = losses - optimum
        keep = excess > 0
        ax.semilogy(steps[keep], excess[keep], marker=".", markersize=3, linestyle="--", color="tab:red", label="loss − least-squares loss")
        ax.axhline(optimum, color="tab:orange", linestyle=":", label=f"least-squares loss {optimum:.4g}")
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3, which="both")


def _surface_panel(ax, trace, samples, result, ols, loss_name: str) -> None:
    """Contours of the loss over (a, b), centred on the optimum (the whole bowl, the path inside it), with a few
    labels placed along the b axis through the optimum where the contours are far enough apart to read."""
    path_a = np.array([p[2] for p in trace.points] + [result.a])
    path_b = np.array([p[3] for p in trace.points] + [result.b])
    centre_a, centre_b = (ols.a, ols.b) if ols is not None else (result.a, result.b)
    half_a = max(float(np.abs(path_a - centre_a).max()), 1e-3 * max(1.0, abs(centre_a))) * 1.15
    half_b = max(float(np.abs(path_b - centre_b).max()), 1e-3 * max(1.0, abs(centre_b))) * 1.15
    grid_a = np.linspace(centre_a - half_a, centre_a + half_a, 160)
    grid_b = np.linspace(centre_b - half_b, centre_b + half_b, 160)
    mesh_a, mesh_b = np.meshgrid(grid_a, grid_b)
    surface = _quadratic_loss(samples, loss_name, centre_a, centre_b, mesh_a, mesh_b)
    floor = max(surface.min(), 1e-300)
    levels = np.unique(np.geomspace(floor * 1.0001 if floor > 0 else 1e-12, max(surface.max(), floor * 10), 18))
    contours = ax.contour(mesh_a, mesh_b, surface, levels=levels, cmap="viridis", linewidths=0.9)
    spots = _label_spots(samples, loss_name, centre_a, centre_b, contours.levels, half_a, half_b)
    if spots:
        ax.clabel(contours, [level for level, _ in spots], fontsize=7, fmt="%.3g", manual=[spot for _, spot in spots])
    optimum = None if ols is None else (ols.a, ols.b, "least-squares optimum")
    _path_over_surface(ax, path_a, path_b, optimum, grid_a, grid_b, "loss surface over (a, b)")


def _path_over_surface(ax, path_a, path_b, optimum, grid_a, grid_b, title: str) -> None:
    """What both surface panels draw over their contours: the path, its start, the optimum (a, b, label) as a
    star, the grid's limits, the axes' names and the legend."""
    ax.plot(path_a, path_b, marker="o", markersize=3, color="tab:red", linewidth=1.2, label="gradient descent path")
    ax.plot(path_a[0], path_b[0], marker="s", markersize=7, color="tab:red", linestyle="none", label="start")
    if optimum is not None:
        a, b, label = optimum
        ax.plot(a, b, marker="*", markersize=16, color="tab:orange", markeredgecolor="black", linestyle="none", label=label)
    ax.set_xlim(grid_a[0], grid_a[-1])
    ax.set_ylim(grid_b[0], grid_b[-1])
    ax.set_xlabel("a (slope)")
    ax.set_ylabel("b (intercept)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=9)


def _label_spots(
    samples, loss_name: str, a0: float, b0: float, levels, half_a: float, half_b: float
) -> list[tuple[float, tuple[float, float]]]:
    """(level, (a, b)) for the labels: where each level crosses the bowl's long axis from the optimum (the loss
    there is L₀ + ½·c·λ·t², λ the Hessian's smaller eigenvalue), where contours are furthest apart, keeping only
    levels at least 12% of the panel apart, inside it."""
    kind = LOSSES[loss_name]
    base = float(kind.of_residual(a0 * samples.x + b0 - samples.y))
    c = kind.curvature(samples.n)
    hessian = np.array([[float(np.mean(samples.x * samples.x)), float(np.mean(samples.x))], [float(np.mean(samples.x)), 1.0]])
    values, vectors = np.linalg.eigh(hessian)
    direction = vectors[:, 0] * (1 if vectors[1, 0] >= 0 else -1)  # the long axis, pointing up in b
    spots, last = [], 0.1  # none under the optimum's marker
    for level in levels:
        if level <= base:
            continue
        t = float(np.sqrt(2 * (level - base) / (c * values[0])))
        where = np.array([t * direction[0] / half_a, t * direction[1] / half_b])  # in halves of the panel
        if np.abs(where).max() >= 0.92:
            break
        reach = float(np.hypot(*where))
        if reach - last >= 0.12:
            spots.append((float(level), (a0 + t * direction[0], b0 + t * direction[1])))
            last = reach
    return spots


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


def _log_losses(ax, steps, losses, name: str, ylabel: str) -> bool:
    """The loss per step on a log axis; False (and the panel says why) when no loss is above 0: a line through
    every row, which a log axis cannot draw."""
    keep = np.isfinite(losses) & (losses > 0)
    ax.set_xlabel("step")
    ax.set_title("loss per step")
    if not keep.any():
        zero = bool(np.any(losses == 0))
        ax.text(
            0.5,
            0.5,
            "every loss is 0: the line goes through every row" if zero else "no finite loss",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_ylabel(ylabel.replace("  (log scale)", ""))
        return False
    ax.semilogy(steps[keep], losses[keep], marker="o", markersize=3, color="tab:blue", label=f"loss ({name})")
    ax.set_ylabel(ylabel)
    return True


def _piecewise_loss_panel(ax, trace, reference, kind, weight_col=None) -> None:
    """The true loss per step, and its excess over the exact minimum where the exact line is known."""
    from linfit.page import weighted

    steps = np.array([p[0] for p in trace.points])
    losses = np.array([p[1] for p in trace.points])
    if not _log_losses(ax, steps, losses, kind.name, f"{weighted(kind.formula, weight_col)}  (log scale)"):
        return
    if reference is not None:
        excess = losses - reference.objective
        keep = excess > 0
        ax.semilogy(steps[keep], excess[keep], marker=".", markersize=3, linestyle="--", color="tab:red", label="loss − exact minimum")
        if reference.objective > 0:
            ax.axhline(reference.objective, color="tab:orange", linestyle=":", label=f"exact minimum {reference.objective:.4g}")
    ax.set_title("loss per step")
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3, which="both")


def _piecewise_surface_panel(ax, trace, samples, result, reference, kind) -> None:
    """Contours of the true loss over (a, b), computed over every row on a grid (losses.loss_grid: one pass),
    so that the creases where rows change piece show; the path and the exact line on it."""
    from linfit.losses import loss_grid

    path_a = np.array([p[2] for p in trace.points] + [result.a])
    path_b = np.array([p[3] for p in trace.points] + [result.b])
    centre_a, centre_b = (reference.a, reference.b) if reference is not None else (result.a, result.b)
    half_a = max(float(np.abs(path_a - centre_a).max()), 1e-3 * max(1.0, abs(centre_a))) * 1.15
    half_b = max(float(np.abs(path_b - centre_b).max()), 1e-3 * max(1.0, abs(centre_b))) * 1.15
    grid_a = np.linspace(centre_a - half_a, centre_a + half_a, 120)
    grid_b = np.linspace(centre_b - half_b, centre_b + half_b, 120)
    blocks = [(samples.x, samples.y) if samples.w is None else (samples.x, samples.y, samples.w)]
    surface = loss_grid(kind, blocks, grid_a, grid_b)
    low = float(np.nanmin(surface))
    floor = reference.objective if reference is not None else low
    excess = np.maximum(surface - floor, 0.0)
    top = float(np.nanmax(excess))
    smallest = max(top * 1e-6, float(np.nanmin(excess[excess > 0])) if np.any(excess > 0) else top * 1e-6)
    levels = np.unique(floor + np.geomspace(smallest, max(top, smallest * 10), 18))
    mesh_a, mesh_b = np.meshgrid(grid_a, grid_b)
    contours = ax.contour(mesh_a, mesh_b, surface, levels=levels, cmap="viridis", linewidths=0.9)
    ax.clabel(contours, contours.levels[::4], fontsize=7, fmt="%.3g")
    optimum = (
        None
        if reference is None
        else (reference.a, reference.b, f"exact {kind.name} optimum" + ("" if reference.unique else " (one of many)"))
    )
    _path_over_surface(ax, path_a, path_b, optimum, grid_a, grid_b, f"true {kind.name} loss over (a, b), {samples.n:,} rows")
