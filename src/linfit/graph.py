"""The computational graph autograd recorded, read from `grad_fn.next_functions`, as plain data.

A node is a backward function (AddBackward0, MulBackward0, ...) or AccumulateGrad for a leaf.
Each carries the value of the tensor it made and the gradient of the output with respect to it,
when those were kept (`retain_grad()`). The terminal picture, JSON and Graphviz DOT are made from this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import torch


@dataclass
class Node:
    name: str  # AddBackward0, AccumulateGrad, ...
    variable: str | None  # the leaf's name, for AccumulateGrad
    value: float | None
    grad: float | None
    inputs: list[Node] = field(default_factory=list)
    key: int = 0  # the same number for the same node wherever it appears (the graph is a DAG)


def read_graph(output: torch.Tensor, leaves: dict[str, torch.Tensor], intermediates: Iterable[torch.Tensor]) -> Node:
    """Walk from the output's grad_fn to the leaves; call after backward() for the gradients."""
    made_by = {t.grad_fn: t for t in intermediates if t.grad_fn is not None}
    made_by.setdefault(output.grad_fn, output)
    names = {id(tensor): name for name, tensor in leaves.items()}
    keys: dict[Any, int] = {}

    def node(function) -> Node:
        key = keys.setdefault(function, len(keys))
        if type(function).__name__ == "AccumulateGrad":
            leaf = function.variable
            return Node("AccumulateGrad", names.get(id(leaf), "?"), _scalar(leaf), _scalar(leaf.grad), [], key)
        tensor = made_by.get(function)
        value = _scalar(tensor) if tensor is not None else None
        grad = _scalar(tensor.grad) if tensor is not None else None
        inputs = [node(parent) for parent, _ in function.next_functions if parent is not None]
        return Node(type(function).__name__, None, value, grad, inputs, key)

    if output.grad_fn is None:  # the output is a leaf itself, as for the expression "x"
        if not output.requires_grad:
            raise ValueError("the output does not depend on any variable that requires grad")
        return Node("AccumulateGrad", names.get(id(output), "?"), _scalar(output), _scalar(output.grad), [], 0)
    return node(output.grad_fn)


def _scalar(tensor: torch.Tensor | None) -> float | None:
    if tensor is None:
        return None
    return float(tensor.detach().reshape(-1)[0]) if tensor.numel() == 1 else None


def to_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name, "value": node.value, "grad": node.grad}
    if node.variable is not None:
        out["variable"] = node.variable
    if node.inputs:
        out["inputs"] = [to_dict(child) for child in node.inputs]
    return out


def names(node: Node) -> list[str]:
    """Every node's name, depth first: what the tests compare with torch's own graph."""
    return [node.name] + [name for child in node.inputs for name in names(child)]


def to_dot(node: Node, title: str = "graph") -> str:
    """Graphviz DOT text, edges in the direction data flows (input → operation); no Graphviz needed."""
    lines = [f"digraph {_quoted(title)} {{", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    seen: set[int] = set()
    edges: list[str] = []

    def visit(n: Node) -> None:
        if n.key in seen:
            return
        seen.add(n.key)
        label = n.name if n.variable is None else f"{n.variable}\\n{n.name}"
        details = [f"value {n.value:.6g}" if n.value is not None else None, f"grad {n.grad:.6g}" if n.grad is not None else None]
        label += "".join(f"\\n{d}" for d in details if d)
        shape = ', shape=ellipse, style=filled, fillcolor="#dde8f8"' if n.variable is not None else ""
        lines.append(f'  n{n.key} [label="{label}"{shape}];')
        for child in n.inputs:
            edges.append(f"  n{child.key} -> n{n.key};")
            visit(child)

    visit(node)
    return "\n".join(lines + edges + ["}"]) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
