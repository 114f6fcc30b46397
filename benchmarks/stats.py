"""Benchmarks of the statistics after the fit (not tests: nothing here asserts a time).

    python benchmarks/stats.py            # 1e6 interval rows; eval of a 2e6-row file (--rows to change)
    python benchmarks/stats.py --quick    # small sizes: checks that the benchmark still works

1. `predict --interval` maths (linfit.intervals.interval_bounds) for n predictions, beside statsmodels'
   get_prediction().summary_frame() for the same x, and the largest relative difference between them.
2. `linfit eval --chunk-rows` on a CSV file of --rows rows, beside one pyarrow streaming read of the same file
   (pyarrow.csv.open_csv, summing the squared residuals batch by batch): wall seconds and peak resident memory,
   each in its own process. Medians of interleaved repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
sys.path.insert(0, str(HERE))
from run import make_csv  # noqa: E402 (the same data benchmarks/run.py trains on)

PYARROW_READ = """
import sys, time
def peak():  # this process's own high-water mark (ru_maxrss would include the parent's, kept across exec)
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
import pyarrow.csv as pc, numpy as np
start = time.perf_counter()
total, n = 0.0, 0
reader = pc.open_csv(sys.argv[1], read_options=pc.ReadOptions(block_size=1 << 24))
for batch in reader:
    x = batch.column("x").to_numpy(); y = batch.column("y").to_numpy()
    total += float(np.square(y - (3.0 * x + 2.0)).sum()); n += len(x)
print(time.perf_counter() - start, peak(), total / n)
"""

LINFIT_EVAL = """
import sys, time
def peak():  # this process's own high-water mark (ru_maxrss would include the parent's, kept across exec)
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
from typer.testing import CliRunner
from linfit.cli import app
start = time.perf_counter()
result = CliRunner().invoke(app, ["eval", sys.argv[2], sys.argv[1], "--chunk-rows", "1000000", "-f", "json"])
assert result.exit_code == 0, result.output
import json
print(time.perf_counter() - start, peak(), json.loads(result.stdout)["mse"])
"""


def model_file() -> Path:
    path = DATA / "eval_model.json"
    record = {"format": "linfit-model", "format_version": 1, "a": 3.0, "b": 2.0, "loss_name": "half_mse", "data": {"x": "x", "y": "y"}}
    path.write_text(json.dumps(record))
    return path


def intervals(rows: int, repeats: int) -> dict:
    import statsmodels.api as sm

    from linfit.intervals import interval_bounds
    from linfit.reference import least_squares
    from linfit.stats import Basis, fit_stats

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, 10_000)
    y = 3 * x + 2 + rng.normal(0, 1, x.size)
    ols = least_squares(x, y)
    basis = Basis(**vars(fit_stats(x, y, ols.a, ols.b).basis))
    at = rng.uniform(-50, 150, rows)
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        lower, upper = interval_bounds(at, basis, "prediction", 0.95)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        frame = fit.get_prediction(sm.add_constant(at)).summary_frame(alpha=0.05)
        theirs.append(time.perf_counter() - start)
    worst = max(float(np.max(np.abs(lower - frame["obs_ci_lower"]) / np.abs(frame["obs_ci_lower"]))), 0.0)
    return {
        "rows": rows,
        "linfit_s": statistics.median(ours),
        "statsmodels_s": statistics.median(theirs),
        "largest_relative_difference": worst,
    }


def evaluation(rows: int, repeats: int) -> dict:
    data, model = make_csv(rows), model_file()
    runs: dict[str, list] = {"linfit eval --chunk-rows 1e6": [], "pyarrow open_csv": []}
    for _ in range(repeats):
        for name, script in (("linfit eval --chunk-rows 1e6", LINFIT_EVAL), ("pyarrow open_csv", PYARROW_READ)):
            out = subprocess.run([sys.executable, "-c", script, str(data), str(model)], capture_output=True, text=True, check=True)
            seconds, peak, mse = out.stdout.split()
            runs[name].append((float(seconds), int(peak), float(mse)))
    return {
        name: {
            "seconds": statistics.median(r[0] for r in results),
            "peak_mib": statistics.median(r[1] for r in results) / 2**20,
            "mse": results[0][2],
        }
        for name, results in runs.items()
    } | {"rows": rows, "file_mib": data.stat().st_size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    results = {
        "intervals": intervals(10_000 if args.quick else 1_000_000, repeats),
        "eval": evaluation(20_000 if args.quick else args.rows, repeats),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
