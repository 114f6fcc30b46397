"""Scale: streaming from disk (--chunk-rows), mini-batch SGD (--batch-size), torchrun, and the GPU."""

from __future__ import annotations

import json
import os
import re
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
    out = parse_json(
        invoke("train", path, "-f", "json", "--batch-size", "128", "--chunk-rows", "1000", "--steps", "2000", "--lr", "0.05").stdout
    )
    a, b = exact_least_squares(x, y)
    assert relative(out["a"], a) < 1e-2 and abs(out["b"] - b) < 1.0


@pytest.mark.parametrize("streamed", [(), ("--chunk-rows", "700")], ids=["in memory", "streamed"])
def test_two_ranks_parse_half_the_file_each_and_equal_one(data, invoke, monkeypatch, streamed):
    """One CSV file, two ranks (in one process, as test_read's pair): each parses its byte range only."""
    from test_read import run_share

    path, _, _ = data
    alone = parse_json(invoke("train", path, "-f", "json", "--log-every", "1", *streamed).stdout)
    result, rank_one = run_share(path, ["-f", "json", "--log-every", "1", *streamed], invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    together = parse_json(result.stdout)
    ranks, size = together["data"]["ranks"], path.stat().st_size
    assert together["data"]["split"] == "bytes" and [r["rank"] for r in ranks] == [0, 1]
    assert sum(r["bytes"] for r in ranks) == size and all(r["bytes"] <= 0.55 * size for r in ranks)
    assert sum(r["rows"] for r in ranks) == alone["data"]["rows"] and min(r["rows"] for r in ranks) > 0.45 * alone["data"]["rows"]
    assert together["steps"] == alone["steps"]
    for key in ("a", "b", "loss"):
        assert together[key] == pytest.approx(alone[key], rel=1e-10)


def test_each_rank_keeps_its_own_named_cache_and_reuses_it(data, tmp_path, invoke, monkeypatch):
    from test_read import run_share

    path, _, _ = data
    flags = ["-f", "json", "--chunk-rows", "700", "--cache", str(tmp_path / "passes")]
    first, _ = run_share(path, flags, invoke, monkeypatch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passes.rank0-of-2", "passes.rank1-of-2"]
    again, rank_one = run_share(path, flags, invoke, monkeypatch)
    assert rank_one == [None] and "reusing the pass cache" in again.stderr
    built, reused = parse_json(first.stdout), parse_json(again.stdout)
    assert [r["bytes"] for r in reused["data"]["ranks"]] == [0, 0] and all(r["bytes"] for r in built["data"]["ranks"])
    assert (reused["a"], reused["b"], reused["steps"]) == (built["a"], built["b"], built["steps"])


def test_an_error_in_another_ranks_range_names_its_line_in_the_whole_file(tmp_path, invoke, monkeypatch):
    from test_read import run_share

    rows = [f"{i},{2 * i + 1}" for i in range(1000)]
    rows[900] = "900,oops"  # line 902 of the file: deep in rank 1's half
    path = tmp_path / "bad.csv"
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    alone = invoke("train", path)
    result, rank_one = run_share(path, [], invoke, monkeypatch)
    assert "line 902" in alone.stderr and result.exit_code == alone.exit_code == 3
    assert result.stderr == alone.stderr  # the same one line as one process gives
    assert "line 902" in str(rank_one[0])  # the rank that parsed it says so too


@pytest.mark.parametrize("streamed", [(), ("--chunk-rows", "500")], ids=["in memory", "streamed"])
def test_two_ranks_share_a_parquet_file_by_row_groups(data, tmp_path, invoke, monkeypatch, streamed):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from test_read import run_share

    _, x, y = data
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": x, "y": y}), path, row_group_size=1000)  # six row groups
    alone = parse_json(invoke("train", path, "-f", "json", *streamed).stdout)
    result, rank_one = run_share(path, ["-f", "json", *streamed], invoke, monkeypatch)
    together = parse_json(result.stdout)
    assert together["data"]["split"] == "row groups" and [r["rows"] for r in together["data"]["ranks"]] == [3000, 2003]
    assert together["a"] == pytest.approx(alone["a"], rel=1e-10) and together["b"] == pytest.approx(alone["b"], rel=1e-10)


def test_a_compressed_file_is_read_whole_by_each_rank_and_says_so(data, tmp_path, invoke, monkeypatch):
    import gzip

    from test_read import run_share

    path, _, _ = data
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    alone = parse_json(invoke("train", path, "-f", "json").stdout)
    result, _ = run_share(packed, ["-f", "json"], invoke, monkeypatch)
    assert result.exit_code == 0, result.stderr
    together = parse_json(result.stdout)
    assert together["data"]["split"] == "rows" and "cannot be entered in the middle" in result.stderr
    assert [r["bytes"] for r in together["data"]["ranks"]] == [path.stat().st_size] * 2  # each parsed all of it
    assert together["a"] == pytest.approx(alone["a"], rel=1e-10)


def test_two_machines_rehearsed_on_localhost_equal_one(data, invoke):
    """Two torchrun launchers (--nnodes 2, a c10d rendezvous on 127.0.0.1), one rank each, one file,
    streamed: each parses its half of the bytes, and the run equals one process step by step."""
    import socket

    path, _, _ = data
    flags = ("-f", "json", "--log-every", "1", "--chunk-rows", "700")
    alone = parse_json(invoke("train", path, *flags).stdout)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    launchers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "rehearsal",
                "--node-rank",
                str(node),
                "-m",
                "linfit",
                "train",
                str(path),
                "-q",
                *flags,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for node in (0, 1)
    ]
    outputs = [launcher.communicate(timeout=240) for launcher in launchers]
    assert [launcher.returncode for launcher in launchers] == [0, 0], [err for _, err in outputs]
    printed = [json.loads(out) for out, _ in outputs if out.strip()]
    assert len(printed) == 1  # one JSON object: only rank 0 printed
    together = printed[0]
    ranks, size = together["data"]["ranks"], path.stat().st_size
    assert together["data"]["processes"] == 2 and together["data"]["split"] == "bytes"
    assert sum(r["bytes"] for r in ranks) == size and all(r["bytes"] <= 0.55 * size for r in ranks)
    assert together["data"]["rows"] == alone["data"]["rows"] and together["steps"] == alone["steps"]
    for key in ("a", "b", "loss"):
        assert together[key] == pytest.approx(alone[key], rel=1e-10)
    for left, right in zip(alone["history"], together["history"]):
        assert left["grad_a"] == pytest.approx(right["grad_a"], rel=1e-10, abs=1e-12)


def test_two_ranks_over_a_glob_of_files_streamed(data, tmp_path, invoke, monkeypatch):
    """Two ranks (in one process, as test_read's pair) take the files of a glob in turn, streamed."""
    from test_read import run_share

    _, x, y = data
    for part in range(3):
        rows = slice(part * 2000, (part + 1) * 2000)
        write_csv(tmp_path / f"part-{part}.csv", {"x": x[rows], "y": y[rows]})
    pattern = str(tmp_path / "part-*.csv")
    alone = parse_json(invoke("train", pattern, "-f", "json").stdout)
    result, rank_one = run_share(pattern, ["-f", "json", "--chunk-rows", "500"], invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    together = parse_json(result.stdout)
    assert together["data"]["rows"] == x.size == alone["data"]["rows"] and together["data"]["split"] == "chunks"
    assert together["a"] == pytest.approx(alone["a"], rel=1e-10) and together["b"] == pytest.approx(alone["b"], rel=1e-10)


def test_without_torchrun_nothing_changes(data, invoke):
    path, _, _ = data
    assert "processes" not in parse_json(invoke("train", path, "-f", "json").stdout)["data"]


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


def test_the_summary_says_how_the_processes_shared_the_rows(data, invoke, monkeypatch):
    from test_read import run_share

    path, x, _ = data
    result, rank_one = run_share(path, ["--log-every", "0"], invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    shares = re.search(r"2 processes, split by bytes \((\d+), (\d+) rows\)", " ".join(result.stdout.split()))
    assert shares is not None, result.stdout
    assert int(shares[1]) + int(shares[2]) == x.size and min(int(shares[1]), int(shares[2])) > 0.4 * x.size
