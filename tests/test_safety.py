"""Nothing destroyed, nothing hangs: outputs, limits, encodings and signals, tried as a hostile user would.

HOSTILE_FLAGS, HOSTILE_CONFIGS, HOSTILE_MODELS and HOSTILE_OUTPUTS are the catalogue; each case runs
through the command line in-process and must end in its promised exit code with one line on stderr
and every file the user had as it was. The signal tests run real processes (the process is the point).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, one_line, parse_json, start_linfit

MODEL_FLAGS = ["-q", "-f", "json"]


one_clean_line = one_line  # conftest's one-line check


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


# --- numbers no computation can use ------------------------------------------------------------

# name: (arguments, exit code, words the one line must hold)
HOSTILE_FLAGS = {
    "--tol inf": (["train", SAMPLE, "--tol", "inf"], 2, ["--tol", "finite"]),
    "--lr nan": (["train", SAMPLE, "--lr", "nan"], 2, ["--lr"]),
    "--lr inf": (["train", SAMPLE, "--lr", "inf"], 2, ["--lr"]),
    "--init-a -inf": (["train", SAMPLE, "--init-a", "-inf"], 2, ["--init-a"]),
    "--momentum nan": (["train", SAMPLE, "--momentum", "nan"], 2, ["--momentum"]),
    "--seed 400 digits": (["train", SAMPLE, "--seed", "9" * 400], 2, ["--seed", "too large"]),
    "--steps 30 digits": (["train", SAMPLE, "--steps", "1" + "0" * 30], 2, ["--steps"]),
    "grad --x nan": (["grad", "--x", "nan", "--y", "1"], 2, ["--x"]),
    "grad --y inf": (["grad", "--x", "1", "--y", "inf"], 2, ["--y"]),
    "grad --a nan": (["grad", "--x", "1", "--y", "1", "--a", "nan"], 2, ["--a"]),
    "grad --lr inf": (["grad", "--x", "1", "--y", "1", "--explain", "--lr", "inf"], 2, ["--lr"]),
    "grad --check-tol nan": (["grad", "--x", "1", "--y", "1", "--check", "--check-tol", "nan"], 2, ["--check-tol"]),
    "predict --x inf": (["predict", "MODEL", "--x", "inf"], 2, ["--x"]),
    "graph --var x=nan": (["graph", "x*2", "--var", "x=nan"], 2, ["finite"]),
    "graph --var x=1e400": (["graph", "x*2", "--var", "x=1e400"], 2, ["finite"]),
    "graph 1001 characters": (["graph", "x" + "+x" * 500, "--var", "x=1"], 2, ["1000"]),
    "graph 200 unary minus": (["graph", "--var", "x=1", "--", "-" * 200 + "x"], 2, ["nested too deeply"]),
    "graph 300 parentheses": (["graph", "(" * 300 + "x" + ")" * 300, "--var", "x=1"], 2, []),
    "graph 80 nested calls": (["graph", "exp(" * 80 + "x" + ")" * 80, "--var", "x=1"], 2, ["nested too deeply"]),
    "graph x**x chain": (["graph", "**".join(["x"] * 300), "--var", "x=1"], 2, []),
    "--device cuda": (["train", SAMPLE, "--device", "cuda"], 2, ["--device", "cuda", "cpu"]),
}


@pytest.fixture
def model(model_copy) -> Path:
    return model_copy  # conftest's model, trained once, copied here


@pytest.mark.parametrize("case", sorted(HOSTILE_FLAGS))
def test_hostile_flags_end_in_one_line(case, invoke, model):
    arguments, code, words = HOSTILE_FLAGS[case]
    if case == "--device cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    result = invoke(*[model if a == "MODEL" else a for a in arguments])
    assert result.exit_code == code, result.output
    one_clean_line(result.stderr, *words)


@pytest.mark.parametrize(
    "expression, value, code",
    [
        ("sqrt(x)", "x=0", 0),  # s = 0, ∂s/∂x = inf: written as null
        ("x**0.5", "x=0", 0),
        ("sqrt(x*x)", "x=0", 0),  # ∂s/∂x = 0/0
        ("log(x)", "x=0", 2),  # s itself is not finite: refused with one line
        ("1/x", "x=0", 2),
        ("exp(x)", "x=1000", 2),
    ],
)
def test_non_finite_results_are_json_null_or_refused(expression, value, code, invoke):
    result = invoke("graph", expression, "--var", value, "-f", "json")
    assert result.exit_code == code, result.output
    if code:
        one_clean_line(result.stderr, "the expression is")
        return
    text = result.stdout
    out = json.loads(text, parse_constant=lambda word: pytest.fail(f"{word} in JSON"))
    assert out["grad"]["x"] is None
    assert "NaN" not in text and "Infinity" not in text


def test_device_cuda_from_a_config_names_the_file_and_auto_records_its_choice(tmp_path, invoke):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    config = tmp_path / "gpu.yaml"
    config.write_text("device: cuda\n")
    result = invoke("train", SAMPLE, "-c", config)
    assert result.exit_code == 2
    one_clean_line(result.stderr, "gpu.yaml", "device", "cpu")
    saved = tmp_path / "auto.json"
    result = invoke("train", SAMPLE, "--device", "auto", "-o", saved, *MODEL_FLAGS)
    assert result.exit_code == 0, result.output
    assert parse_json(result.stdout)["config"]["device"] == "cpu"
    assert json.loads(saved.read_text())["config"]["device"] == "cpu"


def test_threads_beyond_the_cores_are_capped_with_a_note(invoke):
    result = invoke("train", SAMPLE, "--threads", "100000", "-f", "json")
    assert result.exit_code == 0, result.output
    assert "cores available" in result.stderr
    import torch

    assert torch.get_num_threads() <= len(os.sched_getaffinity(0))


# --- config files ------------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines.append("betas: [" + ", ".join([f"*a{levels - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# name: (file text, words the one line must hold)
HOSTILE_CONFIGS = {
    "alias bomb under a real key": (alias_bomb(), ["10,000 values"]),
    "10,000-deep list": ("betas: " + "[" * 10_000 + "]" * 10_000 + "\n", ["nested"]),
    "10,000-deep mapping": ("lr: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", ["nested"]),
    "recursive alias": ("betas: &x [1, *x]\n", ["alias"]),
    "two megabytes": ("# " + "x" * (2 << 20) + "\n", ["larger than"]),
    "lr .inf": ("lr: .inf\n", ["'lr'", "finite"]),
    "tol .nan": ("tol: .nan\n", ["'tol'", "finite"]),
    "betas with .nan": ("betas: [.nan, 0.9]\n", ["'betas'", "finite"]),
    "400-digit seed": ("seed: " + "9" * 400 + "\n", ["'seed'", "too large"]),
    "python object tag": ("lr: !!python/object/apply:os.system ['true']\n", ["not valid YAML"]),
    "not UTF-8": ("lr: caf\udce9\n", ["UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_hostile_configs_end_in_one_line(case, tmp_path, invoke):
    text, words = HOSTILE_CONFIGS[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    for command in ("config", "train"):
        arguments = [command, "-c", path] if command == "config" else [command, SAMPLE, "-c", path]
        result = invoke(*arguments)
        assert result.exit_code == 2, result.output
        one_clean_line(result.stderr, "hostile.yaml", *words)  # the bomb is refused by its count of values, not a clock


# --- model files -------------------------------------------------------------------------------

GOOD_MODEL = {"format": "linfit-model", "a": 2.0, "b": 1.0}

# name: (file bytes, words the one line must hold)
HOSTILE_MODELS = {
    "100,000 nested brackets": (b"[" * 100_000 + b"]" * 100_000, ["nested"]),
    "100,000 nested objects in a key": (
        b'{"format": "linfit-model", "x": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}",
        ["nested"],
    ),
    "400-digit integer a": (b'{"format": "linfit-model", "a": 1' + b"0" * 400 + b', "b": 1}', ["'a'", "finite"]),
    "1e400 b": (b'{"format": "linfit-model", "a": 1, "b": 1e400}', ["'b'", "finite"]),
    "NaN a": (b'{"format": "linfit-model", "a": NaN, "b": 1}', ["NaN"]),
    "Infinity b": (b'{"format": "linfit-model", "a": 1, "b": -Infinity}', ["Infinity"]),
    "a as text": (b'{"format": "linfit-model", "a": "2", "b": 1}', ["'a'"]),
    "a as true": (b'{"format": "linfit-model", "a": true, "b": 1}', ["'a'"]),
    "two megabytes": (json.dumps({**GOOD_MODEL, "pad": "x" * (2 << 20)}).encode(), ["larger than"]),
    "not UTF-8": (b'{"format": "linfit-model", "a": 1, "b": 1, "c": "\xff"}', ["UTF-8"]),
    "a list": (b"[1, 2]", ["not a linfit model file"]),
    "200,000-digit integer": (b'{"format": "linfit-model", "a": ' + b"7" * 200_000 + b', "b": 1}', ["'a'"]),
    "a given twice": (b'{"format": "linfit-model", "a": 1, "b": 1, "a": 5}', ["'a'", "twice"]),
    "data as text": (b'{"format": "linfit-model", "a": 1, "b": 1, "data": "sample.csv"}', ["'data'", "object"]),
    "config as a list": (b'{"format": "linfit-model", "a": 1, "b": 1, "config": [1]}', ["'config'", "object"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MODELS))
def test_hostile_model_files_end_in_one_line(case, tmp_path, invoke):
    content, words = HOSTILE_MODELS[case]
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    for arguments in (["predict", path, "--x", "1"], ["train", SAMPLE, "--init-from", path]):
        result = invoke(*arguments)
        assert result.exit_code == 3, result.output
        one_clean_line(result.stderr, "hostile.json", *words)


def test_a_good_model_file_still_reads(tmp_path, invoke):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(GOOD_MODEL))
    result = invoke("predict", path, "--x", "3", "-f", "json")
    assert result.exit_code == 0, result.output
    assert parse_json(result.stdout)["prediction"] == [7.0]


# --- outputs -----------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "d.csv").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "c.yaml").write_text("lr: 0.9\n")
    return tmp_path


# name: (arguments with d.csv, c.yaml, m.json, h.csv, link-to-data in the folder, exit code, words)
HOSTILE_OUTPUTS = {
    "-o the data": (["-o", "d.csv"], 2, ["data file"]),
    "--history the data": (["--history", "d.csv"], 2, ["data file"]),
    "--plot the data": (["--plot", "d.csv"], 2, []),
    "--report the data": (["--report", "d.csv"], 2, ["data file"]),
    "--report and -o the same": (["-o", "r.html", "--report", "r.html"], 2, ["same file"]),
    "-o the config": (["-c", "c.yaml", "-o", "c.yaml"], 2, ["--config"]),
    "-o the warm start": (["--init-from", "m.json", "-o", "m.json"], 2, ["--init-from"]),
    "-o and --history the same": (["-o", "s.json", "--history", "s.json"], 2, ["--output writes the same file"]),
    "-o and --history via ./": (["-o", "s.json", "--history", "./sub/../s.json"], 2, ["same file"]),
    "-o a hard link to the data": (["-o", "hard.csv"], 2, ["data file"]),
    "-o a symlink to the data": (["-o", "soft.csv"], 2, ["data file"]),
    "-o into a missing folder": (["-o", "missing/m.json"], 2, ["does not exist"]),
    "-o a folder": (["-o", "sub"], 2, ["directory"]),
    "-o empty": (["-o", ""], 2, []),
    "--plot .jpg": (["--plot", "fit.jpg"], 2, [".png, .svg or .pdf"]),
    "--plot without extension": (["--plot", "fit"], 2, ["no extension"]),
    "--strict not converged over a model": (
        ["--strict", "--steps", "2", "-o", "m.json", "--history", "h.csv"],
        5,
        ["No output file was written"],
    ),
    "--lr 5 diverges over a model": (["--standardize", "--lr", "5", "-o", "m.json"], 4, ["diverged"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_OUTPUTS))
def test_hostile_outputs_leave_every_file_as_it_was(case, folder, invoke, monkeypatch):
    monkeypatch.chdir(folder)
    (folder / "sub").mkdir()
    (folder / "m.json").write_text(json.dumps({**GOOD_MODEL, "mark": "the user's model"}))
    (folder / "h.csv").write_text("the user's history\n")
    os.link(folder / "d.csv", folder / "hard.csv")
    os.symlink("d.csv", folder / "soft.csv")
    before = snapshot(folder)
    arguments, code, words = HOSTILE_OUTPUTS[case]
    result = invoke("train", "d.csv", *arguments)
    assert result.exit_code == code, result.output
    one_clean_line(result.stderr, *words)
    assert snapshot(folder) == before  # nothing replaced, nothing added (no temporary file either)
    assert (folder / "soft.csv").is_symlink()


def test_outputs_are_written_atomically_keeping_the_mode(folder, invoke):
    model, history = folder / "m.json", folder / "h.csv"
    model.write_text("old")
    model.chmod(0o640)
    result = invoke("train", folder / "d.csv", "-o", model, "--history", history, *MODEL_FLAGS)
    assert result.exit_code == 0, result.output
    assert json.loads(model.read_text())["format"] == "linfit-model"
    assert stat.S_IMODE(model.stat().st_mode) == 0o640
    assert history.read_text().startswith("step,loss")
    assert sorted(p.name for p in folder.iterdir()) == ["c.yaml", "d.csv", "h.csv", "m.json"]


def test_a_symlink_output_writes_its_target_and_stays_a_link(folder, invoke):
    target = folder / "real.json"
    target.write_text("old")
    link = folder / "link.json"
    link.symlink_to(target.name)
    result = invoke("train", folder / "d.csv", "-o", link, *MODEL_FLAGS)
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert json.loads(target.read_text())["format"] == "linfit-model"


def test_dev_null_is_written_through_not_replaced(invoke):
    before = os.stat("/dev/null")
    result = invoke("train", SAMPLE, "-o", "/dev/null", "--history", "/dev/null", *MODEL_FLAGS)
    assert result.exit_code == 0, result.output
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_fifo_is_written_through(tmp_path, invoke):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = invoke("train", SAMPLE, "-o", fifo, *MODEL_FLAGS)
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["format"] == "linfit-model"


def test_a_full_device_is_one_line_exit_7_and_no_other_output_replaced(folder, invoke):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    model = folder / "m.json"
    model.write_text("the user's model")
    result = invoke("train", folder / "d.csv", "-o", model, "--history", "/dev/full", *MODEL_FLAGS)
    assert result.exit_code == 7, result.output
    one_clean_line(result.stderr, "--history /dev/full", "no space")
    assert model.read_text() == "the user's model"
    assert sorted(p.name for p in folder.iterdir()) == ["c.yaml", "d.csv", "m.json"]


def test_a_file_size_limit_is_one_line_exit_7_and_the_old_model_kept(folder, invoke, monkeypatch):
    """`ulimit -f 1`: in-process, the soft limit lowered for the one call (Python ignores SIGXFSZ, so a write
    past it fails with EFBIG as in a process of its own), then put back."""
    import resource

    model = folder / "m.json"
    model.write_text("the user's model")
    monkeypatch.chdir(folder)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))
    try:
        done = invoke("train", "d.csv", "-o", "m.json", "-q")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert done.exit_code == 7, done.output
    one_clean_line(done.stderr, "--output m.json", "file-size limit")
    assert model.read_text() == "the user's model"
    assert sorted(p.name for p in folder.iterdir()) == ["c.yaml", "d.csv", "m.json"]


@pytest.mark.parametrize("name, fmt", [("fit.png", "png"), ("fit.SVG", "svg"), ("a.b.pdf", "pdf")])
def test_plot_format_follows_the_extension(name, fmt):
    from linfit.plot import plot_format

    assert plot_format(Path(name)) == fmt


def test_an_svg_plot_is_the_figure_drawn_as_svg(tmp_path, invoke):
    """Drawn once (the PNG's content is looked at in test_reporting): an SVG document of the six panels (data,
    loss, surface; residuals against fitted values, normal Q-Q, influence)."""
    from xml.etree import ElementTree

    path = tmp_path / "fit.svg"
    result = invoke("train", SAMPLE, "--plot", path, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    groups = {element.get("id") for element in root.iter("{http://www.w3.org/2000/svg}g")}
    assert {f"axes_{k}" for k in range(1, 7)} <= groups and "axes_7" not in groups
    assert sum(1 for name in groups if name and name.startswith("line2d")) >= 6  # lines, not just frames


# --- encodings ---------------------------------------------------------------------------------


def test_text_falls_back_to_the_nearest_ascii():
    from linfit.text import HANDLER
    from linfit.views import table as report

    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors=HANDLER)
    text = "½·mean((a·x + b − y)²) γ ∂s/∂x ─│ café"
    stream.write(text)
    stream.flush()
    shown = stream.buffer.getvalue().decode("ascii")
    assert shown == "1/2*mean((a*x + b - y)^2) gamma ds/dx -| cafe"
    console = report.console()
    console.file = stream
    console.print(report.partials_table({"x": 2.0}, 3.0))  # rich writes through the same stream
    stream.flush()
    assert "ds/dx" in stream.buffer.getvalue().decode("ascii")


def run_process(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return start_linfit(*args, env=env, text=False)


# Streams made as the interpreter makes them for PYTHONIOENCODING (strict errors on stdout), then linfit's own
# start (linfit.entry: fit_streams, the command line): in-process, one case each. Two real processes check
# that the interpreter's own streams get there too: a cp437 terminal, and the C locale.
ENCODED = {
    "ascii train": ("ascii", ["train", str(SAMPLE)]),
    "latin-1 grad --explain --graph": ("latin-1", ["grad", "--x", "1.4", "--y", "2.1", "--explain", "--graph"]),
    "ascii json with non-ASCII": ("ascii", ["graph", "sqrt(α)", "--var", "α=0", "-f", "json"]),
    "ascii train --help": ("ascii", ["train", "--help"]),  # click's help, which takes an ASCII stream for a misconfigured one
}
ENCODINGS = {
    "cp437 graph": ({"PYTHONIOENCODING": "cp437"}, ["graph", "2*(x-y)+z", "--var", "x=1", "--var", "y=2", "--var", "z=5"]),
    "C locale config": ({"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": ""}, ["config"]),
}


@pytest.mark.parametrize("name", list(ENCODED))
def test_every_output_encoding_works_in_process(name, monkeypatch):
    from linfit.entry import _run

    encoding, args = ENCODED[name]
    out, err = io.BytesIO(), io.BytesIO()
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "argv", ["linfit", *args])
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, encoding=encoding, write_through=True))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(err, encoding=encoding, errors="backslashreplace", write_through=True))
    assert _run() == 0, err.getvalue()
    sys.stdout.flush()
    sys.stderr.flush()
    assert not err.getvalue().strip(), err.getvalue()
    assert out.getvalue().strip(), name
    text = out.getvalue().decode(encoding)
    if encoding == "ascii":
        out.getvalue().decode("ascii")  # every byte ASCII: nothing failed to encode, nothing was mangled into bytes
    if name == "ascii train --help":  # the Greek of the losses' options by name, not as '?'
        assert "delta" in text and "tau" in text and " ? " not in text, text
    if name == "ascii json with non-ASCII":
        escaped = json.loads(text)  # escaped, still the same JSON
        assert escaped["expression"] == "sqrt(α)" and escaped["grad"] == {"α": None}


def test_every_output_encoding_works():
    processes = {name: run_process(*args, env=env) for name, (env, args) in ENCODINGS.items()}
    outputs = {}
    for name, process in processes.items():
        out, err = outputs[name] = process.communicate(timeout=120)
        assert process.returncode == 0, (name, err)
        assert b"Traceback" not in err and not err.strip(), (name, err)
        assert out.strip(), name
    assert "ds/dx" in outputs["cp437 graph"][0].decode("cp437")  # cp437 has no ∂: the nearest ASCII is shown


# --- signals -----------------------------------------------------------------------------------

# Each moment is reached, not guessed at with a clock: the child (linfit's own entry point, behind an
# audit hook) announces on a pipe of its own when it gets there — an import beginning, the data file or
# the model's temporary file being opened — and waits there until the signal has been sent. Training
# itself is the moment of the SIGTERM test below and of test_scripting's Ctrl-C test.
MOMENTS = {
    "the command line's modules load": (signal.SIGINT, "import", "linfit.cli"),
    "torch's import begins": (signal.SIGTERM, "import", "torch"),
    "torch is half imported": (signal.SIGINT, "import", "torch.nn"),
    "the data is opened": (signal.SIGTERM, "open", "sample.csv"),
    "the model is being written": (signal.SIGINT, "open", ".m.json."),
}
LONG_RUN = ["--lr", "1e-9", "--steps", "100000000", "--log-every", "100000"]

AT_A_MOMENT = """
import os, sys
event, name, here, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
waiting = [True]
def reached(what, args):
    if waiting and what == event and isinstance(args[0], str) and (args[0] == name if event == "import" else name in args[0]):
        waiting.clear()
        os.write(here, b"here")
        os.read(go, 1)  # the signal arrives while linfit is at this very point
sys.addaudithook(reached)
sys.argv = ["linfit", *sys.argv[5:]]
from linfit.entry import main
main()
"""


def start_at(moment: tuple[str, str], folder: Path, *arguments: str) -> tuple[subprocess.Popen, int, int]:
    """linfit as a process that stops at `moment` (an audit event and a name) and says so; returns it and
    the two pipe ends: read `here` for the announcement, write to `go` to let it carry on."""
    here_read, here_write = os.pipe()
    go_read, go_write = os.pipe()
    python = ("-c", AT_A_MOMENT, *moment, str(here_write), str(go_read))
    process = start_linfit(*arguments, python=python, cwd=folder, pass_fds=(here_write, go_read))
    os.close(here_write)
    os.close(go_read)
    return process, here_read, go_write


def start_training(folder: Path, *extra: str) -> subprocess.Popen:
    arguments = ["train", str(SAMPLE), "-o", str(folder / "m.json"), "--history", str(folder / "h.csv"), *LONG_RUN, *extra]
    return start_linfit(*arguments)


@pytest.mark.parametrize("name", list(MOMENTS))
def test_sigint_and_sigterm_at_each_moment_before_training_end_cleanly(name, tmp_path):
    """Started and stopped one moment at a time: what `timeout`, a scheduler or Ctrl-C meets there."""
    number, event, where = MOMENTS[name]
    arguments = ["train", str(SAMPLE), "-o", str(tmp_path / "m.json"), "--history", str(tmp_path / "h.csv")]
    process, here, go = start_at((event, where), tmp_path, *arguments, "-q")
    with process, os.fdopen(here, "rb") as announcements, os.fdopen(go, "wb", buffering=0) as carry_on:
        reached = announcements.read(4)
        assert reached == b"here", f"linfit never reached {name!r}: {process.communicate(timeout=600)}"
        process.send_signal(number)
        with contextlib.suppress(BrokenPipeError):  # the signal may have ended it already
            carry_on.write(b"g")
        out, err = process.communicate(timeout=600)
    assert process.returncode == 128 + number, (process.returncode, err)
    one_clean_line(err, "interrupted")
    left = sorted(p.name for p in tmp_path.iterdir())
    if name == "the model is being written":  # training was over: what it found is kept, whole
        assert re.fullmatch(r"linfit: interrupted after step (\d+)\.\n", err), err
        assert left == ["h.csv", "m.json"], left
        saved = json.loads((tmp_path / "m.json").read_text())
        assert saved["converged"] and f"after step {saved['steps']}." in err
        assert (tmp_path / "h.csv").read_text().startswith("step,")
    else:
        assert err == "linfit: interrupted.\n" and out == "", (out, err)
        assert left == [], left  # nothing written, no temporary file left


# Ctrl-C during training, then a supervisor's SIGTERM while the results are written: the first signal alone
# is what stops the loop (so this is also the one-signal case); SIGTERM's own code is checked at the moments
# above and in test_a_second_signal_is_absorbed_only_once_the_loop_has_stopped.
@pytest.mark.parametrize(("number", "then"), [(signal.SIGINT, signal.SIGTERM)])
def test_a_signal_during_training_saves_the_model_marked_interrupted(number, then, tmp_path, invoke):
    """One signal stops after the step and leaves a usable model; a second one while the results are written
    (Ctrl-C then a supervisor's SIGTERM, Ctrl-C twice) does not lose them: it is absorbed, and the exit code
    is the first's."""
    process = start_training(tmp_path, "-f", "jsonl")
    first = json.loads(process.stdout.readline())  # the first step is out: training has begun
    assert first["record"] == "step" and first["step"] == 1
    assert process.poll() is None  # jsonl streams: the run goes on while its first record is already here
    process.send_signal(number)
    out = ""
    for line in process.stdout:  # the result record is out: the loop has stopped, the files are being written
        out += line
        if json.loads(line)["record"] == "result":
            break
    process.send_signal(then)
    rest, err = process.communicate(timeout=120)
    out += rest
    assert process.returncode == 128 + number, err
    assert re.fullmatch(r"linfit: interrupted after step \d+\.\n", err), err
    result = json.loads(out.splitlines()[-1])
    assert result["stop_reason"] == "interrupted"
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["interrupted"] is True and saved["stop_reason"] == "interrupted" and saved["steps"] == result["steps"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv", "m.json"]
    predicted = parse_json(invoke("predict", tmp_path / "m.json", "--x", "2", "-f", "json").stdout)  # the fit so far, usable
    assert predicted["prediction"] == [saved["a"] * 2 + saved["b"]]


def test_predict_refuses_a_model_whose_data_is_text_and_an_input_with_a_prediction_column(tmp_path, invoke):
    """Reading a file with a model whose `data` is not an object is exit 3, never a crash; an input that has
    a 'prediction' column already is refused (the output would have two), in CSV and JSON lines."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**GOOD_MODEL, "data": "sample.csv"}))
    result = invoke("predict", bad, SAMPLE)
    assert result.exit_code == 3, result.output
    one_clean_line(result.stderr, "bad.json", "'data'")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD_MODEL))
    data = tmp_path / "p.csv"
    data.write_text("x,y,prediction\n1,2,3\n2,4,5\n")
    for extra in (["-f", "csv"], ["-f", "jsonl", "--x-col", "prediction"]):
        result = invoke("predict", good, data, *extra)
        assert result.exit_code == 3 and not result.stdout, result.output
        one_clean_line(result.stderr, "p.csv", "'prediction'")
    result = invoke("predict", good, data, "-f", "json")  # x and prediction only: nothing clashes
    assert result.exit_code == 0 and parse_json(result.stdout)["prediction"] == [3.0, 5.0]


# --- saved runs given to `linfit report` ----------------------------------------------------------


def _result_variants(result: dict) -> dict[str, tuple[str, list[str]]]:
    """name: (the result line, words the one line must hold)."""
    config = result["config"]
    return {
        "seed as text": (json.dumps({**result, "config": {**config, "seed": "0"}}), ["'seed'"]),
        "negative seed": (json.dumps({**result, "config": {**config, "seed": -1}}), ["'seed'"]),
        "seed 1.5": (json.dumps({**result, "config": {**config, "seed": 1.5}}), ["'seed'"]),
        "config a list": (json.dumps({**result, "config": [1, 2]}), ["'config'", "not an object"]),
        "data a string": (json.dumps({**result, "data": "sample.csv"}), ["'data'", "not an object"]),
        "lr as text": (json.dumps({**result, "lr": "fast"}), ["'lr'"]),
        "lone surrogate in source": (json.dumps({**result, "data": {**result["data"], "source": "\ud800"}}), ["surrogate"]),
        "n = 10^400": (json.dumps(result).replace(f'"n": {result["moments"]["n"]}', '"n": 1' + "0" * 400), ["401 digits"]),
        "n = 10^30": (json.dumps(result).replace(f'"n": {result["moments"]["n"]}', '"n": 1' + "0" * 30), ["rows"]),
        "200,000-deep result line": ('{"record": "result", "a": ' + "[" * 200_000 + "]" * 200_000 + "}", ["nested"]),
    }


def test_hostile_saved_runs_are_data_errors_never_a_crash(tmp_path, invoke):
    ran = invoke("train", SAMPLE, "-f", "jsonl")
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    variants = _result_variants(json.loads(lines[-1]))
    for name, (last, words) in variants.items():
        path = tmp_path / "run.jsonl"
        path.write_text("\n".join(lines[:-1] + [last]) + "\n")
        result = invoke("report", path, "-o", tmp_path / "r.html", "--data", SAMPLE)
        assert result.exit_code == 3, (name, result.output)
        one_clean_line(result.stderr, "run.jsonl", "line", *words)
        assert not (tmp_path / "r.html").exists(), name
    path.write_text(ran.stdout)  # the stream as written still makes its page
    assert invoke("report", path, "-o", tmp_path / "r.html", "--data", SAMPLE).exit_code == 0


# --- closed and failing standard streams ------------------------------------------------------------


def test_closed_or_failing_standard_streams_end_with_a_documented_code(tmp_path):
    """`>&-`, `<&-`, `2>&-`, `2>/dev/full` and a bogus MPLBACKEND: one line (where stderr can take it), the
    command's own exit code, never "unexpected error" (each a real shell, as the shell closes the descriptor)."""
    bad_model = tmp_path / "bad.json"
    bad_model.write_text('{"format": "linfit-model", "a": "x", "b": 1}')
    linfit = f"{sys.executable} -m linfit"
    cases = {  # name: (shell command, exit code, words stderr must hold; None: stderr is gone)
        "stdout closed": (f"{linfit} config >&-", 7, ["stdout is closed"]),
        "stdin closed": (f"{linfit} report - -o {tmp_path / 'r.html'} <&-", 3, ["stdin: it is closed"]),
        "stderr closed": (f"{linfit} predict {bad_model} --x 1 2>&-", 3, None),
        "stderr full": (f"{linfit} predict {bad_model} --x 1 2>/dev/full", 3, None),
        "bogus MPLBACKEND": (f"MPLBACKEND=bogus {linfit} train {SAMPLE} --plot {tmp_path / 'p.png'}", 2, ["MPLBACKEND='bogus'"]),
    }
    env = {**os.environ, "NO_COLOR": "1"}
    processes = {
        name: subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for name, (command, _, _) in cases.items()
    }
    for name, process in processes.items():
        out, err = process.communicate(timeout=120)
        _, code, words = cases[name]
        assert process.returncode == code, (name, process.returncode, err)
        if words is not None:
            one_clean_line(err, *words)
        else:
            assert not err, (name, err)
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "p.png").exists()


# --- messages of graph and grad ---------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "column"), [("x+", 3), ("  x+", 5), ("x**", 4), ("x+*y", 3), ("(x", 1)])
def test_a_syntax_error_names_its_column(expression, column, invoke):
    result = invoke("graph", expression, "--var", "x=1", "--var", "y=2")
    assert result.exit_code == 2, result.output
    one_clean_line(result.stderr, f"column {column}")


def test_a_flat_sum_is_not_nested_but_real_nesting_and_long_chains_are_bounded(invoke):
    terms = 61
    result = invoke("graph", "+".join(f"x{i}" for i in range(terms)), *[f"--var=x{i}={i}" for i in range(terms)], "-f", "json")
    assert result.exit_code == 0, result.output
    out = parse_json(result.stdout)
    assert out["value"] == sum(range(terms)) and set(out["grad"].values()) == {1.0}
    product = invoke("graph", "*".join(["x"] * 100), "--var", "x=1.01", "--check", "-f", "json")  # d/dx x^100 = 100·x^99
    assert product.exit_code == 0 and parse_json(product.stdout)["grad"]["x"] == pytest.approx(100 * 1.01**99, rel=1e-12)
    nested = invoke("graph", "2*(" * 61 + "x" + ")" * 61, "--var", "x=1")
    assert nested.exit_code == 2 and "nested too deeply" in nested.stderr
    chained = invoke("graph", "-".join(["x"] * 152), "--var", "x=1", "-f", "json")
    assert chained.exit_code == 2 and "150 operations" in chained.stderr


def test_an_infinite_derivative_is_said_to_be_one_not_a_nan_value_nor_a_disagreement(invoke):
    """sqrt(x) at 0: the value is 0 and ∂s/∂x infinite; grad at x = 1e200: dL/da overflows. Neither is a
    disagreement whatever --check-tol says: the check cannot be made (exit 6, as a check that fails)."""
    result = invoke("graph", "sqrt(x)", "--var", "x=0", "--check")
    assert result.exit_code == 6, result.output
    one_clean_line(result.stderr, "cannot be checked", "∂/∂x is inf", "value there is 0")
    assert "nan" not in result.stderr and "cannot check" in result.stdout and "DISAGREE" not in result.stdout
    result = invoke("grad", "--x", "1e200", "--y", "1", "--check", "--check-tol", "1e308")
    assert result.exit_code == 6, result.output
    one_clean_line(result.stderr, "cannot be checked", "∂/∂a is inf")
    assert "DISAGREE" not in result.stdout + result.stderr
    as_json = invoke("graph", "sqrt(x)", "--var", "x=0", "--check", "-f", "json")
    assert as_json.exit_code == 6 and parse_json(as_json.stdout)["check"]["verdict"] == "cannot check"
    assert invoke("graph", "sqrt(x)", "--var", "x=4", "--check").exit_code == 0  # a finite slope still checks


# --- torchrun ------------------------------------------------------------------------------------


def _torchrun(*arguments: str, nodes: int = 1, node: int = 0, port: int = 0, per_node: int = 2) -> subprocess.Popen:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(per_node)]
    if nodes > 1:
        launcher += ["--nnodes", str(nodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--node-rank", str(node)]
    else:
        launcher += ["--standalone"]
    return subprocess.Popen(
        [*launcher, "-m", "linfit", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"},
        cwd=ROOT,
    )


def _family(pid: int) -> list[int]:
    """The process and every process below it (torchrun's workers run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    family, pending = [], [pid]
    while pending:
        family.append(pending.pop())
        pending += children.get(family[-1], [])
    return family


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_torchrun_says_a_data_error_once_with_its_code_and_a_lost_peer_in_one_line(tmp_path):
    """A data error: one line (rank 0's), each rank exiting 3. A machine lost mid-run (two launchers on
    localhost, the second killed with its worker once training began): the survivor says so in one line,
    exit 8, never "unexpected error"."""
    import socket

    constant = tmp_path / "constant.csv"
    constant.write_text("x,y\n" + "".join(f"1,{i}\n" for i in range(10)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    long_run = ["train", str(SAMPLE), "-f", "jsonl", "-o", str(tmp_path / "m.json"), *LONG_RUN]
    survivor = _torchrun(*long_run, nodes=2, node=0, port=port, per_node=1)
    lost = _torchrun(*long_run, nodes=2, node=1, port=port, per_node=1)
    refused = _torchrun("train", str(constant))
    try:
        assert json.loads(survivor.stdout.readline())["record"] == "step"  # rank 0 trains: both joined
        _kill(_family(lost.pid)[1:])  # the other machine's worker dies
        _, err = survivor.communicate(timeout=120)
        _, refusal = refused.communicate(timeout=120)
    finally:
        for process in (survivor, lost, refused):
            _kill(_family(process.pid)[::-1])
            process.communicate()
    said = [line for line in err.splitlines() if line.startswith("linfit: ")]
    assert len(said) == 1 and "rank 0 of 2" in said[0] and "was lost" in said[0], err
    assert "unexpected error" not in err and re.search(r"exitcode\s+: 8 \(pid", err), err
    assert not (tmp_path / "m.json").exists()
    said = [line for line in refusal.splitlines() if line.startswith("linfit: ")]
    assert len(said) == 1 and "x is constant" in said[0], refusal  # once, though both ranks refused
    codes = re.findall(r"exitcode\s+: (-?\d+) \(pid", refusal)  # torchrun's summary: a rank's code each
    assert "3" in codes and set(codes) <= {"3", "-15"}, refusal  # the error's own code (-15: stopped by torchrun first)


def test_a_second_signal_is_absorbed_only_once_the_loop_has_stopped():
    """The rule behind the escalation test above, without a process: during a step a second signal stops at
    once (the step may be a long pass); once the loop has seen the first, one more is absorbed, then not."""
    from linfit.signals import Deferred, Interrupted

    during_a_step = Deferred()
    during_a_step._handle(signal.SIGTERM, None)
    with pytest.raises(Interrupted):
        during_a_step._handle(signal.SIGINT, None)
    writing = Deferred()
    writing._handle(signal.SIGTERM, None)
    assert writing.requested()  # the loop sees it and stops: the results are written next
    writing._handle(signal.SIGINT, None)  # absorbed
    assert writing.exit_code() == 143
    with pytest.raises(Interrupted) as third:
        writing._handle(signal.SIGINT, None)
    assert third.value.exit_code == 130


def test_var_values_refuse_digit_separators(invoke):
    result = invoke("graph", "2*x", "--var", "x=1_0")
    assert result.exit_code == 2 and "'1_0' is not a number" in result.stderr


def test_an_output_refused_before_any_work_is_exit_2_as_the_readme_says(tmp_path, invoke):
    """An -o the run could never write (missing folder, a folder without write permission) is found before
    any work: a usage error (2). The README's table says so, and keeps 7 for a write that fails."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for path in (tmp_path / "missing" / "m.json", locked / "m.json"):
            result = invoke("train", SAMPLE, "-o", path)
            if path.parent == locked and os.access(locked, os.W_OK):
                continue  # root writes anywhere: nothing to refuse
            assert result.exit_code == 2, result.output
            one_clean_line(result.stderr, "--output", str(path.parent))
    finally:
        locked.chmod(0o700)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| 7 |"))
    assert "before any work" in row and "is 2" in row and "permission," not in row
