"""The csv view: a header, then a row per record (a step, a prediction, a point, a variable).

Predictions keep the input's columns as they were read and add 'prediction'.
"""

from __future__ import annotations

import sys

from linfit.output import STEP_FIELDS, csv_row, emit, grad_csv, predictions_csv, to_csv

KEEPS_ROWS = True  # predict keeps the input's header and rows, to print them again with the prediction


NAMES_COLUMNS = True  # predict writes the input's columns and "prediction" beside them


def train_begin(fields=()) -> None:
    emit(sys.stdout, ",".join((*STEP_FIELDS, *fields)) + "\n")


def train_step(record, extra=None) -> None:
    row = csv_row(record)
    emit(sys.stdout, row[:-1] + "".join(f",{value!r}" for value in extra.values()) + "\n" if extra else row)


def train_diverged(history, loss_name: str) -> None:
    pass


def train_result(fit: dict, run) -> None:
    pass  # the rows were the steps


def predictions(saved, x, predicted, x_name: str, table, bounds=None) -> None:
    emit(sys.stdout, predictions_csv(x, predicted, x_name, table, bounds))


def evaluation(out: dict) -> None:
    from linfit.evaluate import FIELDS

    emit(sys.stdout, to_csv([out], FIELDS))


def gradient(result, checked, steps, lr, graph: bool) -> None:
    emit(sys.stdout, grad_csv(result))


def expression(text: str, values: dict, result, checked) -> None:
    rows = [{"variable": name, "value": values[name], "grad": grad} for name, grad in result.partials.items()]
    emit(sys.stdout, to_csv(rows, ("variable", "value", "grad")))
