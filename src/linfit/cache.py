"""The binary pass cache of a streamed run (--chunk-rows): the text is parsed once, every later pass
reads x and y back in the training dtype at disk (or page-cache) speed. Imports neither torch nor pandas.

The layout, block-columnar so that a block's x and y are each one contiguous run:

    MAGIC (8 bytes) | block 0: x[B], y[B] (, w[B]) | block 1: ... | last block (≤ B rows) |
    trailer (JSON, UTF-8) | the trailer's length (8 bytes, little-endian) | CRC-32 (4 bytes) | MAGIC

B is `block_rows`; w, the rows' weights, is there when the data have a weight column (`weights` in the
trailer). The trailer holds what the parsing pass found (rows, moments, the column names, the SHA-256
of the source bytes) and what the cache was made from (each source's path, size and mtime; the columns,
separator, --drop-na, the dtype, this process's share). The CRC-32 covers every byte before it — MAGIC,
blocks, trailer and its length — and is verified before anything in the file is believed: a cache whose
bytes changed in any way (a disk error, a stray edit) is rebuilt, never used. The trailer's values are
then checked for sense as well (a block of 0 rows, a row count that does not match the length).
In float32 the values are stored less a shift (the first block's means, a float64), x − shift rounded
once to float32, as the lean float32 reader keeps them: no offset costs digits (weights are stored as
they are).

A temporary cache is an unnamed file (O_TMPFILE): the kernel removes it on every exit, SIGKILL included.
A named one (--cache PATH) is also built unnamed and linked into place only once complete, so an
interrupted build leaves nothing behind and a reader never sees half a cache. A --cache path that is a
symbolic link is written through: its target is replaced, the link stays.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import weakref
import zlib
from pathlib import Path

import numpy as np

from linfit.errors import UsageError
from linfit.read import Facts
from linfit.reference import BLOCK_ROWS, Moments  # noqa: F401 (BLOCK_ROWS: rows a block, one constant for every module)

MAGIC = b"LINFITC2"
EARLIER = (b"LINFITC1",)  # caches of earlier versions (C1: the CRC covered the blocks alone): ours, rebuilt
TAIL = 20  # the trailer's length, the CRC-32 and the closing MAGIC
DTYPES = ("float32", "float64")


class CacheWriter:
    """Blocks of (x, y) — and w, with `weights` — appended to an open file as they come; `finish` writes the trailer."""

    def __init__(self, handle, dtype: str, block_rows: int, shift: bool, weights: bool = False) -> None:
        self.handle, self.dtype, self.block_rows, self.shift = handle, np.dtype(dtype), block_rows, shift
        self.weights = weights
        self.columns = [np.empty(block_rows, dtype=self.dtype) for _ in range(3 if weights else 2)]
        self.filled = self.rows = 0
        self.shifts: tuple[float, float] | None = None if shift else (0.0, 0.0)
        self.crc = 0
        handle.seek(0)
        handle.truncate()
        self._write(MAGIC)

    def add(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        if not len(x):
            return
        if (w is not None) != self.weights:
            raise ValueError("a cache holds weights for every block or for none")
        if self.shifts is None:  # the first block's means: floats near the data, exactly known
            self.shifts = (float(x.mean()), float(y.mean()))
        sources = [(x, self.shifts[0]), (y, self.shifts[1])] + ([(w, 0.0)] if self.weights else [])
        start = 0
        while start < len(x):
            take = min(self.block_rows - self.filled, len(x) - start)
            for (values, shift), block in zip(sources, self.columns):
                part = values[start : start + take]
                block[self.filled : self.filled + take] = part - shift if shift else part
            self.filled += take
            start += take
            if self.filled == self.block_rows:
                self._flush()

    def _flush(self) -> None:
        if self.filled:
            for block in self.columns:
                self._write(memoryview(block[: self.filled]).cast("B"))
            self.rows += self.filled
            self.filled = 0

    def _write(self, data, checked: bool = True) -> None:
        if checked:
            self.crc = zlib.crc32(data, self.crc)
        self.handle.write(data)

    def finish(self, trailer: dict) -> dict:
        """Write the last block, the trailer and the checksum of the whole file; the trailer is returned."""
        self._flush()
        shifts = self.shifts or (0.0, 0.0)
        trailer = {
            **trailer,
            "rows": self.rows,
            "block_rows": self.block_rows,
            "dtype": self.dtype.name,
            "shift": list(shifts),
            "weights": self.weights,
        }
        text = json.dumps(trailer, sort_keys=True).encode("utf-8")
        self._write(text)
        self._write(len(text).to_bytes(8, "little"))
        self._write(self.crc.to_bytes(4, "little") + MAGIC, checked=False)
        self.handle.flush()
        return trailer


class PassCache:
    """A complete cache, open for reading: iterate `blocks()` for (x, y), `with_weights()` for (x, y, w)."""

    def __init__(self, handle, trailer: dict, path: Path | None = None, reused: bool = False) -> None:
        self.handle, self.trailer, self.path, self.reused = handle, trailer, path, reused
        self._close = weakref.finalize(self, handle.close)  # closed (and, unnamed, gone) when no longer used
        self.rows = _whole(trailer["rows"], 0)
        self.block_rows = _whole(trailer["block_rows"], 1)
        if trailer["dtype"] not in DTYPES:
            raise ValueError(f"dtype {trailer['dtype']!r}")
        self.dtype = np.dtype(trailer["dtype"])
        self.weights = trailer.get("weights", False) is True
        self.x_shift, self.y_shift = (_finite(s) for s in trailer["shift"])
        self.moments = Moments(**trailer["moments"])

    @property
    def body_bytes(self) -> int:
        return self.rows * (3 if self.weights else 2) * self.dtype.itemsize

    def blocks(self):
        """(x, y) views of one reused buffer, block after block: read them before asking for the next."""
        for x, y, _ in self.with_weights():
            yield x, y

    def with_weights(self):
        """(x, y, w) views of one reused buffer, block after block (w is None when the data have no weights)."""
        fd = self.handle.fileno()
        width = 3 if self.weights else 2
        buffer = np.empty(width * self.block_rows, dtype=self.dtype)
        offset, left = len(MAGIC), self.rows
        while left > 0:
            rows = min(self.block_rows, left)
            view = buffer[: width * rows]
            _read_exactly(fd, view, offset)
            offset += view.nbytes
            left -= rows
            yield view[:rows], view[rows : 2 * rows], view[2 * rows :] if self.weights else None

    def close(self) -> None:
        self._close()


def _whole(value, least: int) -> int:
    """A count from the trailer: a JSON integer no less than `least` (anything else: the cache is not ours)."""
    if type(value) is not int or value < least:
        raise ValueError(f"not a count: {value!r}")
    return value


def _finite(value) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def _read_exactly(fd: int, array: np.ndarray, offset: int) -> None:
    memory = memoryview(array).cast("B")
    done = 0
    while done < len(memory):
        count = os.preadv(fd, [memory[done:]], offset + done)
        if count <= 0:
            raise OSError("the cache file ends early")
        done += count


def temporary_file(directory: str | None = None):
    """A file with no name (O_TMPFILE where the system has it): removed by the kernel however the run ends."""
    return tempfile.TemporaryFile(prefix="linfit-cache-", dir=directory)


def identity(paths: list[str]) -> list[list]:
    """Each source's absolute path, size and mtime (ns): what a reused cache must still match."""
    found = []
    for path in paths:
        info = os.stat(path)
        found.append([str(Path(path).resolve()), info.st_size, info.st_mtime_ns])
    return found


def sha256_of(paths: list[str]) -> str:
    """The SHA-256 of the sources' bytes, in order, as the reader takes it (hashing, not parsing)."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    for path in paths:
        with open(path, "rb", buffering=0) as stream:
            while count := stream.readinto(buffer):
                digest.update(memoryview(buffer)[:count])
    return digest.hexdigest()


def is_cache(path: Path) -> bool:
    """Whether the file starts as a linfit cache does (an empty file counts: nothing in it to lose)."""
    with open(path, "rb") as stream:
        head = stream.read(len(MAGIC))
    return head == MAGIC or head in EARLIER or head == b""


def open_existing(path: Path, key: dict, paths: list[str], hashing: bool = True) -> tuple[PassCache | None, str]:
    """The cache at `path` if it is whole and was made from these sources with these settings; else (None, why).

    Every byte of the file is checked against its CRC-32 first: nothing it holds is believed before that.
    hashing: this process takes the SHA-256 of the sources (in a split run, rank 0 alone does)."""
    handle = open(path, "rb", buffering=0)
    try:
        trailer, why = _trailer(handle)
        if trailer is None:
            handle.close()
            return None, why
        made_from = trailer.get("key") or {}
        if made_from.get("sources") != key["sources"]:
            handle.close()
            return None, "the data changed since it was made (a file's path, size or modification time differs)"
        if made_from != key:
            handle.close()
            return None, "it was made with other settings (the columns, separator, --drop-na, dtype or processes)"
        if hashing and trailer.get("sha256") != sha256_of(paths):
            handle.close()
            return None, "the data's SHA-256 differs from the one it was made from"
        cache = PassCache(handle, trailer, path, reused=True)
        cache.facts = Facts(**trailer["facts"])
        if cache.facts.rows != cache.rows and not key.get("share", [0, 1])[1] > 1:
            raise ValueError("its facts do not match its rows")
        return cache, ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        handle.close()
        return None, "it cannot be read as a linfit cache"


def _trailer(handle) -> tuple[dict | None, str]:
    """The trailer of a cache whose every byte matches its CRC-32, or (None, why)."""
    size = os.fstat(handle.fileno()).st_size
    if os.pread(handle.fileno(), len(MAGIC), 0) in EARLIER:
        return None, "it was made by an earlier version of linfit"
    if size < len(MAGIC) + TAIL:
        return None, "it is incomplete"
    handle.seek(size - TAIL)
    tail = handle.read(TAIL)
    length = int.from_bytes(tail[:8], "little")
    if tail[12:] != MAGIC or length > size - len(MAGIC) - TAIL:
        return None, "it is incomplete"
    if _crc_of(handle, size - TAIL + 8) != int.from_bytes(tail[8:12], "little"):
        return None, "it is damaged (its CRC-32 does not match its bytes)"
    handle.seek(size - TAIL - length)
    trailer = json.loads(handle.read(length).decode("utf-8"))
    if not isinstance(trailer, dict):
        raise ValueError("the trailer is not an object")
    body = size - TAIL - length - len(MAGIC)
    width = 3 if trailer.get("weights", False) is True else 2
    if trailer.get("dtype") not in DTYPES or body != _whole(trailer["rows"], 0) * width * np.dtype(trailer["dtype"]).itemsize:
        return None, "its length does not match its rows"
    return trailer, ""


def _crc_of(handle, length: int) -> int:
    """The CRC-32 of the file's first `length` bytes."""
    crc, offset, buffer = 0, 0, bytearray(1 << 22)
    while offset < length:
        count = os.preadv(handle.fileno(), [memoryview(buffer)[: min(len(buffer), length - offset)]], offset)
        if count <= 0:
            raise OSError("the cache file ends early")
        crc = zlib.crc32(memoryview(buffer)[:count], crc)
        offset += count
    return crc


class NamedBuild:
    """A cache built unnamed beside `path` and linked there only when complete (atomic replace)."""

    def __init__(self, path: Path) -> None:
        # a symbolic link is written through, as every other output is: its target is replaced, the link stays
        self.path = Path(os.path.realpath(path)) if path.is_symlink() else path
        self.handle = temporary_file(str(self.path.parent) or ".")

    def publish(self) -> None:
        fd = self.handle.fileno()
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            os.link(f"/proc/self/fd/{fd}", staging, follow_symlinks=True)
        except OSError:  # no O_TMPFILE here: copy the bytes out instead
            _copy_out(self.handle, staging)
        try:
            os.replace(staging, self.path)
        finally:
            if staging.exists():
                staging.unlink()


def _copy_out(handle, staging: Path) -> None:
    handle.seek(0)
    with open(staging, "wb") as out:
        while block := handle.read(1 << 22):
            out.write(block)


def check_cache_path(path: Path) -> None:
    """A --cache path must be a linfit cache or not exist: any other file is the user's, and is kept."""
    if path.is_dir():
        raise UsageError(f"--cache {path}: is a directory.", "Give the path of a cache file.")
    if path.exists() and not path.is_file():
        raise UsageError(f"--cache {path}: is not a regular file (a device or a pipe cannot hold a cache).", "Give the path of a file.")
    try:
        ours = not path.exists() or is_cache(path)
    except OSError as exc:
        raise UsageError(f"--cache {path}: cannot be read ({exc.strerror}).", "Check its permissions, or choose another path.") from None
    if not ours:
        raise UsageError(f"--cache {path}: exists and is not a linfit cache; it is left as it is.", "Choose another path for the cache.")
