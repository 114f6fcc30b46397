"""What each command does, once its command line is parsed: read, train, show, write.

cli.py parses the command line and calls these; they import neither typer nor rich (report.py is
imported only where a table is shown), and they raise linfit.errors for every refusal, which the
command line turns into one line and an exit code. A command returns its exit code when it ends
without an error but not with 0 (an interrupted run).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from linfit.errors import DataError, DivergedError, FlagError


def _config(path: Optional[Path], arguments: dict[str, Any]):
    """The command's configuration: defaults < file < the flags among its arguments (named as the keys)."""
    from linfit.config import KEYS, resolve_config

    return resolve_config(path, {key: value for key, value in arguments.items() if key in KEYS})


def _notice(quiet: bool, message: str) -> None:
    """A note or warning for people, on stderr; --quiet silences it."""
    if not quiet:
        _say(f"linfit: {message}")


def _say(line: str) -> None:
    """One line on stderr, flushed."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def train(
    data: str,
    config_path: Optional[Path],
    settings: dict[str, Any],
    *,
    sep: Optional[str] = None,
    drop_na: bool = False,
    chunk_rows: int = 0,
    cache_path: Optional[Path] = None,
    batch_size: int = 0,
    model_path: Optional[Path] = None,
    history_path: Optional[Path] = None,
    init_from: Optional[str] = None,
    plot_path: Optional[Path] = None,
    report_path: Optional[Path] = None,
    strict: bool = False,
    quiet: bool = False,
    output_format: str = "table",
) -> int:
    """`linfit train`: read the data, train, show the fit, write the outputs; the exit code of a run that stopped."""
    config = _config(config_path, settings)
    from linfit.files import plan_outputs
    from linfit.read import expand

    files = [data] if data == "-" or os.path.exists(data) else expand(data)
    data_files = {"data file" if len(files) == 1 else f"data file {name}": name for name in files}
    outputs = plan_outputs(  # before any work: a run must not end in an unwritable file, or destroy an input
        {"--output": model_path, "--history": history_path, "--plot": plot_path, "--report": report_path, "--cache": cache_path},
        {**data_files, "--config file": config_path, "--init-from model": init_from},
    )
    if plot_path is not None:
        from linfit.plot import plot_format, require_matplotlib

        plot_format(plot_path)
        require_matplotlib()
    if plot_path is not None and chunk_rows:
        raise FlagError("cannot draw data that is streamed from disk; drop --plot or --chunk-rows.", "--plot")
    for flag, path in (("--plot", plot_path), ("--report", report_path)):
        if path is not None and config.loss in ("huber", "absolute", "quantile"):  # their surfaces have creases, not moments
            raise FlagError(f"{flag} draws the loss surface of the squared losses only; the {config.loss} loss has none yet.", flag)
    from linfit.model_file import load_model
    from linfit.pipeline import prepare

    start = load_model(init_from).start() if init_from else None
    from linfit.distributed import join, leave
    from linfit.train import configure_threads, resolve_device

    chosen = resolve_device(config.device, "--device" if settings.get("device") is not None else f"{config_path}: key 'device'")
    config = config.model_copy(update={"device": chosen.type})  # 'auto' is recorded as the device it chose
    group = join(chosen.type)
    quiet = quiet or (group is not None and not group.is_main)  # only rank 0 speaks
    interrupt = StopOnInterrupt()
    sparkline = output_format == "table" and sys.stdout.isatty()
    try:
        prepared = prepare(
            data,
            config,
            sep=sep,
            drop_na=drop_na,
            chunk_rows=chunk_rows,
            batch_size=batch_size,
            start=start,
            stop_requested=interrupt.requested,
            trace=plot_path is not None or sparkline,
            group=group,
            need_samples=plot_path is not None or report_path is not None,
            cache=cache_path,
        )
        for warning in prepared.warnings + prepared.training.notes:
            _notice(quiet, warning)
        threads = configure_threads(config.threads, prepared.moments.n)
        if config.threads > threads:
            _notice(quiet, f"note: --threads {config.threads} is more than the {threads} cores available; using {threads}.")
        training = prepared.training
        silent = group is not None and not group.is_main
        retry = _command_with(data, config_path, settings, sep=sep, drop_na=drop_na, chunk_rows=chunk_rows, batch_size=batch_size)
        history: list = []  # kept by _run as it goes: a diverging run's steps still make its report
        with interrupt:  # from the first step until the results are written, a signal stops after the step
            try:
                _run(training, "none" if silent else output_format, quiet, retry, history)
            except DivergedError:
                if report_path is not None and history and not silent:
                    _write_diverged_report(outputs, training, history, prepared, config, (sep, chunk_rows, batch_size))
                    _notice(quiet, f"the report of the diverging run, up to step {history[-1].step}, is in {report_path}.")
                raise
            if group is not None and not group.is_main:
                return 0  # the other processes trained the same line; rank 0 reports and writes it
            _finish_training(
                training, history, prepared, config, outputs, init_from, output_format, strict, quiet, (sep, chunk_rows, batch_size)
            )
    finally:
        if group is not None:
            leave()
    if interrupt.stop:
        _say(f"linfit: interrupted after step {training.result.steps}.")
        return interrupt.exit_code()
    return 0


def _finish_training(
    training, history, prepared, config, outputs, init_from, output_format: str, strict: bool, quiet: bool, reading
) -> None:
    """Show the fit, then write the outputs — unless --strict fails the run, which leaves every file as it was."""
    result = training.result
    from linfit.output import train_json

    fit = train_json(result, history, prepared.ols, config, prepared.data_info, prepared.stats)
    if training.config.loss in ("huber", "absolute", "quantile"):  # the config as run (huber's δ), the exact reference
        from linfit.piecewise import piecewise_json

        config = training.config
        piecewise_json(fit, prepared, config)
    fit["init"]["from"] = init_from
    _show_fit(fit, result, history, prepared, config, output_format, training.trace)
    failed = strict and not result.converged and result.stop_reason != "interrupted"
    if not failed:
        _save(fit, result, prepared, outputs, history, init_from, training.trace, config, reading)
    if result.converged or result.stop_reason == "interrupted":
        return
    if failed:
        from linfit.errors import NotConvergedError

        written = " No output file was written." if outputs.outputs else ""
        what, hint = _not_converged(result, config)
        raise NotConvergedError(f"{what}.{written}", hint)
    what, hint = _not_converged(result, config)
    _notice(quiet, f"warning: {what}; {hint[:1].lower()}{hint[1:]}")


def _not_converged(result, config) -> tuple[str, str]:
    """What stopped short, and the flag that gives it room: --epochs for mini-batch runs, else --steps."""
    from linfit.output import stopping_target

    target = stopping_target(config.tol, result.epochs)
    if result.epochs:
        epochs = f"{result.epochs} epoch{'s' if result.epochs != 1 else ''}"
        return f"not converged after {epochs} ({result.steps} steps; {target})", "Raise --epochs, or loosen --tol."
    return f"not converged after {result.steps} steps ({target})", "Raise --steps, or loosen --tol."


def _report_html(fit, prepared, config, sep, chunk_rows: int, batch_size: int = 0) -> str:
    """The HTML report of this run: the scatter from the rows in memory, or a sample taken while streaming."""
    from linfit.page import render, reservoir_sample, run_payload, scatter_sample

    if prepared.samples is not None:
        samples = scatter_sample(prepared.samples.x, prepared.samples.y, config.seed)
    elif chunk_rows:
        from linfit.data import iter_chunks

        chunks = (chunk for source in prepared.sources for chunk in iter_chunks(source, config.x_col, config.y_col, sep, chunk_rows))
        samples = reservoir_sample(chunks, config.seed)  # one more pass over the file
    else:
        samples = None
    return render([run_payload(fit, prepared.moments, samples, prepared.sha256(), batch_size=batch_size)])


def _write_diverged_report(outputs, training, history: list, prepared, config, reading) -> None:
    """A diverging run's report: its steps up to the last one logged, to see the blow-up (the model is not saved)."""
    from linfit.output import train_json
    from linfit.train import TrainResult

    last = history[-1]
    result = TrainResult(
        a=last.a, b=last.b, loss=last.loss, steps=last.step, converged=False, stop_reason="diverged", start=training.start, wall_time_s=None
    )
    fit = train_json(result, history, prepared.ols, config, prepared.data_info, prepared.stats)
    outputs.write("--report", _report_html(fit, prepared, config, *reading))


def _run(training, output_format: str, quiet: bool, retry=None, history: list | None = None) -> list:
    """Drive the loop; stream jsonl/csv records as they come; show progress on a terminal.

    If training diverges, the table shows the steps that led there, and the error names a command
    that converges (`retry` turns the core's advice, a dict of config changes, into one).
    """
    from contextlib import nullcontext

    from linfit.output import STEP_FIELDS, csv_row, dumps, emit, step_json

    if output_format == "csv":
        emit(sys.stdout, ",".join(STEP_FIELDS) + "\n")
    history = [] if history is None else history  # the caller's list keeps the steps if the run diverges
    progress = nullcontext()
    if not quiet and sys.stderr.isatty():  # a progress bar only for a person at a terminal: rich only then
        from linfit import report

        progress = report.ProgressView(training, enabled=report.progress_wanted(quiet))
    try:
        with progress:
            for record in training:
                history.append(record)
                if output_format == "jsonl":
                    emit(sys.stdout, dumps(step_json(record)) + "\n")
                elif output_format == "csv":
                    emit(sys.stdout, csv_row(record))
    except DivergedError as error:
        if output_format == "table" and history:
            from linfit import report

            report.console().print(report.history_table(history, training.config.loss))
        advice = getattr(error, "advice", None)
        if retry is None or advice is None:
            raise
        raise DivergedError(error.message, f"{error.why} Run `{retry(advice)}`") from None
    return history


def _command_with(data: str, config_path, arguments: dict, **options):
    """A function from config changes ({key: value}, None dropping the flag) to a complete `linfit train`
    command: the data, --config, the flags given, and the options that decide what is trained."""
    import shlex

    from linfit.config import KEYS, flag_name

    given = {key: value for key, value in arguments.items() if key in KEYS and value is not None}

    def command(changes: dict) -> str:
        flags = {**given, **changes}
        words = ["linfit", "train", data] + (["--config", str(config_path)] if config_path is not None else [])
        for key, value in flags.items():
            if value is None or (value is True and key == "standardize" and config_path is None):
                continue
            if isinstance(value, bool):
                words.append(flag_name(key) if value else "--no-" + key.replace("_", "-"))
            elif isinstance(value, (tuple, list)):
                words += [flag_name(key), *(format(v, "g") for v in value)]
            else:
                words += [flag_name(key), format(value, "g") if isinstance(value, float) else str(value)]
        for name, value in options.items():
            if value not in (None, False, 0):
                words += [flag_name(name)] + ([] if value is True else [str(value)])
        return " ".join(shlex.quote(word) for word in words)

    return command


def _show_fit(fit, result, history, prepared, config, output_format: str, trace) -> None:
    from linfit.output import dumps, emit

    if output_format == "json":
        emit(sys.stdout, dumps(fit) + "\n")
    elif output_format == "jsonl":
        from dataclasses import asdict

        # the moments let `linfit report` draw the loss surface without the data
        emit(
            sys.stdout,
            dumps({"record": "result", **{k: v for k, v in fit.items() if k != "history"}, "moments": asdict(prepared.moments)}) + "\n",
        )
    elif output_format == "table":
        from linfit import report

        out = report.console()
        out.print(report.history_table(history, config.loss))
        info = prepared.data_info
        line = f"data {info['source']}: {info['rows']} rows, x = '{info['x']}', y = '{info['y']}'"
        curve = [point[1] for point in trace.points] if trace is not None and sys.stdout.isatty() else []
        if "loss_stats" in fit:  # huber, absolute, quantile: held against their own exact line
            out.print(report.piecewise_summary(result, fit, line))
        else:
            out.print(report.train_summary(result, prepared.ols, config.loss, line, config.tol, prepared.stats, curve))


def _save(fit, result, prepared, outputs, history, init_from, trace, config, reading) -> None:
    """Render every output first, then write them together (linfit.files): all of them, or none replaced."""
    contents: dict[str, str | bytes] = {}
    if "--output" in outputs:
        from linfit.model_file import model_record, model_text

        contents["--output"] = model_text(model_record(fit, prepared.sha256(), init_from))
    if "--history" in outputs:
        from linfit.output import history_csv

        contents["--history"] = history_csv(history)
    if "--plot" in outputs:
        from linfit.plot import render_fit

        contents["--plot"] = render_fit(outputs.path("--plot"), prepared.samples, result, prepared.ols, trace, config)
    if "--report" in outputs:
        contents["--report"] = _report_html(fit, prepared, config, *reading)
    outputs.commit(contents)


def StopOnInterrupt():
    """The first SIGINT or SIGTERM asks the loop to stop after the current step; a second one stops at once."""
    from linfit.signals import Deferred

    return Deferred()


def make_report(
    streams: list[str],
    output: Path,
    compare: Optional[list[str]] = None,
    data: Optional[str] = None,
    sep: Optional[str] = None,
    title: Optional[str] = None,
) -> None:
    """`linfit report`: the HTML page of saved --format jsonl runs, without training again."""
    from linfit.files import plan_outputs
    from linfit.page import read_jsonl, render, run_payload, scatter_sample

    inputs = {f"run {name}": name for name in list(streams) + list(compare or [])}
    outputs = plan_outputs({"--output": output}, {**inputs, "--data file": data})
    runs, loaded = [], {}
    for name in list(streams) + list(compare or []):
        text = _read_text(name)
        fit, moments = read_jsonl(text.splitlines(), name)
        samples = None
        if data is not None:
            from linfit.data import load_samples
            from linfit.page import require_same_rows

            columns = (fit["data"].get("x", "x"), fit["data"].get("y", "y"))
            if columns not in loaded:
                loaded[columns] = load_samples(data, *columns, drop_na=bool(fit["data"].get("dropped")), sep=sep)
            rows = loaded[columns]
            require_same_rows(moments, rows.x, rows.y, data, name)
            samples = scatter_sample(rows.x, rows.y, (fit.get("config") or {}).get("seed", 0))
        runs.append(run_payload(fit, moments, samples))
    outputs.write("--output", render(runs, title))


def _read_text(name: str) -> str:
    """A saved stream's text: UTF-8, with or without a BOM, or UTF-16 with one (what PowerShell's `>` writes)."""
    if name == "-":
        return sys.stdin.read()
    try:
        raw = Path(name).read_bytes()
        return raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{name}: cannot read ({getattr(exc, 'strerror', None) or exc}).", "Give a file written by linfit train --format jsonl."
        ) from None


def predict(
    model: str, data: Optional[str], x: Optional[list[float]], x_col: Optional[str], sep: Optional[str], quiet: bool, output_format: str
) -> None:
    """`linfit predict`: a·x + b with a saved model, for the given values (no numpy, no torch) or a file's x column."""
    from linfit.model_file import load_model

    saved = load_model(model)
    if x:  # a few numbers: no numpy, no torch, no pandas, so that this is instant
        from array import array

        values, x_name, frame = array("d", x), "x", None
        predictions = array("d", (saved.a * value + saved.b for value in values))
        _show_predictions(saved, values, predictions, x_name, frame, output_format)
        return
    import numpy as np

    from linfit.read import Reading

    wanted = x_col if x_col is not None else saved.record.get("data", {}).get("x", "x")
    reading = Reading(data, wanted, None, sep=sep, keep_missing=True, keep_rows=output_format == "csv")
    values = np.concatenate([block for block, _ in reading])
    x_name = reading.facts.x_name
    frame = (reading.header, reading.rows) if output_format == "csv" else None
    missing = int(np.isnan(values).sum())
    if missing:
        _notice(quiet, f"warning: {missing} rows have no x; their prediction is empty.")
    predictions = saved.a * values + saved.b
    _show_predictions(saved, values, predictions, x_name, frame, output_format)


def _show_predictions(saved, values, predictions, x_name, frame, output_format: str) -> None:
    from linfit.output import dumps, emit, or_null, predictions_csv, predictions_json

    if output_format == "json":
        emit(sys.stdout, dumps(predictions_json(saved, values, predictions, x_name)) + "\n")
    elif output_format == "jsonl":
        for xi, pi in zip(values.tolist(), predictions.tolist()):
            emit(sys.stdout, dumps({x_name: or_null(xi), "prediction": or_null(pi)}) + "\n")
    elif output_format == "csv":
        emit(sys.stdout, predictions_csv(values, predictions, x_name, frame))
    else:
        from linfit import report

        report.console().print(report.predict_table(values, predictions, x_name, saved.a, saved.b))


def grad(
    x: list[float],
    y: list[float],
    a: float,
    b: float,
    loss: str,
    dtype: str,
    graph: bool,
    explain: bool,
    lr: Optional[float],
    check: bool,
    check_tol: float,
    output_format: str,
    delta: Optional[float] = None,
    tau: float = 0.5,
) -> None:
    """`linfit grad`: the loss and its gradient at the points, by autograd and by hand, as the format asks."""
    from linfit.gradient import check_point_gradient, point_gradient
    from linfit.gradient import explain as worked_step
    from linfit.output import dumps, emit, grad_csv, grad_json

    result = point_gradient(x, y, a=a, b=b, loss=loss, dtype=dtype, with_graph=graph or output_format == "dot", delta=delta, tau=tau)
    checked = check_point_gradient(result, check_tol) if check else None
    steps = worked_step(result, lr) if explain or lr is not None else None
    if output_format in ("json", "jsonl"):
        emit(sys.stdout, dumps(grad_json(result, checked, steps, lr)) + "\n")
    elif output_format == "csv":
        emit(sys.stdout, grad_csv(result))
    elif output_format == "dot":
        from linfit.graph import to_dot

        emit(sys.stdout, to_dot(result.graph, title=f"{loss} of a·x + b"))
    else:
        from linfit import report

        out = report.console()
        out.print(report.grad_table(result))
        if steps:
            out.print(report.explain_text(steps))
        if graph:
            out.print(report.graph_tree(result.graph, f"graph of L = {loss}"))
        if checked:
            out.print(report.check_table(checked))
    _require_agreement(checked)


def _require_agreement(checked) -> None:
    if checked is not None and not checked.passed:
        from linfit.errors import CheckFailedError

        raise CheckFailedError(
            f"gradients disagree by {checked.largest_difference:.3g}, more than the {checked.allowed:.3g} allowed.",
            "Raise --check-tol if the values are extreme.",
        )


def graph(expression: str, var: Optional[list[str]], check: bool, check_tol: float, output_format: str) -> None:
    """`linfit graph`: the expression's value, graph and partial derivatives, as the format asks."""
    from linfit.expression import parse_assignment
    from linfit.gradient import check_expression_gradient, expression_gradient

    values = dict(parse_assignment(item) for item in var or [])
    result = expression_gradient(expression, values)
    node, value, partials = result.graph, result.value, result.partials
    checked = check_expression_gradient(result, check_tol) if check else None
    from linfit.output import dumps, emit, expression_json

    if output_format in ("json", "jsonl"):
        emit(sys.stdout, dumps(expression_json(expression, value, partials, node, checked)) + "\n")
    elif output_format == "csv":
        from linfit.output import to_csv

        rows = [{"variable": name, "value": values[name], "grad": grad} for name, grad in partials.items()]
        emit(sys.stdout, to_csv(rows, ("variable", "value", "grad")))
    elif output_format == "dot":
        from linfit.graph import to_dot

        emit(sys.stdout, to_dot(node, title=expression))
    else:
        from linfit import report

        out = report.console()
        out.print(report.graph_tree(node, f"s = {expression}"))
        out.print(report.partials_table(partials, value))
        if checked:
            out.print(report.check_table(checked))
    _require_agreement(checked)


def show_config(config_path: Optional[Path], settings: dict[str, Any], commented: bool) -> None:
    """`linfit config`: the effective configuration as YAML, which --config reads back."""
    from linfit.config import to_commented_yaml, to_yaml
    from linfit.output import emit

    config = _config(config_path, settings)
    emit(sys.stdout, to_commented_yaml(config) if commented else to_yaml(config))
