"""The HTML report without a browser: what the file holds, how it is built, the jsonl road, the Python API."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SAMPLE, parse_json, write_csv
from linfit.page import MAX_STEPS_SHOWN, read_jsonl, render, run_payload, thin
from linfit.sample import MAX_SCATTER, reservoir_sample


def payload_of(page: str) -> dict:
    """The run the page carries, as the page's script reads it."""
    text = re.search(r'<script type="application/json" id="linfit-run">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)


def report_of_saved_run(invoke, tmp_path, stream: str, *flags, page: str = "report.html") -> dict:
    """`linfit report RUN.jsonl FLAGS -o PAGE` of a run's saved stream: the first run the page carries."""
    saved = tmp_path / "run.jsonl"
    saved.write_text(stream, encoding="utf-8")
    result = invoke("report", saved, *flags, "-o", tmp_path / page)
    assert result.exit_code == 0, result.output
    return payload_of((tmp_path / page).read_text(encoding="utf-8"))["runs"][0]


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
    assert result_line["record"] == "result" and set(result_line["moments"]) == {
        "n",
        "x_mean",
        "y_mean",
        "sxx",
        "sxy",
        "syy",
        "x_low",
        "y_low",
    }
    (tmp_path / "sgd.jsonl").write_text(sgd.stdout)
    (tmp_path / "momentum.jsonl").write_text(momentum.stdout)
    made = invoke(
        "report", tmp_path / "sgd.jsonl", "--compare", tmp_path / "momentum.jsonl", "-o", tmp_path / "both.html", "--data", SAMPLE
    )
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
    assert len(page.encode()) < 340_000  # 5,000 points, 1,000 steps and ~90 kB of script and style


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
    weighted = reservoir_sample(iter([(x, y, x % 7) for x, y in chunks]), seed=1)  # one draw: the same rows, with their weights
    assert weighted["x"] == sample["x"] and weighted["w"] == [v % 7 for v in weighted["x"]] and "w" not in sample


def test_streamed_runs_get_a_reservoir_sample(invoke, tmp_path):
    page, fit = train_report(invoke, tmp_path, "--chunk-rows", "7")
    run = payload_of(page)["runs"][0]
    assert sorted(run["samples"]["x"]) == sorted(np.loadtxt(SAMPLE, delimiter=",", skiprows=1)[:, 0].tolist())
    assert run["result"]["a"] == fit["a"]


def test_a_streamed_weighted_run_samples_the_rows_with_their_weights_as_in_memory(invoke, tmp_path):
    """The page's what-if weighs the rows as the run did: streamed (a first pass, and a reused pass cache) the
    sample carries the same rows and weights as in memory."""
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1).T
    w = np.arange(50.0) % 4  # zero weights among them
    data = write_csv(tmp_path / "w.csv", {"x": x, "y": y, "w": w})
    in_memory = payload_of(train_report(invoke, tmp_path, "--weight-col", "w", data=data)[0])["runs"][0]["samples"]
    assert in_memory["w"] == w.tolist()
    for _ in range(2):  # writes the pass cache, then reuses it
        page, _ = train_report(invoke, tmp_path, "--weight-col", "w", "--chunk-rows", "7", "--cache", tmp_path / "c.bin", data=data)
        streamed = payload_of(page)["runs"][0]["samples"]
        assert {key: streamed[key] for key in ("x", "y", "w", "of")} == {key: in_memory[key] for key in ("x", "y", "w", "of")}


def test_the_page_builder_takes_plain_data():
    fit = {
        "a": 2.0,
        "b": 1.0,
        "loss": 0.0,
        "loss_name": "half_mse",
        "steps": 1,
        "converged": True,
        "stop_reason": "converged",
        "history": [{"step": 1, "loss": 0.0, "grad_a": 0.0, "grad_b": 0.0, "a": 2.0, "b": 1.0}],
        "config": {"lr": 0.9, "optimizer": "sgd", "standardize": True},
        "data": {"source": "<b>x</b>", "rows": 2},
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
    assert html.startswith('<iframe id="linfit-') and " srcdoc=" in html and "&lt;input type=&quot;range&quot; id=&quot;step&quot;" in html


def test_the_python_api_reads_named_columns_and_refuses_bad_input():
    import pandas as pd

    import linfit
    from linfit.errors import ConfigError, DataError

    frame = pd.DataFrame({"hours": [1.0, 2.0, 3.0, 4.0], "score": [3.0, 5.0, 7.0, 9.0]})
    result = linfit.fit(frame, x_col="hours", y_col="score")
    assert result.a == pytest.approx(2.0, rel=1e-9) and result.b == pytest.approx(1.0, rel=1e-9)
    assert result.to_dict()["data"]["x"] == "hours" and "hours" in result.html()
    with pytest.raises(ConfigError, match=r"^fit\(\): unknown config key 'learning_rate'"):
        linfit.fit([1, 2], [3, 4], learning_rate=0.1)
    with pytest.raises(ConfigError, match=r"^fit\(lr=\.\.\.\): .*'fast'") as raised:
        linfit.fit([1, 2], [3, 4], lr="fast")
    assert "--lr" not in str(raised.value)  # a keyword here, not a flag
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


# ---------- hostile and edge inputs ----------


def test_no_output_overwrites_an_input(invoke, tmp_path):
    data = write_csv(tmp_path / "d.csv", {"x": np.arange(5.0), "y": np.arange(5.0) * 2 + 1})
    before = data.read_bytes()
    for flag in ("--report", "--output", "--history"):
        result = invoke("train", data, flag, tmp_path / "." / "d.csv")
        assert result.exit_code == 2 and "would destroy it" in result.stderr and flag in result.stderr, result.stderr
    result = invoke("train", str(tmp_path / "d*.csv"), "--report", data)  # a glob that matches the output
    assert result.exit_code == 2 and "would destroy it" in result.stderr
    assert data.read_bytes() == before
    model = tmp_path / "model.json"
    assert invoke("train", data, "-o", model).exit_code == 0
    saved = model.read_bytes()
    assert invoke("train", data, "--init-from", model, "-o", model).exit_code == 2  # an input, even the warm start's
    assert model.read_bytes() == saved
    result = invoke("train", data, "--init-from", model, "--report", model)
    assert result.exit_code == 2 and "would destroy it" in result.stderr and json.loads(model.read_text())
    stream = tmp_path / "run.jsonl"
    stream.write_text(invoke("train", data, "-f", "jsonl").stdout)
    kept = stream.read_text()
    for args in (["-o", stream], ["-o", data, "--data", data], [tmp_path / "run.jsonl", "--compare", stream, "-o", tmp_path / "run.jsonl"]):
        result = invoke("report", stream, *args)
        assert result.exit_code == 2 and "writing it would destroy it" in result.stderr, result.stderr
    assert stream.read_text() == kept and data.read_bytes() == before


def test_the_scatter_keeps_the_digits_that_tell_points_apart_at_an_offset():
    from linfit.sample import scatter_sample

    x = 1e9 + np.arange(10.0) * 0.37
    y = np.array([1e-9, 2e-9, 3.3e-9] * 3 + [4e-9])
    shown = scatter_sample(x, y)
    assert len(set(shown["x"])) == 10 and len(set(shown["y"])) == 4
    assert np.abs(np.array(shown["x"]) - x).max() <= 1e-6 * 0.37 * 9  # 7 digits of the spread, not of 1e9
    assert np.allclose(shown["y"], y, rtol=1e-6, atol=0)
    assert scatter_sample(np.full(3, 5.0), np.arange(3.0))["x"] == [5.0, 5.0, 5.0]


def test_a_broken_stream_is_refused_with_its_line_never_a_traceback(invoke, tmp_path):
    good = invoke("train", SAMPLE, "-f", "jsonl").stdout.splitlines()
    result_line = json.loads(good[-1])

    def stream_with(name: str, lines: list[str]):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        return invoke("report", tmp_path / name, "-o", tmp_path / "out.html")

    def with_result(**changes):
        record = json.loads(good[-1])
        for key, value in changes.items():
            record[key] = value
        return good[:-1] + [json.dumps(record)]

    cases = {
        "missing.jsonl": (['{"record": "step", "step": 1}'] + good[1:], "line 1: the step record has no 'loss'"),
        "nan.jsonl": ([good[0].replace(str(json.loads(good[0])["loss"]), "NaN")] + good[1:], "line 1: NaN is not a number"),
        "huge.jsonl": ([good[0].replace(str(json.loads(good[0])["loss"]), "1e999")] + good[1:], "line 1: 1e999 is out of the range"),
        "moments.jsonl": (with_result(moments={**result_line["moments"], "n": "fifty"}), "in the moments, 'n' is not a number"),
        "negative.jsonl": (with_result(moments={**result_line["moments"], "sxx": -1.0}), "not those of any data"),
        "loss.jsonl": (with_result(loss_name="tukey"), "unknown loss 'tukey'"),
        "nostep.jsonl": (good[-1:], "no recorded step"),
        "json.jsonl": ([invoke("train", SAMPLE, "-f", "json").stdout.replace("\n", " ")], "a --format json run"),
    }
    for name, (lines, message) in cases.items():
        result = stream_with(name, lines)
        assert result.exit_code == 3 and message in result.stderr and "Traceback" not in result.stderr, (name, result.stderr)
    assert not (tmp_path / "out.html").exists()


def test_a_stream_saved_by_another_shell_still_reads(invoke, tmp_path):
    """PowerShell's `>` writes UTF-16 with a BOM; Notepad writes UTF-8 with one, and CRLF line ends."""
    text = invoke("train", SAMPLE, "-f", "jsonl").stdout
    (tmp_path / "utf16.jsonl").write_text(text, encoding="utf-16")
    (tmp_path / "bom.jsonl").write_text(text.replace("\n", "\r\n"), encoding="utf-8-sig")
    for name in ("utf16.jsonl", "bom.jsonl"):
        result = invoke("report", tmp_path / name, "-o", tmp_path / "out.html")
        assert result.exit_code == 0, result.stderr
        assert (
            payload_of((tmp_path / "out.html").read_text())["runs"][0]["result"]["steps"]
            == parse_json(invoke("train", SAMPLE, "-f", "json").stdout)["steps"]
        )


def test_the_data_given_to_report_must_be_the_runs_data(invoke, tmp_path):
    (tmp_path / "run.jsonl").write_text(invoke("train", SAMPLE, "-f", "jsonl").stdout)
    rows = np.loadtxt(SAMPLE, delimiter=",", skiprows=1)
    other = write_csv(tmp_path / "other.csv", {"x": rows[:, 0], "y": rows[:, 1] + 1e-3})  # as many rows, other values
    result = invoke("report", tmp_path / "run.jsonl", "--data", other, "-o", tmp_path / "out.html")
    assert result.exit_code == 2 and "not the data" in result.stderr and "as many rows" in result.stderr
    shorter = write_csv(tmp_path / "short.csv", {"x": rows[:10, 0], "y": rows[:10, 1]})
    result = invoke("report", tmp_path / "run.jsonl", "--data", shorter, "-o", tmp_path / "out.html")
    assert result.exit_code == 2 and "10 rows, the run had 50" in result.stderr
    assert invoke("report", tmp_path / "run.jsonl", "--data", SAMPLE, "-o", tmp_path / "out.html").exit_code == 0


def test_a_diverging_run_still_writes_its_report(invoke, tmp_path):
    page_path = tmp_path / "run.html"
    result = invoke("train", SAMPLE, "--lr", "2.5", "--log-every", "1", "--report", page_path, "-o", tmp_path / "model.json")
    assert result.exit_code == 4 and "diverged" in result.stderr and str(page_path) in result.stderr
    assert not (tmp_path / "model.json").exists()  # a diverged line is no model to keep
    run = payload_of(page_path.read_text())["runs"][0]
    losses = [record[1] for record in run["history"]]
    assert run["result"]["stop_reason"] == "diverged" and run["result"]["steps"] == run["history"][-1][0] > 5
    assert losses[-1] > 1e4 * losses[0] and run["history"][0][0] == 1


def test_the_payload_names_the_loss_its_hand_formulas_and_the_batches(invoke, tmp_path):
    page, _ = train_report(invoke, tmp_path, "--loss", "half_sse", "--lr", "0.0005", "--no-standardize", "--steps", "50")
    run = payload_of(page)["runs"][0]
    assert run["loss"]["grad_a_text"] == "Σ((a·x + b − y)·x)" and run["loss"]["grad_b_text"] == "Σ(a·x + b − y)"
    assert run["label"] == "sgd, lr 0.0005, half_sse, raw x" and run["batch_size"] is None
    page, _ = train_report(invoke, tmp_path, "--loss", "mse", "--batch-size", "8", "--steps", "20")
    run = payload_of(page)["runs"][0]
    assert run["loss"]["grad_a_text"] == "2·mean((a·x + b − y)·x)" and run["batch_size"] == 8


def test_the_python_api_refuses_shapes_it_cannot_read():
    import pandas as pd

    import linfit
    from linfit.errors import DataError

    with pytest.raises(DataError, match=r"shape \(3, 2\): one column"):
        linfit.fit(np.ones((3, 2)), np.arange(6.0))
    with pytest.raises(DataError, match="x is empty"):
        linfit.fit([], [])
    with pytest.raises(DataError, match="DataFrame and y is given"):
        linfit.fit(pd.DataFrame({"x": [1.0, 2.0], "y": [2.0, 3.0]}), [1.0, 2.0])
    column = linfit.fit(np.arange(4.0).reshape(4, 1), [1.0, 3.0, 5.0, 7.0])  # one column is fine
    assert column.a == pytest.approx(2.0, rel=1e-9) and column.b == pytest.approx(1.0, rel=1e-9)


def test_the_page_knows_the_lr_a_run_used_even_when_the_record_has_none(invoke):
    """The default lr worked out again from the moments matches the one training used, for every optimizer and loss."""
    from linfit.page import effective_lr

    for options in (
        [],
        ["--optimizer", "momentum"],
        ["--optimizer", "adam"],
        ["--loss", "half_sse"],
        ["--optimizer", "adam", "--no-standardize", "--init", "zeros"],
    ):
        result = invoke("train", SAMPLE, "-f", "jsonl", "--steps", "3", *options)
        fit, moments = read_jsonl(result.stdout.splitlines(), "run")
        used = fit["config"]["lr"]  # a record now keeps the lr it used; one of an earlier version kept null
        assert used > 0 and fit.get("lr", used) == used, options
        fit = {**fit, "config": {**fit["config"], "lr": None}}
        fit.pop("lr", None)
        assert effective_lr(fit, moments) == pytest.approx(used, rel=1e-12), options
    sgd = {**fit, "config": {**fit["config"], "optimizer": "sgd"}, "epochs": 2}
    assert effective_lr(sgd, moments) is None  # a mini-batch default for descent needs max x², which no record holds


def test_the_hessian_and_its_eigenvectors_come_in_the_payload():
    import numpy as np

    from linfit.page import run_payload
    from linfit.reference import moments

    x, y = np.array([1.0, 2.0, 4.0, 7.0]), np.array([2.0, 3.0, 9.0, 14.0])
    history = [{"step": 1, "loss": 1.0, "grad_a": 0.0, "grad_b": 0.0, "a": 1.0, "b": 0.0}]
    for standardize, loss, c in ((True, "half_mse", 1.0), (False, "half_mse", 1.0), (False, "half_sse", 4.0), (False, "mse", 2.0)):
        fit = {
            "a": 1.0,
            "b": 0.0,
            "loss": 1.0,
            "steps": 1,
            "loss_name": loss,
            "history": history,
            "config": {"standardize": standardize, "lr": 0.1},
        }
        curvature = run_payload(fit, moments(x, y))["curvature"]
        xt = (x - x.mean()) / x.std() if standardize else x
        hessian = c * np.array([[np.mean(xt * xt), np.mean(xt)], [np.mean(xt), 1.0]])
        values, vectors = np.linalg.eigh(hessian)
        assert np.allclose(curvature["hessian"], hessian, rtol=1e-12, atol=1e-12)
        assert curvature["lambda_max"] == pytest.approx(values[-1], rel=1e-12) and curvature["eigenvalues"] == pytest.approx(
            values[::-1].tolist(), rel=1e-9
        )
        for value, vector in zip(curvature["eigenvalues"], curvature["eigenvectors"]):
            assert np.allclose(hessian @ np.array(vector), value * np.array(vector), rtol=1e-9, atol=1e-9)
        over_ab = c * np.array([[np.mean(x * x), x.mean()], [x.mean(), 1.0]])  # the contours over (a, b)
        assert np.allclose(curvature["data"]["hessian"], over_ab, rtol=1e-12) and curvature["data"]["lambda_max"] == pytest.approx(
            np.linalg.eigvalsh(over_ab)[-1], rel=1e-12
        )


def test_a_subsampled_scatter_carries_the_weights_of_the_rows_it_shows():
    import numpy as np

    from linfit.sample import MAX_SCATTER, scatter_sample

    n = MAX_SCATTER + 1000
    x = np.arange(n, dtype=np.float64)
    sample = scatter_sample(x, -x, seed=7, w=2.0 * x)
    assert sample["how"] == "a random subsample" and len(sample["w"]) == MAX_SCATTER
    assert sample["w"] == [2.0 * v for v in sample["x"]] and sample["y"] == [-v for v in sample["x"]]
    assert "w" not in scatter_sample(x, -x, seed=7)


@pytest.mark.parametrize("loss, flags", [("quantile", ("--quantile", "0.8")), ("absolute", ()), ("huber", ("--huber-delta", "0.7"))])
def test_a_weighted_piecewise_report_says_its_weighted_loss_and_holds_the_run_against_that_losss_exact_line(invoke, tmp_path, loss, flags):
    """The page of `train --loss L --weight-col w`: the formula is the weighted mean Σ w·ℓ / Σ w naming the column (not
    mean(ℓ)); the line it holds the run against is the loss's own exact line (a weighted LP / IRLS oracle here), not
    least squares; and the grid of the true loss it draws is that loss over every row, lowest next to that line."""
    from scipy.optimize import linprog, minimize

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, 25)
    y = 3 * x - 2 + rng.standard_t(2, 25)
    y[:3] += 30  # outliers: least squares is far from every robust line
    w = rng.integers(1, 4, 25).astype(float)
    data = write_csv(tmp_path / "w.csv", {"x": x, "y": y, "w": w})
    page, fit = train_report(invoke, tmp_path, "--loss", loss, *flags, "--weight-col", "w", "-q", data=data)
    run = payload_of(page)["runs"][0]
    formula = run["loss"]["formula"]
    assert formula.startswith("Σ w·") and "/ Σ w" in formula and "column 'w'" in formula and "mean(" not in formula, formula
    assert "mean(" not in run["loss"]["grad_a_text"] and "Σ w·" in run["loss"]["grad_a_text"]
    if loss == "huber":
        delta = 0.7
        rho = lambda r: np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))  # noqa: E731
        best = minimize(
            lambda p: np.sum(w * rho(p[0] * x + p[1] - y)), [3.0, -2.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
        )
        oracle, tol = best.x, 1e-5
    else:
        tau = 0.8 if loss == "quantile" else 0.5
        scale = 2.0 if loss == "absolute" else 1.0  # |r| = 2·ρ_½(r)
        rho = lambda r: scale * np.maximum(-tau * r, (1 - tau) * r)  # noqa: E731  r = a·x + b − y
        # min Σ w·(τ·u + (1 − τ)·v) over a, b, u, v ≥ 0 with y − a·x − b = u − v (HiGHS)
        n = len(x)
        cost = np.concatenate([[0, 0], tau * w, (1 - tau) * w])
        equal = np.hstack([np.column_stack([x, np.ones(n)]), np.eye(n), -np.eye(n)])
        bounds = [(None, None)] * 2 + [(0, None)] * (2 * n)
        oracle, tol = linprog(cost, A_eq=equal, b_eq=y, bounds=bounds, method="highs").x[:2], 1e-7
    reference = run["reference"]
    assert reference["a"] == pytest.approx(oracle[0], abs=tol) and reference["b"] == pytest.approx(oracle[1], abs=tol)
    assert reference["label"].startswith("exact") and "least" not in reference["label"] or loss == "absolute"
    assert abs(reference["a"] - run["ols"]["a"]) > 0.1  # the outliers keep least squares well away: the page must not show it
    objective = float(np.sum(w * rho(reference["a"] * x + reference["b"] - y)) / np.sum(w))
    assert reference["objective"] == pytest.approx(objective, rel=1e-9)
    grid = run["surface_grid"]
    a_axis, b_axis, surface = np.array(grid["a"]), np.array(grid["b"]), np.array(grid["loss"])  # surface[j][i]: b_j, a_i
    for j, i in ((0, 0), (3, 17), (40, 9)):
        here = np.sum(w * rho(a_axis[i] * x + b_axis[j] - y)) / np.sum(w)
        assert surface[j][i] == pytest.approx(here, rel=1e-9)
    assert surface.min() >= objective * (1 - 1e-12)  # nothing on the drawn surface lies below the exact minimum
    assert grid["a"][0] <= reference["a"] <= grid["a"][-1] and grid["b"][0] <= reference["b"] <= grid["b"][-1]  # the star is on it
