"""One road for a run: advice that ends in a fit, a source that cannot meet another config, and the
report's scatter from the one pass over the data."""

from __future__ import annotations

import json
import re
import shlex

import numpy as np
import pytest

import linfit
from conftest import NOTEBOOK_POINT, SAMPLE, lstsq, relative, write_csv
from linfit.config import TrainConfig
from linfit.errors import ConfigError, DivergedError
from linfit.pipeline import Arrays, prepare
from linfit.train import Training

MOST_HOPS = 3  # a chain of advice longer than this is a loop


def scaled(scale: float, rows: int = 40) -> dict:
    x = np.linspace(1.0, 2.0, rows) * scale
    return {"x": x, "y": 3.0 * x / scale + 1.0 + np.sin(np.arange(rows))}


DATA = {
    "point": None,  # the repo's notebook_point.csv: one row
    "one row at 0": {"x": np.array([0.0]), "y": np.array([5.0])},
    "constant x": {"x": np.array([3.0, 3.0, 3.0]), "y": np.array([1.0, 2.0, 5.0])},
    "two rows": {"x": np.array([1.0, 3.0]), "y": np.array([2.0, 5.0])},
    "huge": scaled(1e30),
    "tiny": scaled(1e-30),
}

# (data, flags, the exit code the chain ends in): 0 once the advice is followed; 3 for data refused at once
CHAINS = [
    ("point", [], 3),
    ("point", ["--no-standardize"], 0),
    ("one row at 0", ["--no-standardize", "--lr", "3"], 0),
    ("constant x", [], 3),
    ("constant x", ["--no-standardize"], 0),
    ("constant x", ["--no-standardize", "--optimizer", "momentum"], 0),
    ("two rows", ["--no-standardize"], 0),
    ("two rows", ["--no-standardize", "--optimizer", "momentum"], 0),
    ("huge", ["--dtype", "float32"], 0),
    ("huge", ["--no-standardize"], 0),
    ("huge", ["--no-standardize", "--optimizer", "momentum"], 0),
    ("huge", ["--optimizer", "momentum", "--lr", "5"], 0),
    ("tiny", ["--lr", "50"], 0),
    ("tiny", ["--lr", "50", "--no-standardize"], 0),
]


@pytest.mark.parametrize(("name", "flags", "ends"), CHAINS, ids=[f"{name} {' '.join(flags)}".strip() for name, flags, _ in CHAINS])
def test_advice_followed_to_its_end_fits_and_never_loops(invoke, tmp_path, name, flags, ends):
    """Paste each suggested command, as a person would: every chain ends in exit 0 within a few hops, or the
    first run is refused at once (exit 2 or 3) with no command to paste."""
    data = NOTEBOOK_POINT if DATA[name] is None else write_csv(tmp_path / "d.csv", DATA[name])
    words, seen = ["train", str(data), *flags], []
    for _ in range(MOST_HOPS):
        result = invoke(*words)
        seen.append(" ".join(words))
        commands = re.findall(r"`([^`]*)`", result.stderr)
        if result.exit_code in (0, 2, 3):
            break
        assert result.exit_code == 4 and len(commands) == 1, (seen, result.exit_code, result.stderr)
        words = shlex.split(commands[0])[1:]
        assert " ".join(words) not in seen, f"the advice loops: {seen} → {words}"
    assert result.exit_code == ends, (seen, result.stderr)
    if ends:  # refused at once: what to do to the data, and no flag or command to paste
        assert len(seen) == 1 and "`" not in result.stderr and "--" not in result.stderr, result.stderr


def test_x_past_float32s_range_is_refused_where_a_road_stores_it_in_float32(invoke, tmp_path):
    """Streamed in float32, x − its mean is kept in float32: x of 1e39 cannot be, though x_t could. Refused
    before training (not advised to start again), and the run the hint names fits."""
    path = write_csv(tmp_path / "d.csv", scaled(1e39))
    refused = invoke("train", path, "--dtype", "float32", "--chunk-rows", "10")
    assert refused.exit_code == 3 and "float32" in refused.stderr and "--dtype float64" in refused.stderr, refused.stderr
    fitted = invoke("train", path, "--dtype", "float64", "--chunk-rows", "10", "-f", "json")
    assert fitted.exit_code == 0 and json.loads(fitted.stdout)["converged"]
    assert invoke("train", path, "--dtype", "float32", "--init", "zeros").exit_code == 0  # in memory, x_t is made in float64


def test_a_diverging_momentum_run_quotes_momentums_stable_limit(invoke):
    """Heavy-ball momentum μ is stable below 2(1 + μ)/λ_max, not plain descent's 2/λ_max."""
    x = np.loadtxt(SAMPLE, delimiter=",", skiprows=1)[:, 0]
    largest = np.linalg.eigvalsh(np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]]))[-1]
    result = invoke("train", SAMPLE, "--no-standardize", "--optimizer", "momentum", "--momentum", "0.5", "--lr", "10")
    assert result.exit_code == 4
    assert f"{2 * 1.5 / largest:.3g} (2(1 + μ)/λ_max" in result.stderr and f"{2 / largest:.3g}" not in result.stderr


def test_advice_is_data_rendered_as_flags_by_the_shell_and_as_keywords_by_fit():
    x, y = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.2, 4.9, 7.1])
    training = prepare(Arrays(x, y), TrainConfig(lr=50.0)).training
    with pytest.raises(DivergedError) as raised:
        list(training)
    assert raised.value.advice == {"lr": None} and "--" not in raised.value.hint  # the core names keys, not flags
    with pytest.raises(DivergedError, match=re.escape("Call fit(..., lr=None)")):
        linfit.fit(x, y, lr=50.0)
    followed = linfit.fit(x, y, lr=None)
    a, b = lstsq(x, y)
    assert followed.converged and relative(followed.a, a) <= 1e-12 and relative(followed.b, b) <= 1e-12


def test_a_source_built_for_another_config_cannot_be_trained():
    x, y = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.2, 4.9, 7.1])
    standardised = prepare(Arrays(x, y), TrainConfig()).training.data  # the source a run was built on
    with pytest.raises(ConfigError, match="standardize True .*says False"):
        Training(standardised, TrainConfig(standardize=False))
    with pytest.raises(ConfigError, match="dtype 'float64'"):
        Training(standardised, TrainConfig(dtype="float32"))
    training = Training(standardised)  # the run takes the source's own config
    list(training)
    a, b = lstsq(x, y)
    assert training.config.standardize and relative(training.result.a, a) <= 1e-12 and relative(training.result.b, b) <= 1e-12
    # how the loop runs may change: a smaller lr still converges on the same source
    slower = Training(standardised, TrainConfig(lr=0.3))
    list(slower)
    assert slower.result.converged and slower.lr == 0.3


def scatter_of(page: str) -> dict:
    text = re.search(r'<script type="application/json" id="linfit-run">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)["runs"][0]["samples"]


@pytest.mark.parametrize("cache", [False, True], ids=["temporary pass cache", "kept pass cache, reused"])
def test_the_reports_scatter_comes_from_the_one_pass(invoke, tmp_path, monkeypatch, cache):
    """--drop-na streamed with a report: one parse of the file, and the scatter holds the rows trained on."""
    import linfit.read

    path = tmp_path / "na.csv"
    path.write_text("x,y\n1,2\n2,\n3,6.1\n4,8\n5,9.9\n")
    kept = ["--cache", str(tmp_path / "passes.bin")] if cache else []
    if cache:  # a first run writes the cache; the run under test reuses it and parses no text at all
        assert invoke("train", path, "--drop-na", "--chunk-rows", "2", "-q", *kept).exit_code == 0
    passes = []
    real = linfit.read.Reading.__iter__
    monkeypatch.setattr(linfit.read.Reading, "__iter__", lambda self: passes.append(1) or real(self))
    report, model = tmp_path / "r.html", tmp_path / "m.json"
    result = invoke("train", path, "--drop-na", "--chunk-rows", "2", "--report", report, "-o", model, "-f", "json", *kept)
    assert result.exit_code == 0, result.stderr
    assert len(passes) == (0 if cache else 1)
    scatter = scatter_of(report.read_text())
    assert scatter["of"] == 4 and sorted(zip(scatter["x"], scatter["y"])) == [(1, 2), (3, 6.1), (4, 8), (5, 9.9)]
    assert json.loads(model.read_text())["a"] == pytest.approx(json.loads(result.stdout)["a"])


def test_arrays_report_no_dropped_rows_and_their_own_largest_values():
    """Arrays in memory (linfit.fit's road) drop nothing: no "dropped N rows" from a value taken for a count."""
    prepared = prepare(Arrays(np.array([0.0, 10.0, 20.0]), np.array([1.0, 3.0, 700.0])), TrainConfig())
    assert prepared.warnings == [] and prepared.data_info["dropped"] == 0 and prepared.data_info["rows"] == 3
    fitted = linfit.fit([0.0, 10.0, 20.0], [1.0, 3.0, 700.0])
    assert fitted.converged and fitted.to_dict()["data"]["dropped"] == 0
