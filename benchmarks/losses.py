"""The piecewise losses on a file with 5 % gross outliers: linfit's defaults beside scikit-learn and
statsmodels, every gap measured against the same exact optimum (linfit.reference), in the same run.

    python benchmarks/losses.py                 # 1e6 rows
    python benchmarks/losses.py --rows 20000    # a quick check that it still works

For each loss: steps, seconds and the relative gap of the objective Σ ℓ(rᵢ)/n to the exact minimum, for
linfit (`train`'s road: the file read, the exact reference and the loop, each timed) and for
  huber:    SGDRegressor(loss="huber", epsilon=δ, penalty=None) — the same loss, plain SGD;
            HuberRegressor — it estimates its own scale jointly, so its line minimises another objective;
            statsmodels RLM(HuberT) with the same fixed scale (IRLS);
  absolute / quantile τ = 0.9:
            QuantileRegressor(alpha=0, solver="highs") — on a sample of --lp-rows rows (HiGHS on all 1e6
            rows takes far too long), so its gap is that of the sample's line on all rows;
            statsmodels QuantReg (IRLS) on all rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_csv(rows: int) -> Path:
    path = HERE / "_data" / f"outliers_{rows:.0e}.csv".replace("+", "")
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        rng = np.random.default_rng(rows)
        x = rng.uniform(0, 100, rows)
        y = 3.0 * x + 2.0 + rng.normal(0, 1.0, rows)
        gross = rng.random(rows) < 0.05
        y[gross] += rng.choice([-1, 1], gross.sum()) * rng.uniform(50, 500, gross.sum())
        path.with_suffix(".tmp").write_text("x,y\n" + "".join(f"{float(u)!r},{float(v)!r}\n" for u, v in zip(x, y)))
        path.with_suffix(".tmp").rename(path)
    return path


def gap(loss, x, y, a, b, exact: float) -> float:
    from linfit.reference import loss_objective

    return (loss_objective(loss, x, y, a, b) - exact) / exact


def timed(function):
    began = time.perf_counter()
    value = function()
    return value, time.perf_counter() - began


def run_linfit(path: Path, loss: str, tau: float) -> dict:
    from linfit.config import TrainConfig
    from linfit.pipeline import prepare

    config = TrainConfig(loss=loss, quantile=tau)
    prepared, prepare_s = timed(lambda: prepare(str(path), config))
    training = prepared.training
    _, train_s = timed(lambda: list(training))
    result = training.result
    reference = prepared.reference
    return {
        "steps": result.steps,
        "converged": result.converged,
        "train_s": train_s,
        "prepare_s (read + δ + exact reference + stats)": prepare_s,
        "gap": (result.loss - reference.objective) / reference.objective,
        "a": result.a,
        "b": result.b,
        "exact": {"a": reference.a, "b": reference.b, "objective": reference.objective, "unique": reference.unique},
        "delta": training.config.huber_delta,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lp-rows", type=int, default=20_000, help="rows of the sample QuantileRegressor sees")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    import statsmodels.api as sm
    from sklearn.linear_model import HuberRegressor, QuantileRegressor, SGDRegressor

    from linfit.losses import HUBER_TUNING, loss_for

    path = make_csv(args.rows)
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    x, y = data[:, 0], data[:, 1]
    X = sm.add_constant(x)
    sample = np.random.default_rng(0).choice(args.rows, min(args.lp_rows, args.rows), replace=False)
    out: dict = {"rows": args.rows, "outliers": "5 %", "threads": 1, "results": {}}
    warnings.simplefilter("ignore")

    mine = run_linfit(path, "huber", 0.5)
    loss = loss_for("huber", delta=mine["delta"])
    exact = mine["exact"]["objective"]
    rows = {"linfit": mine}
    sgd, s = timed(lambda: SGDRegressor(loss="huber", epsilon=mine["delta"], penalty=None, random_state=0).fit(x[:, None], y))
    rows["SGDRegressor(huber)"] = {
        "seconds": s,
        "steps (epochs)": int(sgd.n_iter_),
        "gap": gap(loss, x, y, sgd.coef_[0], sgd.intercept_[0], exact),
    }
    hub, s = timed(lambda: HuberRegressor(epsilon=HUBER_TUNING, alpha=0, max_iter=1000).fit(x[:, None], y))
    rows["HuberRegressor (own scale)"] = {
        "seconds": s,
        "steps": int(hub.n_iter_),
        "gap": gap(loss, x, y, hub.coef_[0], hub.intercept_, exact),
    }
    scale = mine["delta"] / HUBER_TUNING

    rlm, s = timed(
        lambda: sm.RLM(y, X, M=sm.robust.norms.HuberT(t=HUBER_TUNING)).fit(
            scale_est=_FixedScale(scale), update_scale=False, maxiter=200, tol=1e-10, conv="coefs"
        )
    )
    rows["statsmodels RLM(HuberT, fixed scale)"] = {
        "seconds": s,
        "steps": int(rlm.fit_history["iteration"]),
        "gap": gap(loss, x, y, rlm.params[1], rlm.params[0], exact),
    }
    out["results"]["huber"] = rows

    for name, tau in (("absolute", 0.5), ("quantile", 0.9)):
        mine = run_linfit(path, name, tau)
        loss = loss_for(name, tau=tau)
        exact = mine["exact"]["objective"]
        rows = {"linfit": mine}
        qr, s = timed(lambda: QuantileRegressor(quantile=tau, alpha=0, solver="highs").fit(x[sample, None], y[sample]))
        rows[f"QuantileRegressor(highs) on {len(sample):,} rows"] = {
            "seconds": s,
            "gap": gap(loss, x, y, qr.coef_[0], qr.intercept_, exact),
        }
        sq, s = timed(lambda: sm.QuantReg(y, X).fit(q=tau, max_iter=5000))
        rows["statsmodels QuantReg"] = {
            "seconds": s,
            "steps": int(sq.iterations),
            "gap": gap(loss, x, y, sq.params[1], sq.params[0], exact),
        }
        out["results"][f"{name}" + (f" τ={tau}" if name == "quantile" else "")] = rows
    json.dump(out, sys.stdout, indent=1, default=float)
    print()


class _FixedScale:
    """statsmodels' scale_est hook returning one fixed scale (the δ/1.345 linfit uses)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, *arguments):
        return self.scale


if __name__ == "__main__":
    main()
