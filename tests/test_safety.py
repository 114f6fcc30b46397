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

from conftest import SAMPLE, one_line, parse_json, start_linfit

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


def test_a_file_size_limit_is_one_line_exit_7_and_the_old_model_kept(folder):
    model = folder / "m.json"
    model.write_text("the user's model")
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))"
    script = f"{limit}; import sys; sys.argv = ['linfit', 'train', 'd.csv', '-o', 'm.json', '-q']; from linfit.entry import main; main()"
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 7, done.stderr
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


ENCODINGS = {
    "ascii train": ({"PYTHONIOENCODING": "ascii"}, ["train", str(SAMPLE)]),
    "latin-1 grad --explain --graph": ({"PYTHONIOENCODING": "latin-1"}, ["grad", "--x", "1.4", "--y", "2.1", "--explain", "--graph"]),
    "cp437 graph": ({"PYTHONIOENCODING": "cp437"}, ["graph", "2*(x-y)+z", "--var", "x=1", "--var", "y=2", "--var", "z=5"]),
    "ascii json with non-ASCII": ({"PYTHONIOENCODING": "ascii"}, ["graph", "sqrt(α)", "--var", "α=0", "-f", "json"]),
    "C locale config": ({"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": ""}, ["config"]),
}


def test_every_output_encoding_works():
    processes = {name: run_process(*args, env=env) for name, (env, args) in ENCODINGS.items()}
    outputs = {}
    for name, process in processes.items():
        env = ENCODINGS[name][0]
        out, err = outputs[name] = process.communicate(timeout=120)
        assert process.returncode == 0, (name, err)
        assert b"Traceback" not in err and not err.strip(), (name, err)
        assert out.strip(), name
        if env.get("PYTHONIOENCODING") == "ascii":
            out.decode("ascii")  # every byte ASCII: nothing failed to encode, nothing was mangled into bytes
    escaped = json.loads(outputs["ascii json with non-ASCII"][0])  # escaped, still the same JSON
    assert escaped["expression"] == "sqrt(α)" and escaped["grad"] == {"α": None}


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


@pytest.mark.parametrize("number", [signal.SIGTERM])  # SIGINT: test_scripting's Ctrl-C test
def test_a_signal_during_training_saves_the_model_marked_interrupted(number, tmp_path):
    process = start_training(tmp_path, "-f", "jsonl")
    first = process.stdout.readline()  # the first step is out: training has begun
    assert json.loads(first)["record"] == "step"
    process.send_signal(number)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + number, err
    assert re.fullmatch(r"linfit: interrupted after step \d+\.\n", err), err
    result = json.loads(out.splitlines()[-1])
    assert result["stop_reason"] == "interrupted"
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["interrupted"] is True and saved["steps"] == result["steps"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv", "m.json"]
