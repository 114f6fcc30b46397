"""CSV → two float64 numpy arrays, x and y, with every problem named by file, line and column.

pandas reads the file with its pyarrow engine (fast, multi-threaded); when that engine
cannot parse a file, the C engine reads it again, since its errors say where the problem is.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from linfit.errors import DataError

STDIN = "-"


@dataclass(frozen=True)
class Samples:
    """The (x, y) samples of one file, in float64, with where they came from."""

    x: np.ndarray
    y: np.ndarray
    source: str
    x_name: str
    y_name: str
    dropped: int = 0  # rows dropped by --drop-na

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def load_samples(
    source: str | Path, x_col: str | int = "x", y_col: str | int = "y", drop_na: bool = False
) -> Samples:
    """Read (x, y) from a CSV file (or stdin for '-') into float64 arrays, validated."""
    name = str(source)
    frame = _read_frame(_open_source(name), name)
    if len(frame.columns) == 0 or len(frame) == 0:
        raise DataError(f"{name}: no data rows.", "The file needs a header line and at least one row of numbers.")
    x_name = _resolve_column(frame, x_col, name, "x")
    y_name = _resolve_column(frame, y_col, name, "y")
    x = _numeric(frame[x_name], name, x_name)
    y = _numeric(frame[y_name], name, y_name)
    x, y, dropped = _handle_missing(x, y, name, x_name, y_name, drop_na)
    for values, column in ((x, x_name), (y, y_name)):
        _require_finite(values, name, column)
    # torch needs writable memory; arrays that pyarrow hands over are read-only views
    x, y = (np.require(v, requirements="W") for v in (x, y))
    return Samples(x=x, y=y, source=name, x_name=x_name, y_name=y_name, dropped=dropped)


def _open_source(name: str):
    if name == STDIN:
        return io.BytesIO(sys.stdin.buffer.read())
    path = Path(name)
    if path.is_dir():
        raise DataError(f"{name}: is a directory, not a CSV file.", "Give the path of a CSV file.")
    if not path.exists():
        raise DataError(f"{name}: file not found.", "Check the path.")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise DataError(f"{name}: cannot open ({exc.strerror}).", "Check the file's permissions.") from None
    return path


def _read_frame(handle, name: str) -> pd.DataFrame:
    """Parse with the fast engine; on failure re-parse with the C engine for a precise error."""
    if isinstance(handle, io.BytesIO):
        raw = handle.getvalue()
        fresh = lambda: io.BytesIO(raw)  # noqa: E731 - each engine needs its own stream
    else:
        fresh = lambda: handle  # noqa: E731
    try:
        return pd.read_csv(fresh(), engine="pyarrow")
    except Exception:  # the pyarrow engine's errors are not precise; the C engine's are
        pass
    try:
        return pd.read_csv(fresh(), engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty.", "It needs a header line (x,y) and rows of numbers.") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{name}: not UTF-8 text (byte {exc.start}).", "Is this a CSV file? Save it as UTF-8 CSV."
        ) from None
    except pd.errors.ParserError as exc:
        detail = str(exc).split("C error: ")[-1].strip().rstrip(".")
        raise DataError(f"{name}: cannot parse CSV: {detail}.", "Check the delimiter and that every row has the same number of fields.") from None


def _resolve_column(frame: pd.DataFrame, wanted: str | int, name: str, role: str) -> str:
    """A header name, or a 0-based index (an int, or a string of digits that is no header)."""
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if isinstance(wanted, str) and wanted in columns:
        return wanted
    index = wanted if isinstance(wanted, int) else int(wanted) if str(wanted).isdigit() else None
    if index is not None and 0 <= index < len(columns):
        return columns[index]
    listed = ", ".join(repr(c) for c in columns)
    hint = f"Choose one with --{role}-col NAME or --{role}-col INDEX (0-based)."
    if all(_looks_numeric(c) for c in columns):
        hint += " The first line looks like data: the file needs a header line such as 'x,y'."
    raise DataError(f"{name}: no column {wanted!r} for {role}; the columns are {listed}.", hint)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric(column: pd.Series, name: str, column_name: str) -> np.ndarray:
    """The column as float64; a cell that is not a number is reported with its line."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(column.astype("string").str.strip(), errors="coerce")
    bad = coerced.isna() & column.notna() & (column.astype("string").str.strip() != "")
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{name}: line {row + 2}, column '{column_name}': {column.iloc[row]!r} is not a number.",
            "Fix or remove that row.",
        )
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _handle_missing(x, y, name, x_name, y_name, drop_na):
    missing = np.isnan(x) | np.isnan(y)
    if not missing.any():
        return x, y, 0
    if drop_na:
        keep = ~missing
        return x[keep], y[keep], int(missing.sum())
    row = int(np.argmax(missing))
    column = x_name if np.isnan(x[row]) else y_name
    raise DataError(
        f"{name}: line {row + 2}, column '{column}': missing value ({int(missing.sum())} rows have one).",
        "Fill it in, or pass --drop-na to drop such rows.",
    )


def _require_finite(values: np.ndarray, name: str, column: str) -> None:
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.argmax(infinite))
        raise DataError(f"{name}: line {row + 2}, column '{column}': {values[row]} is not a finite number.", "Fix or remove that row.")
