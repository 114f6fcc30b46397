"""The command line as a shell script meets it: exit codes, clean stdout, fast help.

In-process (CliRunner) except where the process is the point: `python -m linfit`, a reader closing
the pipe, what `--help` imports (none of these three imports torch but the pipe's).
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, one_error_line, parse_json, run_linfit, start_linfit
from linfit import __version__
from linfit.cli import app, command_names
from linfit.errors import ExitCode


def test_exit_codes_are_the_documented_ones():
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 130, 141, 143]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} " in readme, code


def test_json_stdout_is_one_object_and_exit_zero(invoke):
    result = invoke("train", SAMPLE, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    for key in ("a", "b", "loss", "steps", "converged", "stop_reason", "ols", "config", "history"):
        assert key in data
    assert set(data["history"][0]) == {"step", "loss", "grad_a", "grad_b", "a", "b"}
    assert result.stderr == ""


# The command line's own errors; bad data, configs and flag values are test_bad_input's catalogue.
@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["train", "missing.csv"], 3, "missing.csv: file not found"),
        (["train", "data"], 3, "is a directory"),
        (["grad", "--x", "1"], 2, "--y"),
        (["frobnicate"], 2, "No such command"),
        (["train", SAMPLE, "--plot", "fit.png", "--chunk-rows", "10"], 2, "Invalid value for --plot: cannot draw data that is streamed"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(args, code, needle, invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where `data` is a folder and missing.csv is missing; nothing lands in the checkout
    (tmp_path / "data").mkdir()
    result = invoke(*args)
    one_error_line(result, code, needle)
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
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))\n"
    )
    process = start_linfit(python=("-c", code))
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert stdout.strip() == "[]", stdout


@pytest.mark.parametrize("command", command_names())
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
    process = start_linfit("train", SAMPLE, "-f", "jsonl", "--log-every", "1", "--lr", "1e-7", "--steps", "10000000", text=False)
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=600) == 141
    assert stderr == ""


def test_no_arguments_shows_help_and_exits_2(invoke):
    result = invoke()
    assert result.exit_code == 2 and "Usage" in result.stdout + result.stderr
    assert "error" not in result.stderr


def readme_blocks() -> list[tuple[str, list[str]]]:
    """The README's ```sh and ```console blocks (indented ones too): their kind and lines, unindented."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^( *)```(sh|console)\n(.*?)^\1```", text, flags=re.S | re.M)
    return [(kind, [line[len(indent) :] for line in body.splitlines()]) for indent, kind, body in blocks]


def run_readme_line(line: str, invoke, folder: Path):
    """One README command through a tiny shell: `linfit …`, `> FILE`, `| jq .KEY`, `| linfit …`, a `# comment` after it."""
    words = shlex.split(line, comments=True)
    pipe = words[words.index("|") + 1 :] if "|" in words else []
    words = words[: words.index("|")] if pipe else words
    target = words[words.index(">") + 1] if ">" in words else None
    words = words[: words.index(">")] if target else words
    assert words[0] == "linfit", line
    result = invoke(*words[1:])
    assert result.exit_code == 0, (line, result.output)
    if target:
        (folder / target).write_text(result.stdout)
    if pipe and pipe[0] == "linfit":  # one linfit into another: the first's stdout is the second's stdin
        piped = invoke(*pipe[1:], input=result.stdout)
        assert piped.exit_code == 0, (line, piped.output)
        return pipe, piped, piped.stdout
    if pipe:
        assert pipe[0] == "jq" and pipe[1].startswith("."), line
        return words, result, json.dumps(json.loads(result.stdout)[pipe[1][1:]])
    return words, result, result.stdout


def test_the_readme_commands_run_and_say_what_the_readme_says(invoke, runner, tmp_path, monkeypatch):
    """Every `linfit` line of the README's shell blocks runs (exit 0); a console block's output is what the
    README shows (timing masked); a comment's "N steps" or "converged at step N" is what the run does."""
    shutil.copytree(ROOT / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)

    def wide(*args, input=None, env=None):  # the README's tables are shown at 100 columns
        return runner.invoke(app, [str(a) for a in args], input=input, env=env, terminal_width=100)

    masked = lambda text: "\n".join(re.sub(r" in \d+(\.\d+)? m?s\b", " in <time>", line).rstrip() for line in text.strip().splitlines())  # noqa: E731
    ran = 0
    for kind, lines in readme_blocks():
        for number, line in enumerate(lines):
            if kind == "console" and line.startswith("$ linfit "):
                shown = list(itertools.takewhile(lambda text: not text.startswith("$ "), lines[number + 1 :]))
                _, _, printed = run_readme_line(line[2:], wide, tmp_path)
                assert masked(printed) == masked("\n".join(shown)), line
                ran += 1
            elif kind == "sh" and line.startswith("linfit "):
                _, _, printed = run_readme_line(line, invoke, tmp_path)
                comment = line.partition(" # ")[2]
                promised = re.match(r"(\d[\d,]*) steps", comment) or re.search(r"converged at step (\d+)", comment)
                if promised:  # the table's last word on it
                    assert f"converged at step {int(promised[1].replace(',', ''))} " in printed, (line, printed)
                ran += 1
    assert ran >= 12


def test_the_readmes_first_step_on_the_notebook_point_is_grad_there(invoke):
    """The README's claim, by its own two commands: step 1 of `train` holds `grad`'s loss and gradient."""
    commands = [line for kind, lines in readme_blocks() for line in lines if "--x 1.4 --y 2.1 -f json" in line or "notebook_point" in line]
    grad, train = (parse_json(invoke(*shlex.split(line, comments=True)[1:]).stdout) for line in commands)
    first = train["history"][0]
    assert (first["loss"], first["grad_a"], first["grad_b"]) == (grad["loss"], grad["grad_a"], grad["grad_b"])
    assert (grad["loss"], grad["grad_a"], grad["grad_b"]) == pytest.approx((0.02, -0.28, -0.2), rel=1e-12)


def test_report_data_finds_a_weighted_runs_weight_column_by_name(invoke, tmp_path):
    """A run trained with --weight-col 2 recorded the index; `report --data` read column 2 of the --data file, so
    the same rows with another column before w were refused as other data (or, x, y, w reordered, as --weight-col = --y-col)."""
    rows = [(x, 2 * x + 1 + (-1) ** x * 0.3, 0.5 + (x % 3)) for x in range(12)]
    trained = tmp_path / "xyw.csv"
    trained.write_text("x,y,w\n" + "".join(f"{x},{y!r},{w}\n" for x, y, w in rows))
    other = tmp_path / "xyvw.csv"
    other.write_text("x,y,v,w\n" + "".join(f"{x},{y!r},7,{w}\n" for x, y, w in rows))
    run = tmp_path / "run.jsonl"
    run.write_text(invoke("train", trained, "--weight-col", "2", "-f", "jsonl", "-q").stdout)
    result = invoke("report", run, "--data", other, "-o", tmp_path / "page.html")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "page.html").stat().st_size > 0
