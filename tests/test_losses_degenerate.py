"""The piecewise losses with defaults on the data that trip vertex methods: integer rows with ties, one x
repeated, collinear points, flat faces (a non-unique optimum), two and three rows, a point repeated. The
optimizer must stop converged, by its own rule, at the exact objective (the reference is computed apart,
only to compare)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linfit.config import TrainConfig
from linfit.pipeline import Arrays, prepare
from linfit.reference import huber_line, quantile_line

LOSSES = [("absolute", 0.5), ("quantile", 0.1), ("quantile", 0.5), ("quantile", 0.9)]


def _ties():
    x = np.arange(20.0)
    y = 2 * x + 1 + x % 3  # three parallel lines of integer points: a degenerate vertex (six rows on the optimum)
    y[7] = 100.0
    return x, y


CASES = {
    "ties": _ties(),
    "repeated x": (np.repeat(np.arange(6.0), 4), np.array([1, 2, 2, 3, 3, 3, 4, 5, 5, 5, 5, 9, 6, 7, 7, 8, 9, 9, 9, 10, 10, 11, 12, 40.0])),
    "collinear": (np.arange(10.0), 3 * np.arange(10.0) - 2),
    "flat face": (np.array([3, 1, -2, 1, 3, 3, 3.0]), np.array([-3, 2, 0, -1, 0, 2, 3.0])),
    "one x shared by the rows near the line": (
        np.array([1, -2, 1, -2, 0, 0, 2, -3, -3, -3, -3, 1, 1, 3, -1, -1.0]),
        np.array([100, 2, 0, -2, -2, 0, -2, 3, 0, -3, -3, -1, 0, 3, 1, -2.0]),
    ),
    "duplicated points": (np.array([0, 0, 1, 2, 2, 3, 4, 4.0]), np.array([1, 1, 3, 2, 2, 5, 6, 6.0])),
    "two rows": (np.array([1, 4.0]), np.array([2, -3.0])),
    "three rows": (np.array([0, 1, 5.0]), np.array([1, 3, 2.0])),
}


def _train(x, y, **settings_):
    training = prepare(Arrays(x, y), TrainConfig(**settings_)).training
    list(training)
    return training.result


def _close(value: float, exact: float, rel: float) -> bool:
    return abs(value - exact) <= rel * abs(exact) + 1e-12 * (1 + abs(exact))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("loss, tau", LOSSES)
def test_defaults_converge_on_degenerate_data(name, loss, tau):
    x, y = CASES[name]
    exact = quantile_line(x, y, tau, name=loss)
    for chunk in (None, 3):  # in memory, and streamed in chunks that split ties across chunks
        result = _train(x, y, loss=loss, quantile=tau, **({"chunk_rows": chunk} if chunk else {}))
        assert result.converged and result.stop_reason == "converged", (name, result.stop_reason, result.steps)
        assert result.steps <= 60
        assert _close(result.loss, exact.objective, 1e-12), (result.loss, exact.objective)


def _huber_objective(x, y, delta, theta, w=None):
    r = np.abs(theta[0] * x + theta[1] - y)
    pieces = np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
    return float(np.mean(pieces) if w is None else np.sum(w * pieces) / np.sum(w))


def _huber_oracle(x, y, delta, starts, w=None):
    """An independent minimum: Nelder–Mead (no gradients, no active sets) from each start, the lowest found."""
    from scipy.optimize import minimize

    scale = 1 / delta  # the objective in units of δ, so that fatol means the same for every δ
    found = [
        minimize(
            lambda t: scale * _huber_objective(x, y, delta, t, w),
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-12, "fatol": 1e-22, "maxiter": 2000},
        ).fun
        for start in starts
    ]
    return min(found) / scale


def _rounding(x, y, delta):
    """The objective's rounding where residuals are ~0: e·min(δ, e), e a few ulps of the data's size."""
    e = 64 * np.finfo(float).eps * (1 + np.max(np.abs(y)) + np.max(np.abs(x)) * (1 + np.ptp(y)))
    return e * min(delta, e)


def _check_huber(x, y, delta, w=None):
    exact = huber_line(x, y, delta, w)
    result = _train(x, y, loss="huber", huber_delta=delta) if w is None else _train_weighted(x, y, w, delta)
    assert result.converged and result.stop_reason == "converged", (result.stop_reason, result.steps)
    floor = _rounding(x, y, delta)
    assert abs(result.loss - exact.objective) <= 1e-9 * exact.objective + floor, (result.loss, exact.objective)
    # the reference is no higher than what an independent search finds from its line, the trainer's and least squares'
    least = np.polyfit(x, y, 1) if w is None else np.polyfit(x, y, 1, w=np.sqrt(w))
    found = _huber_oracle(x, y, delta, [(exact.a, exact.b), (result.a, result.b), tuple(least)], w)
    assert exact.objective <= found * (1 + 1e-12) + floor, (exact.objective, found)
    return exact, result


def _train_weighted(x, y, w, delta):
    training = prepare(Arrays(x, y, w=w), TrainConfig(loss="huber", huber_delta=delta)).training
    list(training)
    return training.result


@pytest.mark.parametrize("delta", [1e-6, 0.5, 1e6])
@pytest.mark.parametrize("name", ["ties", "repeated x", "duplicated points", "three rows", "flat face", "two rows"])
def test_huber_converges_on_degenerate_data_for_tiny_and_huge_delta(name, delta):
    x, y = CASES[name]
    _check_huber(x, y, delta)


HUBER_CASES = {
    # the active-set iteration meets a set whose rows share one x (the exact profile solve takes over from there)
    "one x inside on the way (δ = 1)": ([3, 0, 3, -2, 3, 3, 2, 3, -2, -2], [-4, 2, 0, -2, -4, -2, 4, -4, -4, 100], 1.0),
    "one x inside on the way (δ = 1e-6)": ([0, -3, -3, 3, 2, -3, 0, 0, 1, -3], [3, 0, 0, -1, -4, 4, 3, 3, 2, 100], 1e-6),
    # two rows at different x take turns inside ±δ under a step that mixes the curvature's direction with the turn
    "rows at two x take turns inside": ([2, 3, 0, 3, 0], [2, -1, -4, 2, 0], 1e-6),
    # a full Newton step overshoots across a crease and its half lands where the next one mirrors it (a cycle)
    "halved Newton steps cycle": ([3, 0, 1, -1, -1, -3, 1, -1], [0, 2, -1, 0, -4, 0, 1, 2], 1.0),
}


@pytest.mark.parametrize("name", list(HUBER_CASES))
def test_huber_reference_and_trainer_on_sets_that_trip_newton(name):
    x, y, delta = HUBER_CASES[name]
    _, result = _check_huber(np.array(x, dtype=float), np.array(y, dtype=float), delta)
    assert result.steps <= 20


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(st.tuples(st.integers(-3, 3), st.integers(-4, 4), st.sampled_from([0.0, 0.5, 1.0, 2.0])), min_size=2, max_size=14),
    outlier=st.booleans(),
    weighted=st.booleans(),
    delta=st.sampled_from([1e-6, 0.1, 1.0, 1e6]),
)
def test_huber_small_integer_data_reach_the_exact_objective(points, outlier, weighted, delta):
    """Tiny integer data, weighted or not: the trainer with defaults stops converged at the reference's objective
    (1e-9 relative), and the reference is no higher than an independent search finds."""
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    w = np.array([p[2] for p in points]) if weighted else None
    if outlier:
        y[-1] = 100.0
    carried = np.ones_like(x) if w is None else w
    if np.unique(x[carried > 0]).shape[0] < 2:  # the line must be determined by the rows that carry weight
        x[0], x[1] = 0.0, 1.0
        carried[:2] = 1.0
    _check_huber(x, y, delta, w)


def test_huber_reference_says_when_the_minimiser_is_not_unique():
    """repeated x at δ = 1e-6: the rows inside ±δ share one x, and turning the line about it keeps the objective
    (δ·Σ sign(r)·(x − x₀) balances): the reference says so, and a turned line has the same objective."""
    x, y = CASES["repeated x"]
    exact = huber_line(x, y, 1e-6)
    assert not exact.unique
    inside = np.abs(exact.a * x + exact.b - y) <= 1e-6
    x0 = np.unique(x[inside])
    assert x0.shape[0] == 1
    for turn in (-1e-3, 1e-3):
        a, b = exact.a + turn, exact.b - turn * x0[0]
        r = np.abs(a * x + b - y)
        value = float(np.mean(np.where(r <= 1e-6, 0.5 * r * r, 1e-6 * (r - 0.5e-6))))
        assert value == pytest.approx(exact.objective, rel=1e-12)
    assert huber_line(x, y, 1e6).unique  # least squares: one line


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(st.tuples(st.integers(-3, 3), st.integers(-4, 4)), min_size=2, max_size=14),
    outlier=st.booleans(),
    case=st.sampled_from(LOSSES),
)
def test_small_integer_data_reach_the_lp_objective(points, outlier, case):
    """Tiny integer data (ties, repeats, flat faces galore): the objective equals the exact LP's."""
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    if np.unique(x).shape[0] < 2:
        x[0] = x[1] + 1
    if outlier:
        y[-1] = 100.0
    loss, tau = case
    exact = quantile_line(x, y, tau, name=loss)
    result = _train(x, y, loss=loss, quantile=tau)
    assert result.converged and result.stop_reason == "converged"
    assert _close(result.loss, exact.objective, 1e-12), (result.loss, exact.objective)


@pytest.mark.parametrize(
    "x, y", [([1, 4], [2, -3]), ([0.1, 0.2, 0.3, 0.4, 0.25], [0.3, 0.7, 1.1, 1.5, 1e4])], ids=["two rows", "four on a line, one outlier"]
)
def test_huber_default_delta_is_not_rounding_when_the_lad_line_holds_most_rows(x, y):
    """The LAD line passes through the rows (their residuals are rounding alone, 1e-16: δ was 2.2e-16): they count as 0, so δ is
    the documented fallback (1.0 when every residual is 0, else the mean |r| as a normal σ), not 1.345 × 4e-16/0.6745,
    and the two rows' line, which nothing else fits exactly, is said to be the only minimiser."""
    from linfit.reference import default_huber_delta

    x, y = np.array(x, dtype=float), np.array(y, dtype=float)
    delta = default_huber_delta(x, y)
    expected = 1.0 if len(x) == 2 else 1.345 * 9999.1 / 5 * np.sqrt(np.pi / 2)
    assert delta == pytest.approx(expected, rel=1e-9)
    assert huber_line(x, y, delta).unique


def test_huber_pieces_with_a_huge_delta_warn_of_nothing():
    """δ = 1e300: the linear piece δ·(|r| − ½δ) overflows, but no row takes it; numpy's warning reached stderr."""
    import warnings

    from linfit.losses import loss_for

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss_for("huber", delta=1e300).numpy_pieces(np.array([2.0, -4.0])).tolist() == [2.0, 8.0]


@pytest.mark.parametrize(
    "rows, delta, refused",
    [
        ("x,y\n1,2\n4,-3\n", "1e-300", True),  # far below any rounding: once "converged" at the start, at a loss of 4e-300
        ("x,y\n1,2\n4,-3\n", "2e-8", True),  # below 1e-8 of y's standard deviation (2.5)
        ("x,y\n1,2\n4,-3\n", "3e-8", False),
        ("x,y\n3,-0.002\n-2,-0.002\n", "6e-16", True),  # y constant: the floor is |y|'s (once "converged" a whole unit off)
    ],
)
def test_a_huber_delta_lost_in_the_rounding_is_refused_by_name(rows, delta, refused, invoke, tmp_path):
    """A δ the residuals' rounding swallows (which rows are inside ±δ would be rounding) is refused with exit 2,
    naming --huber-delta and the floor; just above the floor the run reaches the exact line."""
    path = tmp_path / "d.csv"
    path.write_text(rows)
    result = invoke("train", path, "--loss", "huber", "--huber-delta", delta, "-f", "json")
    if refused:
        assert result.exit_code == 2 and "--huber-delta" in result.stderr and "too small" in result.stderr, result.output
        return
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout)
    assert fit["converged"] and fit["gap"]["objective"] == pytest.approx(0, abs=1e-9) and fit["reference"]["unique"]


def test_a_default_delta_below_the_rounding_floor_is_raised_to_it_and_said():
    """Rows on an exact line to 1e-13 and a tenth far off: the MAD rule gives δ ≈ 1e-13, which the residuals'
    rounding cannot resolve; the default is raised to the floor (1e-8 of y's sd), the note says so, and the
    trainer and the exact reference then agree."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 200)
    y = 2 * x + 1 + rng.normal(size=200) * 1e-13
    y[::10] += 100
    prepared = prepare(Arrays(x, y), TrainConfig(loss="huber"))
    list(prepared.training)
    delta = prepared.training.config.huber_delta
    assert delta == pytest.approx(1e-8 * y.std(), rel=1e-12)
    assert any("raised to that floor" in note for note in prepared.warnings)
    assert prepared.reference is not None and prepared.training.result.converged
    assert _close(prepared.training.result.loss, prepared.reference.objective, 1e-9)


# ── the exact reference against brute force: every two-point line, its objective in Fractions ──────────────


def _brute_force(x, y, tau, w):
    """(the least objective over all two-point lines, whether one line alone reaches it), exact."""
    from fractions import Fraction

    xs, ys = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in y]
    ws = [Fraction(float(v)) for v in (np.ones_like(x) if w is None else w)]
    t = Fraction(tau)

    def objective(a, b):
        rs = [a * xk + b - yk for xk, yk in zip(xs, ys)]
        return sum(wk * ((1 - t) * r if r > 0 else -t * r) for wk, r in zip(ws, rs)) / sum(ws)

    lines = {}
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            if xs[i] != xs[j] and ws[i] and ws[j]:
                a = (ys[j] - ys[i]) / (xs[j] - xs[i])
                lines[(a, ys[i] - a * xs[i])] = None
    values = {line: objective(*line) for line in lines}
    best = min(values.values())
    return best, sum(v == best for v in values.values()) == 1, values


_X8 = np.array([-0.4, 0.1, 0.9, 2.1, 0.9, -0.3, 0.0, -0.5])
_Y8 = np.array([-0.2, 1.3, 8.7, 7.3, 8.7, 0.1, 1.0, -0.5])


@pytest.mark.parametrize(
    "x, y, tau, w, unique",
    [
        # weights of 1e-300 (a duplicated point puts three rows on a vertex: its check must not lose them to tolerances)
        (_X8, _Y8, 0.1, np.full(8, 1e-300), True),
        (_X8, _Y8, 0.1, np.linspace(1, 9, 8) * 1e-172, True),
        # x and y of 1e-200
        (np.array([2, 2, 1, 2, 0, 1, 2.0]) * 1e-200, np.array([2, 1, 1, 0, 1, 2, 0.0]) * 1e-200, 0.25, None, True),
        # x ≈ 1e9, y ≈ 1e12 with weights 1e12 : 1 (the reference had been unavailable)
        (1e9 + np.array([1, 4, 1.0]), 1e12 + np.array([11, 24, 37.0]), 0.9, np.array([1e12, 1, 1e12]), True),
        (1e9 + np.array([3, 0, 4, 4.0]), 1e12 + np.array([2, 14, 27, 0.0]), 0.9, np.array([1, 1, 1e12, 1e12]), True),
        # tied rows at one x, weights 1e12 : 1
        (
            np.array([1, 1, 1, 1, 1, 1, 0, 1.0]),
            np.array([2, 3, 3, 1, 1, 4, 0, 4.0]),
            0.25,
            np.array([1, 1, 1e12, 1e12, 1e12, 1e12, 1, 1e12]),
            True,
        ),
        # flat faces: the median of two rows at each x; a τ of 0.1 over ten rows at one x
        (np.array([1, 1, 3, 3.0]), np.array([0, 1, 0, 1.0]), 0.5, None, False),
        (np.repeat([0.0, 1.0], [10, 9]), np.r_[np.arange(10.0), np.arange(9.0)], 0.1, None, False),
    ],
)
def test_quantile_reference_is_the_best_two_point_line(x, y, tau, w, unique):
    from fractions import Fraction

    best, alone, values = _brute_force(x, y, tau, w)
    ref = quantile_line(x, y, tau, w)
    i, j = ref.points
    a = (Fraction(y[j]) - Fraction(y[i])) / (Fraction(x[j]) - Fraction(x[i]))
    assert values[(a, Fraction(y[i]) - a * Fraction(x[i]))] == best  # the line through its two rows is optimal, exactly
    assert ref.objective == pytest.approx(float(best), rel=1e-12, abs=0)
    assert ref.unique == unique
    assert alone or not unique  # a flat face has other optimal two-point lines


def test_reference_objective_is_taken_about_the_centres():
    """x ≈ 1e9, y ≈ 1e12: in the data's units each residual carries b's rounding (1e-4); the objectives are exact
    to rounding, the same as on the data shifted to 0 first."""
    rng = np.random.default_rng(5)
    x = 1e9 + rng.integers(0, 50, 40)
    y = 1e12 + 0.7 * (x - 1e9) + rng.integers(0, 30, 40)
    dx, dy = x - 1e9, y - 1e12  # exact
    for line, near in ((quantile_line(x, y, 0.3), quantile_line(dx, dy, 0.3)), (huber_line(x, y, 5.0), huber_line(dx, dy, 5.0))):
        assert line.objective == pytest.approx(near.objective, rel=1e-13)


def test_quantile_reference_over_many_repeated_rows(monkeypatch):
    """Integer rows repeated many times (HiGHS solving a sample of them, as it does beyond HIGHS_ROWS rows): the
    turn about one row stalls on a vertex that many rows share; the reference must still be had, and be the LP's optimum."""
    from scipy.optimize import linprog

    import linfit.reference

    monkeypatch.setattr(linfit.reference, "HIGHS_ROWS", 50)
    rng = np.random.default_rng(131)
    n, k = int(rng.integers(100, 600)), int(rng.integers(3, 12))  # 332 rows, each x and y one of k = 8 integers
    x, y = rng.integers(0, k, n).astype(float), rng.integers(0, k, n).astype(float)
    ref = quantile_line(x, y, 0.5)
    cost = np.concatenate([[0, 0], np.full(n, 0.5), np.full(n, 0.5)])  # min Σ ½·u⁺ + ½·u⁻, a·x + b − u⁺ + u⁻ = y
    lp = linprog(
        cost,
        A_eq=np.hstack([np.column_stack([x, np.ones(n)]), -np.eye(n), np.eye(n)]),
        b_eq=y,
        bounds=[(None, None)] * 2 + [(0, None)] * (2 * n),
        method="highs",
    )
    assert ref.objective == pytest.approx(lp.fun / n, rel=1e-9)


@pytest.mark.parametrize(
    "x, y, tau, w",
    [
        # a row of weight 1 on a vertex beside rows of weight 1e12: its subgradient's rounding must not widen theirs
        (np.array([0, 0, 0, 3, 0, 2.0]), np.array([3, 1, 2, 0, 0, 1.0]), 0.999, np.array([1, 1, 1e12, 1e12, 1e12, 1e12])),
        # rows of weight 1e12 on the vertex: their residuals' rounding is not the loss of the light rows
        (np.array([2, 0, 0, 1, 0.0]), np.array([3, 1, 2, 0, 3.0]), 0.75, np.array([1e12, 1e12, 1, 1, 1])),
        # a Newton step that overshoots by 1e12 is halved, not taken for divergence
        (np.array([2, 1, 1, 1, 1.0]), np.array([2, 1, 0, 0, 3.0]), 0.5, np.array([1, 1, 1e12, 1, 1])),
    ],
)
def test_trainer_reaches_the_best_two_point_line_under_weights_1e12_to_1(x, y, tau, w):
    best = float(_brute_force(x, y, tau, w)[0])
    for road in ({}, {"chunk_rows": 2}, {"standardize": False}):
        training = prepare(Arrays(x, y, w=w), TrainConfig(loss="quantile", quantile=tau, **road)).training
        list(training)
        assert training.result.converged
        assert training.result.loss == pytest.approx(best, rel=1e-9, abs=0), road


def test_unstandardised_offset_data_do_not_make_every_row_a_tie():
    """x ≈ 1e9, y ≈ 1e12 unstandardised: a residual's rounding is the slope's times the row's lever |x − xᵢ|, not
    times |x| (which counted every row on the line and passed a wrong vertex as converged, with a loss of 0)."""
    x = 1e9 + np.array([1, 1, 3, 1, 2, 0.0])
    y = 1e12 + np.array([26, 16, 44, 0, 45, 22.0])
    w = np.array([1, 1e12, 1, 1, 1, 1])
    best = float(_brute_force(x, y, 0.001, w)[0])
    training = prepare(Arrays(x, y, w=w), TrainConfig(loss="quantile", quantile=0.001, standardize=False, steps=50)).training
    list(training)
    assert training.result.loss >= best * (1 - 1e-9)
    assert not training.result.converged or training.result.loss == pytest.approx(best, rel=1e-6, abs=0)
