"""The jsonl view: one JSON object a line, written as it happens (`| head`, `| jq` see each step at once).

`train` writes a "step" record per logged step, then one "result" record: the fit (as the json view's,
less its history) and the data's moments, from which `linfit report` draws the loss surface.
"""

from __future__ import annotations

import sys
from dataclasses import asdict

from linfit.output import dumps, emit, expression_json, grad_json, or_null, step_json

NAMES_COLUMNS = True  # predict writes {x column: value, "prediction": value} a line


def train_begin(fields=()) -> None:
    pass


def train_step(record, extra=None) -> None:
    emit(sys.stdout, dumps({**step_json(record), **(extra or {})}) + "\n")


def train_diverged(history, loss_name: str) -> None:
    pass


def train_result(fit: dict, run) -> None:
    record = {"record": "result", **{key: value for key, value in fit.items() if key != "history"}, "moments": asdict(run.prepared.moments)}
    emit(sys.stdout, dumps(record) + "\n")


def predictions(saved, x, predicted, x_name: str, table, bounds=None) -> None:
    names = (x_name, "prediction", *(("lower", "upper") if bounds else ()))
    columns = [x.tolist(), predicted.tolist()] + ([bounds["lower"].tolist(), bounds["upper"].tolist()] if bounds else [])
    rows = list(zip(*columns))
    for start in range(0, len(rows), 4096):  # a few thousand lines a write: quick, and a closed pipe is seen early
        lines = (dumps(dict(zip(names, map(or_null, row)))) + "\n" for row in rows[start : start + 4096])
        emit(sys.stdout, "".join(lines))


def evaluation(out: dict) -> None:
    emit(sys.stdout, dumps(out) + "\n")  # one record: the figures of the whole file


def gradient(result, checked, steps, lr, graph: bool) -> None:
    emit(sys.stdout, dumps(grad_json(result, checked, steps, lr)) + "\n")


def expression(text: str, values: dict, result, checked) -> None:
    emit(sys.stdout, dumps(expression_json(text, result.value, result.partials, result.graph, checked)) + "\n")
