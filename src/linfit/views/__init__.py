"""The output formats: one view module each, chosen from this registry.

A view turns what a command computed into text on stdout; it computes nothing. Each module serves the
commands named here, through one function per kind of result (the same names in every view):

    train_begin(fields)                             before the first step (a CSV header); `fields`: the steps'
                                                    extra fields, ("valid_loss",) when rows are held out
    train_step(record, extra)                       each step, as it happens (`extra`: {field: value} or None)
    train_diverged(history, loss_name)              the steps that led to a divergence
    train_result(fit, run)                          the fit (`run`: result, history, prepared, config, trace)
    predictions(saved, x, predictions, x_name, table, bounds)   (`bounds`: predict --interval's, or None)
    evaluation(out)                                 `linfit eval` (evaluate.evaluation_json's dict)
    gradient(result, checked, steps, lr, graph)     `linfit grad`
    expression(text, values, result, checked)       `linfit graph`

A module may say what it needs before the work starts: NEEDS_GRAPH (the autograd graph of `grad`),
KEEPS_ROWS (predict keeps the input's rows and columns), NAMES_COLUMNS (predict's output names the
input's columns beside 'prediction') and wants_trace() (every step's loss, for a curve).
The `--format` choices and their help are made from FORMATS; importing this package imports no view.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Format:
    name: str  # the --format value and the module's name
    meaning: str  # a few words for the help: "table (for people)"
    commands: tuple[str, ...]  # the commands it serves


FORMATS: tuple[Format, ...] = (
    Format("table", "for people", ("train", "predict", "grad", "graph", "eval")),
    Format("json", "one object", ("train", "predict", "grad", "graph", "eval")),
    Format("jsonl", "a line per record, as it happens", ("train", "predict", "grad", "graph", "eval")),
    Format("csv", "a row per record", ("train", "predict", "grad", "graph", "eval")),
    Format("dot", "the autograd graph, for Graphviz", ("grad", "graph")),
)


def formats(command: str) -> list[Format]:
    """The formats a command offers, in the registry's order (the first is its default)."""
    return [entry for entry in FORMATS if command in entry.commands]


def view(name: str) -> ModuleType:
    """The view module of a format (imported now: rich only for the table)."""
    if name not in {entry.name for entry in FORMATS}:
        raise ValueError(f"no view named {name!r}")
    return importlib.import_module(f"linfit.views.{name}")


def needs(module: ModuleType, what: str) -> bool:
    """Whether a view declared a need (NEEDS_GRAPH, KEEPS_ROWS, NAMES_COLUMNS)."""
    return bool(getattr(module, what, False))
