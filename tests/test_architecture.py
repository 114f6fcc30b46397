"""The shape of the package, read from the code's real imports: every `import` and `from … import` in
every module, at the top, inside functions and under TYPE_CHECKING alike (`ast`, nothing imported).

The rules: no import cycle anywhere; the core (every module but the shell's) reaches neither typer, rich
nor click, nor a shell module, by any chain of imports; the change of coordinates, the device choice and
the surface maths lie below both the sources and the trainer, which do not import each other; a run is
built (`Training(...)`) in one place only, the pipeline.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "linfit"
SHELL_ROOTS = {"cli", "entry", "__main__", "commands"}  # typer (cli, entry that runs it) and what drives the views
# the views decide how a result is shown (rich lives in views.table): they are the shell too
TERMINAL = {"typer", "rich", "click"}
BELOW_THE_ROAD = {"frame", "device", "surface"}  # below both sources and train
BUILDER = "pipeline"  # the one module that makes a Training


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root: Path, package: str = "linfit") -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """({module: the package's modules it imports}, {module: the outside top-level packages it imports}), every import counted."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    inside: dict[str, set[str]] = {name: set() for name in paths}
    outside: dict[str, set[str]] = {name: set() for name in paths}

    def resolve(dotted: str) -> str | None:
        """The package's module a dotted name lands in: the longest prefix that is a module."""
        parts = dotted.split(".")[1:]  # without the package's own name
        while parts:
            if ".".join(parts) in paths:
                return ".".join(parts)
            parts.pop()
        return None

    for name, path in paths.items():
        here = name.split(".")[:-1] if not path.name == "__init__.py" else name.split(".")
        for node in executed_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the module's own package upwards
                    base = here[: len(here) - node.level + 1] if node.level > 1 else here
                    module = ".".join([package, *[p for p in base if p and p != "__init__"], *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                targets = [f"{module}.{alias.name}" for alias in node.names] if module.split(".")[0] == package else [module]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == package:
                    found = resolve(target)  # the package itself (__version__) runs before any of its modules: no edge
                    if found not in (None, name, "__init__"):
                        inside[name].add(found)
                else:
                    outside[name].add(target.split(".")[0])
    return inside, outside


def executed_nodes(tree: ast.AST):
    """Every node that can run: all of them (inside functions too) but the bodies of `if TYPE_CHECKING:`,
    which only a type checker reads (a request type named in a signature is no import at run time)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle ([a, b, …, a]), or None: a depth-first search that meets a module still on its path."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def terminal_chain(inside, outside, module: str) -> list[str] | None:
    """A chain of imports from `module` to typer, rich or click (or a shell module), or None."""
    parents, todo = {module: None}, [module]
    while todo:
        current = todo.pop(0)
        terminal = sorted(outside[current] & TERMINAL)
        if terminal or (current in SHELL and current != module):
            chain = [current, *terminal[:1]]
            while parents[current] is not None:
                current = parents[current]
                chain.insert(0, current)
            return chain
        for target in sorted(inside[current]):
            if target not in parents:
                parents[target] = current
                todo.append(target)
    return None


INSIDE, OUTSIDE = import_graph(PACKAGE)
SHELL = SHELL_ROOTS | {name for name in INSIDE if name == "views" or name.startswith("views.")}
CORE = sorted(set(INSIDE) - SHELL)


def test_the_graph_is_read_from_every_module_and_every_import():
    assert set(INSIDE) == {module_name(path, PACKAGE) for path in PACKAGE.rglob("*.py")}
    assert SHELL - {"__main__"} <= set(INSIDE)
    # imports inside functions count: commands imports the pipeline and report only where a command runs
    assert {"pipeline", "views"} <= INSIDE["commands"] and "torch" in OUTSIDE["train"]


def test_no_import_cycle_anywhere_in_the_package():
    assert find_cycle(INSIDE) is None, " → ".join(find_cycle(INSIDE))


@pytest.mark.parametrize("module", CORE)
def test_the_core_reaches_neither_typer_nor_rich(module):
    chain = terminal_chain(INSIDE, OUTSIDE, module)
    assert chain is None, f"{module} reaches the terminal: {' → '.join(chain)}"


def test_frame_device_and_surface_lie_below_sources_and_train():
    for low in BELOW_THE_ROAD:
        assert not reach(INSIDE, low) & {"sources", "train", BUILDER}, low
    for user in ("sources", "train"):
        assert INSIDE[user] & BELOW_THE_ROAD, user
    assert "sources" not in reach(INSIDE, "train") and "train" not in reach(INSIDE, "sources")


def test_the_builder_of_a_run_reaches_no_picture_or_page():
    """The pipeline takes the report's sample of the rows from `sample`, below it; the page and the pictures are
    the shell's to draw, after the run."""
    assert not reach(INSIDE, BUILDER) & {"page", "plot"}, reach(INSIDE, BUILDER) & {"page", "plot"}
    assert "sample" in INSIDE[BUILDER]


def test_a_run_is_built_only_by_the_pipeline():
    """`Training(...)` is called in one module of the package; the CLI, linfit.fit and the benchmark go through it."""
    builders = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Training":
                builders.add(module_name(path, PACKAGE))
    assert builders == {BUILDER}
    assert {"api", "commands"} <= {name for name, targets in INSIDE.items() if BUILDER in targets}
    benchmark = (ROOT / "benchmarks" / "run.py").read_text(encoding="utf-8")
    assert "Training(" not in benchmark and "prepare(" in benchmark


def write_package(root: Path, modules: dict[str, str]) -> Path:
    package = root / "linfit"
    package.mkdir()
    for name, text in modules.items():
        (package / f"{name}.py").write_text(text, encoding="utf-8")
    return package


def test_the_rules_fail_on_a_package_that_breaks_them(tmp_path):
    """The checks can fail: a cycle closed by an import inside a function, and rich reached through a relative import."""
    package = write_package(
        tmp_path,
        {
            "__init__": "",
            "train": "from linfit.frame import Frame\n",
            "frame": "class Frame:\n    def to(self):\n        from linfit import sources\n",
            "sources": "import numpy as np\nfrom linfit.train import Training\n",
            "core": "def show():\n    from .view import table\n",
            "view": "from rich.table import Table\n",
        },
    )
    inside, outside = import_graph(package)
    cycle = find_cycle(inside)
    assert cycle is not None and set(cycle) == {"train", "frame", "sources"} and cycle[0] == cycle[-1]
    assert terminal_chain(inside, outside, "core") == ["core", "view", "rich"]
    assert outside["sources"] == {"numpy"} and terminal_chain(inside, outside, "train") is None
    (package / "frame.py").write_text("class Frame:\n    pass\n", encoding="utf-8")
    assert find_cycle(import_graph(package)[0]) is None


def test_the_benchmark_runs_in_its_quick_mode(monkeypatch, capsys):
    """The benchmark is not a test of speed; this only keeps it from rotting (in-process: its own script,
    run as `python benchmarks/run.py --quick --only ingest,step` runs it)."""
    import runpy

    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "ingest,step"])
    runpy.run_path(str(ROOT / "benchmarks" / "run.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "CSV ingest" in out and "floor" in out
