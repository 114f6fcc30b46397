"""The table view, for people: Rich tables built from pre-formatted strings, and the progress bar.

The only module that imports rich. Nothing here computes; it formats what the core returns.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Sequence

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from linfit.losses import LOSSES
from linfit.output import Checked, relative_gap, require_open, stopping_target

if TYPE_CHECKING:  # types only: `predict`'s table must not import torch
    from linfit.gradient import PointGradient
    from linfit.reference import LeastSquares
    from linfit.train import StepRecord, TrainResult


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Leave a closed pipe to the command line's one error handler (Rich would exit 1 itself)."""
        self.quiet = True
        raise BrokenPipeError


def console(stderr: bool = False) -> Console:
    """A console on stdout or stderr. Colour only on a terminal; NO_COLOR and TERM=dumb are honoured by Rich."""
    stream = sys.stderr if stderr else require_open(sys.stdout)
    file = stream if stderr else Checked(stream)  # stdout: in bounded pieces, each write checked
    return _Console(file=file, highlight=False, soft_wrap=False, width=None if stream.isatty() else 100)


def wants_trace() -> bool:
    """A person at a terminal sees the loss curve as a sparkline: keep every step's loss for it."""
    return sys.stdout.isatty()


def train_begin(fields=()) -> None:
    pass


def train_step(record, extra=None) -> None:
    pass  # the table comes at the end; a terminal shows a progress bar meanwhile (ProgressView)


def train_diverged(history, loss_name: str) -> None:
    """The steps that led to the divergence."""
    if history:
        console().print(history_table(history, loss_name))


def train_result(fit: dict, run) -> None:
    """The logged steps, then the summary: the fit against the exact line, why it stopped, the data."""
    out = console()
    held = run.prepared.held  # --holdout/--valid: the held-out loss beside each logged step, and a closing line
    out.print(history_table(run.history, run.config.loss, held.losses if held is not None else None))
    info = run.prepared.data_info
    line = f"data {info['source']}: {info['rows']} rows, x = '{info['x']}', y = '{info['y']}'"
    if info.get("w"):  # weighted rows: the rows counted are those with a positive weight
        line += f", weights = '{info['w']}' (rows with a positive weight)"
    if info.get("processes"):  # torchrun: how the rows were shared
        shares = ", ".join(str(r["rows"]) for r in info.get("ranks", []))
        line += f"; {info['processes']} processes, split by {info.get('split', 'rows')} ({shares} rows)"
    curve = [point[1] for point in run.trace.points] if run.trace is not None and sys.stdout.isatty() else []
    if "loss_stats" in fit:  # huber, absolute, quantile: held against their own exact line
        out.print(piecewise_summary(run.result, fit, line))
    else:
        weighted = bool(info.get("w"))
        out.print(train_summary(run.result, run.prepared.ols, run.config.loss, line, run.config.tol, run.prepared.stats, curve, weighted))
    if fit.get("valid"):
        out.print(held_out_line(fit["valid"]))


def predictions(saved, x, predicted, x_name: str, table, bounds=None) -> None:
    console().print(predict_table(x, predicted, x_name, saved.a, saved.b, bounds=bounds))


def evaluation(out: dict) -> None:
    console().print(eval_table(out))


def gradient(result, checked, steps, lr, graph: bool) -> None:
    out = console()
    out.print(grad_table(result))
    if steps:
        out.print(explain_text(steps))
    if graph:
        out.print(graph_tree(result.graph, f"graph of L = {result.loss_name}"))
    if checked:
        out.print(check_table(checked))


def expression(text: str, values: dict, result, checked) -> None:
    out = console()
    out.print(graph_tree(result.graph, f"s = {text}"))
    out.print(partials_table(result.partials, result.value))
    if checked:
        out.print(check_table(checked))


def num(value: float, digits: int = 6) -> str:
    """A float rounded for the eye (JSON output keeps every digit)."""
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def gap(value: float) -> str:
    return f"{value:.2g}" if value else "0"


def grad_table(result: PointGradient) -> Table:
    """ŷ and the loss, then dL/da and dL/db by autograd next to the hand-derived formula."""
    loss = result.kind or LOSSES[result.loss_name]
    if result.weights is None:
        points = "(x, y) = " + ", ".join(f"({num(x)}, {num(y)})" for x, y in zip(result.x, result.y))
    else:  # weighted points: the loss is Σ w·ℓ(r)/Σ w
        points = "(x, y, w) = " + ", ".join(f"({num(x)}, {num(y)}, {num(w)})" for x, y, w in zip(result.x, result.y, result.weights))
    table = Table(
        title=f"a = {num(result.a)}, b = {num(result.b)} at {points}",
        caption=f"{result.loss_name}: L = {loss.formula}"
        + (", each point weighted by w: Σ w·ℓ(r)/Σ w" if result.weights is not None else ""),
        box=box.SIMPLE_HEAD,
    )
    table.add_column("quantity")
    table.add_column("autograd", justify="right")
    table.add_column("by hand", justify="right")
    table.add_column("hand formula")
    table.add_column("difference", justify="right")
    prediction = ", ".join(num(p) for p in result.prediction)
    table.add_row("ŷ = a·x + b", prediction, "", "", "")
    table.add_row("loss", num(result.loss), "", "", "")
    for name, auto, hand, formula in (
        ("dL/da", result.grad_a, result.hand_grad_a, "(a·x + b − y)·x"),
        ("dL/db", result.grad_b, result.hand_grad_b, "a·x + b − y"),
    ):
        text = loss.derivative_text(formula, len(result.x))
        if result.weights is not None:  # Σ w·ℓ(r)/Σ w: the hand formula weighs each point
            text = f"Σ w·({loss.derivative_text(formula, 1)}) / Σ w" + (" · n" if getattr(loss, "reduction", "mean") == "sum" else "")
        table.add_row(name, num(auto), num(hand), text, gap(auto - hand))
    if result.pieces:  # a piecewise loss: which piece each point is on
        table.add_row("piece", "", "", "; ".join(result.pieces), "")  # words, beside the formulas: the numbers' columns stay narrow
    return table


def history_table(history: Sequence[StepRecord], loss_name: str, valid: dict | None = None) -> Table:
    """A row per logged step: the loss and gradient at (a, b), before that step's update (and the held-out loss
    there, with `valid`: step → loss)."""
    formula = LOSSES[loss_name].formula if loss_name in LOSSES else f"the {loss_name} loss"
    table = Table(title=f"gradient descent on {formula}", box=box.SIMPLE_HEAD)
    for header in ("step", "loss", *(("held-out loss",) if valid else ()), "dL/da", "dL/db", "a", "b"):
        table.add_column(header, justify="right")
    for r in history:
        held = (num(valid[r.step]) if r.step in valid else "–",) if valid else ()
        table.add_row(str(r.step), num(r.loss), *held, num(r.grad_a, 4), num(r.grad_b, 4), num(r.a, 10), num(r.b, 10))
    return table


def held_out_line(valid: dict) -> Text:
    """The final line's figures on the held-out rows, and where they came from."""
    if "holdout" in valid:
        where = f"held out {valid['holdout']['rows']} rows (--holdout {valid['holdout']['fraction']:g}, seed {valid['holdout']['seed']})"
    else:
        where = f"validation file {valid['valid']['source']} ({valid['valid']['rows']} rows)"
    if "w" in valid:  # weighted rows: the figures are weighted means
        where += f", weighted by {valid['w']!r}"
    r2 = "undefined (y constant)" if valid["r2"] is None else num(valid["r2"], 6)
    return Text(f"{where}: loss {num(valid['loss'])}, RMSE {num(valid['rmse'], 6)}, MAE {num(valid['mae'], 6)}, R² {r2}")


def train_summary(
    result: TrainResult,
    ols: LeastSquares | None,
    loss_name: str,
    data_line: str,
    tol: float,
    stats=None,
    curve: Sequence[float] = (),
    weighted: bool = False,
) -> Group:
    """The fit against the exact least-squares line (weighted least squares with a weight column), why it
    stopped, and how long it took."""
    exact = "weighted least squares (exact)" if weighted else "least squares (exact)"
    table = Table(title="summary", box=box.SIMPLE_HEAD, show_header=True)
    table.add_column("")
    table.add_column("a", justify="right")
    table.add_column("b", justify="right")
    table.add_row("gradient descent", num(result.a, 12), num(result.b, 12))
    if ols is not None:
        table.add_row(exact, num(ols.a, 12), num(ols.b, 12))
        table.add_row("relative gap", gap(relative_gap(result.a, ols.a)), gap(relative_gap(result.b, ols.b)))
    else:
        table.add_row(exact, "not unique", "not unique")
    table.add_row("error bound (digits)", *(_bound(e, d) for e, d in zip((result.error_a, result.error_b), result.digits())))
    if stats is not None and stats.se_a is not None:
        robust = " (HC3)" if getattr(stats, "se_type", "nonrobust") == "hc3" else ""
        table.add_row(f"standard error{robust}", num(stats.se_a, 4), num(stats.se_b, 4))
        if getattr(stats, "t_a", None) is not None:
            statistic = "z" if robust else "t"
            table.add_row(f"{statistic} (p-value)", _t_and_p(stats.t_a, stats.p_a), _t_and_p(stats.t_b, stats.p_b))
        table.add_row(f"{getattr(stats, 'level', 0.95) * 100:.4g}% interval", _interval(stats.ci_a), _interval(stats.ci_b))
    table.add_row("start", f"{num(result.start.a)}", f"{num(result.start.b)}  ({result.start.method})")
    target = stopping_target(tol, result.epochs)
    passes = f", {result.epochs} epochs" if result.epochs else ""
    stopped = {
        "converged": f"converged at step {result.steps}{passes} ({target}, lr {result.lr:.3g})",
        "step_limit": f"step limit: {result.steps} steps{passes}, not converged ({target}, lr {result.lr:.3g})",
        "interrupted": f"interrupted after {result.steps} steps{passes}",
    }[result.stop_reason]
    parts = [f"loss {loss_name} = {num(result.loss)}"]
    if curve:
        parts.append(f"  {sparkline(curve)}  (log loss by step)")
    parts.append("\n")
    if stats is not None:
        parts.append(_fit_quality(stats) + "\n")
        parts.extend(line + "\n" for line in _diagnostics(stats))
    caption = Text.assemble(
        *parts,
        (stopped, "green" if result.converged else "yellow"),
        f" in {_duration(result.wall_time_s)}\n{data_line}",
    )
    return Group(table, caption)


def piecewise_summary(result: TrainResult, fit: dict, data_line: str) -> Group:
    """huber, absolute, quantile: the fit against the loss's exact line, with the objective's gap (a line's
    gap only when that line is the only optimum), and the statistics valid for the loss, named."""
    table = Table(title="summary", box=box.SIMPLE_HEAD, show_header=True)
    for header in ("", "a", "b", "objective"):
        table.add_column(header, justify="left" if not header else "right")
    table.add_row("gradient descent", num(result.a, 12), num(result.b, 12), num(result.loss, 12))
    reference, gaps, stats = fit.get("reference"), fit.get("gap"), fit.get("loss_stats")
    if reference is not None:
        label = f"{reference['loss']} (exact)" + ("" if reference["unique"] else ", one of many optimal lines")
        table.add_row(label, num(reference["a"], 12), num(reference["b"], 12), num(reference["objective"], 12))
        table.add_row("relative gap", *("–" if g is None else gap(g) for g in (gaps["a"], gaps["b"])), gap(gaps["objective"]))
    else:
        table.add_row(f"{fit['loss_name']} (exact)", "unavailable", "", "")
    if stats is not None and stats.get("se_a") is not None:
        table.add_row("standard error", num(stats["se_a"], 4), num(stats["se_b"], 4), "")
    if stats is not None and stats.get("ci_a") is not None:
        table.add_row(f"{(stats.get('level') or 0.95) * 100:.4g}% interval", _interval(stats["ci_a"]), _interval(stats["ci_b"]), "")
    table.add_row("start", f"{num(result.start.a)}", f"{num(result.start.b)}  ({result.start.method})", "")
    parameters = ", ".join(f"{'δ' if k == 'huber_delta' else 'τ'} = {num(v)}" for k, v in fit.get("loss_parameters", {}).items())
    lines = [f"loss {fit['loss_name']}{' (' + parameters + ')' if parameters else ''} = {num(result.loss)}\n"]
    if reference is None:
        lines.append(f"no exact reference: {fit.get('reference_reason')}\n")
    else:
        through = reference.get("through")
        pair = f", through ({num(through[0][0])}, {num(through[0][1])}) and ({num(through[1][0])}, {num(through[1][1])})" if through else ""
        flat = "; not the only optimal line (a flat face): compare objectives" if not reference.get("unique", True) else ""
        lines.append(f"exact line by {reference['method']}{pair}{flat}\n")
    if stats is not None:
        extra = f", pseudo-R¹ {num(stats['pseudo_r1'], 6)}" if stats.get("pseudo_r1") is not None else ""
        inside = f", {stats['inside']} of {stats['n']} rows inside ±δ" if stats.get("inside") is not None else ""
        how = f"; intervals: {stats['interval_method']}" if stats.get("interval_method") else ""
        lines.append(f"statistics: {stats['method']}{extra}{inside}{how}\n")
    stopped = {
        "converged": f"converged at step {result.steps} (lr {result.lr:.3g})",
        "step_limit": f"step limit: {result.steps} steps, not converged (lr {result.lr:.3g})",
        "interrupted": f"interrupted after {result.steps} steps",
    }[result.stop_reason]
    ending = f" in {_duration(result.wall_time_s)}\n{data_line}"
    caption = Text.assemble(*lines, (stopped, "green" if result.converged else "yellow"), ending)
    return Group(table, caption)


def _bound(error: float, digits: float) -> str:
    """±error and the significant digits it leaves, e.g. '±4.4e-16 (15.8)'."""
    return f"±{error:.2g} ({digits:.1f})" if error == error and error != float("inf") else "unknown"


def _interval(bounds) -> str:
    return f"[{num(bounds[0], 6)}, {num(bounds[1], 6)}]"


def _t_and_p(t: float | None, p: float | None) -> str:
    if t is None:
        return "–"
    return f"{num(t, 4)} (p {'< 1e-300' if p == 0 else format(p, '.2g')})"


def _diagnostics(stats) -> list[str]:
    """Adjusted R², AIC, BIC, Durbin–Watson, and the most influential rows (Cook's distance) with a note above 4/n."""
    lines = []
    figures = [(name, getattr(stats, key, None)) for name, key in (("adj. R²", "adj_r2"), ("AIC", "aic"), ("BIC", "bic"))]
    figures.append(("Durbin–Watson", getattr(stats, "durbin_watson", None)))
    shown = [f"{name} {num(value, 6)}" for name, value in figures if value is not None]
    if shown:
        lines.append(", ".join(shown))
    influential = getattr(stats, "influential", None) or []
    if influential:
        where = [f"{'line ' + str(row['line']) if row.get('line') else 'row ' + str(row['row'])}" for row in influential[:3]]
        cooks = [row["cooks_distance"] for row in influential[:3]]
        listed = ", ".join(f"{w} ({num(c, 3) if c is not None else '–'})" for w, c in zip(where, cooks))
        lines.append(f"largest Cook's distance: {listed}")
        threshold = stats.influence_threshold
        above = [w for w, c in zip(where, cooks) if c is not None and c > threshold]
        if above:
            lines.append(f"note: {', '.join(above)} above 4/n = {num(threshold, 3)}: influential; check those rows.")
    return lines


def _fit_quality(stats) -> str:
    r2 = "undefined (y is constant)" if stats.r2 is None else num(stats.r2, 6)
    sd = "" if stats.residual_sd is None else f", residual sd {num(stats.residual_sd, 4)}"
    return f"R² {r2}{sd}, corr(a, b) {num(stats.corr_ab, 3)}, n {stats.n}"


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 32) -> str:
    """A loss curve in one line of Unicode blocks, on a log scale."""
    import math

    logs = [math.log10(v) for v in values if v > 0 and math.isfinite(v)]
    if len(logs) < 2:
        return ""
    if len(logs) > width:  # keep the first and last, sample between
        logs = [logs[round(i * (len(logs) - 1) / (width - 1))] for i in range(width)]
    low, high = min(logs), max(logs)
    span = (high - low) or 1.0
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int((v - low) / span * len(BLOCKS)))] for v in logs)


def _duration(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def predict_table(x, predictions, x_name: str, a: float, b: float, limit: int = 20, bounds=None) -> Group:
    """The first `limit` predictions (and their interval, with bounds); the rest are one line away with --format csv."""
    title = f"ŷ = {num(a, 10)}·x + {num(b, 10)}"
    table = Table(title=title, box=box.SIMPLE_HEAD, min_width=len(title) + 4)
    table.add_column(x_name, justify="right")
    table.add_column("prediction", justify="right")
    if bounds:
        table.add_column(f"{bounds['level']:.4g} {bounds['kind']} interval", justify="right")
    for index, (xi, pi) in enumerate(zip(x[:limit], predictions[:limit])):
        cells = [num(float(xi), 10), num(float(pi), 12)]
        if bounds:
            cells.append(f"[{num(float(bounds['lower'][index]), 8)}, {num(float(bounds['upper'][index]), 8)}]")
        table.add_row(*cells)
    more = len(x) - limit
    note = Text(f"… {more} more rows: use --format csv for all of them." if more > 0 else "")
    return Group(table, note) if more > 0 else Group(table)


class ProgressView:
    """A progress bar on stderr for runs that take more than a moment.

    It polls the training object from its own thread at a bounded rate, so the loop pays
    nothing for it: no callback, no rendering, no device sync per step.
    """

    def __init__(self, training, enabled: bool, delay_s: float = 0.5, refresh_hz: float = 8.0) -> None:
        import threading

        self.training = training
        self.enabled = enabled
        self.delay_s = delay_s
        self.period_s = 1.0 / refresh_hz
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressView:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        if self._done.wait(self.delay_s):
            return  # finished before anyone waited: draw nothing
        training = self.training
        columns = (
            TextColumn("step {task.completed:>7.0f}/{task.total:.0f}"),
            BarColumn(),
            TextColumn("{task.fields[rate]} steps/s"),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("≤"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console(stderr=True), transient=True, auto_refresh=False) as progress:
            task = progress.add_task("train", total=training.config.steps, rate="…", loss="…")
            while not self._done.wait(self.period_s):
                elapsed = progress.tasks[0].elapsed or 1e-9
                loss = progress_loss(training.step, training.last_loss)
                progress.update(task, completed=training.step, rate=f"{training.step / elapsed:,.0f}", loss=loss)
                progress.refresh()


def progress_loss(step: int, loss: float) -> str:
    """The progress bar's loss: '…' until the first step has one (a later NaN is shown: the run is failing)."""
    return "…" if step == 0 or (step == 1 and loss != loss) else num(loss)


def progress_wanted(quiet: bool) -> bool:
    """Animation only for a person at a terminal: stderr is a TTY, TERM is not dumb, and not --quiet."""
    import os

    return not quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def graph_tree(node, title: str):
    """The computational graph as a tree: output at the root, each node with its value and gradient."""
    from rich.tree import Tree

    def label(n) -> str:
        name = f"[bold]{n.variable}[/] [dim]{n.name}[/]" if n.variable else f"[cyan]{n.name}[/]"
        parts = [f"value {num(n.value)}" if n.value is not None else "", f"grad {num(n.grad)}" if n.grad is not None else ""]
        return name + "  " + "  ".join(p for p in parts if p)

    root = Tree(f"{title}\n{label(node)}", guide_style="dim")
    pending = [(root, child) for child in node.inputs]
    while pending:  # depth first, without recursion
        parent, child = pending.pop(0)
        branch = parent.add(label(child))
        pending[0:0] = [(branch, grandchild) for grandchild in child.inputs]
    return root


def partials_table(gradients: dict[str, float], value: float, output_name: str = "s") -> Table:
    table = Table(title=f"{output_name} = {num(value)}", box=box.SIMPLE_HEAD)
    table.add_column("partial derivative")
    table.add_column("value", justify="right")
    for name, grad in gradients.items():
        table.add_row(f"∂{output_name}/∂{name}", num(grad))
    return table


def explain_text(lines: list[str]) -> Text:
    return Text("\n".join(lines) + "\n")


def check_table(check) -> Group:
    """Three gradients side by side and whether they agree within the tolerance."""
    table = Table(title="gradient check", box=box.SIMPLE_HEAD)
    table.add_column("method")
    variables = list(next(iter(check.gradients.values())))
    for name in variables:
        table.add_column(f"∂/∂{name}", justify="right")
    for method, values in check.gradients.items():
        table.add_row(method, *(num(values[v], 12) for v in variables))
    verdict = check.verdict
    style = "green" if check.passed else "bold red"
    detail = check.unchecked or f"largest difference {gap(check.largest_difference)} (allowed {gap(check.allowed)})"
    caption = Text.assemble((f"{verdict}: ", style), detail)
    return Group(table, caption, *(Text(note) for note in getattr(check, "notes", ())))


def eval_table(out: dict) -> Group:
    """`linfit eval`: the model's errors on the file, one row each, and what to make of R²."""
    data = out["data"]
    weighted = data.get("w") is not None  # every figure a weighted mean: the table says so, as the JSON's data.w does
    title = f"{out['model']} on {data['source']}" + (f", rows weighted by column {data['w']!r}" if weighted else "")
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("")
    table.add_column("value", justify="right")
    r2 = out["r2"]
    rows = [
        (f"loss ({out['loss_name']})", num(out["loss"], 8)),
        ("rows (weight > 0)" if weighted else "rows", str(out["n"])),
        ("MSE", num(out["mse"], 8)),
        ("RMSE", num(out["rmse"], 8)),
        ("MAE", num(out["mae"], 8)),
        ("largest |residual|", num(out["max_abs_residual"], 8)),
        ("bias (mean of y − ŷ)", num(out["bias"], 6)),
        ("R² (about this file's mean)", "undefined" if r2 is None else num(r2, 8)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    notes = [Text(f"note: {note}", style="yellow") for note in out["notes"]]
    return Group(table, *notes)
