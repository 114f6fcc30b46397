"""The command line as a shell script meets it: exit codes, clean stdout, fast help.

In-process (CliRunner) except where the process is the point: the entry point's clean stdout and
stderr, the version from `python -m linfit`, a reader closing the pipe, what `--help` imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLE, parse_json, run_linfit
from linfit import __version__
from linfit.cli import app
from linfit.errors import ExitCode


def test_exit_codes_are_the_documented_ones():
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 130, 141, 143]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} " in readme, code


def test_json_stdout_is_one_object_and_exit_zero():
    result = run_linfit("train", SAMPLE, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    for key in ("a", "b", "loss", "steps", "converged", "stop_reason", "ols", "config", "history"):
        assert key in data
    assert set(data["history"][0]) == {"step", "loss", "grad_a", "grad_b", "a", "b"}
    assert result.stderr == ""


def test_piped_table_has_no_escape_codes(invoke):
    result = invoke("train", SAMPLE, env={"NO_COLOR": None, "TERM": "xterm-256color"})
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout and "least squares" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["train", "missing.csv"], 3, "missing.csv: file not found"),
        (["train", "data"], 3, "is a directory"),
        (["train", SAMPLE, "--lr", "0"], 2, "--lr"),
        (["train", SAMPLE, "--no-standardize", "--lr", "1"], 4, "diverged"),
        (["train", SAMPLE, "--steps", "2", "--strict"], 5, "not converged"),
        (["train", SAMPLE, "--x-col", "nope"], 3, "no column 'nope'"),
        (["grad", "--x", "1"], 2, "--y"),
        (["frobnicate"], 2, "No such command"),
        (["train", SAMPLE, "--plot", "fit.png", "--chunk-rows", "10"], 2, "Invalid value for --plot: cannot draw data that is streamed"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(args, code, needle, invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where `data` is a folder and missing.csv is missing; nothing lands in the checkout
    (tmp_path / "data").mkdir()
    result = invoke(*args)
    assert result.exit_code == code, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # a run that ends unconverged under --strict still shows its result; one that diverged, its steps
    if code not in (ExitCode.NOT_CONVERGED, ExitCode.DIVERGED):
        assert result.stdout == ""


def test_debug_shows_the_traceback(invoke):
    """With --debug the error is not turned into a line: it leaves the command, and Python prints its traceback."""
    from linfit.errors import DataError

    result = invoke("--debug", "train", ROOT / "missing.csv")
    assert result.exit_code != 0 and isinstance(result.exception, DataError)
    assert "file not found" in str(result.exception) and result.exc_info[2] is not None
    plain = invoke("train", ROOT / "missing.csv")  # without it: one line and exit 3, no exception left over
    assert plain.exit_code == 3 and isinstance(plain.exception, SystemExit)


def test_version_and_module_entry_point():
    result = run_linfit("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"linfit {__version__}"


def test_help_does_not_import_torch_or_pandas():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from linfit.cli import app\n"
        "for args in (['--help'], ['--version'], ['train', '--help'], ['config']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('torch', 'pandas', 'rich.table') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "torch" not in result.stdout and "pandas" not in result.stdout


@pytest.mark.parametrize("command", ["train", "grad", "graph", "predict", "config"])
def test_every_command_has_a_summary_and_an_example(command, invoke):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    summary = app.registered_commands
    (info,) = [c for c in summary if (c.name or c.callback.__name__) == command]
    first_line = info.callback.__doc__.strip().splitlines()[0]
    assert first_line.endswith(".") and len(first_line) < 100
    assert first_line in result.stdout.replace("\n", " ").replace("  ", " ") or first_line[:40] in result.stdout


def test_top_level_help_lists_commands_and_exit_codes(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    for word in ("train", "grad", "config", "Exit codes"):
        assert word in result.stdout


def test_stdin_gives_the_same_fit_as_the_file(invoke):
    from_file = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    from_stdin = parse_json(invoke("train", "-", "-f", "json", input=SAMPLE.read_text()).stdout)
    assert (from_stdin["a"], from_stdin["b"]) == (from_file["a"], from_file["b"])


def test_a_reader_that_closes_early_gets_exit_141_and_no_noise():
    env = {**__import__("os").environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "linfit", "train", str(SAMPLE), "-f", "jsonl", "--log-every", "1", "--lr", "1e-7", "--steps", "10000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_no_arguments_shows_help_and_exits_2(invoke):
    result = invoke()
    assert result.exit_code == 2 and "Usage" in result.stdout + result.stderr
    assert "error" not in result.stderr
