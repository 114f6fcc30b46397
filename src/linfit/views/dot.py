"""The dot view: the graph autograd recorded, as Graphviz text (`| dot -Tsvg > graph.svg`)."""

from __future__ import annotations

import sys

from linfit.output import emit

NEEDS_GRAPH = True  # `grad` records its graph for this view even without --graph


def gradient(result, checked, steps, lr, graph: bool) -> None:
    from linfit.graph import to_dot

    emit(sys.stdout, to_dot(result.graph, title=f"{result.loss_name} of a·x + b"))


def expression(text: str, values: dict, result, checked) -> None:
    from linfit.graph import to_dot

    emit(sys.stdout, to_dot(result.graph, title=text))
