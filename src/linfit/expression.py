"""Arithmetic expressions, parsed with `ast` into an allow-list and built from torch operations.

Never `eval`: the text is parsed into Python's syntax tree, every node is checked against the
short list below, and only then is the tree walked to call torch functions. Anything else
(attributes, subscripts, lambdas, strings, calls of other names) is refused with the part of
the text that is not allowed.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Callable

import torch

from linfit.errors import UsageError

MAX_LENGTH = 1000  # characters
MAX_DEPTH = 60  # nesting of operations, as a person nests them (a flat chain a + b + c is one level)
MAX_CHAIN = 150  # operations one inside the other as torch records them (a flat chain of n terms is n − 1)

BINARY: dict[type, Callable] = {
    ast.Add: torch.add,
    ast.Sub: torch.sub,
    ast.Mult: torch.mul,
    ast.Div: torch.div,
    ast.Pow: torch.pow,
}
FUNCTIONS: dict[str, Callable] = {
    "exp": torch.exp,
    "log": torch.log,
    "sin": torch.sin,
    "cos": torch.cos,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
}


class ExpressionError(UsageError):
    """The expression is not one linfit may evaluate."""


@dataclass
class Evaluation:
    """The built graph: the output, the leaves by name, and every intermediate tensor (grads retained)."""

    output: torch.Tensor
    leaves: dict[str, torch.Tensor]
    intermediates: list[torch.Tensor]


def parse(text: str) -> ast.Expression:
    """Parse and check the expression; raise ExpressionError naming the offending part."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}.")
    if not text.strip():
        raise ExpressionError("the expression is empty.", 'Try: linfit graph "2*(x-y)+z" --var x=1 --var y=2 --var z=5')
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(_syntax_message(text, exc)) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the expression is nested too deeply (limit {MAX_DEPTH}).") from None
    _check(tree.body, text.strip())
    return tree


def _syntax_message(text: str, exc: SyntaxError) -> str:
    """'not a valid expression at column N: ...', N counted in the text as given (1-based).

    Python gives no offset (0) when the text ends too soon (`x+`, `x**`): the column is then the one
    after the last character, where something more was expected."""
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    if exc.lineno is not None and exc.lineno > 1:  # a newline inside: count from the start of that line
        lead += sum(len(line) + 1 for line in stripped.split("\n")[: exc.lineno - 1])
    if exc.offset:
        return f"not a valid expression at column {lead + exc.offset}: {exc.msg}."
    return f"not a valid expression at column {lead + len(stripped) + 1}: it ends too soon ({exc.msg})."


SAME_LEVEL = ((ast.Add, ast.Sub), (ast.Mult, ast.Div))  # a chain of these reads flat: a + b − c + d is one level


def _check(root: ast.AST, text: str) -> None:
    """Walk the tree without recursion; refuse any node not on the allow-list, and deep nesting.

    Nesting is what a person nests: parentheses, calls, powers. A flat chain `x1 + x2 + … + x61` is a
    chain of left operands in Python's tree; it counts as one level (the length limit bounds it)."""
    stack = [(root, 1, 0)]  # node, nesting, operations above it in the recorded graph
    while stack:
        node, depth, chain = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested too deeply (limit {MAX_DEPTH}).")
        if chain > MAX_CHAIN:
            raise ExpressionError(f"the expression chains more than {MAX_CHAIN} operations one after another (limit {MAX_CHAIN}).")
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            flat = isinstance(node.left, ast.BinOp) and any(
                isinstance(node.op, group) and isinstance(node.left.op, group) for group in SAME_LEVEL
            )
            stack += [(node.left, depth if flat else depth + 1, chain + 1), (node.right, depth + 1, chain + 1)]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            stack.append((node.operand, depth + 1, chain + 1))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            pass
        elif isinstance(node, ast.Name) and node.id not in FUNCTIONS:
            pass
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS
            and len(node.args) == 1
            and not node.keywords
        ):
            stack.append((node.args[0], depth + 1, chain + 1))
        else:
            raise ExpressionError(f"not allowed: {_describe(node)} {_quote(node, text)}.", _ALLOWED)


_ALLOWED = "Allowed: numbers, variables, + - * / **, parentheses, and " + ", ".join(FUNCTIONS) + " of one argument."


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in FUNCTIONS:
            return f"{name}() with other than one plain argument"
        return f"a call of {name!r}" if name else "a call of something other than a function name"
    if isinstance(node, ast.Name):
        return f"the function name {node.id!r} without a call"
    if isinstance(node, ast.Attribute):
        return "attribute access"
    if isinstance(node, ast.Constant):
        return f"a {type(node.value).__name__} constant"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        op = node.op
        return f"the operator {type(op).__name__}"
    return f"{type(node).__name__.lower()}"


def _quote(node: ast.AST, text: str) -> str:
    segment = ast.get_source_segment(text, node) or ""
    if len(segment) > 40:
        segment = segment[:37] + "..."
    column = getattr(node, "col_offset", None)
    return f"at column {column + 1}: {segment!r}" if column is not None else repr(segment)


def variables(tree: ast.Expression) -> list[str]:
    """The variable names the expression uses, in order of first appearance."""
    found = sorted((node.col_offset, node.id) for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id not in FUNCTIONS)
    return list(dict.fromkeys(name for _, name in found))


def evaluate(text: str, values: dict[str, float], tolerate_non_finite: bool = False) -> Evaluation:
    """Build the expression from torch operations on 0-dim float64 leaves that require grad."""
    tree = parse(text)
    missing = [name for name in variables(tree) if name not in values]
    if missing:
        raise ExpressionError(f"no value for variable {missing[0]!r}.", f"Give it with --var {missing[0]}=VALUE.")
    leaves = {name: torch.tensor(float(value), dtype=torch.float64, requires_grad=True) for name, value in values.items()}
    intermediates: list[torch.Tensor] = []

    def build(node: ast.AST) -> torch.Tensor:
        if isinstance(node, ast.Constant):
            return torch.tensor(float(node.value), dtype=torch.float64)
        if isinstance(node, ast.Name):
            return leaves[node.id]
        if isinstance(node, ast.BinOp):
            result = BINARY[type(node.op)](build(node.left), build(node.right))
        elif isinstance(node, ast.UnaryOp):
            operand = build(node.operand)
            result = torch.neg(operand) if isinstance(node.op, ast.USub) else torch.positive(operand)
        else:
            result = FUNCTIONS[node.func.id](build(node.args[0]))
        if result.requires_grad:
            result.retain_grad()  # keep ds/d(node) so the graph can show every node's gradient
            intermediates.append(result)
        return result

    if not variables(tree):
        raise ExpressionError(
            "the expression has no variables: there is nothing to differentiate.", "Use a variable, e.g. 2*x with --var x=1."
        )
    output = build(tree.body)
    value = float(output.detach())
    if not math.isfinite(value) and not tolerate_non_finite:
        raise ExpressionError(f"the expression is {value} at these values.", "Check the domain of log, sqrt and division.")
    return Evaluation(output=output, leaves=leaves, intermediates=intermediates)


def value_at(text: str, values: dict[str, float]) -> float:
    """The expression's value at a point, without a graph; nan or ±inf where it is not finite (no error):
    what finite differences read around a point, where one side may leave the domain (sqrt(x) at x = 0)."""
    with torch.no_grad():
        return float(evaluate(text, values, tolerate_non_finite=True).output)


def parse_assignment(text: str) -> tuple[str, float]:
    """'x=1.5' → ('x', 1.5), for --var."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier() or name in FUNCTIONS:
        raise ExpressionError(f"--var {text!r}: expected NAME=VALUE with NAME a variable name.", "Example: --var x=1.5")
    from linfit.config import number_problem

    try:
        if number_problem(value):
            raise ValueError(value)
        number = float(value)
    except ValueError:
        raise ExpressionError(f"--var {text!r}: {value.strip()!r} is not a number.") from None
    if not math.isfinite(number):
        raise ExpressionError(f"--var {text!r}: the value must be finite.")
    return name, number
