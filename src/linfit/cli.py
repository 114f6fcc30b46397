"""The command line: each command declared once as its request, parsed into one, handed to `commands`
(which runs the core and hands the results to a view), errors mapped to exit codes.

The only module that imports typer. It must stay cheap to import: torch, pandas and
rich are imported inside the commands that need them (commands.py), so `linfit --help` is instant.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import inspect
import math
import os
import sys
import typing
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Callable, Literal, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from linfit import __version__, commands
from linfit.config import DType, LossName
from linfit.errors import ConfigError, ExitCode, FlagError, LinfitError

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 unexpected error (a bug), 2 usage or config error, 3 data error, "
    "4 training diverged, 5 not converged (with --strict), 6 gradient check failed, 7 an output file could not "
    "be written (no space, size limit; a path refused before any work is 2), 8 a torchrun peer process was lost, "
    "130 interrupted (Ctrl-C), 141 output pipe closed, 143 terminated (SIGTERM)."
)
LARGEST_INTEGER = 2**63 - 1
FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EBADF}  # a write that failed for lack of room (or to a closed stdout)


def _numbers_checked(command):
    """Wrap a command's invoke: a number option that is NaN, infinite or past 64 bits is a usage error (exit 2),
    and so is a flag the command refuses (FlagError): both as click's bad parameter, with the command's help."""
    invoke = command.invoke

    def checked(ctx):
        for param in command.params:
            value = ctx.params.get(param.name)
            for number in value if isinstance(value, (list, tuple)) else [value]:
                problem = _unusable_number(number)
                if problem:
                    flag = (param.opts or [param.name])[0]
                    raise typer.BadParameter(problem, ctx=ctx, param_hint=f"'{flag}'")
        try:
            return invoke(ctx)
        except FlagError as exc:
            raise typer.BadParameter(exc.message, ctx=ctx, param_hint=exc.flag) from None

    return checked


def _strict_numbers(command) -> None:
    """Number options read their text by config.number_problem's rule (`--lr 0_5` is refused, not read as 5)."""
    from linfit.config import number_problem

    def numeric(annotation) -> bool:
        return annotation in (int, float) or any(numeric(arg) for arg in typing.get_args(annotation))

    def texts(value):
        if isinstance(value, (list, tuple)):
            for item in value:
                yield from texts(item)
        elif isinstance(value, str):
            yield value

    for param in command.params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or not numeric(descriptor.annotation):
            continue

        def checked(ctx, value, process=param.process_value, param=param):
            for text in texts(value):
                problem = number_problem(text)
                if problem:
                    raise typer.BadParameter(problem, ctx=ctx, param=param)
            return process(ctx, value)

        param.process_value = checked


def _unusable_number(value) -> str | None:
    """Why a parsed number cannot be used (NaN, infinity, past 64 bits), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number."
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LARGEST_INTEGER:
        return f"a {len(str(abs(value)))}-digit integer is too large (the limit is 2**63 - 1)."
    return None


class _Stopped(BaseException):
    """Carries a KeyboardInterrupt (SIGINT or SIGTERM) past typer, which would end it in a silent exit 130."""

    def __init__(self, interrupt: KeyboardInterrupt) -> None:
        super().__init__()
        self.interrupt = interrupt


def example(command: str, shows: str = "") -> str:
    """A help's last paragraph: a command line to try (a test runs each one), and what it shows."""
    return f"Example{': ' + shows if shows else ':'}\n\n\b\n  {command}"


class LinfitGroup(TyperGroup):
    """Turns every error into one line on stderr and its exit code: the one place that does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for command in (self.commands or {}).values():
            command.invoke = _numbers_checked(command)
            _strict_numbers(command)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra) -> Any:
        """As click's main, but a usage error is one line (not a framed box) on stderr, exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            outcome = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _Stopped as stopped:  # a signal while parsing: the launcher says so and exits 130 / 143
            raise stopped.interrupt from None
        except typer.TyperException as exc:  # click's UsageError and BadParameter derive from it
            if type(exc).__name__ == "NoArgsIsHelpError":  # `linfit` alone: the help, and the usage error's exit code
                typer.echo(exc.format_message())
                sys.exit(int(ExitCode.USAGE))
            message = exc.format_message().strip()
            if message:  # empty when no arguments at all were given: the help is already shown
                context = getattr(exc, "ctx", None)
                where = f" See '{context.command_path} --help'." if context is not None else ""
                _tell(f"linfit: error: {_sentence(message)}{where}")
            sys.exit(getattr(exc, "exit_code", int(ExitCode.USAGE)))

        except typer.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort: keep its code
                raise exc.__context__ from None
            _tell("linfit: aborted.")
            sys.exit(int(ExitCode.UNEXPECTED))
        sys.exit(outcome if isinstance(outcome, int) else 0)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as exc:  # typer would turn it into a silent exit 130, SIGTERM too
            raise _Stopped(exc) from None

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return self._invoke(ctx)
        except KeyboardInterrupt as exc:  # a signal while reporting another error
            raise _Stopped(exc) from None

    def _invoke(self, ctx: typer.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("LINFIT_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except LinfitError as exc:
            if debug:
                raise
            from linfit.distributed import speaks

            if speaks(exc):  # under torchrun rank 0 alone, as for every other line
                _tell(f"linfit: error: {_sentence(str(exc))}")
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt as exc:  # linfit.signals.Interrupted: SIGINT 130, SIGTERM 143
            if debug:
                import traceback

                traceback.print_exception(exc)
            _tell("linfit: interrupted.")
            ctx.exit(int(getattr(exc, "exit_code", ExitCode.INTERRUPTED)))
        except BrokenPipeError:
            # the reader went away (`| head`): stop quietly, and keep Python from failing again at exit
            _stdout_to_null()
            ctx.exit(int(ExitCode.BROKEN_PIPE))
        except Exception as exc:  # anything else is a bug: say so in one line
            if debug:
                raise
            if isinstance(exc, OSError) and exc.errno in FULL:
                # writing stdout failed (`> /dev/full`, a file-size limit): not a bug
                _stdout_to_null()
                _tell(f"linfit: error: cannot write the output: {exc.strerror or exc}.")
                ctx.exit(int(ExitCode.OUTPUT))
            _tell(
                f"linfit: unexpected error: {type(exc).__name__}: {exc}. This is a bug; run again with --debug for the traceback and report it."
            )
            ctx.exit(int(ExitCode.UNEXPECTED))


def _stdout_to_null() -> None:
    """After a failed write, what stdout still buffers goes nowhere (Python would write it again at exit)."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a closed stdout (`>&-`) or a test's buffer: nothing below it
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), descriptor)


class LinfitCommand(TyperCommand):
    """A command whose help reads like a classic Unix tool's: `Usage: linfit train [OPTIONS] DATA`."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        """Argument names without typer's braces: DATA, not {DATA}; RUN..., not {RUN}... (one or more runs)."""
        import re

        return [re.sub(r"^\{(.*?)\}", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]

    def format_options(self, ctx: typer.Context, formatter) -> None:
        """Arguments by name alone (DATA, not DATA <str>), then the options, in declaration order."""
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((param.metavar or param.name.upper(), record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


class _Typer(typer.Typer):
    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", LinfitCommand)
        return super().command(*args, **kwargs)


app = _Typer(
    cls=LinfitGroup,
    help=(
        "Fit y = a·x + b to samples by gradient descent, show every step's loss and "
        "dL/da, dL/db from autograd, and hold the fit against the exact least-squares line.\n\n" + EXIT_CODES_HELP
    ),
    epilog=example("linfit train data/sample.csv"),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # plain text, wrapped to the terminal: no markup to swallow brackets
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)


def _tell(line: str) -> None:
    """One line on stderr. A closed or full stderr loses the line but never changes the exit code."""
    try:
        typer.echo(line, err=True)
    except (OSError, ValueError):
        pass


def _sentence(message: str) -> str:
    return message if message.endswith((".", "?", "!")) else message + "."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"linfit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    """linfit: gradient descent on y = a·x + b, step by step."""


CheckTol = Annotated[
    float, typer.Option("--check-tol", metavar="FLOAT", help="Largest disagreement --check accepts, relative to max(1, |gradient|).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print results and errors only: no progress, notes or warnings.")]
Sep = Annotated[
    Optional[str],
    typer.Option(
        "--sep", metavar="TEXT", help="Field separator ('\\t' for tabs).  [default: tab for .tsv, else comma]", show_default=False
    ),
]
ConfigPath = Annotated[
    Optional[Path], typer.Option("--config", "-c", metavar="FILE", help="YAML config file; flags override it.", show_default=False)
]


class Settings(dict):
    """The configuration flags a command was given (None where left out), by key: see `config_flags`."""


def config_flags(function):
    """Give a command one option per configuration key, generated from config.TrainConfig, where it has `settings`.

    Each key's flag, type, choices, help and shown default come from its declaration, so a key added to
    TrainConfig is a flag of every such command at once. The command receives the flags as `settings`.
    """
    from linfit.config import keys

    declared = keys()
    hints = typing.get_type_hints(function, include_extras=True)
    parameters = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name == "settings":
            parameters += [
                inspect.Parameter(key.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_flag(key)) for key in declared
            ]
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[parameter.name]))
    names = [key.name for key in declared]

    @functools.wraps(function)
    def command(**arguments: Any) -> Any:
        settings = Settings({name: arguments.pop(name) for name in names})
        return function(settings=settings, **arguments)

    command.__signature__ = inspect.Signature(parameters)
    command.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return command


def _flag(key) -> Any:
    """The typer option of a configuration key: `--init-a FLOAT`, `--optimizer [sgd|momentum|adam]`, `--compile/--no-compile`."""
    from linfit.config import describe

    kind, metavar = _cli_type(key.annotation)
    declaration = f"{key.flag}/--no-{key.flag[2:]}" if kind is bool else key.flag
    if key.choices:
        metavar = "[" + "|".join(key.choices) + "]"
    meaning = describe(key)
    first = meaning[:1].upper() if meaning[:1].isascii() else meaning[:1]  # a Greek symbol keeps its case (τ, not Τ)
    help_text = f"{first}{meaning[1:]}.  [default: {_shown_default(key)}]"
    return Annotated[Optional[kind], typer.Option(declaration, help=help_text, metavar=metavar, show_default=False)]


def _cli_type(annotation: Any) -> tuple[Any, str | None]:
    """The type typer parses a key's value to, and its placeholder: a union of str and int is TEXT (a name or an index)."""
    arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is Literal or annotation in (bool, int, float, str):
        return annotation, {int: "INT", float: "FLOAT", str: "TEXT"}.get(annotation)
    if typing.get_origin(annotation) is tuple:
        return annotation, " ".join(_cli_type(arg)[1] or "VALUE" for arg in arguments)
    if len(arguments) == 1:  # Optional[X]
        return _cli_type(arguments[0])
    return str, "TEXT"


def _shown_default(key) -> str:
    value = key.default
    if key.shown is not None:
        return key.shown
    if isinstance(value, bool):
        return key.flag if value else f"--no-{key.flag[2:]}"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value)


def format_option(command: str) -> Any:
    """`--format`/`-f` of a command: its choices and their help from the views' registry, the first the default."""
    from linfit.views import formats

    offered = formats(command)
    names = tuple(entry.name for entry in offered)
    meanings = [f"{entry.name} ({entry.meaning})" for entry in offered]
    help_text = (", ".join(meanings[:-1]) + " or " + meanings[-1] if len(meanings) > 1 else meanings[0]) + "."
    return Annotated[
        Literal[names], typer.Option("--format", "-f", metavar="[" + "|".join(names) + "]", help=help_text[:1].upper() + help_text[1:])
    ]


def command(name: str, run: Callable[[Any], Optional[int]], *, on: typer.Typer | None = None, **options: Any) -> Callable[[type], type]:
    """Declare a command by its request: a frozen dataclass whose fields are its arguments and options.

    Each field is declared once, with its typer argument or option; a field `settings` stands for one
    flag per configuration key (see `config_flags`), and the class's docstring is the command's help.
    The command line builds one request from what it parsed and hands it to `run` (a function of
    linfit.commands), whose return value, when not 0, is the exit code. A request checks what no
    single option can in its `__post_init__` (raising FlagError, a usage error). `on`: the app (linfit's).
    """

    def declare(request: type) -> type:
        request = dataclasses.dataclass(frozen=True)(request)
        hints = typing.get_type_hints(request, include_extras=True)
        fields = dataclasses.fields(request)
        empty = inspect.Parameter.empty
        parameters = [
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=empty if field.default is dataclasses.MISSING else field.default,
                annotation=hints[field.name],
            )
            for field in fields
        ]

        def callback(**arguments: Any) -> None:
            given = {key: tuple(value) if isinstance(value, list) else value for key, value in arguments.items()}
            if "settings" in given:
                given["settings"] = MappingProxyType(dict(given["settings"]))
            code = run(request(**given))
            if code:
                raise typer.Exit(code)

        callback.__name__ = callback.__qualname__ = name.replace("-", "_")
        callback.__doc__ = request.__doc__
        callback.__signature__ = inspect.Signature(parameters)
        callback.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        (on or app).command(name, **options)(config_flags(callback) if "settings" in hints else callback)
        return request

    return declare


def command_names() -> list[str]:
    """Every command, from the command table (the tests take their lists from here)."""
    return [info.name or info.callback.__name__ for info in app.registered_commands]


DataArgument = Annotated[
    str,
    typer.Argument(
        metavar="DATA",
        help="CSV/TSV (.gz, .bz2, .xz, .zst too) or Parquet file, a glob of them, or '-' (stdin), with x and y columns.",
        show_default=False,
    ),
]
OutputFile = Annotated[
    Optional[Path],
    typer.Option("--output", "-o", metavar="FILE", help="Write the fitted model (JSON) here, atomically.", show_default=False),
]


@command("train", commands.train, epilog=example("linfit train data/sample.csv --lr 0.1 --log-every 5 -o model.json"))
class TrainRequest:
    """Fit y = a·x + b to a CSV file by gradient descent and compare with the exact answer.

    Prints a row every --log-every steps (loss, dL/da, dL/db, a, b) and a summary that holds the fit against the closed-form least-squares line. Ctrl-C stops at the end of the current step, shows the summary so far and saves the model (marked interrupted).
    """

    data: DataArgument
    config_path: ConfigPath = None
    settings: Settings = None  # one flag per configuration key
    cache_path: Annotated[
        Optional[Path],
        typer.Option(
            "--cache",
            metavar="FILE",
            help="With --chunk-rows: keep the parsed passes in this binary file, and reuse it in later runs while the data's size, time and SHA-256 match (else it is rebuilt). Without it a temporary cache is used and removed.",
            show_default=False,
        ),
    ] = None
    model_path: OutputFile = None
    history_path: Annotated[
        Optional[Path],
        typer.Option("--history", metavar="FILE", help="Write every logged step here as CSV, whatever --format says.", show_default=False),
    ] = None
    init_from: Annotated[
        Optional[str],
        typer.Option("--init-from", metavar="MODEL", help="Start from a saved model's a and b (warm start).", show_default=False),
    ] = None
    plot_path: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            metavar="FILE",
            help="Write an image (.png, .svg or .pdf, by the extension): data and lines, loss per step, and the path over the loss surface (needs linfit[plot]).",
            show_default=False,
        ),
    ] = None
    report_path: Annotated[
        Optional[Path],
        typer.Option(
            "--report",
            metavar="FILE",
            help="Write an interactive HTML report (one self-contained file): a step slider, the line, the loss surface and path, the gradient, the graph, and a what-if learning rate.",
            show_default=False,
        ),
    ] = None
    strict: Annotated[bool, typer.Option("--strict", help="Exit 5 when the step limit comes before convergence.")] = False
    valid_path: Annotated[
        Optional[str],
        typer.Option(
            "--valid",
            metavar="FILE",
            help="Score the fit on this file's rows (same columns) at every logged step and at the end.",
            show_default=False,
        ),
    ] = None
    quiet: Quiet = False
    output_format: format_option("train") = "table"


@command(
    "report",
    commands.make_report,
    epilog=example("linfit train data/sample.csv -f jsonl | linfit report - -o run.html"),
)
class ReportRequest:
    """Build the interactive HTML report from saved --format jsonl runs, without training again.

    The result record of a jsonl stream holds the data's moments, from which the page draws the loss surface; --data adds the scatter of the rows.
    """

    streams: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN",
            help="Saved runs: the output of linfit train --format jsonl ('-' reads stdin). Several are overlaid on one surface.",
            show_default=False,
        ),
    ]
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The HTML file to write, atomically.", show_default=False)]
    compare: Annotated[
        Optional[list[str]],
        typer.Option(
            "--compare", metavar="RUN", help="Another saved run of the same data to overlay; repeat for several.", show_default=False
        ),
    ] = None
    data: Annotated[
        Optional[str],
        typer.Option(
            "--data", metavar="DATA", help="The data file, to draw its rows in the scatter (a sample of at most 5000).", show_default=False
        ),
    ] = None
    sep: Sep = None
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="The page's title.", show_default=False)] = None


@command("predict", commands.predict, epilog=example("linfit predict model.json --x 3.0 --x 4.5"))
class PredictRequest:
    """Predict ŷ = a·x + b with a saved model, for a file's x column or for given values.

    CSV output keeps the input's columns and adds 'prediction' (and 'lower', 'upper' with --interval).
    """

    model: Annotated[str, typer.Argument(metavar="MODEL", help="A model file written by linfit train -o.", show_default=False)]
    data: Annotated[
        Optional[str],
        typer.Argument(
            metavar="DATA", help="CSV/TSV (compressed too) or Parquet file with an x column ('-' reads stdin).", show_default=False
        ),
    ] = None
    x: Annotated[
        Optional[list[float]], typer.Option("--x", metavar="FLOAT", help="An x to predict at; repeat for several.", show_default=False)
    ] = None
    x_col: Annotated[
        Optional[str],
        typer.Option(
            "--x-col", metavar="TEXT", help="Column of x: header name or 0-based index.  [default: the model's]", show_default=False
        ),
    ] = None
    sep: Sep = None
    interval: Annotated[
        Optional[Literal["confidence", "prediction"]],
        typer.Option(
            "--interval",
            metavar="[confidence|prediction]",
            help="Add 'lower' and 'upper': the interval of the mean of y at x (confidence) or of one new y (prediction), as statsmodels' summary_frame (squared losses).",
            show_default=False,
        ),
    ] = None
    level: Annotated[
        Optional[float],
        typer.Option("--level", metavar="FLOAT", help="The interval's level, between 0 and 1.  [default: 0.95]", show_default=False),
    ] = None
    quiet: Quiet = False
    output_format: format_option("predict") = "table"

    def __post_init__(self) -> None:
        if (self.data is None) == (not self.x):
            raise FlagError("give a DATA file or --x values (one of the two).", "DATA/--x")
        if self.level is not None and self.interval is None:
            raise FlagError("--level sets the interval's level: it needs --interval confidence or --interval prediction.", "--level")
        if self.level is not None and not 0 < self.level < 1:
            raise FlagError(f"--level must lie strictly between 0 and 1 (0.95 is 95%), got {self.level:g}.", "--level")


@command("eval", commands.evaluate, epilog=example("linfit eval model.json data/sample.csv -f json"))
class EvalRequest:
    """Score a saved model on a data file: its loss, MSE, RMSE, MAE, largest residual, bias and R².

    R² is 1 − SSE/SST about this file's own mean: on data the model has not seen it can be negative (worse than predicting that mean).
    """

    model: Annotated[str, typer.Argument(metavar="MODEL", help="A model file written by linfit train -o.", show_default=False)]
    data: DataArgument
    x_col: Annotated[
        Optional[str],
        typer.Option(
            "--x-col", metavar="TEXT", help="Column of x: header name or 0-based index.  [default: the model's]", show_default=False
        ),
    ] = None
    y_col: Annotated[
        Optional[str],
        typer.Option(
            "--y-col", metavar="TEXT", help="Column of y: header name or 0-based index.  [default: the model's]", show_default=False
        ),
    ] = None
    weight_col: Annotated[
        Optional[str],
        typer.Option(
            "--weight-col",
            metavar="TEXT",
            help="Column of row weights (finite, >= 0): every figure becomes a weighted mean.  [default: the model's, if it has one]",
            show_default=False,
        ),
    ] = None
    unweighted: Annotated[
        bool,
        typer.Option("--unweighted", help="Score every row with weight 1, even for a model trained with a weight column."),
    ] = False
    sep: Sep = None
    drop_na: Annotated[bool, typer.Option("--drop-na", help="Drop rows with a missing x or y (and say how many).")] = False
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows",
            min=0,
            metavar="ROWS",
            help="Read the file this many rows at a time, in one pass: memory independent of its size.",
        ),
    ] = 0
    quiet: Quiet = False
    output_format: format_option("eval") = "table"


@command(
    "grad",
    commands.grad,
    epilog=example("linfit grad --x 1.4 --y 2.1 --explain", "the loss 0.02 and its gradient dL/da −0.28, dL/db −0.2 at (1.4, 2.1)"),
)
class GradRequest:
    """The loss and its gradient at one point (or a few), by autograd and by hand.

    Builds a, b as tensors with requires_grad=True, computes ŷ = a·x + b and the loss, calls loss.backward(), and shows dL/da, dL/db next to the hand-derived formulas.
    """

    x: Annotated[list[float], typer.Option("--x", metavar="FLOAT", help="x of a sample; repeat with --y for several.", show_default=False)]
    y: Annotated[list[float], typer.Option("--y", metavar="FLOAT", help="y of a sample, paired with --x in order.", show_default=False)]
    w: Annotated[
        Optional[list[float]],
        typer.Option(
            "--w",
            metavar="FLOAT",
            help="Weight of a sample (finite, >= 0), paired with --x in order; give one for every point or none (each weighs 1). "
            "The loss becomes Σ w·ℓ(r)/Σ w, as train --weight-col takes it.",
            show_default=False,
        ),
    ] = None
    a: Annotated[float, typer.Option("--a", metavar="FLOAT", help="Slope a at which to evaluate.")] = 1.0
    b: Annotated[float, typer.Option("--b", metavar="FLOAT", help="Intercept b at which to evaluate.")] = 0.5
    loss: Annotated[
        LossName,
        typer.Option(
            "--loss",
            metavar="[" + "|".join(typing.get_args(LossName)) + "]",
            help="half_mse = ½·mean(r²), mse = mean(r²), half_sse = ½·Σr², huber (½r² inside ±δ, linear outside), absolute = mean|r|, "
            "quantile = mean of the pinball loss at τ.",
        ),
    ] = "half_mse"
    dtype: Annotated[
        DType, typer.Option("--dtype", metavar="[" + "|".join(typing.get_args(DType)) + "]", help="Floating-point type of the tensors.")
    ] = "float64"
    graph: Annotated[bool, typer.Option("--graph", help="Show the computational graph autograd recorded.")] = False
    explain: Annotated[bool, typer.Option("--explain", help="Show the worked step with the numbers substituted.")] = False
    lr: Annotated[
        Optional[float],
        typer.Option("--lr", metavar="FLOAT", help="With --explain: also show the update w ← w − lr·∇L.", show_default=False),
    ] = None
    check: Annotated[
        bool, typer.Option("--check", help="Compare autograd, the hand formula and finite differences; exit 6 if they disagree.")
    ] = False
    check_tol: CheckTol = 1e-6
    huber_delta: Annotated[
        Optional[float], typer.Option("--huber-delta", metavar="FLOAT", help="huber's δ in y units (default 1).", show_default=False)
    ] = None
    quantile: Annotated[
        Optional[float],
        typer.Option("--quantile", metavar="FLOAT", help="τ of the quantile loss, in (0, 1).  [default: 0.5]", show_default=False),
    ] = None
    output_format: format_option("grad") = "table"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise FlagError(f"got {len(self.x)} --x and {len(self.y)} --y values; give them in pairs.", "--x/--y")
        if self.w is not None:
            if len(self.w) != len(self.x):
                raise FlagError(f"got {len(self.w)} --w for {len(self.x)} points; give one weight a point, or none.", "--w")
            bad = next((v for v in self.w if not (v >= 0 and math.isfinite(v))), None)
            if bad is not None:
                raise FlagError(f"a weight must be a finite number >= 0, got {bad:g}.", "--w")
            if not sum(self.w) > 0:
                raise FlagError("every weight is 0: there is nothing to weigh.", "--w")
        if self.lr is not None and self.lr <= 0:
            raise FlagError("must be > 0.", "--lr")
        if self.huber_delta is not None and not (0 < self.huber_delta < math.inf):
            raise FlagError("must be a finite number > 0.", "--huber-delta")
        if self.quantile is not None and not 0 < self.quantile < 1:
            raise FlagError("must lie in (0, 1).", "--quantile")
        for flag, value, loss in (("--huber-delta", self.huber_delta, "huber"), ("--quantile", self.quantile, "quantile")):
            if value is not None and self.loss != loss:  # was accepted and ignored: the table showed the other loss
                raise FlagError(f"is read only by the {loss} loss, and this loss is '{self.loss}': it would be ignored.", flag)


@command(
    "graph",
    commands.graph,
    epilog=example('linfit graph "2*(x-y)+z" --var x=1 --var y=2 --var z=5', "s = 3, ∂s/∂x = 2, ∂s/∂y = −2, ∂s/∂z = 1"),
)
class GraphRequest:
    """Show the graph autograd records for an expression, and every partial derivative.

    Builds the expression from torch operations on tensors with requires_grad=True and calls backward(). Operators + - * / ** and unary minus, parentheses, numbers, variables, and exp, log, sin, cos, tanh, sigmoid, relu, sqrt, abs. The expression is parsed into an allow-list, never evaluated as Python.
    """

    expression: Annotated[str, typer.Argument(metavar="EXPRESSION", help="An expression such as '2*(x-y)+z'.", show_default=False)]
    var: Annotated[
        Optional[list[str]],
        typer.Option("--var", "-v", metavar="NAME=VALUE", help="A variable's value, NAME=VALUE; repeat for each.", show_default=False),
    ] = None
    check: Annotated[bool, typer.Option("--check", help="Compare autograd with finite differences; exit 6 if they disagree.")] = False
    check_tol: CheckTol = 1e-6
    output_format: format_option("graph") = "table"


@command("config", commands.show_config, epilog=example("linfit config --lr 0.1 > my.yaml && linfit train data/sample.csv -c my.yaml"))
class ConfigRequest:
    """Print the effective configuration (defaults < --config file < flags) as YAML.

    The output is a valid config file: save it, edit it, pass it back with --config.
    """

    config_path: ConfigPath = None
    settings: Settings = None  # one flag per configuration key
    commented: Annotated[bool, typer.Option("--commented", help="Add each key's meaning, allowed range and unit as a comment.")] = False


def main() -> None:
    """Console-script entry point."""
    app(prog_name="linfit")


__all__ = ["app", "main", "ConfigError"]
