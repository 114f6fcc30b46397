"""Machine-readable results: the JSON, JSON Lines and CSV that scripts rely on.

No rounding: every float keeps every digit (Python's shortest round-trip repr).
Streams are flushed record by record, so that `| head` and `| jq` see each step as it happens.
"""

from __future__ import annotations

import csv
import io
import json
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
    rows = [
        {"x": x, "y": y, "prediction": p, "loss": result.loss, "grad_a": result.grad_a, "grad_b": result.grad_b}
        for x, y, p in zip(result.x, result.y, result.prediction)
    ]
    return to_csv(rows, ("x", "y", "prediction", "loss", "grad_a", "grad_b"))


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
        "digits": dict(zip("ab", result.digits())),
        "lr": or_null(result.lr),
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
        "config": config.model_dump(mode="json"),
        "history": [asdict(record) for record in history],
    }


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


def emit(stream: TextIO, text: str) -> None:
    """Write and flush at once: a reader down the pipe sees it now, not when a buffer fills."""
    stream.write(text)
    stream.flush()


def predictions_json(saved, x, predictions, x_name: str) -> dict[str, Any]:
    return {
        "model": saved.path,
        "a": saved.a,
        "b": saved.b,
        "x_name": x_name,
        "x": [or_null(v) for v in x.tolist()],
        "prediction": [or_null(v) for v in predictions.tolist()],
    }


def predictions_csv(x, predictions, x_name: str, table=None) -> str:
    """The input's columns (or x alone) and a 'prediction' column, floats with every digit.

    table: (header names, rows of text cells) as read, kept as they were; an empty prediction where x was missing.
    """
    if table is None:
        return to_csv(({x_name: xi, "prediction": pi} for xi, pi in zip(x.tolist(), predictions.tolist())), (x_name, "prediction"))
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*header, "prediction"])
    writer.writerows([*row, "" if p != p else repr(p)] for row, p in zip(rows, predictions.tolist()))
    return buffer.getvalue()


def or_null(value: float) -> float | None:
    """JSON has no NaN or infinity: such a value is written as null."""
    return value if value == value and abs(value) != float("inf") else None
