"""linfit's benchmark: every figure a ratio against a baseline measured in the same run, on the same machine.

    python benchmarks/run.py            # the full run (1e6 and 1e7 rows; a few minutes)
    python benchmarks/run.py --quick    # small sizes, one repetition: checks that the benchmark still works
    python benchmarks/run.py --compile  # also time torch.compile's fused step (its compile takes ~20 s)

Wall times are medians of interleaved repetitions: this machine's timings drift by tens of per cent
from one minute to the next, and interleaving spreads the drift over both sides of each ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
PY = sys.executable


def make_csv(rows: int) -> Path:
    """y = 3·x + 2 + noise, x uniform on [0, 100): written once, reused by later runs."""
    path = DATA / f"line_{rows:.0e}.csv".replace("+", "")
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        rng = np.random.default_rng(rows)
        x = rng.uniform(0, 100, rows)
        y = 3.0 * x + 2.0 + rng.normal(0, 1.0, rows)
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as stream:
            stream.write("x,y\n")
            for start in range(0, rows, 1_000_000):  # a million rows of text at a time: bounded memory at 2e7
                np.savetxt(
                    stream, np.column_stack([x[start : start + 1_000_000], y[start : start + 1_000_000]]), delimiter=",", fmt="%.17g"
                )
        temporary.rename(path)
    return path


def wall(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def interleaved(commands: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """Median wall time of each command, the commands taking turns."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, command in commands.items():  # warm the disk cache and bytecode once
        wall(command)
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(wall(command))
    return {name: statistics.median(values) for name, values in times.items()}


def peak_rss_mb(command: list[str]) -> float:
    out = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1)) / 1024


BASELINE_SCRIPT = """
import sys, torch, pandas as pd, numpy as np
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
(a, b), *_ = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)
print(float(a), float(b))
"""

SGD_SCRIPT = """
import sys, time, pandas as pd, numpy as np
from sklearn.linear_model import SGDRegressor
from sklearn.preprocessing import StandardScaler
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
x, y = frame[["x"]].to_numpy(), frame["y"].to_numpy()
start = time.perf_counter()
scaler = StandardScaler().fit(x)
model = SGDRegressor(tol=1e-12, max_iter=1000, random_state=0).fit(scaler.transform(x), y)
a = model.coef_[0] / scaler.scale_[0]
b = model.intercept_[0] - a * scaler.mean_[0]
print(float(a), float(b), time.perf_counter() - start)
"""


def run_json(command: list[str]) -> dict:
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def reference(path: Path) -> tuple[float, float]:
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([data[:, 0], np.ones(len(data))]), data[:, 1], rcond=None)
    return float(a), float(b)


def relative(value: float, ref: float) -> float:
    return abs(value - ref) / abs(ref)


def bench_startup(repeats: int) -> list[tuple]:
    linfit = [PY, "-m", "linfit"]
    times = interleaved(
        {
            "import torch": [PY, "-c", "import torch"],
            "linfit --help": [*linfit, "--help"],
            "linfit --version": [*linfit, "--version"],
            "linfit config": [*linfit, "config"],
            "linfit grad --x 1.4 --y 2.1": [*linfit, "grad", "--x", "1.4", "--y", "2.1"],
        },
        repeats,
    )
    base = times.pop("import torch")
    targets = {"linfit --help": 0.2, "linfit --version": 0.2, "linfit config": 0.2, "linfit grad --x 1.4 --y 2.1": 1.2}
    rows = [("python -c 'import torch'", f"{base:.3f} s", "1.00 (baseline)", "")]
    for name, seconds in times.items():
        rows.append((name, f"{seconds:.3f} s", f"{seconds / base:.2f}× import torch", f"≤ {targets[name]}×"))
    return rows


def bench_targets(path: Path, repeats: int) -> list[tuple]:
    """The two start-up targets, measured together: all four commands take turns, so drift hits each alike.

    `linfit train` (defaults) against one process that imports torch, reads the file with pandas' pyarrow
    engine and calls numpy's lstsq (≤ 1.0×); `linfit grad --x 1.4 --y 2.1` against `import torch` (≤ 1.2×).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(BASELINE_SCRIPT)
    try:
        times = interleaved(
            {
                "import torch": [PY, "-c", "import torch"],
                "grad": [PY, "-m", "linfit", "grad", "--x", "1.4", "--y", "2.1"],
                "baseline": [PY, script.name, str(path)],
                "train": [PY, "-m", "linfit", "train", str(path)],
            },
            repeats,
        )
    finally:
        os.unlink(script.name)
    return [
        ("python -c 'import torch'", f"{times['import torch']:.3f} s", "1.00 (baseline)", ""),
        ("linfit grad --x 1.4 --y 2.1", f"{times['grad']:.3f} s", f"{times['grad'] / times['import torch']:.2f}× import torch", "≤ 1.2×"),
        ("import torch + pandas (pyarrow) read + lstsq", f"{times['baseline']:.3f} s", "1.00 (baseline)", ""),
        (
            f"linfit train {path.name} (defaults, table)",
            f"{times['train']:.3f} s",
            f"{times['train'] / times['baseline']:.2f}× the script",
            "≤ 1.0×",
        ),
    ]


def bench_ingest(path: Path, repeats: int) -> list[tuple]:
    import pyarrow.csv as pacsv

    from linfit.data import load_samples

    def best(function) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    pacsv.read_csv(path), load_samples(path)  # warm
    arrow = best(lambda: pacsv.read_csv(path))
    ours = best(lambda: load_samples(path))
    return [
        (f"pyarrow.csv.read_csv ({path.name})", f"{arrow * 1e3:.0f} ms", "1.00 (baseline)", ""),
        ("linfit load_samples → float64 x, y", f"{ours * 1e3:.0f} ms", f"{ours / arrow:.2f}×", "≤ 1.3×"),
    ]


def bench_train(path: Path, repeats: int) -> list[tuple]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(BASELINE_SCRIPT)
    times = interleaved(
        {
            "baseline": [PY, script.name, str(path)],
            "linfit": [PY, "-m", "linfit", "train", str(path), "-q", "-f", "json"],
        },
        repeats,
    )
    os.unlink(script.name)
    a, b = reference(path)
    fit = run_json([PY, "-m", "linfit", "train", str(path), "-q", "-f", "json"])
    rows = [
        ("import torch + pandas read + lstsq", f"{times['baseline']:.3f} s", "1.00 (baseline)", "exact"),
        (
            f"linfit train (default, {fit['steps']} steps)",
            f"{times['linfit']:.3f} s",
            f"{times['linfit'] / times['baseline']:.2f}×  (≤ 1.0×)",
            f"a {relative(fit['a'], a):.1e}, b {relative(fit['b'], b):.1e} from lstsq",
        ),
    ]
    try:
        import sklearn  # noqa: F401
    except ImportError:
        rows.append(("scikit-learn SGDRegressor", "not installed", "", ""))
        return rows
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(SGD_SCRIPT)
    start = time.perf_counter()
    out = subprocess.run([PY, script.name, str(path)], check=True, capture_output=True, text=True).stdout.split()
    total = time.perf_counter() - start
    os.unlink(script.name)
    sgd_a, sgd_b, fit_seconds = float(out[0]), float(out[1]), float(out[2])
    rows.append(
        (
            "scikit-learn StandardScaler + SGDRegressor",
            f"{total:.3f} s (fit {fit_seconds:.2f} s)",
            f"{total / times['baseline']:.2f}×",
            f"a {relative(sgd_a, a):.1e}, b {relative(sgd_b, b):.1e} from lstsq",
        )
    )
    return rows


def bench_step(rows_count: int, repeats: int, with_compile: bool) -> list[tuple]:
    import torch

    from linfit.config import TrainConfig
    from linfit.pipeline import Arrays, prepare

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 100, rows_count)
    y = 3 * x + 2 + rng.normal(0, 1, rows_count)
    x32, y32 = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))

    def median_ms(function, count: int = repeats) -> float:
        function()
        times = []
        for _ in range(count):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3

    floor = median_ms(lambda: (x32.sum() + y32.sum()).item(), 3 * repeats)
    alpha = torch.tensor(0.3, dtype=torch.float32, requires_grad=True)
    beta = torch.tensor(0.1, dtype=torch.float32, requires_grad=True)

    def notebook_step():
        loss = 0.5 * ((alpha * x32 + beta - y32) ** 2).mean()
        loss.backward()
        alpha.grad = beta.grad = None

    results = [
        (f"read x and y once ({rows_count:.0e} rows, float32)", f"{floor:.2f} ms", "1.00 (floor)", ""),
        ("notebook-style step (a·x + b, whole arrays)", f"{median_ms(notebook_step):.2f} ms", "", ""),
    ]
    results[1] = (*results[1][:2], f"{float(results[1][1].split()[0]) / floor:.1f}× floor", "")
    variants = [("linfit step (chunked, default)", False)] + ([("linfit step (--compile)", True)] if with_compile else [])
    for name, compiled in variants:
        config = TrainConfig(dtype="float32", compile=compiled)
        training = prepare(Arrays(x, y), config).training
        a_t = torch.tensor(0.3, dtype=torch.float32, requires_grad=True)
        b_t = torch.tensor(0.1, dtype=torch.float32, requires_grad=True)

        def step():
            training._forward_backward(a_t, b_t)
            a_t.grad = b_t.grad = None

        compile_note = ""
        if compiled:
            start = time.perf_counter()
            step()
            compile_note = f"compile {time.perf_counter() - start:.1f} s"
        ms = median_ms(step)
        results.append((name, f"{ms:.2f} ms", f"{ms / floor:.1f}× floor  (≤ 3×)", compile_note))
    return results


def bench_threads(repeats: int, sizes: tuple[int, ...]) -> list[tuple]:
    """A step at 1e5 and 1e6 rows with 1 and 2 threads, the machine idle and with the other core busy."""
    code = (
        "import sys, time, statistics, numpy as np, torch\n"
        "from linfit.config import TrainConfig\nfrom linfit.pipeline import Arrays, prepare\n"
        "torch.set_num_threads(int(sys.argv[1]))\n"
        "x = np.random.default_rng(0).uniform(0, 1, int(sys.argv[2])); y = 2 * x + 1\n"
        "t = prepare(Arrays(x, y), TrainConfig()).training; a = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)\n"
        "b = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)\n"
        "times = []\n"
        "for _ in range(max(20, 30_000_000 // x.size)):\n"
        "    s = time.perf_counter(); t._forward_backward(a, b); a.grad = b.grad = None; times.append(time.perf_counter() - s)\n"
        "print(statistics.median(times) * 1e3)\n"
    )
    rows = []
    for load in (False, True):
        hog = subprocess.Popen([PY, "-c", "while True: pass"]) if load else None
        try:
            for size in sizes:
                for threads in (1, 2):
                    ms = statistics.median(
                        float(subprocess.run([PY, "-c", code, str(threads), str(size)], check=True, capture_output=True, text=True).stdout)
                        for _ in range(repeats)
                    )
                    state = "other core busy" if load else "idle"
                    rows.append((f"step at {size:.0e} rows, {threads} thread(s), {state}", f"{ms:.3f} ms", "", ""))
        finally:
            if hog:
                hog.kill()
                hog.wait()
    return rows


def bench_memory(rows_count: int) -> list[tuple]:
    """Peak RSS of a float32 fit: above the bare torch process, and per row (a tenth of the rows vs all)."""
    baseline = peak_rss_mb([PY, "-c", "import torch, numpy"])
    small = peak_rss_mb([PY, "-m", "linfit", "train", str(make_csv(rows_count // 10)), "--dtype", "float32", "-q", "-f", "json"])
    peak = peak_rss_mb([PY, "-m", "linfit", "train", str(make_csv(rows_count)), "--dtype", "float32", "-q", "-f", "json"])
    data_mb = rows_count * 2 * 4 / 2**20
    marginal = (peak - small) / (data_mb * 0.9)
    return [
        ("python + torch + numpy, nothing else", f"{baseline:.0f} MB", "", ""),
        (f"linfit train, {rows_count // 10:.0e} rows, float32", f"{small:.0f} MB", "", ""),
        (
            f"linfit train, {rows_count:.0e} rows, float32",
            f"{peak:.0f} MB",
            f"{(peak - baseline) / data_mb:.2f}× the size of x and y above the torch process",
            f"≤ 3×  (x and y: {data_mb:.0f} MB)",
        ),
        ("memory per row, the tenfold step between the two", "", f"{marginal:.2f}× the size of x and y", "≤ 3×"),
    ]


def bench_streaming(small: int, large: int) -> list[tuple]:
    """Peak memory of --chunk-rows while the file grows tenfold: it should not grow with it."""
    rows = []
    chunk = max(small // 10, 1000)
    for count in (small, large):
        path = make_csv(count)
        peak = peak_rss_mb([PY, "-m", "linfit", "train", str(path), "--chunk-rows", str(chunk), "-q", "-f", "json"])
        rows.append(
            (f"--chunk-rows {chunk}, {count:.0e} rows ({path.stat().st_size / 2**20:.0f} MB of CSV)", f"{peak:.0f} MB", "", "peak RSS")
        )
    return rows


PASS_SCRIPT = """
import json, sys, time, torch
from linfit.read import Reading
from linfit.config import TrainConfig
from linfit.frame import frame_for
from linfit.sources import CachedChunks, FileChunks, cached_pass
path, chunk = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
cache, facts, _ = cached_pass(Reading(path), chunk, "float64", False)
build = time.perf_counter() - start
frame, config = frame_for(cache.moments, True), TrainConfig(device="cpu")
parsed = FileChunks(lambda: Reading(path), chunk, cache.moments, frame, config)
cached = CachedChunks(cache, cache.moments, frame, config)
def one(source):
    start = time.perf_counter()
    rows = sum(x.shape[0] for x, _ in source)
    assert rows == cache.rows
    return time.perf_counter() - start
print(json.dumps({"build": build, "parse": one(parsed), "cached": sorted(one(cached) for _ in range(3))[1]}))
"""

STREAM_BASELINE_SCRIPT = """
import sys, torch, pyarrow.csv as pc, pyarrow.compute as pcmp
rows = total = 0
for batch in pc.open_csv(sys.argv[1]):
    rows += batch.num_rows
    total += pcmp.sum(batch.column(1)).as_py()
print(rows, total / rows)
"""


def head_csv(path: Path, rows: int) -> Path:
    """The header and first `rows` rows of a CSV (a smaller file of the same kind), written once."""
    smaller = DATA / f"{path.stem}_head{rows:.0e}.csv".replace("+", "")
    if not smaller.exists():
        with path.open("rb") as source, smaller.with_suffix(".tmp").open("wb") as out:
            for _ in range(rows + 1):
                out.write(source.readline())
        smaller.with_suffix(".tmp").rename(smaller)
    return smaller


def timed_rss(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one run."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 1024
    return seconds, peak, done.stdout


def bench_stream(rows_count: int, chunk: int) -> list[tuple]:
    """The pass cache: a streamed pass parsed vs read back; a default streamed fit vs one pyarrow stream
    of the file; memory as the file grows tenfold; bytes each of two torchrun ranks parses."""
    path = make_csv(rows_count) if rows_count < 10**7 else DATA / f"line_{rows_count:.0e}.csv".replace("+", "")
    if not path.exists():
        path = make_csv(rows_count)
    size_mb = path.stat().st_size / 1e6
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    passes = json.loads(
        subprocess.run([PY, "-c", PASS_SCRIPT, str(path), str(chunk)], check=True, capture_output=True, text=True, env=env).stdout
    )
    rows = [
        (
            f"a streamed pass, parsing the text ({rows_count:.0e} rows, {size_mb:.0f} MB)",
            f"{passes['parse']:.2f} s",
            "1.00 (before)",
            f"{size_mb / passes['parse']:.0f} MB/s of CSV",
        ),
        (
            "the same pass read back from the pass cache",
            f"{passes['cached']:.3f} s",
            f"{passes['cached'] / passes['parse']:.3f}× (after)",
            "median of 3, page cache warm",
        ),
        (
            "the first pass: parse, moments and cache written",
            f"{passes['build']:.2f} s",
            f"{passes['build'] / passes['parse']:.2f}× a parsed pass",
            "",
        ),
    ]
    baseline, _, _ = timed_rss([PY, "-c", STREAM_BASELINE_SCRIPT, str(path)])
    fit_s, fit_mb, out = timed_rss([PY, "-m", "linfit", "train", str(path), "--chunk-rows", str(chunk), "-q", "-f", "json"])
    fit = json.loads(out)
    small = head_csv(path, rows_count // 10)
    _, small_mb, _ = timed_rss([PY, "-m", "linfit", "train", str(small), "--chunk-rows", str(chunk), "-q", "-f", "json"])
    rows += [
        ("import torch + pyarrow open_csv, one streamed read", f"{baseline:.2f} s", "1.00 (baseline)", ""),
        (
            f"linfit train --chunk-rows {chunk} (defaults, {fit['steps']} steps)",
            f"{fit_s:.2f} s",
            f"{fit_s / baseline:.2f}×  (≤ 3×)",
            f"training loop {fit['wall_time_s']:.2f} s",
        ),
        (f"peak RSS, --chunk-rows {chunk}, {rows_count // 10:.0e} rows", f"{small_mb:.0f} MB", "", ""),
        (
            f"peak RSS, --chunk-rows {chunk}, {rows_count:.0e} rows",
            f"{fit_mb:.0f} MB",
            f"{fit_mb / small_mb:.2f}× for 10× the rows",
            "flat",
        ),
    ]
    command = [
        PY,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "linfit",
        "train",
        str(path),
        "--chunk-rows",
        str(chunk),
        "-q",
        "-f",
        "json",
    ]
    spread_s, _, out = timed_rss(command)
    shared = json.loads(out)
    for rank in shared["data"]["ranks"]:
        share = rank["bytes"] / path.stat().st_size
        rows.append(
            (
                f"torchrun 2 ranks, rank {rank['rank']}: bytes parsed",
                f"{rank['bytes'] / 1e6:.0f} MB",
                f"{share:.1%} of the file  (≤ 55%)",
                f"{rank['rows']} rows",
            )
        )
    rows.append(("torchrun 2 ranks, the whole run", f"{spread_s:.2f} s", f"{spread_s / fit_s:.2f}× one process", "2 cores shared"))
    return rows


def machine() -> str:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = [f"python {platform.python_version()}", f"torch {torch.__version__}", f"numpy {np.__version__}"]
    for name in ("pandas", "pyarrow", "sklearn"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            pass
    return f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; " + ", ".join(versions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (the tests run this)")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile step")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--only", default="", help="comma-separated sections: startup,targets,ingest,train,step,threads,memory,streaming,stream"
    )
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 7)
    medium, large = (10**4, 10**5) if args.quick else (10**6, 10**7)
    sections = [
        ("startup", "start-up", lambda: bench_startup(repeats)),
        ("targets", f"start-up targets (grad; train {medium:.0e} rows)", lambda: bench_targets(make_csv(medium), repeats)),
        ("ingest", "CSV ingest", lambda: bench_ingest(make_csv(medium), repeats)),
        ("train", f"train {medium:.0e} rows to lstsq's answer", lambda: bench_train(make_csv(medium), repeats)),
        ("step", f"one full-batch step at {large:.0e} rows", lambda: bench_step(large, repeats, args.compile)),
        ("threads", "threads", lambda: bench_threads(1 if args.quick else 3, (10**4,) if args.quick else (10**5, 10**6))),
        ("memory", f"peak memory, {large:.0e} rows", lambda: bench_memory(large)),
        ("streaming", "streaming from disk", lambda: bench_streaming(medium, large)),
        (
            "stream",
            f"streamed passes and ranks, {2 * large:.0e} rows",
            lambda: bench_stream(2 * large, 10_000 if not args.quick else 1_000),
        ),
    ]
    wanted = set(filter(None, args.only.split(",")))
    sections = [(title, run) for key, title, run in sections if not wanted or key in wanted]
    print(f"# linfit benchmark, {time.strftime('%Y-%m-%d')}\n{machine()}\n")
    print("| what | time / size | ratio | note |\n|---|---|---|---|")
    for title, run in sections:
        print(f"| **{title}** | | | |")
        for row in run():
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
