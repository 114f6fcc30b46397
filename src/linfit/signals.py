"""SIGINT and SIGTERM: stop at once with one line before training, after the current step during it.

`install` (called first thing by the launcher) turns both signals into an `Interrupted` exception, so
that whatever is running — an import, reading the data — unwinds through the `finally` blocks that
remove temporary files, and the launcher ends with one line and exit 130 (SIGINT) or 143 (SIGTERM).
While a run trains and writes its results, `Deferred` takes over: the first signal asks the loop to
stop after the current step (the summary is shown and the model saved, marked interrupted). A second
signal while the current step still runs stops at once (a step over a huge file can take minutes, and
there is no finished state to write of it); once the loop has seen the request and stopped, the results
of the steps done are being written, which takes milliseconds: a second signal then (a supervisor's
SIGTERM-then-SIGINT, Ctrl-C pressed twice) is absorbed, and only a third stops at once.
"""

import sys

try:  # the builtin under `signal`: no enum to import first, so the handlers are in place at once
    import _signal as signal
except ImportError:  # pragma: no cover - another Python
    import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)
received: list[int] = []  # every signal handled in this process, in order
raised: list[int] = []  # those that `install`'s handler turned into Interrupted (one may have been lost)


class Interrupted(KeyboardInterrupt):
    """A signal stopped the command; `exit_code` is 128 + the signal's number (130, 143)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = exit_code(signum)


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


def _raise(signum: int, frame) -> None:
    received.append(signum)
    raised.append(signum)
    raise Interrupted(signum)


def install() -> None:
    """From now on SIGINT and SIGTERM raise Interrupted in the main thread."""
    for number in SIGNALS:
        signal.signal(number, _raise)
    sys.unraisablehook = _redeliver


def _redeliver(unraisable, previous=sys.unraisablehook) -> None:
    """An Interrupted raised where Python can only print and drop it (an import lock's or a finaliser's
    callback): print nothing, and raise it again a moment later, where it can stop the command."""
    if isinstance(unraisable.exc_value, Interrupted):
        pending.append(unraisable.exc_value.signum)
        signal.signal(signal.SIGALRM, _raise_pending)
        signal.setitimer(signal.ITIMER_REAL, 0.002)
        return
    previous(unraisable)


pending: list[int] = []  # signals whose Interrupted was dropped, to raise again


def _raise_pending(signum: int, frame) -> None:
    if pending:
        raise Interrupted(pending.pop())


def ignore() -> None:
    """The work is done and its exit code decided: a late signal changes nothing."""
    for number in SIGNALS:
        signal.signal(number, signal.SIG_IGN)


class Deferred:
    """While active, the first SIGINT or SIGTERM sets `signum` (see `requested`); a second one raises Interrupted,
    unless the loop has seen the first (`requested` returned True): the results are then being written, and
    one more signal is absorbed so that they are."""

    ABSORBED = 1  # signals absorbed while the results are written; the next one stops at once

    def __init__(self) -> None:
        self.signum = None  # the first signal's number, once one came
        self.seen = False  # the loop asked `requested` after the first signal: it stops, and the results follow
        self.absorbed = 0
        self._previous = {}

    @property
    def stop(self) -> bool:
        return self.signum is not None

    def requested(self) -> bool:
        if self.signum is not None:
            self.seen = True
        return self.signum is not None

    def exit_code(self) -> int:
        return exit_code(self.signum or signal.SIGINT)

    def _handle(self, signum: int, frame) -> None:
        received.append(signum)
        if self.signum is None:
            self.signum = signum
        elif self.seen and self.absorbed < self.ABSORBED:
            self.absorbed += 1  # the steps done are being written: milliseconds; the exit code stays the first's
        else:
            raise Interrupted(signum)

    def __enter__(self) -> "Deferred":
        if raised:  # a signal came earlier and its exception was lost on the way (in a library's cleanup)
            raise Interrupted(raised[-1])
        import threading

        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
