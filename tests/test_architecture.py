"""The core knows nothing of the terminal: it imports neither typer nor rich."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

PACKAGE = ROOT / "src" / "linfit"
SHELL = {"cli", "entry", "__main__"}  # typer (cli, and entry that runs it); rich is the table view's (views/table.py)
CORE = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in SHELL)


def test_the_core_lists_every_module_but_the_shell():
    assert {"commands", "config", "read", "sources", "train", "pipeline", "model_file", "signals"} <= set(CORE)
    assert SHELL - {"__main__"} <= {path.stem for path in PACKAGE.glob("*.py")}


def test_core_modules_import_neither_typer_nor_rich():
    """One fresh interpreter imports the core modules one by one and names the first to bring in typer, rich or click."""
    code = (
        "import importlib, json, sys\n"
        "found = {}\n"
        f"for module in {CORE!r}:\n"
        "    importlib.import_module('linfit.' + module)\n"
        "    found[module] = [m for m in ('typer', 'rich', 'click') if m in sys.modules]\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert list(found) == CORE
    assert {module: terminal for module, terminal in found.items() if terminal} == {}


def test_only_cli_imports_typer_and_only_report_imports_rich():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.stem != "cli":
            assert "import typer" not in text, path
        assert "from rich" not in text and "import rich" not in text, path


def test_the_benchmark_runs_in_its_quick_mode(tmp_path):
    """The benchmark is not a test of speed; this only keeps it from rotting."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "ingest,step"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "CSV ingest" in result.stdout and "floor" in result.stdout
