"""The shell's shape: one request per command, one view per format from the registry, a run repeated from
its record, and output that is never cut short silently."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import typer
import typer.testing
import yaml

from conftest import ROOT, SAMPLE, parse_json
from linfit.cli import Settings, command, command_names
from linfit.views import FORMATS, formats, view
from linfit.views.table import progress_loss

# what each command asks of a view (see linfit.views)
ASKS = {
    "train": ("train_begin", "train_step", "train_diverged", "train_result"),
    "predict": ("predictions",),
    "grad": ("gradient",),
    "graph": ("expression",),
    "eval": ("evaluation",),
}
SMALL_RUN = {
    "train": ["train", SAMPLE, "--steps", "5"],
    "predict": ["predict", "{model}", "--x", "1.5", "--x", "3"],
    "grad": ["grad", "--x", "1.4", "--y", "2.1"],
    "graph": ["graph", "2*(x-y)+z", "--var", "x=1", "--var", "y=2", "--var", "z=5"],
    "eval": ["eval", "{model}", SAMPLE],
}


def test_only_the_table_view_imports_rich():
    package = ROOT / "src" / "linfit"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        uses_rich = "from rich" in text or "import rich" in text
        assert uses_rich == (path == package / "views" / "table.py"), path


def test_every_command_of_the_table_is_known_here():
    """The tests' lists come from the command table, `report` included; the registry names only real commands."""
    assert {"train", "report", "predict", "grad", "graph", "config"} <= set(command_names())
    assert {name for entry in FORMATS for name in entry.commands} <= set(command_names())


@pytest.mark.parametrize("name", command_names())
def test_format_choices_are_the_registry(name, invoke):
    offered = [entry.name for entry in formats(name)]
    helps = invoke(name, "--help").stdout
    if not offered:
        assert "-f, --format" not in helps
        return
    assert f"-f, --format [{'|'.join(offered)}]" in helps and f"[default: {offered[0]}]" in helps
    for entry in formats(name):
        module = view(entry.name)
        assert all(callable(getattr(module, function, None)) for function in ASKS[name]), (entry.name, name)
    for other in FORMATS:
        if other.name not in offered:
            refused = invoke(*SMALL_RUN[name], "-f", other.name)
            assert refused.exit_code == 2 and "--format" in refused.stderr


@pytest.mark.parametrize(("name", "output_format"), [(name, entry.name) for name in ASKS for entry in formats(name)])
def test_every_view_of_every_command_prints(name, output_format, invoke, tmp_path):
    model = tmp_path / "m.json"
    model.write_text('{"format": "linfit-model", "format_version": 1, "a": 2.0, "b": 0.5}\n')
    args = [str(model) if arg == "{model}" else arg for arg in SMALL_RUN[name]]
    result = invoke(*args, "-f", output_format)
    assert result.exit_code == 0, result.output
    text = result.stdout
    if output_format == "json":
        assert isinstance(parse_json(text), dict)
    elif output_format == "jsonl":
        assert all(isinstance(json.loads(line), dict) for line in text.splitlines()) and text.endswith("\n")
    elif output_format == "csv":
        assert len({line.count(",") for line in text.splitlines()}) == 1 and len(text.splitlines()) >= 2
    elif output_format == "dot":
        assert text.startswith("digraph") and text.rstrip().endswith("}")
    else:
        assert text.strip() and "{" not in text.splitlines()[0]


def test_a_command_is_its_request():
    """A command is declared once, as a frozen request; a field becomes an option and arrives in the request."""
    seen = []
    scratch = typer.Typer(rich_markup_mode=None)

    @command("shout", seen.append, on=scratch)
    class ShoutRequest:
        """Say it loud."""

        words: Annotated[list[str], typer.Argument(metavar="WORDS")]
        times: Annotated[int, typer.Option("--times", metavar="INT", help="How often.")] = 1
        settings: Settings = None

    scratch.command("other")(lambda: None)
    result = typer.testing.CliRunner().invoke(scratch, ["shout", "a", "b", "--times", "3", "--steps", "7"])
    assert result.exit_code == 0, result.output
    (request,) = seen
    assert isinstance(request, ShoutRequest) and (request.words, request.times) == (("a", "b"), 3)
    assert request.settings["steps"] == 7 and request.settings["lr"] is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.times = 4
    helps = typer.testing.CliRunner().invoke(scratch, ["shout", "--help"]).stdout
    assert "Say it loud." in helps and "--times INT" in helps and "--batch-size" in helps


def test_the_reading_settings_are_configuration_keys(invoke):
    shown = yaml.safe_load(invoke("config").stdout)
    assert {"batch_size": 0, "chunk_rows": 0, "sep": None, "drop_na": False}.items() <= shown.items()
    given = yaml.safe_load(invoke("config", "--batch-size", "4", "--chunk-rows", "9", "--sep", ";", "--drop-na").stdout)
    assert {"batch_size": 4, "chunk_rows": 9, "sep": ";", "drop_na": True}.items() <= given.items()
    refused = invoke("config", "--batch-size", "-1")
    assert refused.exit_code == 2 and "--batch-size" in refused.stderr


def test_a_run_is_repeated_from_its_record(invoke, tmp_path):
    """Every setting that changes the result is in the model file's config: passed back, it gives the same run."""
    rows = ["x;y"] + [f"{i * 0.37:.2f};{1.5 * i * 0.37 - 2 + (-1) ** i * 0.1:.3f}" for i in range(40)]
    rows[7] = "2.22;"  # a missing y: the run needs drop_na
    data = tmp_path / "semicolons.txt"
    data.write_text("\n".join(rows) + "\n")
    first = invoke(
        "train",
        data,
        "--sep",
        ";",
        "--drop-na",
        "--batch-size",
        "4",
        "--seed",
        "7",
        "--chunk-rows",
        "8",
        "-o",
        tmp_path / "m.json",
        "-f",
        "json",
    )
    assert first.exit_code == 0, first.output
    fit, model = parse_json(first.stdout), json.loads((tmp_path / "m.json").read_text())
    recorded = model["config"]
    assert {"sep": ";", "drop_na": True, "batch_size": 4, "chunk_rows": 8, "seed": 7}.items() <= recorded.items()
    assert recorded["lr"] == fit["lr"] is not None  # the lr used, though none was given
    (tmp_path / "record.yaml").write_text(yaml.safe_dump(recorded))
    again = invoke("train", data, "--config", tmp_path / "record.yaml", "-f", "json")
    assert again.exit_code == 0, again.output
    repeated = parse_json(again.stdout)
    assert (repeated["a"], repeated["b"], repeated["steps"], repeated["history"]) == (fit["a"], fit["b"], fit["steps"], fit["history"])
    assert repeated["config"] == recorded and fit["data"]["dropped"] == 1


def test_json_carries_what_the_model_file_carries_about_the_data(invoke, tmp_path):
    import torch

    result = invoke("train", SAMPLE, "-o", tmp_path / "m.json", "-f", "json")
    fit, model = parse_json(result.stdout), json.loads((tmp_path / "m.json").read_text())
    assert fit["data"]["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert {key: fit["data"][key] for key in ("sha256", "rows", "x", "y")} == {
        key: model["data"][key] for key in ("sha256", "rows", "x", "y")
    }
    assert fit["data"]["rows"] == len(SAMPLE.read_text().splitlines()) - 1
    assert (
        fit["versions"]
        == model["versions"]
        == {"linfit": model["versions"]["linfit"], "torch": torch.__version__, "python": platform.python_version()}
    )
    for key in ("a", "b", "ols", "stats", "config", "history", "steps", "converged", "lr"):  # today's keys stay
        assert key in fit


@pytest.mark.parametrize("output_format", ["csv", "json"])
def test_a_reader_that_stops_early_gets_exit_141(output_format, tmp_path, invoke):
    """`linfit predict model big.csv -f csv | head -c 100`: the process knows its output was cut short (no torch here)."""
    model = tmp_path / "m.json"
    model.write_text('{"format": "linfit-model", "format_version": 1, "a": 2.0, "b": 0.5}\n')
    data = tmp_path / "big.csv"
    data.write_text("x\n" + "".join(f"{i}.25\n" for i in range(10_000)))  # about 150 kB out: more than a pipe holds
    command_line = [sys.executable, "-m", "linfit", "predict", str(model), str(data), "-f", output_format]
    process = subprocess.Popen(command_line, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert len(process.stdout.read(100)) == 100
    process.stdout.close()
    assert process.wait(timeout=60) == 141
    with process.stderr:
        assert process.stderr.read() == b""
    if output_format == "csv":  # a reader that stays gets every row (no pipe needed: in-process)
        everything = invoke(*command_line[3:])
        lines = everything.stdout.splitlines()
        assert everything.exit_code == 0 and len(lines) == 10_001 and lines[-1] == "9999.25,19999.0"


def test_the_progress_bar_shows_no_loss_before_the_first_step():
    assert progress_loss(0, float("nan")) == "…"
    assert progress_loss(1, float("nan")) == "…"  # step 1 is running: no loss read back yet
    assert progress_loss(1, 0.25) == "0.25"
    assert progress_loss(40, float("nan")) == "nan"  # a run going wrong says so


def test_report_names_the_role_of_an_input_it_would_overwrite(invoke, tmp_path):
    run = tmp_path / "sgd.jsonl"
    run.write_text(invoke("train", SAMPLE, "-f", "jsonl", "--steps", "3").stdout)
    result = invoke("report", run, "-o", run)
    assert result.exit_code == 2
    assert f"--output {run}: this is a saved run that the report reads" in result.stderr and "of the run" not in result.stderr
    data = invoke("report", run, "--data", SAMPLE, "-o", SAMPLE)
    assert data.exit_code == 2 and "the --data file that the report reads" in data.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_stderr_keeps_the_errors_exit_code(tmp_path):
    """The error line is lost, its exit code is not (a data error stays 3; predict imports no torch)."""
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "linfit", "predict", str(tmp_path / "none.json"), "--x", "1"], stderr=full, cwd=ROOT, timeout=60
        )
    assert result.returncode == 3
