"""The HTML report without a browser: what the file holds, how it is built, the jsonl road, the Python API."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SAMPLE, parse_json, write_csv
from linfit.page import MAX_STEPS_SHOWN, read_jsonl, render, reservoir_sample, run_payload, thin
from linfit.plot import MAX_SCATTER


def payload_of(page: str) -> dict:
    """The run the page carries, as the page's script reads it."""
    text = re.search(r'<script type="application/json" id="linfit-run">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)


def train_report(invoke, tmp_path, *args: str, data=SAMPLE) -> tuple[str, dict]:
    page_path = tmp_path / "run.html"
    result = invoke("train", data, "--report", page_path, "-f", "json", *args)
    assert result.exit_code == 0, result.stderr
    return page_path.read_text(encoding="utf-8"), parse_json(result.stdout)


def test_the_page_is_one_self_contained_file_with_the_slider(invoke, tmp_path):
    page, fit = train_report(invoke, tmp_path)
    assert page.startswith("<!DOCTYPE html>") and '<input type="range" id="step"' in page
    assert 'id="step-readout"' in page and 'id="whatif-lr"' in page and 'id="whatif-momentum"' in page
    assert '"use strict"' in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?[^"'\s>]*//""", page), "an external reference"
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page), "a fetched resource"
    assert len(page.encode("utf-8")) < 300_000
    carried = payload_of(page)["runs"][0]
    assert carried["history"] == [[r[k] for k in ("step", "loss", "grad_a", "grad_b", "a", "b")] for r in fit["history"]]
    assert carried["result"]["a"] == fit["a"] and carried["ols"] == fit["ols"]
    assert carried["data"]["sha256"] == __import__("hashlib").sha256(SAMPLE.read_bytes()).hexdigest()
    assert carried["moments"]["n"] == 50 and len(carried["samples"]["x"]) == 50


def test_the_graph_the_page_draws_is_the_one_autograd_records(invoke, tmp_path):
    from linfit.gradient import point_gradient
    from linfit.graph import to_dict

    page, fit = train_report(invoke, tmp_path, "--loss", "mse")
    graph = payload_of(page)["runs"][0]["graph"]
    first = fit["history"][0]
    expected = point_gradient([graph["x"]], [graph["y"]], a=first["a"], b=first["b"], loss="mse", with_graph=True)
    assert graph["tree"] == to_dict(expected.graph)
    assert (graph["a"], graph["b"]) == (first["a"], first["b"])


def test_a_json_stream_makes_the_same_page_and_runs_compare_on_one_surface(invoke, tmp_path):
    sgd = invoke("train", SAMPLE, "-f", "jsonl")
    momentum = invoke("train", SAMPLE, "-f", "jsonl", "--optimizer", "momentum", "--lr", "0.3", "--momentum", "0.5")
    result_line = json.loads(sgd.stdout.strip().splitlines()[-1])
    assert result_line["record"] == "result" and set(result_line["moments"]) == {"n", "x_mean", "y_mean", "sxx", "sxy", "syy", "x_low", "y_low"}
    (tmp_path / "sgd.jsonl").write_text(sgd.stdout)
    (tmp_path / "momentum.jsonl").write_text(momentum.stdout)
    made = invoke("report", tmp_path / "sgd.jsonl", "--compare", tmp_path / "momentum.jsonl", "-o", tmp_path / "both.html", "--data", SAMPLE)
    assert made.exit_code == 0, made.stderr
    runs = payload_of((tmp_path / "both.html").read_text())["runs"]
    assert [run["label"] for run in runs] == ["sgd, lr 0.9", "momentum, lr 0.3, momentum 0.5"]
    fit = parse_json(invoke("train", SAMPLE, "-f", "json").stdout)
    assert runs[0]["history"] == [[r[k] for k in ("step", "loss", "grad_a", "grad_b", "a", "b")] for r in fit["history"]]
    assert runs[0]["result"]["a"] == fit["a"] and len(runs[0]["samples"]["x"]) == 50


def test_runs_on_other_data_are_refused_and_a_broken_stream_names_its_line(invoke, tmp_path):
    other = write_csv(tmp_path / "other.csv", {"x": np.arange(5.0), "y": np.arange(5.0) * 2})
    (tmp_path / "a.jsonl").write_text(invoke("train", SAMPLE, "-f", "jsonl").stdout)
    (tmp_path / "b.jsonl").write_text(invoke("train", other, "-f", "jsonl").stdout)
    refused = invoke("report", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "-o", tmp_path / "x.html")
    assert refused.exit_code == 2 and "other data" in refused.stderr and not (tmp_path / "x.html").exists()
    (tmp_path / "bad.jsonl").write_text('{"record": "step", "step": 1, "loss": 1, "grad_a": 0, "grad_b": 0, "a": 1, "b": 0}\nnot json\n')
    broken = invoke("report", tmp_path / "bad.jsonl", "-o", tmp_path / "x.html")
    assert broken.exit_code == 3 and "bad.jsonl, line 2: not JSON" in broken.stderr
    with pytest.raises(Exception, match="no result record"):
        read_jsonl(['{"record": "step", "step": 1, "loss": 1, "grad_a": 0, "grad_b": 0, "a": 1, "b": 0}'], "s")


def test_report_into_a_missing_folder_fails_before_training(invoke, tmp_path):
    result = invoke("train", SAMPLE, "--report", tmp_path / "nowhere" / "run.html")
    assert result.exit_code == 2 and "--report" in result.stderr and "does not exist" in result.stderr
    assert result.stdout == ""


def test_long_runs_are_thinned_and_big_data_subsampled(invoke, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=MAX_SCATTER + 700)
    data = write_csv(tmp_path / "big.csv", {"x": x, "y": 2 * x + rng.normal(size=x.size)})
    page, fit = train_report(invoke, tmp_path, "--log-every", "1", "--lr", "0.001", "--steps", "1500", data=data)
    run = payload_of(page)["runs"][0]
    assert len(fit["history"]) == 1500 > MAX_STEPS_SHOWN == len(run["history"])
    assert run["history"][0][0] == 1 and run["history"][-1][0] == 1500 and run["logged"] == 1500
    assert len(run["samples"]["x"]) == MAX_SCATTER and run["samples"]["of"] == x.size
    assert len(page.encode()) < 300_000


def test_thin_keeps_the_ends_and_spaces_the_rest_evenly():
    records = [{"step": i} for i in range(1, 10_001)]
    kept = thin(records, 100)
    assert len(kept) == 100 and kept[0]["step"] == 1 and kept[-1]["step"] == 10_000
    gaps = np.diff([r["step"] for r in kept])
    assert gaps.max() - gaps.min() <= 1
    assert thin(records[:5], 100) == records[:5]


def test_a_reservoir_sample_is_uniform_over_the_stream():
    chunks = [(np.arange(start, start + 1000, dtype=float), np.zeros(1000)) for start in range(0, 20_000, 1000)]
    sample = reservoir_sample(iter(chunks), seed=1)
    xs = np.array(sample["x"])
    assert len(xs) == MAX_SCATTER and sample["of"] == 20_000 and len(set(xs)) == MAX_SCATTER
    counts = np.histogram(xs, bins=4, range=(0, 20_000))[0]
    assert counts.min() > 0.2 * MAX_SCATTER  # each quarter of the stream is represented (expected 25%)
    assert reservoir_sample(iter([])) is None


def test_streamed_runs_get_a_reservoir_sample(invoke, tmp_path):
    page, fit = train_report(invoke, tmp_path, "--chunk-rows", "7")
    run = payload_of(page)["runs"][0]
    assert sorted(run["samples"]["x"]) == sorted(np.loadtxt(SAMPLE, delimiter=",", skiprows=1)[:, 0].tolist())
    assert run["result"]["a"] == fit["a"]


def test_the_page_builder_takes_plain_data():
    fit = {
        "a": 2.0, "b": 1.0, "loss": 0.0, "loss_name": "half_mse", "steps": 1, "converged": True, "stop_reason": "converged",
        "history": [{"step": 1, "loss": 0.0, "grad_a": 0.0, "grad_b": 0.0, "a": 2.0, "b": 1.0}],
        "config": {"lr": 0.9, "optimizer": "sgd", "standardize": True}, "data": {"source": "<b>x</b>", "rows": 2},
    }
    page = render([run_payload(fit, {"n": 2, "x_mean": 0.5, "y_mean": 2.0, "sxx": 0.5, "sxy": 1.0, "syy": 2.0})])
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page  # the title is escaped, the JSON too
    assert payload_of(page)["runs"][0]["data"]["source"] == "<b>x</b>"


# ---------- the Python API ----------

def test_the_python_api_gives_what_the_cli_gives(invoke):
    import pandas as pd

    import linfit

    cli = parse_json(invoke("train", SAMPLE, "-f", "json", "--lr", "0.5").stdout)
    frame = pd.read_csv(SAMPLE)
    for result in (linfit.fit(frame, lr=0.5), linfit.fit(frame["x"].to_numpy(), frame["y"].tolist(), lr=0.5)):
        assert (result.a, result.b, result.steps) == (cli["a"], cli["b"], cli["steps"])
        assert result.to_dict()["history"] == cli["history"]
        assert result.history[-1].a == cli["history"][-1]["a"]
        assert (result.ols.a, result.ols.b) == (cli["ols"]["a"], cli["ols"]["b"])
        assert result.stats.r2 == cli["stats"]["r2"] and result.stats.se_a == cli["stats"]["se_a"]
    html = result._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "&lt;input type=&quot;range&quot; id=&quot;step&quot;" in html


def test_the_python_api_reads_named_columns_and_refuses_bad_input():
    import pandas as pd

    import linfit
    from linfit.errors import ConfigError, DataError

    frame = pd.DataFrame({"hours": [1.0, 2.0, 3.0, 4.0], "score": [3.0, 5.0, 7.0, 9.0]})
    result = linfit.fit(frame, x_col="hours", y_col="score")
    assert result.a == pytest.approx(2.0, rel=1e-9) and result.b == pytest.approx(1.0, rel=1e-9)
    assert result.to_dict()["data"]["x"] == "hours" and "hours" in result.html()
    with pytest.raises(ConfigError, match="unknown config key 'learning_rate'"):
        linfit.fit([1, 2], [3, 4], learning_rate=0.1)
    with pytest.raises(DataError, match="no column 'x'"):
        linfit.fit(frame)
    with pytest.raises(DataError, match="1 missing"):
        linfit.fit([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0])


def test_the_python_api_writes_the_report(tmp_path):
    import linfit

    written = linfit.fit([0.0, 1.0, 2.0], [1.0, 2.9, 5.1]).report(tmp_path / "fit.html")
    assert written.read_text().count('id="step"') == 1


def test_import_linfit_stays_cheap():
    code = "import sys, linfit; linfit.__version__; print([m for m in ('torch', 'pandas', 'numpy') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
