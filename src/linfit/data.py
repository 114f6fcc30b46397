"""CSV → two float64 numpy arrays, x and y, with every problem named by file, line and column.

pandas reads the file with its pyarrow engine (fast, multi-threaded); when that engine
cannot parse a file, the C engine reads it again, since its errors say where the problem is.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from linfit.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

STDIN = "-"
LARGEST = 1e150  # beyond this, squares and sums of squares overflow float64
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")
TAB_SEPARATED = (".tsv", ".tab")


@dataclass(frozen=True)
class Samples:
    """The (x, y) samples of one file, in float64, with where they came from."""

    x: np.ndarray
    y: np.ndarray
    source: str
    x_name: str
    y_name: str
    dropped: int = 0  # rows dropped by --drop-na
    stdin_bytes: bytes | None = None  # what was read from stdin, kept for its digest

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


    def sha256(self) -> str:
        """The SHA-256 of the file as stored (or of the bytes read from stdin)."""
        if self.stdin_bytes is not None:
            return hashlib.sha256(self.stdin_bytes).hexdigest()
        return files_sha256([self.source])


def files_sha256(paths: list[str]) -> str:
    """One SHA-256 over the files' bytes as stored, in order, read a megabyte at a time."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def separator_for(name: str, sep: str | None) -> str:
    """The field separator: the one given, else a tab for .tsv/.tab files (compressed or not), else a comma."""
    if sep is not None:
        return "\t" if sep in ("\\t", "tab") else sep
    stem = name.lower()
    for suffix in COMPRESSED:
        stem = stem.removesuffix(suffix)
    return "\t" if stem.endswith(TAB_SEPARATED) else ","


def load_samples(
    source: str | Path,
    x_col: str | int = "x",
    y_col: str | int = "y",
    drop_na: bool = False,
    sep: str | None = None,
) -> Samples:
    """Read (x, y) from a CSV/TSV file, compressed or not (or stdin for '-') into float64 arrays, validated.

    Clean numeric files take the fast path (pyarrow alone, no pandas import); anything else is read
    again by pandas, whose C engine names the line and column of each problem.
    """
    name = str(source)
    handle = _open_source(name)
    fast = _load_fast(handle, name, x_col, y_col, separator_for(name, sep))
    if fast is not None:
        return fast
    table = _parse_table(handle, name, sep)
    x_name, x = column_values(table, x_col, "x")
    y_name, y = column_values(table, y_col, "y")
    x, y, dropped = _handle_missing(x, y, table.name, x_name, y_name, drop_na)
    for values, column in ((x, x_name), (y, y_name)):
        _require_finite(values, table.name, column)
    # torch needs writable memory; arrays that pyarrow hands over are read-only views
    x, y = (np.require(v, requirements="W") for v in (x, y))
    return Samples(x=x, y=y, source=table.name, x_name=x_name, y_name=y_name, dropped=dropped, stdin_bytes=table.stdin_bytes)


@dataclass(frozen=True)
class Table:
    """A parsed file: its frame, its name as the user gave it, and stdin's bytes if it came from there."""

    frame: pd.DataFrame
    name: str
    stdin_bytes: bytes | None


def read_table(source: str | Path, sep: str | None = None) -> Table:
    """Parse a CSV/TSV file (or stdin) with at least one row; errors name the file and line."""
    name = str(source)
    return _parse_table(_open_source(name), name, sep)


def _parse_table(handle, name: str, sep: str | None) -> Table:
    stdin_bytes = handle.getvalue() if isinstance(handle, io.BytesIO) else None
    frame = _read_frame(handle, name, separator_for(name, sep))
    if len(frame.columns) == 0 or len(frame) == 0:
        raise DataError(f"{name}: no data rows.", "The file needs a header line and at least one row of numbers.")
    frame.columns = [str(c) for c in frame.columns]
    return Table(frame=frame, name=name, stdin_bytes=stdin_bytes)


def _load_fast(handle, name: str, x_col, y_col, sep: str) -> Samples | None:
    """pyarrow's multi-threaded reader straight to float64 arrays, or None when the careful path is needed."""
    found = _read_numeric_columns(handle, name, x_col, y_col, sep)
    if found is None:
        return None
    (x_name, x), (y_name, y) = found
    for values, column in ((x, x_name), (y, y_name)):
        _require_finite(values, name, column)
    stdin_bytes = handle.getvalue() if isinstance(handle, io.BytesIO) else None
    return Samples(x=x, y=y, source=name, x_name=x_name, y_name=y_name, stdin_bytes=stdin_bytes)


def _read_numeric_columns(handle, name: str, x_col, y_col, sep: str):
    """((x_name, x), (y_name, y)) when both columns parse as numbers with no gaps; otherwise None.

    Each block's two columns are copied into arrays sized from the file's length, and the block is let
    go: memory stays near the size of x and y.
    """
    try:
        import pyarrow as pa

        if isinstance(handle, io.BytesIO):
            source, size = pa.BufferReader(handle.getvalue()), len(handle.getvalue())
        else:
            source, size = str(handle), Path(handle).stat().st_size
        found, blocks = _numeric_blocks(source, size, name, x_col, y_col, sep, stream=size >= STREAM_ABOVE_BYTES)
        columns = [_Growing(), _Growing()]
        for x, y, expected in blocks:
            columns[0].add(x, expected_total=expected)
            columns[1].add(y, expected_total=expected)
        if columns[0].length == 0:
            return None
        return [(found[0], columns[0].array()), (found[1], columns[1].array())]
    except Exception:  # anything pyarrow cannot read cleanly: the careful path will say what it is
        return None


class _Unclean(Exception):
    """The fast readers step aside; the careful path reads the file again and says what is wrong."""


def _numeric_blocks(source, size: int, name: str, x_col, y_col, sep: str, stream: bool):
    """The x and y column names, and an iterator of (x, y, expected rows): float64 views, block by block.

    stream: pyarrow's streaming reader, so that the text never sits in memory beside the numbers;
    otherwise the multi-threaded reader, all at once, which is fastest for files that fit easily.
    The iterator raises _Unclean at a gap or a column that is not numeric.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter=sep)
    if stream:
        reader = pacsv.open_csv(source, parse_options=parse, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES))
    else:
        reader = _TableReader(pacsv.read_csv(source, parse_options=parse))
    names = [str(n) for n in reader.schema.names]
    if len(set(names)) != len(names):
        raise _Unclean
    found = [_resolve_column(names, wanted, name, role) for wanted, role in ((x_col, "x"), (y_col, "y"))]
    indices = [names.index(column) for column in found]

    def blocks():
        for batch in reader:
            block = []
            for index in indices:
                values = batch.column(index)
                if values.null_count or not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
                    raise _Unclean
                block.append(_float64(values))
            expected = reader.rows if isinstance(reader, _TableReader) else _expected_rows(size, batch.num_rows)
            yield block[0], block[1], expected
        pa.default_memory_pool().release_unused()  # hand the text buffers back to the system now

    return found, blocks()


STREAM_ABOVE_BYTES = 64 << 20  # files larger than this are read block by block


class _TableReader:
    """A whole pyarrow table that iterates like the streaming reader."""

    def __init__(self, table) -> None:
        self.schema = table.schema
        self.rows = table.num_rows
        self._batches = table.to_batches()

    def __iter__(self):
        return iter(self._batches)


BLOCK_BYTES = 1 << 20  # text read at a time when streaming: larger blocks read no faster, and hold more


def _expected_rows(file_size: int, first_block_rows: int) -> int:
    """The file's row count, guessed from the rows in its first block of text (2% to spare)."""
    return int(file_size / BLOCK_BYTES * first_block_rows * 1.02) + first_block_rows


class _Growing:
    """An array filled block by block; it grows by half again when a guess of its size was short."""

    def __init__(self, dtype=np.float64) -> None:
        self.buffer = np.empty(0, dtype=dtype)
        self.length = 0

    def add(self, values: np.ndarray, expected_total: int) -> None:
        end = self.length + len(values)
        if end > len(self.buffer):
            capacity = max(end, expected_total if self.length == 0 else int(len(self.buffer) * 1.5))
            grown = np.empty(capacity, dtype=self.buffer.dtype)
            grown[: self.length] = self.buffer[: self.length]
            self.buffer = grown
        self.buffer[self.length : end] = values
        self.length = end

    def array(self) -> np.ndarray:
        """The filled part; copied only when the guess overshot by more than a tenth."""
        if len(self.buffer) > 1.1 * self.length:
            return self.buffer[: self.length].copy()
        return self.buffer[: self.length]


@dataclass(frozen=True)
class ShiftedFloat32:
    """x − x_shift and y − y_shift in float32, and the exact float64 moments of x and y."""

    x: np.ndarray
    y: np.ndarray
    x_shift: float
    y_shift: float
    moments: object  # reference.Moments
    x_name: str
    y_name: str


def load_shifted_float32(source: str, x_col, y_col, sep: str | None, shift: bool) -> ShiftedFloat32 | None:
    """One streamed pass that keeps x and y in float32 only, less the first block's means (so no offset
    costs float32 digits), while merging each block's float64 moments for the exact reference.

    None when the file needs the careful path (gaps, text, values that are not finite, stdin...).
    """
    from linfit.reference import merge_moments, moments

    try:
        size = Path(source).stat().st_size
        found, blocks = _numeric_blocks(source, size, source, x_col, y_col, separator_for(source, sep), stream=True)
        columns, parts, shifts = [_Growing(np.float32), _Growing(np.float32)], [], None
        for x, y, expected in blocks:
            if not all(np.isfinite(v).all() and np.abs(v).max(initial=0) <= LARGEST for v in (x, y)):
                return None
            shifts = shifts or ((float(x.mean()), float(y.mean())) if shift else (0.0, 0.0))
            parts.append(moments(x, y))
            for values, shift_by, column in zip((x, y), shifts, columns):
                column.add((values - shift_by).astype(np.float32), expected_total=expected)
    except Exception:  # anything else: the careful path will say what it is
        return None
    if not parts:
        return None
    return ShiftedFloat32(columns[0].array(), columns[1].array(), shifts[0], shifts[1], merge_moments(parts), found[0], found[1])


def _float64(array) -> np.ndarray:
    """A pyarrow array (no nulls) as float64 numpy, read from Arrow's buffer without copying where it can.

    pyarrow's own to_numpy() imports pandas, which costs more than the whole read; this does not.
    """
    import pyarrow as pa

    array = array.cast(pa.float64())
    return np.frombuffer(array.buffers()[1], dtype=np.float64, count=len(array), offset=array.offset * 8)


def column_values(table: Table, wanted: str | int, role: str) -> tuple[str, np.ndarray]:
    """The named (or 0-based indexed) column as float64 with NaN for empty cells; non-numbers are errors."""
    column_name = _resolve_column(list(table.frame.columns), wanted, table.name, role)
    return column_name, _numeric(table.frame[column_name], table.name, column_name)


def separator_hint(header: str) -> str | None:
    """A likely separator when a lone header holds one (';', tab, '|' or spaces)."""
    for candidate, shown in ((";", ";"), ("\t", "\\t"), ("|", "|")):
        if candidate in header:
            return shown
    return None


def _open_source(name: str):
    if name == STDIN:
        if sys.stdin is None or sys.stdin.isatty():  # nothing piped in: reading would wait forever
            raise DataError("'-' reads the data from stdin, but stdin is a terminal.", "Pipe the data in: linfit train - < data.csv")
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


def _read_frame(handle, name: str, sep: str) -> pd.DataFrame:
    """Parse with the fast engine; on failure re-parse with the C engine for a precise error."""
    import pandas as pd

    if isinstance(handle, io.BytesIO):
        raw = handle.getvalue()
        fresh = lambda: io.BytesIO(raw)  # noqa: E731 - each engine needs its own stream
    else:
        fresh = lambda: handle  # noqa: E731
    try:
        frame = pd.read_csv(fresh(), engine="pyarrow", sep=sep)
    except ImportError as exc:
        raise DataError(f"{name}: cannot decompress: {exc}.", "Install the package it names, or decompress the file first.") from None
    except Exception:  # the pyarrow engine's errors are not precise; the C engine's are
        frame = None
    if frame is None:
        frame = _read_frame_precisely(fresh(), name, sep)
    _reject_duplicate_columns(frame, fresh, name, sep)
    return frame


def _read_frame_precisely(handle, name: str, sep: str) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(handle, engine="c", sep=sep)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty.", "It needs a header line (x,y) and rows of numbers.") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{name}: not UTF-8 text (byte {exc.start}).", "Is this a CSV file? Save it as UTF-8 CSV."
        ) from None
    except pd.errors.ParserError as exc:
        detail = str(exc).split("C error: ")[-1].strip().rstrip(".")
        raise DataError(f"{name}: cannot parse CSV: {detail}.", "Check the delimiter and that every row has the same number of fields.") from None


def _reject_duplicate_columns(frame: pd.DataFrame, fresh, name: str, sep: str) -> None:
    """pandas renames a repeated header 'x' to 'x.1'; a repeated name is ambiguous, so say so."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    if not any(re.fullmatch(r"(.*)\.\d+", c) and c.rsplit(".", 1)[0] in columns for c in columns):
        return
    header = [str(v) for v in pd.read_csv(fresh(), sep=sep, header=None, nrows=1, dtype=str).iloc[0]]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DataError(f"{name}: the header repeats column {repeated[0]!r}.", "Give each column its own name.")


def _resolve_column(columns: list[str], wanted: str | int, name: str, role: str) -> str:
    """A header name, or a 0-based index (an int, or a string of digits that is no header)."""
    if len(columns) == 1 and separator_hint(columns[0]):
        raise DataError(
            f"{name}: only one column, {columns[0]!r}: the separator looks wrong.",
            f"Pass --sep '{separator_hint(columns[0])}'.",
        )
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
    import pandas as pd

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
        if not keep.any():
            raise DataError(f"{name}: no data rows: every row has a missing x or y.", "Fill in the values.")
        return x[keep], y[keep], int(missing.sum())
    row = int(np.argmax(missing))
    column = x_name if np.isnan(x[row]) else y_name
    raise DataError(
        f"{name}: line {row + 2}, column '{column}': missing value ({int(missing.sum())} rows have one).",
        "Fill it in, or pass --drop-na to drop such rows.",
    )


def _require_finite(values: np.ndarray, name: str, column: str) -> None:
    """No ±inf, and nothing whose square would overflow (checked by min and max: no temporary array)."""
    if not values.size:
        return
    low, high = float(values.min()), float(values.max())
    if max(abs(low), abs(high)) <= LARGEST:
        return
    row = int(values.argmax() if abs(high) >= abs(low) else values.argmin())
    if np.isinf(values[row]):
        raise DataError(f"{name}: line {row + 2}, column '{column}': {values[row]} is not a finite number.", "Fix or remove that row.")
    raise DataError(
        f"{name}: line {row + 2}, column '{column}': {values[row]:g} is too large (its square overflows).",
        "Rescale the column (e.g. to thousands or millions of its unit).",
    )


def iter_chunks(source: str | Path, x_col="x", y_col="y", sep: str | None = None, chunk_rows: int = 1_000_000):
    """Stream (x, y) float64 arrays of at most `chunk_rows` rows from a file, never holding the whole of it.

    Each chunk is checked as it comes; a problem is reported with its line, counted from the file's top.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    name = str(source)
    path = _open_source(name)
    if not isinstance(path, Path):
        raise DataError("--chunk-rows reads the file again for every step: it needs a file, not stdin.", "Save the data to a file first.")
    try:
        reader = pacsv.open_csv(str(path), parse_options=pacsv.ParseOptions(delimiter=separator_for(name, sep)), read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{name}: cannot read as CSV ({str(exc).splitlines()[0]}).", "Try it without --chunk-rows for a precise error.") from None
    names = [str(n) for n in reader.schema.names]
    indices = [names.index(_resolve_column(names, wanted, name, role)) for wanted, role in ((x_col, "x"), (y_col, "y"))]
    pending_x, pending_y, pending_rows, offset = [], [], 0, 0
    try:
        for batch in reader:
            for index, store in zip(indices, (pending_x, pending_y)):
                store.append(_checked_column(batch.column(index), name, names[index], offset))
            offset += batch.num_rows
            pending_rows += batch.num_rows
            while pending_rows >= chunk_rows:
                x, y = np.concatenate(pending_x), np.concatenate(pending_y)
                yield x[:chunk_rows], y[:chunk_rows]
                pending_x, pending_y = [x[chunk_rows:]], [y[chunk_rows:]]
                pending_rows -= chunk_rows
    except pa.ArrowInvalid as exc:
        raise DataError(f"{name}: after line {offset + 1}: {str(exc).splitlines()[0]}.", "Check that every cell of x and y is a number.") from None
    if pending_rows:
        yield np.concatenate(pending_x), np.concatenate(pending_y)


def _checked_column(values, name: str, column: str, offset: int) -> np.ndarray:
    import pyarrow as pa

    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise DataError(f"{name}: column '{column}' is not numeric near line {offset + 2}.", "Check that every cell of x and y is a number.")
    if values.null_count:
        row = offset + next(i for i, v in enumerate(values.is_null().to_pylist()) if v)
        raise DataError(f"{name}: line {row + 2}, column '{column}': missing value.", "Fill it in; --drop-na works without --chunk-rows.")
    array = np.array(_float64(values))  # a copy: the block's memory is let go
    try:
        _require_finite(array, name, column)
    except DataError as error:  # the row inside this block → the row in the file
        raise DataError(_shift_line(error.message, offset), error.hint) from None
    return array


def _shift_line(message: str, offset: int) -> str:
    return re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + offset}", message, count=1)
