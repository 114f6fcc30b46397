"""`linfit graph`, `grad --graph/--explain/--check` and initialisation: autograd made visible, and checked."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, parse_json
from linfit.expression import ExpressionError, evaluate, parse
from linfit.gradient import central_differences, check_point_gradient, explain, point_gradient
from linfit.graph import names, read_graph
from linfit.model import starting_point


def torch_graph_names(function) -> list[str]:
    """torch's own graph, depth first, straight from grad_fn.next_functions: the oracle for read_graph."""
    return [type(function).__name__] + [n for parent, _ in function.next_functions if parent is not None for n in torch_graph_names(parent)]


def test_notebook_expression_value_graph_and_partials(invoke):
    out = parse_json(invoke("graph", "2*(x-y)+z", "--var", "x=1", "--var", "y=2", "--var", "z=5", "-f", "json").stdout)
    assert out["value"] == 3.0
    assert out["grad"] == {"x": 2.0, "y": -2.0, "z": 1.0}
    root = out["graph"]
    assert root["name"] == "AddBackward0"
    mul, z = root["inputs"]
    assert mul["name"] == "MulBackward0" and z == {"name": "AccumulateGrad", "value": 5.0, "grad": 1.0, "variable": "z"}
    (sub,) = mul["inputs"]
    assert sub["name"] == "SubBackward0" and (sub["value"], sub["grad"]) == (-1.0, 2.0)
    assert [leaf["variable"] for leaf in sub["inputs"]] == ["x", "y"]


def test_graph_table_shows_the_tree_and_partials(invoke):
    result = invoke("graph", "2*(x-y)+z", "-v", "x=1", "-v", "y=2", "-v", "z=5")
    assert result.exit_code == 0
    for needle in ("AddBackward0", "MulBackward0", "SubBackward0", "AccumulateGrad", "∂s/∂x", "s = 3"):
        assert needle in result.stdout


@pytest.mark.parametrize(
    "expression",
    ["2*(x-y)+z", "x*x*y", "exp(x)/(1+y**2)", "-sigmoid(x*y) + relu(z - 1)", "sqrt(abs(x)) * log(z) - tanh(y)", "sin(x)*cos(y)"],
)
def test_graph_structure_matches_grad_fn(expression):
    evaluation = evaluate(expression, {"x": 0.7, "y": -1.3, "z": 5.0})
    evaluation.output.backward()
    node = read_graph(evaluation.output, evaluation.leaves, evaluation.intermediates)
    assert names(node) == torch_graph_names(evaluation.output.grad_fn)


def test_csv_output_has_a_row_per_variable(invoke):
    result = invoke("graph", "2*(x-y)+z", "-v", "x=1", "-v", "y=2", "-v", "z=5", "-f", "csv")
    assert result.stdout.splitlines() == ["variable,value,grad", "x,1.0,2.0", "y,2.0,-2.0", "z,5.0,1.0"]


def test_dot_output_is_graphviz_text(invoke):
    result = invoke("graph", "2*(x-y)+z", "-v", "x=1", "-v", "y=2", "-v", "z=5", "-f", "dot")
    text = result.stdout
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    assert text.count("->") == 5  # x→sub, y→sub, sub→mul, mul→add, z→add
    assert "AddBackward0" in text and "AccumulateGrad" in text


HOSTILE = {
    "import": "__import__('os').system('touch pwned')",
    "dunder attribute": "x.__class__.__bases__",
    "attribute call": "x.real.conjugate()",
    "unknown function": "open('pwned', 'w')",
    "eval": "eval('1')",
    "lambda": "(lambda: 1)()",
    "subscript": "x[0]",
    "string": "'abc' * 3",
    "list": "[1, 2]",
    "comparison": "x < 1",
    "boolean": "x and 1",
    "walrus": "(q := 1)",
    "keyword argument": "exp(x=1)",
    "two arguments": "exp(x, 2)",
    "starred": "exp(*x)",
    "f-string": "f'{x}'",
    "bare function": "exp + 1",
    "very long": "x+" * 600 + "x",
    "very deep": "-(" * 80 + "x" + ")" * 80,
    "no variables": "2 * 3",
    "deep calls": "exp(" * 70 + "x" + ")" * 70,
    "too deep for the parser": "-" * 5000 + "x",
    "empty": "   ",
    "syntax": "2*(x-",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_expressions_are_refused_without_running(case, tmp_path, invoke, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("graph", HOSTILE[case], "-v", "x=1")
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("linfit: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_refusal_points_at_the_offending_part():
    with pytest.raises(ExpressionError, match=r"attribute access at column 5: 'x.__class__'"):
        parse("1 + x.__class__")
    with pytest.raises(ExpressionError, match="a call of 'open'"):
        parse("open('f')")


def test_missing_variable_is_named(invoke):
    result = invoke("graph", "x + q", "--var", "x=1")
    assert result.exit_code == 2 and "'q'" in result.stderr and "--var q=" in result.stderr


def test_bad_var_syntax(invoke):
    assert invoke("graph", "x", "--var", "x").exit_code == 2
    assert invoke("graph", "x", "--var", "x=abc").exit_code == 2


def test_grad_graph_has_the_linear_models_nodes(invoke):
    out = parse_json(invoke("grad", "--x", "1.4", "--y", "2.1", "--graph", "-f", "json").stdout)

    def collect(node):
        return [node["name"]] + [n for child in node.get("inputs", []) for n in collect(child)]

    found = collect(out["graph"])
    for name in ("MulBackward0", "PowBackward0", "SubBackward0", "AddBackward0", "AccumulateGrad"):
        assert name in found
    result = point_gradient([1.4], [2.1], with_graph=True)
    a_t = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    loss = 0.5 * ((torch.add(torch.mul(a_t, torch.tensor([1.4], dtype=torch.float64)), b_t) - 2.1) ** 2).mean()
    assert names(result.graph) == torch_graph_names(loss.grad_fn)


def test_explain_substitutes_the_notebook_numbers(invoke):
    lines = explain(point_gradient([1.4], [2.1]), lr=0.1)
    assert lines[0] == "ŷ = a·x + b = 1·1.4 + 0.5 = 1.9"
    assert lines[1] == "r = ŷ − y = 1.9 − 2.1 = -0.2"
    assert lines[2] == "L = ½·r² = ½·(-0.2)² = 0.02"
    assert lines[3] == "dL/da = r·x = -0.2·1.4 = -0.28"
    assert lines[4] == "dL/db = r = -0.2"
    assert lines[5].endswith("= 1.028") and lines[6].endswith("= 0.52")
    out = parse_json(invoke("grad", "--x", "1.4", "--y", "2.1", "--explain", "--lr", "0.1", "-f", "json").stdout)
    assert out["update"]["a"] == pytest.approx(1.028, abs=1e-15) and out["explain"] == lines


def test_check_agrees_on_the_notebook_point(invoke):
    result = invoke("grad", "--x", "1.4", "--y", "2.1", "--check", "-f", "json")
    assert result.exit_code == 0
    check = parse_json(result.stdout)["check"]
    assert check["passed"] and check["largest_difference"] < 1e-9
    assert set(check["gradients"]) == {"autograd", "by hand", "finite differences"}


def test_check_fails_with_exit_6_when_told_to_be_impossible(invoke):
    # float32 autograd against float64 finite differences: they differ in the eighth digit
    result = invoke("grad", "--x", "1.4", "--y", "2.1", "--check", "--check-tol", "0", "--dtype", "float32")
    assert result.exit_code == 6 and "disagree" in result.stderr


def test_check_detects_a_wrong_gradient():
    result = point_gradient([1.4], [2.1])
    wrong = type(result)(**{**result.__dict__, "grad_a": result.grad_a * 1.001})
    assert not check_point_gradient(wrong).passed


def test_central_differences_are_exact_on_a_quadratic():
    grads = central_differences(lambda p: 3 * p["u"] ** 2 - 2 * p["u"] * p["v"], {"u": 1.5, "v": -2.0})
    assert grads["u"] == pytest.approx(6 * 1.5 + 4, rel=1e-9) and grads["v"] == pytest.approx(-3.0, rel=1e-9)


leaf_names = st.sampled_from(["x", "y", "z"])
functions = st.sampled_from(["exp", "sin", "cos", "tanh", "sigmoid"])  # smooth everywhere


def expressions(depth: int = 3):
    leaf = st.one_of(leaf_names, st.floats(-3, 3).map(lambda v: f"{v:.3f}"))
    if depth == 0:
        return leaf
    sub = expressions(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(functions, sub).map(lambda t: f"{t[0]}({t[1]})"),
        sub.map(lambda e: f"-({e})"),
        sub.map(lambda e: f"({e})**2"),
    )


@settings(max_examples=60, deadline=None)
@given(expression=expressions(), point=st.tuples(*[st.floats(-2, 2)] * 3))
def test_finite_differences_agree_with_autograd_on_random_expressions(expression, point):
    values = dict(zip("xyz", point))
    try:
        evaluation = evaluate(expression, values)
    except ExpressionError:  # no variable drawn, or overflow to inf: refused, not wrong
        return
    evaluation.output.backward()
    autograd = {n: float(t.grad) if t.grad is not None else 0.0 for n, t in evaluation.leaves.items()}

    def at(p):
        with torch.no_grad():
            return float(evaluate(expression, p).output)

    numeric = central_differences(at, values)
    for name in values:
        assert math.isclose(autograd[name], numeric[name], rel_tol=1e-5, abs_tol=1e-5 * max(1.0, abs(float(evaluation.output.detach())))), (
            name
        )


def test_xavier_normal_start_is_seeded_and_drawn_from_the_unit_normal():
    """Xavier-normal for a 1×1 weight has std gain·√(2/(fan_in + fan_out)) = 1: the draws are N(0, 1)."""
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    draws = np.array([starting_point("xavier_normal", seed=seed).a for seed in range(400)])
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's random stream is left alone
    assert starting_point("xavier_normal", seed=7) == starting_point("xavier_normal", seed=7)
    assert len(set(draws.tolist())) == draws.size
    assert abs(draws.mean()) < 4 / np.sqrt(draws.size) and abs(draws.std() - 1) < 0.15
    start = starting_point("xavier_normal", seed=1)
    assert (start.b, start.method) == (0.0, "xavier_normal")


@pytest.mark.parametrize("init", ["values", "zeros", "xavier_normal"])
def test_the_summary_and_the_model_file_say_how_training_started(init, tmp_path, invoke):
    from conftest import SAMPLE

    model = tmp_path / "m.json"
    out = parse_json(invoke("train", SAMPLE, "--init", init, "-o", model, "-f", "json").stdout)
    # (a·σ)/σ: the change of variables may move the last digit
    assert out["init"]["method"] == init and out["history"][0]["a"] == pytest.approx(out["init"]["a"], rel=1e-15)
    assert parse_json(model.read_text())["init"]["method"] == init
    assert f"({init})" in invoke("train", SAMPLE, "--init", init).stdout


def test_parser_never_calls_eval_exec_or_compile():
    import re

    source = (ROOT / "src" / "linfit" / "expression.py").read_text()
    assert not re.search(r"(?<![\w.])(eval|exec|compile)\(", source)


def test_a_single_variable_is_a_graph_of_one_leaf(invoke):
    out = parse_json(invoke("graph", "x", "-v", "x=2", "-f", "json").stdout)
    assert out["value"] == 2.0 and out["grad"] == {"x": 1.0} and out["graph"]["name"] == "AccumulateGrad"
