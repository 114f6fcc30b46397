"""The piecewise losses off the main roads: `losses.loss_grid` (the true loss on a grid, from binned sums)
against an exact oracle, and the roads and errors not in test_losses_train's matrix (Parquet, a glob,
a reused --cache, --drop-na, bad weights and bad δ/τ) giving the in-memory road's answer or error."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linfit.losses import loss_for, loss_grid

KINDS = [loss_for("huber", delta=1.0), loss_for("absolute"), loss_for("quantile", tau=0.9)]


def exact_grid(kind, x, y, w, a_values, b_values):
    """Σ wᵢ·ℓ(rᵢ) / Σ wᵢ at each grid point with rᵢ = a·xᵢ + b − yᵢ exact (fractions), rounded once, and
    the pieces summed exactly: an oracle independent of both the binned sums and the direct float formula."""
    w = np.ones_like(x) if w is None else w
    exact_x, exact_y = [Fraction(v) for v in x.tolist()], [Fraction(v) for v in y.tolist()]
    out = np.empty((len(b_values), len(a_values)))
    for i, a in enumerate(a_values):
        fa = Fraction(float(a))
        for j, b in enumerate(b_values):
            fb = Fraction(float(b))
            pieces = []
            for xi, yi, wi in zip(exact_x, exact_y, w.tolist()):
                r = fa * xi + fb - yi
                if kind.name == "huber":
                    d = Fraction(kind.delta)
                    piece = r * r / 2 if abs(r) <= d else d * (abs(r) - d / 2)
                elif kind.name == "absolute":
                    piece = abs(r)
                else:
                    tau = Fraction(kind.tau)
                    piece = max(-tau * r, (1 - tau) * r)
                pieces.append(float(piece) * wi)
            out[j, i] = math.fsum(pieces) / math.fsum(w.tolist())
    return out


def direct_grid(kind, x, y, w, a_values, b_values):
    """The loss at every grid point from every row, in float64 (the formula loss_grid replaced)."""
    r = np.asarray(a_values)[None, :, None] * x[None, None, :] + (np.asarray(b_values)[:, None, None] - y[None, None, :])
    pieces = kind.numpy_pieces(r)
    return pieces.mean(axis=2) if w is None else pieces @ w / w.sum()


def blocks_of(x, y, w, cuts):
    """The rows as the reader would stream them: blocks split at `cuts`, with weights or without."""
    edges = [0, *cuts, len(x)]
    return [(x[s:e], y[s:e]) + (() if w is None else (w[s:e],)) for s, e in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("offset", [0.0, 1e9])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_grid_is_the_exact_loss_in_one_pass_over_blocks(kind, offset, weighted):
    """Random rows with heavy-tailed noise, x far from 0 or not, weights with zeros, three blocks: every grid
    point within 1e-12 of the exact value. At a 1e9 offset the direct float64 formula is itself ~1e-8 off
    (a·x rounds to 1e-7 absolute), so the exact oracle is the judge there; without an offset both agree."""
    rng = np.random.default_rng(11)
    n = 90
    x = offset + rng.uniform(0, 10, n)
    y = 3.0 * x + 2.0 + rng.standard_t(2, n)
    w = rng.uniform(0, 3, n) if weighted else None
    if weighted:
        w[::5] = 0.0
    spread = 0.05 if offset == 0 else 1e-8  # a·x must move by a few y units over the grid
    a_values = 3.0 + np.linspace(-spread, spread, 5)
    b_values = np.linspace(-6.0, 10.0, 6) if offset == 0 else 2.0 + np.linspace(-6.0, 10.0, 6)
    surface = loss_grid(kind, blocks_of(x, y, w, [17, 60]), a_values, b_values)
    assert surface.shape == (6, 5)
    np.testing.assert_allclose(surface, exact_grid(kind, x, y, w, a_values, b_values), rtol=1e-12, atol=0)
    if offset == 0:
        np.testing.assert_allclose(surface, direct_grid(kind, x, y, w, a_values, b_values), rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_loss_grid_on_breakpoints_exactly(kind):
    """Rows exactly on a piece's edge at grid points (|r| = δ for huber, r = 0 for absolute and quantile;
    dyadic numbers, so the direct formula is exact too), a b grid in descending order and repeated b's,
    weights with zeros, and all rows in one block or one row a block."""
    x = np.arange(12, dtype=np.float64)
    y = 1.5 * x + np.array([-1.0, 0.0, 1.0, 0.5, -0.5, 2.0, -2.0, 1.0, 0.0, -1.0, 0.25, 3.0])
    w = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 1.0, 0.0, 4.0, 1.0, 1.0, 2.0, 0.25])
    a_values = np.array([1.0, 1.25, 1.5, 1.75, 2.0])
    b_values = np.array([1.0, 0.5, 0.0, 0.0, -0.5, -1.0])
    for weights in (None, w):
        exact = direct_grid(kind, x, y, weights, a_values, b_values)
        assert exact_grid(kind, x, y, weights, a_values, b_values) == pytest.approx(exact, rel=1e-15)
        for cuts in ([], list(range(1, 12))):
            surface = loss_grid(kind, blocks_of(x, y, weights, cuts), a_values, b_values)
            np.testing.assert_allclose(surface, exact, rtol=1e-13, atol=1e-15)


def test_loss_grid_without_rows_or_weight_is_nan():
    kind = KINDS[0]
    assert np.isnan(loss_grid(kind, [], [1.0, 2.0], [0.0])).all()
    zero = (np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.zeros(2))
    assert loss_grid(kind, [zero], [1.0, 2.0], [0.0, 1.0, 2.0]).shape == (3, 2)
    assert np.isnan(loss_grid(kind, [zero], [1.0, 2.0], [0.0, 1.0, 2.0])).all()


_floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(_floats, _floats, st.sampled_from([0.0, 0.5, 1.0, 3.0])), min_size=1, max_size=12),
    a_values=st.lists(_floats, min_size=1, max_size=3),
    b_values=st.lists(_floats, min_size=1, max_size=4),
    which=st.integers(0, 2),
    delta=st.sampled_from([0.5, 1.0, 7.0]),
)
def test_loss_grid_property_matches_the_exact_loss(rows, a_values, b_values, which, delta):
    """Any rows (repeated values, zero weights), any grid (unsorted, repeated): the exact loss to 1e-12
    relative, or to 1e-12 of the largest term where the loss is near 0."""
    x, y, w = (np.array(c) for c in zip(*rows))
    if not w.sum() > 0:
        w[0] = 1.0
    kind = loss_for("huber", delta=delta) if which == 0 else KINDS[which]
    surface = loss_grid(kind, [(x, y, w)], a_values, b_values)
    exact = exact_grid(kind, x, y, w, a_values, b_values)
    scale = 1.0 + max(abs(v) for v in [*a_values]) * float(np.abs(x).max()) + float(np.abs(y).max()) + max(abs(v) for v in b_values)
    np.testing.assert_allclose(surface, exact, rtol=1e-12, atol=1e-14 * scale * max(1.0, delta))


ROWS = [(0.7 * i + 0.13 * math.sin(i), 2 * i + 1 + math.cos(3 * i) - (50 if i == 7 else 0), 1 + (i % 3) * 0.5) for i in range(20)]
BAD_LINE = 6  # the fifth row: where a bad weight goes (header is line 1)


def _content(bad_weight: str | None = None) -> bytes:
    """x, y, w rows with one gross outlier; `bad_weight` replaces the weight on line 6."""
    lines = [f"{x!r},{y!r},{w!r}" for x, y, w in ROWS]
    if bad_weight is not None:
        x, y, _ = ROWS[BAD_LINE - 2]
        lines[BAD_LINE - 2] = f"{x!r},{y!r},{bad_weight}"
    return ("x,y,w\n" + "\n".join(lines) + "\n").encode()


HUBER, WEIGHTS = ["--loss", "huber", "--huber-delta", "1"], ["--weight-col", "w"]
QUANTILE = ["--loss", "quantile", "--quantile", "0.9"]
CASES = {  # name: (content, flags, exit code, what the message must say)
    "quantile 0.9": (_content(), QUANTILE, 0, None),
    "absolute": (_content(), ["--loss", "absolute"], 0, None),
    "huber": (_content(), HUBER, 0, None),
    "huber, weighted rows": (_content(), HUBER + WEIGHTS, 0, None),
    "quantile 0.9, weighted rows": (_content(), QUANTILE + WEIGHTS, 0, None),
    "negative weight": (_content("-1"), QUANTILE + WEIGHTS, 3, "is negative"),
    "missing weight": (_content(""), ["--loss", "absolute", *WEIGHTS], 3, "missing weight"),
    "non-numeric weight": (_content("abc"), HUBER + WEIGHTS, 3, "not a number"),
    "--quantile 1.5": (_content(), ["--loss", "quantile", "--quantile", "1.5"], 2, "--quantile"),
    "--huber-delta -1": (_content(), ["--loss", "huber", "--huber-delta", "-1"], 2, "--huber-delta"),
}
ROADS = ["parquet", "glob of two", "cache reused", "drop-na"]


def _run(road, content, flags, tmp_path, invoke):
    """(result, the data's name in messages) of `linfit train` on the rows of `content` along a road."""
    flags = [*flags, "-f", "json"]
    if road == "memory":
        path = tmp_path / "data.csv"
        path.write_bytes(content)
        return invoke("train", path, *flags), str(path)
    if road == "parquet":
        import io

        import pyarrow.csv
        import pyarrow.parquet

        path = tmp_path / "data.parquet"
        table = pyarrow.csv.read_csv(io.BytesIO(content), convert_options=pyarrow.csv.ConvertOptions(strings_can_be_null=True))
        pyarrow.parquet.write_table(table, path)
        return invoke("train", path, *flags), str(path)
    if road == "glob of two":  # the bad line is in the first file
        header, *lines = content.decode().splitlines(keepends=True)
        (tmp_path / "part-1.csv").write_text(header + "".join(lines[:10]))
        (tmp_path / "part-2.csv").write_text(header + "".join(lines[10:]))
        return invoke("train", tmp_path / "part-*.csv", *flags), str(tmp_path / "part-1.csv")
    if road == "cache reused":
        path, cache = tmp_path / "data.csv", tmp_path / "passes.cache"
        path.write_bytes(content)
        first = invoke("train", path, *flags, "--chunk-rows", "4", "--cache", cache)
        again = invoke("train", path, *flags, "--chunk-rows", "4", "--cache", cache)
        assert again.exit_code == first.exit_code
        if first.exit_code:  # nothing was cached: the second run stops the same way
            assert again.stderr.splitlines()[-1:] == first.stderr.splitlines()[-1:]
        if first.exit_code == 0:
            assert "wrote the pass cache" in first.stderr and "reusing the pass cache" in again.stderr
            assert {k: v for k, v in json.loads(first.stdout).items() if "time" not in k} == {
                k: v for k, v in json.loads(again.stdout).items() if "time" not in k
            }
        return again, str(path)
    if road == "drop-na":  # one more row, its y missing, at the end
        path = tmp_path / "data.csv"
        path.write_bytes(content + b"3.5,,1.0\n")
        result = invoke("train", path, *flags, "--drop-na")
        if result.exit_code == 0:
            assert "dropped 1 rows" in result.stderr
        return result, str(path)
    raise AssertionError(road)


_MEMORY: dict = {}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("road", ROADS)
def test_the_piecewise_losses_and_weights_give_the_same_answer_or_error_off_the_main_roads(road, case, tmp_path, invoke):
    """Parquet, a glob of two files, --chunk-rows with a --cache written then reused, --drop-na with a row
    missing its y: the in-memory road's line and loss, or its exit code and message (Parquet names the
    data row where CSV names the line; a glob names the file holding it)."""
    content, flags, code, words = CASES[case]
    if case not in _MEMORY:
        (tmp_path / "memory").mkdir()
        result, name = _run("memory", content, flags, tmp_path / "memory", invoke)
        _MEMORY[case] = (result.exit_code, result.stdout, result.stderr.replace(name, "DATA"))
    memory_code, memory_out, memory_err = _MEMORY[case]
    assert memory_code == code, memory_err
    result, name = _run(road, content, flags, tmp_path, invoke)
    assert result.exit_code == code, result.output
    if code:
        message = result.stderr.replace(name, "DATA")
        if road == "parquet":
            message = message.replace(f"row {BAD_LINE - 1},", f"line {BAD_LINE},")
        assert words in message and message.strip().splitlines()[-1] == memory_err.strip().splitlines()[-1]
        if code == 3:
            assert f"DATA: line {BAD_LINE}, column 'w'" in message
        return
    fit, baseline = json.loads(result.stdout), json.loads(memory_out)
    assert fit["converged"] and fit["loss_name"] == baseline["loss_name"]
    assert (fit["a"], fit["b"], fit["loss"]) == pytest.approx((baseline["a"], baseline["b"], baseline["loss"]), rel=1e-9)
