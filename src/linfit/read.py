"""The one reader: a DATA argument in, validated float64 (x, y) blocks out, and the facts about them.

DATA is a path, '-' (stdin), a FIFO, or a glob; CSV/TSV (compressed by .gz, .bz2, .xz or .zst: the
extension decides, the content is never sniffed) or Parquet. Every road that trains or predicts
(in memory, lean float32, streamed, one process's share) consumes a `Reading`, so every road gives
the same numbers or the same error.

How a CSV is read. Each input is opened once; its bytes are hashed as they pass. The header is
parsed here (a BOM dropped, names trimmed). The rest is cut into pieces of text that end at a line
end, and pyarrow parses each piece straight to float64. A piece that pyarrow refuses, or whose
numbers fail a check, goes to `_careful`: Python's csv module over the same bytes, which applies
the rules below cell by cell and raises the first problem with its line and column (or, finding
none, returns the numbers: pyarrow is only the fast way to the same answer).

One process's share (torchrun, `shard=(rank, world)`): one CSV file is split by bytes — process r
parses only the lines that start in [r·S/W, (r+1)·S/W); every process reads the header for the
names, rank 0 alone parses it as its own and hashes every byte of the file (so the SHA-256 is the one
a single process takes). An error's line is counted in the whole file: the newlines before the range
are counted, only when there is an error. One Parquet file: every world-th row group. See `split_of`.

The rules, decided here alone:
- every row has as many fields as the header (blank lines are skipped) and lies on one line: a quoted
  field that holds a line break is refused, naming the line where it opens (cut into pieces or byte
  ranges, such a row would read as rows of numbers; within a piece pyarrow's row count gives it away);
  the header alone may hold one;
- a header name may appear once; --x-col and --y-col name two different columns;
- a cell is a decimal number (sign, digits, point, exponent; surrounding spaces allowed) — not
  hexadecimal, not '1_000'; empty, 'NA', 'nan' and the like are missing (an error, or dropped
  with --drop-na); inf and numbers beyond 1e150 (whose squares overflow) are refused;
- a weight (weight_col) is such a number, present and >= 0, --drop-na or not, and 0 or normal (not below 2.2e-308);
- Parquet integers are rounded to the nearest float64 (beyond 2^53), as their decimal digits would be.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import glob
import gzip
import hashlib
import io
import lzma
import math
import re
import stat
import sys
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from linfit.errors import DataError, UsageError

STDIN = "-"
STDIN_NAME = "stdin"  # how messages name '-'
LARGEST = 1e150  # beyond this, squares and sums of squares overflow float64
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
TAB_SEPARATED = (".tsv", ".tab")
PARQUET = (".parquet", ".pq")
TEXT_BYTES = 4 << 20  # text parsed at a time: pyarrow splits it over its threads, 1 MiB each
BOM = b"\xef\xbb\xbf"
# pyarrow's own list of missing-value spellings, so that both parsers agree
MISSING = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "n/a",
        "nan",
        "null",
    ]
)
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


@dataclass
class Facts:
    """What a pass over the data found: complete once the pass has ended."""

    source: str  # the DATA argument as the user gave it (the file, when a glob matched one)
    x_name: str = ""
    y_name: str = ""
    w_name: str = ""  # the weight column's name ("" when the rows have no weights)
    rows: int = 0  # rows kept
    dropped: int = 0  # rows dropped by --drop-na
    x_largest: float = 0.0  # the largest |x|, |y| (for the float32 range check)
    y_largest: float = 0.0
    sha256: str | None = None  # of the bytes as stored (compressed, if they were), every input in order
    lines_are_rows: bool = False  # a CSV whose header is line 1 and whose row r is line r + 1 (no blank or multi-line records)


def expand(data: str) -> list[str]:
    """A file, '-', or a glob such as 'data/part-*.csv' (sorted, so that every process sees one order)."""
    data = str(data)
    if data == STDIN or Path(data).exists() or not any(c in data for c in "*?["):
        return [data]
    found = sorted(glob.glob(data))
    if not found:
        raise DataError(f"{data}: no file matches.", "Check the pattern.")
    return found


def display_name(path: str) -> str:
    return STDIN_NAME if path == STDIN else path


def separator_for(name: str, sep: str | None) -> str:
    """The field separator: the one given, else a tab for .tsv/.tab files (compressed or not), else a comma."""
    if sep is not None:
        sep = "\t" if sep in ("\\t", "tab") else sep
        if len(sep) != 1 or sep in '\r\n"':
            raise UsageError(f"--sep must be one character (not a quote or line end), got {sep!r}.", "For tabs pass --sep '\\t'.")
        return sep
    return "\t" if _stem(name).endswith(TAB_SEPARATED) else ","


def is_regular_file(path: str) -> bool:
    """A file that can be read again (for --chunk-rows): not stdin, a FIFO or a device."""
    try:
        return path != STDIN and stat.S_ISREG(Path(path).stat().st_mode)
    except OSError:
        return False


def _stem(name: str) -> str:
    stem = name.lower()
    for suffix in COMPRESSIONS:
        stem = stem.removesuffix(suffix)
    return stem


def _compression(name: str) -> str | None:
    return next((kind for suffix, kind in COMPRESSIONS.items() if name.lower().endswith(suffix)), None)


class Reading:
    """Iterate for (x, y) float64 blocks (y is None when y_col is None); `facts` is complete after a pass.

    weight_col: the rows' weights (a name or 0-based index, as x_col): every weight finite and >= 0 (0
    allowed); a missing, negative or non-numeric one is a DataError naming its line (Parquet: row) and
    column, --drop-na or not. With a weight column, iterate `with_weights()` for (x, y, w) blocks;
    plain iteration refuses, so that no caller drops the weights unknowingly. `with_weights()` works
    without one too (w is None).
    keep_missing: missing x cells become NaN instead of an error (predict); keep_rows: the rows' cells
    are kept as text in `rows` and `header` (predict's CSV output keeps the input's columns).
    """

    def __init__(
        self,
        data: str,
        x_col: str | int = "x",
        y_col: str | int | None = "y",
        *,
        weight_col: str | int | None = None,
        sep: str | None = None,
        drop_na: bool = False,
        keep_missing: bool = False,
        keep_rows: bool = False,
        paths: list[str] | None = None,
        rows_of: list[str] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.paths = paths if paths is not None else expand(data)
        # rows_of: the inputs whose rows are wanted (one process's files of a glob); the others are only hashed
        self.rows_of = set(self.paths if rows_of is None else rows_of)
        self.wanted = [(x_col, "x")] + ([] if y_col is None else [(y_col, "y")]) + ([] if weight_col is None else [(weight_col, "weight")])
        self.has_y, self.weight_col = y_col is not None, weight_col
        self.sep, self.drop_na, self.keep_missing, self.keep_rows = sep, drop_na, keep_missing, keep_rows
        label = self.paths[0] if len(self.paths) == 1 else str(data)
        wanted = [p for p in self.paths if p in self.rows_of]
        self.facts = Facts(source=label)
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._size = sum(Path(p).stat().st_size for p in wanted if is_regular_file(p) and not _compression(p))
        self._text_read = self._header_bytes = 0
        # shard (rank, world): this process's part of one file, read alone — see `split_of`
        self.rank, self.world = shard if shard else (0, 1)
        self.split = split_of(self.paths, self.world)
        self.parts: dict[tuple[int, int], int] = {}  # rows of the last pass from each (input, byte range or row group), in order
        if self.split == "bytes":
            low, high = self.byte_range()
            self._size = high - low

    def byte_range(self) -> tuple[int, int]:
        """[r·S/W, (r+1)·S/W) of the one file: this process parses the lines that start in it."""
        size = Path(self.paths[0]).stat().st_size
        return size * self.rank // self.world, size * (self.rank + 1) // self.world

    @property
    def parsed_bytes(self) -> int:
        """The bytes this process parsed as data in the last pass (text; Parquet: its row groups' bytes)."""
        return self._text_read + self._header_bytes

    @property
    def hashing(self) -> bool:
        """Whether this process takes the SHA-256 (a split file: rank 0 alone reads every byte for it)."""
        return self.split is None or self.rank == 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        if self.weight_col is not None:
            raise TypeError("this Reading has a weight column: iterate reading.with_weights() for (x, y, w)")
        for x, y, _ in self.with_weights():
            yield x, y

    def with_weights(self) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """(x, y, w) float64 blocks: y is None without y_col, w None without weight_col."""
        facts = self.facts
        facts.rows = facts.dropped = 0
        facts.sha256 = None
        self._text_read = self._header_bytes = 0
        self.parts = {}
        digest = hashlib.sha256()
        for index, path in enumerate(self.paths):
            self._part = (index, self.rank if self.split == "bytes" else 0)
            for block in self._one_input(path, digest):
                self.parts[self._part] = self.parts.get(self._part, 0) + len(block[0])
                yield block
        facts.sha256 = digest.hexdigest() if self.hashing else None

    def expected_rows(self, rows_so_far: int) -> int:
        """The rows a whole pass will give, guessed from the text read so far (2% to spare); 0 if unknown."""
        if not self._size or not self._text_read:
            return 0
        return int(rows_so_far * self._size / self._text_read * 1.02) + 1

    # -- opening ---------------------------------------------------------------------------------
    def _one_input(self, path: str, digest) -> Iterator:
        name = display_name(path)
        kind = _compression(path)
        with _open_raw(path, name) as raw:
            hashed = io.BufferedReader(_Hashing(raw, digest) if self.hashing else raw, buffer_size=1 << 20)
            try:
                if path in self.rows_of:
                    yield from self._rows(path, hashed, raw, kind, name)
                while self.hashing and hashed.read(1 << 20):  # the rest, if any, still belongs to the digest
                    pass
            except (OSError, EOFError, zlib.error, lzma.LZMAError, _zstd_error()) as exc:
                what = f"cannot decompress it as {kind}" if kind else "cannot read it"
                hint = (
                    f"The name ends in {path[path.rfind('.') :]}: check that the file is complete and really {kind} data."
                    if kind
                    else "Check the file."
                )
                raise DataError(f"{name}: {what} ({_first_line(exc)}).", hint) from None

    def _rows(self, path: str, hashed, raw, kind: str | None, name: str) -> Iterator:
        stream = _decompressed(hashed, kind, name)
        if _stem(path).endswith(PARQUET):
            seekable = kind is None and raw.seekable()
            yield from self._parquet(stream, raw if seekable else None, name)
        else:
            yield from self._csv(stream, name, separator_for(path, self.sep), raw)

    # -- CSV -------------------------------------------------------------------------------------
    def _csv(self, stream, name: str, sep: str, raw=None) -> Iterator:
        pieces = _text_pieces(stream)
        first = next(pieces, b"")
        bom = len(BOM) if first.startswith(BOM) else 0
        first = first[bom:]
        if not first.strip():
            raise DataError(f"{name}: the file is empty.", "It needs a header line (x,y) and rows of numbers.")
        if b"\0" in first:
            line = first.count(b"\n", 0, first.index(b"\0")) + 1
            raise DataError(f"{name}: line {line}: a NUL byte: this is not a text file.", "Is this a CSV file? Save it as UTF-8 CSV.")
        header_line, start = _header_position(first)
        end = _record_end(first, start, sep)
        while end < 0:  # the header's quotes hold a line end past this piece: read on to the header's end
            more = next(pieces, b"")
            if not more:
                end = len(first)
                break
            first += more
            end = _record_end(first, start, sep)
        try:
            text = first[start:end].decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{name}: line {header_line}: not UTF-8 text (byte {exc.start + 1}).", "Is this a CSV file? Save it as UTF-8 CSV."
            ) from None
        header_rows = _csv_rows(text, sep, name, header_line, one_line=False)
        if len(header_rows) > 1:  # no \n, but rows: the lines end in a lone \r
            raise DataError(
                f"{name}: the lines end in CR alone (\\r, as on classic Mac OS), which linfit does not read as line ends.",
                "Convert them to \\n, e.g. tr '\\r' '\\n' < data.csv > fixed.csv.",
            )
        names = [n.strip() for n in header_rows[0][1]]
        indices = self._choose(names, name)
        self.header = names
        parse = _CsvPiece(len(names), indices, sep)
        line, rows_before = header_line + 1 + first.count(b"\n", start, end), 0
        body, body_start = _chain_first(first[end + 1 :], pieces), bom + end + 1
        lines_before: int | None = 0  # lines of the file before `line`'s count began (None: not counted yet)
        newlines = trailing = 0  # line ends in the body, and those after its last text (trailing blank lines)
        if self.split != "bytes" or self.rank == 0:
            self._header_bytes += body_start  # rank 0 alone parses the header's bytes as its own
        if self.split == "bytes":  # the lines that start in this process's byte range, and no others
            low, high = self.byte_range()
            if self.rank:
                body_start = max(_line_start_at(raw, low), body_start)
                raw.seek(body_start)
                body, line, lines_before = _text_pieces(raw), 1, None
            body = _until(body, body_start, high)
        for piece in body:
            self._text_read += len(piece)
            columns = None if self.keep_rows else parse.fast(piece)
            dropped = 0
            if columns is not None and _may_hold_quoted_breaks(piece, len(columns[0][0]), sep):
                columns = None  # the careful path finds the quoted line break, with its line (or finds none)
            if columns is not None:
                columns, dropped = self._settle(columns)
            if columns is None:
                try:
                    columns, dropped = self._careful(piece, line + (lines_before or 0), name, names, parse)
                except DataError:
                    if lines_before is not None:
                        raise
                    lines_before = _newlines_before(raw, body_start)  # a scan, not a parse: the line in the whole file
                    columns, dropped = self._careful(piece, line + lines_before, name, names, parse)
            line += piece.count(b"\n")
            newlines += piece.count(b"\n")
            text_end = len(piece.rstrip(b" \t\r\n"))
            trailing = trailing + piece.count(b"\n") if text_end == 0 else piece.count(b"\n", text_end)
            rows_before += len(columns[0]) + dropped
            yield self._emit(columns, dropped)
        one_line_header = header_line == 1 and first.count(b"\n", start, end) == 0
        self.facts.lines_are_rows = one_line_header and rows_before > 0 and newlines - trailing + 1 == rows_before
        if self.split:
            return  # whether the file has rows at all is known once every process's share is merged
        if rows_before == 0:
            raise no_rows_error(name, 0)
        self._require_rows(name)

    def _settle(self, columns: list[tuple[np.ndarray, np.ndarray | None]]):
        """Fast-parsed columns (values, missing mask) → the kept values, or None when a cell needs a closer look."""
        if self.weight_col is not None:  # a weight missing or below 0: the careful path names its line
            w, mask = columns[-1]
            if mask is not None or (w.size and not (w.min() >= 0 and not np.any((w > 0) & (w < TINY_WEIGHT)))):
                return None, 0
        missing = None
        for _, mask in columns:
            if mask is not None:
                missing = mask if missing is None else missing | mask
        values = [v for v, _ in columns]
        dropped = 0
        if missing is not None and missing.any():
            if self.drop_na:
                keep = ~missing
                values, dropped = [v[keep] for v in values], int(missing.sum())
            elif self.keep_missing and len(values) == 1:
                values = [np.where(missing, np.nan, values[0])]
            else:
                return None, 0
        for v in values:
            finite = v[~np.isnan(v)] if self.keep_missing else v
            if finite.size and not (finite.min() >= -LARGEST and finite.max() <= LARGEST):
                return None, 0
        return values, dropped

    def _careful(self, piece: bytes, first_line: int, name: str, names: list[str], parse: _CsvPiece):
        """The rules, row by row: the first problem raised with its line and column, else the numbers."""
        text = piece.decode("utf-8", errors="surrogateescape")
        out: list[list[float]] = [[] for _ in parse.indices]
        dropped = 0
        for line, row in _csv_rows(text, parse.sep, name, first_line):
            if not row:
                continue
            if len(row) != parse.width:
                raise DataError(
                    f"{name}: line {line}: {len(row)} fields, but the header has {parse.width}.",
                    "Every row needs one field per header column: check for a stray or missing separator.",
                )
            values = [_cell(row[i], name, f"line {line}", names[i]) for i in parse.indices]
            if self.weight_col is not None:
                _weight(values[-1], name, f"line {line}", names[parse.indices[-1]])
            if self._missing_row(values, name, f"line {line}", [names[i] for i in parse.indices]):
                dropped += 1
                continue
            for store, value in zip(out, values):
                store.append(math.nan if value is None else value)
            if self.keep_rows:
                self.rows.append(row)
        return [np.array(v, dtype=np.float64) for v in out], dropped

    def _missing_row(self, values: list, name: str, where: str, columns: list[str]) -> bool:
        """True when the row is to be dropped; raises for a missing cell unless missing cells are allowed."""
        gap = next((i for i, v in enumerate(values) if v is None), None)
        if gap is None or self.keep_missing:
            return False
        if self.drop_na:
            return True
        raise DataError(f"{name}: {where}, column '{columns[gap]}': missing value.", "Fill it in, or pass --drop-na to drop such rows.")

    # -- Parquet ---------------------------------------------------------------------------------
    def _parquet(self, stream, seekable_raw, name: str) -> Iterator:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if seekable_raw is not None:  # hash it in one pass, then read the row groups from the same handle
            while self.hashing and stream.read(1 << 20):
                pass
            seekable_raw.seek(0)
            source = seekable_raw
        else:
            source = pa.BufferReader(stream.read())
        try:
            parquet = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{name}: not a Parquet file ({_first_line(exc)}).", "Check the file, or give CSV data a .csv name.") from None
        raw_names = list(parquet.schema_arrow.names)
        names = [n.strip() for n in raw_names]
        indices = self._choose(names, name)
        self.header = names
        first_row = 1
        for group in range(parquet.num_row_groups):
            if self.split and group % self.world != self.rank:  # another process's row group
                first_row += parquet.metadata.row_group(group).num_rows
                continue
            meta = parquet.metadata.row_group(group)
            self._text_read += sum(meta.column(i).total_compressed_size for i in range(meta.num_columns))
            self._part = (self._part[0], group)  # (input, row group): the rows' place in the whole data
            wanted = sorted(set(indices)) if not self.keep_rows else list(range(len(names)))
            table = parquet.read_row_group(group, columns=[raw_names[i] for i in wanted])
            cells = [_parquet_column(table.column(wanted.index(i)), names[i], name) for i in indices]
            columns, dropped = self._parquet_rows(cells, first_row, name, [names[i] for i in indices])
            if self.keep_rows:
                self.rows.extend(_render_rows(table))
            first_row += table.num_rows
            yield self._emit(columns, dropped)
        if seekable_raw is not None:
            seekable_raw.seek(0, io.SEEK_END)  # every byte is hashed already
        if first_row == 1:
            raise DataError(f"{name}: no data rows.", "The file needs at least one row of numbers.")
        if not self.split:
            self._require_rows(name)

    def _parquet_rows(self, cells, first_row: int, name: str, columns: list[str]):
        """Values and missing masks of a row group → kept values; the first problem (by row, then x before y) raised."""
        problems = [(row, rank, error) for rank, (_, _, (row, error)) in enumerate(cells) if error is not None]
        if self.weight_col is not None:  # a missing or negative weight: an error, --drop-na or not
            w, mask, _ = cells[-1]
            bad = np.flatnonzero(mask | ~(w >= 0) | ((w > 0) & (w < TINY_WEIGHT)))
            if bad.size:
                row = int(bad[0])
                try:
                    _weight(None if mask[row] else float(w[row]), name, "row ?", columns[-1])
                except DataError as error:
                    problems.append((row, len(cells) - 1, error))
            cells = cells[:-1] + [(w, np.zeros_like(mask), (-1, None))]
        missing = np.zeros(len(cells[0][0]), dtype=bool)
        for _, mask, _ in cells:
            missing |= mask
        if missing.any() and not (self.drop_na or self.keep_missing):
            row = int(np.argmax(missing))
            column = columns[next(i for i, (_, mask, _) in enumerate(cells) if mask[row])]
            problems.append(
                (
                    row,
                    len(cells),
                    DataError(
                        f"{name}: row {first_row + row}, column '{column}': missing value.",
                        "Fill it in, or pass --drop-na to drop such rows.",
                    ),
                )
            )
        if problems:
            row, _, error = min(problems, key=lambda p: (p[0], p[1]))
            raise DataError(error.message.replace("row ?", f"row {first_row + row}"), error.hint)
        values = [v for v, _, _ in cells]
        if self.drop_na and missing.any():
            return [v[~missing] for v in values], int(missing.sum())
        return [np.where(missing, np.nan, v) for v in values] if missing.any() else values, 0

    # -- shared ----------------------------------------------------------------------------------
    def _choose(self, names: list[str], name: str) -> list[int]:
        """The indices of the wanted columns; repeated names, a wrong separator, x = y are refused here."""
        counts = Counter(names)  # linear in the header's length: 10^6 columns take a moment, not hours
        repeated = sorted(n for n, count in counts.items() if n and count > 1)
        if repeated:
            raise DataError(f"{name}: the header repeats column {repeated[0]!r}.", "Give each column its own name.")
        indices = [_resolve_column(names, wanted, name, role) for wanted, role in self.wanted]
        roles = [role for _, role in self.wanted]
        for i in range(len(indices)):
            for j in range(i):
                if indices[i] == indices[j]:
                    raise UsageError(
                        f"--{roles[j]}-col and --{roles[i]}-col both name column {names[indices[i]]!r} of {name}.",
                        "Choose different columns.",
                    )
        facts = self.facts
        if not facts.x_name:
            facts.x_name = names[indices[0]]
            facts.y_name = names[indices[1]] if self.has_y else ""
            facts.w_name = names[indices[-1]] if self.weight_col is not None else ""
        return indices

    def _emit(self, columns: list[np.ndarray], dropped: int):
        facts = self.facts
        facts.rows += len(columns[0])
        facts.dropped += dropped
        if len(columns[0]):
            facts.x_largest = max(facts.x_largest, float(np.nanmax(np.abs(columns[0]), initial=0.0)))
            if self.has_y:
                facts.y_largest = max(facts.y_largest, float(np.abs(columns[1]).max()))
        y = columns[1] if self.has_y else None
        return columns[0], y, columns[-1] if self.weight_col is not None else None

    def _require_rows(self, name: str) -> None:
        if self.facts.rows == 0 and self.facts.dropped:
            raise no_rows_error(name, self.facts.dropped)


def rechunked_with_weights(blocks, rows: int):
    """(x, y, w) blocks of any size (y or w may be None) → blocks of exactly `rows` rows (the last may be
    shorter), as data.rechunked does for (x, y): a chunk inside a block is a view, one across blocks a copy."""
    pending: list[tuple] = []
    count = 0
    for block in blocks:
        start, size = 0, len(block[0])
        if count:  # complete the chunk begun in earlier blocks
            start = min(rows - count, size)
            pending.append(_cut(block, 0, start))
            count += start
            if count < rows:
                continue
            yield _joined(pending)
            pending, count = [], 0
        while size - start >= rows:
            yield tuple(
                None if c is None else c[start : start + rows] if c.flags.writeable else c[start : start + rows].copy() for c in block
            )
            start += rows
        if start < size:
            pending, count = [_cut(block, start, size)], size - start
    if count:
        yield _joined(pending)


def _cut(block: tuple, start: int, end: int) -> tuple:
    return tuple(None if c is None else c[start:end] for c in block)


def _joined(parts: list[tuple]) -> tuple:
    return tuple(None if parts[0][i] is None else np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))


def no_rows_error(name: str, dropped: int) -> DataError:
    """A CSV with no rows to train on: none at all, or every one dropped for a missing value."""
    if dropped:
        return DataError(f"{name}: no data rows: every row has a missing x or y.", "Fill in the values.")
    return DataError(f"{name}: no data rows.", "The file needs a header line and at least one row of numbers.")


class _CsvPiece:
    """pyarrow's parse of one piece of text (no header) into float64 columns with missing masks."""

    def __init__(self, width: int, indices: list[int], sep: str) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.width, self.indices, self.sep = width, indices, sep
        generic = [f"c{i}" for i in range(width)]
        self.selected = [generic[i] for i in indices]
        self.read = pacsv.ReadOptions(column_names=generic, block_size=1 << 20)
        self.parse = pacsv.ParseOptions(delimiter=sep)
        self.convert = pacsv.ConvertOptions(
            include_columns=self.selected, column_types={c: pa.float64() for c in self.selected}, null_values=sorted(MISSING)
        )

    def fast(self, piece: bytes):
        """[(values, missing mask or None)] per wanted column, or None when pyarrow refuses the piece."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if len(piece) < 256 and not piece.strip():  # blank lines only (a longer run: the careful path skips them)
            return [(np.empty(0), None) for _ in self.selected]
        try:
            table = pacsv.read_csv(pa.py_buffer(piece), read_options=self.read, parse_options=self.parse, convert_options=self.convert)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return [_float64_with_mask(table.column(c).combine_chunks()) for c in self.selected]


def _float64_with_mask(array) -> tuple[np.ndarray, np.ndarray | None]:
    """A pyarrow float64 array as numpy (no copy where it can), and its missing mask (None if none)."""
    import pyarrow as pa

    array = array.cast(pa.float64())
    values = np.frombuffer(array.buffers()[1], dtype=np.float64, count=len(array), offset=array.offset * 8)
    if not array.null_count:
        return values, None  # read-only, Arrow's memory: whoever keeps it copies it
    values = values.copy()
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], dtype=np.uint8), bitorder="little")
    missing = bits[array.offset : array.offset + len(array)] == 0
    values[missing] = 0.0
    return values, missing


def _parquet_column(column, column_name: str, name: str):
    """(values with 0 where missing, missing mask, (first bad row or -1, its error or None)) of one Parquet column."""
    import pyarrow as pa

    array = column.combine_chunks()
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _text_column(array.to_pylist(), column_name, name)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise DataError(f"{name}: column '{column_name}' holds {kind}, not numbers.", "Choose a numeric column with --x-col / --y-col.")
    if pa.types.is_integer(kind):  # int64 and uint64 beyond 2^53: rounded to the nearest float64, as a CSV's digits are
        missing = array.is_null().to_numpy(zero_copy_only=False) if array.null_count else None
        values = array.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        values, missing = _float64_with_mask(array)
    missing = np.zeros(len(values), dtype=bool) if missing is None else missing
    missing |= np.isnan(values)  # NaN is a missing value, as 'nan' is in a CSV
    values[missing] = 0.0
    bad = np.flatnonzero(~(np.abs(values) <= LARGEST))
    if not bad.size:
        return values, missing, (-1, None)
    row = int(bad[0])
    try:
        _cell(repr(float(values[row])), name, "row ?", column_name)
    except DataError as error:
        return values, missing, (row, error)
    raise AssertionError("a value beyond the limits passed the cell rule")


def _text_column(cells: list, column_name: str, name: str):
    """A column of text cells (Parquet strings) through the same cell rule as a CSV's cells."""
    values = np.zeros(len(cells))
    missing = np.zeros(len(cells), dtype=bool)
    for row, text in enumerate(cells):
        try:
            value = None if text is None else _cell(text, name, "row ?", column_name)
        except DataError as error:
            return values, missing, (row, error)
        if value is None:
            missing[row] = True
        else:
            values[row] = value
    return values, missing, (-1, None)


def _render_rows(table) -> list[list[str]]:
    """A Parquet row group's rows as text cells (floats with every digit), for output that keeps the columns."""
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    as_text = lambda v: "" if v is None else repr(v) if isinstance(v, float) else str(v)  # noqa: E731
    return [[as_text(v) for v in row] for row in zip(*columns)]


def _cell(text: str, name: str, where: str, column: str) -> float | None:
    """One cell by the rule: a finite decimal number within range, or None when it is missing; else DataError."""
    cell = text.strip()
    if cell in MISSING:
        return None
    if not NUMBER.fullmatch(cell):
        shown = "not UTF-8 text" if any("\udc80" <= c <= "\udcff" for c in cell) else f"{text!r} is not a number"
        raise DataError(f"{name}: {where}, column '{column}': {shown}.", "Fix or remove that row.")
    value = float(cell)
    if not math.isfinite(value):
        raise DataError(f"{name}: {where}, column '{column}': {text!r} is not a finite number.", "Fix or remove that row.")
    if abs(value) > LARGEST:
        raise DataError(
            f"{name}: {where}, column '{column}': {text!r} is too large (its square overflows).",
            "Rescale the column (e.g. to thousands or millions of its unit).",
        )
    return value


TINY_WEIGHT = sys.float_info.min  # the smallest normal float64: a positive weight below it is subnormal


def _weight(value: float | None, name: str, where: str, column: str) -> None:
    """A weight by the rule: present and >= 0 (0 allowed); the cell rule has made it a finite number."""
    if value is None:
        raise DataError(f"{name}: {where}, column '{column}': missing weight.", "Give every row a weight (0 leaves a row out of the fit).")
    if not value >= 0:
        raise DataError(f"{name}: {where}, column '{column}': the weight {value!r} is negative.", "Weights must be 0 or more.")
    if 0 < value < TINY_WEIGHT:
        raise DataError(
            f"{name}: {where}, column '{column}': the weight {value!r} is too small (below {TINY_WEIGHT:.4g}, float64 keeps few of its digits).",
            "Rescale the weight column (a common factor does not change the fit), or give 0 to leave the row out.",
        )


def _resolve_column(columns: list[str], wanted: str | int, name: str, role: str) -> int:
    """A header name, or a 0-based index (an int, or a string of digits that is no header)."""
    if len(columns) == 1 and separator_hint(columns[0]):
        raise DataError(
            f"{name}: only one column, {columns[0]!r}: the separator looks wrong.",
            f"Pass --sep '{separator_hint(columns[0])}'.",
        )
    wanted_text = str(wanted).strip()
    if wanted_text in columns:
        return columns.index(wanted_text)
    digits = wanted_text.isascii() and wanted_text.isdigit()  # not '²': str.isdigit says yes, int() says no
    if digits and len(wanted_text.lstrip("0")) > 18:
        raise UsageError(
            f"--{role}-col {wanted_text[:20]}…: an index of {len(wanted_text)} digits names no column.", "Give a 0-based index or a name."
        )
    index = wanted if isinstance(wanted, int) else int(wanted_text) if digits else None
    if index is not None and 0 <= index < len(columns):
        return index
    listed = ", ".join(repr(c) for c in columns[:20]) + (f", … ({len(columns)} in all)" if len(columns) > 20 else "")
    hint = f"Choose one with --{role}-col NAME or --{role}-col INDEX (0-based)."
    if all(_looks_numeric(c) for c in columns):
        hint += " The first line looks like data: the file needs a header line such as 'x,y'."
    raise MissingColumnError(f"{name}: no column {wanted!r} for {role}; the columns are {listed}.", hint, role=role, columns=listed)


class MissingColumnError(DataError):
    """A wanted column the header does not have; `role` (x, y, weight) and the header's `columns` let a caller
    say where the name came from (eval: the model file)."""

    def __init__(
        self, message: str, hint: str | None = None, *, role: str = "", columns: str = ""
    ) -> None:  # rebuilt from (message, hint) across processes
        super().__init__(message, hint)
        self.role, self.columns = role, columns


def separator_hint(header: str) -> str | None:
    """A likely separator when a lone header holds one (';', tab or '|')."""
    for candidate, shown in ((";", ";"), ("\t", "\\t"), ("|", "|")):
        if candidate in header:
            return shown
    return None


def _looks_numeric(text: str) -> bool:
    return bool(NUMBER.fullmatch(text.strip()))


def _csv_rows(text: str, sep: str, name: str, first_line: int, one_line: bool = True):
    """(line, fields) of each row of the text; a row the csv module cannot split is an error with its line.

    one_line: a quoted field that holds a line break is an error naming the line where it opens. Such a
    row cut at its line break looks like rows of numbers to every parser that meets it in pieces (the
    pieces of a big file, each process's byte range), so it is refused on every road, whole or cut."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows = []
    quoted = one_line and '"' in text
    try:
        for row in reader:
            if quoted and any("\n" in field or "\r" in field for field in row):
                opens = first_line + (rows[-1][0] - first_line + 1 if rows else 0)
                raise DataError(
                    f"{name}: line {opens}: a quoted field holds a line break; linfit reads one row per line.",
                    "Remove the line breaks inside quotes (or drop that column) and run again.",
                )
            rows.append((first_line + reader.line_num - 1, row))
    except csv.Error as exc:
        line = first_line + reader.line_num - 1
        if "field larger than field limit" in str(exc):
            raise DataError(
                f"{name}: line {line}: a field is longer than {csv.field_size_limit():,} characters, the CSV field-size limit.",
                "Is this the right file? Shorten that field (a column name or cell), or drop the column.",
            ) from None
        raise DataError(
            f"{name}: line {line}: cannot parse CSV ({_first_line(exc).split(' - ')[0]}).",
            "Lines must end in \\n or \\r\\n; quotes must close.",
        ) from None
    return rows


_QUOTED: dict[str, re.Pattern] = {}


def _quoted_field(sep: str) -> re.Pattern:
    """A quoted field, to its closing quote or the end of the text: a quote opens a field only at a
    field's start (after a line end, the separator or nothing), as both parsers read it."""
    if sep not in _QUOTED:
        _QUOTED[sep] = re.compile(rb'"(?<![^\r\n' + re.escape(sep.encode()) + rb']")[^"]*(?:""[^"]*)*(?:"|\Z)')
    return _QUOTED[sep]


def _may_hold_quoted_breaks(piece: bytes, rows: int, sep: str) -> bool:
    """Whether a piece that pyarrow parsed into `rows` rows may hold a quoted field with a line break
    (then the careful path decides, and names the line). pyarrow's parse honours quotes within a piece:
    such a field joins lines, so it parses fewer rows than the piece has lines that are not blank — or,
    cut at the piece's end, it leaves the last line's quote open."""
    if b'"' not in piece:
        return False
    if piece.count(b"\r") != piece.count(b"\r\n"):
        return True  # lone CRs end lines too: leave the count to the careful path
    text = np.frombuffer(piece, dtype=np.uint8)
    ends = np.flatnonzero(text == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (text[ends - 1] == 13))
    last = starts[-1] if ends.size else 0
    tail = piece[ends[-1] + 1 :] if ends.size else piece
    if tail.strip(b"\r") and ends.size:  # the last line has no line end: its quotes are looked at from its start
        last = ends[-1] + 1
    lines = len(ends) - int(blank.sum()) + (1 if tail.strip(b"\r") else 0)
    if lines != rows:
        return True
    return any(piece.find(b"\n", m.start(), m.end()) >= 0 for m in _quoted_field(sep).finditer(piece, last))


def _record_end(text: bytes, start: int, sep: str) -> int:
    """The first \\n at or after `start` outside quotes (a header's end), or -1 if the text ends first."""
    end = text.find(b"\n", start)
    if end < 0 or b'"' not in text[start:end]:
        return end
    for match in _quoted_field(sep).finditer(text, start):
        if match.start() > end:
            return end
        if match.end() > end:  # that line end is inside the quotes
            end = text.find(b"\n", match.end())
            if end < 0:
                return -1
    return end


def _header_position(first: bytes) -> tuple[int, int]:
    """(line number, offset) of the first line that is not blank."""
    line, start = 1, 0
    while True:
        end = first.find(b"\n", start)
        if end < 0 or first[start:end].strip():
            return line, start
        line, start = line + 1, end + 1


def split_of(paths: list[str], world: int) -> str | None:
    """How `world` processes share one input without each parsing all of it: 'bytes' (a CSV file: a byte
    range each, cut at line starts), 'row groups' (Parquet: every world-th), or None (a glob: files are
    shared instead; compressed data or a pipe cannot be entered in the middle: each process reads all)."""
    if world <= 1 or len(paths) != 1 or _compression(paths[0]) or not is_regular_file(paths[0]):
        return None
    return "row groups" if _stem(paths[0]).endswith(PARQUET) else "bytes"


def _line_start_at(raw, offset: int) -> int:
    """The first line start at or after `offset` (the file's size when there is none)."""
    if offset <= 0:
        return 0
    raw.seek(offset - 1)
    position = offset - 1
    while True:
        block = raw.read(1 << 16)
        if not block:
            return position
        found = block.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(block)


def _until(pieces: Iterator[bytes], offset: int, end: int) -> Iterator[bytes]:
    """The pieces (the first starting at byte `offset`) up to the end of the last line that starts before `end`."""
    for piece in pieces:
        if offset >= end:
            return
        if offset + len(piece) >= end:
            cut = piece.find(b"\n", end - 1 - offset)
            yield piece if cut < 0 else piece[: cut + 1]
            return
        yield piece
        offset += len(piece)


def _newlines_before(raw, offset: int) -> int:
    """How many lines end before byte `offset` (a count of newlines: no parsing)."""
    position = raw.tell()
    raw.seek(0)
    count, left = 0, offset
    while left > 0:
        block = raw.read(min(1 << 22, left))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    raw.seek(position)
    return count


def _chain_first(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _text_pieces(stream) -> Iterator[bytes]:
    """The stream's bytes in pieces of about TEXT_BYTES that end at a line end (the last piece may not)."""
    size, rest = TEXT_BYTES, b""
    while True:
        block = stream.read(size)
        if not block:
            if rest:
                yield rest
            return
        block = rest + block if rest else block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        yield block[:cut]
        rest = block[cut:]


class _Hashing(io.RawIOBase):
    """A raw binary stream that feeds every byte read through a digest."""

    def __init__(self, raw, digest) -> None:
        self.raw, self.digest = raw, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count


@contextlib.contextmanager
def _open_raw(path: str, name: str):
    """The input opened once, unbuffered: stdin, a FIFO, a device or a file."""
    if path == STDIN:
        if sys.stdin is None or sys.stdin.isatty():  # nothing piped in: reading would wait forever
            raise DataError("'-' reads the data from stdin, but stdin is a terminal.", "Pipe the data in: linfit train - < data.csv")
        yield sys.stdin.buffer
        return
    where = Path(path)
    if where.is_dir():
        raise DataError(f"{name}: is a directory, not a data file.", "Give the path of a CSV or Parquet file.")
    if not where.exists():
        raise DataError(f"{name}: file not found.", "Check the path.")
    try:
        stream = where.open("rb", buffering=0)
    except OSError as exc:
        raise DataError(f"{name}: cannot open ({exc.strerror}).", "Check the file's permissions.") from None
    with stream:
        yield stream


def _decompressed(stream, kind: str | None, name: str):
    if kind is None:
        return stream
    if kind == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(stream)
    if kind == "xz":
        return lzma.LZMAFile(stream)
    try:
        import zstandard
    except ImportError:
        raise DataError(
            f"{name}: reading .zst needs the zstandard package.", "pip install zstandard, or decompress the file first."
        ) from None
    return _ZstdReader(zstandard, stream)


class _ZstdReader:
    """zstd frames, one after another, decompressed as read; data that end inside a frame are an error."""

    def __init__(self, zstandard, raw) -> None:
        self.zstandard, self.raw = zstandard, raw
        self.frame = zstandard.ZstdDecompressor().decompressobj()
        self.frames = 0

    def read(self, size: int = -1) -> bytes:
        while True:
            compressed = self.raw.read(1 << 20)
            if not compressed:
                if not self.frames or not self.frame.eof:
                    raise EOFError("the data end inside a zstd frame")
                return b""
            out = self._feed(compressed)
            if out:
                return out

    def _feed(self, compressed: bytes) -> bytes:
        out = []
        while compressed:
            if self.frame.eof:  # the next frame starts
                self.frame = self.zstandard.ZstdDecompressor().decompressobj()
            out.append(self.frame.decompress(compressed))
            self.frames = max(self.frames, 1)
            compressed = self.frame.unused_data if self.frame.eof else b""
            if compressed:
                self.frames += 1
        return b"".join(out)


def _zstd_error():
    try:
        import zstandard

        return zstandard.ZstdError
    except ImportError:
        return OSError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")


def lines_of_rows(path: str, sep: str | None, rows: list[int], total_rows: int) -> dict[int, int] | None:
    """The line (from 1) of each given data row (from 1) of one uncompressed CSV file, past the blank lines the
    reader skips and a quoted header over several lines; None where that cannot be told for certain (not a
    regular uncompressed text file, over 1 GiB, or its non-blank lines are not `total_rows` rows one for one)."""
    if not rows or _compression(path) or not is_regular_file(path) or _stem(path).endswith(PARQUET):
        return None
    import mmap
    import os

    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0 or size > 1 << 30:
            return None
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            text = np.frombuffer(view, dtype=np.uint8)
            first = bytes(view[: min(size, 1 << 20)])
            bom = len(BOM) if first.startswith(BOM) else 0
            _, start = _header_position(first[bom:])
            end = _record_end(first[bom:], start, separator_for(path, sep))
            if end < 0:
                return None
            header_end = bom + end
            ends = np.flatnonzero(text == 10)
            starts = np.concatenate([[0], ends + 1])
            stops = np.concatenate([ends, [size]])
            if starts[-1] == size:
                starts, stops = starts[:-1], stops[:-1]
            length = stops - starts
            blank = (length == 0) | ((length == 1) & (text[np.minimum(starts, size - 1)] == 13))
            data_lines = np.flatnonzero((starts > header_end) & ~blank) + 1
            del text
    if data_lines.shape[0] != total_rows or max(rows) > total_rows or min(rows) < 1:
        return None
    return {row: int(data_lines[row - 1]) for row in rows}
