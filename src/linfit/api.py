"""linfit from Python: `linfit.fit(x, y, **config)`, the same core as `linfit train`, for notebooks and scripts.

    >>> import linfit
    >>> result = linfit.fit([0, 1, 2, 3], [1, 3, 5, 7], lr=0.5)
    >>> round(result.a, 6), round(result.b, 6)
    (2.0, 1.0)

In Jupyter the result shows itself as the interactive report (`_repr_html_`); `result.report(path)`
writes the same page to a file, and `result.to_dict()` is what `linfit train --format json` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from linfit.config import TrainConfig, resolve_config
from linfit.errors import DataError


class Fit:
    """A finished run: the line (`a`, `b`), the logged steps (`history`), the statistics (`stats`) and the
    exact least-squares line it is held against (`ols`)."""

    def __init__(
        self, record: dict[str, Any], result, history: list, ols, stats, moments, config: TrainConfig, samples: dict[str, Any]
    ) -> None:
        self._record = record
        self.result = result  # train.TrainResult
        self.history = history  # list of train.StepRecord: step, loss, grad_a, grad_b, a, b
        self.ols = ols  # reference.LeastSquares, or None when the data determine no unique line
        self.stats = stats  # stats.FitStats: r2, residual_sd, se_a, se_b, ci_a, ci_b, corr_ab, n
        self.moments = moments  # reference.Moments: n, means and centred sums
        self.config = config
        self._samples = samples
        self._page: str | None = None

    a = property(lambda self: self.result.a, doc="The fitted slope.")
    b = property(lambda self: self.result.b, doc="The fitted intercept.")
    loss = property(lambda self: self.result.loss, doc="The loss at (a, b), over every row.")
    steps = property(lambda self: self.result.steps, doc="The last step run.")
    converged = property(lambda self: self.result.converged, doc="Whether the stopping rule was met.")

    def to_dict(self) -> dict[str, Any]:
        """The run as `linfit train --format json` writes it."""
        return dict(self._record)

    def html(self) -> str:
        """The interactive report: one self-contained HTML page."""
        if self._page is None:
            from linfit.page import render, run_payload

            self._page = render([run_payload(self._record, self.moments, self._samples)])
        return self._page

    def report(self, path: str | Path) -> Path:
        """Write the report to `path` (atomically); returns the path."""
        from linfit.files import check_writable, write_atomic

        path = Path(path)
        check_writable(path, "report")
        write_atomic(path, self.html())
        return path

    def _repr_html_(self) -> str:
        """In a notebook: the report in an iframe, where its script runs isolated from the notebook's."""
        from linfit.page import embedded

        return embedded(self.html())

    def __repr__(self) -> str:
        state = "converged" if self.converged else self.result.stop_reason
        return f"Fit(a={self.a!r}, b={self.b!r}, loss={self.loss!r}, steps={self.steps}, {state})"


def fit(x: Any, y: Any = None, **config: Any) -> Fit:
    """Fit y = a·x + b by gradient descent with autograd, as `linfit train` does, and return a `Fit`.

    `x` and `y` are sequences of numbers (lists, numpy arrays, pandas Series); or `x` is a pandas
    DataFrame and `y` is left out, the columns chosen by `x_col` and `y_col` (default 'x' and 'y').
    Keyword arguments are configuration keys (`lr`, `steps`, `optimizer`, `standardize`, ... as in
    `linfit config`); an unknown key or a bad value raises `linfit.errors.ConfigError`.
    """
    settings = _settings(config)
    x_values, y_values, names = _columns(x, y, settings)
    from linfit.errors import DivergedError
    from linfit.output import train_json
    from linfit.pipeline import Arrays, prepare

    prepared = prepare(Arrays(x_values, y_values, names), settings, need_samples=True)
    training = prepared.training
    try:
        history = list(training)
    except DivergedError as error:  # the advice is data: here it reads as the keywords to change
        raise DivergedError(error.message, f"{error.why} Call fit(..., {_keywords(error.advice)}).") from None
    record = train_json(training.result, history, prepared.ols, settings, prepared.data_info, prepared.stats)
    stats = prepared.stats
    if training.config.loss in ("huber", "absolute", "quantile"):  # as `linfit train`: the exact reference, the loss's statistics
        from linfit.piecewise import piecewise_json

        settings = training.config  # huber's δ as run
        piecewise_json(record, prepared, settings)
        stats = None  # least squares' R², standard errors and intervals do not hold under these losses
    return Fit(record, training.result, history, prepared.ols, stats, prepared.moments, settings, prepared.scatter)


def _keywords(changes: dict) -> str:
    """Advice ({key: value}, None: back to the default) as the keyword arguments of fit()."""
    return ", ".join(f"{key}={value!r}" for key, value in changes.items())


def _settings(config: dict[str, Any]) -> TrainConfig:
    """The configuration from keywords; an error names the keyword as it was written, not a command-line flag.

    numpy scalars count as the Python numbers they hold (`steps=np.int64(500)`), and integers are held to
    the command line's bound (64 bits): `steps=2**70` is refused as `--steps` with 22 digits is.
    """
    from linfit.config import KEYS, MAX_INTEGER, flag_name
    from linfit.errors import ConfigError

    config = {key: _plain(value) for key, value in config.items()}
    for key, value in config.items():
        for number in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(number, int) and not isinstance(number, bool) and abs(number) > MAX_INTEGER:
                raise ConfigError(f"fit({key}=...): a {len(str(abs(number)))}-digit integer is too large (the limit is 2**63 - 1).")
    notes: list[str] = []
    try:
        settings = resolve_config(None, config, notes)
    except ConfigError as exc:
        message = exc.message.replace("flags: ", "fit(): ", 1)
        for key in KEYS:
            message = message.replace(f"{flag_name(key)}:", f"fit({key}=...):")
        raise ConfigError(message, exc.hint) from None
    import warnings

    from linfit.config import USED_BY, TrainConfig

    # a loss's own setting under a loss that does not read it is set back to its default: said when it was another value
    changed = [key for key in USED_BY if key in config and config[key] != TrainConfig.model_fields[key].default]
    for note in notes:
        key = next((key for key in changed if note.startswith(f"note: {flag_name(key)} (")), None)
        if key is not None:
            warnings.warn(note.removeprefix("note: ").replace(flag_name(key), f"fit({key}=...)", 1), UserWarning, stacklevel=3)
    return settings


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (np.int64 → int, np.float64 → float, np.bool_ → bool)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def _columns(x: Any, y: Any, settings: TrainConfig) -> tuple[np.ndarray, np.ndarray, tuple[str, str, str]]:
    """Two float64 arrays of equal length, all finite, and the names of x, y and the data."""
    if y is not None and hasattr(x, "columns"):
        raise DataError(
            "x is a DataFrame and y is given too.", "Call fit(frame, x_col=..., y_col=...), or fit(x, y) with two columns of numbers."
        )
    if y is None:
        if not hasattr(x, "columns"):
            raise DataError("fit(x) needs y too, unless x is a pandas DataFrame.", "Call fit(x, y), or fit(frame, x_col=..., y_col=...).")
        frame = x
        x_name, y_name = (_column_name(frame, key, role) for key, role in ((settings.x_col, "x"), (settings.y_col, "y")))
        x, y, source = frame[x_name], frame[y_name], "DataFrame"
    else:
        x_name = str(getattr(x, "name", None) or "x")
        y_name = str(getattr(y, "name", None) or "y")
        source = "arrays"
    try:
        x_values, y_values = _vector(x, x_name), _vector(y, y_name)
    except (TypeError, ValueError) as exc:
        raise DataError(f"x and y must be numbers ({exc}).", "Pass numeric sequences.") from None
    if x_values.shape != y_values.shape:
        raise DataError(f"x has {x_values.size} values and y {y_values.size}.", "Pass x and y of the same length.")
    for name, values in ((x_name, x_values), (y_name, y_values)):
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise DataError(f"{name} has {bad} missing (NaN, masked or NA) or infinite values.", "Drop those rows first.")
    return x_values, y_values, (x_name, y_name, source)


def _vector(values: Any, name: str) -> np.ndarray:
    """One column of numbers as float64: a list, a 1-D array, a Series, or a single column (n×1).

    Masked entries (numpy.ma) and pandas' missing values become NaN: missing, refused as `linfit train`
    refuses a missing cell. Text is read as the data's cells are: `1_000` is refused, not read as 1000.
    """
    numbers = getattr(getattr(values, "dtype", None), "kind", "O") not in "OSU"  # text is read below, as cells are
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray) and numbers:  # pandas: its NA as NaN
        try:
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            values = values.to_numpy()
    mask = np.ma.getmaskarray(values) if np.ma.isMaskedArray(values) else None
    raw = np.asarray(np.ma.getdata(values) if mask is not None else values)
    if raw.dtype.kind in "USO":
        _refuse_separators(raw, name)
    try:
        array = raw.astype(np.float64)
    except OverflowError:
        raise DataError(f"{name} holds an integer too large for a float (beyond 1.8e308).", "Pass values within float64's range.") from None
    if mask is not None:
        array = np.where(mask, np.nan, array)
    if array.ndim == 0 or (array.ndim == 2 and array.shape[1] != 1) or array.ndim > 2:
        raise DataError(
            f"{name} has shape {array.shape}: one column of numbers is needed.", "Pass a 1-D sequence, e.g. frame['x'] or array[:, 0]."
        )
    if array.size == 0:
        raise DataError(f"{name} is empty: a line needs at least two points.", "Pass the data's values.")
    return array.reshape(-1)


def _refuse_separators(raw: np.ndarray, name: str) -> None:
    """Text with a digit separator ('1_000'), which float() would read, is refused as the data's reader refuses it."""
    text = raw.astype(str)
    separated = np.char.find(text, "_") >= 0
    if separated.any():
        where = np.unravel_index(int(np.argmax(separated)), text.shape)
        index = where[0] if len(where) == 1 else where
        raise DataError(
            f"{name}[{index}] is {str(text[where])!r}: not a decimal number (digit separators are refused, as linfit train refuses them).",
            "Write it without '_'.",
        )


def _column_name(frame: Any, key: str | int, role: str) -> str:
    columns = [str(c) for c in frame.columns]
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and key not in columns):
        index = int(key)
        if not 0 <= index < len(columns):
            raise DataError(
                f"{role} column {index} does not exist: the frame has {len(columns)} columns.", f"Columns: {', '.join(columns)}."
            )
        return frame.columns[index]
    if key not in columns:
        raise DataError(f"no column '{key}' for {role}.", f"Columns: {', '.join(columns)}; choose with {role}_col=....")
    return frame.columns[columns.index(key)]


__all__ = ["Fit", "fit"]
