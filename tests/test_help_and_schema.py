"""What people read: each command's help (at 80 and 120 columns), its example (run), the options derived
from the configuration schema, configs/default.yaml, strict types, and the exact text of two tables."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import typer
import typer.testing

from conftest import LINFIT_COMMAND, ROOT
from linfit.cli import app, command_names, config_flags
from linfit.config import TrainConfig, keys, to_commented_yaml

COMMANDS = command_names()  # the real command table
GOLDEN = ROOT / "tests" / "golden"


def help_text(invoke_width, *command: str, width: int) -> str:
    result = invoke_width([*command, "--help"], width)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def invoke_width(runner):
    def run(args, width):
        return runner.invoke(app, [str(a) for a in args], terminal_width=width)

    return run


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_well_at_80_and_120_columns(command, width, invoke_width):
    text = help_text(invoke_width, command, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert not re.search(r"<\w+(\|\w+)*>", text), "a <type> placeholder: flags take no value, options say what they take"
    usage = text.splitlines()[0]
    assert re.fullmatch(rf"Usage: root {command} \[OPTIONS\]( \[?[A-Z]+\]?(\.\.\.)?)*", usage), usage  # DATA, [DATA], MODEL, RUN...
    for choices in re.findall(r"\[[a-z0-9_]+(?:\|[a-z0-9_]+)+\]", text):  # a list of choices is never broken
        assert "\n" not in choices
    assert text.rstrip().splitlines()[-1].strip().startswith("linfit "), "the help ends with an example"


def option_helps(command: str) -> dict[str, str]:
    """Each option's first flag and its help text, as click will print it."""
    cmd = LINFIT_COMMAND.commands[command]
    ctx = cmd.make_context(command, ["--help"], resilient_parsing=True)
    out = {}
    for param in cmd.params:
        record = param.get_help_record(ctx)
        if record is not None and param.param_type_name == "option":
            out[param.opts[0]] = record[1]
    return out


@pytest.mark.parametrize("command", ["train", "config"])
def test_every_config_key_is_a_flag_that_shows_its_schema_default(command):
    helps = option_helps(command)
    defaults = TrainConfig()
    for key in keys():
        assert key.flag in helps, key.flag
        value = getattr(defaults, key.name)
        if key.shown is not None:  # a default whose value alone says little (lr: per optimizer)
            assert value is None
            shown = key.shown
        elif isinstance(value, bool):
            shown = key.flag if value else "--no-" + key.flag[2:]
        elif isinstance(value, tuple):
            shown = " ".join(str(v) for v in value)
        else:
            shown = str(value)
        assert f"[default: {shown}]" in helps[key.flag], (key.flag, helps[key.flag])
        assert key.meaning[1:20] in helps[key.flag]  # the schema's words, not a copy that can drift


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_with_a_default_shows_it(command):
    """Nothing swallowed: an option's help keeps its text and its [default: …] (a bare [..] is not markup here)."""
    shown = option_helps(command)
    for param in LINFIT_COMMAND.commands[command].params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        helps = shown[param.opts[0]]
        assert helps.strip() and not helps.startswith("["), param.opts
        if param.default not in (None, False) and not param.is_flag:
            assert f"[default: {param.default}" in helps, (param.opts, helps)


def test_plot_names_its_extra():
    assert "linfit[plot]" in option_helps("train")["--plot"]


def test_a_key_added_to_the_schema_becomes_a_flag(monkeypatch):
    """A new TrainConfig field is a flag of every command that takes the configuration, with nothing else to edit."""
    import linfit.config as config
    from linfit.config import setting

    class Extended(TrainConfig):
        weight_decay: float = setting(0.0, "L2 penalty on a", unit="1/y units²", ge=0)

    monkeypatch.setattr(config, "TrainConfig", Extended)
    seen = {}

    @config_flags
    def command(settings=None) -> None:
        seen.update(settings)

    extra = typer.Typer(rich_markup_mode=None)
    extra.command()(command)
    extra.command("other")(lambda: None)
    result = typer.testing.CliRunner().invoke(extra, ["command", "--weight-decay", "0.25", "--steps", "7"])
    assert result.exit_code == 0, result.output
    assert seen["weight_decay"] == 0.25 and seen["steps"] == 7 and seen["lr"] is None
    helps = typer.testing.CliRunner().invoke(extra, ["command", "--help"], terminal_width=200).stdout
    assert "--weight-decay FLOAT" in helps and "L2 penalty on a (≥ 0) [1/y units²].  [default: 0.0]" in helps


def examples(text: str) -> list[str]:
    """The command lines after the help's last 'Example' heading."""
    tail = text[text.rindex("Example") :]
    return [line.strip() for line in tail.splitlines() if line.strip().startswith("linfit ")]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_the_example_at_the_end_of_each_help_runs(command, invoke, invoke_width, tmp_path, monkeypatch, trained_model):
    shutil.copytree(ROOT / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    shutil.copy(trained_model, tmp_path / "model.json")  # predict's example needs one (`train data/sample.csv -o model.json -q`)
    (line,) = examples(help_text(invoke_width, *command, width=120))
    piped = None
    for part in re.split(r"&&|\|", line):  # a tiny shell: `a && b`, `a | b`, `> file`
        words = shlex.split(part)
        target = words[words.index(">") + 1] if ">" in words else None
        words = words[: words.index(">")] if target else words
        assert words[0] == "linfit"
        result = invoke(*words[1:], input=piped)
        assert result.exit_code == 0, (part, result.output)
        piped = result.stdout if line[line.index(part) + len(part) :].startswith("|") else None
        if target:
            (tmp_path / target).write_text(result.stdout)
    if command == ["grad"]:
        assert "dL/da = r·x = -0.2·1.4 = -0.28" in result.stdout


def test_default_yaml_is_generated_from_the_schema(invoke):
    """Regenerate with: linfit config --commented > configs/default.yaml"""
    committed = (ROOT / "configs" / "default.yaml").read_text(encoding="utf-8")
    assert committed == to_commented_yaml()
    assert invoke("config", "--commented").stdout == committed
    for key in keys():
        (line,) = [line for line in committed.splitlines() if line.startswith(f"{key.name}:")]
        assert key.meaning in line and (key.unit is None or f"[{key.unit}]" in line)


@pytest.mark.parametrize(
    "text",
    [
        "lr: yes\n",
        "lr: on\n",
        "steps: true\n",
        "momentum: off\n",
        "seed: no\n",
        "init_a: true\n",
        "betas: [true, 0.9]\n",
        "threads: TRUE\n",
        "steps: 2.5\n",
        "lr: '0.1'\n",
        "x_col: true\n",
        "standardize: 1\n",
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_converted(text, tmp_path, invoke):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = invoke("config", "-c", path)
    assert result.exit_code == 2, result.stdout
    assert f"key '{text.split(':')[0]}'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_yaml_booleans_are_fine_for_booleans(tmp_path, invoke):
    path = tmp_path / "c.yaml"
    path.write_text("standardize: no\ncompile: off\n")
    result = invoke("config", "-c", path)
    assert result.exit_code == 0 and "standardize: false" in result.stdout


def test_predict_with_values_imports_neither_torch_nor_pandas(tmp_path):
    """One fresh interpreter: `linfit predict model.json --x 3`, its imports listed by -X importtime.

    (The process ends by os._exit once its output is flushed, so the list comes from the interpreter.)
    """
    model = tmp_path / "m.json"
    model.write_text('{"format": "linfit-model", "format_version": 1, "a": 2.0, "b": 0.5}\n')
    command = [sys.executable, "-X", "importtime", "-m", "linfit", "predict", str(model), "--x", "3", "-f", "json"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"prediction": [6.5]' in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "linfit.cli" in imported  # the list is real
    assert not {"torch", "pandas", "numpy"} & imported


def masked(text: str) -> str:
    return re.sub(r" in \d+(\.\d+)? m?s\b", " in <time>", text)


@pytest.mark.parametrize(
    ("name", "args"),
    [("grad.txt", ["grad", "--x", "1.4", "--y", "2.1"]), ("train.txt", ["train", "data/sample.csv"])],
)
def test_tables_read_exactly_as_reviewed(name, args, invoke, monkeypatch):
    """The exact text people see (100 columns, no colour, timing masked). After a deliberate change:
    LINFIT_UPDATE_GOLDEN=1 python -m pytest tests/test_help_and_schema.py, and review the diff."""
    monkeypatch.chdir(ROOT)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    text = masked(result.stdout)
    assert "\x1b[" not in text
    if os.environ.get("LINFIT_UPDATE_GOLDEN") == "1":
        (GOLDEN / name).write_text(text, encoding="utf-8")
    assert text == (GOLDEN / name).read_text(encoding="utf-8")
