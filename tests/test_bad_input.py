"""Every mistake a user can make gets one clear line on stderr, a documented exit code, no traceback.

BAD_FILES and BAD_CONFIGS are the catalogue of bad inputs; each one is tried through a real
`linfit train` (in-process) and must end in a clean error that names where the problem is.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, exact_least_squares, lstsq, one_error_line, parse_json, relative
from linfit.config import KEYS, TrainConfig, resolve_config
from linfit.data import load_samples
from linfit.errors import ConfigError, DataError, LinfitError
from linfit.pipeline import fit

# name: (file bytes, extra flags, exit code, words the one-line message must contain)
BAD_FILES = {
    "empty": (b"", [], 3, ["empty"]),
    "header only": (b"x,y\n", [], 3, ["no data rows"]),
    "binary": (bytes(range(256)) * 4, [], 3, ["bad.csv"]),
    "png bytes": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), [], 3, ["bad.csv"]),
    "latin-1 header": ("x,café\n1,2\n3,4\n".encode("latin-1"), [], 3, ["UTF-8"]),
    "semicolons": (b"x;y\n1;2\n3;4\n", [], 3, ["--sep ';'"]),
    "ragged rows": (b"x,y\n1,2\n3,4,5\n6,7\n", [], 3, ["line 3"]),
    "duplicate columns": (b"x,x,y\n1,2,3\n4,5,6\n", [], 3, ["repeats column 'x'"]),
    "missing column": (b"a,b\n1,2\n3,4\n", [], 3, ["no column 'x'", "'a', 'b'"]),
    "no header": (b"1,2\n3,4\n5,7\n", [], 3, ["header line"]),
    "text in a cell": (b"x,y\n1,2\n2,abc\n3,4\n", [], 3, ["line 3", "column 'y'", "'abc'"]),
    "empty cell": (b"x,y\n1,2\n,3\n3,4\n", [], 3, ["line 3", "column 'x'", "--drop-na"]),
    "nan literal": (b"x,y\n1,2\n2,nan\n3,4\n", [], 3, ["line 3", "missing"]),
    "infinity": (b"x,y\n1,2\n2,inf\n3,4\n", [], 3, ["line 3", "not a finite number"]),
    "negative infinity": (b"x,y\n1,2\n-inf,3\n3,4\n", [], 3, ["line 3", "column 'x'"]),
    "overflowing squares": (b"x,y\n1,2\n2,1e200\n3,4\n", [], 3, ["line 3", "too large"]),
    "too large for float32": (b"x,y\n1,2\n2,1e30\n3,4\n", ["--dtype", "float32"], 3, ["float32", "--dtype float64"]),
    "one row": (b"x,y\n1.4,2.1\n", [], 3, ["only 1 row", "Add rows"]),
    "constant x": (b"x,y\n2,1\n2,2\n2,3\n", [], 3, ["x is constant"]),
    "all rows dropped": (b"x,y\n,1\n2,\n", ["--drop-na"], 3, ["no data rows"]),
    "x column out of range": (b"x,y\n1,2\n3,4\n", ["--x-col", "5"], 3, ["no column '5'"]),
    "stalls, strict": (b"x,y\n1,2\n2,4.1\n3,5.9\n", ["--steps", "3", "--strict"], 5, ["not converged"]),
    "diverges": (b"x,y\n100,2\n200,4.1\n300,5.9\n", ["--no-standardize"], 4, ["diverged", "largest stable lr"]),
}

BAD_CONFIGS = {
    "yaml syntax": ("lr: 0.1\nsteps: [3\n", 2, ["not valid YAML", "line"]),
    "unknown key": ("lr: 0.1\noptimiser: adam\n", 2, ["unknown config key 'optimiser'", "'optimizer'"]),
    "wrong type": ("steps: many\n", 2, ["key 'steps'"]),
    "float steps": ("steps: 2.5\n", 2, ["key 'steps'"]),
    "zero lr": ("lr: 0\n", 2, ["key 'lr'", "greater than 0"]),
    "negative lr": ("lr: -0.1\n", 2, ["key 'lr'"]),
    "zero steps": ("steps: 0\n", 2, ["key 'steps'"]),
    "negative tol": ("tol: -1\n", 2, ["key 'tol'"]),
    "unknown optimizer": ("optimizer: lbfgs\n", 2, ["key 'optimizer'", "'sgd'"]),
    "unknown loss": ("loss: tukey\n", 2, ["key 'loss'"]),
    "momentum of one": ("momentum: 1.0\n", 2, ["key 'momentum'"]),
    "three betas": ("betas: [0.9, 0.99, 0.999]\n", 2, ["key 'betas'"]),
    "python object": ("!!python/object/apply:os.system ['touch pwned']\n", 2, ["not valid YAML"]),
    "python name tag": ("lr: !!python/name:os.system\n", 2, ["not valid YAML"]),
    "a list": ("- lr\n- 0.1\n", 2, ["mapping"]),
    "a scalar": ("0.1\n", 2, ["mapping"]),
}

BAD_FLAGS = {
    "zero lr": (["--lr", "0"], ["--lr"]),
    "text lr": (["--lr", "fast"], ["--lr"]),
    "negative steps": (["--steps", "-3"], ["--steps"]),
    "negative tol": (["--tol", "-1e-3"], ["--tol"]),
    "unknown optimizer": (["--optimizer", "lbfgs"], ["--optimizer"]),
    "unknown loss": (["--loss", "tukey"], ["--loss"]),
    "momentum of one": (["--momentum", "1"], ["--momentum"]),
    "negative log interval": (["--log-every", "-1"], ["--log-every"]),
    "missing config": (["--config", "no-such.yaml"], ["no-such.yaml", "not found"]),
    "unknown flag": (["--learning-rate", "0.1"], ["--learning-rate"]),
}


def assert_clean_error(result, code: int, words: list[str]) -> None:
    one_error_line(result, code, *words)  # conftest's one-error-line check


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_end_in_one_clear_line(case, tmp_path, invoke):
    content, flags, code, words = BAD_FILES[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = invoke("train", path, *flags)
    assert_clean_error(result, code, words)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_configs_end_in_one_clear_line(case, tmp_path, invoke, monkeypatch):
    text, code, words = BAD_CONFIGS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    result = invoke("train", SAMPLE, "--config", path)
    assert_clean_error(result, code, ["bad.yaml", *words])
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flags_name_the_flag(case, invoke):
    flags, words = BAD_FLAGS[case]
    assert_clean_error(invoke("train", SAMPLE, *flags), 2, words)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom", "\ufeffx,y\n1,2.1\n2,3.9\n3,6.2\n".encode()),
        ("crlf", b"x,y\r\n1,2.1\r\n2,3.9\r\n3,6.2\r\n"),
        ("quoted numbers", b'"x","y"\n"1","2.1"\n"2","3.9"\n"3","6.2"\n'),
        ("spaces after commas", b"x, y\n1, 2.1\n2, 3.9\n3, 6.2\n"),
        ("blank line at end", b"x,y\n1,2.1\n2,3.9\n3,6.2\n\n"),
    ],
)
def test_harmless_variants_just_work(name, content, tmp_path, invoke):
    path = tmp_path / "ok.csv"
    path.write_bytes(content)
    out = parse_json(invoke("train", path, "-f", "json", "--y-col", "1").stdout)
    a, b = lstsq(np.array([1.0, 2.0, 3.0]), np.array([2.1, 3.9, 6.2]))
    assert relative(out["a"], a) <= 1e-9 and relative(out["b"], b) <= 1e-9


def test_drop_na_drops_and_reports(tmp_path, invoke):
    path = tmp_path / "gaps.csv"
    path.write_bytes(b"x,y\n1,2\n,3\n2,4.1\n3,\n4,8.2\n")
    result = invoke("train", path, "--drop-na", "-f", "json")
    assert result.exit_code == 0 and "dropped 2 rows" in result.stderr
    assert parse_json(result.stdout)["data"]["rows"] == 3


def test_unreadable_file(tmp_path, monkeypatch, invoke):
    path = tmp_path / "locked.csv"
    path.write_bytes(b"x,y\n1,2\n")
    real_open = type(path).open

    def deny(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(type(path), "open", deny)
    assert_clean_error(invoke("train", path), 3, ["locked.csv", "Permission denied"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300))
def test_random_bytes_load_or_fail_cleanly(content, tmp_path):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        samples = load_samples(path)
    except DataError:
        return
    assert samples.x.dtype == np.float64 and np.isfinite(samples.x).all() and np.isfinite(samples.y).all()


csv_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
    st.sampled_from(["", " ", "nan", "NA", "inf", "-", "1e999", "abc", '"1"', "1,5", "x", "y", "\t", "1;2"]),
)
csv_text = st.lists(st.lists(csv_cell, min_size=0, max_size=4), min_size=0, max_size=8).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from(["x,y\n", "y,x\n", "x,y,z\n", "", "a,b\n"]), body=csv_text)
@example(header="x,y,z\n", body='0.0,0.0,"1"')  # one quoted row with no line end after the header
def test_random_csv_like_text_loads_or_fails_cleanly(header, body, tmp_path):
    path = tmp_path / "fuzz.csv"
    path.write_text(header + body, encoding="utf-8")
    try:
        samples = load_samples(path)
    except DataError as error:
        assert str(path) in str(error)
        return
    assert np.isfinite(samples.x).all() and samples.x.shape == samples.y.shape


config_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.floats(-2, 2), max_size=3),
    st.sampled_from(["sgd", "adam", "momentum", "mse", "float32", "cuda"]),
)


@settings(max_examples=200, deadline=None)
@given(values=st.dictionaries(st.sampled_from([*KEYS, "lrr", "step", "Optimizer"]), config_value, max_size=5))
def test_random_configs_validate_or_fail_cleanly(values):
    try:
        config = resolve_config(None, values)
    except ConfigError as error:
        # names the flag that carried the bad value, or the unknown key
        assert str(error).startswith("--") or "unknown config key" in str(error)
        return
    assert isinstance(config, TrainConfig) and (config.lr is None or config.lr > 0) and config.steps >= 1


@settings(max_examples=25, deadline=None)
@given(
    a=st.floats(-1e3, 1e3).filter(lambda v: abs(v) > 1e-3),
    b=st.floats(-1e3, 1e3),
    centre=st.floats(-1e3, 1e3),
    spread=st.floats(1e-2, 1e2),
    n=st.integers(3, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_float64_training_agrees_with_lstsq_on_well_posed_data(a, b, centre, spread, n, seed):
    rng = np.random.default_rng(seed)
    x = centre + spread * rng.standard_normal(n)
    y = a * x + b + 0.1 * abs(a) * spread * rng.standard_normal(n)
    try:
        result, _ = fit(x, y, TrainConfig())
    except LinfitError:
        pytest.fail("well-posed data must train")
    exact_a, exact_b = exact_least_squares(x, y)
    assert result.converged
    assert math.isclose(result.a, exact_a, rel_tol=1e-9)
    # b = ȳ − a·x̄ is only as exact as float64 lets that difference be
    inherent = 1e-13 * (abs(np.mean(y)) + abs(exact_a * np.mean(x)))
    assert abs(result.b - exact_b) <= 1e-9 * abs(exact_b) + inherent
    # and numpy's lstsq agrees, up to its own distance from the exact answer
    ref_a, ref_b = lstsq(x, y)
    assert abs(result.a - ref_a) <= 1e-9 * abs(exact_a) + abs(ref_a - exact_a)
    assert abs(result.b - ref_b) <= 1e-9 * abs(exact_b) + abs(ref_b - exact_b) + inherent


def test_stdin_from_a_terminal_is_refused_rather_than_waited_on(monkeypatch):
    import io as _io

    class Terminal(_io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(DataError, match="stdin is a terminal"):
        load_samples("-")


# --- linfit.fit's inputs ---------------------------------------------------------------------------


def test_fit_honours_a_masked_array_as_missing_values():
    """A masked entry is missing, as an empty cell is: refused (as `train` without --drop-na refuses it), never fitted."""
    import linfit

    x = np.ma.masked_array([0.0, 1.0, 2.0, 3.0, 100.0], mask=[0, 0, 0, 0, 1])
    y = np.array([1.0, 3.0, 5.0, 7.0, -50.0])
    with pytest.raises(DataError, match="1 missing"):
        linfit.fit(x, y)
    with pytest.raises(DataError, match="1 missing"):
        linfit.fit(y, x)
    kept = linfit.fit(x[:4], y[:4])  # a mask with nothing masked is the plain array
    assert kept.a == pytest.approx(lstsq(x[:4].data, y[:4])[0], rel=1e-9)


def test_fit_reads_text_as_the_data_reader_does():
    import linfit

    with pytest.raises(DataError, match=r"x\[1\] is '1_000'"):
        linfit.fit(["1", "1_000", "3"], [1, 2, 3])
    with pytest.raises(DataError, match="y"):
        linfit.fit([1, 2, 3], np.array(["1", "2", "3_0"], dtype=object))
    import pandas as pd

    with pytest.raises(DataError, match=r"x\[1\] is '1_000'"):
        linfit.fit(pd.Series(["1", "1_000", "3"]), [1, 2, 3])  # a column of text, as read without a dtype
    with pytest.raises(DataError, match="1 missing"):
        linfit.fit(pd.Series([1, None, 3], dtype="Int64"), [1, 2, 3])  # pandas' NA is missing
    text = linfit.fit(["0", "1", "2", "3"], ["1", "3", "5", "7"])  # plain decimal text still reads
    assert text.a == pytest.approx(2.0) and text.b == pytest.approx(1.0)


def test_fit_refuses_an_integer_beyond_float64_as_a_data_error():
    import linfit

    with pytest.raises(DataError, match="too large"):
        linfit.fit([10**400, 2, 3], [1, 2, 3])


def test_fit_takes_numpy_scalars_and_bounds_integers_as_the_command_line_does():
    import linfit

    assert linfit.fit([0, 1, 2, 3], [1, 3, 5, 7], steps=np.int64(500), lr=np.float32(0.5)).config.steps == 500
    with pytest.raises(ConfigError, match=r"fit\(steps=\.\.\.\).*too large"):
        linfit.fit([0, 1, 2, 3], [1, 3, 5, 7], steps=2**70)
    with pytest.raises(ConfigError, match=r"fit\(seed=\.\.\.\)"):
        linfit.fit([0, 1, 2, 3], [1, 3, 5, 7], seed=-(2**64))


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--loss", "mse", "--quantile", "0.3"], "--quantile"),  # both were accepted and ignored: the table showed the other loss
        (["--huber-delta", "2"], "--huber-delta"),
        (["--loss", "quantile", "--huber-delta", "2"], "--huber-delta"),
    ],
)
def test_grad_refuses_a_loss_setting_its_loss_does_not_read(invoke, flags, named):
    assert_clean_error(invoke("grad", "--x", "1", "--y", "2", *flags), 2, [named, "would be ignored"])
    loss = "huber" if named == "--huber-delta" else "quantile"
    given = [flags[-2], flags[-1]]
    out = parse_json(invoke("grad", "--x", "1", "--y", "2", "--loss", loss, *given, "-f", "json").stdout)
    r = 1.5 - 2  # a·x + b − y at the defaults a = 1, b = 0.5
    expected = 0.5 * r * r if loss == "huber" else max(0.3 * -r, (0.3 - 1) * -r)  # |r| < δ = 2; pinball at τ = 0.3 of y − ŷ
    assert out["loss"] == pytest.approx(expected, rel=1e-15)


def test_valid_file_without_the_weight_column_says_why_it_is_needed(invoke, tmp_path):
    data = tmp_path / "w.csv"
    data.write_text("x,y,w\n1,2,1\n2,3.9,2\n3,6.2,1\n4,8.1,0.5\n")
    valid = tmp_path / "v.csv"
    valid.write_text("x,y\n1,2\n2,4\n")
    assert_clean_error(invoke("train", data, "--weight-col", "w", "--valid", valid), 3, ["v.csv", "'w'", "--valid", "weighted"])
