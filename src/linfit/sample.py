"""The rows a picture or the report shows: every row, or a seeded sample of MAX_SCATTER of them, taken from
the rows in memory (`scatter_sample`) or while streaming (`reservoir_sample`, one pass); weighted rows keep
their weights in the same draw. Numbers are kept to the digits that tell the points apart."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

MAX_SCATTER = 5000  # points drawn; the fit always uses every row
SCATTER_DIGITS = 7  # the scatter is for the eye: 7 significant digits keep the page small


def scatter_sample(x: np.ndarray, y: np.ndarray, seed: int = 0, w: np.ndarray | None = None) -> dict[str, Any]:
    """The rows the scatter shows: all of them, or MAX_SCATTER chosen as the --plot figure chooses them; with
    row weights `w`, the weights of those rows too (key "w", for the page's what-if)."""
    n = int(x.shape[0])
    shown = np.arange(n)
    if n > MAX_SCATTER:
        shown = np.sort(np.random.default_rng(seed).choice(n, MAX_SCATTER, replace=False))
    sample = {"x": _rounded(x[shown]), "y": _rounded(y[shown]), "of": n, "how": "every row" if n <= MAX_SCATTER else "a random subsample"}
    if w is not None:
        sample["w"] = [float(v) for v in w[shown]]
    return sample


def reservoir_sample(chunks: Iterable[tuple[np.ndarray, ...]], seed: int = 0) -> dict[str, Any] | None:
    """A uniform random sample of MAX_SCATTER rows taken while streaming (reservoir sampling, one pass).

    Each chunk's rows get random keys; the rows with the smallest keys so far are kept. Chunks of weighted
    rows are (x, y, w): the kept rows' weights come with them (key "w", as scatter_sample's), in the same draw.
    """
    rng = np.random.default_rng((seed, 0x5EED))  # a stream of its own: data made with seed 0 must not decide it
    keys = np.empty(0)
    kept: list[np.ndarray] = []
    rows = 0
    for chunk in chunks:
        rows += int(chunk[0].shape[0])
        keys = np.concatenate([keys, rng.random(chunk[0].shape[0])])
        kept = [np.asarray(c, dtype=np.float64) for c in chunk] if not kept else [np.concatenate([k, c]) for k, c in zip(kept, chunk)]
        if keys.shape[0] > MAX_SCATTER:
            best = np.argpartition(keys, MAX_SCATTER)[:MAX_SCATTER]
            keys, kept = keys[best], [k[best] for k in kept]
    if not rows:
        return None
    sample = {
        "x": _rounded(kept[0]),
        "y": _rounded(kept[1]),
        "of": rows,
        "how": "a reservoir sample taken while streaming" if rows > MAX_SCATTER else "every row",
    }
    if len(kept) > 2 and kept[2] is not None:
        sample["w"] = [float(v) for v in kept[2]]
    return sample


def _rounded(values: np.ndarray) -> list[float]:
    """The values to SCATTER_DIGITS significant digits of their spread, not of their size.

    Data at an offset (x near 1e9, spread 10) keep the digits that tell the points apart.
    """
    values = np.asarray(values, dtype=np.float64)
    if not values.size:
        return []
    top, spread = float(np.abs(values).max()), float(values.max() - values.min())
    extra = int(np.ceil(np.log10(top / spread))) if spread > 0 and top > 0 else 0
    digits = min(17, SCATTER_DIGITS + max(0, extra))
    return [float(f"{v:.{digits}g}") for v in values.tolist()]
