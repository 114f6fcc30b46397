"""The core knows nothing of the terminal: it imports neither typer nor rich."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

CORE = [
    "config", "data", "distributed", "errors", "expression", "files", "gradient", "graph", "losses",
    "model", "model_file", "output", "page", "api", "pipeline", "plot", "reference", "stats", "train",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_neither_typer_nor_rich(module):
    code = f"import sys, linfit.{module}; print([m for m in ('typer', 'rich', 'click') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_only_cli_imports_typer_and_only_report_imports_rich():
    for path in (ROOT / "src" / "linfit").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.stem != "cli":
            assert "import typer" not in text, path
        if path.stem != "report":
            assert "from rich" not in text and "import rich" not in text, path


def test_the_benchmark_runs_in_its_quick_mode(tmp_path):
    """The benchmark is not a test of speed; this only keeps it from rotting."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "ingest,step,memory"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "CSV ingest" in result.stdout and "floor" in result.stdout and "peak memory" in result.stdout
