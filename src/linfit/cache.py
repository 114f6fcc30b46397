"""The binary pass cache of a streamed run (--chunk-rows): the text is parsed once, every later pass
reads x and y back in the training dtype at disk (or page-cache) speed. Imports neither torch nor pandas.

The layout, block-columnar so that a block's x and y are each one contiguous run:

    MAGIC (8 bytes) | block 0: x[B], y[B] | block 1: x[B], y[B] | ... | last block (≤ B rows) |
    trailer (JSON, UTF-8) | the trailer's length (8 bytes, little-endian) | MAGIC

B is `block_rows`. The trailer holds what the parsing pass found (rows, moments, the column names, the
SHA-256 of the source bytes), what the cache was made from (each source's path, size and mtime; the
columns, separator, --drop-na, the dtype, this process's share) and a CRC-32 of the blocks. In float32
the values are stored less a shift (the first block's means, a float64), x − shift rounded once to
float32, as the lean float32 reader keeps them: no offset costs digits.

A temporary cache is an unnamed file (O_TMPFILE): the kernel removes it on every exit, SIGKILL included.
A named one (--cache PATH) is also built unnamed and linked into place only once complete, so an
interrupted build leaves nothing behind and a reader never sees half a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
import zlib
from pathlib import Path

import numpy as np

from linfit.errors import UsageError
from linfit.reference import BLOCK_ROWS, Moments  # noqa: F401 (BLOCK_ROWS: rows a block, one constant for every module)

MAGIC = b"LINFITC1"
TAIL = 16  # the trailer's length and the closing MAGIC


class CacheWriter:
    """Blocks of (x, y) appended to an open file as they come; `finish` writes the trailer."""

    def __init__(self, handle, dtype: str, block_rows: int, shift: bool) -> None:
        self.handle, self.dtype, self.block_rows, self.shift = handle, np.dtype(dtype), block_rows, shift
        self.x = np.empty(block_rows, dtype=self.dtype)
        self.y = np.empty(block_rows, dtype=self.dtype)
        self.filled = self.rows = 0
        self.shifts: tuple[float, float] | None = None if shift else (0.0, 0.0)
        self.crc = 0
        handle.seek(0)
        handle.truncate()
        self._write(MAGIC, checked=False)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        if not len(x):
            return
        if self.shifts is None:  # the first block's means: floats near the data, exactly known
            self.shifts = (float(x.mean()), float(y.mean()))
        start = 0
        while start < len(x):
            take = min(self.block_rows - self.filled, len(x) - start)
            for values, shift, block in ((x, self.shifts[0], self.x), (y, self.shifts[1], self.y)):
                part = values[start : start + take]
                block[self.filled : self.filled + take] = part - shift if shift else part
            self.filled += take
            start += take
            if self.filled == self.block_rows:
                self._flush()

    def _flush(self) -> None:
        if self.filled:
            self._write(memoryview(self.x[: self.filled]).cast("B"))
            self._write(memoryview(self.y[: self.filled]).cast("B"))
            self.rows += self.filled
            self.filled = 0

    def _write(self, data, checked: bool = True) -> None:
        if checked:
            self.crc = zlib.crc32(data, self.crc)
        self.handle.write(data)

    def finish(self, trailer: dict) -> dict:
        """Write the last block and the trailer; the trailer (with rows, layout and CRC) is returned."""
        self._flush()
        shifts = self.shifts or (0.0, 0.0)
        trailer = {
            **trailer,
            "rows": self.rows,
            "block_rows": self.block_rows,
            "dtype": self.dtype.name,
            "shift": list(shifts),
            "crc32": self.crc,
        }
        text = json.dumps(trailer, sort_keys=True).encode("utf-8")
        self.handle.write(text + len(text).to_bytes(8, "little") + MAGIC)
        self.handle.flush()
        return trailer


class PassCache:
    """A complete cache, open for reading: iterate `blocks()` for (x, y) in the stored dtype."""

    def __init__(self, handle, trailer: dict, path: Path | None = None, reused: bool = False) -> None:
        self.handle, self.trailer, self.path, self.reused = handle, trailer, path, reused
        self._close = weakref.finalize(self, handle.close)  # closed (and, unnamed, gone) when no longer used
        self.rows = int(trailer["rows"])
        self.block_rows = int(trailer["block_rows"])
        self.dtype = np.dtype(trailer["dtype"])
        self.x_shift, self.y_shift = (float(s) for s in trailer["shift"])
        self.moments = Moments(**trailer["moments"])

    @property
    def body_bytes(self) -> int:
        return self.rows * 2 * self.dtype.itemsize

    def blocks(self):
        """(x, y) views of one reused buffer, block after block: read them before asking for the next."""
        fd = self.handle.fileno()
        buffer = np.empty(2 * self.block_rows, dtype=self.dtype)
        offset, left = len(MAGIC), self.rows
        while left:
            rows = min(self.block_rows, left)
            view = buffer[: 2 * rows]
            _read_exactly(fd, view, offset)
            offset += view.nbytes
            left -= rows
            yield view[:rows], view[rows:]

    def close(self) -> None:
        self._close()


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
    return head == MAGIC or head == b""


def open_existing(path: Path, key: dict, paths: list[str], hashing: bool = True) -> tuple[PassCache | None, str]:
    """The cache at `path` if it was made from these sources with these settings and is whole; else (None, why).

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
        if _crc_of_body(handle, cache.body_bytes) != trailer.get("crc32"):
            handle.close()
            return None, "its blocks are damaged (CRC-32 mismatch)"
        return cache, ""
    except (OSError, ValueError, KeyError, TypeError):
        handle.close()
        return None, "it cannot be read as a linfit cache"


def _trailer(handle) -> tuple[dict | None, str]:
    size = os.fstat(handle.fileno()).st_size
    if size < len(MAGIC) + TAIL:
        return None, "it is incomplete"
    handle.seek(size - TAIL)
    tail = handle.read(TAIL)
    length = int.from_bytes(tail[:8], "little")
    if tail[8:] != MAGIC or length > size - len(MAGIC) - TAIL:
        return None, "it is incomplete"
    handle.seek(size - TAIL - length)
    trailer = json.loads(handle.read(length).decode("utf-8"))
    body = size - TAIL - length - len(MAGIC)
    if body != int(trailer["rows"]) * 2 * np.dtype(trailer["dtype"]).itemsize:
        return None, "its length does not match its rows"
    return trailer, ""


def _crc_of_body(handle, length: int) -> int:
    crc, offset, buffer = 0, len(MAGIC), bytearray(1 << 22)
    while offset < len(MAGIC) + length:
        count = os.preadv(handle.fileno(), [memoryview(buffer)[: min(len(buffer), len(MAGIC) + length - offset)]], offset)
        if count <= 0:
            break
        crc = zlib.crc32(memoryview(buffer)[:count], crc)
        offset += count
    return crc


class NamedBuild:
    """A cache built unnamed beside `path` and linked there only when complete (atomic replace)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = temporary_file(str(path.parent) or ".")

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
