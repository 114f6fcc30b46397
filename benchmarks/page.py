"""How fast the HTML report answers a hand: script time per slider move, measured inside headless Chromium.

    python benchmarks/page.py [--rows 1000000] [--moves 100] [--whatif-moves 20]

It trains on a 1e6-row CSV (made once under benchmarks/_data/, as benchmarks/run.py makes it) with
--report, opens the page from disk in Debian's chromium (or LINFIT_CHROMIUM) through Playwright, and
times, with performance.now() inside the page, the script each move runs: `moves` moves of the step
slider (every panel redrawn), then `whatif-moves` moves of each what-if control, Adam with β₁ 0–0.5 and
the learning rate near the slider's top included (the case that once froze the tab). It prints the
median and the largest time of each, and the page's size. A figure to read, not a test: timings on a
shared machine drift.

Measured 2026-12-03, 2 shared cores under a load average of ~16 (both pages timed back to back), 1e6 rows,
ms of script per move, median / max:

| move                               | before (clear & redraw all) | after (marks move; paths clipped, thinned) |
|------------------------------------|-----------------------------|--------------------------------------------|
| step slider, 100 moves             | 221 / 680                   | 0.3 / 17                                   |
| what-if lr, gradient descent       | 220 / 561                   | 35 / 139                                   |
| what-if momentum                   | 449 / 1095                  | 36 / 89                                    |
| what-if lr near the top, Adam β₁ 0 | 387 / 699                   | 29 / 80                                    |
| what-if β₁ 0–0.5, Adam             | 566 / 1225                  | 36 / 87                                    |

The page: 158 kB before, 200 kB after (5,000 scatter points; the script and style are ~90 kB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import make_csv  # the same data benchmarks/run.py trains on

TIMED = """([selector, values]) => {
  const e = document.querySelector(selector), times = [];
  for (const v of values) {
    const t0 = performance.now();
    e.value = String(v);
    e.dispatchEvent(new Event(e.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
    times.push(performance.now() - t0);
  }
  return times;
}"""


def summary(name: str, times: list[float]) -> str:
    return f"{name:<58} median {statistics.median(times):8.2f} ms   max {max(times):8.2f} ms   ({len(times)} moves)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--whatif-moves", type=int, default=20)
    parser.add_argument("--page", type=Path, help="time this page instead of training one")
    options = parser.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("LINFIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as folder:
        page_path = options.page
        if page_path is None:
            page_path = Path(folder) / "report.html"
            data = make_csv(options.rows)
            subprocess.run([sys.executable, "-m", "linfit", "train", str(data), "--report", str(page_path), "-q"], check=True)
        print(f"page: {page_path.stat().st_size / 1e3:.0f} kB ({options.rows} rows)")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            top = int(page.get_attribute("#step", "max"))
            steps = [(k * 7) % (top + 1) for k in range(options.moves)]
            print(summary("step slider (every panel)", page.evaluate(TIMED, ["#step", steps])))
            n = options.whatif_moves
            lrs = [int(1000 * k / max(1, n - 1)) for k in range(n)]
            print(summary("what-if learning rate, gradient descent", page.evaluate(TIMED, ["#whatif-lr", lrs])))
            momenta = [int(99 * k / max(1, n - 1)) for k in range(n)]
            print(summary("what-if momentum, gradient descent", page.evaluate(TIMED, ["#whatif-momentum", momenta])))
            page.evaluate(TIMED, ["#whatif-optimizer", ["adam"]])
            page.evaluate(TIMED, ["#whatif-momentum", [0]])
            high = [1000 - (k % 10) * 10 for k in range(n)]
            print(summary("what-if learning rate near the top, Adam, β₁ 0", page.evaluate(TIMED, ["#whatif-lr", high])))
            betas = [int(50 * k / max(1, n - 1)) for k in range(n)]
            print(summary("what-if β₁ 0–0.5, Adam, lr near the top", page.evaluate(TIMED, ["#whatif-momentum", betas])))
            browser.close()


if __name__ == "__main__":
    main()
