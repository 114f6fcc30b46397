"""What each command does, once its command line is parsed: read, train, hand the results to a view, write.

cli.py parses the command line into one frozen request per command and calls these with it; they import
neither typer nor rich (the table view is imported only where a table is shown), and they raise
linfit.errors for every refusal, which the command line turns into one line and an exit code. What is
printed is the chosen view's (linfit.views): no command knows the formats. A command returns its exit
code when it ends without an error but not with 0 (an interrupted run).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from linfit.errors import DataError, DivergedError, FlagError, UsageError

if TYPE_CHECKING:  # the requests are declared with the command line's options
    from linfit.cli import ConfigRequest, EvalRequest, GradRequest, GraphRequest, PredictRequest, ReportRequest, TrainRequest


def _config(path: Optional[Path], arguments: dict[str, Any], quiet: bool = False):
    """The command's configuration: defaults < file < the flags among its arguments (named as the keys)."""
    from linfit.config import KEYS, resolve_config

    notes: list[str] = []
    config = resolve_config(path, {key: value for key, value in arguments.items() if key in KEYS}, notes)
    quiet = quiet or os.environ.get("RANK", "0") != "0"  # under torchrun only rank 0 speaks
    for note in notes:  # a loss's own setting under another loss: said, not silently kept in the record
        _notice(quiet, note)
    return config


def _notice(quiet: bool, message: str) -> None:
    """A note or warning for people, on stderr; --quiet silences it."""
    if not quiet:
        _say(f"linfit: {message}")


def _say(line: str) -> None:
    """One line on stderr, flushed."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def train(request: TrainRequest) -> int:
    """`linfit train`: read the data, train, show the fit, write the outputs; the exit code of a run that stopped."""
    from linfit.views import view

    data, config_path, settings = request.data, request.config_path, request.settings
    model_path, history_path, report_path, plot_path = request.model_path, request.history_path, request.report_path, request.plot_path
    cache_path, init_from, quiet = request.cache_path, request.init_from, request.quiet
    config = _config(config_path, settings, request.quiet)
    sep, drop_na, chunk_rows, batch_size = config.sep, config.drop_na, config.chunk_rows, config.batch_size
    valid_path = request.valid_path
    _check_held_out(config.holdout, valid_path, chunk_rows, settings, config_path)
    if valid_path == "-" and data == "-":
        raise FlagError("--valid - and DATA - both name stdin: it can be read once; save one of them to a file.", "--valid")
    shown = view(request.output_format)
    from linfit.files import plan_outputs
    from linfit.read import expand

    files = expand(data)  # once: prepare reads these
    data_files = {"data file" if len(files) == 1 else f"data file {name}": name for name in files}
    outputs = plan_outputs(  # before any work: a run must not end in an unwritable file, or destroy an input
        {"--output": model_path, "--history": history_path, "--plot": plot_path, "--report": report_path, "--cache": cache_path},
        {**data_files, "--config file": config_path, "--init-from model": init_from, "--valid file": valid_path},
    )
    if plot_path is not None:
        from linfit.plot import plot_format, require_matplotlib

        plot_format(plot_path)
        require_matplotlib()
    if plot_path is not None and chunk_rows:
        raise FlagError("cannot draw data that is streamed from disk; drop --plot or --chunk-rows.", "--plot")
    from linfit.model_file import load_model
    from linfit.pipeline import prepare

    start = load_model(init_from).start() if init_from else None
    from linfit.device import configure_threads, resolve_device
    from linfit.distributed import join, leave

    chosen = resolve_device(config.device, "--device" if settings.get("device") is not None else f"{config_path}: key 'device'")
    config = config.model_copy(update={"device": chosen.type})  # 'auto' is recorded as the device it chose
    group = join(chosen.type)
    quiet = quiet or (group is not None and not group.is_main)  # only rank 0 speaks
    interrupt = StopOnInterrupt()
    sparkline = getattr(shown, "wants_trace", lambda: False)()
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
            sources=files,
        )
        if valid_path is not None:
            prepared.held = _read_valid(valid_path, config, sep, drop_na, group)
            if prepared.held is not None:
                prepared.held.kind = getattr(prepared.training, "kind", None)  # huber's δ, quantile's τ, as the run settled them
        for warning in prepared.warnings + prepared.training.notes:
            _notice(quiet, warning)
        _restate_stats(prepared, config, quiet)
        threads = configure_threads(config.threads, prepared.moments.n)
        if config.threads > threads:
            _notice(quiet, f"note: --threads {config.threads} is more than the {threads} cores available; using {threads}.")
        training = prepared.training
        silent = group is not None and not group.is_main
        retry = _command_with(data, config_path, settings)
        history: list = []  # kept by _run as it goes: a diverging run's steps still make its report
        with interrupt:  # from the first step until the results are written, a signal stops after the step
            try:
                observe = prepared.held.observe if prepared.held is not None else None
                _run(training, None if silent else shown, quiet, retry, history, observe)
            except DivergedError:
                if report_path is not None and history and not silent:
                    _write_diverged_report(outputs, training, history, prepared, config, (sep, chunk_rows, batch_size))
                    _notice(quiet, f"the report of the diverging run, up to step {history[-1].step}, is in {report_path}.")
                raise
            if group is not None and not group.is_main:
                return 0  # the other processes trained the same line; rank 0 reports and writes it
            _finish_training(
                training, history, prepared, config, outputs, init_from, shown, request.strict, quiet, (sep, chunk_rows, batch_size)
            )
    finally:
        if group is not None:
            leave()
    if interrupt.stop:
        _say(f"linfit: interrupted after step {training.result.steps}.")
        return interrupt.exit_code()
    return 0


def _check_held_out(holdout: float, valid_path: Optional[str], chunk_rows: int, settings=None, config_path=None) -> None:
    def named(key: str) -> str:  # the flag, or the configuration file's key where the value came from there
        given = settings is None or config_path is None or settings.get(key) is not None
        return f"--{key.replace('_', '-')}" if given else f"{config_path}: key '{key}'"

    def refuse(message: str, hint: str | None = None):
        if named("holdout").startswith("--"):
            raise FlagError(f"{message} {hint}" if hint else message, "--holdout")
        raise UsageError(message, hint)

    if holdout and valid_path is not None:
        refuse(f"{named('holdout')} and --valid both name held-out rows: give one of them.")
    if holdout and chunk_rows:
        refuse(
            f"{named('holdout')} sets rows aside in memory; a run with {named('chunk_rows')} streams them.",
            "Use --valid FILE (a separate file) instead.",
        )


def _read_valid(path, config, sep, drop_na, group):
    """train --valid's rows, read by the process that reports (rank 0 under torchrun: the others train alone and
    show nothing); a file it cannot read stops every process with the same error."""
    from linfit.errors import LinfitError

    held = failure = None
    if group is None or group.is_main:
        try:
            held = _weighted_valid(path, config, sep, drop_na)
        except LinfitError as error:
            if group is None:
                raise
            failure = error
    if group is not None:
        if failure is not None:
            group.fail(failure)  # the others, waiting below, raise it too
        group.gathered(None)
    return held


def _weighted_valid(path, config, sep, drop_na):
    """--valid's rows; a weighted run needs the file's own weight column, and says so by name where it is missing."""
    from linfit.holdout import read_valid
    from linfit.read import MissingColumnError

    try:
        return read_valid(path, config.x_col, config.y_col, sep, drop_na, config.loss, config.weight_col)
    except MissingColumnError as missing:
        if missing.role != "weight":
            raise
        raise DataError(
            f"{path}: no column {config.weight_col!r} for weights; the columns are {missing.columns}. The run's rows are weighted "
            "(--weight-col), so the --valid file's held-out figures are weighted by its own column of that name.",
            "Add the column to the --valid file (1 on every row weighs them equally).",
        ) from None


def _restate_stats(prepared, config, quiet: bool) -> None:
    """The run's statistics at config.level, with config.se, for its loss; a streamed run's diagnostics by one more pass."""
    if prepared.ols is None:
        return
    from linfit.read import PARQUET, Reading, is_regular_file
    from linfit.stats import for_run

    sources = prepared.sources
    parquet = any(extension in sources[0].lower() for extension in PARQUET)
    single_text = len(sources) == 1 and not parquet and prepared.lines_are_rows  # then row r is on line r + 1

    def blocks():  # one more pass over the files (a streamed run reads files, never stdin), in chunks of --chunk-rows
        from linfit.data import rechunked

        source = sources[0] if len(sources) == 1 else prepared.data_info["source"]
        reading = Reading(source, config.x_col, config.y_col, sep=config.sep, drop_na=config.drop_na, paths=sources)
        return rechunked(reading, config.chunk_rows or 1 << 20)

    # a run that kept no rows (streamed, or a big float32 file read lean) gets its diagnostics by one more pass
    rereadable = all(is_regular_file(path) for path in sources) and "processes" not in prepared.data_info
    again = prepared.rows or (blocks if prepared.samples is None and rereadable else None)  # the pass cache, else the files
    if config.weight_col is not None:  # weighted least squares: its statistics from the weighted moments, no unweighted diagnostics
        again = None
    first_line = 2 if single_text else None
    stats, note = for_run(
        prepared.stats, config.loss, prepared.ols.a, prepared.ols.b, config.level, config.se, first_line, prepared.moments, again
    )
    held = prepared.held
    if stats is not None and stats.influential and held is not None and held.kept_rows is not None:
        from dataclasses import replace

        from linfit.residuals import renumber

        stats = replace(stats, influential=renumber(stats.influential, held.kept_rows, first_line))
    if stats is not None and stats.influential and not parquet:
        from dataclasses import replace

        stats = replace(stats, influential=_name_lines(stats.influential, prepared, config))
    prepared.stats = stats
    if note:
        _notice(quiet, note)


def _finish_training(training, history, prepared, config, outputs, init_from, shown, strict: bool, quiet: bool, reading) -> None:
    """Show the fit, then write the outputs — unless --strict fails the run, which leaves every file as it was."""
    result = training.result
    from linfit.output import train_json, versions

    fit = train_json(result, history, prepared.ols, config, prepared.data_info, prepared.stats)
    if training.config.loss in ("huber", "absolute", "quantile"):  # the config as run (huber's δ), the exact reference
        from linfit.piecewise import piecewise_json

        config = training.config
        piecewise_json(fit, prepared, config)
    fit["init"]["from"] = init_from
    if result.start.method == "model":  # the start used, as configuration keys: `train DATA --config <this config>` repeats the run
        fit["config"] = {**fit["config"], "init": "values", "init_a": result.start.a, "init_b": result.start.b}
    if prepared.held is not None:  # --holdout/--valid: the held-out loss per logged step, and the final figures
        for entry in fit["history"]:
            entry["valid_loss"] = prepared.held.losses.get(entry["step"])
        fit["valid"] = prepared.held.metrics(result.a, result.b)
    fit["data"] = {**fit["data"], "sha256": prepared.sha256()}  # as the model file records them
    fit["versions"] = versions()
    shown.train_result(fit, Run(result, history, prepared, config, training.trace))
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
    """The HTML report of this run: the scatter is the sample the one pass over the data took (see pipeline.prepare)."""
    from linfit.page import render, run_payload

    payload = run_payload(fit, prepared.moments, prepared.scatter, prepared.sha256(), batch_size=batch_size)
    grid = _surface_grid(fit, prepared)
    if grid is not None:  # a piecewise loss: its true surface over every row, which the page draws
        payload["surface_grid"] = grid
    diagnostics = _diagnostics_payload(prepared, config)
    if diagnostics is not None:  # the page draws the residual panels when this key is present
        payload["diagnostics"] = diagnostics
    return render([payload])


SURFACE_GRID_POINTS = 41  # a side of the report's grid of the true loss


def _surface_grid(fit, prepared) -> dict | None:
    """{a, b, loss} of a piecewise loss: the true loss over every row (one pass, rows in memory or the pass
    cache's) on a grid that holds the path, the fit and the exact line; None for the squared losses (the
    page draws those from the moments) or where the run kept no rows in float64."""
    from linfit.losses import PIECEWISE

    if fit.get("loss_name") not in PIECEWISE:
        return None
    samples = prepared.samples
    if samples is not None:
        blocks = lambda: [(samples.x, samples.y) if samples.w is None else (samples.x, samples.y, samples.w)]  # noqa: E731
    elif prepared.rows is not None:
        blocks = prepared.rows
    else:
        return None
    return _loss_grid_of(fit, blocks, prepared.moments.n)


def _loss_grid_of(fit, blocks, rows: int) -> dict:
    """The true loss of a piecewise run over the rows `blocks()` yields, on a grid holding its path, fit and reference."""
    import numpy as np

    from linfit.losses import loss_for, loss_grid

    config = fit.get("config") or {}
    points = [(r["a"], r["b"]) for r in fit.get("history") or []] + [(fit["a"], fit["b"])]
    if fit.get("reference"):
        points.append((fit["reference"]["a"], fit["reference"]["b"]))
    axes = []
    for values in zip(*points):
        low, high = min(values), max(values)
        half = max((high - low) / 2 * 1.4, 1e-3 * max(1.0, abs(high), abs(low)))
        middle = (low + high) / 2
        axes.append(np.linspace(middle - half, middle + half, SURFACE_GRID_POINTS))
    kind = loss_for(fit["loss_name"], delta=config.get("huber_delta"), tau=config.get("quantile"))
    surface = loss_grid(kind, blocks(), axes[0], axes[1])
    return {"a": axes[0].tolist(), "b": axes[1].tolist(), "loss": surface.tolist(), "rows": rows}


def _diagnostics_payload(prepared, config):
    """residuals.diagnostics_payload of the rows in memory (bounded in size), or None."""
    from linfit.stats import valid_for

    if prepared.samples is None or prepared.ols is None or not valid_for(config.loss):
        return None
    from linfit.residuals import diagnostics_payload

    samples = prepared.samples
    lines = samples.lines_are_rows and not samples.dropped and len(prepared.sources) == 1
    first_line = 2 if lines else None
    payload = diagnostics_payload(
        samples.x, samples.y, prepared.ols.a, prepared.ols.b, prepared.moments, first_line, config.seed, most=500, qq_most=200, digits=6
    )
    held = prepared.held
    if payload is not None and held is not None and held.kept_rows is not None:
        from linfit.residuals import renumber

        payload["influential"] = renumber(payload["influential"], held.kept_rows, first_line)
    if payload is not None and not samples.source.lower().endswith((".parquet", ".pq")):
        payload["influential"] = _name_lines(payload["influential"], prepared, config)
    return payload


def _name_lines(influential: list[dict], prepared, config) -> list[dict]:
    """Influential rows of one CSV file whose rows are not its lines one for one (blank lines, a quoted header
    over two lines) named by their line, found by a scan of the file's line ends; as they were (line null)
    where that cannot be told for certain."""
    info = prepared.data_info
    if not influential or prepared.lines_are_rows or len(prepared.sources) != 1 or info.get("dropped") or "processes" in info:
        return influential
    from linfit.read import lines_of_rows

    held = prepared.held
    total = info["rows"] + (int(held.x.shape[0]) if held is not None and held.kept_rows is not None else 0)
    lines = lines_of_rows(prepared.sources[0], config.sep, [entry["row"] for entry in influential], total)
    if lines is None:
        return influential
    return [{**entry, "line": lines[entry["row"]]} for entry in influential]


def _write_diverged_report(outputs, training, history: list, prepared, config, reading) -> None:
    """A diverging run's report: its steps up to the last one logged, to see the blow-up (the model is not saved)."""
    from linfit.output import train_json
    from linfit.train import TrainResult

    config = training.config  # as run: a piecewise loss's δ is fixed there

    last = history[-1]
    result = TrainResult(
        a=last.a, b=last.b, loss=last.loss, steps=last.step, converged=False, stop_reason="diverged", start=training.start, wall_time_s=None
    )
    fit = train_json(result, history, prepared.ols, config, prepared.data_info, prepared.stats)
    if prepared.held is not None:  # the held-out loss of the steps that led there
        for entry in fit["history"]:
            entry["valid_loss"] = prepared.held.losses.get(entry["step"])
    outputs.write("--report", _report_html(fit, prepared, config, *reading))


def _run(training, shown, quiet: bool, retry=None, history: list | None = None, observe=None) -> list:
    """Drive the loop; hand each step to the view (None: a silent process); show progress on a terminal.

    If training diverges, the view shows the steps that led there, and the error names a command
    that converges (`retry` turns the core's advice, a dict of config changes, into one).
    """
    from contextlib import nullcontext

    if shown is not None:
        shown.train_begin(("valid_loss",) if observe else ())
    history = [] if history is None else history  # the caller's list keeps the steps if the run diverges
    progress = nullcontext()
    if not quiet and sys.stderr.isatty():  # a progress bar only for a person at a terminal: rich only then
        from linfit.views import table

        progress = table.ProgressView(training, enabled=table.progress_wanted(quiet))
    try:
        with progress:
            for record in training:
                history.append(record)
                extra = observe(record) if observe else None  # --holdout/--valid: the held-out loss at this step
                if shown is not None:
                    shown.train_step(record, extra)
    except DivergedError as error:
        if shown is not None:
            shown.train_diverged(history, training.config.loss)
        advice = getattr(error, "advice", None)
        if retry is None or advice is None:
            raise
        raise DivergedError(error.message, f"{error.why} Run `{retry(advice)}`") from None
    return history


@dataclass(frozen=True)
class Run:
    """What a view may show of a finished run, besides its JSON."""

    result: Any  # train.TrainResult
    history: list  # the logged StepRecords
    prepared: Any  # pipeline.Prepared: the data's facts, moments, reference line and statistics
    config: Any  # config.TrainConfig, as run
    trace: Any  # every step's loss, where the view asked for it (wants_trace), else None


def _command_with(data: str, config_path, arguments: Mapping[str, Any]):
    """A function from config changes ({key: value}, None dropping the flag) to a complete `linfit train`
    command: the data, --config, and the flags given (every setting that decides what is trained is a key)."""
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
        return " ".join(shlex.quote(word) for word in words)

    return command


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

        kept = prepared.held.kept_rows if prepared.held is not None else None
        contents["--plot"] = render_fit(
            outputs.path("--plot"), prepared.samples, result, prepared.ols, trace, config, kept, reference=prepared.reference
        )
    if "--report" in outputs:
        contents["--report"] = _report_html(fit, prepared, config, *reading)
    outputs.commit(contents)


def StopOnInterrupt():
    """The first SIGINT or SIGTERM asks the loop to stop after the current step; a second one stops at once."""
    from linfit.signals import Deferred

    return Deferred()


def make_report(request: ReportRequest) -> None:
    """`linfit report`: the HTML page of saved --format jsonl runs, without training again."""
    from linfit.files import plan_outputs
    from linfit.losses import PIECEWISE
    from linfit.page import read_jsonl, render, run_payload
    from linfit.sample import scatter_sample

    data, sep, names = request.data, request.sep, [*request.streams, *(request.compare or ())]
    for name in names:
        _refuse_to_overwrite(request.output, name, "a saved run")
    _refuse_to_overwrite(request.output, data, "the --data file")
    outputs = plan_outputs({"--output": request.output})
    runs, loaded = [], {}
    for name in names:
        text = _read_text(name)
        fit, moments = read_jsonl(text.splitlines(), name)
        samples = None
        if data is not None:
            from linfit.data import load_samples
            from linfit.page import require_same_rows

            recorded = (fit.get("config") or {}).get("weight_col")  # a weighted run: the rows with their weights, by the column's
            weight_col = fit["data"].get("w", recorded) if recorded is not None else None  # name, as x and y (an index may differ)
            columns = (fit["data"].get("x", "x"), fit["data"].get("y", "y"), weight_col)
            if columns not in loaded:
                loaded[columns] = load_samples(data, *columns[:2], drop_na=bool(fit["data"].get("dropped")), sep=sep, weight_col=weight_col)
            rows = loaded[columns]
            require_same_rows(moments, rows.x, rows.y, data, name, rows.w)
            samples = scatter_sample(rows.x, rows.y, (fit.get("config") or {}).get("seed", 0), rows.w)
        payload = run_payload(fit, moments, samples)
        if fit["loss_name"] in PIECEWISE:
            if data is not None:  # the true loss over every row of --data (weighted as the run was), as train's own report draws it
                whole = loaded[columns]
                blocks = [(whole.x, whole.y)] if whole.w is None else [(whole.x, whole.y, whole.w)]
                payload["surface_grid"] = _loss_grid_of(fit, lambda blocks=blocks: blocks, moments["n"])
            else:  # a saved stream holds the moments, not the rows: what needs the rows is left out, and said so
                payload["without_rows"] = (
                    f"The {fit['loss_name']} loss is not quadratic: its surface, the what-if and the loss over the rows need the rows, "
                    "which a saved stream does not hold. Give --data FILE (the rows it was trained on) to draw them."
                )
        runs.append(payload)
    outputs.write("--output", render(runs, request.title))


def _refuse_to_overwrite(output: Path, source: Optional[str], role: str) -> None:
    """A report never replaces what it reads: the same path, or the same file on disk (a link to it)."""
    if source is None or source == "-":
        return
    same = os.path.realpath(output) == os.path.realpath(source)
    try:
        first, second = os.stat(output), os.stat(source)
        same = same or (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
    except OSError:
        pass
    if same:
        from linfit.errors import UsageError

        raise UsageError(
            f"--output {output}: this is {role} that the report reads ({source}); writing it would destroy it.",
            "Choose another output path.",
        )


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


def predict(request: PredictRequest) -> None:
    """`linfit predict`: a·x + b with a saved model, for the given values (no torch) or a file's x column; with
    --interval, the confidence or prediction interval's bounds at --level (see linfit.intervals)."""
    from linfit.model_file import load_model
    from linfit.views import needs, view

    shown = view(request.output_format)
    saved = load_model(request.model)
    basis = _interval_basis(saved, request.interval)  # refused before any data is read
    if request.x:  # a few numbers: no torch, no pandas, so that this is instant
        from array import array

        values = array("d", request.x)
        predicted = array("d", (saved.a * value + saved.b for value in values))
        shown.predictions(
            saved, values, predicted, "x", None, _bounds(values, basis, request.interval, request.level, saved, request.quiet)
        )
        return
    import numpy as np

    from linfit.read import Reading

    keep = needs(shown, "KEEPS_ROWS")
    wanted = request.x_col if request.x_col is not None else saved.record.get("data", {}).get("x", "x")
    reading = Reading(request.data, wanted, None, sep=request.sep, keep_missing=True, keep_rows=keep)
    values = np.concatenate([block for block, _ in reading])
    if needs(shown, "NAMES_COLUMNS"):  # the output names the input's columns beside 'prediction'
        from linfit.model_file import require_prediction_column_free

        added = ("prediction", "lower", "upper") if basis is not None else ("prediction",)
        require_prediction_column_free([str(c) for c in reading.header] if keep else [reading.facts.x_name], request.data, added)
    missing = int(np.isnan(values).sum())
    if missing:
        _notice(request.quiet, f"warning: {missing} rows have no x; their prediction is empty.")
    bounds = _bounds(values, basis, request.interval, request.level, saved, request.quiet)
    table = (reading.header, reading.rows) if keep else None
    shown.predictions(saved, values, saved.a * values + saved.b, reading.facts.x_name, table, bounds)


def _interval_basis(saved, interval: Optional[str]):
    """What --interval needs from the model file, or None without --interval."""
    if interval is None:
        return None
    from linfit.intervals import basis_from_record

    return basis_from_record(saved.record, saved.path)


def _bounds(values, basis, interval: Optional[str], level: Optional[float], saved=None, quiet: bool = False):
    """{kind, level, centre, model_is_least_squares, se, lower, upper} for --interval, else None. The intervals are
    the least-squares line's, with classical standard errors: a note says so where the model's line is another
    (beyond its error bound), or the model was trained with --se hc3."""
    if basis is None:
        return None
    import numpy as np

    from linfit.intervals import interval_bounds, matches_least_squares

    level = 0.95 if level is None else level
    lower, upper = interval_bounds(np.asarray(values, dtype=np.float64), basis, interval, level)
    bounds = {"kind": interval, "level": level, "centre": "least_squares", "se": "nonrobust"}
    if saved is not None:
        converged = saved.record.get("converged") is True  # an unconverged run's error bound holds its distance from the line
        same = matches_least_squares(basis, saved.a, saved.b, saved.record.get("error_bound") if converged else None)
        bounds["model_is_least_squares"] = same
        if not same:
            _notice(
                quiet,
                f"note: the intervals are the least-squares line's (a = {basis.slope:.6g}); this model's line (a = {saved.a:.6g}, "
                f"b = {saved.b:.6g}) differs from it beyond the rounding error of a converged fit, so its predictions may lie outside them.",
            )
        config = saved.record.get("config")
        weight_col = config.get("weight_col") if isinstance(config, dict) else None
        bounds["weight_col"] = weight_col
        if weight_col is not None and interval == "prediction":  # σ̂² is per unit of the weights scaled to mean 1
            _notice(
                quiet,
                f"note: the model's rows were weighted (column {weight_col!r}): the prediction interval is for a new row of the "
                "training rows' mean weight (statsmodels' WLS with the weights scaled to mean 1); a row of k times that weight has "
                "the spread of its new observation divided by √k.",
            )
        stats = saved.record.get("stats")
        if isinstance(stats, dict) and stats.get("se_type") == "hc3":
            _notice(quiet, "note: the model was trained with --se hc3, but the intervals use the classical (nonrobust) standard errors.")
    return {**bounds, "lower": lower, "upper": upper}


def grad(request: GradRequest) -> None:
    """`linfit grad`: the loss and its gradient at the points, by autograd and by hand, as the view shows them."""
    from linfit.gradient import check_point_gradient, point_gradient
    from linfit.gradient import explain as worked_step
    from linfit.views import needs, view

    shown, lr = view(request.output_format), request.lr
    with_graph = request.graph or needs(shown, "NEEDS_GRAPH")
    result = point_gradient(
        list(request.x),
        list(request.y),
        a=request.a,
        b=request.b,
        loss=request.loss,
        dtype=request.dtype,
        with_graph=with_graph,
        delta=request.huber_delta,
        tau=0.5 if request.quantile is None else request.quantile,
        weights=None if request.w is None else list(request.w),
    )
    checked = check_point_gradient(result, request.check_tol) if request.check else None
    steps = worked_step(result, lr) if request.explain or lr is not None else None
    shown.gradient(result, checked, steps, lr, request.graph)
    _require_agreement(checked)


def _require_agreement(checked) -> None:
    if checked is not None and not checked.passed:
        from linfit.errors import CheckFailedError

        if checked.unchecked:
            raise CheckFailedError(f"the gradient cannot be checked: {checked.unchecked}.", "Check at another point.")
        raise CheckFailedError(
            f"gradients disagree by {checked.largest_difference:.3g}, more than the {checked.allowed:.3g} allowed.",
            "Raise --check-tol if the values are extreme.",
        )


def graph(request: GraphRequest) -> None:
    """`linfit graph`: the expression's value, graph and partial derivatives, as the view shows them."""
    from linfit.expression import parse_assignment
    from linfit.gradient import check_expression_gradient, expression_gradient
    from linfit.views import view

    shown = view(request.output_format)
    values = dict(parse_assignment(item) for item in request.var or [])
    result = expression_gradient(request.expression, values)
    checked = check_expression_gradient(result, request.check_tol) if request.check else None
    shown.expression(request.expression, values, result, checked)
    _require_agreement(checked)


def show_config(request: ConfigRequest) -> None:
    """`linfit config`: the effective configuration as YAML, which --config reads back."""
    from linfit.config import to_commented_yaml, to_yaml
    from linfit.output import emit

    config = _config(request.config_path, request.settings)
    emit(sys.stdout, to_commented_yaml(config) if request.commented else to_yaml(config))


def _saved_loss_name(saved) -> str:
    """The model's loss: `loss_name`, which a hand-edited file must keep one of linfit's and agree with `config.loss`."""
    from linfit.losses import LOSSES, PIECEWISE

    known = sorted(set(LOSSES) | set(PIECEWISE))
    name = saved.record.get("loss_name", "half_mse")
    if not isinstance(name, str) or name not in known:
        raise DataError(
            f"{saved.path}: key 'loss_name' is {name!r}, not one of linfit's losses ({', '.join(repr(k) for k in known)}).",
            "Restore the name the model was trained with, or train it again with linfit train -o.",
        )
    config = saved.record.get("config") if isinstance(saved.record.get("config"), dict) else {}
    if config.get("loss") is not None and config["loss"] != name:  # an edited file: which loss was trained?
        raise DataError(
            f"{saved.path}: the keys 'loss_name' ({name!r}) and 'config.loss' ({config['loss']!r}) disagree: the loss the model "
            "was trained with is not known.",
            "Make them equal, or train the model again with linfit train -o.",
        )
    return name


def _saved_weight_col(saved):
    """The weight column the model was trained with: the name its data had (`data.w`, as x and y are found by name),
    else `config.weight_col`; None for an unweighted model. A file where one says weighted and the other not is refused."""
    data = saved.record.get("data") if isinstance(saved.record.get("data"), dict) else {}
    config = saved.record.get("config") if isinstance(saved.record.get("config"), dict) else {}
    setting = config.get("weight_col")
    if setting is not None and (isinstance(setting, bool) or not isinstance(setting, (str, int))):
        raise DataError(
            f"{saved.path}: key 'config.weight_col' must be a column name or index, got {setting!r}.",
            "Train the model again with linfit train -o.",
        )
    if (setting is None) != (data.get("w") is None):
        raise DataError(
            f"{saved.path}: the keys 'config.weight_col' ({setting!r}) and 'data.w' ({data.get('w')!r}) disagree: whether the "
            "model's rows were weighted is not known.",
            "Make them agree, or train the model again with linfit train -o.",
        )
    return data["w"] if data.get("w") is not None else setting


def _require_delta_above_floor(saved, delta: float, scoring) -> None:
    """huber's δ from the model file, held to the floor train holds a given δ to, on the rows scored (a hand-edited
    δ = 1e-200 gave a loss of ~1e-200 as if it meant something)."""
    from linfit.pipeline import huber_delta_floor

    floor = huber_delta_floor(scoring.y_largest, scoring.y_sd())
    if delta < floor * (1 - 1e-6):  # a default δ raised to the floor in training is the floor up to the sums' rounding
        raise DataError(
            f"{saved.path}: key 'loss_parameters.huber_delta': δ = {delta:.6g} is below {floor:.6g}, the least δ these data allow "
            "(1e-8 of y's standard deviation, or 64 ulps of |y|, or 1e-150; train refuses it as --huber-delta): which rows lie "
            "inside ±δ would be rounding.",
            "Train the model again with linfit train -o (below that floor huber is δ·|r|: --loss absolute fits that line).",
        )


def _saved_loss(saved, loss_name: str):
    """The model's own loss object: huber with the δ it was trained with, quantile with its τ (from the file's
    `loss_parameters`, else its `config`); None for a loss eval does not know (its loss is then not computed)."""
    from linfit.losses import PIECEWISE, loss_for

    if loss_name not in PIECEWISE:
        return None
    key = {"huber": "huber_delta", "quantile": "quantile"}.get(loss_name)
    if key is None:
        return loss_for(loss_name)
    places = {name: saved.record.get(name) for name in ("loss_parameters", "config")}
    found = {f"{name}.{key}": place[key] for name, place in places.items() if isinstance(place, dict) and place.get(key) is not None}
    if len(found) == 2 and found[f"loss_parameters.{key}"] != found[f"config.{key}"]:  # an edited file: which was trained with?
        raise DataError(
            f"{saved.path}: the keys {' and '.join(f'{k!r} ({v!r})' for k, v in found.items())} disagree: the {loss_name} "
            "loss's parameter the model was trained with is not known.",
            "Make them equal, or train the model again with linfit train -o.",
        )
    value = next(iter(found.values()), None)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DataError(
            f"{saved.path}: key 'loss_parameters': the {loss_name} loss needs its {key} (a number), and this model file has "
            f"{'none' if value is None else repr(value)}.",
            "Train the model again with linfit train -o.",
        )
    try:
        return loss_for(loss_name, delta=value, tau=value)
    except ValueError as why:
        raise DataError(
            f"{saved.path}: key '{next(iter(found))}': {str(why).rstrip('.')}.", "Train the model again with linfit train -o."
        ) from None


def evaluate(request: EvalRequest) -> None:
    """`linfit eval`: the saved model's loss and errors on a data file (see linfit.evaluate), as the view shows them."""
    from linfit.data import read_samples, rechunked
    from linfit.evaluate import EvalPass, evaluation_json
    from linfit.model_file import load_model
    from linfit.read import MissingColumnError, Reading, display_name
    from linfit.views import view

    shown = view(request.output_format)
    saved = load_model(request.model)
    columns = saved.record.get("data") if isinstance(saved.record.get("data"), dict) else {}
    wanted_x = request.x_col if request.x_col is not None else columns.get("x", "x")
    wanted_y = request.y_col if request.y_col is not None else columns.get("y", "y")
    loss_name = _saved_loss_name(saved)
    kind = _saved_loss(saved, loss_name)
    recorded = _saved_weight_col(saved)
    if request.unweighted and request.weight_col is not None:
        raise UsageError("--unweighted and --weight-col contradict each other.", "Give one of them.")
    weight_col = None if request.unweighted else request.weight_col if request.weight_col is not None else recorded
    reading = Reading(request.data, wanted_x, wanted_y, sep=request.sep, drop_na=request.drop_na, weight_col=weight_col)
    scoring = EvalPass(saved.a, saved.b, loss_name, kind)
    try:
        if request.chunk_rows and weight_col is not None:  # one pass, a chunk at a time, with the weights
            from linfit.read import rechunked_with_weights

            blocks = rechunked_with_weights(reading.with_weights(), request.chunk_rows)
        elif request.chunk_rows:  # one pass, a chunk at a time: memory independent of the file's size
            blocks = rechunked(reading, request.chunk_rows)
        else:
            samples = read_samples(reading)
            blocks = [(samples.x, samples.y)] if samples.w is None else [(samples.x, samples.y, samples.w)]
        for x, y, *w in blocks:
            scoring.add(x, y, w[0] if w else None)
    except MissingColumnError as missing:
        if missing.role != "weight" or request.weight_col is not None:
            raise
        raise DataError(
            f"{display_name(request.data)}: no column {weight_col!r} for the weights the model {saved.path} was trained with "
            f"(its data.w / config.weight_col); the columns are {missing.columns}.",
            "Name this file's weight column with --weight-col NAME, or score every row with weight 1 with --unweighted.",
        ) from None
    evaluation = scoring.finish(request.data)
    if loss_name == "huber":
        _require_delta_above_floor(saved, kind.delta, scoring)
    facts = reading.facts
    info = {"source": display_name(facts.source), "rows": evaluation.n, "x": facts.x_name, "y": facts.y_name, "dropped": facts.dropped}
    if weight_col is not None:  # weighted figures: the rows counted are those with a positive weight
        info["w"] = facts.w_name
        if request.output_format == "csv":  # its columns cannot say it (the table's title and the JSON's data.w do)
            _notice(
                request.quiet,
                f"note: the means (loss, MSE, RMSE, MAE, bias, R²) are weighted by column {facts.w_name!r}, and n counts the rows of "
                "positive weight (--unweighted: each row weighs 1).",
            )
    if facts.dropped:
        _notice(request.quiet, f"dropped {facts.dropped} rows with a missing value.")
    shown.evaluation(evaluation_json(evaluation, saved.path, info))
    if request.output_format != "table":  # the table prints them itself
        for note in evaluation.notes():
            _notice(request.quiet, f"note: {note}")
