"""Writing files so that nothing the user had is lost: check first, then write whole or not at all
(and reading the small files a user names — a config, a model — whole, or one clean error).

Every file a command writes goes through an `OutputPlan`, made by `plan_outputs` before any work:

- an output that is one of the run's inputs (the data, --config, --init-from) or another output of the
  same run is refused (same resolved path, or the same file by device and inode: a hard link too);
- a regular file (or a new one) is written to a temporary file beside it, flushed to disk and renamed
  over it in one step, keeping its mode: a reader sees the old file or the new one, never half;
- a device (/dev/null, /dev/stdout), a FIFO, or anything under /dev or /proc is written *through*:
  the node is opened and written, never replaced; a symbolic link is followed and its target written
  (the link stays a link);
- `commit` writes every output of the run together: all temporary files first, then the renames, so a
  failure part-way (no space, a file-size limit) leaves every existing file as it was;
- a failing write is one `OutputError` naming the file (exit code 7), never a traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from linfit.errors import LinfitError, OutputError, UsageError

THROUGH_PREFIXES = ("/dev/", "/proc/")  # nodes the system owns: written through, never replaced

REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file would exceed the file-size limit",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "an input/output error",
    errno.ENOENT: "the folder no longer exists",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a directory",
    errno.ENXIO: "no process is reading the FIFO",
}


@dataclass(frozen=True)
class Output:
    """One file a run will write: the flag that named it, the path, and how it is written."""

    flag: str
    path: Path
    through: bool  # write into the existing node (device, FIFO, /dev, /proc) rather than replace it
    target: Path  # the file that is replaced: the path with symbolic links followed

    def describe(self) -> str:
        return f"{self.flag} {self.path}"


class OutputPlan:
    """The outputs of one run, checked before any work; `commit` writes them all, or leaves all as they were."""

    def __init__(self, outputs: Iterable[Output]) -> None:
        self.outputs = {output.flag: output for output in outputs}

    def __contains__(self, flag: str) -> bool:
        return flag in self.outputs

    def path(self, flag: str) -> Path | None:
        output = self.outputs.get(flag)
        return output.path if output is not None else None

    def write(self, flag: str, content: str | bytes) -> None:
        """Write one output now (text as UTF-8)."""
        self.commit({flag: content})

    def commit(self, contents: Mapping[str, str | bytes]) -> None:
        """Write several outputs as one: stage every regular file, write through the devices, then rename."""
        staged: list[tuple[Output, str]] = []
        try:
            with _signals_held():  # a signal may not land between a temporary file's creation and its record
                for flag, content in contents.items():
                    output = self.outputs[flag]
                    if not output.through:
                        staged.append((output, _stage(output, content.encode("utf-8") if isinstance(content, str) else content)))
            for flag, content in contents.items():  # a FIFO may wait for its reader: Ctrl-C must still work
                output = self.outputs[flag]
                if output.through:
                    _write_through(output, content.encode("utf-8") if isinstance(content, str) else content)
            with _signals_held():  # the renames are quick; let no signal land between two of them
                while staged:
                    output, temporary = staged[0]
                    _rename(output, temporary)
                    staged.pop(0)
        finally:
            with _signals_held():
                for _, temporary in staged:
                    _remove(temporary)


def plan_outputs(outputs: Mapping[str, Path | str | None], inputs: Mapping[str, Path | str | None] = {}) -> OutputPlan:
    """Check the run's outputs (flag → path) against its inputs (label → path) and each other.

    Raises UsageError (exit 2) before any work for an output that cannot be written or would destroy
    an input or another output.
    """
    checked: list[Output] = []
    for flag, given in outputs.items():
        if given is None:
            continue
        output = _output(flag, Path(given))
        for label, source in inputs.items():
            if source is not None and str(source) != "-" and _same_file(output.path, Path(source)):
                raise UsageError(
                    f"{flag} {given}: this is the {label} of the run; writing it would destroy it.", "Choose another output path."
                )
        for other in checked:
            if _same_file(output.path, other.path) and not _is_char_device(output.path):
                raise UsageError(f"{flag} {given}: {other.flag} writes the same file.", "Give each output its own path.")
        checked.append(output)
    return OutputPlan(checked)


def check_writable(path: Path, flag: str) -> None:
    """Fail before any work if `path` could not be written: missing or read-only folder, or a folder."""
    _output(flag, Path(path))


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write text (UTF-8) or bytes to `path` as an OutputPlan does: whole or not at all, through devices."""
    OutputPlan([_output("output", Path(path))]).write("output", content)


def _output(flag: str, path: Path) -> Output:
    if str(path) in ("", "-"):
        raise UsageError(f"{flag} {str(path)!r}: give a file name.", "Write to /dev/stdout to see it on the terminal.")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory.", "Give a file name.")
    through = _writes_through(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() and not through else path
    if through:
        if not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {path}: not writable.", "Choose another path.")
        return Output(flag, path, True, target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist.", "Create it first, or choose another path.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the folder {folder} is not writable.", "Choose another path.")
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is read-only.", "Choose another path, or make it writable.")
    return Output(flag, path, False, target)


def _writes_through(path: Path) -> bool:
    """A device, FIFO or socket (after links), or a node the system owns, is written into, not replaced."""
    absolute = os.path.abspath(path)
    if absolute.startswith(THROUGH_PREFIXES):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # a new file (or a dangling link): created by the atomic path
    return not stat.S_ISREG(mode)


def _is_char_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def _same_file(one: Path, other: Path) -> bool:
    """The same resolved path, or the same file on disk (device and inode: hard links, bind mounts)."""
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    try:
        first, second = os.stat(one), os.stat(other)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _stage(output: Output, data: bytes) -> str:
    """Write the bytes to a temporary file beside the target, flushed to disk; return its name."""
    target = output.target
    folder = target.parent if str(target.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _error(output, exc) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        os.chmod(temporary, mode)
    except OSError as exc:
        _remove(temporary)
        raise _error(output, exc) from None
    except BaseException:
        _remove(temporary)
        raise
    return temporary


def _rename(output: Output, temporary: str) -> None:
    try:
        os.replace(temporary, output.target)
    except OSError as exc:
        raise _error(output, exc) from None


def _write_through(output: Output, data: bytes) -> None:
    """Open the existing node (never created, never truncated by us) and write the bytes into it."""
    try:
        descriptor = os.open(output.path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _error(output, exc) from None
    try:
        view = memoryview(data)
        while view:
            written = os.write(descriptor, view)
            view = view[written:]
    except OSError as exc:
        raise _error(output, exc) from None
    finally:
        os.close(descriptor)


def _error(output: Output, exc: OSError) -> OutputError:
    reason = REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return OutputError(
        f"cannot write {output.describe()}: {reason}.", "Nothing was replaced; free space or choose another path, and run again."
    )


def _remove(temporary: str) -> None:
    try:
        os.unlink(temporary)
    except OSError:
        pass


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the duration (they are delivered right after)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_small_text(path: Path | str, name: str, what: str, limit: int, error: type[LinfitError], hint: str | None = None) -> str:
    """The UTF-8 text of a small file the user named, read whole, or one clean error of class `error`.

    `what` names the kind of file ("config file", "model file"); more than `limit` bytes is refused
    unread (no file of this kind is that large); `hint` says how to get a right one.
    """
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{name}: {what} not found.", hint) from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not a {what}.", hint) from None
    except OSError as exc:
        raise error(f"{name}: cannot read the {what} ({exc.strerror or exc}).") from None
    if len(data) > limit:
        raise error(f"{name}: larger than {limit // 1024} KiB: not a linfit {what}.", hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not a {what} (not UTF-8 text at byte {exc.start}).", hint) from None
