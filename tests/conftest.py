"""Shared helpers: synthetic data sets with a known answer, and ways to run the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from linfit.cli import app

# Hypothesis: no deadline (a loaded machine is not a failure); under CI (the CI variable set, as .ci/run
# does) the examples are derived from each test's name and no database is read or written, so a run
# checks the same cases as the last one and a failure seen elsewhere cannot make it fail or pass.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample.csv"
NOTEBOOK_POINT = ROOT / "data" / "notebook_point.csv"


# The files whose tests start real processes (torchrun, the benchmark, signals, a browser) run first: with
# several workers no long test is left to start last, while the other workers have nothing more to do.
STARTED_FIRST = ("test_scale.py", "test_architecture.py", "test_safety.py", "test_page_browser.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in STARTED_FIRST)  # stable: each group keeps its order


def lstsq(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The oracle: numpy's least-squares solver on [x, 1]."""
    design = np.column_stack([x, np.ones_like(x)])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(a), float(b)


def exact_least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares line in exact rational arithmetic: an oracle with no rounding at all."""
    from fractions import Fraction

    xs, ys = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in y]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    a = sum((xi - x_mean) * (yi - y_mean) for xi, yi in zip(xs, ys)) / sum((xi - x_mean) ** 2 for xi in xs)
    return float(a), float(y_mean - a * x_mean)


def relative(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    names = list(columns)
    rows = zip(*(columns[name] for name in names))
    path.write_text(",".join(names) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the CLI in-process; returns the result (stdout in .stdout, stderr in .stderr); `env` is set for the call."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env)

    return run


def run_linfit(*args: str, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run linfit as a real process, as a shell script would."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "linfit", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=120,
    )


def parse_json(stdout: str) -> dict:
    """stdout must be exactly one JSON object and nothing else."""
    return json.loads(stdout)
