"""Scripts as users: formats, streams, stdin, compression, model files, predict, warm start, Ctrl-C."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os

import numpy as np
import pytest

from conftest import SAMPLE, one_error_line, parse_json, write_csv

# Ctrl-C during training (exit 130, a usable model): test_safety's signal-during-training test.


def test_csv_format_is_the_step_history(invoke):
    result = invoke("train", SAMPLE, "-f", "csv", "--log-every", "5")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["step", "loss", "grad_a", "grad_b", "a", "b"]
    assert rows[0]["step"] == "1" and float(rows[0]["a"]) == 1.0
    assert int(rows[-1]["step"]) > 5


def test_history_file_holds_every_logged_step_whatever_the_format(tmp_path, invoke):
    history = tmp_path / "steps.csv"
    out = parse_json(invoke("train", SAMPLE, "-f", "json", "--history", history, "--log-every", "3").stdout)
    rows = list(csv.DictReader(io.StringIO(history.read_text())))
    assert [int(r["step"]) for r in rows] == [h["step"] for h in out["history"]]
    assert [float(r["grad_a"]) for r in rows] == [h["grad_a"] for h in out["history"]]


def test_model_file_round_trip_through_predict(trained_model, invoke):
    model = trained_model
    saved = json.loads(model.read_text())
    for key in ("a", "b", "loss", "steps", "stop_reason", "config", "seed", "data", "versions"):
        assert key in saved
    assert saved["data"]["rows"] == 50 and len(saved["data"]["sha256"]) == 64
    assert set(saved["versions"]) >= {"linfit", "torch"}
    x = [3.0, 4.5, -1e3]
    out = parse_json(invoke("predict", model, *sum((["--x", str(v)] for v in x), []), "-f", "json").stdout)
    assert out["prediction"] == [saved["a"] * v + saved["b"] for v in x]


def test_predict_csv_keeps_the_input_columns(trained_model, invoke):
    model = trained_model
    saved = json.loads(model.read_text())
    rows = list(csv.DictReader(io.StringIO(invoke("predict", model, SAMPLE, "-f", "csv").stdout)))
    assert list(rows[0]) == ["x", "y", "prediction"] and len(rows) == 50
    for row in rows:
        assert float(row["prediction"]) == saved["a"] * float(row["x"]) + saved["b"]


def test_predict_reads_stdin_and_streams_jsonl(trained_model, invoke):
    saved = json.loads(trained_model.read_text())
    result = invoke("predict", trained_model, "-", "-f", "jsonl", input="x\n1\n2\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["x"] for line in lines] == [1.0, 2.0]
    assert [line["prediction"] for line in lines] == [saved["a"] * 1.0 + saved["b"], saved["a"] * 2.0 + saved["b"]]


def test_failed_run_leaves_the_existing_model_byte_identical(model_copy, tmp_path, invoke):
    model = model_copy
    before = model.read_bytes()
    diverged = invoke("train", SAMPLE, "-o", model, "--no-standardize", "--lr", "1")
    assert diverged.exit_code == 4
    bad_data = invoke("train", tmp_path / "missing.csv", "-o", model)
    assert bad_data.exit_code == 3
    assert model.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # no temporary file left behind


def test_read_only_output_folder_fails_before_training(tmp_path, invoke, monkeypatch):
    import linfit.files

    locked = tmp_path / "read-only"
    locked.mkdir()
    real_access = os.access
    # root may write anywhere, so the folder's lock is simulated where linfit asks about it
    monkeypatch.setattr(linfit.files.os, "access", lambda path, mode: path != locked and real_access(path, mode))
    result = invoke("train", SAMPLE, "-o", locked / "model.json", "-f", "json")
    one_error_line(result, 2, "not writable")
    assert result.stdout == ""


def test_unwritable_output_folder_missing_fails_before_training(tmp_path, invoke):
    result = invoke("train", SAMPLE, "-o", tmp_path / "nope" / "model.json", "-f", "json")
    one_error_line(result, 2, "does not exist")
    assert result.stdout == ""


def test_warm_start_from_a_model_is_recorded(tmp_path, invoke):
    model = tmp_path / "model.json"
    invoke("train", SAMPLE, "-o", model, "--steps", "5", "-q")
    saved = json.loads(model.read_text())
    out = parse_json(invoke("train", SAMPLE, "--init-from", model, "-f", "json").stdout)
    assert out["init"] == {"method": "model", "a": saved["a"], "b": saved["b"], "from": str(model)}
    assert out["history"][0]["a"] == pytest.approx(saved["a"], rel=1e-15) and out["converged"]


def test_compressed_and_tab_separated_files(tmp_path, invoke):
    reference = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    text = SAMPLE.read_text()
    (tmp_path / "s.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "s.tsv").write_text(text.replace(",", "\t"))
    (tmp_path / "s.txt").write_text(text.replace(",", ";"))
    for path, extra in ((tmp_path / "s.csv.gz", []), (tmp_path / "s.tsv", []), (tmp_path / "s.txt", ["--sep", ";"])):
        out = parse_json(invoke("train", path, "-f", "json", *extra).stdout)
        assert (out["a"], out["b"]) == (reference["a"], reference["b"]), path


def test_no_color_and_no_escape_codes_in_pipes(invoke, tmp_path):
    gaps = write_csv(tmp_path / "gaps.csv", {"x": np.array([1.0, 2.0, np.nan, 4.0]), "y": np.array([2.0, 4.1, 5.0, 8.2])})
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}, {"NO_COLOR": None, "TERM": "xterm-256color"}):
        result = invoke("train", gaps, "--drop-na", env=env)  # a table on stdout, a note on stderr
        assert result.exit_code == 0 and "least squares" in result.stdout and "dropped 1 rows" in result.stderr
        assert "\x1b[" not in result.stdout + result.stderr


def test_quiet_keeps_results_and_drops_notes(tmp_path, invoke):
    path = write_csv(tmp_path / "gaps.csv", {"x": np.array([1.0, 2.0, np.nan, 4.0]), "y": np.array([2.0, 4.1, 5.0, 8.2])})
    loud = invoke("train", path, "--drop-na", "-f", "json")
    quiet = invoke("train", path, "--drop-na", "-f", "json", "--quiet")
    assert "dropped 1 rows" in loud.stderr and quiet.stderr == ""
    assert json.loads(quiet.stdout)["data"]["dropped"] == 1


def test_predict_needs_data_or_values(trained_model, tmp_path, invoke):
    one_error_line(invoke("predict", trained_model), 2)
    one_error_line(invoke("predict", trained_model, SAMPLE, "--x", "1"), 2)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "linfit-model", "a": "one", "b": 2}')
    one_error_line(invoke("predict", bad, "--x", "1"), 3, "key 'a'")


def test_shell_completion_is_offered(invoke, runner):
    from linfit.cli import app

    # the shell named outright: detecting it from the process tree depends on what launched the tests
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="linfit")
    assert result.exit_code == 0 and "linfit" in result.stdout and "complete" in result.stdout
    assert "--install-completion" in invoke("--help").stdout
