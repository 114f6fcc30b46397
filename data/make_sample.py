"""Regenerate data/sample.csv: 50 points on y = 3·x + 2 with Gaussian noise (σ = 0.5), seeded."""

from pathlib import Path

import numpy as np

A, B, NOISE, N, SEED = 3.0, 2.0, 0.5, 50, 7

rng = np.random.default_rng(SEED)
x = np.round(rng.uniform(0.0, 10.0, N), 3)
y = np.round(A * x + B + rng.normal(0.0, NOISE, N), 3)
lines = ["x,y"] + [f"{xi:g},{yi:g}" for xi, yi in zip(x, y)]
Path(__file__).with_name("sample.csv").write_text("\n".join(lines) + "\n")
