"""The json view: one JSON object per command, every float with every digit (NaN and infinity as null)."""

from __future__ import annotations

import sys

from linfit.output import dumps, emit, expression_json, grad_json, predictions_json


def train_begin(fields=()) -> None:
    pass


def train_step(record, extra=None) -> None:
    pass


def train_diverged(history, loss_name: str) -> None:
    pass


def train_result(fit: dict, run) -> None:
    emit(sys.stdout, dumps(fit) + "\n")


def predictions(saved, x, predicted, x_name: str, table, bounds=None) -> None:
    emit(sys.stdout, dumps(predictions_json(saved, x, predicted, x_name, bounds)) + "\n")


def evaluation(out: dict) -> None:
    emit(sys.stdout, dumps(out) + "\n")


def gradient(result, checked, steps, lr, graph: bool) -> None:
    emit(sys.stdout, dumps(grad_json(result, checked, steps, lr)) + "\n")


def expression(text: str, values: dict, result, checked) -> None:
    emit(sys.stdout, dumps(expression_json(text, result.value, result.partials, result.graph, checked)) + "\n")
