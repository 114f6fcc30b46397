"""The command line: parse, call the core, hand results to `report` or `output`, map errors to exit codes.

The only module that imports typer. It must stay cheap to import: torch, pandas and
rich are imported inside the commands that need them, so `linfit --help` is instant.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from typer.core import TyperGroup

from linfit import __version__
from linfit.errors import ConfigError, DataError, ExitCode, LinfitError

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 unexpected error (a bug), 2 usage or config error, 3 data error, "
    "4 training diverged, 5 not converged (with --strict), 130 interrupted."
)


class LinfitGroup(TyperGroup):
    """Turns every error into one line on stderr and its exit code: the one place that does."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra) -> Any:
        """As click's main, but a usage error is one line (not a framed box) on stderr, exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            outcome = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's UsageError and BadParameter derive from it
            message = exc.format_message().strip()
            if message:  # empty when no arguments at all were given: the help is already shown
                context = getattr(exc, "ctx", None)
                where = f" See '{context.command_path} --help'." if context is not None else ""
                typer.echo(f"linfit: error: {_sentence(message)}{where}", err=True)
            sys.exit(getattr(exc, "exit_code", int(ExitCode.USAGE)))

        except typer.Abort:
            typer.echo("linfit: aborted.", err=True)
            sys.exit(int(ExitCode.UNEXPECTED))
        sys.exit(outcome if isinstance(outcome, int) else 0)

    def invoke(self, ctx: typer.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("LINFIT_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except LinfitError as exc:
            if debug:
                raise
            typer.echo(f"linfit: error: {_sentence(str(exc))}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            typer.echo("linfit: interrupted.", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except BrokenPipeError:
            # the reader went away (`| head`): stop quietly, and keep Python from failing again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(int(ExitCode.BROKEN_PIPE))
        except Exception as exc:  # anything else is a bug: say so in one line
            if debug:
                raise
            typer.echo(
                f"linfit: unexpected error: {type(exc).__name__}: {exc}. "
                "This is a bug; run again with --debug for the traceback and report it.",
                err=True,
            )
            ctx.exit(int(ExitCode.UNEXPECTED))


app = typer.Typer(
    cls=LinfitGroup,
    help=(
        "Fit y = a·x + b to samples by gradient descent, show every step's loss and "
        "dL/da, dL/db from autograd, and hold the fit against the exact least-squares line.\n\n"
        + EXIT_CODES_HELP
    ),
    epilog="Example: linfit train data/sample.csv",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


Format = Annotated[Literal["table", "json"], typer.Option("--format", "-f", help="table (for people) or json (one object on stdout, every digit).")]
ConfigPath = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file; flags override it.", show_default=False)]
Lr = Annotated[Optional[float], typer.Option("--lr", help="Learning rate γ in w ← w − γ·∇L. [default: 0.5]", show_default=False)]
Steps = Annotated[Optional[int], typer.Option("--steps", help="Most steps to run. [default: 1000]", show_default=False)]
Tol = Annotated[Optional[float], typer.Option("--tol", help="Stop when a and b are within tol (relative) of the optimum. [default: 1e-10]", show_default=False)]
OptimizerOpt = Annotated[Optional[Literal["sgd", "momentum", "adam"]], typer.Option("--optimizer", help="sgd, momentum or adam. [default: sgd]", show_default=False)]
MomentumOpt = Annotated[Optional[float], typer.Option("--momentum", help="Momentum factor for --optimizer momentum. [default: 0.9]", show_default=False)]
LossOpt = Annotated[Optional[Literal["half_mse", "mse", "half_sse"]], typer.Option("--loss", help="half_mse = ½·mean(r²), mse = mean(r²), half_sse = ½·Σr². [default: half_mse]", show_default=False)]
Standardize = Annotated[Optional[bool], typer.Option("--standardize/--no-standardize", help="Train on standardised x (default) or run the plain loop on raw x.", show_default=False)]
InitOpt = Annotated[Optional[Literal["values", "zeros", "xavier_normal"]], typer.Option("--init", help="Starting point: values (--init-a, --init-b), zeros or xavier_normal. [default: values]", show_default=False)]
InitA = Annotated[Optional[float], typer.Option("--init-a", help="Starting slope a. [default: 1.0]", show_default=False)]
InitB = Annotated[Optional[float], typer.Option("--init-b", help="Starting intercept b. [default: 0.5]", show_default=False)]
DTypeOpt = Annotated[Optional[Literal["float64", "float32"]], typer.Option("--dtype", help="[default: float64]", show_default=False)]
DeviceOpt = Annotated[Optional[Literal["cpu", "cuda", "auto"]], typer.Option("--device", help="[default: cpu]", show_default=False)]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Seed for everything random. [default: 0]", show_default=False)]
LogEvery = Annotated[Optional[int], typer.Option("--log-every", help="Log every this many steps (first and last always). [default: 10]", show_default=False)]
Threads = Annotated[Optional[int], typer.Option("--threads", help="torch threads; 0 chooses by data size. [default: 0]", show_default=False)]
XCol = Annotated[Optional[str], typer.Option("--x-col", help="Column of x: header name or 0-based index. [default: x]", show_default=False)]
YCol = Annotated[Optional[str], typer.Option("--y-col", help="Column of y: header name or 0-based index. [default: y]", show_default=False)]


def _config(path: Optional[Path], **flags: Any):
    from linfit.config import resolve_config

    return resolve_config(path, flags)


@app.command()
def train(
    data: Annotated[str, typer.Argument(help="CSV file with x and y columns ('-' reads stdin).", show_default=False)],
    config_path: ConfigPath = None,
    lr: Lr = None,
    steps: Steps = None,
    tol: Tol = None,
    optimizer: OptimizerOpt = None,
    momentum: MomentumOpt = None,
    loss: LossOpt = None,
    standardize: Standardize = None,
    init: InitOpt = None,
    init_a: InitA = None,
    init_b: InitB = None,
    dtype: DTypeOpt = None,
    device: DeviceOpt = None,
    seed: Seed = None,
    log_every: LogEvery = None,
    threads: Threads = None,
    x_col: XCol = None,
    y_col: YCol = None,
    drop_na: Annotated[bool, typer.Option("--drop-na", help="Drop rows with a missing x or y (and say how many).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 5 when the step limit comes before convergence.")] = False,
    output_format: Format = "table",
) -> None:
    """Fit y = a·x + b to a CSV file by gradient descent and compare with the exact answer.

    Prints a row every --log-every steps (loss, dL/da, dL/db, a, b) and a summary that holds the fit against the closed-form least-squares line.

    [bold]Example:[/] linfit train data/sample.csv --lr 0.1 --log-every 5
    """
    config = _config(
        config_path, lr=lr, steps=steps, tol=tol, optimizer=optimizer, momentum=momentum, loss=loss,
        standardize=standardize, init=init, init_a=init_a, init_b=init_b, dtype=dtype, device=device,
        seed=seed, log_every=log_every, threads=threads, x_col=x_col, y_col=y_col,
    )
    torch_ready = _import_in_background("torch")  # overlaps torch's import with reading the file
    from linfit.data import load_samples
    from linfit.reference import least_squares, require_determined

    samples = load_samples(data, config.x_col, config.y_col, drop_na=drop_na)
    if samples.dropped:
        typer.echo(f"linfit: dropped {samples.dropped} rows with a missing value.", err=True)
    try:
        ols = least_squares(samples.x, samples.y)
    except DataError as exc:
        if config.standardize:
            raise DataError(f"{samples.source}: {exc.message}", exc.hint) from None
        ols = None
        typer.echo(f"linfit: warning: {samples.source}: {exc.message} The least-squares line is not unique.", err=True)
    torch_ready.join()
    from linfit.train import Training, configure_threads

    configure_threads(config.threads, samples.n)
    training = Training(samples.x, samples.y, config)
    history = list(training)
    result = training.result
    data_info = {"source": samples.source, "rows": samples.n, "x": samples.x_name, "y": samples.y_name, "dropped": samples.dropped}
    if output_format == "json":
        from linfit.output import dumps, train_json

        typer.echo(dumps(train_json(result, history, ols, config, data_info)))
    else:
        from linfit import report

        out = report.console()
        out.print(report.history_table(history, config.loss))
        line = f"data {samples.source}: {samples.n} rows, x = '{samples.x_name}', y = '{samples.y_name}'"
        out.print(report.train_summary(result, ols, config.loss, line, config.tol))
    if strict and not result.converged:
        from linfit.errors import NotConvergedError

        raise NotConvergedError(
            f"not converged after {result.steps} steps (tol {config.tol:g}).",
            "Raise --steps or --lr, or loosen --tol.",
        )


@app.command()
def grad(
    x: Annotated[list[float], typer.Option("--x", help="x of a sample; repeat with --y for several.", show_default=False)],
    y: Annotated[list[float], typer.Option("--y", help="y of a sample, paired with --x in order.", show_default=False)],
    a: Annotated[float, typer.Option("--a", help="Slope a at which to evaluate.")] = 1.0,
    b: Annotated[float, typer.Option("--b", help="Intercept b at which to evaluate.")] = 0.5,
    loss: Annotated[Literal["half_mse", "mse", "half_sse"], typer.Option("--loss", help="The loss.")] = "half_mse",
    dtype: Annotated[Literal["float64", "float32"], typer.Option("--dtype")] = "float64",
    output_format: Format = "table",
) -> None:
    """The loss and its gradient at one point (or a few), by autograd and by hand.

    Builds a, b as tensors with requires_grad=True, computes ŷ = a·x + b and the loss, calls loss.backward(), and shows dL/da, dL/db next to the hand-derived formulas.

    [bold]Example:[/] linfit grad --x 1.4 --y 2.1   [dim](loss 0.02, dL/da −0.28, dL/db −0.2)[/]
    """
    if len(x) != len(y):
        raise typer.BadParameter(f"got {len(x)} --x and {len(y)} --y values; give them in pairs.", param_hint="--x/--y")
    from linfit.gradient import point_gradient

    result = point_gradient(x, y, a=a, b=b, loss=loss, dtype=dtype)
    if output_format == "json":
        from linfit.output import dumps, grad_json

        typer.echo(dumps(grad_json(result)))
    else:
        from linfit import report

        report.console().print(report.grad_table(result))


@app.command("config")
def show_config(
    config_path: ConfigPath = None,
    lr: Lr = None,
    steps: Steps = None,
    tol: Tol = None,
    optimizer: OptimizerOpt = None,
    momentum: MomentumOpt = None,
    loss: LossOpt = None,
    standardize: Standardize = None,
    init: InitOpt = None,
    init_a: InitA = None,
    init_b: InitB = None,
    dtype: DTypeOpt = None,
    device: DeviceOpt = None,
    seed: Seed = None,
    log_every: LogEvery = None,
    threads: Threads = None,
    x_col: XCol = None,
    y_col: YCol = None,
) -> None:
    """Print the effective configuration (defaults < --config file < flags) as YAML.

    The output is a valid config file: save it, edit it, pass it back with --config.

    [bold]Example:[/] linfit config --lr 0.1 > my.yaml && linfit train data/sample.csv -c my.yaml
    """
    from linfit.config import to_yaml

    config = _config(
        config_path, lr=lr, steps=steps, tol=tol, optimizer=optimizer, momentum=momentum, loss=loss,
        standardize=standardize, init=init, init_a=init_a, init_b=init_b, dtype=dtype, device=device,
        seed=seed, log_every=log_every, threads=threads, x_col=x_col, y_col=y_col,
    )
    typer.echo(to_yaml(config), nl=False)


def _import_in_background(module: str) -> threading.Thread:
    """Start importing a module on another thread; join() before using it."""
    import importlib

    thread = threading.Thread(target=importlib.import_module, args=(module,), daemon=True)
    thread.start()
    return thread


def main() -> None:
    """Console-script entry point."""
    app(prog_name="linfit")


__all__ = ["app", "main", "ConfigError"]
