"""Defects a review found in the statistics' edges: rows named by a wrong line, a warm start that cannot be
repeated, intervals that overflow or hide that they are another line's, levels near 0 or 1, model files with
bad data fields, HC3 at leverage 1, held-out file quirks."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
import yaml
from scipy import stats as scipy_stats

from conftest import one_error_line, parse_json

BLANK = "x,y\n1,1\n\n2,2\n3,3.5\n4,3\n5,9\n"  # the row 5,9 (most influential) is on line 7, not row + 1 = 6
PLAIN = "x,y\n1,1\n2,2\n3,3.5\n4,3\n5,9\n"


def _influential(invoke, path, *extra):
    result = invoke("train", path, "-f", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return parse_json(result.stdout)["stats"]["influential"]


def test_influential_rows_are_named_by_their_real_line_or_none(invoke, tmp_path):
    plain, blank = tmp_path / "plain.csv", tmp_path / "blank.csv"
    plain.write_text(PLAIN)
    blank.write_text(BLANK)
    assert _influential(invoke, plain)[0] == pytest.approx({"line": 6, "row": 5, "leverage": 0.6, "cooks_distance": 2.0511363636}, rel=1e-9)
    line_of_row = {1: 2, 2: 4, 3: 5, 4: 6, 5: 7}  # the blank line 3 moves rows 2.. down one line
    for extra in ((), ("--chunk-rows", "2"), ("--holdout", "0.2")):  # in memory, streamed, a subset
        rows = _influential(invoke, blank, *extra)
        assert rows and all(row["line"] == line_of_row[row["row"]] for row in rows), (extra, rows)
    assert "line 7 (2.05)" in invoke("train", blank).stdout
    packed = tmp_path / "blank.csv.gz"  # compressed: not scanned again; the row is kept and no line is guessed
    packed.write_bytes(gzip.compress(BLANK.encode()))
    rows = _influential(invoke, packed)
    assert rows[0]["row"] == 5 and all(row["line"] is None for row in rows)
    quoted = tmp_path / "quoted.csv"  # a header whose quoted name spans two lines: row r is on line r + 2
    quoted.write_text('"x\nvalue",y\n' + PLAIN.split("\n", 1)[1])
    assert all(row["line"] == row["row"] + 2 for row in _influential(invoke, quoted, "--x-col", "0"))


def test_a_warm_start_is_recorded_as_the_start_used_and_repeats(invoke, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(PLAIN)
    first, warm, again = tmp_path / "first.json", tmp_path / "warm.json", tmp_path / "again.json"
    assert invoke("train", data, "--steps", "3", "-o", first, "-q").exit_code == 0
    assert invoke("train", data, "--init-from", first, "--steps", "4", "-o", warm, "-q").exit_code == 0
    started, record = json.loads(first.read_text()), json.loads(warm.read_text())
    assert (record["config"]["init"], record["config"]["init_a"], record["config"]["init_b"]) == ("values", started["a"], started["b"])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(record["config"]))
    assert invoke("train", data, "--config", config, "-o", again, "-q").exit_code == 0
    repeated = json.loads(again.read_text())
    assert (repeated["a"], repeated["b"], repeated["steps"]) == (record["a"], record["b"], record["steps"])


@pytest.fixture
def model(invoke, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(PLAIN)
    path = tmp_path / "m.json"
    assert invoke("train", data, "-o", path, "-q").exit_code == 0
    return path


def test_intervals_say_when_the_model_is_not_the_least_squares_line(invoke, tmp_path, model):
    data = tmp_path / "d.csv"
    short = tmp_path / "short.json"
    assert invoke("train", data, "--steps", "1", "-o", short, "-q").exit_code == 0
    result = invoke("predict", short, "--x", "3", "--interval", "prediction", "-f", "json")
    out = parse_json(result.stdout)
    assert out["interval"]["model_is_least_squares"] is False and out["interval"]["centre"] == "least_squares"
    assert "the intervals are the least-squares line's" in result.stderr
    result = invoke("predict", model, "--x", "3", "--interval", "prediction", "-f", "json")
    assert parse_json(result.stdout)["interval"]["model_is_least_squares"] is True and "note" not in result.stderr
    record = json.loads(model.read_text())
    record["stats"]["basis"]["n"] = 10**30
    model.write_text(json.dumps(record))
    one_error_line(invoke("predict", model, "--x", "3", "--interval", "confidence"), 3, "stats.basis.n")


def test_intervals_at_huge_x_do_not_overflow(invoke, model):
    result = invoke("predict", model, "--x", "1e160", "--interval", "prediction", "-f", "json")
    out = parse_json(result.stdout)
    assert result.stderr == ""
    basis = json.loads(model.read_text())["stats"]["basis"]
    half = scipy_stats.t.ppf(0.975, 3) * math.sqrt(basis["residual_variance"]) * 1e160 / math.sqrt(basis["sxx"])
    centre = basis["y_mean"] + basis["slope"] * (1e160 - basis["x_mean"])
    assert out["lower"][0] == pytest.approx(centre - half, rel=1e-12) and out["upper"][0] == pytest.approx(centre + half, rel=1e-12)


@pytest.mark.parametrize("level", ["1e-16", "1e-300", "0.9999999999999999"])
def test_levels_near_0_and_1_are_computed(invoke, model, tmp_path, level):
    result = invoke("predict", model, "--x", "3", "--interval", "confidence", "--level", level, "-f", "json")
    out = parse_json(result.stdout)
    assert out["lower"][0] <= out["prediction"][0] <= out["upper"][0]
    data = tmp_path / "d.csv"
    assert invoke("train", data, "--level", level, "-q").exit_code == 0
    config = tmp_path / "level.yaml"
    config.write_text(f"level: {level}\n")
    assert invoke("train", data, "-c", config, "-q").exit_code == 0


def test_level_quantile_against_scipy():
    from linfit.stats import level_quantile

    for level, dof in ((0.9999999999999999, 3), (0.9999999999999999, 50), (0.9999999999999999, 5000), (0.95, 10), (0.5, 7)):
        assert level_quantile(level, dof) == pytest.approx(scipy_stats.t.isf((1 - level) / 2, dof), rel=1e-12)
    assert level_quantile(0.9999999999999999, None) == pytest.approx(scipy_stats.norm.isf((1 - 0.9999999999999999) / 2), rel=1e-12)
    for dof in (3, 40):  # near 0: the density at 0 (scipy's ppf at 0.5 + 5e-17 is 0)
        density = scipy_stats.t.pdf(0, dof)
        assert level_quantile(1e-16, dof) == pytest.approx(5e-17 / density, rel=1e-12)
        assert level_quantile(2e-5, dof) == pytest.approx(scipy_stats.t.isf(0.5 - 1e-5, dof), rel=1e-9)


@pytest.mark.parametrize(("data", "key"), [({"y": None}, "data.y"), ({"y": {"a": 1}}, "data.y"), ({"x": 10**40}, "data.x")])
def test_model_file_data_fields_are_checked(invoke, model, tmp_path, data, key):
    record = json.loads(model.read_text())
    record["data"].update(data)
    model.write_text(json.dumps(record))
    csv = tmp_path / "d.csv"
    for command in ("eval", "predict"):
        line = one_error_line(invoke(command, model, csv), 3, key)
        assert str(model) in line and "--x-col" not in line


def test_hc3_at_leverage_one_names_the_cause(invoke, tmp_path):
    data = tmp_path / "h.csv"
    data.write_text("x,y\n0,1\n0,2\n0,3\n0,4\n1,5\n")
    line = one_error_line(invoke("train", data, "--se", "hc3"), 3, "leverage 1")
    assert "could not read its rows again" not in line


def test_hc3_model_intervals_say_they_are_classical(invoke, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(PLAIN)
    path = tmp_path / "hc3.json"
    assert invoke("train", data, "--se", "hc3", "-o", path, "-q").exit_code == 0
    result = invoke("predict", path, "--x", "2", "--interval", "confidence", "-f", "json")
    assert parse_json(result.stdout)["interval"]["se"] == "nonrobust" and "classical" in result.stderr


def test_interval_columns_already_in_the_input_are_refused(invoke, model, tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("x,lower\n1,2\n")
    one_error_line(invoke("predict", model, data, "--interval", "confidence", "-f", "csv"), 3, "'lower'")
    assert invoke("predict", model, data, "-f", "csv").exit_code == 0  # without --interval no such column is added


def test_valid_file_quirks(invoke, tmp_path):
    data = tmp_path / "semi.csv"
    data.write_text("x;y\n1;1\n2;2.2\n3;2.9\n4;4.1\n")
    valid = tmp_path / "v.csv"
    valid.write_text("x,y\n5,5\n6,6.1\n")
    fit = parse_json(invoke("train", data, "--sep", ";", "--valid", valid, "-f", "json").stdout)
    x = np.array([5.0, 6.0])
    assert fit["valid"]["n"] == 2 and fit["valid"]["max_abs_residual"] == pytest.approx(
        np.abs(np.array([5, 6.1]) - fit["a"] * x - fit["b"]).max(), rel=1e-12
    )
    one_error_line(invoke("train", "-", "--valid", "-", input=PLAIN), 2, "stdin")
    config = tmp_path / "k.yaml"
    config.write_text("holdout: 0.2\nchunk_rows: 2\n")
    line = one_error_line(invoke("train", data, "--sep", ";", "-c", config), 2, "key 'holdout'", "key 'chunk_rows'")
    assert "--holdout" not in line
