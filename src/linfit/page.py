"""The HTML report of a run: one self-contained page to move through the descent step by step.

The page is a single file that works offline, opened from disk: its script and style are inlined
from `page_assets/`, and the run travels inside it as JSON. Everything the page draws comes from a
run's payload (see `run_payload`): the logged steps, the result, the data's moments (from which the
loss surface, the hand-derived gradient and the what-if paths are computed in the browser, the loss
being quadratic), a subsample of the data for the scatter, and the computational graph autograd
recorded for one point.

This module imports neither typer nor rich; it returns text, and the caller writes it.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from dataclasses import asdict, is_dataclass
from importlib import resources
from typing import Any, Iterable, Sequence

import numpy as np

from linfit.errors import DataError, UsageError
from linfit.losses import LOSSES

MAX_STEPS_SHOWN = 1000  # records on the slider; a longer history is thinned evenly (first and last kept)
STEP_FIELDS = ("step", "loss", "grad_a", "grad_b", "a", "b")
# the page's script, in order: the pure parts (numbers, the loss surface's maths, the optimizers; each
# testable alone in a browser) and then the drawing and wiring that use them
SCRIPTS = ("format.js", "surface.js", "optim.js", "report.js")


def thin(history: Sequence[dict[str, Any]], cap: int = MAX_STEPS_SHOWN) -> list[dict[str, Any]]:
    """At most `cap` records, evenly spaced, the first and the last always kept."""
    if len(history) <= cap:
        return list(history)
    picks = np.unique(np.linspace(0, len(history) - 1, cap).round().astype(int))
    return [history[i] for i in picks]


def run_payload(
    fit: dict[str, Any],
    moments: Any,
    samples: dict[str, Any] | None = None,
    sha256: str | None = None,
    label: str | None = None,
    batch_size: int = 0,
) -> dict[str, Any]:
    """Everything the page needs about one run, as plain JSON-ready data.

    `fit` is the run as `train --format json` writes it (history included); `moments` the data's
    n, means and centred sums (a Moments or a dict); `samples` what `scatter_sample` or
    `reservoir_sample` returned, or None; `batch_size` the rows of each mini-batch (0: every row).
    """
    moments = asdict(moments) if is_dataclass(moments) else dict(moments)
    history = thin(fit.get("history") or [])
    if not history:
        raise DataError("the run has no recorded step to show.", "Record at least one step (a --format jsonl stream holds its steps).")
    config = dict(fit.get("config") or {})
    loss = _loss_of(fit["loss_name"], config)
    lr_source = fit.get("lr_source") or ("set" if config.get("lr") is not None else "default")
    config["lr"] = effective_lr(fit, moments, batch_size)  # unset: the optimizer's default, as the run used it
    if fit.get("adam_eps") is not None:  # Adam's ε as the run used it, for the page's replay of its steps
        config["adam_eps"] = fit["adam_eps"]
    data = dict(fit.get("data") or {})
    if sha256 is not None:
        data["sha256"] = sha256
    first = history[0]
    weight_col = config.get("weight_col")
    return {
        "label": label or describe(config),
        "loss": {
            "name": loss.name,
            "formula": weighted(loss.formula, weight_col),
            "scale": getattr(loss, "scale", 1.0),
            "reduction": loss.reduction,
            "grad_a_text": weighted(loss.derivative_text("(a·x + b − y)·x", moments["n"]), weight_col),
            "grad_b_text": weighted(loss.derivative_text("a·x + b − y", moments["n"]), weight_col),
            # a loss's own parameters (huber's δ, the quantile's τ), when the run names them: the page's what-if uses them
            **{key: config[key] for key in ("delta", "tau") if isinstance(config.get(key), (int, float))},
            **({"delta": loss.delta} if loss.name == "huber" else {"tau": loss.tau} if loss.name == "quantile" else {}),
        },
        "batch_size": batch_size or None,
        "minibatch": bool(batch_size or fit.get("epochs")),  # a saved stream's result says so by its epochs
        "config": config,
        "data": data,
        "moments": moments,
        "history": [[_carried(record[key]) for key in STEP_FIELDS] for record in history],
        # --holdout/--valid: the held-out loss at each step shown (null where none was taken), and the final figures
        "valid_loss": [_carried(record.get("valid_loss")) for record in history] if any("valid_loss" in r for r in history) else None,
        "valid": fit.get("valid"),
        "logged": len(fit.get("history") or []),
        "result": {key: _carried(fit.get(key)) for key in ("a", "b", "loss", "steps", "converged", "stop_reason", "wall_time_s")},
        "init": fit.get("init"),
        "ols": fit.get("ols"),
        # a piecewise loss: the exact minimiser of that loss (reference.py), the line the page holds the run against
        "reference": _reference_line(fit, loss),
        "gap": fit.get("gap"),
        "loss_stats": fit.get("loss_stats") if isinstance(fit.get("loss_stats"), dict) else None,
        "stats": fit.get("stats"),
        "samples": samples,
        "graph": autograd_graph(fit["loss_name"], first["a"], first["b"], *_graph_point(samples, moments), loss=loss),
        "lr_source": lr_source,
        "curvature": curvature(loss, moments, bool(config.get("standardize", True))) if loss.name in QUADRATIC else None,
    }


def weighted(text: str, weight_col: Any) -> str:
    """A loss's formula as a weighted run computes it: mean(ℓ) → Σ w·ℓ / Σ w, w the weight column's values.
    Unweighted (no column): the text as it is."""
    if not weight_col:
        return text
    column = f"w = column {str(weight_col)!r}"
    start = text.find("mean(")
    if start < 0:  # no mean to weight (a sum): say the weights all the same
        return f"{text}, rows weighted by {column}"
    depth, end = 0, -1
    for index in range(start + 4, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            end = index
            break
    if end < 0:
        return f"{text}, rows weighted by {column}"
    inner, rest = text[start + 5 : end], text[end + 1 :]
    return f"{text[:start]}Σ w·{inner} / Σ w{rest}, {column}"


def _reference_line(fit: dict[str, Any], loss: Any) -> dict[str, Any] | None:
    """The exact line of a piecewise loss the run recorded ({a, b, objective, label}), or None (squared losses: `ols`)."""
    from linfit.losses import PIECEWISE

    found = fit.get("reference")
    if loss.name not in PIECEWISE or not isinstance(found, dict):
        return None
    a, b = found.get("a"), found.get("b")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (a, b)):
        return None
    what = {"huber": f"huber (δ = {getattr(loss, 'delta', 1.0):.6g})", "absolute": "least absolute deviations"}.get(
        loss.name, f"quantile τ = {getattr(loss, 'tau', 0.5):g}"
    )
    objective = found.get("objective")
    return {"a": a, "b": b, "objective": objective if isinstance(objective, (int, float)) else None, "label": f"exact {what}"}


QUADRATIC = ("half_mse", "mse", "half_sse", "sse")  # losses whose Hessian the moments give (others: none in the payload)


def effective_lr(fit: dict[str, Any], moments: dict[str, Any], batch_size: int = 0) -> float | None:
    """The learning rate the run used: the one it was given, the one it recorded, or the default worked out
    again as training works it out (train.Training.default_lr); None only for a mini-batch run that recorded
    none (its default depends on the largest x², which the moments do not hold)."""
    from linfit.config import DEFAULT_LR

    config = fit.get("config") or {}
    for value in (config.get("lr"), fit.get("lr")):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return float(value)
    optimizer = config.get("optimizer", "sgd")
    base = DEFAULT_LR.get(optimizer)
    n = int(moments["n"])
    if base is None or n < 1:
        return None
    if optimizer == "adam":  # a step length: a fraction of the parameters' scale in training coordinates
        init = fit.get("init") or {}
        a0, b0 = float(init.get("a", 0.0)), float(init.get("b", 0.0))
        standard = bool(config.get("standardize", True)) and moments["sxx"] > 0
        sigma = math.sqrt(moments["sxx"] / n) if standard else 1.0
        alpha0 = a0 * sigma
        beta0 = b0 + a0 * moments["x_mean"] - moments["y_mean"] if standard else b0
        y_spread = math.sqrt(moments["syy"] / n) if moments["syy"] > 0 else (abs(moments["y_mean"]) or 1.0)
        return base * max(y_spread, abs(alpha0), abs(beta0))
    if batch_size or fit.get("epochs"):
        return None
    return base / LOSSES[fit["loss_name"]].curvature(n)


def curvature(loss: Any, moments: dict[str, Any], standardize: bool) -> dict[str, Any]:
    """The loss's Hessian in the coordinates training moves (α, β), its eigenvalues and eigenvectors, once.

    The loss is quadratic: H = c·[[E x_t², E x_t], [E x_t, 1]], x_t = (x − x̄)/σ standardised (H = c·I) or
    x itself. The eigenvectors split the error w − w* into the directions that shrink at their own rates.
    """
    n = int(moments["n"])
    c = loss.curvature(n)
    standard = standardize and moments["sxx"] > 0
    if standard:
        mean_x, mean_xx = 0.0, 1.0
    else:
        mean_x, mean_xx = float(moments["x_mean"]), moments["sxx"] / n + float(moments["x_mean"]) ** 2
    hessian = c * np.array([[mean_xx, mean_x], [mean_x, 1.0]])
    x_mean = float(moments["x_mean"])  # over (a, b) in the data's units, whatever training moved: the contours there
    data = c * np.array([[moments["sxx"] / n + x_mean**2, x_mean], [x_mean, 1.0]])
    return {"c": c, **_eigen(hessian), "data": _eigen(data)}


def _eigen(hessian: np.ndarray) -> dict[str, Any]:
    """A 2×2 Hessian, its eigenvalues (largest first) and unit eigenvectors."""
    values, vectors = np.linalg.eigh(hessian)  # ascending
    order = [1, 0]  # the steep direction first
    return {
        "hessian": hessian.tolist(),
        "lambda_max": float(values[1]),
        "lambda_min": float(max(values[0], 0.0)),
        "eigenvalues": [float(values[i]) for i in order],
        "eigenvectors": [[float(vectors[0, i]), float(vectors[1, i])] for i in order],
    }


def _carried(value: Any) -> Any:
    """A number as JSON carries it; a non-finite one as the string the page reads back ("Infinity", "-Infinity", "NaN"),
    so a step that overflowed shows inf or nan as the terminal does, not a missing value."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def describe(config: dict[str, Any]) -> str:
    """A short name for a run in a legend: its optimizer and learning rate (and momentum)."""
    optimizer = config.get("optimizer", "sgd")
    lr = config.get("lr")
    text = f"{optimizer}, lr {'default' if lr is None else format(lr, 'g')}"
    if optimizer == "momentum":
        text += f", momentum {config.get('momentum', 0):g}"
    if config.get("loss", "half_mse") != "half_mse":
        text += f", {config['loss']}"
    if not config.get("standardize", True):
        text += ", raw x"
    return text


def _graph_point(samples: dict[str, Any] | None, moments: dict[str, Any]) -> tuple[float, float]:
    """The point the graph starts on: the first sample shown, or (x̄, ȳ) when no sample came."""
    if samples and samples["x"]:
        return samples["x"][0], samples["y"][0]
    return moments["x_mean"], moments["y_mean"]


def autograd_graph(loss_name: str, a: float, b: float, x: float, y: float, loss: Any = None) -> dict[str, Any]:
    """The graph autograd records for the loss at one point, as `linfit grad --graph --format json` shows it.

    The page draws this graph; for other steps and points it recomputes each node's value and gradient.
    """
    from linfit.gradient import point_gradient
    from linfit.graph import to_dict

    delta, tau = getattr(loss, "delta", None), getattr(loss, "tau", 0.5)  # a piecewise loss's own δ or τ
    result = point_gradient([x], [y], a=a, b=b, loss=loss_name, with_graph=True, delta=delta if loss_name == "huber" else None, tau=tau)
    return {"x": x, "y": y, "a": a, "b": b, "tree": to_dict(result.graph)}


def _loss_of(name: str, config: dict[str, Any]):
    """The loss object of a run: a squared loss, or a piecewise one with the δ (huber) or τ (quantile) it ran with."""
    from linfit.losses import PIECEWISE, loss_for

    if name not in PIECEWISE:
        return LOSSES[name]
    return loss_for(name, delta=config.get("huber_delta"), tau=config.get("quantile"))


def same_data(runs: Sequence[dict[str, Any]]) -> None:
    """Runs overlaid on one surface must be on the same data: the same n and (to rounding) the same moments."""
    first = runs[0]["moments"]
    for index, run in enumerate(runs[1:], start=2):
        if not _alike(first, run["moments"]):
            raise UsageError(
                f"run {index} ({run['data'].get('source', '?')}) is on other data than run 1 ({runs[0]['data'].get('source', '?')}): they share no loss surface.",
                "Compare runs of the same data.",
            )


def _alike(first: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same n and, to rounding, the same means and centred sums."""
    return other["n"] == first["n"] and all(
        abs(other[key] - first[key]) <= 1e-9 * max(1.0, abs(first[key])) for key in ("x_mean", "y_mean", "sxx", "sxy", "syy")
    )


def require_same_rows(run_moments: dict[str, Any], x: np.ndarray, y: np.ndarray, data_name: str, run_name: str, w=None) -> None:
    """--data must be the data the run was trained on: its rows give the run's moments (weighted ones, for
    a run that weighted its rows by `w`), or the scatter would lie."""
    from linfit.errors import DataError
    from linfit.reference import moments, weighted_moments

    try:
        theirs = moments(x, y) if w is None else weighted_moments([(x, y, w)])[0]
    except DataError:  # every weight 0: no moments, and not the run's rows
        theirs = None
    if x.shape[0] == 0 or theirs is None or not _alike(run_moments, asdict(theirs)):
        raise UsageError(
            f"--data {data_name}: not the data {run_name} was trained on ("
            + (
                f"{x.shape[0]} rows, the run had {run_moments['n']})." if x.shape[0] != run_moments["n"] else "as many rows, other values)."
            ),
            "Give the data file the run was trained on.",
        )


def render(runs: Sequence[dict[str, Any]], title: str | None = None) -> str:
    """The whole page as one string: HTML, inline style, inline script, and the runs as JSON."""
    if not runs:
        raise UsageError("no run to show.")
    same_data(runs)
    from linfit import __version__

    source = runs[0]["data"].get("source", "data")
    title = title or f"linfit: the descent on {source}"
    payload = {"runs": list(runs), "version": __version__, "title": title}
    return TEMPLATE.format(
        title=html.escape(title),
        style=_asset("report.css"),
        script="\n".join(_asset(name) for name in SCRIPTS),
        payload=_script_json(payload),
        version=html.escape(__version__),
    )


def _script_json(payload: dict[str, Any]) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can close or confuse the element."""
    from linfit.output import finite_or_null  # a diverged run's last step may hold inf or nan: null in JSON

    text = json.dumps(finite_or_null(payload), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files("linfit").joinpath("page_assets", name).read_text(encoding="utf-8")


def embedded(page: str, height: int = 900) -> str:
    """The page inside an <iframe srcdoc>: how a notebook's output cell runs its script, isolated.

    The page posts its height to the cell (the sandbox keeps the cell from reading it), and the cell's
    small script sizes the frame to it; `height` holds until then (or where scripts do not run).
    """
    name = "linfit-" + hashlib.sha256(page.encode("utf-8")).hexdigest()[:12]
    return (
        f'<iframe id="{name}" srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{height}px;border:1px solid #ddd" '
        'sandbox="allow-scripts" title="linfit report"></iframe>'
        "<script>(function(){var f=document.getElementById(" + json.dumps(name) + ");"
        "window.addEventListener('message',function(e){if(f&&e.source===f.contentWindow&&e.data&&typeof e.data.linfitHeight==='number'){"
        "f.style.height=Math.ceil(e.data.linfitHeight+2)+'px';}});}());</script>"
    )


def read_jsonl(lines: Iterable[str], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A `train --format jsonl` stream back as (the run as `--format json` writes it, the moments)."""
    steps, result = [], None
    again = "Give the output of linfit train --format jsonl."
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            record = json.loads(line, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc.msg}, column {exc.colno}).", again) from None
        except ValueError as exc:
            raise DataError(f"{where}: {exc}.", again) from None
        except RecursionError:
            raise DataError(f"{where}: nested too deeply: not a linfit record.", again) from None
        _require_text(record, line, where, again)
        kind = record.get("record") if isinstance(record, dict) else None
        if kind == "step":
            steps.append(_fields(record, STEP_FIELDS, where, "step record"))
            held = record.get("valid_loss")  # --holdout/--valid: the held-out loss at this step
            if isinstance(held, (int, float)) and not isinstance(held, bool):
                steps[-1]["valid_loss"] = held
        elif kind == "result":
            result = record
            where_result = where
        elif isinstance(record, dict) and "history" in record and "a" in record:
            raise DataError(
                f"{where}: a --format json run; the report reads a --format jsonl stream, whose result record carries the data's moments.",
                "Run linfit train DATA --format jsonl > run.jsonl.",
            )
        else:
            raise DataError(f'{where}: not a linfit record (no "record": "step" or "result").', again)
    if result is None:
        raise DataError(
            f"{name}: no result record: the stream ends before the run did.", "Give the whole output of linfit train --format jsonl."
        )
    if "moments" not in result:
        raise DataError(f"{name}: the result record has no moments (written by an older linfit).", "Run linfit train --format jsonl again.")
    moments = result["moments"]
    if not isinstance(moments, dict):
        raise DataError(f"{where_result}: the moments are not an object.", again)
    _fields(moments, ("n", "x_mean", "y_mean", "sxx", "sxy", "syy"), where_result, "moments")
    _fields(result, ("a", "b", "loss", "steps"), where_result, "result record")
    if not (isinstance(moments["n"], int) and moments["n"] >= 1) or moments["sxx"] < 0 or moments["syy"] < 0:
        raise DataError(
            f"{where_result}: the moments are not those of any data (n {moments['n']}, sxx {moments['sxx']}, syy {moments['syy']}).", again
        )
    if moments["n"] > MAX_ROWS:
        raise DataError(f"{where_result}: the moments claim {moments['n']:.3g} rows: not those of any data (at most 2**63 - 1).", again)
    from linfit.losses import PIECEWISE

    if not isinstance(result.get("loss_name"), str) or result["loss_name"] not in (*LOSSES, *PIECEWISE):
        raise DataError(f"{where_result}: unknown loss {result.get('loss_name')!r} (known: {', '.join((*LOSSES, *PIECEWISE))}).", again)
    _require_result_shape(result, where_result, again)
    fit = {key: value for key, value in result.items() if key not in ("record", "moments")}
    fit["history"] = steps
    return fit, moments


MAX_ROWS = 2**63 - 1  # the most rows moments can count
MAX_DIGITS = 300  # an integer longer than this is no count or number a run writes (floats end near 1.8e308)


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(digits.lstrip('-')):,} digits is out of range")
    return int(digits)


def _require_text(record: Any, line: str, where: str, again: str) -> None:
    """Every string is text UTF-8 can write: a lone surrogate escape (\\ud800) would fail the page's writing."""
    if "\\u" not in line:
        return  # only an escape makes a lone surrogate: a line read as UTF-8 holds none
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise DataError(f"{where}: a string holds {ascii(bad)}, half of a surrogate pair: not text.", again) from None


def _require_result_shape(result: dict[str, Any], where: str, again: str) -> None:
    """What the page and `report --data` read from the result record: objects where objects belong, and a config
    whose keys hold values the configuration allows (a seed that is a whole number ≥ 0, a learning rate > 0, ...)."""
    from linfit.config import KEYS, TrainConfig

    for key in ("config", "data", "init"):
        if result.get(key) is not None and not isinstance(result[key], dict):
            raise DataError(f"{where}: in the result record, {key!r} is not an object (got {_brief(result[key])}).", again)
    for key in ("lr", "adam_eps"):
        value = result.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DataError(f"{where}: in the result record, {key!r} is not a number (got {_brief(value)}).", again)
    for key in ("source", "x", "y"):
        value = (result.get("data") or {}).get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise DataError(f"{where}: in the result record, 'data.{key}' is not a name (got {_brief(value)}).", again)
    config = {key: value for key, value in (result.get("config") or {}).items() if key in KEYS}  # keys of later versions pass
    for key, value in config.items():
        try:
            TrainConfig(**{key: value})
        except ValueError as exc:  # pydantic's ValidationError
            problem = exc.errors()[0]["msg"].removeprefix("Value error, ") if hasattr(exc, "errors") else str(exc)
            raise DataError(
                f"{where}: in the result record, config key {key!r}: {problem[:1].lower()}{problem[1:]} (got {_brief(value)}).", again
            ) from None


def _brief(value: Any) -> str:
    text = ascii(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number JSON can carry")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"{token} is out of the range of a float")
    return value


def _fields(record: dict[str, Any], keys: Sequence[str], where: str, what: str) -> dict[str, Any]:
    """The record's `keys`, each a finite number (bools are not numbers here)."""
    missing = [key for key in keys if key not in record]
    if missing:
        raise DataError(
            f"{where}: the {what} has no {', '.join(repr(k) for k in missing)}.", "Give the output of linfit train --format jsonl."
        )
    bad = [key for key in keys if isinstance(record[key], bool) or not isinstance(record[key], (int, float))]
    if bad:
        raise DataError(
            f"{where}: in the {what}, {', '.join(repr(k) for k in bad)} is not a number.", "Give the output of linfit train --format jsonl."
        )
    return {key: record[key] for key in keys}


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="linfit {version}">
<title>{title}</title>
<style>
{style}
</style>
</head>
<body>
<header>
<h1 id="title">{title}</h1>
<p id="subtitle" class="note"></p>
<noscript><p class="note">This report draws itself with JavaScript; turn it on to see the descent.</p></noscript>
</header>
<section id="controls" aria-label="step">
<button type="button" id="play" title="play or pause (space)">▶ play</button>
<label for="step">step</label>
<input type="range" id="step" min="0" max="0" value="0" step="1">
<output id="step-label" for="step"></output>
<span id="run-choice"><label for="run">the slider follows</label> <select id="run"></select></span>
<span class="note">← → move a step, Home/End the ends</span>
</section>
<main>
<figure class="panel"><figcaption>data and the line of this step</figcaption><svg id="data-plot" viewBox="0 0 440 320" role="img" aria-label="data and line"></svg><div class="legend" id="data-legend"></div><p id="data-note" class="note"></p></figure>
<figure class="panel"><figcaption>loss surface over (a, b)</figcaption><svg id="surface-plot" viewBox="0 0 440 320" role="img" aria-label="loss surface over a and b"></svg><div class="legend" id="surface-legend"></div><p id="surface-note" class="note"></p></figure>
<figure class="panel" id="standard-panel"><figcaption>the same surface in the standardised coordinates (α, β)</figcaption><svg id="standard-plot" viewBox="0 0 440 320" role="img" aria-label="loss surface over alpha and beta"></svg><div class="legend" id="standard-legend"></div><p class="note">α = a·σ, β = b + a·x̄ − ȳ (x̄ the mean of x, σ its sd): autograd trains these. The surface is round here, so one step size suits every direction.</p></figure>
<figure class="panel"><figcaption>how far above the best loss, per step (hover a step)</figcaption><svg id="loss-plot" viewBox="0 0 440 320" role="img" aria-label="loss above the least-squares loss per step"></svg><div class="legend" id="loss-legend"></div><p id="hover-note" class="note"></p><p id="loss-note" class="note"></p></figure>
<figure class="panel" id="held-panel" hidden><figcaption>the loss on the held-out rows, per logged step</figcaption><svg id="held-plot" viewBox="0 0 440 320" role="img" aria-label="held-out loss per step"></svg><div class="legend" id="held-legend"></div><p class="note">Its own axis: the loss itself on rows the run did not train on (--holdout or --valid), not an excess over an optimum.</p></figure>
<section class="panel span2" id="whatif"><h2>what if? another learning rate and momentum</h2>
<p class="note">This page can run the optimizer itself, for any learning rate γ and momentum: gradient descent with momentum μ (v ← μ·v + ∇L, w ← w − γ·v; μ = 0 is plain gradient descent) or Adam (β₁ its momentum). The <b>what-if path is computed in the page</b> (blue); the recorded paths are autograd's. Drag the start (■) on a surface to start it elsewhere.</p>
<div class="controls-grid">
<label for="whatif-optimizer">optimizer</label> <select id="whatif-optimizer"><option value="momentum">gradient descent (momentum μ)</option><option value="adam">Adam (momentum β₁)</option></select>
<label for="whatif-lr">learning rate γ</label> <span><input type="range" id="whatif-lr" min="0" max="1000" value="500" step="1"> <output id="whatif-lr-value"></output></span>
<label for="whatif-momentum" id="whatif-momentum-label">momentum μ</label> <span><input type="range" id="whatif-momentum" min="0" max="99" value="0" step="1"> <output id="whatif-momentum-value"></output></span>
</div>
<button type="button" id="whatif-reset">as recorded</button>
<div id="whatif-readout"><p id="whatif-explain" class="note"></p><p id="whatif-verdict" role="status" aria-live="polite"></p></div>
</section>
<figure class="panel"><figcaption>which (γ, momentum) converge, and how fast (click to try)</figcaption><svg id="map-plot" viewBox="0 0 440 320" role="img" aria-label="map of steps to converge over learning rate and momentum"></svg><div class="legend" id="map-legend"></div><p id="map-note" class="note"></p></figure>
<figure class="panel" id="eigen-panel"><figcaption>the what-if's error along the Hessian's two eigenvectors</figcaption><svg id="eigen-plot" viewBox="0 0 440 320" role="img" aria-label="error along each eigenvector per step"></svg><div class="legend" id="eigen-legend"></div><p id="eigen-note" class="note"></p></figure>
<section class="panel wide" id="diagnostics"><h2>residuals</h2><div class="pair">
<figure><figcaption>residuals against fitted values</figcaption><svg id="resid-plot" viewBox="0 0 440 320" role="img" aria-label="residuals against fitted values"></svg></figure>
<figure><figcaption>normal Q-Q</figcaption><svg id="qq-plot" viewBox="0 0 440 320" role="img" aria-label="normal quantile plot of the residuals"></svg></figure>
</div><p id="resid-note" class="note"></p></section>
<section class="panel wide" id="compare"><h2>the runs compared</h2><div class="scroll"><table id="compare-table"></table></div></section>
<section class="panel wide"><h2>the numbers of this step</h2><pre id="step-readout"></pre></section>
<section class="panel wide"><h2>the computational graph of the loss at one point</h2>
<p class="note">As <code>linfit grad --graph</code> shows it: each node's value and the gradient of the loss with respect to it, at this step's (a, b), for the point below (click a point in the scatter, or type one).</p>
<label for="point-x">x</label> <input type="number" id="point-x" step="any"> <label for="point-y">y</label> <input type="number" id="point-y" step="any">
<div class="scroll"><svg id="graph" viewBox="0 0 900 330" role="img" aria-label="computational graph"></svg></div>
<p id="graph-note" class="note"></p>
</section>
<section class="panel wide"><h2>summary</h2><div class="scroll"><table id="summary"></table></div></section>
</main>
<footer class="note">Made by linfit {version}. One self-contained file: no server, no network.</footer>
<script type="application/json" id="linfit-run">{payload}</script>
<script>
{script}
</script>
</body>
</html>
"""
