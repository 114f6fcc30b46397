"""Scale: streaming from disk (--chunk-rows), mini-batch SGD (--batch-size), torchrun, and the GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, exact_least_squares, parse_json, relative, run_linfit, write_csv


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(8)
    x = rng.uniform(-50, 150, 5003)
    y = -1.7 * x + 40 + rng.normal(0, 3, x.size)
    path = write_csv(tmp_path_factory.mktemp("scale") / "data.csv", {"x": x, "y": y})
    return path, x, y


def train_json(*args) -> dict:
    result = run_linfit("train", *map(str, args), "-q", "-f", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_streaming_equals_in_memory_step_by_step(data, invoke):
    path, x, y = data
    memory = parse_json(invoke("train", path, "-f", "json", "--log-every", "1").stdout)
    streamed = parse_json(invoke("train", path, "-f", "json", "--log-every", "1", "--chunk-rows", "700").stdout)
    assert streamed["steps"] == memory["steps"]
    first = memory["history"][0]
    for left, right in zip(memory["history"], streamed["history"]):
        # chunks sum in another order: equal to rounding, measured against the first step's size
        for key in ("loss", "grad_a", "grad_b", "a", "b"):
            assert left[key] == pytest.approx(right[key], rel=1e-11, abs=1e-11 * abs(first[key])), key
    a, b = exact_least_squares(x, y)
    assert relative(streamed["a"], a) <= 1e-9 and relative(streamed["b"], b) <= 1e-9
    assert streamed["stats"]["se_a"] == pytest.approx(memory["stats"]["se_a"], rel=1e-9)


def test_streaming_refuses_stdin_and_names_bad_lines(tmp_path, invoke):
    assert invoke("train", "-", "--chunk-rows", "10", input="x,y\n1,2\n").exit_code == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n2,4\n3,\n")
    result = invoke("train", bad, "--chunk-rows", "2")
    assert result.exit_code == 3 and "line 4" in result.stderr and "Traceback" not in result.stderr
    assert invoke("train", bad, "--chunk-rows", "2", "--plot", tmp_path / "p.png").exit_code == 2


def test_minibatch_sgd_is_seeded_and_lands_near_the_optimum(data, invoke):
    path, x, y = data
    args = ("train", path, "-f", "json", "--batch-size", "64", "--steps", "3000", "--lr", "0.05")
    first = parse_json(invoke(*args).stdout)
    second = parse_json(invoke(*args).stdout)
    assert (first["a"], first["b"]) == (second["a"], second["b"])  # same seed, same shuffles
    other = parse_json(invoke(*args, "--seed", "1").stdout)
    assert other["a"] != first["a"]
    a, b = exact_least_squares(x, y)
    optimum = 0.5 * np.mean((a * x + b - y) ** 2)
    assert first["loss"] == pytest.approx(optimum, rel=1e-2)  # noisy steps: near, not exact
    assert first["loss"] == pytest.approx(0.5 * np.mean((first["a"] * x + first["b"] - y) ** 2), rel=1e-9)


def test_minibatch_sgd_from_disk(data, invoke):
    path, x, y = data
    out = parse_json(invoke("train", path, "-f", "json", "--batch-size", "128", "--chunk-rows", "1000", "--steps", "2000", "--lr", "0.05").stdout)
    a, b = exact_least_squares(x, y)
    assert relative(out["a"], a) < 1e-2 and abs(out["b"] - b) < 1.0


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", "-m", "linfit", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)


def test_two_processes_equal_one(data):
    path, _, _ = data
    alone = train_json(path, "--log-every", "1")
    result = torchrun("train", str(path), "-q", "-f", "json", "--log-every", "1")
    assert result.returncode == 0, result.stderr
    together = json.loads(result.stdout)  # one JSON object: only rank 0 printed
    assert together["data"]["processes"] == 2 and together["data"]["rows"] == alone["data"]["rows"]
    assert together["steps"] == alone["steps"]
    for key in ("a", "b", "loss"):
        assert together[key] == pytest.approx(alone[key], rel=1e-10)
    for left, right in zip(alone["history"], together["history"]):
        assert left["grad_a"] == pytest.approx(right["grad_a"], rel=1e-10, abs=1e-12)


def test_two_processes_over_a_glob_of_files_streamed(data, tmp_path):
    _, x, y = data
    for part in range(3):
        rows = slice(part * 2000, (part + 1) * 2000)
        write_csv(tmp_path / f"part-{part}.csv", {"x": x[rows], "y": y[rows]})
    pattern = str(tmp_path / "part-*.csv")
    alone = train_json(pattern)
    result = torchrun("train", pattern, "-q", "-f", "json", "--chunk-rows", "500")
    assert result.returncode == 0, result.stderr
    together = json.loads(result.stdout)
    assert together["data"]["rows"] == x.size == alone["data"]["rows"]
    assert together["a"] == pytest.approx(alone["a"], rel=1e-10) and together["b"] == pytest.approx(alone["b"], rel=1e-10)


def test_without_torchrun_nothing_changes(data):
    path, _, _ = data
    assert "processes" not in train_json(path)["data"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(data):
    path, _, _ = data
    cpu = train_json(path)
    gpu = train_json(path, "--device", "cuda")
    assert gpu["config"]["device"] == "cuda"
    assert gpu["a"] == pytest.approx(cpu["a"], rel=1e-9) and gpu["b"] == pytest.approx(cpu["b"], rel=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_streaming_and_float32(data):
    path, x, y = data
    out = train_json(path, "--device", "cuda", "--dtype", "float32", "--chunk-rows", "1000")
    a, b = exact_least_squares(x, y)
    assert relative(out["a"], a) < 1e-5


def test_big_float32_files_are_read_once_into_float32(data, invoke, monkeypatch):
    """Above the streaming threshold a float32 run keeps no float64 copy; the reference stays exact."""
    import linfit.pipeline

    path, x, y = data
    usual = parse_json(invoke("train", path, "-f", "json", "--dtype", "float32").stdout)
    monkeypatch.setattr(linfit.pipeline, "LEAN_ABOVE_BYTES", 0)
    seen = []
    real = linfit.pipeline.read_shifted_float32
    monkeypatch.setattr(linfit.pipeline, "read_shifted_float32", lambda *a, **k: seen.append(1) or real(*a, **k))
    lean = parse_json(invoke("train", path, "-f", "json", "--dtype", "float32").stdout)
    assert seen and lean["converged"]
    a, b = exact_least_squares(x, y)
    assert relative(lean["ols"]["a"], a) <= 1e-12 and relative(lean["ols"]["b"], b) <= 1e-12
    assert relative(lean["a"], a) <= 1e-5 and relative(lean["b"], b) <= 1e-4
    assert lean["stats"]["se_a"] == pytest.approx(usual["stats"]["se_a"], rel=1e-9)
    assert lean["stats"]["r2"] == pytest.approx(usual["stats"]["r2"], rel=1e-12)


def test_the_float32_reader_steps_aside_for_files_it_cannot_take(tmp_path, invoke, monkeypatch):
    import linfit.pipeline

    monkeypatch.setattr(linfit.pipeline, "LEAN_ABOVE_BYTES", 0)
    gaps = tmp_path / "gaps.csv"
    gaps.write_text("x,y\n1,2\n,3\n2,4.1\n3,6.2\n")
    result = invoke("train", gaps, "--dtype", "float32")
    assert result.exit_code == 3 and "line 3" in result.stderr  # the careful path's precise error
    assert invoke("train", gaps, "--dtype", "float32", "--drop-na", "-q").exit_code == 0
