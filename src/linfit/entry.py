"""The `linfit` process: signals first, then the command, then an exit that nothing can hang.

1. SIGINT and SIGTERM are turned into an exception before anything else is imported, so that Ctrl-C
   or a scheduler's SIGTERM at any moment — an import, the reading of the data — ends in one line and
   exit 130 / 143, never a traceback. Everything runs on the main thread: nothing can wait for a
   thread that waits for it (an import of torch on another thread could deadlock with Ctrl-C).
2. Output streams that cannot encode UTF-8 (PYTHONIOENCODING=ascii, a latin-1 or cp437 terminal)
   show the nearest ASCII for what they cannot encode instead of failing (linfit.text).
3. A standard stream that is closed (`>&-`, `<&-`, `2>&-`) is opened on /dev/null first, so that no file
   linfit opens can take its number: reading a closed stdin is a data error that says it is closed (exit 3),
   stderr's lines go nowhere, and writing
   to a closed stdout fails as a full disk does (one line, exit 7). A stderr that cannot be written
   (closed, full) never changes the exit code: the error's own code still ends the process.
4. When the command is done, the streams are flushed and the process ends at once with its exit code
   (os._exit): the interpreter's teardown of torch's modules is skipped, which is both faster and
   safe from a late signal. Every file linfit writes is already closed and flushed to disk by then.
"""

import errno
import io
import os
import sys


def main() -> None:
    from linfit import signals

    signals.install()
    _guard_streams()
    try:
        code = _run()
    except KeyboardInterrupt as exc:  # before the command's own handling (an import, the command line)
        signals.ignore()  # one line, whatever comes next; what stdout still buffers is dropped
        code = getattr(exc, "exit_code", 130)
        if os.environ.get("LINFIT_DEBUG") == "1":
            import traceback

            traceback.print_exception(exc)
        _say("linfit: interrupted.")
        os._exit(code)
    code = _finish(code)
    if "torch._inductor" in sys.modules:  # --compile: let its worker pool shut down the usual way
        sys.exit(code)
    os._exit(code)


def _run() -> int:
    from linfit.text import fit_streams

    fit_streams()
    try:
        from linfit.cli import main as run

        run()
    except SystemExit as exc:
        return _exit_code(exc.code)
    return 0


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    _say(str(code))
    return 1


def _finish(code: int) -> int:
    """Flush what is left for stdout; a reader that went away or a full disk changes the exit code, not more."""
    from linfit import signals

    try:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            code = code or 141
        except OSError as exc:
            _say(f"linfit: error: cannot write to stdout: {exc.strerror or exc}.")
            code = code or 7
        _flush(sys.stderr)
    except KeyboardInterrupt as exc:
        signals.ignore()
        code = getattr(exc, "exit_code", 130)
    signals.ignore()
    if code == 0 and signals.received:  # a signal whose exception was swallowed on the way (rare)
        code = signals.exit_code(signals.received[-1])
    return code


class _ClosedStdout(io.RawIOBase):
    """What stdout is when the shell closed it: the first write fails as a write to a closed descriptor does
    (one line, exit 7); what follows is dropped, so that the failure is told once."""

    failed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.failed:
            return len(data)
        self.failed = True
        raise OSError(errno.EBADF, "stdout is closed")

    def fileno(self) -> int:  # no descriptor to write around it: /dev/null sits on 1 only so that no file opens there
        raise io.UnsupportedOperation("stdout is closed")

    def isatty(self) -> bool:
        return False


class _ClosedStdin:
    """What stdin is when the shell closed it: reading it (`-` as the data or the stream) is a data error
    that says so, rather than an empty file."""

    def isatty(self) -> bool:
        return False

    def _closed(self, *_):
        from linfit.errors import DataError

        raise DataError(
            "stdin: it is closed (the shell started linfit with <&-), so '-' has nothing to read.",
            "Pipe the data in: linfit train - < data.csv",
        )

    buffer = property(_closed)
    read = readline = _closed


class _QuietStderr:
    """stderr whose failures (closed, full, a reader gone) are dropped: there is nobody left to tell."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _guard_streams() -> None:
    """Open /dev/null on each closed standard descriptor; a closed stdout fails its writes; stderr never fails."""
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.append(fd)
    if 0 in closed:
        sys.stdin = _ClosedStdin()
    if 1 in closed:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedStdout()), encoding="utf-8", write_through=True)
    if 2 in closed:
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
    sys.stderr = _QuietStderr(sys.stderr)


def _say(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _flush(stream) -> None:
    try:
        stream.flush()
    except (OSError, ValueError):
        pass
