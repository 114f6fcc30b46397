"""Machine-readable results: the JSON objects and CSV text that the views (linfit.views) print and the
model file and report keep, and `emit`, the one way text reaches stdout.

No rounding: every float keeps every digit (Python's shortest round-trip repr).
Streams are flushed record by record, so that `| head` and `| jq` see each step as it happens.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, astuple
from typing import TYPE_CHECKING, Any, Iterable, TextIO

if TYPE_CHECKING:  # types only: `predict` must not import torch, nor `grad -f json` the config schema
    from linfit.config import TrainConfig
    from linfit.gradient import PointGradient
    from linfit.reference import LeastSquares
    from linfit.train import StepRecord, TrainResult

STEP_FIELDS = ("step", "loss", "grad_a", "grad_b", "a", "b")


def stopping_target(tol: float, epochs: int) -> str:
    """What a run stops at, in words: its tol, or by default the rounding floor (full batch) or 1% of the
    standard error (mini-batch runs, whose result says how many epochs they took; see train.py)."""
    if tol:
        return f"tol {tol:g}"
    return "to 1% of the standard error" if epochs else "to the rounding floor"


def relative_gap(value: float, reference: float) -> float:
    """|value − reference| / |reference| (the absolute gap when the reference is 0)."""
    gap = abs(value - reference)
    return gap / abs(reference) if reference != 0 else gap


def grad_json(result: PointGradient, check=None, steps: list[str] | None = None, lr: float | None = None) -> dict[str, Any]:
    out = {
        "a": result.a,
        "b": result.b,
        "x": list(result.x),
        "y": list(result.y),
        **({} if result.weights is None else {"w": list(result.weights)}),
        "prediction": list(result.prediction),
        "loss_name": result.loss_name,
        "loss": result.loss,
        "grad_a": result.grad_a,
        "grad_b": result.grad_b,
        "hand": {"grad_a": result.hand_grad_a, "grad_b": result.hand_grad_b},
    }
    if result.pieces:  # huber, absolute, quantile: the loss's parameter and each point's piece
        kind = result.kind
        out["loss_parameters"] = (
            {"huber_delta": kind.delta} if kind.name == "huber" else {"quantile": kind.tau} if kind.name == "quantile" else {}
        )
        out["pieces"] = list(result.pieces)
    if result.graph is not None:
        from linfit.graph import to_dict

        out["graph"] = to_dict(result.graph)
    if check is not None:
        out["check"] = check_json(check)
    if steps is not None:
        out["explain"] = steps
    if lr is not None:
        out["update"] = {"lr": lr, "a": result.a - lr * result.grad_a, "b": result.b - lr * result.grad_b}
    return out


def check_json(check) -> dict[str, Any]:
    return {
        "gradients": check.gradients,
        "largest_difference": check.largest_difference,
        "allowed": check.allowed,
        "passed": check.passed,
        "verdict": check.verdict,  # agree, cannot check (a derivative not finite: see reason), DISAGREE
        "reason": check.unchecked,
        **({"notes": list(check.notes)} if getattr(check, "notes", ()) else {}),
    }


def expression_json(expression: str, value: float, partials: dict[str, float], node, check=None) -> dict[str, Any]:
    from linfit.graph import to_dict

    out = {"expression": expression, "value": value, "grad": partials, "graph": to_dict(node)}
    if check is not None:
        out["check"] = check_json(check)
    return out


def grad_csv(result: PointGradient) -> str:
    """One row per point (x, y, prediction) with the batch's loss and gradients repeated."""
    weights = result.weights or (1.0,) * len(result.x)
    rows = [
        {"x": x, "y": y, "w": w, "prediction": p, "loss": result.loss, "grad_a": result.grad_a, "grad_b": result.grad_b}
        for x, y, w, p in zip(result.x, result.y, weights, result.prediction)
    ]
    columns = ("x", "y", *(("w",) if result.weights is not None else ()), "prediction", "loss", "grad_a", "grad_b")
    return to_csv(rows, columns)


def train_json(
    result: TrainResult,
    history: list[StepRecord],
    ols: LeastSquares | None,
    config: TrainConfig,
    data: dict[str, Any],
    stats=None,
) -> dict[str, Any]:
    return {
        "a": result.a,
        "b": result.b,
        "loss": result.loss,
        "loss_name": config.loss,
        "steps": result.steps,
        "converged": result.converged,
        "stop_reason": result.stop_reason,
        "wall_time_s": result.wall_time_s,
        "ols": None if ols is None else {"a": ols.a, "b": ols.b},
        "gap": None if ols is None else {"a": relative_gap(result.a, ols.a), "b": relative_gap(result.b, ols.b)},
        "error_bound": {"a": or_null(result.error_a), "b": or_null(result.error_b)},
        # no bound (absolute/quantile's subgradient stop, a diverged run): no digits, rather than a claim of 0
        "digits": {
            k: (None if or_null(bound) is None else d) for k, d, bound in zip("ab", result.digits(), (result.error_a, result.error_b))
        },
        "lr": or_null(result.lr),
        "lr_source": "set" if config.lr is not None else "default",  # config.lr records the lr used either way
        "epochs": result.epochs,
        "adam_eps": result.adam_eps,
        "stats": None if stats is None else asdict(stats),
        "error_vs_se": None
        if stats is None or not stats.se_a
        else {  # optimisation error / statistical error
            "a": or_null(result.error_a / stats.se_a),
            "b": or_null(result.error_b / stats.se_b),
        },
        "init": {"method": result.start.method, "a": result.start.a, "b": result.start.b},
        "data": data,
        "config": _recorded(config, result),
        "history": [asdict(record) for record in history],
    }


def versions() -> dict[str, str]:
    """What made a result: linfit's, torch's and Python's versions (as the model file records them)."""
    import platform

    import torch

    from linfit import __version__

    return {"linfit": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _recorded(config: TrainConfig, result: TrainResult) -> dict[str, Any]:
    """The configuration as run: an lr left to the optimizer's default is recorded as the lr it used, so that
    `linfit train DATA --config <this, as YAML>` repeats the run."""
    recorded = config.model_dump(mode="json")
    if recorded.get("lr") is None:
        recorded["lr"] = or_null(result.lr)
    return recorded


def step_json(record: StepRecord) -> dict[str, Any]:
    return {"record": "step", **asdict(record)}


def to_csv(rows: Iterable[dict[str, Any]], fields: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def history_csv(history: Iterable[StepRecord]) -> str:
    return to_csv((asdict(r) for r in history), STEP_FIELDS)


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def csv_row(record: StepRecord) -> str:
    return ",".join(_cell(value) for value in astuple(record)) + "\n"


def dumps(obj: dict[str, Any]) -> str:
    """One JSON object on one line, for stdout: NaN and infinity (which JSON cannot carry) as null.

    Where stdout cannot encode UTF-8, every non-ASCII character is escaped (still the same JSON).
    """
    from linfit.text import ascii_only

    return json.dumps(finite_or_null(obj), allow_nan=False, ensure_ascii=ascii_only())


def finite_or_null(value: Any) -> Any:
    """The same structure with every non-finite float replaced by None (JSON null)."""
    if isinstance(value, float):
        return or_null(value)
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


PIECE_BYTES = 1 << 16  # one write to stdout at most: a pipe holds 64 KiB


def emit(stream: TextIO, text: str) -> None:
    """Write and flush at once, in pieces of at most 64 KiB, checking that each is written whole.

    A reader down the pipe sees it now, not when a buffer fills. One large write to a pipe whose reader
    goes away (`| head -1`) can end short without an error; here the rest is written again, which
    raises BrokenPipeError (exit 141) instead of losing the output silently.
    """
    descriptor = _descriptor(require_open(stream))
    if descriptor is None:  # not a file (a test's buffer): its own write is whole
        stream.write(text)
        stream.flush()
        return
    stream.flush()  # what the stream still holds goes first
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while data:
        written = os.write(descriptor, data[:PIECE_BYTES])
        if written <= 0:
            raise BrokenPipeError("stdout accepted nothing")
        data = data[written:]


def require_open(stream: TextIO | None) -> TextIO:
    """The stream, or an OutputError (exit 7) when the process started with it closed (`>&-`)."""
    if stream is None:
        from linfit.errors import OutputError

        raise OutputError("stdout is closed: the results cannot be printed.", "Run it with stdout open, e.g. > FILE or | less.")
    return stream


def _descriptor(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


class Checked:
    """A text stream for a writer that prints (Rich): every write goes through `emit`, the rest to the stream."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        emit(self.stream, text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def predictions_json(saved, x, predictions, x_name: str, bounds=None) -> dict[str, Any]:
    out = {
        "model": saved.path,
        "a": saved.a,
        "b": saved.b,
        "x_name": x_name,
        "x": [or_null(v) for v in x.tolist()],
        "prediction": [or_null(v) for v in predictions.tolist()],
    }
    if bounds:  # predict --interval: the interval's kind and level, and its bounds beside each prediction
        out["interval"] = {key: value for key, value in bounds.items() if key not in ("lower", "upper")}
        out["lower"] = [or_null(v) for v in bounds["lower"].tolist()]
        out["upper"] = [or_null(v) for v in bounds["upper"].tolist()]
    return out


def predictions_csv(x, predictions, x_name: str, table=None, bounds=None) -> str:
    """The input's columns (or x alone) and a 'prediction' column (and 'lower', 'upper' with bounds), floats
    with every digit.

    table: (header names, rows of text cells) as read, kept as they were; an empty prediction where x was missing.
    """
    columns = [predictions.tolist()] + ([bounds["lower"].tolist(), bounds["upper"].tolist()] if bounds else [])
    names = ["prediction"] + (["lower", "upper"] if bounds else [])
    if table is None:
        rows = ({x_name: xi, **dict(zip(names, values))} for xi, *values in zip(x.tolist(), *columns))
        return to_csv(rows, (x_name, *names))
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*header, *names])
    writer.writerows([*row, *("" if v != v else repr(v) for v in values)] for row, *values in zip(rows, *columns))
    return buffer.getvalue()


def or_null(value: float) -> float | None:
    """JSON has no NaN or infinity: such a value is written as null."""
    return value if value == value and abs(value) != float("inf") else None
