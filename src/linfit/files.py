"""Writing files so that nothing the user had is lost: check first, then write whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from linfit.errors import UsageError


def check_writable(path: Path, flag: str) -> None:
    """Fail before any work if `path` could not be written: missing or read-only folder, or a folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory.", "Give a file name.")
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist.", "Create it first, or choose another path.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the folder {folder} is not writable.", "Choose another path.")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is read-only.", "Choose another path, or make it writable.")


def check_not_input(path: Path, flag: str, inputs) -> None:
    """Fail before any work if `path` is one of the files the command reads: writing it would destroy it."""
    for name in inputs:
        if name is None or str(name) == "-":
            continue
        try:
            same = os.path.samefile(name, path)  # the same file under any name: links, ./, absolute paths
        except OSError:
            same = False  # one of them does not exist (yet)
        if same:
            raise UsageError(f"{flag} {path}: is the input {name}; writing it would destroy it.", "Choose another file name.")


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write text (UTF-8) or bytes to a temporary file beside `path`, then rename it over `path` in one step.

    A reader sees the old file or the new one, never half of either; a failure leaves the old file as it was.
    """
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        data = content.encode("utf-8") if isinstance(content, str) else content
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
