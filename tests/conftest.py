"""One of each thing the tests share: the data, a trained model, the exact oracle, the one-error-line
check, and the two ways to start linfit — in-process (`invoke`, the usual way) and as a real process
(`start_linfit` / `run_linfit`, only where the process is the point: signals, pipes, encodings, imports)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import typer.main
import typer.testing
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

# Typer's CliRunner builds the click command from the app again on every call: about 10 ms, most of a short
# call's time, over a thousand calls here. A process builds it once; the tests build linfit's once too
# (any other app is built as before).
LINFIT_COMMAND = typer.main.get_command(app)


def _command_of(given):
    return LINFIT_COMMAND if given is app else typer.main.get_command(given)


if hasattr(typer.testing, "_get_command"):
    typer.testing._get_command = _command_of


# The files whose tests start real processes (torchrun, the benchmark, signals, a browser) run first: with
# several workers no long test is left to start last, while the other workers have nothing more to do.
STARTED_FIRST = ("test_scale.py", "test_architecture.py", "test_safety.py", "test_page_browser.py", "test_losses_train.py", "test_cache.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in STARTED_FIRST)  # stable: each group keeps its order


def lstsq(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The oracle: numpy's least-squares solver on [x, 1]."""
    design = np.column_stack([x, np.ones_like(x)])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(a), float(b)


def exact_line(x: np.ndarray, y: np.ndarray) -> tuple[Fraction, Fraction]:
    """The oracle with no rounding at all: the least-squares line in exact rational arithmetic over the
    float64 values (sums of Fractions), as two Fractions."""
    xs, ys = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in y]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    a = sum((xi - x_mean) * (yi - y_mean) for xi, yi in zip(xs, ys)) / sum((xi - x_mean) ** 2 for xi in xs)
    return a, y_mean - a * x_mean


def exact_least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The exact least-squares line, each coefficient rounded once to float64."""
    a, b = exact_line(x, y)
    return float(a), float(b)


def relative(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    names = list(columns)
    rows = zip(*(columns[name] for name in names))
    path.write_text(",".join(names) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))
    return path


def one_line(stderr: str, *words: str, prefix: str = "linfit: ") -> str:
    """stderr is one line (blank lines aside) that starts with `prefix` and holds `words`, and no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def one_error_line(result, code: int, *words: str) -> str:
    """The promise for every error: its exit code and one line on stderr, `linfit: error: …`, holding
    `words`, no traceback. `result` is what `invoke` or `run_linfit` returned; the line is returned."""
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert exit_code == code, (exit_code, result.stdout, result.stderr)
    return one_line(result.stderr, *words, prefix="linfit: error: ")


@pytest.fixture(scope="session")
def sample_xy() -> tuple[np.ndarray, np.ndarray]:
    """x and y of data/sample.csv (50 rows), read by numpy: what the tests hold linfit's reading against."""
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    return x, y


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A model file trained once on data/sample.csv with the defaults; read it, never change it (copy it first)."""
    path = tmp_path_factory.mktemp("trained") / "model.json"
    result = CliRunner().invoke(app, ["train", str(SAMPLE), "-o", str(path), "-q"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="session")
def plotted(tmp_path_factory):
    """`train --plot fit.png -f json` on data/sample.csv, drawn once: (its JSON output, the PNG's path, the
    figure it saved, kept open to be inspected). Read it, never change it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path_factory.mktemp("plot") / "fit.png"
    kept, close = [], plt.close
    plt.close = kept.append
    try:
        result = CliRunner().invoke(app, ["train", str(SAMPLE), "--plot", str(path), "-f", "json"])
    finally:
        plt.close = close
    assert result.exit_code == 0, result.output
    (figure,) = kept
    figure.canvas.draw()
    yield json.loads(result.stdout), path, figure
    close(figure)


@pytest.fixture
def model_copy(trained_model, tmp_path) -> Path:
    """The trained model, copied into this test's folder, for a test that overwrites or deletes it."""
    return Path(shutil.copy(trained_model, tmp_path / "model.json"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the CLI in-process; returns the result (stdout in .stdout, stderr in .stderr); `env` is set for the call."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env)

    return run


BROWSER_INSTALL = (
    "The browser test needs Chromium and Playwright for Python: as root on Debian, "
    "`apt-get update && apt-get install -y chromium`, then `pip install -e '.[test]'` "
    "(or set LINFIT_CHROMIUM to a Chrome/Chromium executable). Never `playwright install`: no download is needed."
)
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str:
    found = os.environ.get("LINFIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if os.environ.get("LINFIT_CHROMIUM") and not Path(found).exists():
        pytest.fail(f"LINFIT_CHROMIUM={found} does not exist. {BROWSER_INSTALL}")
    if not found or not Path(found).exists():
        pytest.fail(f"no Chromium found. {BROWSER_INSTALL}")
    return found


@pytest.fixture(scope="session")
def tab():
    """One headless Chromium tab (page, seen) for every page the browser tests open: `seen` records the
    console's errors and warnings, script errors and requests (test_page_browser's `open_page` clears it
    for each load). A tab, not a page each: a page of its own costs a renderer process each time."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed. {BROWSER_INSTALL}")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport=VIEWPORT)
        seen: dict[str, list[str]] = {"console": [], "errors": [], "requests": []}
        page.on(
            "console",
            lambda message: seen["console"].append(f"{message.type}: {message.text}") if message.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("request", lambda request: seen["requests"].append(request.url))
        yield page, seen
        browser.close()


def start_linfit(
    *args,
    python: tuple[str, ...] = ("-m", "linfit"),
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    text: bool = True,
    **popen,
) -> subprocess.Popen:
    """linfit as a real process, stdout and stderr piped: `python` is what comes before its arguments
    (`-m linfit`, or `-c SCRIPT`); `env` adds to the environment (NO_COLOR set)."""
    return subprocess.Popen(
        [sys.executable, *python, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=popen.pop("stdin", subprocess.DEVNULL),
        text=text,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        cwd=cwd or ROOT,
        **popen,
    )


def run_linfit(*args, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run linfit as a real process to its end, as a shell script would; returns the CompletedProcess.
    (The timeout only ends a hang: a loaded machine may take minutes, and that is not a failure.)"""
    process = start_linfit(*args, env=env, cwd=cwd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    try:
        stdout, stderr = process.communicate(input, timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def parse_json(stdout: str) -> dict:
    """stdout must be exactly one JSON object and nothing else."""
    return json.loads(stdout)
